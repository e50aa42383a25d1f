package app

import (
	"context"
	"fmt"
	"html"
	"mime"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"jnedu/internal/config"
	"jnedu/internal/demo"
	"jnedu/internal/platform/db"
	"jnedu/internal/share"
)

// Bad input through the whole path: upload → processing job → the state
// and message a person sees through the API and the video page. What
// ffprobe says of each kind of file is tested in share/media; these tests
// check what the rest of the system does with it.

// makeVideo runs ffmpeg with args into a file called name and returns its
// bytes.
func makeVideo(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is needed (apt-get install ffmpeg); scripts/test installs it")
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("ffmpeg", append(append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...), out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v %s", name, err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// smallLesson is two seconds of H.264/AAC in MP4.
func smallLesson(t *testing.T) []byte {
	return makeVideo(t, "lesson.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
		"-c:a", "aac", "-shortest")
}

type videoDetail struct {
	videoState
	Title        string `json:"title"`
	OriginalName string `json:"original_name"`
}

func (c *client) detail(t *testing.T, id int64) videoDetail {
	t.Helper()
	var v videoDetail
	if st := c.getJSON(fmt.Sprintf("/api/v1/share/videos/%d", id), &v); st != 200 {
		t.Fatalf("video %d: status %d", id, st)
	}
	return v
}

func settled(v videoState) bool {
	return v.Media.State == share.StateReady || v.Media.State == share.StateFailed
}

// pageOf returns the video page's HTML.
func (c *client) pageOf(t *testing.T, id int64) string {
	t.Helper()
	resp := c.do("GET", fmt.Sprintf("/videos/%d?lang=zh-CN", id), "", "", nil)
	body := mustRead(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("video page %d: status %d", id, resp.StatusCode)
	}
	return body
}

// TestLyingExtensions: a file is judged by its content, not its name. An
// MP4 named .avi plays; a text file named .mp4 fails as "not a video".
func TestLyingExtensions(t *testing.T) {
	mp4 := smallLesson(t)
	text := []byte("第三课 教案\n一、教学目标：理解一次函数的图像。\n二、教学过程：……\n")
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		go ta.Jobs.Run(ctx)
		c := ta.client(t)
		c.login("teacher", demo.Password)

		avi := c.upload(t, "公开课录像.avi", mp4)
		txt := c.upload(t, "教案.mp4", text)

		v := c.waitFor(t, avi, settled)
		if v.Media.State != share.StateReady || !v.Media.Playable || v.Playlist == "" {
			t.Errorf("an MP4 named .avi: %+v, want ready and playable", v.Media)
		}
		if got := c.detail(t, avi); got.OriginalName != "公开课录像.avi" {
			t.Errorf("original name %q, want the name as uploaded", got.OriginalName)
		}
		v = c.waitFor(t, txt, settled)
		if v.Media.State != share.StateFailed || v.Media.StateReason != "share.reason_not_media" || v.Playlist != "" {
			t.Errorf("a text file named .mp4: %+v, want failed with share.reason_not_media", v.Media)
		}
		page := c.pageOf(t, txt)
		if !strings.Contains(page, `data-state="failed"`) || !strings.Contains(page, "处理失败") || !strings.Contains(page, "不是视频文件") {
			t.Errorf("the failed video's page does not say why:\n%s", page)
		}
	})
}

// TestOddFileNames: names with Chinese, spaces, quotes, markup, emoji,
// control characters, path separators or 300 characters are stored as the
// file's own name (the last path element, control characters dropped, a
// name over 255 characters shortened with its extension kept) and shown
// escaped on the pages and encoded in the download header.
func TestOddFileNames(t *testing.T) {
	long := strings.Repeat("长", 296) + ".mp4" // 300 characters
	tests := []struct {
		sent, want string
	}{
		{`期中复习 "重点" 第3课.mp4`, `期中复习 "重点" 第3课.mp4`},
		{"  课件 <img src=x onerror=alert(1)> & 'single' 😀🎓.mp4  ", "课件 <img src=x onerror=alert(1)> & 'single' 😀🎓.mp4"},
		{`C:\Users\王老师\Desktop\录像 2.mp4`, "录像 2.mp4"},
		{"../../etc/passwd.mp4", "passwd.mp4"},
		{"录像(1) = 第二版; 终稿.mp4", "录像(1) = 第二版; 终稿.mp4"},
		{"tab\there\r\nnewline.mp4", "tabherenewline.mp4"},
		{long, strings.Repeat("长", 251) + ".mp4"},
	}
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		c := ta.client(t)
		c.login("teacher", demo.Password)
		for i, tc := range tests {
			// Distinct bytes: each name gets its own media and original.
			id := c.upload(t, tc.sent, []byte(fmt.Sprintf("bytes of upload %d", i)))
			v := c.detail(t, id)
			if v.OriginalName != tc.want {
				t.Errorf("sent %q: stored %q, want %q", tc.sent, v.OriginalName, tc.want)
			}
			if n := utf8.RuneCountInString(v.OriginalName); n > 255 {
				t.Errorf("stored name of %d characters", n)
			}
			wantTitle := []rune(strings.TrimSuffix(tc.want, ".mp4"))
			if len(wantTitle) > 100 {
				wantTitle = wantTitle[:100]
			}
			if v.Title != string(wantTitle) {
				t.Errorf("sent %q: title %q, want %q", tc.sent, v.Title, string(wantTitle))
			}
			page := c.pageOf(t, id)
			if !strings.Contains(page, "<h1>"+html.EscapeString(v.Title)+"</h1>") {
				t.Errorf("sent %q: the page does not show the escaped title %q", tc.sent, html.EscapeString(v.Title))
			}
			if strings.Contains(page, "<img src=x") {
				t.Errorf("sent %q: markup from the name reached the page unescaped", tc.sent)
			}
			resp := c.do("GET", fmt.Sprintf("/media/%d/original", id), "", "", nil)
			mustRead(t, resp)
			cd := resp.Header.Get("Content-Disposition")
			if resp.StatusCode != 200 || strings.ContainsAny(cd, "\"\r\n<>") {
				t.Errorf("sent %q: download %d with Content-Disposition %q", tc.sent, resp.StatusCode, cd)
			}
			if _, params, err := mime.ParseMediaType(cd); err != nil || params["filename"] != tc.want {
				t.Errorf("sent %q: the download is named %q (%v), want %q", tc.sent, params["filename"], err, tc.want)
			}
		}
		// The list of my videos escapes them too.
		resp := c.do("GET", "/videos/mine?lang=zh-CN", "", "", nil)
		if mine := mustRead(t, resp); strings.Contains(mine, "<img src=x") || !strings.Contains(mine, html.EscapeString(`期中复习 "重点" 第3课`)) {
			t.Errorf("my videos page: markup unescaped or a title missing")
		}
		// A name that is nothing but a path, or not UTF-8, is refused before any byte.
		for _, bad := range []string{"../../", "\xff\xfe.mp4"} {
			resp := c.do("POST", "/api/v1/share/uploads/", "", "", map[string]string{
				"Tus-Resumable": "1.0.0", "Upload-Length": "10", "Upload-Metadata": tusMeta("filename", bad)})
			if body := mustRead(t, resp); resp.StatusCode != 400 || !strings.Contains(body, "文件名") {
				t.Errorf("name %q: %d %q, want 400 saying the name is invalid", bad, resp.StatusCode, body)
			}
		}
	})
}

// TestTooLongAndEightK: a real 10-hour video (one tiny frame every 20 s, so
// it is made in a moment) and a real 8K one (7680×4320, two frames) each end
// failed with their own reason under the default limits (6 hours, 4K),
// without retries, and an ordinary upload queued behind them on the same
// single worker is still processed.
func TestTooLongAndEightK(t *testing.T) {
	tenHours := makeVideo(t, "10h.mp4", "-f", "lavfi", "-i", "color=gray:size=64x64:rate=1/20:duration=36000",
		"-c:v", "libx264", "-preset", "ultrafast")
	eightK := makeVideo(t, "8k.mp4", "-f", "lavfi", "-i", "testsrc2=size=7680x4320:rate=25", "-frames:v", "2",
		"-c:v", "libx264", "-preset", "ultrafast")
	lesson := smallLesson(t)
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestAppWith(t, d, true, func(c *config.Config) { c.VideoWorkers = 1 })
		c := ta.client(t)
		c.login("teacher", demo.Password)
		long := c.upload(t, "十小时录像.mp4", tenHours)
		big := c.upload(t, "8K 航拍.mp4", eightK)
		good := c.upload(t, "一次函数.mp4", lesson)
		// The worker starts only now, so the three wait in the queue in this order.
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		go ta.Jobs.Run(ctx)

		for _, tc := range []struct {
			id      int64
			reason  string
			message string
		}{
			{long, "share.reason_too_long", "视频太长"},
			{big, "share.reason_too_large", "分辨率太高"},
		} {
			v := c.waitFor(t, tc.id, settled)
			if v.Media.State != share.StateFailed || v.Media.StateReason != tc.reason || v.Playlist != "" {
				t.Errorf("video %d: %+v, want failed with %s", tc.id, v.Media, tc.reason)
			}
			if page := c.pageOf(t, tc.id); !strings.Contains(page, "处理失败") || !strings.Contains(page, tc.message) {
				t.Errorf("video %d: the page does not say %q", tc.id, tc.message)
			}
		}
		v := c.waitFor(t, good, settled)
		if v.Media.State != share.StateReady || !v.Media.Playable {
			t.Errorf("the upload queued behind them: %+v, want ready", v.Media)
		}
		// The media is ready a moment before its job is marked done.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var pending int
			if err := d.QueryRow(context.Background(), "SELECT COUNT(*) FROM jobs_queue WHERE state IN ('queued', 'running')").Scan(&pending); err != nil {
				t.Fatal(err)
			}
			if pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d jobs still pending", pending)
			}
		}

		// One job each, in upload order: the two failures were not retried,
		// and the good one started after both had finished.
		rows, err := d.Query(context.Background(), "SELECT state, attempts, started_at, finished_at FROM jobs_queue WHERE kind = ? ORDER BY id", share.JobKind)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		type job struct {
			state             string
			attempts          int
			started, finished int64
		}
		var js []job
		for rows.Next() {
			var j job
			if err := rows.Scan(&j.state, &j.attempts, &j.started, &j.finished); err != nil {
				t.Fatal(err)
			}
			js = append(js, j)
		}
		if len(js) != 3 {
			t.Fatalf("%d processing jobs, want 3", len(js))
		}
		for i, want := range []string{"failed", "failed", "done"} {
			if js[i].state != want || js[i].attempts != 1 {
				t.Errorf("job %d: %s after %d attempts, want %s after 1", i+1, js[i].state, js[i].attempts, want)
			}
		}
		if js[2].started < js[0].finished || js[2].started < js[1].finished {
			t.Errorf("the good upload started at %d, before the failures finished (%d, %d)", js[2].started, js[0].finished, js[1].finished)
		}
	})
}
