package media

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestProbeRejects: every kind of bad upload gets its typed error, quickly.
func TestProbeRejects(t *testing.T) {
	t.Parallel()
	tl := testTools(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noise := make([]byte, 256<<10)
	rand.Read(noise)
	good := fixture(t, dir, "good.mp4", append(append(pattern(320, 240, "25", 2), tone(2)...),
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest")...)
	goodFast := fixture(t, dir, "good_faststart.mp4", append(append(pattern(320, 240, "25", 2), tone(2)...),
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", "-movflags", "+faststart")...)
	goodMKV := fixture(t, dir, "good.mkv", append(pattern(320, 240, "25", 2), "-c:v", "libx264", "-preset", "ultrafast")...)
	truncate := func(src, name string, keep float64) string {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, data[:int(float64(len(data))*keep)])
	}

	tests := []struct {
		name   string
		file   string
		limits Limits
		want   error
	}{
		{"zero-length file", write("empty.mp4", nil), Limits{}, ErrEmpty},
		{"random bytes named .mp4", write("noise.mp4", noise), Limits{}, ErrNotMedia},
		{"text file named video.mp4", write("video.mp4", []byte("这不是视频。This is not a video, just some text.\n")), Limits{}, ErrNotMedia},
		{"PNG image named .mp4", fixture(t, dir, "image.png", "-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1"), Limits{}, ErrNotMedia},
		{"HLS playlist pointing at /etc/passwd", write("evil.m3u8", []byte("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n")), Limits{}, ErrNotMedia},
		{"audio only (AAC in .m4a)", fixture(t, dir, "sound.m4a", append(tone(2), "-c:a", "aac")...), Limits{}, ErrNoVideo},
		{"audio only with cover art (MP3)", fixture(t, dir, "song.mp3", append(append(tone(2), "-f", "lavfi", "-i", "color=red:size=64x64:duration=0.04"),
			"-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame", "-c:v", "mjpeg", "-disposition:v", "attached_pic")...), Limits{}, ErrNoVideo},
		{"truncated MP4 (index at the end)", truncate(good, "cut.mp4", 0.5), Limits{}, ErrCorrupt},
		{"truncated MP4 (index first)", truncate(goodFast, "cut_faststart.mp4", 0.6), Limits{}, ErrCorrupt},
		{"truncated Matroska", truncate(goodMKV, "cut.mkv", 0.6), Limits{}, ErrCorrupt},
		{"8K picture", fixture(t, dir, "8k.mp4", "-f", "lavfi", "-i", "color=gray:size=7680x4320:rate=1:duration=1",
			"-c:v", "libx264", "-preset", "ultrafast"), Limits{}, ErrTooLarge},
		{"10 hours", fixture(t, dir, "10h.mp4", "-f", "lavfi", "-i", "color=gray:size=64x64:rate=1/20:duration=36000",
			"-c:v", "libx264", "-preset", "ultrafast"), Limits{}, ErrTooLong},
		{"16×16 picture", fixture(t, dir, "tiny.mp4", append(pattern(16, 16, "25", 1), "-c:v", "libx264", "-preset", "ultrafast")...), Limits{}, ErrTooSmall},
		{"one frame", fixture(t, dir, "one.mp4", append(pattern(320, 240, "25", 0.04), "-c:v", "libx264", "-preset", "ultrafast")...), Limits{}, ErrTooShort},
		{"file over MaxBytes", good, Limits{MaxBytes: 1000}, ErrTooLarge},
		{"duration over a lowered limit", good, Limits{MaxDuration: time.Second}, ErrTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl := tl
			tl.Limits = tc.limits
			start := time.Now()
			_, err := tl.Probe(context.Background(), tc.file)
			if !errors.Is(err, tc.want) || KindOf(err) != tc.want {
				t.Fatalf("Probe(%s) = %v; want kind %v", filepath.Base(tc.file), err, tc.want)
			}
			var me *Error
			if !errors.As(err, &me) || me.Detail == "" {
				t.Errorf("error %v: want an *Error with a detail", err)
			}
			if Reason(err) == "internal" || Reason(err) == "" {
				t.Errorf("Reason(%v) = %q; want a kind code", err, Reason(err))
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("Probe took %v", d)
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}

	t.Run("the good files pass", func(t *testing.T) {
		for _, f := range []string{good, goodFast, goodMKV} {
			if _, err := tl.Probe(context.Background(), f); err != nil {
				t.Errorf("Probe(%s): %v", filepath.Base(f), err)
			}
		}
	})
	t.Run("missing file is not a media kind", func(t *testing.T) {
		_, err := tl.Probe(context.Background(), filepath.Join(dir, "nope.mp4"))
		if err == nil || KindOf(err) != nil || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Probe(missing) = %v; want a plain not-exist error", err)
		}
	})
}

// TestProbeInfo: what Probe reads from real files.
func TestProbeInfo(t *testing.T) {
	t.Parallel()
	tl := testTools(t)
	dir := t.TempDir()
	h264 := fixture(t, dir, "h264.mp4", append(append(pattern(640, 360, "30", 2), tone(2)...),
		"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-c:a", "aac", "-ac", "1", "-shortest")...)
	rotated := fixture(t, dir, "rotated.mp4", "-i", h264, "-c", "copy", "-metadata:s:v", "rotate=90")
	webmAsMP4 := fixture(t, dir, "lying.mp4", append(pattern(320, 240, "25", 2),
		"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", "-f", "webm")...)
	// Streamed WebM has no duration in its header, like a browser's
	// MediaRecorder output: Probe must measure it.
	recorder := ffmpegToFile(t, filepath.Join(dir, "recorder.webm"), append(pattern(320, 240, "25", 3),
		"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", "-f", "webm", "-live", "1", "pipe:1")...)
	anamorphic := fixture(t, dir, "dvd.mpg", append(append(pattern(720, 480, "30000/1001", 2), tone(2)...),
		"-c:v", "mpeg2video", "-q:v", "4", "-aspect", "16:9", "-flags", "+ilme+ildct", "-top", "1", "-c:a", "mp2", "-f", "mpeg")...)
	odd := filepath.Join(dir, "课 堂 -i 'q' $(rm -rf x) %d;:&.mp4")
	if err := os.Link(h264, odd); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name                 string
		file                 string
		codec, format        string
		dispW, dispH, rotate int
		audio                string
		secs                 float64
	}{
		{"H.264 + AAC mono", h264, "h264", "mov,mp4,m4a,3gp,3g2,mj2", 640, 360, 0, "aac", 2},
		{"rotated phone video", rotated, "h264", "mov,mp4,m4a,3gp,3g2,mj2", 360, 640, 270, "aac", 2},
		{"WebM with a .mp4 name", webmAsMP4, "vp9", "matroska,webm", 320, 240, 0, "", 2},
		{"WebM without a duration", recorder, "vp8", "matroska,webm", 320, 240, 0, "", 3},
		{"anamorphic interlaced MPEG-2", anamorphic, "mpeg2video", "mpeg", 854, 480, 0, "mp2", 2},
		{"odd characters in the name", odd, "h264", "mov,mp4,m4a,3gp,3g2,mj2", 640, 360, 0, "aac", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, err := tl.Probe(context.Background(), tc.file)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			v := info.Video
			if v.Codec != tc.codec || info.Format != tc.format || v.DisplayWidth != tc.dispW || v.DisplayHeight != tc.dispH || v.Rotation != tc.rotate {
				t.Errorf("got %s in %s, %d×%d rotated %d; want %s in %s, %d×%d rotated %d",
					v.Codec, info.Format, v.DisplayWidth, v.DisplayHeight, v.Rotation, tc.codec, tc.format, tc.dispW, tc.dispH, tc.rotate)
			}
			gotAudio := ""
			if info.Audio != nil {
				gotAudio = info.Audio.Codec
			}
			if gotAudio != tc.audio {
				t.Errorf("audio %q; want %q", gotAudio, tc.audio)
			}
			want := time.Duration(tc.secs * float64(time.Second))
			if info.Duration < want-150*time.Millisecond || info.Duration > want+200*time.Millisecond {
				t.Errorf("duration %v; want about %v", info.Duration, want)
			}
		})
	}
}

func TestRefusedDemuxer(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[lrc @ 0x5632e001c240] Format not on whitelist 'mov,…'", "lrc"},
		{"something\n[png_pipe @ 0x1] Format not on whitelist 'mov'", "png_pipe"},
		{"no refusal here", ""},
	}
	for _, tt := range tests {
		if got := refusedDemuxer(tt.in); got != tt.want {
			t.Errorf("refusedDemuxer(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
