package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"jnedu/internal/demo"
	"jnedu/internal/platform/db"
)

// upload sends a whole file through tus in one request and returns the
// new video's id.
func (c *client) upload(t *testing.T, name string, data []byte) int64 {
	t.Helper()
	resp := c.do("POST", "/api/v1/share/uploads/", "application/offset+octet-stream", string(data), map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": tusMeta("filename", name),
	})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload %s: %d %s", name, resp.StatusCode, mustRead(t, resp))
	}
	id, err := strconv.ParseInt(resp.Header.Get("Jnedu-Video-Id"), 10, 64)
	if err != nil {
		t.Fatalf("upload %s: no video id", name)
	}
	return id
}

type videoState struct {
	ID       int64  `json:"id"`
	Playlist string `json:"playlist"`
	Media    struct {
		State       string `json:"state"`
		StateReason string `json:"state_reason"`
		Playable    bool   `json:"playable"`
		DurationMS  int64  `json:"duration_ms"`
	} `json:"media"`
}

func (c *client) waitFor(t *testing.T, id int64, done func(videoState) bool) videoState {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var v videoState
		if st := c.getJSON(fmt.Sprintf("/api/v1/share/videos/%d", id), &v); st != 200 {
			t.Fatalf("video %d: status %d", id, st)
		}
		if done(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("video %d: still %+v after 90s", id, v.Media)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestUploadToPlayback runs the real pipeline: a lesson recorded as H.264
// is uploaded, playable within seconds through the copy fast path, then
// gets its ladder; segments are served only with a valid signature; a
// damaged file ends in a clear failed state while the worker keeps going.
func TestUploadToPlayback(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is needed (apt-get install ffmpeg); scripts/test installs it")
	}
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		go ta.Jobs.Run(ctx)
		src := filepath.Join(t.TempDir(), "lesson.mp4")
		out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=6",
			"-f", "lavfi", "-i", "sine=frequency=440:duration=6", "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "aac", "-shortest", src).CombinedOutput()
		if err != nil {
			t.Fatalf("make fixture: %v %s", err, out)
		}
		data, _ := os.ReadFile(src)
		c := ta.client(t)
		c.login("teacher", demo.Password)
		start := time.Now()
		id := c.upload(t, "一次函数.mp4", data)
		v := c.waitFor(t, id, func(v videoState) bool { return v.Media.Playable || v.Media.State == "failed" })
		t.Logf("playable %v after the upload finished (state %s)", time.Since(start).Round(time.Millisecond), v.Media.State)
		if !v.Media.Playable || v.Playlist == "" {
			t.Fatalf("not playable: %+v", v.Media)
		}
		v = c.waitFor(t, id, func(v videoState) bool { return v.Media.State == "ready" || v.Media.State == "failed" })
		if v.Media.State != "ready" || v.Media.DurationMS < 5500 || v.Media.DurationMS > 6500 {
			t.Fatalf("after processing: %+v", v.Media)
		}
		// Master → variant → init and a segment, all signed.
		resp := c.do("GET", v.Playlist, "", "", nil)
		master := mustRead(t, resp)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" || !strings.Contains(master, "#EXT-X-STREAM-INF") ||
			!strings.Contains(master, "avc1.") || !strings.Contains(master, "RESOLUTION=") {
			t.Fatalf("master playlist: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), master)
		}
		var variant string
		for _, line := range strings.Split(master, "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				variant = line
				break
			}
		}
		base := fmt.Sprintf("/media/%d/", id)
		resp = c.do("GET", base+variant, "", "", nil)
		pl := mustRead(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(pl, "#EXT-X-MAP:URI=") || !strings.Contains(pl, ".m4s?e=") {
			t.Fatalf("media playlist: %d\n%s", resp.StatusCode, pl)
		}
		dir := variant[:strings.LastIndex(variant, "/")+1]
		var seg string
		for _, line := range strings.Split(pl, "\n") {
			if strings.HasPrefix(line, "seg_") {
				seg = line
				break
			}
		}
		resp = c.do("GET", base+dir+seg, "", "", map[string]string{"Range": "bytes=0-99"})
		if b := mustRead(t, resp); resp.StatusCode != http.StatusPartialContent || len(b) != 100 || resp.Header.Get("Content-Type") != "video/iso.segment" {
			t.Errorf("segment range: %d, %d bytes, %q", resp.StatusCode, len(b), resp.Header.Get("Content-Type"))
		}
		// Without the signature, or with a forged one, a stranger gets nothing.
		segName := seg[:strings.Index(seg, "?")]
		stranger := ta.client(t)
		for _, u := range []string{base + dir + segName, base + dir + segName + "?e=9999999999&s=forged", base + "master.m3u8"} {
			if resp := stranger.do("GET", u, "", "", nil); resp.StatusCode != 404 {
				t.Errorf("stranger GET %s: %d, want 404", u, resp.StatusCode)
			}
		}
		other := ta.client(t)
		other.login("teacher2", demo.Password)
		if st := other.getJSON(fmt.Sprintf("/api/v1/share/videos/%d", id), nil); st != 404 {
			t.Errorf("a private video seen by another school: %d", st)
		}
		// Share it with everyone: now teacher2 finds it by a Chinese word.
		if resp := c.do("PATCH", fmt.Sprintf("/api/v1/share/videos/%d", id), "application/json",
			`{"title":"初中数学公开课：一次函数","subject":"数学","visibility":"all"}`, nil); resp.StatusCode != 200 {
			t.Fatalf("share: %d %s", resp.StatusCode, mustRead(t, resp))
		}
		var list struct {
			Total int `json:"total"`
		}
		other.getJSON("/api/v1/share/videos?q="+url.QueryEscape("数学"), &list)
		if list.Total != 1 {
			t.Errorf("teacher2's search for 数学: %d results, want 1", list.Total)
		}
		// A damaged file: a clear failure, and the worker goes on.
		bad := c.upload(t, "坏文件.mp4", []byte("this is not a video at all, just text pretending to be one"))
		bv := c.waitFor(t, bad, func(v videoState) bool { return v.Media.State == "failed" || v.Media.State == "ready" })
		if bv.Media.State != "failed" || bv.Media.StateReason != "share.reason_not_media" {
			t.Errorf("damaged upload: %+v, want failed with share.reason_not_media", bv.Media)
		}
		// The admin view lists the jobs; the failed one can be queued again.
		adm := ta.client(t)
		adm.login("admin", demo.Password)
		resp = adm.do("GET", "/videos/admin?lang=zh-CN", "", "", nil)
		page := mustRead(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(page, "处理任务") || !strings.Contains(page, "/retry") {
			t.Errorf("admin view: %d, lacks the jobs or the retry button", resp.StatusCode)
		}
		var failedJob int64
		d.QueryRow(context.Background(), "SELECT id FROM jobs_queue WHERE state = 'failed'").Scan(&failedJob)
		resp = adm.do("POST", fmt.Sprintf("/videos/admin/jobs/%d/retry", failedJob), "application/x-www-form-urlencoded", "_csrf="+adm.csrf, nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("retry: %d", resp.StatusCode)
		}
		bv = c.waitFor(t, bad, func(v videoState) bool { return v.Media.State == "failed" })
		var jobsLeft int
		d.QueryRow(context.Background(), "SELECT COUNT(*) FROM jobs_queue WHERE state IN ('queued', 'running')").Scan(&jobsLeft)
		if jobsLeft != 0 {
			t.Errorf("%d jobs still pending", jobsLeft)
		}
	})
}
