package exam

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"jnedu/internal/exam/paper"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
	"jnedu/internal/platform/events"
	"jnedu/internal/platform/tabular"
	"jnedu/internal/platform/web"
)

type fixture struct {
	svc *Service
	ids *identity.Service
	d   *db.DB
	p   map[string]*identity.Principal
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	if _, err := d.Migrate(ctx, []db.Source{events.Migrations(), identity.Migrations(), Migrations()}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rbac := identity.NewRBAC()
	DefinePermissions(rbac)
	ids := identity.NewService(d, rbac, identity.Settings{SessionTTL: time.Hour, SessionMaxAge: 2 * time.Hour, LoginMaxFailures: 5,
		LoginLockout: time.Minute, Demo: true, AuditRetentionDays: 180}, log, nil)
	// A small organisation tree (the demo's codes), three people.
	orgs := map[string]int64{}
	for _, o := range []struct {
		code, name, parent string
		kind               identity.OrgKind
	}{
		{"JN-EDU", "济南市教育局", "", identity.KindBureau}, {"JN-DJG", "济南市电化教育馆", "JN-EDU", identity.KindCenter},
		{"D-LW", "莱芜区", "JN-EDU", identity.KindDistrict}, {"D-GC", "钢城区", "JN-EDU", identity.KindDistrict},
		{"E-LW01", "莱芜第一中学考点", "D-LW", identity.KindExamSite}, {"E-GC18", "钢城区实验学校考点", "D-GC", identity.KindExamSite},
		{"S-JN01", "济南第一中学", "JN-EDU", identity.KindSchool},
	} {
		created, err := ids.CreateOrg(ctx, nil, identity.OrgInput{ParentID: orgs[o.parent], Kind: o.kind, Code: o.code, Name: o.name})
		if err != nil {
			t.Fatal(err)
		}
		orgs[o.code] = created.ID
	}
	no := false
	for _, u := range []struct {
		name, org string
		role      identity.Role
	}{{"admin", "JN-EDU", identity.RolePlatformAdmin}, {"exam_staff", "E-LW01", identity.RoleExamStaff}, {"teacher", "S-JN01", identity.RoleTeacher}} {
		if _, err := ids.CreateUser(ctx, nil, identity.UserInput{OrgID: orgs[u.org], Username: u.name, DisplayName: u.name,
			Password: "Kaowu-2027-test", Roles: []identity.Role{u.role}, MustChangePassword: &no}); err != nil {
			t.Fatal(err)
		}
	}
	blobs, err := blob.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(d, blobs, ids, Config{Secret: bytes.Repeat([]byte("k"), 32), WorkDir: t.TempDir()}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{svc: svc, ids: ids, d: d, p: map[string]*identity.Principal{}}
	for _, u := range []string{"admin", "exam_staff", "teacher"} {
		p, err := ids.PrincipalOf(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		f.p[u] = p
	}
	return f
}

func T(key string, args ...any) string { return fmt.Sprint(append([]any{key}, args...)...) }

func TestPaperVersions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		admin := f.p["admin"]
		pp := DemoPaper("A")
		pp.Code = "T-A"
		if _, err := f.svc.CreatePaper(ctx, f.p["exam_staff"], pp); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("site staff creating a paper: %v, want not found", err)
		}
		v1, err := f.svc.CreatePaper(ctx, admin, pp)
		if err != nil {
			t.Fatal(err)
		}
		if v1.Version != 1 || v1.State != Draft || len(v1.Issues) != 0 {
			t.Fatalf("created: version %d state %s issues %v", v1.Version, v1.State, v1.Issues)
		}
		if _, err := f.svc.CreatePaper(ctx, admin, pp); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("same code again: %v, want invalid", err)
		}
		// A broken edit is saved as a draft with its problems, and cannot be published.
		bad := pp
		bad.Sections = append([]paper.Section(nil), pp.Sections...)
		bad.Sections[0].Items = []paper.Item{pp.Sections[0].Items[0]}
		bad.Sections[0].Items[0].Answer = nil
		d1, err := f.svc.SavePaper(ctx, admin, v1.ID, bad)
		if err != nil {
			t.Fatal(err)
		}
		if d1.ID != v1.ID || d1.Version != 1 {
			t.Errorf("draft edit made version %d (id %d), want it changed in place", d1.Version, d1.ID)
		}
		if len(d1.Issues) != 1 || d1.Issues[0].Path != "sections[0].items[0].answer" || d1.Issues[0].Key != "exam.paper.bad_answer" {
			t.Errorf("issues = %v, want the missing answer", d1.Issues)
		}
		_, err = f.svc.PublishPaper(ctx, admin, v1.ID)
		if e := apperr.As(err); e == nil || e.Fields["sections[0].items[0].answer"] != "exam.paper.bad_answer" {
			t.Fatalf("publish with a problem: %v, want the field error", err)
		}
		if _, err := f.svc.SavePaper(ctx, admin, v1.ID, pp); err != nil {
			t.Fatal(err)
		}
		pub, err := f.svc.PublishPaper(ctx, admin, v1.ID)
		if err != nil || pub.State != Published {
			t.Fatalf("publish: %v %s", err, pub.State)
		}
		// Editing the published version makes version 2; version 1 stays.
		edit := pp
		edit.Title = "改过的标题"
		v2, err := f.svc.SavePaper(ctx, admin, v1.ID, edit)
		if err != nil {
			t.Fatal(err)
		}
		if v2.Version != 2 || v2.State != Draft || v2.ID == v1.ID {
			t.Errorf("edit of published: version %d state %s, want a new draft version 2", v2.Version, v2.State)
		}
		again, _ := f.svc.Paper(ctx, v1.ID)
		if again.Title != pp.Title || again.State != Published {
			t.Errorf("published version changed: %q %s", again.Title, again.State)
		}
		if got, _ := f.svc.PublishedPaper(ctx, "T-A"); got.ID != v1.ID {
			t.Errorf("newest published = %d, want %d", got.ID, v1.ID)
		}
		if _, err := f.svc.PublishPaper(ctx, admin, v1.ID); apperr.CodeOf(err) != apperr.Conflict {
			t.Errorf("publishing twice: %v, want conflict", err)
		}
		// Saving the old published version again edits the same new draft.
		v2b, err := f.svc.SavePaper(ctx, admin, v1.ID, pp)
		if err != nil || v2b.ID != v2.ID {
			t.Errorf("second edit of published: id %d err %v, want the draft %d", v2b.ID, err, v2.ID)
		}
		// A published paper naming a file that is not stored cannot be published.
		missing := pp
		missing.Code = "T-B"
		missing.Intro.Audio = strings.Repeat("ab", 32)
		mb, err := f.svc.CreatePaper(ctx, admin, missing)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.PublishPaper(ctx, admin, mb.ID); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("publish with a missing file: %v, want invalid", err)
		}
	})
}

// TestValidationKeysTranslated: every exam.paper.* key the paper package
// can report is in the catalog, in both languages.
func TestValidationKeysTranslated(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("paper", "paper.go"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := web.NewTranslator(Messages())
	if err != nil {
		t.Fatal(err)
	}
	keys := regexp.MustCompile(`"(exam\.paper\.[a-z_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(keys) < 10 {
		t.Fatalf("found only %d keys in paper.go", len(keys))
	}
	for _, k := range keys {
		if !tr.Has(k[1]) {
			t.Errorf("message key %s is not in the catalog", k[1])
		}
	}
}

func setupExam(t *testing.T, f *fixture) Exam {
	t.Helper()
	ctx := context.Background()
	admin := f.p["admin"]
	for _, v := range []string{"A", "B", "S"} {
		pp := DemoPaper(v)
		d, err := f.svc.CreatePaper(ctx, admin, pp)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.PublishPaper(ctx, admin, d.ID); err != nil {
			t.Fatal(err)
		}
	}
	e, err := f.svc.CreateExam(ctx, admin, ExamInput{Code: "T-EXAM", Title: "测试考试", Tolerance: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateExam(ctx, f.p["exam_staff"], ExamInput{Code: "T-SITE", Title: "考点自建"}); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("site staff creating an exam: %v, want forbidden", err)
	}
	papers := map[string]string{"A": "2027-ZK-DEMO-A", "B": "2027-ZK-DEMO-B", "S": "2027-ZK-DEMO-S"}
	for i, code := range []string{"S1", "S2"} {
		start := time.Date(2027, 5, 15, 8+2*i, 0, 0, 0, time.UTC).UnixMilli()
		if _, err := f.svc.SaveSession(ctx, admin, e.ID, SessionInput{Code: code, Title: code, StartsAt: start, EndsAt: start + 3600_000, Papers: papers}); err != nil {
			t.Fatal(err, apperr.As(err).Fields)
		}
	}
	sites, err := f.svc.DemoSites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range sites {
		for _, r := range []string{"01", "02"} {
			if _, err := f.svc.SaveRoom(ctx, admin, e.ID, RoomInput{Site: site, Code: r, Seats: 4, Spare: 1}); err != nil {
				t.Fatal(err, apperr.As(err).Fields)
			}
		}
	}
	return e
}

func csvOf(rows ...string) string {
	return strings.Join(append([]string{"准考证号,姓名,学校,身份证号"}, rows...), "\r\n") + "\r\n"
}

func TestImportCandidates(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		e := setupExam(t, f)
		admin := f.p["admin"]
		count := func() int {
			cs, err := f.svc.Candidates(ctx, e.ID, CandidateFilter{})
			if err != nil {
				t.Fatal(err)
			}
			return len(cs)
		}
		id0, id1, id2 := DemoIDNumber(0), DemoIDNumber(1), DemoIDNumber(2)
		// A duplicate in the file, and a bad ID number: nothing is written.
		bad := csvOf("20270001,张三,济南第一中学,"+id0, "20270002,李四,济南第一中学,370102201201011234", "20270001,王五,济南第二中学,"+id2)
		rep, err := f.svc.ImportCandidates(ctx, admin, e.ID, strings.NewReader(bad), "c.csv", tabular.Limits{}, T)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Applied || rep.Invalid != 2 || rep.Valid != 1 {
			t.Errorf("report applied=%v valid=%d invalid=%d, want 1 valid 2 invalid, not applied", rep.Applied, rep.Valid, rep.Invalid)
		}
		if !strings.Contains(strings.Join(rep.Rows[1].Errors, ""), "exam.imp_id_bad") || !strings.Contains(strings.Join(rep.Rows[2].Errors, ""), "exam.imp_number_dup") {
			t.Errorf("row errors = %v / %v", rep.Rows[1].Errors, rep.Rows[2].Errors)
		}
		if n := count(); n != 0 {
			t.Fatalf("%d candidates stored after a refused import, want 0", n)
		}
		// A GBK file (as Excel on Chinese Windows saves it) is read right.
		good := csvOf("20270001,张三,济南第一中学,"+id0, "20270002,李四,济南第一中学,"+id1)
		gbk, err := simplifiedchinese.GBK.NewEncoder().String(good)
		if err != nil {
			t.Fatal(err)
		}
		rep, err = f.svc.ImportCandidates(ctx, admin, e.ID, strings.NewReader(gbk), "c.csv", tabular.Limits{}, T)
		if err != nil || !rep.Applied {
			t.Fatalf("GBK import: %v %+v", err, rep)
		}
		cs, _ := f.svc.Candidates(ctx, e.ID, CandidateFilter{})
		if len(cs) != 2 || cs[0].Name != "张三" || cs[0].School != "济南第一中学" {
			t.Fatalf("stored %+v", cs)
		}
		if cs[0].IDMasked != id0[:4]+"**********"+id0[14:] {
			t.Errorf("masked = %s", cs[0].IDMasked)
		}
		var enc string
		if err := d.QueryRow(ctx, "SELECT id_enc FROM exam_candidates WHERE number = '20270001'").Scan(&enc); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(enc, id0) || strings.Contains(enc, id0[6:14]) {
			t.Errorf("ID number stored in clear: %s", enc)
		}
		if ok, err := f.svc.CheckCandidateID(ctx, "T-EXAM", "20270001", id0); err != nil || !ok {
			t.Errorf("check with the right ID: %v %v", ok, err)
		}
		if ok, _ := f.svc.CheckCandidateID(ctx, "T-EXAM", "20270001", id1); ok {
			t.Error("check with another's ID number passed")
		}
		// A number that exists already is refused, and the good row with it is not written.
		rep, err = f.svc.ImportCandidates(ctx, admin, e.ID, strings.NewReader(csvOf("20270003,赵六,济南第二中学,"+id2, "20270002,李四,济南第一中学,"+id1)),
			"c.csv", tabular.Limits{}, T)
		if err != nil || rep.Applied || !strings.Contains(strings.Join(rep.Rows[1].Errors, ""), "exam.imp_number_exists") {
			t.Errorf("import with an existing number: %v %+v", err, rep)
		}
		if n := count(); n != 2 {
			t.Errorf("%d candidates after the refused import, want 2", n)
		}
		// Missing columns and other sites' staff.
		if _, err := f.svc.ImportCandidates(ctx, admin, e.ID, strings.NewReader("准考证号,姓名\n1,2\n"), "c.csv", tabular.Limits{}, T); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("missing columns: %v", err)
		}
		if _, err := f.svc.ImportCandidates(ctx, f.p["exam_staff"], e.ID, strings.NewReader(good), "c.csv", tabular.Limits{}, T); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("site staff importing: %v, want not found", err)
		}
		// Marking's view of a candidate.
		if _, err := f.svc.AssignExamSeats(ctx, admin, e.ID); err != nil {
			t.Fatal(err)
		}
		ci, err := f.svc.CandidateInfo(ctx, "T-EXAM", "20270002")
		if err != nil || ci.Name != "李四" || ci.Seat == 0 || ci.Variant == "" || ci.SchoolOrgID == 0 {
			t.Errorf("candidate info %+v %v", ci, err)
		}
		roster, err := f.svc.SessionRoster(ctx, "T-EXAM", ci.Site, ci.Session)
		if err != nil || !strings.Contains(strings.Join(roster, ","), "20270002") {
			t.Errorf("roster %v %v", roster, err)
		}
		sp, err := f.svc.SessionPaper(ctx, "T-EXAM", ci.Session, ci.Variant)
		if err != nil || sp.Sections[0].Items[0].Answer == nil {
			t.Errorf("session paper lacks the answers: %v", err)
		}
		if _, err := f.svc.SitePublicKey(ctx, "E-LW01"); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("public key before registration: %v, want not found", err)
		}
	})
}

func TestIDNumbers(t *testing.T) {
	for i := 0; i < 100; i++ {
		if id := DemoIDNumber(i); !ValidIDNumber(id) {
			t.Errorf("demo ID %s is not valid", id)
		}
	}
	for _, id := range []string{"370102201201011234", "37010220120101123", "3701022012010112345", "37010220121301123X", "A70102201201011234"} {
		if ValidIDNumber(id) {
			t.Errorf("%s passed as valid", id)
		}
	}
	if got := MaskID("370102201201011237"); got != "3701**********1237" {
		t.Errorf("mask = %s", got)
	}
}

// TestAssignSeats checks the assignment's properties over several shapes.
func TestAssignSeats(t *testing.T) {
	sess := func(code string, vs ...string) Session {
		s := Session{Code: code, Papers: map[string]int64{}}
		for i, v := range vs {
			s.Papers[v] = int64(i + 1)
		}
		return s
	}
	room := func(site, code string, seats int) Room {
		return Room{SiteCode: site, Code: code, Seats: seats, Spare: 2}
	}
	cases := []struct {
		name     string
		n        int
		sessions []Session
		rooms    []Room
		wish     func(i int) (string, string)
	}{
		{"full", 24, []Session{sess("S1", "A", "B", "S")}, []Room{room("E1", "01", 12), room("E1", "02", 12)}, nil},
		{"uneven rooms", 37, []Session{sess("S1", "A", "B", "S"), sess("S2", "A", "B", "C")}, []Room{room("E1", "01", 30), room("E2", "01", 7), room("E2", "02", 11)}, nil},
		{"wishes", 30, []Session{sess("S1", "A", "B"), sess("S2", "A", "B")}, []Room{room("E1", "01", 10), room("E2", "01", 10)},
			func(i int) (string, string) {
				if i%3 == 0 {
					return "E2", "S2"
				}
				return "", ""
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cands []Candidate
			for i := 0; i < c.n; i++ {
				cd := Candidate{Number: fmt.Sprintf("N%04d", (i*7919)%10000)}
				if c.wish != nil {
					cd.wantSite, cd.wantSession = c.wish(i)
				}
				cands = append(cands, cd)
			}
			seats, err := AssignSeats(cands, c.sessions, c.rooms)
			if err != nil {
				t.Fatal(err)
			}
			taken := map[string]string{}
			perRoom := map[string]int{}
			variant := map[string]string{}
			for i, s := range seats {
				key := fmt.Sprintf("%s|%s|%s|%d", s.Session, s.Site, s.Room, s.Seat)
				if other, dup := taken[key]; dup {
					t.Errorf("%s and %s share seat %s", other, cands[i].Number, key)
				}
				taken[key] = cands[i].Number
				variant[key] = s.Variant
				perRoom[s.Session+"|"+s.Site+"|"+s.Room]++
				if s.Seat < 1 || s.Variant == "" || s.Variant == "S" {
					t.Errorf("%s: seat %d variant %q", cands[i].Number, s.Seat, s.Variant)
				}
				if w, ws := cands[i].wantSite, cands[i].wantSession; (w != "" && s.Site != w) || (ws != "" && s.Session != ws) {
					t.Errorf("%s wanted %s/%s, got %s/%s", cands[i].Number, w, ws, s.Site, s.Session)
				}
				for _, r := range c.rooms {
					if r.SiteCode == s.Site && r.Code == s.Room && s.Seat > r.Seats {
						t.Errorf("%s: seat %d in a room of %d", cands[i].Number, s.Seat, r.Seats)
					}
				}
			}
			for k, v := range variant {
				parts := strings.Split(k, "|")
				var next int
				fmt.Sscan(parts[3], &next)
				nk := fmt.Sprintf("%s|%s|%s|%d", parts[0], parts[1], parts[2], next+1)
				if nv, ok := variant[nk]; ok && nv == v {
					t.Errorf("neighbours %s and %s both take %s", k, nk, v)
				}
			}
			if c.wish == nil {
				// Balanced: fill shares of the rooms differ by less than one seat's share.
				var lo, hi float64 = 2, -1
				for _, x := range c.sessions {
					for _, r := range c.rooms {
						share := float64(perRoom[x.Code+"|"+r.SiteCode+"|"+r.Code]) / float64(r.Seats)
						lo, hi = min(lo, share), max(hi, share)
					}
				}
				if hi-lo > 1.0/7+1e-9 {
					t.Errorf("rooms filled unevenly: shares from %.2f to %.2f", lo, hi)
				}
			}
		})
	}
	// More candidates than seats: refused, nothing half-seated.
	var many []Candidate
	for i := 0; i < 25; i++ {
		many = append(many, Candidate{Number: fmt.Sprintf("M%03d", i)})
	}
	if _, err := AssignSeats(many, []Session{sess("S1", "A")}, []Room{room("E1", "01", 24)}); apperr.CodeOf(err) != apperr.Conflict {
		t.Errorf("over capacity: %v, want conflict", err)
	}
}

func wavInfo(t *testing.T, b []byte) (rate, channels int, ms int64) {
	t.Helper()
	if len(b) < 44 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("not a WAV file")
	}
	channels = int(binary.LittleEndian.Uint16(b[22:24]))
	rate = int(binary.LittleEndian.Uint32(b[24:28]))
	bits := int(binary.LittleEndian.Uint16(b[34:36]))
	// find the data chunk
	for off := 12; off+8 <= len(b); {
		size := int(binary.LittleEndian.Uint32(b[off+4 : off+8]))
		if string(b[off:off+4]) == "data" {
			return rate, channels, int64(size) * 1000 / int64(rate*channels*bits/8)
		}
		off += 8 + size
	}
	t.Fatal("no data chunk")
	return
}

// TestAudio synthesizes with espeak-ng and uploads a real recording: both
// are stored as 16 kHz mono WAV of plausible length; a file that is not
// audio is refused.
func TestAudio(t *testing.T) {
	d := dbtest.SQLite(t)
	f := newFixture(t, d)
	ctx := context.Background()
	text := "Tom is going to visit the science museum with his friends this weekend."
	sha, err := f.svc.Synthesize(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.svc.readBlob(ctx, sha, 50<<20)
	if err != nil {
		t.Fatal(err)
	}
	rate, ch, ms := wavInfo(t, b)
	words := len(strings.Fields(text))
	// espeak-ng speaks about 150 words a minute: 13 words take about 5 s.
	if rate != 16000 || ch != 1 || ms < int64(words)*200 || ms > int64(words)*800 {
		t.Errorf("synthesized: %d Hz, %d channels, %d ms for %d words", rate, ch, ms, words)
	}
	if again, err := f.svc.Synthesize(ctx, text); err != nil || again != sha {
		t.Errorf("same text again: %s %v, want the stored %s", again, err, sha)
	}
	// An uploaded stereo 44.1 kHz recording of 3 s.
	src := filepath.Join(t.TempDir(), "in.wav")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-ac", "2", "-ar", "44100", src).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	in, _ := os.ReadFile(src)
	up, err := f.svc.UploadAudio(ctx, bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = f.svc.readBlob(ctx, up, 50<<20)
	rate, ch, ms = wavInfo(t, b)
	if rate != 16000 || ch != 1 || ms < 2900 || ms > 3100 {
		t.Errorf("uploaded: %d Hz, %d channels, %d ms, want 16000 Hz mono 3000 ms", rate, ch, ms)
	}
	if _, err := f.svc.UploadAudio(ctx, strings.NewReader(strings.Repeat("not audio ", 100))); apperr.CodeOf(err) != apperr.Invalid {
		t.Errorf("text as audio: %v, want invalid", err)
	}
	small, err := NewService(d, f.svc.blobs, f.ids, Config{Secret: bytes.Repeat([]byte("k"), 32), MaxAudioBytes: 1000}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := small.UploadAudio(ctx, bytes.NewReader(in)); apperr.CodeOf(err) != apperr.TooLarge {
		t.Errorf("over the size limit: %v, want too large", err)
	}
}

// TestResample: a tone keeps its pitch and loudness through 22050 → 16000
// Hz, and a tone above the new Nyquist frequency is filtered out.
func TestResample(t *testing.T) {
	tone := func(freq float64) []int16 {
		x := make([]int16, 22050)
		for i := range x {
			x[i] = int16(10000 * math.Sin(2*math.Pi*freq*float64(i)/22050))
		}
		return x
	}
	rms := func(x []int16) float64 {
		s := 0.0
		for _, v := range x[100 : len(x)-100] {
			s += float64(v) * float64(v)
		}
		return math.Sqrt(s / float64(len(x)-200))
	}
	y := resample(tone(1000), 22050, 16000)
	if len(y) != 16000 {
		t.Fatalf("%d samples, want 16000", len(y))
	}
	crossings := 0
	for i := 1; i < len(y); i++ {
		if (y[i-1] < 0) != (y[i] < 0) {
			crossings++
		}
	}
	if crossings < 1990 || crossings > 2010 {
		t.Errorf("1 kHz tone has %d zero crossings per second, want about 2000", crossings)
	}
	if r := rms(y); r < 6500 || r > 7600 {
		t.Errorf("1 kHz tone RMS %.0f, want about 7071", r)
	}
	if r := rms(resample(tone(10000), 22050, 16000)); r > 1000 {
		t.Errorf("10 kHz tone RMS after resampling %.0f, want it filtered out", r)
	}
	pcm, rate, err := parseWAV(encodeWAV(y, 16000))
	if err != nil || rate != 16000 || len(pcm) != len(y) || pcm[123] != y[123] {
		t.Errorf("WAV round trip: rate %d, %d samples, %v", rate, len(pcm), err)
	}
}

// TestImportRollback: when the database fails in the middle of writing an
// import, the rows written before it are rolled back too.
func TestImportRollback(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		e := setupExam(t, f)
		var ddl string
		if d.Dialect() == db.Postgres {
			ddl = `CREATE FUNCTION fail_import() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END; $$ LANGUAGE plpgsql;
				CREATE TRIGGER fail_import BEFORE INSERT ON exam_candidates FOR EACH ROW WHEN (NEW.number = 'FAIL0003') EXECUTE FUNCTION fail_import();`
		} else {
			ddl = `CREATE TRIGGER fail_import BEFORE INSERT ON exam_candidates WHEN NEW.number = 'FAIL0003' BEGIN SELECT RAISE(ABORT, 'injected failure'); END;`
		}
		if _, err := d.Exec(ctx, ddl); err != nil {
			t.Fatal(err)
		}
		file := csvOf("FAIL0001,甲,济南第一中学,"+DemoIDNumber(0), "FAIL0002,乙,济南第一中学,"+DemoIDNumber(1), "FAIL0003,丙,济南第一中学,"+DemoIDNumber(2))
		rep, err := f.svc.ImportCandidates(ctx, f.p["admin"], e.ID, strings.NewReader(file), "c.csv", tabular.Limits{}, T)
		if err == nil || rep.Applied {
			t.Fatalf("import with a failing row: err %v, applied %v", err, rep.Applied)
		}
		cs, err := f.svc.Candidates(ctx, e.ID, CandidateFilter{})
		if err != nil || len(cs) != 0 {
			t.Errorf("%d candidates left after the failed write (%v), want 0", len(cs), err)
		}
	})
}

func pngOf(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 30, 40))
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zipOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestPhotosAndStaff: photos come in a zip, all good or none attached;
// site staff and chief proctors are listed for the site package.
func TestPhotosAndStaff(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		e := setupExam(t, f)
		admin := f.p["admin"]
		file := "准考证号,姓名,学校,身份证号,照片\r\n20270001,张三,济南第一中学," + DemoIDNumber(0) + ",zhangsan.png\r\n20270002,李四,济南第一中学," + DemoIDNumber(1) + ",\r\n"
		if rep, err := f.svc.ImportCandidates(ctx, admin, e.ID, strings.NewReader(file), "c.csv", tabular.Limits{}, T); err != nil || !rep.Applied {
			t.Fatalf("import: %v %+v", err, rep)
		}
		photo := pngOf(t)
		rep, err := f.svc.ImportPhotos(ctx, admin, e.ID, zipOf(t, map[string][]byte{"照片/zhangsan.png": photo, "20270002.png": []byte("not an image")}))
		if apperr.CodeOf(err) != apperr.Invalid || rep == nil || len(rep.Bad) != 1 {
			t.Fatalf("zip with a broken photo: %v %+v", err, rep)
		}
		cs, _ := f.svc.Candidates(ctx, e.ID, CandidateFilter{})
		for _, c := range cs {
			if c.Photo != "" {
				t.Errorf("%s got a photo from a refused zip", c.Number)
			}
		}
		rep, err = f.svc.ImportPhotos(ctx, admin, e.ID, zipOf(t, map[string][]byte{"zhangsan.png": photo, "20270002.png": photo, "stranger.png": photo}))
		if err != nil || rep.Matched != 2 || len(rep.Unmatched) != 1 {
			t.Fatalf("good zip: %v %+v", err, rep)
		}
		if _, err := f.svc.ImportPhotos(ctx, admin, e.ID, []byte("PK not a zip")); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("not a zip: %v", err)
		}
		sites, _ := f.svc.DemoSites(ctx)
		st, err := f.svc.CreateStaff(ctx, admin, e.ID, sites[1], StaffInput{Username: "gc_chief", Name: "钢城主考", Password: "Kaowu-2027-gc", Chief: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CreateStaff(ctx, f.p["exam_staff"], e.ID, sites[1], StaffInput{Username: "sneaky", Name: "x", Password: "Kaowu-2027-gc"}); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("site staff creating accounts: %v, want not found", err)
		}
		list, err := f.svc.Staff(ctx, sites[1])
		if err != nil || len(list) != 1 || list[0].UserID != st.UserID || !list[0].Chief {
			t.Errorf("staff of %s: %+v %v", sites[1], list, err)
		}
		if _, err := f.svc.AssignExamSeats(ctx, admin, e.ID); err != nil {
			t.Fatal(err)
		}
		pkg, err := f.svc.Package(ctx, nil, sites[0])
		if err != nil {
			t.Fatal(err)
		}
		withPhoto := 0
		for _, c := range pkg.Candidates {
			if c.Photo != "" {
				withPhoto++
				found := false
				for _, b := range pkg.Blobs {
					found = found || b == c.Photo
				}
				if !found {
					t.Errorf("photo of %s not among the package blobs", c.Number)
				}
			}
		}
		gcPkg, _ := f.svc.Package(ctx, nil, sites[1])
		for _, c := range gcPkg.Candidates {
			if c.Photo != "" {
				withPhoto++
			}
		}
		if withPhoto != 2 || len(gcPkg.Staff) != 1 || !gcPkg.Staff[0].Chief {
			t.Errorf("packages: %d photos in all (want 2), staff at %s %+v", withPhoto, sites[1], gcPkg.Staff)
		}
		// The package's revision moves only when its content does.
		again, _ := f.svc.Package(ctx, nil, sites[1])
		if again.Revision != gcPkg.Revision {
			t.Errorf("revision moved without a change: %d → %d", gcPkg.Revision, again.Revision)
		}
		if err := f.svc.SetChief(ctx, admin, e.ID, sites[1], st.UserID, false); err != nil {
			t.Fatal(err)
		}
		changed, _ := f.svc.Package(ctx, nil, sites[1])
		if changed.Revision != gcPkg.Revision+1 || changed.Staff[0].Chief {
			t.Errorf("after a change: revision %d (was %d), chief %v", changed.Revision, gcPkg.Revision, changed.Staff[0].Chief)
		}
	})
}
