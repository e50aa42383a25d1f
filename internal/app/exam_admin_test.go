package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"jnedu/internal/demo"
	"jnedu/internal/exam"
	"jnedu/internal/exam/bundle"
	"jnedu/internal/identity"
	"jnedu/internal/platform/db"
)

// multipartBody is one file field (and the CSRF field a browser sends).
func multipartBody(t *testing.T, field, name string, data []byte, csrf string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("_csrf", csrf)
	fw, err := w.CreateFormFile(field, name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	w.Close()
	return w.FormDataContentType(), b.String()
}

// TestExamAdminPages: the exam staff's pages upload one candidate's photo
// (refusing a non-image with a clear message), re-key a session at a site
// (the site's next download carries the new key check and the printed
// code changes) and refuse to delete what a site already holds, in Chinese
// and English; the JSON API does the same, and every change is audited.
// Answers received through marking's catalogue stop re-keying.
func TestExamAdminPages(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx := context.Background()
		e, sites := demoExam(t, ta)
		lw, gc := sites[0], sites[1]
		admin := ta.client(t)
		admin.login("admin", demo.Password)
		staff := ta.client(t)
		staff.login("exam_staff", demo.Password)
		base := fmt.Sprintf("/exam/exams/%d", e.ID)
		cs, _ := ta.Exam.Candidates(ctx, e.ID, exam.CandidateFilter{Site: lw})
		c0 := cs[0]

		// The site node downloads its package with its token.
		p, _ := ta.Identity.PrincipalOf(ctx, "exam_staff")
		tok, _, err := ta.Identity.CreateToken(ctx, p, identity.TokenInput{Name: "site node", Scopes: []string{"read", "write"}, ExpiresIn: 30})
		if err != nil {
			t.Fatal(err)
		}
		node := ta.client(t)
		download := func() bundle.SitePackage {
			t.Helper()
			resp := node.do("GET", "/api/v1/exam/site/"+lw+"/package", "", "", map[string]string{"Authorization": "Bearer " + tok})
			var pkg bundle.SitePackage
			if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&pkg) != nil {
				t.Fatalf("package download: %d", resp.StatusCode)
			}
			return pkg
		}
		pkg1 := download()

		// The candidate's page: the manager gets the upload form, the site's staff only the details.
		resp := admin.do("GET", base+"/candidates/"+c0.Number, "", "", nil)
		if body := mustRead(t, resp); resp.StatusCode != 200 || !strings.Contains(body, c0.Name) || !strings.Contains(body, `name="photo"`) || !strings.Contains(body, "无照片") {
			t.Fatalf("candidate page: %d", resp.StatusCode)
		}
		resp = staff.do("GET", base+"/candidates/"+c0.Number, "", "", nil)
		if body := mustRead(t, resp); resp.StatusCode != 200 || strings.Contains(body, `name="photo"`) {
			t.Errorf("candidate page for site staff: %d, form shown %v", resp.StatusCode, strings.Contains(body, `name="photo"`))
		}
		if st := admin.do("GET", base+"/candidates/"+c0.Number, "", "", nil).StatusCode; st != 200 {
			t.Errorf("candidates list link target: %d", st)
		}
		if body := mustRead(t, admin.do("GET", base+"/candidates?site="+lw, "", "", nil)); !strings.Contains(body, base+"/candidates/"+c0.Number) {
			t.Error("the candidates list does not link to the candidate's page")
		}

		// Upload through the form: a text file is refused with the reason, a PNG is taken.
		ct, body := multipartBody(t, "photo", "notes.txt", []byte(strings.Repeat("not a photo\n", 20)), admin.csrf)
		resp = admin.do("POST", base+"/candidates/"+c0.Number+"/photo", ct, body, nil)
		if page := mustRead(t, resp); resp.StatusCode != 400 || !strings.Contains(page, "只接受 JPEG 或 PNG 图片") {
			t.Errorf("a text file as a photo: %d, message shown %v", resp.StatusCode, strings.Contains(page, "只接受 JPEG 或 PNG 图片"))
		}
		var png1 bytes.Buffer
		png.Encode(&png1, image.NewGray(image.Rect(0, 0, 60, 80)))
		ct, body = multipartBody(t, "photo", "photo.png", png1.Bytes(), admin.csrf)
		resp = admin.do("POST", base+"/candidates/"+c0.Number+"/photo", ct, body, nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "flash=exam.flash_photo") {
			t.Fatalf("photo upload: %d %s", resp.StatusCode, mustRead(t, resp))
		}
		ap, _ := ta.Identity.PrincipalOf(ctx, "admin")
		_, c, err := ta.Exam.Candidate(ctx, ap, e.ID, c0.Number)
		if err != nil {
			t.Fatal(err)
		}
		if c.Photo == "" || !strings.Contains(mustRead(t, admin.do("GET", base+"/candidates/"+c0.Number, "", "", nil)), "/exam/media/"+c.Photo) {
			t.Fatalf("the photo is not on the candidate's page (%q)", c.Photo)
		}
		pkg2 := download()
		if pc := findCandidate(pkg2, c0.Number); pkg2.Revision <= pkg1.Revision || pc.Photo != c.Photo {
			t.Errorf("package after the photo: revision %d (was %d), photo %q", pkg2.Revision, pkg1.Revision, pc.Photo)
		}
		// A candidate of another exam, through the API: 404 with the reason.
		other, err := ta.Exam.CreateExam(ctx, nil, exam.ExamInput{Code: "T-OTHER", Title: "另一场考试"})
		if err != nil {
			t.Fatal(err)
		}
		resp = admin.do("PUT", fmt.Sprintf("/api/v1/exam/exams/%d/candidates/%s/photo", other.ID, c0.Number), "image/png", png1.String(), nil)
		if msg := errorOf(t, resp); resp.StatusCode != 404 || !strings.Contains(msg, "本考试没有准考证号为 "+c0.Number+" 的考生") {
			t.Errorf("a photo for another exam's candidate: %d %q", resp.StatusCode, msg)
		}

		// Re-keying S1 at the site from the keys page.
		before := keyCheck(pkg2, "S1")
		codes := mustRead(t, admin.do("GET", base+"/keys/codes?session=S1", "", "", nil))
		resp = admin.do("POST", base+"/keys/rekey", "application/x-www-form-urlencoded", form("_csrf", admin.csrf, "session", "S1", "site", lw), nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "flash=exam.flash_rekeyed") {
			t.Fatalf("re-key: %d %s", resp.StatusCode, mustRead(t, resp))
		}
		keys := mustRead(t, admin.do("GET", base+"/keys?flash=exam.flash_rekeyed", "", "", nil))
		if !strings.Contains(keys, "已重新生成 1 次") || !strings.Contains(keys, "请打印新的密封码") {
			t.Error("the keys page does not show the re-keying")
		}
		pkg3 := download()
		after := keyCheck(pkg3, "S1")
		if after == before || pkg3.Revision <= pkg2.Revision || keyCheck(pkg3, "S2") != keyCheck(pkg2, "S2") {
			t.Errorf("package after re-keying: S1 check %s → %s, revision %d → %d", before, after, pkg2.Revision, pkg3.Revision)
		}
		if codes2 := mustRead(t, admin.do("GET", base+"/keys/codes?session=S1", "", "", nil)); codes2 == codes || !strings.Contains(codes2, after) {
			t.Error("the printed sealed codes did not change with the key")
		}

		// Deleting what the site holds is refused with the reason (page, English, API).
		resp = admin.do("POST", base+"/sessions/S1/delete", "application/x-www-form-urlencoded", form("_csrf", admin.csrf), nil)
		if page := mustRead(t, resp); resp.StatusCode != 409 || !strings.Contains(page, "不能删除：考点 "+lw+" 已下载包含场次 S1 的考试包") {
			t.Errorf("deleting a downloaded session: %d", resp.StatusCode)
		}
		english := ta.client(t)
		english.login("admin", demo.Password)
		resp = english.do("POST", base+"/sites/"+c0.Site+"/rooms/"+c0.Room+"/delete?lang=en", "application/x-www-form-urlencoded", form("_csrf", english.csrf), nil)
		if page := mustRead(t, resp); resp.StatusCode != 409 || !strings.Contains(page, "candidates seated") {
			t.Errorf("deleting a room with candidates (English): %d", resp.StatusCode)
		}
		resp = admin.do("DELETE", fmt.Sprintf("/api/v1/exam/exams/%d/sessions/S2", e.ID), "", "", nil)
		if msg := errorOf(t, resp); resp.StatusCode != 409 || !strings.Contains(msg, "已下载") {
			t.Errorf("API delete of a downloaded session: %d %q", resp.StatusCode, msg)
		}
		if st := staff.do("DELETE", fmt.Sprintf("/api/v1/exam/exams/%d/sessions/S2", e.ID), "", "", nil).StatusCode; st != 404 {
			t.Errorf("site staff deleting a session: %d, want 404", st)
		}
		// An empty room added by mistake goes; the next download no longer lists it.
		if resp := admin.do("POST", fmt.Sprintf("/api/v1/exam/exams/%d/rooms", e.ID), "application/json", `{"site":"`+lw+`","code":"99","seats":5}`, nil); resp.StatusCode != 200 {
			t.Fatalf("add a room: %d", resp.StatusCode)
		}
		if resp := admin.do("DELETE", fmt.Sprintf("/api/v1/exam/exams/%d/sites/%s/rooms/99", e.ID, lw), "", "", nil); resp.StatusCode != 204 {
			t.Errorf("deleting an empty room: %d %s", resp.StatusCode, mustRead(t, resp))
		}
		if pkg := download(); len(pkg.Rooms) != 2 {
			t.Errorf("%d rooms in the package after the delete, want 2", len(pkg.Rooms))
		}

		// Answers from the other site for S2 (marking asks for the roster): no re-keying there.
		if _, err := (centerCatalog{ta.Exam}).SessionRoster(ctx, exam.DemoExamCode, gc, "S2"); err != nil {
			t.Fatal(err)
		}
		resp = admin.do("POST", fmt.Sprintf("/api/v1/exam/exams/%d/keys/rekey", e.ID), "application/json", `{"session":"S2","site":"`+gc+`"}`, nil)
		if msg := errorOf(t, resp); resp.StatusCode != 409 || !strings.Contains(msg, "已收到考点 "+gc+" 场次 S2 的答卷") {
			t.Errorf("re-keying after answers: %d %q", resp.StatusCode, msg)
		}
		resp = admin.do("POST", fmt.Sprintf("/api/v1/exam/exams/%d/keys/rekey", e.ID), "application/json", `{"session":"S2","site":"`+lw+`"}`, nil)
		var row exam.KeyRow
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&row) != nil || row.Rekeys != 1 || row.KeyCheck == keyCheck(pkg3, "S2") {
			t.Errorf("re-keying through the API: %d %+v", resp.StatusCode, row)
		}

		// Audited: the photo, the re-keying and the refused delete.
		for _, c := range []struct{ action, detail, result string }{
			{"POST /exam/exams/{id}/candidates/{number}/photo", "photo of " + c0.Number + ": " + c.Photo, "ok"},
			{"POST /exam/exams/{id}/keys/rekey", "replace key: session S1 site " + lw + ", new key check " + after, "ok"},
			{"POST /exam/exams/{id}/sessions/{session}/delete", "delete session S1", "failed"},
			{"DELETE /api/v1/exam/exams/{id}/sites/{site}/rooms/{room}", "delete room " + lw + "/99", "ok"},
		} {
			if n := count(t, d, "SELECT COUNT(*) FROM identity_audit WHERE action = ? AND target = ? AND detail = ? AND result = ?",
				c.action, fmt.Sprintf("exam:%d", e.ID), c.detail, c.result); n != 1 {
				t.Errorf("audit entries for %s %q (%s): %d, want 1", c.action, c.detail, c.result, n)
			}
		}
	})
}

func findCandidate(pkg bundle.SitePackage, number string) bundle.Candidate {
	for _, c := range pkg.Candidates {
		if c.Number == number {
			return c
		}
	}
	return bundle.Candidate{}
}

func keyCheck(pkg bundle.SitePackage, session string) string {
	for _, x := range pkg.Sessions {
		if x.Code == session {
			return x.KeyCheck
		}
	}
	return ""
}

// errorOf reads a JSON error's message.
func errorOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	return e.Error.Message
}
