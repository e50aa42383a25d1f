package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"jnedu/internal/demo"
	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/marking"
	"jnedu/internal/exam/paper"
	"jnedu/internal/identity"
	"jnedu/internal/platform/db"
)

// examCatalog stands in for the center's catalogue (internal/exam) in
// this flow: two candidates of two schools at one demo exam site.
type examCatalog struct {
	pub   ed25519.PublicKey
	paper paper.Paper
	cands map[string]marking.Candidate
	ids   map[string]string
}

func (c *examCatalog) SitePublicKey(_ context.Context, site string) (ed25519.PublicKey, error) {
	if site != "E-LW01" {
		return nil, db.ErrNotFound
	}
	return c.pub, nil
}

func (c *examCatalog) SessionPaper(_ context.Context, exam, session, variant string) (paper.Paper, error) {
	if exam != "2027-ZK" || session != "S1" || variant != "A" {
		return paper.Paper{}, db.ErrNotFound
	}
	return c.paper, nil
}

func (c *examCatalog) CandidateInfo(_ context.Context, exam, number string) (marking.Candidate, error) {
	x, ok := c.cands[number]
	if !ok || exam != "2027-ZK" {
		return x, db.ErrNotFound
	}
	return x, nil
}

func (c *examCatalog) SessionRoster(_ context.Context, exam, site, session string) ([]string, error) {
	if exam != "2027-ZK" || site != "E-LW01" || session != "S1" {
		return nil, db.ErrNotFound
	}
	var out []string
	for n, x := range c.cands {
		if x.Site == site && x.Session == session {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (c *examCatalog) CheckCandidateID(_ context.Context, exam, number, idNumber string) (bool, error) {
	return exam == "2027-ZK" && c.ids[number] != "" && c.ids[number] == idNumber, nil
}

func TestExamMarkingFlow(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx := context.Background()
		s1, err := ta.Identity.OrgByCode(ctx, "S-JN01")
		if err != nil {
			t.Fatal(err)
		}
		s9, err := ta.Identity.OrgByCode(ctx, "S-JN09")
		if err != nil {
			t.Fatal(err)
		}
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		ans := 0
		cat := &examCatalog{pub: pub,
			paper: paper.Paper{Code: "ZK-A", Title: "A卷", Variant: "A", Sections: []paper.Section{
				{Title: "听后选择", Items: []paper.Item{{ID: "c1", Type: paper.ListenChoose, Points: 2, Options: []string{"A", "B"}, Answer: &ans}}},
				{Title: "话题简述", Items: []paper.Item{{ID: "t1", Type: paper.Topic, Points: 6, AnswerSec: 60, Prompt: paper.Prompt{Text: "Talk about your school."},
					Rubric: paper.Rubric{KeyPoints: []paper.KeyPoint{{Text: "library", Points: 2}}, Notes: "内容完整、语音清楚"}}}},
			}},
			cands: map[string]marking.Candidate{
				"2027000101": {Number: "2027000101", Name: "欧阳晓雨", School: "济南第一中学", SchoolOrgID: s1.ID, Site: "E-LW01", Session: "S1", Variant: "A"},
				"2027000102": {Number: "2027000102", Name: "司马子轩", School: "济南第九中学", SchoolOrgID: s9.ID, Site: "E-LW01", Session: "S1", Variant: "A"},
			},
			ids: map[string]string{"2027000101": "370102201101015678", "2027000102": "370102201102025678"}}
		ta.Marking.SetCatalog(cat)
		// People only: this flow is the exam without a scoring engine
		// (TestExamMachineScores covers machine scores).
		ta.Marking.SetScorer(nil)
		f := false
		for _, u := range []string{"examiner2", "examiner3"} {
			dj, _ := ta.Identity.OrgByCode(ctx, "JN-DJG")
			if _, err := ta.Identity.CreateUser(ctx, nil, identity.UserInput{OrgID: dj.ID, Username: u, DisplayName: "评卷员" + u, Password: demo.Password,
				Roles: []identity.Role{identity.RoleExaminer}, MustChangePassword: &f}); err != nil {
				t.Fatal(err)
			}
		}

		// The site node: an exam-staff token, recordings, then the signed manifest.
		staff, err := ta.Identity.PrincipalOf(ctx, "exam_staff")
		if err != nil {
			t.Fatal(err)
		}
		secret, _, err := ta.Identity.CreateToken(ctx, staff, identity.TokenInput{Name: "site E-LW01", Scopes: []string{"read", "write"}, ExpiresIn: 30})
		if err != nil {
			t.Fatal(err)
		}
		site := ta.client(t)
		bearer := map[string]string{"Authorization": "Bearer " + secret}
		recs := map[string][]byte{}
		wav := func(tag string) string {
			b := append([]byte("RIFF"+tag), make([]byte, 4000)...)
			rand.Read(b[10:])
			h := sha256.Sum256(b)
			k := hex.EncodeToString(h[:])
			recs[k] = b
			return k
		}
		r1, r2 := wav("one"), wav("two")
		zero, one := 0, 1
		m := bundle.AnswerManifest{Exam: "2027-ZK", Site: "E-LW01", Session: "S1", Candidates: []bundle.CandidateResult{
			{Number: "2027000101", Status: bundle.StatusFinished, Variant: "A", Room: "01", Seat: 1, Answers: []bundle.Answer{{Item: "c1", Choice: &zero}, {Item: "t1", Recording: r1, Bytes: 4004}}},
			{Number: "2027000102", Status: bundle.StatusFinished, Variant: "A", Room: "01", Seat: 2, Answers: []bundle.Answer{{Item: "c1", Choice: &one}, {Item: "t1", Recording: r2, Bytes: 4004}}},
		}}
		signed, err := bundle.Sign(priv, &m)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(signed)
		resp := site.do("POST", "/api/v1/exam/site/E-LW01/answers/S1/manifest", "application/json", string(body), bearer)
		var rc marking.Receipt
		json.NewDecoder(resp.Body).Decode(&rc)
		if resp.StatusCode != 200 || rc.Complete || len(rc.Missing) != 2 {
			t.Fatalf("manifest before the files: %d %+v, want 200 incomplete with 2 missing", resp.StatusCode, rc)
		}
		resp = site.do("PUT", "/api/v1/exam/site/E-LW01/answers/S1/files/"+r1, "audio/wav", string(recs[r1][:100]), bearer)
		if resp.StatusCode != http.StatusUnprocessableEntity || errCode(t, resp) != "hash_mismatch" {
			t.Fatalf("truncated recording: status %d, want 422 hash_mismatch", resp.StatusCode)
		}
		for _, k := range []string{r1, r2, r2} {
			if resp := site.do("PUT", "/api/v1/exam/site/E-LW01/answers/S1/files/"+k, "audio/wav", string(recs[k]), bearer); resp.StatusCode != 200 {
				t.Fatalf("recording %s: status %d", k[:8], resp.StatusCode)
			}
		}
		if resp := site.do("PUT", "/api/v1/exam/site/E-LW02/answers/S1/files/"+r1, "audio/wav", string(recs[r1]), bearer); resp.StatusCode != 404 {
			t.Errorf("recording for a site the token does not cover: status %d, want 404", resp.StatusCode)
		}
		resp = site.do("POST", "/api/v1/exam/site/E-LW01/answers/S1/manifest", "application/json", string(body), bearer)
		rc = marking.Receipt{}
		json.NewDecoder(resp.Body).Decode(&rc)
		if resp.StatusCode != 200 || !rc.Complete || len(rc.Missing) != 0 {
			t.Fatalf("manifest after the files: %d %+v, want complete", resp.StatusCode, rc)
		}

		// Staff: the completeness page; the demo examiner is named leader.
		st := ta.client(t)
		st.login("exam_staff", demo.Password)
		page := readBody(t, st.do("GET", "/exam/marking/2027-ZK/intake", "", "", nil))
		if !strings.Contains(page, "E-LW01") || !strings.Contains(page, "完整") {
			t.Errorf("completeness page lacks the site or its state")
		}
		if resp := st.do("POST", "/exam/marking/2027-ZK/leaders", "application/x-www-form-urlencoded", form("username", "examiner"), nil); resp.StatusCode != 303 {
			t.Fatalf("name a leader: status %d", resp.StatusCode)
		}

		// Two examiners mark blind; they disagree on 2027000102 and a third mark is needed.
		exs := map[string]*client{}
		for _, u := range []string{"examiner", "examiner2", "examiner3"} {
			c := ta.client(t)
			if resp := c.login(u, demo.Password); resp.StatusCode != 200 {
				t.Fatalf("login %s: %d", u, resp.StatusCode)
			}
			exs[u] = c
		}
		ws := readBody(t, exs["examiner"].do("GET", "/exam/marking/2027-ZK/mark", "", "", nil))
		for _, secret := range []string{"欧阳晓雨", "司马子轩", "2027000101", "2027000102", "济南第一中学", "济南第九中学"} {
			if strings.Contains(ws, secret) {
				t.Errorf("the workspace page shows %q", secret)
			}
		}
		if !strings.Contains(ws, "/static/marking/mark.js") || !strings.Contains(ws, "新任务到达时会自动显示") {
			t.Error("the workspace page does not load its script or lacks the waiting message")
		}
		scores := map[string]map[string]float64{ // recording → examiner → score
			r1: {"examiner": 4, "examiner2": 4.5},
			r2: {"examiner": 1, "examiner2": 4, "examiner3": 6},
		}
		recOf := map[string]string{}
		mark := func(who string) bool {
			t.Helper()
			c := exs[who]
			// The workspace's idle check agrees with what tasks/next hands out.
			var w struct {
				Waiting bool `json:"waiting"`
			}
			if code := c.getJSON("/api/v1/exam/marking/2027-ZK/tasks/waiting", &w); code != 200 {
				t.Fatalf("%s tasks/waiting: %d", who, code)
			}
			resp := c.do("POST", "/api/v1/exam/marking/2027-ZK/tasks/next", "application/json", "", nil)
			if resp.StatusCode == 404 {
				if w.Waiting {
					t.Errorf("%s: tasks/waiting said yes, tasks/next found no task", who)
				}
				return false
			}
			if !w.Waiting {
				t.Errorf("%s: tasks/waiting said no, tasks/next handed out a task", who)
			}
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("%s next task: %d %s", who, resp.StatusCode, raw)
			}
			for _, secret := range []string{"欧阳晓雨", "司马子轩", "2027000101", "2027000102", "济南第一中学", "E-LW01"} {
				if strings.Contains(string(raw), secret) {
					t.Errorf("task JSON reveals %q: %s", secret, raw)
				}
			}
			var task marking.Task
			json.Unmarshal(raw, &task)
			// The recording, through the guarded route, with a range.
			audio := c.do("GET", task.Audio, "", "", map[string]string{"Range": "bytes=0-3"})
			head, _ := io.ReadAll(audio.Body)
			if audio.StatusCode != http.StatusPartialContent || string(head) != "RIFF" {
				t.Fatalf("recording range: %d %q", audio.StatusCode, head)
			}
			whole := c.do("GET", task.Audio, "", "", nil)
			b, _ := io.ReadAll(whole.Body)
			sum := sha256.Sum256(b)
			rec := hex.EncodeToString(sum[:])
			if _, ok := recs[rec]; !ok {
				t.Fatalf("the recording served is not one of the answers")
			}
			if other := exs["examiner3"]; who != "examiner3" {
				if resp := other.do("GET", task.Audio, "", "", nil); resp.StatusCode != 404 {
					t.Errorf("another examiner fetches the task's audio: %d, want 404", resp.StatusCode)
				}
			}
			recOf[task.Task] = rec
			sc, ok := scores[rec][who]
			if !ok {
				t.Fatalf("%s got a task on %s it should not mark", who, rec[:8])
			}
			if resp := c.do("POST", "/api/v1/exam/marking/tasks/"+task.Task+"/mark", "application/json", fmt.Sprintf(`{"score": %g}`, sc), nil); resp.StatusCode != 204 {
				t.Fatalf("%s mark: %d", who, resp.StatusCode)
			}
			return true
		}
		for _, who := range []string{"examiner", "examiner2", "examiner", "examiner2"} {
			if !mark(who) {
				t.Fatalf("%s found no task", who)
			}
		}
		if mark("examiner") || mark("examiner2") {
			t.Error("an examiner got a third task: every answer has their mark already")
		}
		if !mark("examiner3") {
			t.Fatal("examiner3 got no third-mark task")
		}
		// Still apart (1, 4, 6): the leader decides.
		var cases []marking.Case
		if code := exs["examiner"].getJSON("/api/v1/exam/marking/2027-ZK/leader/cases", &cases); code != 200 || len(cases) != 1 || len(cases[0].Marks) != 3 {
			t.Fatalf("leader cases: %d %+v", code, cases)
		}
		if resp := exs["examiner2"].do("GET", "/api/v1/exam/marking/2027-ZK/leader/cases", "", "", nil); resp.StatusCode != 404 {
			t.Errorf("an examiner who does not lead reads the cases: %d, want 404", resp.StatusCode)
		}
		lead := readBody(t, exs["examiner"].do("GET", "/exam/marking/2027-ZK/lead", "", "", nil))
		if strings.Contains(lead, "司马子轩") || strings.Contains(lead, "2027000102") || !strings.Contains(lead, "内容完整") {
			t.Errorf("the leader page reveals the candidate or lacks the rubric")
		}
		if resp := exs["examiner"].do("POST", fmt.Sprintf("/exam/marking/2027-ZK/lead/%d", cases[0].AnswerID), "application/x-www-form-urlencoded",
			form("score", "5", "reason", "第三评更接近", "_csrf", exs["examiner"].csrf), nil); resp.StatusCode != 303 {
			t.Fatalf("leader decision: %d", resp.StatusCode)
		}

		// Results: only staff before release; then the schools see their own.
		sa := ta.client(t)
		sa.login("school_admin", demo.Password)
		var res []marking.Result
		if code := sa.getJSON("/api/v1/exam/results/2027-ZK", &res); code != 200 || len(res) != 0 {
			t.Errorf("school before release: %d, %d results; want none", code, len(res))
		}
		if resp := st.do("POST", "/exam/marking/2027-ZK/release", "application/x-www-form-urlencoded", form("release", "1"), nil); resp.StatusCode != 303 {
			t.Fatalf("release: %d", resp.StatusCode)
		}
		res = nil
		if code := sa.getJSON("/api/v1/exam/results/2027-ZK", &res); code != 200 || len(res) != 1 || res[0].Number != "2027000101" || res[0].Total == nil || *res[0].Total != 6.3 {
			t.Errorf("school_admin of S-JN01 after release: %d %+v; want only 2027000101 with 2 + 4.25 = 6.3", code, res)
		}
		t2 := ta.client(t)
		t2.login("teacher2", demo.Password)
		res = nil
		if code := t2.getJSON("/api/v1/exam/results/2027-ZK", &res); code != 200 || len(res) != 1 || res[0].Number != "2027000102" || res[0].Total == nil || *res[0].Total != 5 {
			t.Errorf("teacher of S-JN09: %d %+v; want only 2027000102 with 0 + 5", code, res)
		}
		// The candidate, by admission number and ID-card number.
		anon := ta.client(t)
		resp = anon.do("POST", "/api/v1/exam/score", "application/json", `{"exam":"2027-ZK","number":"2027000102","id_number":"370102201102025678"}`, nil)
		var mine marking.Result
		json.NewDecoder(resp.Body).Decode(&mine)
		if resp.StatusCode != 200 || mine.Total == nil || *mine.Total != 5 {
			t.Errorf("candidate lookup: %d %+v", resp.StatusCode, mine)
		}
		resp = anon.do("POST", "/api/v1/exam/score", "application/json", `{"exam":"2027-ZK","number":"2027000102","id_number":"370102201101015678"}`, nil)
		if resp.StatusCode != 404 {
			t.Errorf("lookup with another's ID number: %d, want 404", resp.StatusCode)
		}
		// An export, recorded in the audit log.
		resp = sa.do("GET", "/exam/results/2027-ZK/results.xlsx", "", "", nil)
		x, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !bytes.HasPrefix(x, []byte("PK")) {
			t.Errorf("results export: %d, %d bytes", resp.StatusCode, len(x))
		}
		var audited int
		d.QueryRow(ctx, "SELECT COUNT(*) FROM identity_audit WHERE action = ? AND target = ?", "GET /exam/results/{exam}/results.xlsx", "exam:2027-ZK").Scan(&audited)
		if audited != 1 {
			t.Errorf("%d audit entries for the export, want 1", audited)
		}
		// The pages, with data in them.
		for path, want := range map[string]string{
			"/exam/marking/2027-ZK/qc":                "评卷员examiner3",
			"/exam/marking/admin":                     "2027-ZK",
			"/exam/results/2027-ZK?number=2027000101": "欧阳晓雨",
			"/exam/results":                           "2027-ZK",
		} {
			if page := readBody(t, st.do("GET", path, "", "", nil)); !strings.Contains(page, want) {
				t.Errorf("%s lacks %q", path, want)
			}
		}
		if page := readBody(t, exs["examiner"].do("GET", "/exam/marking", "", "", nil)); !strings.Contains(page, "/exam/marking/2027-ZK/lead") {
			t.Error("the leader's marking index has no link to the decisions")
		}
		if page := readBody(t, sa.do("GET", "/exam/results/2027-ZK", "", "", nil)); strings.Contains(page, "司马子轩") || !strings.Contains(page, "欧阳晓雨") {
			t.Error("the school's results page shows another school's candidate or misses its own")
		}
		resp = anon.do("POST", "/exam/score", "application/x-www-form-urlencoded", form("exam", "2027-ZK", "number", "2027000101", "id_number", "370102201101015678"), nil)
		if page := readBody(t, resp); !strings.Contains(page, "6.3") || !strings.Contains(page, "欧阳晓雨") {
			t.Error("the candidate's score page lacks the total")
		}
		// 复核 through the pages: the candidate asks, staff accept, the leader re-marks, staff answer.
		resp = anon.do("POST", "/exam/score", "application/x-www-form-urlencoded", form("exam", "2027-ZK", "number", "2027000101",
			"id_number", "370102201101015678", "reason", "口语分数偏低"), nil)
		if page := readBody(t, resp); !strings.Contains(page, "复核申请已提交") {
			t.Error("the candidate's review request is not confirmed")
		}
		var reviews []marking.Review
		if reviews, err = ta.Marking.Reviews(ctx, staff, "2027-ZK"); err != nil || len(reviews) != 1 {
			t.Fatalf("reviews: %+v, %v", reviews, err)
		}
		rid := fmt.Sprint(reviews[0].ID)
		if resp := st.do("POST", "/exam/results/2027-ZK/reviews/"+rid+"/accept", "application/x-www-form-urlencoded", "", nil); resp.StatusCode != 303 {
			t.Fatalf("accept: %d", resp.StatusCode)
		}
		if page := readBody(t, exs["examiner"].do("GET", "/exam/marking/2027-ZK/reviews", "", "", nil)); !strings.Contains(page, "score_t1") {
			t.Error("the leader's review page has no re-mark form")
		}
		if resp := exs["examiner"].do("POST", "/exam/results/2027-ZK/reviews/"+rid+"/remark", "application/x-www-form-urlencoded",
			form("score_t1", "5", "reason", "采分点复核"), nil); resp.StatusCode != 303 {
			t.Fatalf("re-mark: %d", resp.StatusCode)
		}
		if resp := st.do("POST", "/exam/results/2027-ZK/reviews/"+rid+"/answer", "application/x-www-form-urlencoded", form("answer", "复核后总分 7 分。"), nil); resp.StatusCode != 303 {
			t.Fatalf("answer: %d", resp.StatusCode)
		}
		if page := readBody(t, sa.do("GET", "/exam/results/2027-ZK/reviews", "", "", nil)); !strings.Contains(page, "复核后总分 7 分") || !strings.Contains(page, "已答复") {
			t.Error("the school does not see the answered review")
		}
		res = nil
		if sa.getJSON("/api/v1/exam/results/2027-ZK", &res); len(res) != 1 || res[0].Total == nil || *res[0].Total != 7 {
			t.Errorf("total after the review: %+v, want 2 + 5 = 7", res)
		}

		// Each final answer score went to the outbox once (and the changed one again).
		var published int
		d.QueryRow(ctx, "SELECT COUNT(*) FROM events_outbox WHERE topic = ?", marking.TopicScored.Name).Scan(&published)
		if published != 5 {
			t.Errorf("%d score records in the outbox, want 4 finals and 1 change", published)
		}
	})
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: status %d: %.300s", resp.Request.URL.Path, resp.StatusCode, b)
	}
	return string(b)
}
