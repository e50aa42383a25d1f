package app

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"jnedu/internal/config"
	"jnedu/internal/demo"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

func tusMeta(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// TestResumableUpload speaks the tus protocol as the page's uploader does:
// an upload cut in the middle resumes from the byte the server has, the
// digest is computed on arrival, the finished file becomes a video, a
// second upload of the same bytes points to the same media, someone else
// cannot touch the upload, and a quota is refused before any byte is sent.
func TestResumableUpload(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx := context.Background()
		c := ta.client(t)
		c.login("teacher", demo.Password)
		content := []byte(strings.Repeat("一段课堂录像的字节 lesson bytes ", 4000))
		sum := sha256.Sum256(content)
		tus := map[string]string{"Tus-Resumable": "1.0.0"}
		with := func(extra map[string]string) map[string]string {
			m := map[string]string{"Tus-Resumable": "1.0.0"}
			for k, v := range extra {
				m[k] = v
			}
			return m
		}
		resp := c.do("POST", "/api/v1/share/uploads/", "", "", with(map[string]string{
			"Upload-Length":   strconv.Itoa(len(content)),
			"Upload-Metadata": tusMeta("filename", "初二数学 第3课.mp4", "title", "初二数学公开课"),
		}))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %s", resp.StatusCode, mustRead(t, resp))
		}
		loc := resp.Header.Get("Location")
		path := loc[strings.Index(loc, "/api/"):]
		// Send the first part, then the connection "drops".
		half := len(content)/2 + 7
		resp = c.do("PATCH", path, "application/offset+octet-stream", string(content[:half]), with(map[string]string{"Upload-Offset": "0"}))
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("patch 1: %d %s", resp.StatusCode, mustRead(t, resp))
		}
		// Someone else cannot see or continue it.
		other := ta.client(t)
		other.login("teacher2", demo.Password)
		if resp := other.do("HEAD", path, "", "", tus); resp.StatusCode != http.StatusNotFound {
			t.Errorf("another user's HEAD: %d, want 404", resp.StatusCode)
		}
		if resp := other.do("PATCH", path, "application/offset+octet-stream", "x", with(map[string]string{"Upload-Offset": strconv.Itoa(half)})); resp.StatusCode != http.StatusNotFound {
			t.Errorf("another user's PATCH: %d, want 404", resp.StatusCode)
		}
		// Resume: ask where we are, send the rest.
		resp = c.do("HEAD", path, "", "", tus)
		if got := resp.Header.Get("Upload-Offset"); got != strconv.Itoa(half) {
			t.Fatalf("offset after the cut = %q, want %d", got, half)
		}
		resp = c.do("PATCH", path, "application/offset+octet-stream", string(content[half:]), with(map[string]string{"Upload-Offset": strconv.Itoa(half)}))
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("patch 2: %d %s", resp.StatusCode, mustRead(t, resp))
		}
		vid, err := strconv.ParseInt(resp.Header.Get("Jnedu-Video-Id"), 10, 64)
		if err != nil {
			t.Fatalf("no video id in the final response: %v", err)
		}
		v, err := ta.Share.Video(ctx, vid)
		if err != nil {
			t.Fatal(err)
		}
		if v.MediaSHA256 != hex.EncodeToString(sum[:]) || v.Title != "初二数学公开课" || v.OriginalName != "初二数学 第3课.mp4" {
			t.Errorf("video = %+v; want the digest of the bytes, the title and the file name", v)
		}
		rc, info, err := ta.Blobs.Open(ctx, v.MediaSHA256)
		if err != nil || info.Size != int64(len(content)) {
			t.Fatalf("original in the blob store: %v, %d bytes", err, info.Size)
		}
		rc.Close()
		var left int
		d.QueryRow(ctx, "SELECT COUNT(*) FROM share_uploads").Scan(&left)
		if left != 0 {
			t.Errorf("%d uploads still counted against the quota after finishing", left)
		}
		// The audit log has the upload's start and finish and the other
		// user's refused chunk, not every chunk that arrived.
		audit := func(action, result string) (n int) {
			d.QueryRow(ctx, "SELECT COUNT(*) FROM identity_audit WHERE action = ? AND result = ?", action, result).Scan(&n)
			return n
		}
		if n := audit("PATCH /api/v1/share/uploads/{id}", "ok"); n != 0 {
			t.Errorf("%d upload chunks in the audit log, want none", n)
		}
		if n := audit("PATCH /api/v1/share/uploads/{id}", "failed"); n != 1 {
			t.Errorf("%d refused chunks in the audit log, want 1 (the other user's)", n)
		}
		if n := audit("share.upload.finished", "ok"); n != 1 {
			t.Errorf("%d finished uploads in the audit log, want 1", n)
		}
		// The same bytes again, in one request: the same media at once.
		resp = c.do("POST", "/api/v1/share/uploads/", "application/offset+octet-stream", string(content), with(map[string]string{
			"Upload-Length":   strconv.Itoa(len(content)),
			"Upload-Metadata": tusMeta("filename", "copy.mp4"),
		}))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("second upload: %d %s", resp.StatusCode, mustRead(t, resp))
		}
		var n int
		d.QueryRow(ctx, "SELECT COUNT(*) FROM share_media").Scan(&n)
		if n != 1 {
			t.Errorf("%d media after uploading the same bytes twice, want 1", n)
		}
		// Refused before any byte: an empty file, a file over the limit, a student.
		for _, tc := range []struct {
			who    *client
			length string
			want   int
		}{
			{c, "0", 400},
			{c, fmt.Sprint(int64(60) << 30), 413},
		} {
			resp := tc.who.do("POST", "/api/v1/share/uploads/", "", "", with(map[string]string{"Upload-Length": tc.length, "Upload-Metadata": tusMeta("filename", "x.mp4")}))
			if resp.StatusCode != tc.want {
				t.Errorf("create with length %s: %d, want %d", tc.length, resp.StatusCode, tc.want)
			}
		}
		st := ta.client(t)
		st.login("student", demo.Password)
		if resp := st.do("POST", "/api/v1/share/uploads/", "", "", with(map[string]string{"Upload-Length": "10", "Upload-Metadata": tusMeta("filename", "x.mp4")})); resp.StatusCode != 403 {
			t.Errorf("student upload: %d, want 403", resp.StatusCode)
		}
	})
}

// TestShareFormAndChannel: the owner shares with a chosen school through
// the page's checkboxes; that school's teacher sees it, others do not; the
// school's channel page lists it under the school's name.
func TestShareFormAndChannel(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx := context.Background()
		c := ta.client(t)
		c.login("teacher", demo.Password)
		content := "课堂录像字节：物理实验课"
		resp := c.do("POST", "/api/v1/share/uploads/", "application/offset+octet-stream", content, map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(len(content)), "Upload-Metadata": tusMeta("filename", "物理实验.mp4"),
		})
		id, _ := strconv.ParseInt(resp.Header.Get("Jnedu-Video-Id"), 10, 64)
		if _, err := d.Exec(ctx, "UPDATE share_media SET playable = TRUE, state = 'ready'"); err != nil {
			t.Fatal(err)
		}
		other, _ := ta.Identity.OrgByCode(ctx, "S-JN09")
		own, _ := ta.Identity.OrgByCode(ctx, "S-JN01")
		page := mustRead(t, c.do("GET", fmt.Sprintf("/videos/%d?lang=zh-CN", id), "", "", nil))
		if !strings.Contains(page, fmt.Sprintf(`name="orgs" value="%d"`, other.ID)) || !strings.Contains(page, "济南外国语学校") {
			t.Fatal("the share form lacks the school checkboxes")
		}
		resp = c.do("POST", fmt.Sprintf("/videos/%d", id), "application/x-www-form-urlencoded",
			form("_csrf", c.csrf, "title", "初三物理实验课", "subject", "物理", "visibility", "orgs", "orgs", strconv.FormatInt(other.ID, 10)), nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("share form: %d %s", resp.StatusCode, mustRead(t, resp))
		}
		seen := func(user string) int {
			cl := ta.client(t)
			cl.login(user, demo.Password)
			return cl.getJSON(fmt.Sprintf("/api/v1/share/videos/%d", id), nil)
		}
		if st := seen("teacher2"); st != 200 {
			t.Errorf("teacher at the chosen school: %d, want 200", st)
		}
		if st := seen("exam_staff"); st != 404 {
			t.Errorf("exam staff elsewhere: %d, want 404", st)
		}
		ch := mustRead(t, c.do("GET", fmt.Sprintf("/videos?org_id=%d&lang=zh-CN", own.ID), "", "", nil))
		if !strings.Contains(ch, "济南第一中学 的视频频道") || !strings.Contains(ch, "初三物理实验课") {
			t.Error("the school channel page lacks its name or the video")
		}
	})
}

// TestUploadQuotaFromConfig: the configured quota refuses an upload before
// any byte is sent, with a message saying which quota.
func TestUploadQuotaFromConfig(t *testing.T) {
	ta := newTestAppWith(t, dbtest.SQLite(t), true, func(c *config.Config) { c.VideoUserQuotaGB = 1 })
	c := ta.client(t)
	c.login("teacher", demo.Password)
	resp := c.do("POST", "/api/v1/share/uploads/?lang=zh-CN", "", "", map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.FormatInt(3<<29, 10), "Upload-Metadata": tusMeta("filename", "大会录像.mp4"),
	})
	if b := mustRead(t, resp); resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(b, "个人存储配额") {
		t.Errorf("1.5 GiB against a 1 GB quota: %d %q", resp.StatusCode, b)
	}
	var n int
	ta.DB.QueryRow(context.Background(), "SELECT COUNT(*) FROM share_uploads").Scan(&n)
	if n != 0 {
		t.Errorf("a refused upload was recorded (%d)", n)
	}
}

// TestCollectionsAPI: a teacher's collection through the API: another
// school's teacher sees only what is shared with all and cannot change it.
func TestCollectionsAPI(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx := context.Background()
		c := ta.client(t)
		c.login("teacher", demo.Password)
		open := c.upload(t, "公开课.mp4", []byte("an open lesson"))
		mine := c.upload(t, "校内课.mp4", []byte("a lesson for my school"))
		if _, err := d.Exec(ctx, "UPDATE share_media SET playable = TRUE, state = 'ready'"); err != nil {
			t.Fatal(err)
		}
		for id, vis := range map[int64]string{open: "all", mine: "school"} {
			if resp := c.do("PATCH", fmt.Sprintf("/api/v1/share/videos/%d", id), "application/json", `{"title":"课`+strconv.FormatInt(id, 10)+`","visibility":"`+vis+`"}`, nil); resp.StatusCode != 200 {
				t.Fatalf("share %d: %d %s", id, resp.StatusCode, mustRead(t, resp))
			}
		}
		resp := c.do("POST", "/api/v1/share/collections", "application/json", `{"title":"一次函数单元"}`, nil)
		var col struct {
			ID     int64 `json:"id"`
			OrgID  int64 `json:"org_id"`
			Videos []struct {
				ID int64 `json:"id"`
			} `json:"videos"`
			VideoCount int  `json:"video_count"`
			CanEdit    bool `json:"can_edit"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&col); err != nil || resp.StatusCode != 201 || col.ID == 0 || !col.CanEdit {
			t.Fatalf("create: %d %+v %v", resp.StatusCode, col, err)
		}
		base := fmt.Sprintf("/api/v1/share/collections/%d", col.ID)
		for _, id := range []int64{mine, open} {
			if resp := c.do("POST", base+"/videos", "application/json", fmt.Sprintf(`{"video_id":%d}`, id), nil); resp.StatusCode != 204 {
				t.Fatalf("add %d: %d %s", id, resp.StatusCode, mustRead(t, resp))
			}
		}
		other := ta.client(t)
		other.login("teacher2", demo.Password)
		col.Videos = nil
		if st := other.getJSON(base, &col); st != 200 || len(col.Videos) != 1 || col.Videos[0].ID != open || col.VideoCount != 1 || col.CanEdit {
			t.Errorf("teacher2 opens the collection: %d %+v, want only video %d, not editable", st, col, open)
		}
		col.Videos = nil
		if st := c.getJSON(base, &col); st != 200 || len(col.Videos) != 2 || col.Videos[0].ID != mine {
			t.Errorf("the owner opens it: %d %+v, want both in the order added", st, col)
		}
		var list struct {
			Collections []struct {
				ID         int64 `json:"id"`
				VideoCount int   `json:"video_count"`
			} `json:"collections"`
		}
		if st := other.getJSON(fmt.Sprintf("/api/v1/share/collections?org_id=%d", col.OrgID), &list); st != 200 || len(list.Collections) != 1 || list.Collections[0].VideoCount != 1 {
			t.Errorf("teacher2 lists the school's collections: %d %+v, want one counting 1 video", st, list)
		}
		for _, req := range []struct{ method, path, body string }{
			{"PATCH", base, `{"title":"改名"}`},
			{"POST", base + "/videos", fmt.Sprintf(`{"video_id":%d}`, open)},
			{"PUT", base + "/videos", fmt.Sprintf(`{"video_ids":[%d]}`, open)},
			{"DELETE", fmt.Sprintf("%s/videos/%d", base, open), ""},
			{"DELETE", base, ""},
		} {
			ctype := ""
			if req.body != "" {
				ctype = "application/json"
			}
			if resp := other.do(req.method, req.path, ctype, req.body, nil); resp.StatusCode != 403 {
				t.Errorf("teacher2 %s %s: %d, want refused", req.method, req.path, resp.StatusCode)
			}
		}
		if resp := c.do("PUT", base+"/videos", "application/json", fmt.Sprintf(`{"video_ids":[%d]}`, open), nil); resp.StatusCode != 204 {
			t.Errorf("reorder: %d %s", resp.StatusCode, mustRead(t, resp))
		}
		col.Videos = nil
		if c.getJSON(base, &col); len(col.Videos) != 2 || col.Videos[0].ID != open || col.Videos[1].ID != mine {
			t.Errorf("after reorder: %+v", col.Videos)
		}
		// The video page links the collection it is in.
		resp = other.do("GET", fmt.Sprintf("/videos/%d", open), "", "", nil)
		page := mustRead(t, resp)
		if !strings.Contains(page, fmt.Sprintf(`href="/collections/%d"`, col.ID)) {
			t.Errorf("the video page does not link its collection")
		}
		addForm := func(id int64) string { return fmt.Sprintf(`action="/videos/%d/collections"`, id) }
		if strings.Contains(page, addForm(open)) {
			t.Errorf("teacher2 is offered to add another's video to a collection")
		}
		// The owner adds a third video from its own page.
		later := c.upload(t, "习题课.mp4", []byte("an exercise lesson"))
		if page := mustRead(t, c.do("GET", fmt.Sprintf("/videos/%d", later), "", "", nil)); !strings.Contains(page, addForm(later)) ||
			!strings.Contains(page, fmt.Sprintf(`<option value="%d">一次函数单元</option>`, col.ID)) {
			t.Fatalf("the owner's video page offers no collection to add it to")
		}
		add := func(cl *client, vid int64) *http.Response {
			return cl.do("POST", fmt.Sprintf("/videos/%d/collections", vid), "application/x-www-form-urlencoded",
				form("_csrf", cl.csrf, "collection_id", strconv.FormatInt(col.ID, 10)), nil)
		}
		if resp := add(other, open); resp.StatusCode != http.StatusForbidden {
			t.Errorf("teacher2 adds to the owner's collection: %d, want 403", resp.StatusCode)
		}
		if resp := add(c, later); resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "flash=share.added_to_collection") {
			t.Fatalf("add from the video page: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		col.Videos = nil
		if c.getJSON(base, &col); len(col.Videos) != 3 || col.Videos[2].ID != later {
			t.Errorf("after adding from the video page: %+v, want it last", col.Videos)
		}
		if page := mustRead(t, c.do("GET", fmt.Sprintf("/videos/%d", later), "", "", nil)); strings.Contains(page, addForm(later)) {
			t.Errorf("the video page still offers the collection that holds it")
		}
	})
}
