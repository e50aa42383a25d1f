package marking

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/paper"
	"jnedu/internal/identity"
	"jnedu/internal/platform/blob"
	fakeclock "jnedu/internal/platform/clock"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
)

const testExam = "2027-ZK"

// fakeCatalog is the center's catalogue backed by maps.
type fakeCatalog struct {
	mu     sync.Mutex
	keys   map[string]ed25519.PublicKey
	papers map[string]paper.Paper // session|variant
	cands  map[string]Candidate   // number
	ids    map[string]string      // number → ID-card number
}

func (c *fakeCatalog) SitePublicKey(_ context.Context, site string) (ed25519.PublicKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.keys[site]
	if !ok {
		return nil, db.ErrNotFound
	}
	return k, nil
}

func (c *fakeCatalog) SessionPaper(_ context.Context, exam, session, variant string) (paper.Paper, error) {
	p, ok := c.papers[session+"|"+variant]
	if !ok || exam != testExam {
		return paper.Paper{}, db.ErrNotFound
	}
	return p, nil
}

func (c *fakeCatalog) CandidateInfo(_ context.Context, exam, number string) (Candidate, error) {
	x, ok := c.cands[number]
	if !ok || exam != testExam {
		return Candidate{}, db.ErrNotFound
	}
	return x, nil
}

func (c *fakeCatalog) SessionRoster(_ context.Context, exam, site, session string) ([]string, error) {
	if exam != testExam {
		return nil, db.ErrNotFound
	}
	var out []string
	for n, x := range c.cands {
		if x.Site == site && x.Session == session {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, db.ErrNotFound
	}
	return out, nil
}

func (c *fakeCatalog) CheckCandidateID(_ context.Context, exam, number, idNumber string) (bool, error) {
	want, ok := c.ids[number]
	return ok && exam == testExam && want == idNumber, nil
}

// fakeScorer records what it was asked.
type fakeScorer struct {
	mu   sync.Mutex
	reqs []ScoreRequest
}

func (f *fakeScorer) Submit(_ context.Context, _ db.Querier, req ScoreRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	return nil
}

type env struct {
	t      *testing.T
	ctx    context.Context
	d      *db.DB
	ids    *identity.Service
	svc    *Service
	blobs  blob.Store
	cat    *fakeCatalog
	clock  *fakeclock.Fake
	keys   map[string]ed25519.PrivateKey
	orgs   map[string]identity.Org
	people map[string]*identity.Principal
	audio  map[string][]byte // recording bytes by SHA-256
}

func intp(i int) *int { return &i }

func testPaper(variant string) paper.Paper {
	return paper.Paper{Code: "ZK-" + variant, Title: "试卷 " + variant, Variant: variant, Sections: []paper.Section{
		{Title: "听后选择", Items: []paper.Item{{ID: "c1", Type: paper.ListenChoose, Points: 2, Options: []string{"A", "B", "C"}, Answer: intp(1),
			Prompt: paper.Prompt{Text: "What does the man want?"}}}},
		{Title: "朗读短文", Items: []paper.Item{{ID: "r1", Type: paper.ReadAloud, Points: 4, AnswerSec: 60, Prompt: paper.Prompt{Text: "Read the passage."},
			Rubric: paper.Rubric{ReferenceText: "Spring is the best season of the year.", Tolerance: 1, Notes: "Fluency and accuracy."}}}},
		{Title: "话题简述", Items: []paper.Item{{ID: "o1", Type: paper.Topic, Points: 6, AnswerSec: 90, Prompt: paper.Prompt{Text: "Talk about your weekend."},
			Rubric: paper.Rubric{ReferenceAnswers: []string{"I visited my grandparents."}, KeyPoints: []paper.KeyPoint{{Text: "where", Points: 2}, {Text: "who", Points: 2}}}}}},
	}}
}

func newEnv(t *testing.T, d *db.DB) *env {
	t.Helper()
	ctx := context.Background()
	if _, err := d.Migrate(ctx, []db.Source{events.Migrations(), identity.Migrations(), Migrations()}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, d: d, clock: fakeclock.NewFake(time.Date(2027, 6, 10, 9, 0, 0, 0, time.UTC)), keys: map[string]ed25519.PrivateKey{}, orgs: map[string]identity.Org{},
		people: map[string]*identity.Principal{}, audio: map[string][]byte{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rbac := identity.NewRBAC()
	DefinePermissions(rbac)
	e.ids = identity.NewService(d, rbac, identity.Settings{}, log, e.clock.Now)
	mk := func(code string, kind identity.OrgKind, parent string) {
		o, err := e.ids.CreateOrg(ctx, nil, identity.OrgInput{ParentID: e.orgs[parent].ID, Kind: kind, Code: code, Name: code + "名"})
		if err != nil {
			t.Fatalf("org %s: %v", code, err)
		}
		e.orgs[code] = o
	}
	mk("ROOT", identity.KindBureau, "")
	mk("S1", identity.KindSchool, "ROOT")
	mk("S2", identity.KindSchool, "ROOT")
	mk("E-T01", identity.KindExamSite, "S1")
	mk("E-T02", identity.KindExamSite, "S2")
	f := false
	for _, u := range []struct {
		name string
		role identity.Role
		org  string
	}{{"admin", identity.RolePlatformAdmin, "ROOT"}, {"staff1", identity.RoleExamStaff, "E-T01"}, {"staff2", identity.RoleExamStaff, "E-T02"},
		{"ex1", identity.RoleExaminer, "ROOT"}, {"ex2", identity.RoleExaminer, "ROOT"}, {"ex3", identity.RoleExaminer, "ROOT"}, {"lead", identity.RoleExaminer, "ROOT"},
		{"school1", identity.RoleSchoolAdmin, "S1"}, {"teacher2", identity.RoleTeacher, "S2"}} {
		if _, err := e.ids.CreateUser(ctx, nil, identity.UserInput{OrgID: e.orgs[u.org].ID, Username: u.name, DisplayName: u.name + "的名字",
			Password: "Test-pass-2027", Roles: []identity.Role{u.role}, MustChangePassword: &f}); err != nil {
			t.Fatalf("user %s: %v", u.name, err)
		}
		p, err := e.ids.PrincipalOf(ctx, u.name)
		if err != nil {
			t.Fatal(err)
		}
		e.people[u.name] = p
	}
	var err error
	if e.blobs, err = blob.OpenLocal(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	bus := events.NewBus(d, events.Options{Logger: log, Now: e.clock.Now})
	e.svc = NewService(d, e.blobs, bus, e.ids, Config{BaseURL: "https://jnedu.test"}, log, e.clock.Now)
	e.cat = &fakeCatalog{keys: map[string]ed25519.PublicKey{}, papers: map[string]paper.Paper{"S1|A": testPaper("A"), "S1|B": testPaper("B")},
		cands: map[string]Candidate{
			"N1": {Number: "N1", Name: "王小明", School: "S1名", SchoolOrgID: e.orgs["S1"].ID, Site: "E-T01", Session: "S1", Variant: "A"},
			"N2": {Number: "N2", Name: "李小红", School: "S2名", SchoolOrgID: e.orgs["S2"].ID, Site: "E-T01", Session: "S1", Variant: "A"},
			"N3": {Number: "N3", Name: "赵小刚", School: "S1名", SchoolOrgID: e.orgs["S1"].ID, Site: "E-T01", Session: "S1", Variant: "A"},
			"N4": {Number: "N4", Name: "孙小美", School: "S1名", SchoolOrgID: e.orgs["S1"].ID, Site: "E-T02", Session: "S1", Variant: "B"},
		},
		ids: map[string]string{"N1": "370101200901011234", "N2": "37010120090202123X", "N3": "370101200903031234", "N4": "370101200904041234"}}
	for _, site := range []string{"E-T01", "E-T02"} {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		e.keys[site], e.cat.keys[site] = priv, pub
	}
	e.svc.SetCatalog(e.cat)
	return e
}

func (e *env) p(name string) *identity.Principal { return e.people[name] }

// rec makes a recording for a candidate's item and returns its hash.
func (e *env) rec(number, item string) string {
	b := make([]byte, 2000)
	rand.Read(b)
	copy(b, fmt.Sprintf("RIFF %s %s", number, item))
	s := sha256.Sum256(b)
	h := hex.EncodeToString(s[:])
	e.audio[h] = b
	return h
}

// finished is a candidate who answered every item (choice for c1).
func (e *env) finished(number string, choice int) bundle.CandidateResult {
	return bundle.CandidateResult{Number: number, Status: bundle.StatusFinished, Variant: e.cat.cands[number].Variant, Room: "01", Seat: 1,
		Answers: []bundle.Answer{{Item: "c1", Choice: intp(choice)}, {Item: "r1", Recording: e.rec(number, "r1"), Bytes: 2000, DurationMs: 30000, SpeechMs: 25000},
			{Item: "o1", Recording: e.rec(number, "o1"), Bytes: 2000, DurationMs: 60000, SpeechMs: 50000}}}
}

func (e *env) manifest(signer, site, session string, cands ...bundle.CandidateResult) bundle.Signed {
	e.t.Helper()
	m := bundle.AnswerManifest{Exam: testExam, Site: site, Session: session, CreatedAt: e.clock.Now().UnixMilli(), Candidates: cands}
	s, err := bundle.Sign(e.keys[signer], &m)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) upload(who, site, session string, s bundle.Signed) {
	e.t.Helper()
	var m bundle.AnswerManifest
	if err := jsonUnmarshal(string(s.Manifest), &m); err != nil {
		e.t.Fatal(err)
	}
	for _, h := range m.Files() {
		if _, err := e.svc.ReceiveFile(e.ctx, e.p(who), site, session, h, bytesReader(e.audio[h])); err != nil {
			e.t.Fatalf("upload %s: %v", h, err)
		}
	}
}

// deliver sends every file and then the manifest; the package must be complete.
func (e *env) deliver(who, site string, s bundle.Signed) {
	e.t.Helper()
	e.upload(who, site, "S1", s)
	rc, err := e.svc.ReceiveManifest(e.ctx, e.p(who), site, "S1", s)
	if err != nil || !rc.Complete {
		e.t.Fatalf("deliver to %s: %+v, %v", site, rc, err)
	}
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.d.QueryRow(e.ctx, q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (e *env) answerOf(number, item string) (id int64, stage string, final *float64, rule string) {
	e.t.Helper()
	var f nullFloat
	if err := e.d.QueryRow(e.ctx, "SELECT id, stage, final_score, final_rule FROM exam_marking_answers WHERE exam = ? AND number = ? AND item = ?",
		testExam, number, item).Scan(&id, &stage, &f, &rule); err != nil {
		e.t.Fatalf("answer %s/%s: %v", number, item, err)
	}
	if f.Valid {
		v := f.Float64
		final = &v
	}
	return
}

func (e *env) scoredEvents() []ScoredEvent {
	e.t.Helper()
	rows, err := e.d.Query(e.ctx, "SELECT payload FROM events_outbox WHERE topic = ? ORDER BY seq", TopicScored.Name)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []ScoredEvent
	for rows.Next() {
		var s string
		var ev ScoredEvent
		if err := rows.Scan(&s); err != nil {
			e.t.Fatal(err)
		}
		if err := jsonUnmarshal(s, &ev); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

type nullFloat = sql.NullFloat64

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
