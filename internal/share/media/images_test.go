package media

import (
	"bufio"
	"context"
	"image/jpeg"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

func jpegSize(t *testing.T, path string) (int, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := jpeg.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg.Width, cfg.Height
}

// TestPosterAndThumbnails: upright pictures of the right size.
func TestPosterAndThumbnails(t *testing.T) {
	t.Parallel()
	tl := testTools(t)
	dir := t.TempDir()
	wide := fixture(t, dir, "wide.mp4", append(pattern(1920, 1080, "25", 2), "-c:v", "libx264", "-preset", "ultrafast")...)
	rotated := fixture(t, dir, "rotated.mp4", "-i", fixture(t, dir, "land.mp4", append(pattern(640, 360, "25", 2),
		"-c:v", "libx264", "-preset", "ultrafast")...), "-c", "copy", "-metadata:s:v", "rotate=90")
	hlg := fixture(t, dir, "hlg.mp4", append(pattern(640, 360, "25", 2), "-pix_fmt", "yuv420p10le", "-c:v", "libx265", "-preset", "ultrafast",
		"-x265-params", "log-level=error:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc",
		"-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc")...)
	tests := []struct {
		name           string
		file           string
		posterW, posH  int
		thumbW, thumbH int
	}{
		{"1080p landscape", wide, 1280, 720, 480, 270},
		{"HDR (HLG) HEVC, tone-mapped", hlg, 640, 360, 480, 270},
		{"rotated portrait", rotated, 360, 640, 270, 480},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			info, err := tl.Probe(ctx, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "封面 %d.jpg")
			if err := tl.Poster(ctx, tc.file, out, info); err != nil {
				t.Fatalf("Poster: %v", err)
			}
			if w, h := jpegSize(t, out); w != tc.posterW || h != tc.posH {
				t.Errorf("poster %d×%d; want %d×%d", w, h, tc.posterW, tc.posH)
			}
			thumbs, err := tl.Thumbnails(ctx, tc.file, t.TempDir(), info, 4)
			if err != nil {
				t.Fatalf("Thumbnails: %v", err)
			}
			if len(thumbs) != 4 {
				t.Errorf("%d thumbnails; want 4", len(thumbs))
			}
			for _, th := range thumbs {
				if w, h := jpegSize(t, th); w != tc.thumbW || h != tc.thumbH {
					t.Errorf("%s %d×%d; want %d×%d", filepath.Base(th), w, h, tc.thumbW, tc.thumbH)
				}
			}
		})
	}
}

var vttCue = regexp.MustCompile(`^(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)$`)
var vttRef = regexp.MustCompile(`^(sprite_\d{3}\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)$`)

// TestSprite: the VTT covers the whole duration without gaps and every cue
// points inside an existing sheet.
func TestSprite(t *testing.T) {
	t.Parallel()
	tl := testTools(t)
	dir := t.TempDir()
	tests := []struct {
		name          string
		file          string
		interval      time.Duration
		tiles, sheets int
		tileW, tileH  int
	}{
		{"keyframe every 2 s, a tile a second", fixture(t, dir, "k2.mp4", append(pattern(320, 180, "25", 12),
			"-c:v", "libx264", "-preset", "ultrafast", "-g", "50")...), time.Second, 12, 1, 160, 90},
		{"one keyframe only", fixture(t, dir, "k1.mp4", append(pattern(320, 180, "25", 6),
			"-c:v", "libx264", "-preset", "ultrafast", "-g", "1000")...), time.Second, 6, 1, 160, 90},
		{"250 tiles on three sheets", fixture(t, dir, "long.mp4", append(pattern(64, 36, "5", 250),
			"-c:v", "libx264", "-preset", "ultrafast", "-g", "5")...), time.Second, 250, 3, 64, 36},
		{"portrait, 2.5 s tiles", fixture(t, dir, "portrait.mp4", append(pattern(180, 320, "25", 7),
			"-c:v", "libx264", "-preset", "ultrafast", "-g", "25")...), 2500 * time.Millisecond, 3, 1, 90, 160},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			info, err := tl.Probe(ctx, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			sheets, vtt, err := tl.Sprite(ctx, tc.file, out, info, tc.interval)
			if err != nil {
				t.Fatalf("Sprite: %v", err)
			}
			if len(sheets) != tc.sheets {
				t.Errorf("%d sheets; want %d", len(sheets), tc.sheets)
			}
			sizes := map[string][2]int{}
			for _, s := range sheets {
				w, h := jpegSize(t, s)
				sizes[filepath.Base(s)] = [2]int{w, h}
			}
			f, err := os.Open(vtt)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Scan()
			if sc.Text() != "WEBVTT" {
				t.Fatalf("VTT starts with %q", sc.Text())
			}
			var prevEnd time.Duration
			cues := 0
			for sc.Scan() {
				line := sc.Text()
				if line == "" {
					continue
				}
				m := vttCue.FindStringSubmatch(line)
				if m == nil {
					t.Fatalf("bad cue timing %q", line)
				}
				start, end := cueTime(m[1:5]), cueTime(m[5:9])
				if start != prevEnd || end <= start {
					t.Errorf("cue %d: %v → %v after %v: want contiguous", cues, start, end, prevEnd)
				}
				prevEnd = end
				sc.Scan()
				r := vttRef.FindStringSubmatch(sc.Text())
				if r == nil {
					t.Fatalf("bad cue text %q", sc.Text())
				}
				x, _ := strconv.Atoi(r[2])
				y, _ := strconv.Atoi(r[3])
				w, _ := strconv.Atoi(r[4])
				h, _ := strconv.Atoi(r[5])
				size, ok := sizes[r[1]]
				if !ok {
					t.Errorf("cue points at missing %s", r[1])
				}
				if w != tc.tileW || h != tc.tileH || x+w > size[0] || y+h > size[1] {
					t.Errorf("cue %d: %s#xywh=%d,%d,%d,%d outside its %v sheet or not %d×%d", cues, r[1], x, y, w, h, size, tc.tileW, tc.tileH)
				}
				cues++
			}
			if cues != tc.tiles {
				t.Errorf("%d cues; want %d", cues, tc.tiles)
			}
			if d := prevEnd - info.Duration; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("cues end at %v; the video at %v", prevEnd, info.Duration)
			}
		})
	}
}

func cueTime(p []string) time.Duration {
	n := make([]int, len(p))
	for i, s := range p {
		n[i], _ = strconv.Atoi(s)
	}
	h, m, s, ms := n[0], n[1], n[2], n[3]
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + time.Duration(ms)*time.Millisecond
}
