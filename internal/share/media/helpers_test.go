package media

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testTools returns Tools for tests and fails (never skips) when ffmpeg or
// ffprobe is missing: the package is about running them.
func testTools(t *testing.T) Tools {
	t.Helper()
	tl := Tools{
		Preset: "ultrafast",
		Log:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if err := tl.Check(); err != nil {
		t.Fatalf("ffmpeg and ffprobe must be installed for these tests (Debian: apt-get install -y ffmpeg): %v", err)
	}
	return tl
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// ffmpeg runs ffmpeg to make a fixture, failing the test on error.
func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-hide_banner", "-nostdin", "-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// ffmpegToFile runs ffmpeg with its stdout written to out.
func ffmpegToFile(t *testing.T, out string, args ...string) string {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-nostdin", "-v", "error", "-y"}, args...)...)
	cmd.Stdout, cmd.Stderr = f, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// fixture makes dir/name from ffmpeg arguments (the output is appended).
func fixture(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	ffmpeg(t, append(args, out)...)
	return out
}

// Test patterns: picture and sound sources for lavfi.
func pattern(w, h int, fps string, secs float64) []string {
	return []string{"-f", "lavfi", "-i", "testsrc2=size=" + itoa(w) + "x" + itoa(h) + ":rate=" + fps + ":duration=" + ftoa(secs)}
}

func tone(secs float64) []string {
	return []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=" + ftoa(secs)}
}

func itoa(i int) string { return strconv.Itoa(i) }

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// probeJSON runs ffprobe with extra arguments and decodes its JSON.
func probeJSON(t *testing.T, file string, args ...string) map[string]any {
	t.Helper()
	all := append([]string{"-v", "error", "-of", "json"}, args...)
	out, err := exec.Command("ffprobe", append(all, file)...).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("ffprobe json: %v", err)
	}
	return m
}

// joinRendition concatenates init.mp4 and the segments of a rendition
// folder into one fragmented MP4 that ffmpeg/ffprobe can read.
func joinRendition(t *testing.T, folder string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(folder, PlaylistName))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := parseMediaPlaylist(data)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, name := range append([]string{pl.initURI}, segURIs(pl)...) {
		b, err := os.ReadFile(filepath.Join(folder, name))
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(folder)+".mp4")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func segURIs(pl mediaPlaylist) []string {
	var s []string
	for _, seg := range pl.segments {
		s = append(s, seg.uri)
	}
	return s
}

// pictureHash is the MD5 of the decoded pictures of a file's first video
// stream: equal for a copy, different after any lossy re-encode (and
// independent of how the container frames the packets).
func pictureHash(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-map", "0:v:0", "-f", "streamhash", "-hash", "md5", "-").Output()
	if err != nil {
		t.Fatalf("streamhash %s: %v", file, err)
	}
	return strings.TrimSpace(string(out))
}

// keyframeTimes lists the presentation times of the video keyframes.
func keyframeTimes(t *testing.T, file string) []string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags",
		"-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe packets %s: %v", file, err)
	}
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pts, flags, _ := strings.Cut(line, ",")
		if strings.HasPrefix(flags, "K") {
			keys = append(keys, pts)
		}
	}
	return keys
}

// streamsOf returns ffprobe's streams of a file.
func streamsOf(t *testing.T, file string) []map[string]any {
	t.Helper()
	m := probeJSON(t, file, "-show_streams")
	var out []map[string]any
	for _, s := range m["streams"].([]any) {
		out = append(out, s.(map[string]any))
	}
	return out
}

func firstOfType(streams []map[string]any, typ string) map[string]any {
	for _, s := range streams {
		if s["codec_type"] == typ {
			return s
		}
	}
	return nil
}
