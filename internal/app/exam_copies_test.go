package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"jnedu/internal/demo"
	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/marking"
	"jnedu/internal/exam/paper"
	"jnedu/internal/identity"
	"jnedu/internal/platform/db"
)

// copySite sends a session's recordings and signed manifest as the site
// node would; the package must be complete.
func copySite(t *testing.T, ta *testApp, priv ed25519.PrivateKey, recs map[string][]byte, cands []bundle.CandidateResult) {
	t.Helper()
	site, bearer := siteNode(t, ta)
	for k, b := range recs {
		if resp := site.do("PUT", "/api/v1/exam/site/E-LW01/answers/S1/files/"+k, "audio/wav", string(b), bearer); resp.StatusCode != 200 {
			t.Fatalf("recording %s: status %d", k[:8], resp.StatusCode)
		}
	}
	signed, err := bundle.Sign(priv, &bundle.AnswerManifest{Exam: "2027-ZK", Site: "E-LW01", Session: "S1", Candidates: cands})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(signed)
	var rc marking.Receipt
	resp := site.do("POST", "/api/v1/exam/site/E-LW01/answers/S1/manifest", "application/json", string(body), bearer)
	json.NewDecoder(resp.Body).Decode(&rc)
	if resp.StatusCode != 200 || !rc.Complete {
		t.Fatalf("manifest: %d %+v", resp.StatusCode, rc)
	}
}

func shaOf(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// TestExamPossibleCopies: two candidates hand in the same recording bytes
// for two items, with no scoring engine at all. Both pairs are found at
// intake; the leader (an examiner) sees them anonymised, staff see where
// the candidates sat; the leader confirms one pair and dismisses the
// other, through the page and the API; both decisions are in the audit
// log and the pages; the confirmed copy shows in the results.
func TestExamPossibleCopies(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx := context.Background()
		s1, _ := ta.Identity.OrgByCode(ctx, "S-JN01")
		s9, _ := ta.Identity.OrgByCode(ctx, "S-JN09")
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		topic := func(id, prompt string) paper.Item {
			return paper.Item{ID: id, Type: paper.Topic, Points: 6, AnswerSec: 60, Prompt: paper.Prompt{Text: prompt},
				Rubric: paper.Rubric{KeyPoints: []paper.KeyPoint{{Text: "school", Points: 2}}}}
		}
		ta.Marking.SetCatalog(&examCatalog{pub: pub,
			paper: paper.Paper{Code: "ZK-A", Title: "A卷", Variant: "A", Sections: []paper.Section{{Title: "话题简述", Items: []paper.Item{
				topic("t1", "Talk about your school."), topic("t2", "Talk about your weekend.")}}}},
			cands: map[string]marking.Candidate{
				"2027000101": {Number: "2027000101", Name: "欧阳晓雨", School: "济南第一中学", SchoolOrgID: s1.ID, Site: "E-LW01", Session: "S1", Variant: "A"},
				"2027000102": {Number: "2027000102", Name: "司马子轩", School: "济南第九中学", SchoolOrgID: s9.ID, Site: "E-LW01", Session: "S1", Variant: "A"},
			}})
		ta.Marking.SetScorer(nil) // no scoring engine
		if err := ta.Marking.SaveSettings(ctx, "2027-ZK", 0, 1); err != nil {
			t.Fatal(err)
		}
		recs := map[string][]byte{}
		wav := func() string {
			b := append([]byte("RIFF"), make([]byte, 4000)...)
			rand.Read(b[4:])
			k := shaOf(b)
			recs[k] = b
			return k
		}
		same1, same2 := wav(), wav()
		copySite(t, ta, priv, recs, []bundle.CandidateResult{
			{Number: "2027000101", Status: bundle.StatusFinished, Variant: "A", Room: "01", Seat: 3, Answers: []bundle.Answer{
				{Item: "t1", Recording: same1, Bytes: 4004, DurationMs: 30000}, {Item: "t2", Recording: same2, Bytes: 4004, DurationMs: 30000}}},
			{Number: "2027000102", Status: bundle.StatusFinished, Variant: "A", Room: "02", Seat: 17, Answers: []bundle.Answer{
				{Item: "t1", Recording: same1, Bytes: 4004, DurationMs: 30000}, {Item: "t2", Recording: same2, Bytes: 4004, DurationMs: 30000}}},
		})
		var flagged int
		if err := d.QueryRow(ctx, "SELECT COUNT(*) FROM exam_marking_answers WHERE exam = '2027-ZK' AND stage = ? AND marks_needed = 2",
			marking.StageHuman).Scan(&flagged); err != nil || flagged != 4 {
			t.Fatalf("%d answers in human double marking (%v), want all 4 despite a 0%% share", flagged, err)
		}

		st := ta.client(t)
		st.login("exam_staff", demo.Password)
		if resp := st.do("POST", "/exam/marking/2027-ZK/leaders", "application/x-www-form-urlencoded", form("username", "examiner"), nil); resp.StatusCode != 303 {
			t.Fatalf("name a leader: status %d", resp.StatusCode)
		}
		ex := ta.client(t)
		ex.login("examiner", demo.Password)
		var pairs []marking.CopyPair
		if code := ex.getJSON("/api/v1/exam/marking/2027-ZK/copies", &pairs); code != 200 || len(pairs) != 2 {
			t.Fatalf("the leader's pairs: %d %+v", code, pairs)
		}
		page := readBody(t, ex.do("GET", "/exam/marking/2027-ZK/copies", "", "", nil))
		for _, secret := range []string{"欧阳晓雨", "司马子轩", "2027000101", "2027000102", "济南第一中学", "E-LW01"} {
			if strings.Contains(page, secret) {
				t.Errorf("the leader's copies page shows %q", secret)
			}
		}
		for _, want := range []string{"疑似雷同", pairs[0].A.Ref, pairs[0].B.Ref, "录音文件完全相同", pairs[0].A.Audio} {
			if !strings.Contains(page, want) {
				t.Errorf("the leader's copies page lacks %q", want)
			}
		}
		if page := readBody(t, ex.do("GET", "/exam/marking", "", "", nil)); !strings.Contains(page, "/exam/marking/2027-ZK/copies") {
			t.Error("the leader's marking index has no link to the possible copies")
		}
		// Staff (and platform admins) see where the candidates sat.
		qc := readBody(t, st.do("GET", "/exam/marking/2027-ZK/qc", "", "", nil))
		if !strings.Contains(qc, "考点 E-LW01 · 考场 01 · 座位 3") || !strings.Contains(qc, "考场 02 · 座位 17") {
			t.Error("the staff's QC page lacks the places of the pair")
		}
		adm := ta.client(t)
		adm.login("admin", demo.Password)
		if page := readBody(t, adm.do("GET", "/exam/marking/2027-ZK/copies", "", "", nil)); !strings.Contains(page, "座位 17") {
			t.Error("the platform admin's copies page lacks the places")
		}

		// Confirm one through the page, dismiss the other through the API.
		byItem := map[string]marking.CopyPair{}
		for _, p := range pairs {
			byItem[p.A.Item] = p
		}
		c1, c2 := byItem["t1"], byItem["t2"]
		if resp := ex.do("POST", fmt.Sprintf("/exam/marking/2027-ZK/copies/%d", c1.ID), "application/x-www-form-urlencoded",
			form("decision", "confirm", "note", "两段录音完全一致", "_csrf", ex.csrf), nil); resp.StatusCode != 303 {
			t.Fatalf("confirm: status %d", resp.StatusCode)
		}
		if resp := ex.do("POST", fmt.Sprintf("/api/v1/exam/marking/2027-ZK/copies/%d/decision", c2.ID), "application/json",
			`{"decision":"maybe"}`, nil); resp.StatusCode != 400 {
			t.Errorf("an unknown decision: status %d, want 400", resp.StatusCode)
		}
		if resp := ex.do("POST", fmt.Sprintf("/api/v1/exam/marking/2027-ZK/copies/%d/decision", c2.ID), "application/json",
			`{"decision":"dismiss","note":"复核后排除"}`, nil); resp.StatusCode != 204 {
			t.Fatalf("dismiss: status %d", resp.StatusCode)
		}
		if resp := ex.do("POST", fmt.Sprintf("/api/v1/exam/marking/2027-ZK/copies/%d/decision", c2.ID), "application/json",
			`{"decision":"confirm"}`, nil); resp.StatusCode != 409 {
			t.Errorf("deciding a decided pair: status %d, want 409", resp.StatusCode)
		}
		page = readBody(t, ex.do("GET", "/exam/marking/2027-ZK/copies", "", "", nil))
		for _, want := range []string{"已确认雷同", "已排除", "两段录音完全一致", "复核后排除", "孙丽娟"} {
			if !strings.Contains(page, want) {
				t.Errorf("the copies page after the decisions lacks %q", want)
			}
		}
		for id, want := range map[int64]string{c1.ID: "confirm: 两段录音完全一致", c2.ID: "dismiss: 复核后排除"} {
			var actor, detail string
			if err := d.QueryRow(ctx, "SELECT actor_name, detail FROM identity_audit WHERE target = ? AND result = ?",
				fmt.Sprintf("exam-copy:%d", id), identity.ResultOK).Scan(&actor, &detail); err != nil || actor != "examiner" || detail != want {
				t.Errorf("audit of pair %d: %q %q (%v), want examiner %q", id, actor, detail, err, want)
			}
		}

		// The confirmed pair waits for the leader, who decides both scores.
		var cases []marking.Case
		if code := ex.getJSON("/api/v1/exam/marking/2027-ZK/leader/cases", &cases); code != 200 || len(cases) != 2 {
			t.Fatalf("leader cases: %d %+v", code, cases)
		}
		lead := readBody(t, ex.do("GET", "/exam/marking/2027-ZK/lead", "", "", nil))
		if !strings.Contains(lead, "疑似与答卷 "+c1.A.Ref+" 雷同") || !strings.Contains(lead, "疑似与答卷 "+c1.B.Ref+" 雷同") {
			t.Error("the leader's decisions page does not name the other answer of each copy")
		}
		for _, c := range cases {
			if resp := ex.do("POST", fmt.Sprintf("/exam/marking/2027-ZK/lead/%d", c.AnswerID), "application/x-www-form-urlencoded",
				form("score", "0", "reason", "确认雷同", "_csrf", ex.csrf), nil); resp.StatusCode != 303 {
				t.Fatalf("leader decision: %d", resp.StatusCode)
			}
		}
		var res []marking.Result
		if code := st.getJSON("/api/v1/exam/results/2027-ZK", &res); code != 200 || len(res) != 2 {
			t.Fatalf("results: %d %+v", code, res)
		}
		for _, r := range res {
			if len(r.Copies) != 1 || r.Copies[0] != "t1" {
				t.Errorf("result of %s: copies %v, want [t1]", r.Number, r.Copies)
			}
		}
		if page := readBody(t, st.do("GET", "/exam/results/2027-ZK?number=2027000102", "", "", nil)); !strings.Contains(page, "确认雷同") {
			t.Error("the result page does not mark the confirmed copy")
		}
	})
}

// altered makes a copy of a 16 kHz WAV as someone passing it off would:
// quieter, a little white noise, through MP3 and back.
func altered(t *testing.T, wav []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	in, noise, mixed, mp3, out := filepath.Join(dir, "in.wav"), filepath.Join(dir, "noise.wav"), filepath.Join(dir, "mixed.wav"),
		filepath.Join(dir, "x.mp3"), filepath.Join(dir, "out.wav")
	if err := os.WriteFile(in, wav, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		{"sox", in, noise, "synth", "whitenoise", "vol", "0.003"},
		{"sox", "-m", "-v", "0.7", in, "-v", "1", noise, mixed},
		{"ffmpeg", "-nostdin", "-loglevel", "error", "-i", mixed, "-c:a", "libmp3lame", "-b:a", "64k", mp3},
		{"ffmpeg", "-nostdin", "-loglevel", "error", "-i", mp3, "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", out},
	} {
		if b, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, b)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// voiced is espeak-ng reading text with a voice and speed, as 16 kHz WAV.
func voiced(t *testing.T, voice, speed, text string) []byte {
	t.Helper()
	dir := t.TempDir()
	raw, out := filepath.Join(dir, "raw.wav"), filepath.Join(dir, "16k.wav")
	for _, c := range [][]string{{"espeak-ng", "-v", voice, "-s", speed, "-w", raw, text}, {"sox", raw, "-r", "16000", "-c", "1", "-b", "16", out}} {
		if b, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, b)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExamCopiesByFingerprint runs the real scorer: one candidate's
// reading and an altered copy of it handed in by another are a pair once
// the fingerprints are back (different bytes: not found at intake), while
// two other candidates reading the same text with other voices and speeds
// are not.
func TestExamCopiesByFingerprint(t *testing.T) {
	needModel(t)
	const text = "Mandy has a big arm. She likes to swim in the lake every summer with her friends."
	orig := voiced(t, "en-us", "150", text)
	recs := map[string][]byte{}
	keep := func(b []byte) string { k := shaOf(b); recs[k] = b; return k }
	byNumber := map[string]string{
		"2027000101": keep(orig),
		"2027000102": keep(altered(t, orig)),
		"2027000103": keep(voiced(t, "en+f3", "150", text)),
		"2027000104": keep(voiced(t, "en-gb", "120", text)),
	}
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s1, _ := ta.Identity.OrgByCode(ctx, "S-JN01")
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		cands := map[string]marking.Candidate{}
		var results []bundle.CandidateResult
		for i, n := range []string{"2027000101", "2027000102", "2027000103", "2027000104"} {
			cands[n] = marking.Candidate{Number: n, Name: "考生" + n[8:], School: "济南第一中学", SchoolOrgID: s1.ID, Site: "E-LW01", Session: "S1", Variant: "A"}
			results = append(results, bundle.CandidateResult{Number: n, Status: bundle.StatusFinished, Variant: "A", Room: "01", Seat: i + 1,
				Answers: []bundle.Answer{{Item: "r1", Recording: byNumber[n], Bytes: int64(len(recs[byNumber[n]]))}}})
		}
		ta.Marking.SetCatalog(&examCatalog{pub: pub, cands: cands,
			paper: paper.Paper{Code: "ZK-A", Title: "A卷", Variant: "A", Sections: []paper.Section{{Title: "朗读短文", Items: []paper.Item{
				{ID: "r1", Type: paper.ReadAloud, Points: 5, PrepSec: 10, AnswerSec: 20, Prompt: paper.Prompt{Text: text},
					Rubric: paper.Rubric{ReferenceText: text}}}}}}})
		if err := ta.Marking.SaveSettings(ctx, "2027-ZK", 0, 1); err != nil {
			t.Fatal(err)
		}
		copySite(t, ta, priv, recs, results)
		var n int
		if d.QueryRow(ctx, "SELECT COUNT(*) FROM exam_marking_copies").Scan(&n); n != 0 {
			t.Fatalf("%d pairs at intake: the bytes all differ", n)
		}

		go ta.Jobs.Run(ctx)
		go ta.Bus.Run(ctx)
		deadline := time.Now().Add(4 * time.Minute)
		for {
			var scored int
			if err := d.QueryRow(ctx, "SELECT COUNT(*) FROM exam_marking_answers WHERE machine_score IS NOT NULL AND fingerprint <> ''").Scan(&scored); err != nil {
				t.Fatal(err)
			}
			if scored == 4 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d of 4 machine results arrived", scored)
			}
			time.Sleep(200 * time.Millisecond)
		}
		rows, err := d.Query(ctx, `SELECT a.number, b.number, k.method, k.similarity FROM exam_marking_copies k
			JOIN exam_marking_answers a ON a.id = k.answer_a JOIN exam_marking_answers b ON b.id = k.answer_b`)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var a, b, method string
			var sim float64
			if err := rows.Scan(&a, &b, &method, &sim); err != nil {
				t.Fatal(err)
			}
			t.Logf("pair %s + %s by %s, similarity %.2f", a, b, method, sim)
			got = append(got, a+"+"+b+" "+method)
		}
		rows.Close()
		if len(got) != 1 || got[0] != "2027000101+2027000102 fingerprint" {
			t.Errorf("pairs %v, want only the reading and its altered copy", got)
		}
		for _, num := range []string{"2027000101", "2027000102"} {
			var stage string
			var needed int
			if err := d.QueryRow(ctx, "SELECT stage, marks_needed FROM exam_marking_answers WHERE number = ?", num).Scan(&stage, &needed); err != nil {
				t.Fatal(err)
			}
			if stage != marking.StageHuman || needed != 2 {
				t.Errorf("%s: stage %s, %d marks needed; want human double marking", num, stage, needed)
			}
		}
	})
}
