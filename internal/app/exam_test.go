package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"jnedu/internal/demo"
	"jnedu/internal/exam"
	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/paper"
	"jnedu/internal/identity"
	"jnedu/internal/platform/db"
)

// TestExamSiteAPI plays a site node against the center over HTTP: it
// registers its key, downloads its package and the files the package
// lists (and nothing else), is refused the session key until the center
// releases it, then opens the sealed papers with that key and only with
// it. Another site's token and a non-staff token are refused.
func TestExamSiteAPI(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx := context.Background()
		e, sites := demoExam(t, ta)
		lwSite, gcSite := sites[0], sites[1]
		no := false
		gcOrg, err := ta.Identity.OrgByCode(ctx, gcSite)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ta.Identity.CreateUser(ctx, nil, identity.UserInput{OrgID: gcOrg.ID, Username: "gc_staff", DisplayName: "钢城考务",
			Password: demo.Password, Roles: []identity.Role{identity.RoleExamStaff}, MustChangePassword: &no}); err != nil {
			t.Fatal(err)
		}
		token := func(user string) string {
			p, err := ta.Identity.PrincipalOf(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			sec, _, err := ta.Identity.CreateToken(ctx, p, identity.TokenInput{Name: "site node", Scopes: []string{"read", "write"}, ExpiresIn: 30})
			if err != nil {
				t.Fatal(err)
			}
			return sec
		}
		lw, gc, teacher := token("exam_staff"), token("gc_staff"), token("teacher")
		node := ta.client(t)
		call := func(tok, method, path, body string, hdr map[string]string) *http.Response {
			h := map[string]string{"Authorization": "Bearer " + tok}
			for k, v := range hdr {
				h[k] = v
			}
			ct := ""
			if body != "" {
				ct = "application/json"
			}
			return node.do(method, path, ct, body, h)
		}
		base := "/api/v1/exam/site/" + lwSite

		// Registration: a new key replaces the old until a package came in with it.
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		reg := func(k ed25519.PublicKey) int {
			return call(lw, "POST", base+"/register", `{"public_key":"`+base64.StdEncoding.EncodeToString(k)+`"}`, nil).StatusCode
		}
		if st := reg(pub); st != 200 {
			t.Fatalf("register: %d", st)
		}
		pub2, _, _ := ed25519.GenerateKey(rand.Reader)
		if st := reg(pub2); st != 200 {
			t.Errorf("replace the key before any answer: %d, want 200", st)
		}
		if got, err := ta.Exam.SitePublicKey(ctx, lwSite); err != nil || !got.Equal(pub2) {
			t.Errorf("registered key = %x (%v), want the second", got, err)
		}
		// Marking asks for the roster once a package from the site verified:
		// the key is locked from then on.
		cat := centerCatalog{ta.Exam}
		roster, err := cat.SessionRoster(ctx, exam.DemoExamCode, lwSite, "S1")
		if err != nil || len(roster) == 0 {
			t.Fatalf("roster through the marking catalogue: %v %v", roster, err)
		}
		if ci, err := cat.CandidateInfo(ctx, exam.DemoExamCode, roster[0]); err != nil || ci.Site != lwSite || ci.Session != "S1" || ci.Seat == 0 {
			t.Errorf("candidate through the marking catalogue: %+v %v", ci, err)
		}
		if st := reg(pub); st != http.StatusConflict {
			t.Errorf("replace a key that signed answers: %d, want 409", st)
		}
		if st := call(lw, "POST", base+"/register", `{"public_key":"c2hvcnQ="}`, nil).StatusCode; st != 400 {
			t.Errorf("a malformed key: %d, want 400", st)
		}

		// The package.
		resp := call(lw, "GET", base+"/package", "", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("package: %d %s", resp.StatusCode, mustRead(t, resp))
		}
		var pkg bundle.SitePackage
		if err := json.NewDecoder(resp.Body).Decode(&pkg); err != nil {
			t.Fatal(err)
		}
		etag := resp.Header.Get("ETag")
		if pkg.Format != bundle.Format || pkg.Site.Code != lwSite || pkg.Exam.Code != exam.DemoExamCode || etag != `"`+strconv.FormatInt(pkg.Revision, 10)+`"` {
			t.Fatalf("package head: %+v %+v etag %s", pkg.Site, pkg.Exam, etag)
		}
		if st := call(lw, "GET", base+"/package", "", map[string]string{"If-None-Match": etag}).StatusCode; st != http.StatusNotModified {
			t.Errorf("unchanged package with its ETag: %d, want 304", st)
		}
		seated, err := ta.Exam.Candidates(ctx, e.ID, exam.CandidateFilter{Site: lwSite})
		if err != nil {
			t.Fatal(err)
		}
		if len(pkg.Candidates) != len(seated) || len(seated) == 0 || len(pkg.Rooms) != 2 || len(pkg.Sessions) != 2 {
			t.Fatalf("package holds %d candidates (want %d), %d rooms, %d sessions", len(pkg.Candidates), len(seated), len(pkg.Rooms), len(pkg.Sessions))
		}
		for _, c := range pkg.Candidates {
			var i int
			fmt.Sscanf(c.Number, "2027%06d", &i)
			if c.IDCheck != bundle.IDCheck(pkg.Exam.Code, c.Number, exam.DemoIDNumber(i-100001)) || len(c.IDMasked) != 18 || c.IDMasked[4:14] != "**********" {
				t.Errorf("candidate %s: id check %s, masked %s", c.Number, c.IDCheck, c.IDMasked)
			}
		}
		foundStaff := false
		for _, s := range pkg.Staff {
			if s.Username == "gc_staff" {
				t.Errorf("another site's staff in the package")
			}
			if s.Username == "exam_staff" {
				foundStaff = true
				if ok, err := identity.CheckPassword(s.PasswordHash, demo.Password); !ok || err != nil {
					t.Errorf("staff verifier does not verify the password: %v", err)
				}
			}
		}
		if !foundStaff {
			t.Error("the site's exam staff are not in the package")
		}
		listed := map[string]bool{}
		for _, b := range pkg.Blobs {
			listed[b] = true
		}
		sealed := map[string][]byte{}
		for _, x := range pkg.Sessions {
			if len(x.Papers) != 3 {
				t.Errorf("session %s has %d papers, want A, B and S", x.Code, len(x.Papers))
			}
			for _, sp := range x.Papers {
				if !listed[sp.Blob] {
					t.Errorf("sealed paper %s/%s not among the blobs", x.Code, sp.Variant)
				}
				resp := call(lw, "GET", base+"/blobs/"+sp.Blob, "", nil)
				body, _ := io.ReadAll(resp.Body)
				sum := sha256.Sum256(body)
				if resp.StatusCode != 200 || hex.EncodeToString(sum[:]) != sp.Blob || int64(len(body)) != sp.Size {
					t.Fatalf("blob %s: status %d, %d bytes", sp.Blob, resp.StatusCode, len(body))
				}
				sealed[x.Code+"/"+sp.Variant] = body
			}
		}
		// Files outside the package are not served, even when they exist.
		full, err := ta.Exam.SessionPaper(ctx, exam.DemoExamCode, "S1", "A")
		if err != nil {
			t.Fatal(err)
		}
		if len(full.Blobs()) == 0 {
			t.Fatal("the demo paper has no prompt audio (is espeak-ng installed?)")
		}
		if st := call(lw, "GET", base+"/blobs/"+full.Blobs()[0], "", nil).StatusCode; st != 404 {
			t.Errorf("a prompt file outside the package: %d, want 404", st)
		}
		// Other callers.
		if st := call(gc, "GET", base+"/package", "", nil).StatusCode; st != 404 {
			t.Errorf("another site's token: %d, want 404", st)
		}
		if st := call(teacher, "GET", base+"/package", "", nil).StatusCode; st != 403 {
			t.Errorf("a teacher's token: %d, want 403", st)
		}
		var gcPkg bundle.SitePackage
		resp = call(gc, "GET", "/api/v1/exam/site/"+gcSite+"/package", "", nil)
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&gcPkg) != nil {
			t.Fatalf("own package for the other site: %d", resp.StatusCode)
		}
		lwA := pkg.Sessions[0].Papers[0].Blob
		if st := call(gc, "GET", "/api/v1/exam/site/"+gcSite+"/blobs/"+lwA, "", nil).StatusCode; st != 404 {
			t.Errorf("the other site fetching this site's sealed paper: %d, want 404", st)
		}
		if gcPkg.Sessions[0].KeyCheck == pkg.Sessions[0].KeyCheck {
			t.Error("two sites share a session key")
		}

		// The key: refused until released, and nothing opens the papers before.
		keyOf := func(session string) (bundle.Key, int) {
			resp := call(lw, "GET", base+"/sessions/"+session+"/key", "", nil)
			var kr struct {
				Key   string                `json:"key"`
				Error struct{ Code string } `json:"error"`
			}
			json.NewDecoder(resp.Body).Decode(&kr)
			if resp.StatusCode != 200 {
				return bundle.Key{}, resp.StatusCode
			}
			k, err := bundle.DecodeKey(kr.Key)
			if err != nil {
				t.Fatal(err)
			}
			return k, 200
		}
		if _, st := keyOf("S1"); st != http.StatusConflict {
			t.Fatalf("key before release: %d, want 409", st)
		}
		guess, _ := bundle.NewKey()
		if _, err := bundle.Open(guess, sealed["S1/A"], bundle.PaperAD(pkg.Exam.Code, "S1", "A")); !errors.Is(err, bundle.ErrSealed) {
			t.Errorf("opening with a guessed key: %v, want ErrSealed", err)
		}
		admin := ta.client(t)
		admin.login("admin", demo.Password)
		resp = admin.do("POST", fmt.Sprintf("/api/v1/exam/exams/%d/keys/release", e.ID), "application/json", `{"session":"S1","site":"`+lwSite+`"}`, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("release: %d %s", resp.StatusCode, mustRead(t, resp))
		}
		k1, st := keyOf("S1")
		if st != 200 {
			t.Fatalf("key after release: %d", st)
		}
		if bundle.KeyCheck(k1) != pkg.Sessions[0].KeyCheck {
			t.Errorf("released key does not match the package's key check")
		}
		if _, st := keyOf("S2"); st != http.StatusConflict {
			t.Errorf("the other session's key: %d, want 409", st)
		}
		for _, sp := range pkg.Sessions[0].Papers {
			pt, err := bundle.Open(k1, sealed["S1/"+sp.Variant], bundle.PaperAD(pkg.Exam.Code, "S1", sp.Variant))
			if err != nil {
				t.Fatalf("open S1/%s: %v", sp.Variant, err)
			}
			var pf bundle.PaperFile
			var pp paper.Paper
			if err := json.Unmarshal(pt, &pf); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(pf.Paper, &pp); err != nil {
				t.Fatal(err)
			}
			if pp.Variant != sp.Variant || pp.Code != sp.Code || len(pp.Items()) != len(paper.ItemTypes) {
				t.Errorf("opened %s: code %s variant %s, %d items", sp.Variant, pp.Code, pp.Variant, len(pp.Items()))
			}
			if pp.Sections[0].Items[0].Answer != nil || len(pp.Items()[1].Rubric.KeyPoints) != 0 {
				t.Errorf("the sealed paper %s carries answers or rubrics", sp.Variant)
			}
			for _, h := range pp.Blobs() {
				sum := sha256.Sum256(pf.Files[h])
				if hex.EncodeToString(sum[:]) != h {
					t.Errorf("paper %s: prompt file %s missing or damaged", sp.Variant, h)
				}
			}
		}
		if _, err := bundle.Open(k1, sealed["S2/A"], bundle.PaperAD(pkg.Exam.Code, "S2", "A")); !errors.Is(err, bundle.ErrSealed) {
			t.Errorf("session 1's key opened session 2's paper: %v", err)
		}
		if _, err := bundle.Open(k1, sealed["S1/A"], bundle.PaperAD(pkg.Exam.Code, "S1", "B")); !errors.Is(err, bundle.ErrSealed) {
			t.Errorf("paper A opened as variant B: %v", err)
		}
		// The other site's key for the same session stays unreleased.
		resp = call(gc, "GET", "/api/v1/exam/site/"+gcSite+"/sessions/S1/key", "", nil)
		if resp.StatusCode != http.StatusConflict {
			t.Errorf("the other site's S1 key: %d, want 409", resp.StatusCode)
		}

		// The pages render, and show ID-card numbers masked only.
		ps, err := ta.Exam.Papers(ctx, nil)
		if err != nil || len(ps) != 0 {
			t.Errorf("papers for nobody: %d %v", len(ps), err)
		}
		pa, err := ta.Exam.PublishedPaper(ctx, "2027-ZK-DEMO-A")
		if err != nil {
			t.Fatal(err)
		}
		c0 := seated[0]
		pages := map[string][]string{
			"/exam/papers":                                                 {"2027-ZK-DEMO-A"},
			fmt.Sprintf("/exam/papers/%d", pa.ID):                          {"data-paper=", "editor.js"},
			fmt.Sprintf("/exam/papers/%d/preview", pa.ID):                  {"preview.js", "data-paper="},
			"/exam/exams":                                                  {exam.DemoExamCode},
			fmt.Sprintf("/exam/exams/%d", e.ID):                            {lwSite, gcSite},
			fmt.Sprintf("/exam/exams/%d/candidates?site=%s", e.ID, lwSite): {c0.Number, c0.IDMasked},
			fmt.Sprintf("/exam/exams/%d/tickets?site=%s", e.ID, lwSite):    {c0.Number, c0.IDMasked, "exam.css"},
			fmt.Sprintf("/exam/exams/%d/signin?site=%s&session=%s&room=%s", e.ID, c0.Site, c0.Session, c0.Room): {c0.Number},
			fmt.Sprintf("/exam/exams/%d/keys", e.ID):                                                            {lwSite, "S2"},
			fmt.Sprintf("/exam/exams/%d/keys/codes?session=S2", e.ID):                                           {"sealed-code"},
			fmt.Sprintf("/exam/exams/%d/sites/%s/staff", e.ID, lwSite):                                          {"exam_staff"},
			fmt.Sprintf("/exam/exams/%d/candidates.csv", e.ID):                                                  {c0.IDMasked},
		}
		for path, wants := range pages {
			resp := admin.do("GET", path, "", "", nil)
			body := mustRead(t, resp)
			if resp.StatusCode != 200 {
				t.Errorf("GET %s: %d", path, resp.StatusCode)
				continue
			}
			for _, w := range wants {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s: no %q", path, w)
				}
			}
			var i int
			fmt.Sscanf(c0.Number, "2027%06d", &i)
			if strings.Contains(body, exam.DemoIDNumber(i-100001)) {
				t.Errorf("GET %s shows a full ID-card number", path)
			}
		}
		// Site staff see their site only, and no papers.
		staff := ta.client(t)
		staff.login("exam_staff", demo.Password)
		resp = staff.do("GET", fmt.Sprintf("/exam/exams/%d", e.ID), "", "", nil)
		if body := mustRead(t, resp); resp.StatusCode != 200 || !strings.Contains(body, lwSite) || strings.Contains(body, gcSite) {
			t.Errorf("site staff's exam page: %d, shows the other site: %v", resp.StatusCode, strings.Contains(body, gcSite))
		}
		if st := staff.do("GET", fmt.Sprintf("/exam/exams/%d/candidates?site=%s", e.ID, gcSite), "", "", nil).StatusCode; st != 404 {
			t.Errorf("site staff listing the other site: %d, want 404", st)
		}
		if st := staff.do("GET", fmt.Sprintf("/exam/papers/%d", pa.ID), "", "", nil).StatusCode; st != 404 {
			t.Errorf("site staff opening a paper: %d, want 404", st)
		}
		if st := staff.do("GET", fmt.Sprintf("/exam/exams/%d/keys", e.ID), "", "", nil).StatusCode; st != 404 {
			t.Errorf("site staff on the keys page: %d, want 404", st)
		}
		if len(full.Blobs()) > 0 {
			if st := admin.do("GET", "/exam/media/"+full.Blobs()[0], "", "", nil).StatusCode; st != 200 {
				t.Errorf("prompt audio for an author: %d", st)
			}
			if st := staff.do("GET", "/exam/media/"+full.Blobs()[0], "", "", nil).StatusCode; st != 404 {
				t.Errorf("prompt audio for site staff: %d, want 404", st)
			}
		}
		// One photo set through the API; a text file is not a photo.
		var pngBuf bytes.Buffer
		if err := png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 3, 4))); err != nil {
			t.Fatal(err)
		}
		photo := pngBuf.Bytes()
		photoPath := fmt.Sprintf("/api/v1/exam/exams/%d/candidates/%s/photo", e.ID, c0.Number)
		if resp := admin.do("PUT", photoPath, "image/png", string(photo), nil); resp.StatusCode != http.StatusNoContent {
			t.Errorf("set a photo: %d %s", resp.StatusCode, mustRead(t, resp))
		}
		if st := admin.do("PUT", photoPath, "image/png", "just text", nil).StatusCode; st != 400 {
			t.Errorf("a text file as a photo: %d, want 400", st)
		}
		if ci, _ := ta.Exam.Candidates(ctx, e.ID, exam.CandidateFilter{Site: c0.Site, Room: c0.Room, Session: c0.Session}); len(ci) == 0 || ci[0].Photo == "" {
			t.Errorf("photo not set")
		} else if st := staff.do("GET", "/exam/media/"+ci[0].Photo, "", "", nil).StatusCode; st != 200 {
			t.Errorf("the site's staff viewing a candidate photo: %d", st)
		}
		if st := admin.do("GET", "/exam/media/"+lwA, "", "", nil).StatusCode; st != 404 {
			t.Errorf("a sealed paper through the media route: %d, want 404", st)
		}
	})
}
