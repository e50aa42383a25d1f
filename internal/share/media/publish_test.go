package media

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPublish runs the whole path (Probe → PlanFor → Publish) on each kind
// of source and checks what a player gets.
func TestPublish(t *testing.T) {
	t.Parallel()
	tl := testTools(t)
	src := t.TempDir()
	h264 := func(w, h, secs int, more ...string) []string {
		return append(append(pattern(w, h, "30", float64(secs)), tone(float64(secs))...),
			append([]string{"-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-pix_fmt", "yuv420p", "-shortest"}, more...)...)
	}
	tests := []struct {
		name       string
		file       string
		copyVideo  bool
		copyAudio  bool
		renditions []string // in publishing order
		sizes      []string // W×H of each
		secs       float64
		bt709      bool // tone-mapped from HDR: the output must say BT.709
		fellBack   bool // the plan's copy is dropped for its fallback ladder
	}{
		{
			name: "H.264 + AAC 720p: fast path, then 360p and 540p in one run",
			file: fixture(t, src, "h264_aac_720p.mp4", h264(1280, 720, 5, "-c:a", "aac",
				"-metadata", "location=+36.6512+117.1201/", "-metadata:s:v", "title=iPhone 15 Pro back camera")...),
			copyVideo:  true,
			copyAudio:  true,
			renditions: []string{"source", "360p", "540p"},
			sizes:      []string{"1280x720", "640x360", "960x540"},
			secs:       5,
		},
		{
			name:       "H.264 + MP3 in Matroska, odd name: video copied, sound encoded",
			file:       fixture(t, src, "课 堂 -i 'x' $(rm -rf y) %d;:&.mkv", h264(640, 360, 3, "-c:a", "libmp3lame")...),
			copyVideo:  true,
			renditions: []string{"source"},
			sizes:      []string{"640x360"},
			secs:       3,
		},
		{
			name:       "H.264 + ADTS AAC in MPEG-TS: copied",
			file:       fixture(t, src, "h264_aac.ts", h264(640, 360, 3, "-c:a", "aac")...),
			copyVideo:  true,
			copyAudio:  true,
			renditions: []string{"source"},
			sizes:      []string{"640x360"},
			secs:       3,
		},
		{
			name: "H.264 with one keyframe in 14 s (screen recording): copy dropped, encoded",
			file: fixture(t, src, "screen.mp4", append(append(pattern(320, 180, "10", 14), tone(14)...),
				"-c:v", "libx264", "-preset", "ultrafast", "-g", "1000", "-c:a", "aac", "-shortest")...),
			copyVideo:  true,
			copyAudio:  true,
			fellBack:   true,
			renditions: []string{"180p"},
			sizes:      []string{"320x180"},
			secs:       14,
		},
		{
			name: "HEVC (x265) 540p: 360p alone first, then 540p",
			file: fixture(t, src, "hevc.mp4", append(append(pattern(960, 540, "30", 3), tone(3)...),
				"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-c:a", "aac", "-shortest")...),
			renditions: []string{"360p", "540p"},
			sizes:      []string{"640x360", "960x540"},
			secs:       3,
		},
		{
			name: "HEVC 10-bit HLG (phone HDR): tone-mapped to 8-bit BT.709",
			file: fixture(t, src, "hlg.mov", append(append(pattern(640, 360, "30", 2), tone(2)...),
				"-pix_fmt", "yuv420p10le", "-c:v", "libx265", "-preset", "ultrafast",
				"-x265-params", "log-level=error:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc",
				"-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc", "-tag:v", "hvc1", "-c:a", "aac", "-shortest")...),
			renditions: []string{"360p"},
			sizes:      []string{"640x360"},
			secs:       2,
			bt709:      true,
		},
		{
			name: "MPEG-2 in .mpg, interlaced 16:9 DVD: 360p, then its own 480p",
			file: fixture(t, src, "dvd.mpg", append(append(pattern(720, 480, "30000/1001", 3), tone(3)...),
				"-c:v", "mpeg2video", "-q:v", "4", "-aspect", "16:9", "-flags", "+ilme+ildct", "-top", "1", "-c:a", "mp2", "-shortest", "-f", "mpeg")...),
			renditions: []string{"360p", "480p"},
			sizes:      []string{"640x360", "854x480"},
			secs:       3,
		},
		{
			name: "VP9 + Opus in WebM, 240p: one rung at its own size",
			file: fixture(t, src, "vp9.webm", append(append(pattern(320, 240, "25", 3), tone(3)...),
				"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-c:a", "libopus", "-shortest")...),
			renditions: []string{"240p"},
			sizes:      []string{"320x240"},
			secs:       3,
		},
		{
			name: "rotated phone video comes out upright (portrait)",
			file: fixture(t, src, "rotated.mp4", "-i", fixture(t, src, "landscape.mp4", h264(640, 360, 3, "-c:a", "aac")...),
				"-c", "copy", "-metadata:s:v", "rotate=90"),
			renditions: []string{"360p"},
			sizes:      []string{"360x640"},
			secs:       3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			info, err := tl.Probe(ctx, tc.file)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			plan := PlanFor(info, PlanOptions{})
			if plan.Copy != tc.copyVideo || plan.CopyAudio != tc.copyAudio {
				t.Fatalf("plan copy video %v audio %v (%s); want %v %v", plan.Copy, plan.CopyAudio, plan.Why, tc.copyVideo, tc.copyAudio)
			}
			out := filepath.Join(t.TempDir(), "out %d 视频") // odd characters in the output folder too
			var order []string
			var mastersSeen []string
			rs, err := tl.Publish(ctx, tc.file, out, info, plan, func(r Rendition) {
				order = append(order, r.Name)
				m, err := os.ReadFile(filepath.Join(out, MasterName))
				if err != nil {
					t.Errorf("after %s: %v", r.Name, err)
				}
				mastersSeen = append(mastersSeen, string(m))
			})
			if err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if !slices.Equal(order, tc.renditions) {
				t.Errorf("published %v; want %v", order, tc.renditions)
			}
			// The first master already plays: it lists the first rendition.
			if len(mastersSeen) > 0 && strings.Count(mastersSeen[0], "#EXT-X-STREAM-INF") != 1 {
				t.Errorf("first master:\n%s\nwant exactly one variant", mastersSeen[0])
			}
			for i, r := range rs {
				if got := fmt.Sprintf("%dx%d", r.Width, r.Height); i < len(tc.sizes) && got != tc.sizes[i] {
					t.Errorf("%s is %s; want %s", r.Name, got, tc.sizes[i])
				}
				checkRendition(t, out, r, tc.secs, tc.bt709)
				if r.Copied {
					if got, want := pictureHash(t, joinRendition(t, filepath.Join(out, r.Name))), pictureHash(t, tc.file); got != want {
						t.Errorf("%s: pictures %s; want the source's %s (not re-encoded)", r.Name, got, want)
					}
				}
			}
			if tc.copyVideo && !tc.fellBack && !rs[0].Copied {
				t.Errorf("first rendition %s not copied", rs[0].Name)
			}
			if _, err := os.Stat(filepath.Join(out, CopyName)); tc.fellBack && err == nil {
				t.Errorf("the dropped copy is still there")
			}
			checkMaster(t, out, rs)
			checkAligned(t, out, rs)
			entries, _ := os.ReadDir(out)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".") {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
}

// checkRendition: a complete VOD playlist with its init and segments, H.264
// (upright) and AAC, as long as the source.
func checkRendition(t *testing.T, out string, r Rendition, secs float64, bt709 bool) {
	t.Helper()
	folder := filepath.Join(out, r.Name)
	data, err := os.ReadFile(filepath.Join(folder, PlaylistName))
	if err != nil {
		t.Fatal(err)
	}
	pl := string(data)
	for _, want := range []string{"#EXT-X-PLAYLIST-TYPE:VOD", `#EXT-X-MAP:URI="init.mp4"`, "seg_00001.m4s", "#EXT-X-ENDLIST"} {
		if !strings.Contains(pl, want) {
			t.Errorf("%s/index.m3u8 lacks %q:\n%s", r.Name, want, pl)
		}
	}
	if d := r.Duration.Seconds() - secs; d < -0.3 || d > 0.3 {
		t.Errorf("%s lasts %v; want about %v s", r.Name, r.Duration, secs)
	}
	if init, err := os.ReadFile(filepath.Join(folder, InitName)); err != nil || strings.Contains(string(init), "36.6512") || strings.Contains(string(init), "iPhone") {
		t.Errorf("%s: init segment keeps the camera's location or name (or %v)", r.Name, err)
	}
	joined := joinRendition(t, folder)
	streams := streamsOf(t, joined)
	v, a := firstOfType(streams, "video"), firstOfType(streams, "audio")
	if v == nil || v["codec_name"] != "h264" {
		t.Errorf("%s: video %v; want h264", r.Name, v)
	} else if int(v["width"].(float64)) != r.Width || int(v["height"].(float64)) != r.Height {
		t.Errorf("%s: stream is %v×%v; rendition says %d×%d", r.Name, v["width"], v["height"], r.Width, r.Height)
	}
	if v != nil && (v["pix_fmt"] != "yuv420p" || bt709 && (v["color_transfer"] != "bt709" || v["color_primaries"] != "bt709")) {
		t.Errorf("%s: %v %v/%v; want yuv420p (BT.709: %v)", r.Name, v["pix_fmt"], v["color_transfer"], v["color_primaries"], bt709)
	}
	if v != nil && v["side_data_list"] != nil {
		t.Errorf("%s: output keeps a display matrix: %v", r.Name, v["side_data_list"])
	}
	if a == nil || a["codec_name"] != "aac" || a["profile"] != "LC" {
		t.Errorf("%s: audio %v; want AAC-LC", r.Name, a)
	}
}

var streamInf = regexp.MustCompile(`^#EXT-X-STREAM-INF:BANDWIDTH=(\d+),AVERAGE-BANDWIDTH=(\d+),CODECS="(avc1\.[0-9a-f]{6}(?:,mp4a\.40\.2)?)",RESOLUTION=(\d+x\d+),FRAME-RATE=(\d+\.\d{3})$`)

// checkMaster: one variant per rendition with the attributes a player
// needs; the copy's CODECS match the source's profile and level.
func checkMaster(t *testing.T, out string, rs []Rendition) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, MasterName))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if lines[0] != "#EXTM3U" {
		t.Fatalf("master starts with %q", lines[0])
	}
	variants := 0
	for i, l := range lines {
		if !strings.HasPrefix(l, "#EXT-X-STREAM-INF") {
			continue
		}
		variants++
		m := streamInf.FindStringSubmatch(l)
		if m == nil || i+1 >= len(lines) {
			t.Errorf("bad variant line %q", l)
			continue
		}
		uri := lines[i+1]
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(uri))); err != nil {
			t.Errorf("variant %s: %v", uri, err)
		}
		for _, r := range rs {
			if r.Playlist == uri && m[4] != fmt.Sprintf("%dx%d", r.Width, r.Height) {
				t.Errorf("variant %s RESOLUTION=%s; want %dx%d", uri, m[4], r.Width, r.Height)
			}
		}
	}
	if variants != len(rs) {
		t.Errorf("master has %d variants; want %d:\n%s", variants, len(rs), data)
	}
	for _, r := range rs {
		if r.Bandwidth < r.AverageBandwidth || r.AverageBandwidth <= 0 {
			t.Errorf("%s: bandwidth %d, average %d", r.Name, r.Bandwidth, r.AverageBandwidth)
		}
	}
}

// checkAligned: encoded renditions have the same segment boundaries and
// the same keyframe times.
func checkAligned(t *testing.T, out string, rs []Rendition) {
	t.Helper()
	var ref *Rendition
	var refDurs []float64
	var refKeys []string
	for i := range rs {
		r := &rs[i]
		if r.Copied {
			continue
		}
		data, _ := os.ReadFile(filepath.Join(out, r.Name, PlaylistName))
		pl, err := parseMediaPlaylist(data)
		if err != nil {
			t.Fatal(err)
		}
		var durs []float64
		for _, s := range pl.segments {
			durs = append(durs, s.dur)
		}
		keys := keyframeTimes(t, joinRendition(t, filepath.Join(out, r.Name)))
		if ref == nil {
			ref, refDurs, refKeys = r, durs, keys
			continue
		}
		if !slices.Equal(durs, refDurs) {
			t.Errorf("segments of %s %v; %s has %v", r.Name, durs, ref.Name, refDurs)
		}
		if !slices.Equal(keys, refKeys) {
			t.Errorf("keyframes of %s at %v; %s at %v", r.Name, keys, ref.Name, refKeys)
		}
	}
}

// TestEncodeLadderAligned: several rungs from one decode, GOPs aligned, a
// segment per 4 s, nothing upscaled.
func TestEncodeLadderAligned(t *testing.T) {
	t.Parallel()
	tl := testTools(t)
	tl.Segment = 2 * time.Second
	dir := t.TempDir()
	src := fixture(t, dir, "src.mkv", append(append(pattern(960, 540, "25", 7), tone(7)...),
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libopus", "-shortest")...)
	info, err := tl.Probe(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	rungs := PlanFor(info, PlanOptions{NoCopy: true, Sizes: []int{180, 270, 360, 540, 720}}).Rungs
	var names []string
	for _, r := range rungs {
		names = append(names, r.Name)
	}
	if want := []string{"180p", "270p", "360p", "540p"}; !slices.Equal(names, want) {
		t.Fatalf("rungs %v; want %v (no 720p from a 540p source)", names, want)
	}
	var runs []RunStats
	var last Progress
	tl.OnRun = func(s RunStats) { runs = append(runs, s) }
	tl.OnProgress = func(p Progress) { last = p }
	out := filepath.Join(dir, "out")
	rs, err := tl.EncodeLadder(context.Background(), src, out, info, rungs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].CPU() <= 0 || !strings.HasPrefix(runs[0].Step, "ladder ") {
		t.Errorf("runs %+v; want one ladder run with CPU time", runs)
	}
	if !last.End || last.Percent != 100 || last.Done < 6*time.Second {
		t.Errorf("last progress %+v; want the end at 100%%", last)
	}
	for _, r := range rs {
		if r.Segments != 4 {
			t.Errorf("%s has %d segments; want 4 (7 s in 2 s segments)", r.Name, r.Segments)
		}
	}
	checkAligned(t, out, rs)
}
