package media

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestErrors(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("share: processing video 42: %w", newError(ErrNoVideo, "mp3 only"))
	if !errors.Is(err, ErrNoVideo) || errors.Is(err, ErrNotMedia) {
		t.Errorf("errors.Is through wrapping: %v", err)
	}
	if KindOf(err) != ErrNoVideo || Reason(err) != "no_video" {
		t.Errorf("KindOf/Reason = %v/%q", KindOf(err), Reason(err))
	}
	if got := err.Error(); got != "share: processing video 42: media: file has sound but no picture: mp3 only" {
		t.Errorf("message %q", got)
	}
	cause := errors.New("exit status 1")
	withCause := &Error{Kind: ErrFailed, Detail: "ladder", Err: cause}
	if !errors.Is(withCause, cause) || !errors.Is(withCause, ErrFailed) {
		t.Errorf("an *Error matches its kind and its cause")
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("x: %w", context.Canceled), "canceled"},
		{errors.New("disk full"), "internal"},
		{newError(ErrEmpty, ""), "empty"},
		{newError(ErrTooLarge, ""), "too_large"},
	} {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q; want %q", tc.err, got, tc.want)
		}
	}
}

func TestMasterPlaylist(t *testing.T) {
	t.Parallel()
	got := string(MasterPlaylist([]Rendition{
		{Name: "source", Playlist: "source/index.m3u8", Width: 1920, Height: 1080, FrameRate: 29.97, Codecs: "avc1.640028,mp4a.40.2", Bandwidth: 9_000_000, AverageBandwidth: 6_000_000},
		{Name: "360p", Playlist: "360p/index.m3u8", Width: 640, Height: 360, FrameRate: 29.97, Codecs: "avc1.64001e,mp4a.40.2", Bandwidth: 900_000, AverageBandwidth: 700_000},
		{Name: "silent", Playlist: "silent/index.m3u8", Width: 1280, Height: 720, Codecs: "avc1.64001f", Bandwidth: 2_000_000},
	}))
	want := `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=700000,CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=29.970
360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2000000,CODECS="avc1.64001f",RESOLUTION=1280x720
silent/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=9000000,AVERAGE-BANDWIDTH=6000000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1920x1080,FRAME-RATE=29.970
source/index.m3u8
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// esds builds an esds box payload around an AudioSpecificConfig.
func esds(asc ...byte) []byte {
	dsi := append([]byte{0x05, byte(len(asc))}, asc...)
	dc := append([]byte{0x04, byte(13 + len(dsi)), 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, dsi...)
	es := append([]byte{0x03, 0x80, 0x80, 0x80, byte(3 + len(dc)), 0, 1, 0}, dc...) // 4-byte length form
	return append([]byte{0, 0, 0, 0}, es...)
}

func TestESDSCodec(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		asc  []byte
		want string
	}{
		{"AAC-LC 48 kHz stereo", []byte{0x11, 0x90}, "mp4a.40.2"},
		{"HE-AAC", []byte{0x2b, 0x92, 0x08, 0x00}, "mp4a.40.5"},
		{"escape: object type 42 (USAC)", []byte{0xf9, 0x40, 0x00}, "mp4a.40.42"},
	} {
		got, err := esdsCodec(esds(tc.asc...))
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	for _, bad := range [][]byte{nil, {0, 0, 0, 0}, {0, 0, 0, 0, 0x03, 0x7f, 1}} {
		if _, err := esdsCodec(bad); err == nil {
			t.Errorf("esdsCodec(%x): no error", bad)
		}
	}
}

func TestParseMediaPlaylist(t *testing.T) {
	t.Parallel()
	pl, err := parseMediaPlaylist([]byte("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4.000000,\nseg_00001.m4s\n#EXTINF:1.5,\nseg_00002.m4s\n#EXT-X-ENDLIST\n"))
	if err != nil || pl.initURI != "init.mp4" || len(pl.segments) != 2 || pl.segments[1].dur != 1.5 || !pl.ended {
		t.Errorf("got %+v, %v", pl, err)
	}
	for _, bad := range []string{"", "hello\n", "#EXTM3U\nseg.m4s\n", "#EXTM3U\n#EXTINF:x,\nseg.m4s\n"} {
		if _, err := parseMediaPlaylist([]byte(bad)); err == nil {
			t.Errorf("parseMediaPlaylist(%q): no error", bad)
		}
	}
}

func TestContainerChecks(t *testing.T) {
	t.Parallel()
	box := func(typ string, size int) []byte {
		b := make([]byte, size)
		b[0], b[1], b[2], b[3] = byte(size>>24), byte(size>>16), byte(size>>8), byte(size)
		copy(b[4:], typ)
		return b
	}
	join := func(parts ...[]byte) []byte {
		return []byte(strings.Join(func() []string {
			var s []string
			for _, p := range parts {
				s = append(s, string(p))
			}
			return s
		}(), ""))
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		data    []byte
		missing bool
	}{
		{"complete", join(box("ftyp", 24), box("moov", 100), box("mdat", 1000)), false},
		{"mdat cut", join(box("ftyp", 24), box("moov", 100), box("mdat", 1000))[:700], true},
		{"trailing zeros", append(join(box("ftyp", 24), box("mdat", 100)), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), false},
	} {
		p := filepath.Join(dir, tc.name+".mp4")
		os.WriteFile(p, tc.data, 0o644)
		err := checkComplete(p, "mov,mp4,m4a,3gp,3g2,mj2", int64(len(tc.data)))
		if (err != nil) != tc.missing || (err != nil && !errors.Is(err, ErrCorrupt)) {
			t.Errorf("%s: %v; want missing=%v", tc.name, err, tc.missing)
		}
	}
}

func TestVTTTime(t *testing.T) {
	t.Parallel()
	if got := vttTime(2*time.Hour + 3*time.Minute + 4*time.Second + 56*time.Millisecond); got != "02:03:04.056" {
		t.Errorf("vttTime = %q", got)
	}
}
