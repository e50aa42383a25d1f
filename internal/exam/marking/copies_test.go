package marking

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

// sameAs copies another candidate's recording of an item into c.
func sameAs(c bundle.CandidateResult, from bundle.CandidateResult, item string) bundle.CandidateResult {
	for i := range c.Answers {
		for _, a := range from.Answers {
			if c.Answers[i].Item == item && a.Item == item {
				c.Answers[i] = a
			}
		}
	}
	return c
}

func (e *env) pairs() map[[2]string]string {
	e.t.Helper()
	rows, err := e.d.Query(e.ctx, `SELECT a.number, a.item, b.number, k.method, k.state FROM exam_marking_copies k
		JOIN exam_marking_answers a ON a.id = k.answer_a JOIN exam_marking_answers b ON b.id = k.answer_b`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[[2]string]string{}
	for rows.Next() {
		var na, item, nb, method, state string
		if err := rows.Scan(&na, &item, &nb, &method, &state); err != nil {
			e.t.Fatal(err)
		}
		k := []string{na, nb}
		slices.Sort(k)
		out[[2]string{k[0] + "+" + k[1], item}] = method + "/" + state
	}
	return out
}

func (e *env) needed(number, item string) int {
	e.t.Helper()
	return e.count("SELECT marks_needed FROM exam_marking_answers WHERE exam = ? AND number = ? AND item = ?", testExam, number, item)
}

// TestIdenticalRecordings: two candidates' answers with the same bytes are
// a certain copy, found at intake with no scorer at all, in one package or
// across packages; both go to two human markers; the leader sees the pair
// anonymised (staff see where they sat), and confirms or dismisses it.
func TestIdenticalRecordings(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := e.ctx
		if err := e.svc.SaveSettings(ctx, testExam, 0, 1); err != nil { // single marking unless flagged
			t.Fatal(err)
		}
		n1 := e.finished("N1", 1)
		n2 := sameAs(e.finished("N2", 1), n1, "r1")
		n2.Seat = 7
		// Two silences with the same bytes are no copy.
		n3 := e.finished("N3", 1)
		for i := range n3.Answers {
			if n3.Answers[i].Item == "o1" {
				n3.Answers[i] = n1.Answers[2]
				n3.Answers[i].Silent = true
			}
		}
		e.deliver("staff1", "E-T01", e.manifest("E-T01", "E-T01", "S1", n1, n2, n3))
		if got := e.pairs(); len(got) != 1 || got[[2]string{"N1+N2", "r1"}] != "sha256/open" {
			t.Fatalf("pairs after the first package = %v, want N1+N2 on r1 only", got)
		}
		if e.needed("N1", "r1") != 2 || e.needed("N2", "r1") != 2 || e.needed("N1", "o1") != 1 {
			t.Errorf("marks needed: N1/r1 %d, N2/r1 %d, N1/o1 %d; want 2, 2, 1", e.needed("N1", "r1"), e.needed("N2", "r1"), e.needed("N1", "o1"))
		}
		// Another site, another variant with the same prompts: N4's o1 is N1's file.
		n4 := sameAs(e.finished("N4", 1), n1, "o1")
		n4.Room, n4.Seat = "03", 12
		e.deliver("staff2", "E-T02", e.manifest("E-T02", "E-T02", "S1", n4))
		if got := e.pairs(); len(got) != 2 || got[[2]string{"N1+N4", "o1"}] != "sha256/open" {
			t.Fatalf("pairs after the second package = %v, want N1+N4 on o1 too", got)
		}
		if e.needed("N1", "o1") != 2 || e.needed("N4", "o1") != 2 {
			t.Errorf("marks needed after the late pair: N1/o1 %d, N4/o1 %d; want 2, 2", e.needed("N1", "o1"), e.needed("N4", "o1"))
		}

		// The list: a leader who is an examiner sees references, no place.
		if _, err := e.svc.Copies(ctx, e.p("lead"), testExam); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("an examiner who does not lead lists copies: %v", err)
		}
		if err := e.svc.AddLeader(ctx, e.p("admin"), testExam, "lead"); err != nil {
			t.Fatal(err)
		}
		list, err := e.svc.Copies(ctx, e.p("lead"), testExam)
		if err != nil || len(list) != 2 {
			t.Fatalf("leader's list: %+v, %v", list, err)
		}
		raw, _ := json.Marshal(list)
		for _, c := range e.cat.cands {
			for _, secret := range []string{c.Number, c.Name, c.School, c.Site} {
				if strings.Contains(string(raw), `"`+secret+`"`) {
					t.Errorf("the leader's list reveals %q: %s", secret, raw)
				}
			}
		}
		for _, p := range list {
			if p.A.Ref == "" || p.B.Ref == "" || p.A.Ref == p.B.Ref || p.Similarity != 1 || p.Method != CopyBySHA256 {
				t.Errorf("pair %+v: want two distinct references, similarity 1 by sha256", p)
			}
		}
		staffList, err := e.svc.Copies(ctx, e.p("staff1"), testExam)
		if err != nil || len(staffList) != 2 {
			t.Fatalf("staff's list: %+v, %v", staffList, err)
		}
		places := map[string]bool{}
		for _, p := range staffList {
			for _, a := range []CopyAnswer{p.A, p.B} {
				places[a.Site+"/"+a.Room+"/"+strconv.Itoa(a.Seat)] = true
			}
		}
		for _, want := range []string{"E-T01/01/1", "E-T01/01/7", "E-T02/03/12"} {
			if !places[want] {
				t.Errorf("staff's list lacks the place %s: %v", want, places)
			}
		}

		// The leader's cases carry the flag and the other answer's reference.
		var r1Pair, o1Pair CopyPair
		for _, p := range list {
			if p.A.Item == "r1" {
				r1Pair = p
			} else {
				o1Pair = p
			}
		}
		if err := e.svc.DecideCopy(ctx, e.p("ex1"), testExam, r1Pair.ID, true, ""); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("an examiner who does not lead decides: %v", err)
		}
		if err := e.svc.DecideCopy(ctx, e.p("lead"), testExam, r1Pair.ID, true, "同一录音"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.DecideCopy(ctx, e.p("lead"), testExam, r1Pair.ID, false, ""); apperr.CodeOf(err) != apperr.Conflict {
			t.Errorf("deciding again: %v, want conflict", err)
		}
		if err := e.svc.DecideCopy(ctx, e.p("lead"), testExam, o1Pair.ID, false, "不同考生，巧合"); err != nil {
			t.Fatal(err)
		}
		if got := e.pairs(); got[[2]string{"N1+N2", "r1"}] != "sha256/confirmed" || got[[2]string{"N1+N4", "o1"}] != "sha256/dismissed" {
			t.Errorf("pairs after the decisions = %v", got)
		}
		cases, err := e.svc.LeaderQueue(ctx, e.p("lead"), testExam)
		if err != nil || len(cases) != 2 {
			t.Fatalf("leader queue after the confirmation: %+v, %v", cases, err)
		}
		for _, c := range cases {
			if c.Item != "r1" || !slices.Contains(c.Flags, FlagPossibleCopy) || len(c.CopyOf) != 1 || !strings.HasPrefix(c.Reason, "copy: ") ||
				!slices.Contains([]string{r1Pair.A.Ref, r1Pair.B.Ref}, c.CopyOf[0]) {
				t.Errorf("case %+v: want r1 with possible_copy, the other's reference and reason copy", c)
			}
			if err := e.svc.LeaderDecide(ctx, e.p("lead"), testExam, c.AnswerID, 0, "雷同，按零分处理"); err != nil {
				t.Fatal(err)
			}
		}
		// The dismissed pair no longer flags its answers.
		id, _, _, _ := e.answerOf("N4", "o1")
		if refs, _ := copyRefs(ctx, d, id); len(refs) != 0 {
			t.Errorf("dismissed pair still flags N4/o1: %v", refs)
		}
		// Results: the confirmed copy shows for staff (and in the item scores).
		res, err := e.svc.CandidateResult(ctx, e.p("staff1"), testExam, "N2")
		if err != nil || !slices.Equal(res.Copies, []string{"r1"}) {
			t.Fatalf("N2's result: %+v, %v", res, err)
		}
		for _, it := range res.Items {
			if it.Copy != (it.Item == "r1") {
				t.Errorf("N2 item %s: copy %v", it.Item, it.Copy)
			}
		}
		all, err := e.svc.Results(ctx, e.p("staff1"), testExam, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range all {
			want := r.Number == "N1" || r.Number == "N2"
			if (len(r.Copies) > 0) != want {
				t.Errorf("result %s: copies %v", r.Number, r.Copies)
			}
		}

		// A re-opened package whose answer changed: its pairs go.
		if err := e.svc.ReopenPackage(ctx, testExam, "E-T02", "S1"); err != nil {
			t.Fatal(err)
		}
		e.deliver("staff2", "E-T02", e.manifest("E-T02", "E-T02", "S1", e.finished("N4", 1)))
		if got := e.pairs(); len(got) != 1 {
			t.Errorf("pairs after N4's corrected package = %v, want only N1+N2", got)
		}
	})
}

// prefixMatcher stands in for the speech fingerprints: "same" when two
// fingerprints start alike. It counts its comparisons.
type prefixMatcher struct {
	mu    sync.Mutex
	calls int
}

func (m *prefixMatcher) SameRecording(a, b string) (float64, bool) {
	m.mu.Lock()
	m.calls++
	m.mu.Unlock()
	if len(a) >= 4 && len(b) >= 4 && a[:4] == b[:4] {
		return 0.91, true
	}
	return 0.5, false
}

// TestFingerprintCopies: fingerprints that arrive with machine scores are
// compared with those of the same prompt; a match sends both answers to
// humans, even one already final with the machine's score.
func TestFingerprintCopies(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := e.ctx
		sc, m := &fakeScorer{}, &prefixMatcher{}
		e.svc.SetScorer(sc)
		e.svc.SetMatcher(m)
		if err := e.svc.SaveSettings(ctx, testExam, 0, 1); err != nil {
			t.Fatal(err)
		}
		n3 := e.finished("N3", 1)
		n3.Answers[1].DurationMs = 90000 // three times as long: not compared
		e.deliver("staff1", "E-T01", e.manifest("E-T01", "E-T01", "S1", e.finished("N1", 1), e.finished("N2", 1), n3))
		e.deliver("staff2", "E-T02", e.manifest("E-T02", "E-T02", "S1", e.finished("N4", 1)))
		arrive := func(number, item, fp string) {
			t.Helper()
			id, _, _, _ := e.answerOf(number, item)
			if err := e.svc.RecordFingerprint(ctx, id, fp); err != nil {
				t.Fatal(err)
			}
			if err := e.svc.RecordMachineScore(ctx, id, 3, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		arrive("N1", "r1", "AAAA-n1")
		if _, stage, s, rule := e.answerOf("N1", "r1"); stage != StageFinal || s == nil || rule != RuleMachine {
			t.Fatalf("N1/r1 alone: %s %v %s, want final by the machine", stage, s, rule)
		}
		arrive("N3", "r1", "AAAA-n3") // alike, but its length rules it out
		arrive("N1", "o1", "AAAA-o1") // another prompt
		if m.calls != 0 || len(e.pairs()) != 0 {
			t.Fatalf("%d comparisons and pairs %v before any candidate", m.calls, e.pairs())
		}
		arrive("N4", "r1", "BBBB-n4") // variant B, same prompt, other audio
		if m.calls != 1 || len(e.pairs()) != 0 {
			t.Errorf("N4/r1: %d comparisons, pairs %v; want 1 and none", m.calls, e.pairs())
		}
		arrive("N2", "r1", "AAAA-n2")
		if got := e.pairs(); len(got) != 1 || got[[2]string{"N1+N2", "r1"}] != "fingerprint/open" {
			t.Fatalf("pairs = %v, want N1+N2 on r1 by fingerprint", got)
		}
		for _, n := range []string{"N1", "N2"} {
			if _, stage, s, _ := e.answerOf(n, "r1"); stage != StageHuman || s != nil || e.needed(n, "r1") != 2 {
				t.Errorf("%s/r1 after the pair: stage %s, final %v, %d marks needed; want human, none, 2", n, stage, s, e.needed(n, "r1"))
			}
		}
		if _, stage, _, _ := e.answerOf("N4", "r1"); stage != StageFinal {
			t.Errorf("N4/r1: %s, want final", stage)
		}
		// The same result again: no new comparison with the known partner, no new pair.
		before := m.calls
		id, _, _, _ := e.answerOf("N2", "r1")
		if err := e.svc.RecordFingerprint(ctx, id, "AAAA-n2"); err != nil {
			t.Fatal(err)
		}
		if m.calls-before != 1 || len(e.pairs()) != 1 {
			t.Errorf("repeat: %d comparisons (want 1: N4 only), pairs %v", m.calls-before, e.pairs())
		}
		// An answer taken in before copy detection: its group comes from the paper.
		if _, err := d.Exec(ctx, "UPDATE exam_marking_answers SET copy_group = '' WHERE exam = ? AND number = ? AND item = ?", testExam, "N2", "o1"); err != nil {
			t.Fatal(err)
		}
		arrive("N2", "o1", "AAAA-o2")
		if got := e.pairs(); got[[2]string{"N1+N2", "o1"}] != "fingerprint/open" {
			t.Errorf("pairs = %v, want N1+N2 on o1 once the group is known", got)
		}
		// The limit of comparisons per arrival: the same site first.
		e.svc.cfg.MaxCopyCompare = 1
		before = m.calls
		arrive("N3", "o1", "CCCC-o3")
		if m.calls-before != 1 {
			t.Errorf("limited to 1 comparison, made %d", m.calls-before)
		}
	})
}
