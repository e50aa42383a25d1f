package marking

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		marks  []float64
		needed int
		tol    float64
		want   Decision
	}{
		{"no mark yet", nil, 2, 1, Decision{Next: RoundFirst}},
		{"single marking", []float64{3}, 1, 1, Decision{Final: true, Score: 3, Rule: RuleSingle}},
		{"waiting for the second", []float64{3}, 2, 1, Decision{Next: RoundSecond}},
		{"equal", []float64{3, 3}, 2, 1, Decision{Final: true, Score: 3, Rule: RuleAgree}},
		{"apart by exactly the tolerance", []float64{2, 3}, 2, 1, Decision{Final: true, Score: 2.5, Rule: RuleAgree}},
		{"just over the tolerance", []float64{2, 3.5}, 2, 1, Decision{Next: RoundThird}},
		{"zero tolerance, different", []float64{2, 2.5}, 2, 0, Decision{Next: RoundThird}},
		{"third joins the higher", []float64{1, 3, 2.5}, 3, 1, Decision{Final: true, Score: 2.75, Rule: RuleThird}},
		{"third joins the lower", []float64{1, 4, 1.5}, 3, 1, Decision{Final: true, Score: 1.25, Rule: RuleThird}},
		{"third in the middle, tie goes low", []float64{1, 3, 2}, 3, 1, Decision{Final: true, Score: 1.5, Rule: RuleThird}},
		{"third at tolerance edge", []float64{0, 4, 3}, 3, 1, Decision{Final: true, Score: 3.5, Rule: RuleThird}},
		{"still apart", []float64{1, 4, 6}, 3, 1, Decision{Next: 0}},
		{"mean rounds to two decimals", []float64{1, 1.5, 1.25}, 3, 0.25, Decision{Final: true, Score: 1.13, Rule: RuleThird}},
		{"tie of distances beyond tolerance", []float64{1, 1.5, 1.25}, 3, 0.2, Decision{Next: 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.marks, tc.needed, tc.tol)
			if got != tc.want {
				t.Errorf("Decide(%v, %d, %g) = %+v, want %+v", tc.marks, tc.needed, tc.tol, got, tc.want)
			}
		})
	}
}

func TestIntake(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := e.ctx
		n1, n2 := e.finished("N1", 1), e.finished("N2", 0)
		absent := bundle.CandidateResult{Number: "N3", Status: bundle.StatusAbsent, Variant: "A"}
		good := e.manifest("E-T01", "E-T01", "S1", n1, n2, absent)

		// A recording cut short in transit: refused with hash_mismatch, nothing kept.
		h := n1.Answers[1].Recording
		_, err := e.svc.ReceiveFile(ctx, e.p("staff1"), "E-T01", "S1", h, bytes.NewReader(e.audio[h][:1000]))
		if !errors.Is(err, ErrHashMismatch) || apperr.CodeOf(err) != CodeHashMismatch {
			t.Fatalf("truncated recording: %v, want hash_mismatch", err)
		}
		if n := e.count("SELECT COUNT(*) FROM exam_marking_files"); n != 0 {
			t.Errorf("after a mismatch %d files are recorded, want 0", n)
		}
		var blobs int
		e.blobs.Walk(ctx, func(blob.Info) error { blobs++; return nil })
		if blobs != 0 {
			t.Errorf("after a mismatch the blob store holds %d blobs, want 0", blobs)
		}
		// The site's staff of another site cannot send here.
		if _, err := e.svc.ReceiveFile(ctx, e.p("staff2"), "E-T01", "S1", h, bytes.NewReader(e.audio[h])); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("staff of another site: %v, want not found", err)
		}
		// The right bytes, twice: both fine.
		for i := 0; i < 2; i++ {
			rc, err := e.svc.ReceiveFile(ctx, e.p("staff1"), "E-T01", "S1", h, bytes.NewReader(e.audio[h]))
			if err != nil || rc.SHA256 != h || rc.Size != 2000 {
				t.Fatalf("upload %d: %+v, %v", i, rc, err)
			}
		}

		// Only one of four recordings is there: incomplete, three listed.
		rc, err := e.svc.ReceiveManifest(ctx, e.p("staff1"), "E-T01", "S1", good)
		if err != nil {
			t.Fatal(err)
		}
		if rc.Complete || len(rc.Missing) != 3 {
			t.Fatalf("receipt with 1 of 4 files = %+v, want incomplete with 3 missing", rc)
		}
		for _, m := range rc.Missing {
			if m == h {
				t.Errorf("missing lists %s, which was received", m)
			}
		}
		if _, stage, _, _ := e.answerOf("N1", "c1"); stage != StageWaiting {
			t.Errorf("objective answer of an incomplete package: stage %s, want waiting", stage)
		}

		// Refusals, each leaving the package as it was.
		other := e.manifest("E-T01", "E-T01", "S1", n1, n2, absent)
		other.Signature = good.Signature[:10] + strings.Repeat("A", len(good.Signature)-10)
		tampered := good
		tampered.Manifest = bytes.Replace(good.Manifest, []byte(`"N2"`), []byte(`"N3"`), 1)
		stranger := e.finished("N1", 1)
		stranger.Number = "N9"
		wrongSite := e.manifest("E-T01", "E-T01", "S1", n1)
		refusals := []struct {
			name    string
			who     string
			site    string
			session string
			s       bundle.Signed
			key     string
		}{
			{"bad signature", "staff1", "E-T01", "S1", other, "marking.err_signature"},
			{"altered manifest", "staff1", "E-T01", "S1", tampered, "marking.err_signature"},
			{"manifest for another site", "staff2", "E-T02", "S1", wrongSite, "marking.err_signature"},
			{"signed by the other site for this one", "staff2", "E-T02", "S1", e.manifest("E-T02", "E-T01", "S1", n1), "marking.err_wrong_package"},
			{"another session", "staff1", "E-T01", "S2", good, "marking.err_wrong_package"},
			{"unknown candidate", "staff1", "E-T01", "S1", e.manifest("E-T01", "E-T01", "S1", n1, stranger), "marking.err_unknown_candidate"},
			{"candidate of another site", "staff1", "E-T01", "S1", e.manifest("E-T01", "E-T01", "S1", n1, bundle.CandidateResult{Number: "N4", Status: bundle.StatusAbsent}), "marking.err_unknown_candidate"},
		}
		for _, r := range refusals {
			_, err := e.svc.ReceiveManifest(ctx, e.p(r.who), r.site, r.session, r.s)
			if ae := apperr.As(err); ae == nil || ae.Message != r.key {
				t.Errorf("%s: %v, want %s", r.name, err, r.key)
			}
		}
		if n := e.count("SELECT COUNT(*) FROM exam_marking_candidates WHERE number IN ('N4', 'N9')"); n != 0 {
			t.Errorf("refused manifests left %d candidates", n)
		}

		// The rest of the files: complete, and marking starts.
		e.upload("staff1", "E-T01", "S1", good)
		rc, err = e.svc.ReceiveManifest(ctx, e.p("staff1"), "E-T01", "S1", good)
		if err != nil || !rc.Complete || len(rc.Missing) != 0 {
			t.Fatalf("all files there: %+v, %v; want complete", rc, err)
		}
		_, _, c1, rule := e.answerOf("N1", "c1")
		if c1 == nil || *c1 != 2 || rule != RuleKey {
			t.Errorf("N1 chose the key: %v (%s), want 2 by key", c1, rule)
		}
		if _, _, c2, _ := e.answerOf("N2", "c1"); c2 == nil || *c2 != 0 {
			t.Errorf("N2 chose wrong: %v, want 0", c2)
		}
		if _, stage, _, _ := e.answerOf("N1", "r1"); stage != StageHuman {
			t.Errorf("spoken answer without a scorer: stage %s, want human", stage)
		}
		if n := e.count("SELECT COUNT(*) FROM exam_marking_answers WHERE number = 'N3'"); n != 0 {
			t.Errorf("absent candidate has %d answers, want 0", n)
		}
		// The same manifest again: fine, nothing changes.
		before := e.count("SELECT COUNT(*) FROM exam_marking_answers")
		rc, err = e.svc.ReceiveManifest(ctx, e.p("staff1"), "E-T01", "S1", good)
		if err != nil || !rc.Complete {
			t.Fatalf("repeat: %+v, %v", rc, err)
		}
		if after := e.count("SELECT COUNT(*) FROM exam_marking_answers"); after != before {
			t.Errorf("repeat changed the answers: %d → %d", before, after)
		}
		if n := len(e.scoredEvents()); n != 2 {
			t.Errorf("%d score records after a repeated manifest, want 2 (the objective answers)", n)
		}
		// A changed manifest after completion: refused until re-opened.
		n2b := e.finished("N2", 1)
		changed := e.manifest("E-T01", "E-T01", "S1", n1, n2b, absent)
		if _, err := e.svc.ReceiveManifest(ctx, e.p("staff1"), "E-T01", "S1", changed); apperr.CodeOf(err) != apperr.Conflict {
			t.Errorf("changed manifest after completion: %v, want conflict", err)
		}
		if err := e.svc.ReopenPackage(ctx, testExam, "E-T01", "S1"); err != nil {
			t.Fatal(err)
		}
		e.upload("staff1", "E-T01", "S1", changed)
		if rc, err := e.svc.ReceiveManifest(ctx, e.p("staff1"), "E-T01", "S1", changed); err != nil || !rc.Complete {
			t.Fatalf("changed manifest after re-opening: %+v, %v", rc, err)
		}
		if _, _, c2, _ := e.answerOf("N2", "c1"); c2 == nil || *c2 != 2 {
			t.Errorf("N2's corrected choice: %v, want 2", c2)
		}

		// The completeness page's figures.
		prog, err := e.svc.Completeness(ctx, testExam)
		if err != nil || len(prog) != 1 {
			t.Fatalf("completeness: %+v, %v", prog, err)
		}
		sp := prog[0]
		if sp.Expected != 3 || sp.Received != 3 || sp.Finished != 2 || sp.Absent != 1 || !sp.Complete || len(sp.MissingFiles) != 0 {
			t.Errorf("completeness = %+v", sp)
		}
	})
}

func TestCompletenessFlags(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		n1 := e.finished("N1", 1)
		n1.Answers[1].Silent = true
		n2 := e.finished("N2", 1)
		n2.Status, n2.Reason = bundle.StatusAbnormal, "耳机故障"
		n2.Answers = n2.Answers[:2] // no recording for o1
		s := e.manifest("E-T01", "E-T01", "S1", n1, n2)
		rc, err := e.svc.ReceiveManifest(e.ctx, e.p("staff1"), "E-T01", "S1", s)
		if err != nil || rc.Complete || len(rc.Missing) != 3 {
			t.Fatalf("nothing uploaded: %+v, %v", rc, err)
		}
		prog, err := e.svc.Completeness(e.ctx, testExam)
		if err != nil || len(prog) != 1 {
			t.Fatal(prog, err)
		}
		sp := prog[0]
		if len(sp.MissingFiles) != 3 || sp.Complete {
			t.Errorf("missing files %v", sp.MissingFiles)
		}
		if len(sp.Abnormal) != 1 || sp.Abnormal[0].Number != "N2" || !strings.Contains(sp.Abnormal[0].Note, "耳机故障") {
			t.Errorf("abnormal = %+v", sp.Abnormal)
		}
		if len(sp.Silent) != 1 || sp.Silent[0] != (Flag{Number: "N1", Item: "r1"}) {
			t.Errorf("silent = %+v", sp.Silent)
		}
		if len(sp.Empty) != 1 || sp.Empty[0] != (Flag{Number: "N2", Item: "o1"}) {
			t.Errorf("empty = %+v", sp.Empty)
		}
	})
}

// markAll lets the examiners draw tasks until none is left, scoring each
// with script[number/item][round] (a negative score flags a problem).
func markAll(t *testing.T, e *env, examiners []string, script map[string][]float64) {
	t.Helper()
	idle := 0
	for i := 0; idle < len(examiners) && i < 200; i++ {
		who := examiners[i%len(examiners)]
		task, err := e.svc.NextTask(e.ctx, e.p(who), testExam)
		if apperr.CodeOf(err) == apperr.NotFound {
			idle++
			continue
		}
		if err != nil {
			t.Fatalf("%s next: %v", who, err)
		}
		idle = 0
		var number, item string
		if err := e.d.QueryRow(e.ctx, "SELECT a.number, a.item FROM exam_marking_marks m JOIN exam_marking_answers a ON a.id = m.answer_id WHERE m.task = ?",
			task.Task).Scan(&number, &item); err != nil {
			t.Fatal(err)
		}
		marks := script[number+"/"+item]
		if task.Round > len(marks) {
			t.Fatalf("%s/%s got round %d, the script has %d", number, item, task.Round, len(marks))
		}
		if sc := marks[task.Round-1]; sc < 0 {
			err = e.svc.FlagProblem(e.ctx, e.p(who), task.Task, "没有声音")
		} else {
			err = e.svc.SubmitMark(e.ctx, e.p(who), task.Task, sc)
		}
		if err != nil {
			t.Fatalf("%s on %s/%s round %d: %v", who, number, item, task.Round, err)
		}
	}
}

func TestDoubleMarking(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.deliver("staff1", "E-T01", e.manifest("E-T01", "E-T01", "S1", e.finished("N1", 1), e.finished("N2", 2)))
		script := map[string][]float64{
			"N1/r1": {3, 3.5},    // agree: 3.25
			"N2/r1": {1, 3, 2.5}, // third: (3 + 2.5) / 2
			"N1/o1": {1, 4, 6},   // still apart: the leader
			"N2/o1": {-1},        // a problem: the leader
		}
		markAll(t, e, []string{"ex1", "ex2", "ex3"}, script)

		// Nobody holds two marks of one answer, no round was given twice.
		rows, err := d.Query(e.ctx, "SELECT answer_id, round, examiner_id FROM exam_marking_marks")
		if err != nil {
			t.Fatal(err)
		}
		seenRound, seenExaminer := map[[2]int64]bool{}, map[[2]int64]bool{}
		n := 0
		for rows.Next() {
			var a, r, x int64
			rows.Scan(&a, &r, &x)
			if seenRound[[2]int64{a, r}] || seenExaminer[[2]int64{a, x}] {
				t.Errorf("answer %d: round %d or examiner %d twice", a, r, x)
			}
			seenRound[[2]int64{a, r}], seenExaminer[[2]int64{a, x}] = true, true
			n++
		}
		rows.Close()
		if n != 2+3+3+1 {
			t.Errorf("%d marks, want 9", n)
		}
		check := func(number, item string, want float64, rule string) {
			t.Helper()
			_, stage, got, r := e.answerOf(number, item)
			if stage != StageFinal || got == nil || *got != want || r != rule {
				t.Errorf("%s/%s: stage %s score %v rule %s, want final %g by %s", number, item, stage, got, r, want, rule)
			}
		}
		check("N1", "r1", 3.25, RuleAgree)
		check("N2", "r1", 2.75, RuleThird)
		for _, k := range []string{"o1"} {
			for _, num := range []string{"N1", "N2"} {
				if _, stage, _, _ := e.answerOf(num, k); stage != StageLeader {
					t.Errorf("%s/%s: stage %s, want leader", num, k, stage)
				}
			}
		}

		// Leaders: an examiner not on the list sees nothing; the named one decides.
		if _, err := e.svc.LeaderQueue(e.ctx, e.p("lead"), testExam); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("examiner not named leader: %v, want not found", err)
		}
		if err := e.svc.AddLeader(e.ctx, e.p("admin"), testExam, "lead"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.AddLeader(e.ctx, e.p("admin"), testExam, "school1"); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("a school admin as leader: %v, want invalid", err)
		}
		cases, err := e.svc.LeaderQueue(e.ctx, e.p("lead"), testExam)
		if err != nil || len(cases) != 2 {
			t.Fatalf("leader queue: %d cases, %v; want 2", len(cases), err)
		}
		reasons := cases[0].Reason + "|" + cases[1].Reason
		if !strings.Contains(reasons, "apart") || !strings.Contains(reasons, "没有声音") {
			t.Errorf("case reasons %q, want apart and the problem note", reasons)
		}
		for _, c := range cases {
			if err := e.svc.LeaderDecide(e.ctx, e.p("lead"), testExam, c.AnswerID, 4.3, ""); apperr.CodeOf(err) != apperr.Invalid {
				t.Errorf("a score off the 0.5 steps: %v, want invalid", err)
			}
			if err := e.svc.LeaderDecide(e.ctx, e.p("lead"), testExam, c.AnswerID, 5, "听录音复核"); err != nil {
				t.Fatal(err)
			}
			if err := e.svc.LeaderDecide(e.ctx, e.p("lead"), testExam, c.AnswerID, 4, "again"); apperr.CodeOf(err) != apperr.Conflict {
				t.Errorf("deciding a final answer again: %v, want conflict", err)
			}
		}
		check("N1", "o1", 5, RuleLeader)
		check("N2", "o1", 5, RuleLeader)

		// Every answer is final, each published exactly once.
		evs := e.scoredEvents()
		if len(evs) != 6 {
			t.Fatalf("%d score records, want 6", len(evs))
		}
		ev := evs[len(evs)-1]
		if ev.Verb != VerbScored || ev.Actor.HomePage != "https://jnedu.test/exams/"+testExam || (ev.Actor.Name != "N1" && ev.Actor.Name != "N2") ||
			!strings.HasPrefix(ev.Object.ID, "https://jnedu.test/exams/"+testExam+"/papers/ZK-A/items/") || ev.Result.Max != 6 || ev.Result.Raw != 5 ||
			ev.Result.Scaled != 0.83 || !ev.Result.Success {
			t.Errorf("last record = %+v", ev)
		}
		// Finalizing again with the same score publishes nothing new.
		id, _, _, _ := e.answerOf("N1", "r1")
		if err := d.InTx(e.ctx, func(tx *db.Tx) error { return e.svc.finalize(e.ctx, tx, id, 3.25, RuleAgree, 0, "") }); err != nil {
			t.Fatal(err)
		}
		if n := len(e.scoredEvents()); n != 6 {
			t.Errorf("re-finalizing with the same score: %d records, want 6", n)
		}

		// Quality control: ex figures add up to the marks given.
		qc, err := e.svc.QC(e.ctx, testExam)
		if err != nil {
			t.Fatal(err)
		}
		total, problems := 0, 0
		for _, q := range qc {
			total += q.Marks
			problems += q.Problems
			if q.Paired > 0 && (q.Agreement < 0 || q.Agreement > 1) {
				t.Errorf("agreement %g out of range for %s", q.Agreement, q.Name)
			}
		}
		if total != 8 || problems != 1 || len(qc) != 3 {
			t.Errorf("QC: %d examiners, %d marks, %d problems; want 3, 8, 1", len(qc), total, problems)
		}

		// Calibration: re-marks of final answers, not changing them.
		made, err := e.svc.Calibrate(e.ctx, testExam, 5)
		if err != nil || made != 2 { // N1/r1 (agree) and N2/r1 (third); leader decisions are not sampled
			t.Fatalf("calibration opened %d, %v; want 2", made, err)
		}
		task, err := e.svc.NextTask(e.ctx, e.p("lead"), testExam)
		if err != nil || !task.Calibrate {
			t.Fatalf("leader's next task: %+v, %v; want a calibration re-mark", task, err)
		}
		if err := e.svc.SubmitMark(e.ctx, e.p("lead"), task.Task, 0); err != nil {
			t.Fatal(err)
		}
		check("N1", "r1", 3.25, RuleAgree)
		check("N2", "r1", 2.75, RuleThird)
	})
}

func TestTaskLeases(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		if err := e.svc.SaveSettings(e.ctx, testExam, 0, 1); err != nil { // single marking
			t.Fatal(err)
		}
		e.deliver("staff1", "E-T01", e.manifest("E-T01", "E-T01", "S1", e.finished("N1", 1), e.finished("N2", 2)))
		// Three examiners at once get three different tasks.
		var wg sync.WaitGroup
		tasks := make([]Task, 3)
		errs := make([]error, 3)
		for i, who := range []string{"ex1", "ex2", "ex3"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tasks[i], errs[i] = e.svc.NextTask(e.ctx, e.p(who), testExam)
			}()
		}
		wg.Wait()
		seen := map[string]bool{}
		for i, tk := range tasks {
			if errs[i] != nil {
				t.Fatalf("examiner %d: %v", i, errs[i])
			}
			if seen[tk.Task] {
				t.Errorf("task %s handed out twice", tk.Task)
			}
			seen[tk.Task] = true
		}
		if n := e.count("SELECT COUNT(DISTINCT answer_id) FROM exam_marking_marks"); n != 3 {
			t.Errorf("3 single-marking tasks cover %d answers, want 3", n)
		}
		// Asking again gives back the task one holds.
		again, err := e.svc.NextTask(e.ctx, e.p("ex1"), testExam)
		if err != nil || again.Task != tasks[0].Task {
			t.Errorf("ex1 asked again: %s, %v; want the held %s", again.Task, err, tasks[0].Task)
		}
		// Another examiner cannot use or hear ex1's task.
		if err := e.svc.SubmitMark(e.ctx, e.p("ex2"), tasks[0].Task, 1); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("ex2 marking ex1's task: %v, want not found", err)
		}
		if _, err := e.svc.TaskRecording(e.ctx, e.p("ex2"), tasks[0].Task); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("ex2 fetching ex1's recording: %v, want not found", err)
		}
		// The lease runs out: the answer goes to someone else, the late mark is refused.
		e.clock.Add(11 * time.Minute)
		fourth, err := e.svc.NextTask(e.ctx, e.p("lead"), testExam)
		if err != nil {
			t.Fatal(err)
		}
		var a1, a4 int64
		d.QueryRow(e.ctx, "SELECT answer_id FROM exam_marking_marks WHERE task = ?", fourth.Task).Scan(&a4)
		if err := d.QueryRow(e.ctx, "SELECT answer_id FROM exam_marking_marks WHERE task = ?", tasks[0].Task).Scan(&a1); err == nil {
			t.Errorf("expired task %s still exists", tasks[0].Task)
		}
		if err := e.svc.SubmitMark(e.ctx, e.p("ex1"), tasks[0].Task, 1); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("mark on an expired task: %v, want not found", err)
		}
		if a4 == 0 {
			t.Error("the freed answer was not handed out again")
		}
		if err := e.svc.SubmitMark(e.ctx, e.p("lead"), fourth.Task, 1); err != nil {
			t.Fatal(err)
		}
		if _, stage, sc, rule := e.answerOf(numberOf(t, e, a4)); stage != StageFinal || sc == nil || *sc != 1 || rule != RuleSingle {
			t.Errorf("single-marked answer: %s %v %s, want final 1 single", stage, sc, rule)
		}
	})
}

func numberOf(t *testing.T, e *env, answerID int64) (string, string) {
	t.Helper()
	var n, it string
	if err := e.d.QueryRow(e.ctx, "SELECT number, item FROM exam_marking_answers WHERE id = ?", answerID).Scan(&n, &it); err != nil {
		t.Fatal(err)
	}
	return n, it
}

func TestTaskIsAnonymous(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.deliver("staff1", "E-T01", e.manifest("E-T01", "E-T01", "S1", e.finished("N1", 1), e.finished("N2", 2)))
		task, err := e.svc.NextTask(e.ctx, e.p("ex1"), testExam)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(task)
		for _, c := range e.cat.cands {
			for _, secret := range []string{c.Number, c.Name, c.School, c.Site, e.cat.ids[c.Number]} {
				if strings.Contains(string(b), `"`+secret+`"`) || strings.Contains(string(b), secret+"/") || strings.Contains(string(b), c.Name) {
					t.Errorf("task JSON %s reveals %q", b, secret)
				}
			}
		}
		if task.Rubric.ReferenceText == "" && len(task.Rubric.ReferenceAnswers) == 0 {
			t.Errorf("task carries no rubric: %s", b)
		}
		if !strings.HasPrefix(task.Audio, "/api/v1/exam/marking/tasks/"+task.Task+"/") {
			t.Errorf("audio address %q is not the guarded task route", task.Audio)
		}
		key, err := e.svc.TaskRecording(e.ctx, e.p("ex1"), task.Task)
		if err != nil || e.audio[key] == nil {
			t.Errorf("recording of the task: %q, %v", key, err)
		}
	})
}

func TestResultsAndReviews(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := e.ctx
		e.cat.papers["S1|B"] = testPaper("B")
		e.deliver("staff1", "E-T01", e.manifest("E-T01", "E-T01", "S1", e.finished("N1", 1), e.finished("N2", 1),
			bundle.CandidateResult{Number: "N3", Status: bundle.StatusAbsent}))
		e.deliver("staff2", "E-T02", e.manifest("E-T02", "E-T02", "S1", e.finished("N4", 0)))
		markAll(t, e, []string{"ex1", "ex2"}, map[string][]float64{"N1/r1": {4, 4}, "N1/o1": {5, 6}, "N2/r1": {2, 2}, "N2/o1": {3, 3}, "N4/r1": {1, 1}, "N4/o1": {2, 2.5}})

		numbers := func(rs []Result) string {
			var out []string
			for _, r := range rs {
				out = append(out, r.Number)
			}
			return strings.Join(out, ",")
		}
		// Before release: staff see all, schools nothing, candidates nothing.
		for who, want := range map[string]string{"admin": "N1,N2,N3,N4", "staff1": "N1,N2,N3,N4", "school1": "", "teacher2": ""} {
			rs, err := e.svc.Results(ctx, e.p(who), testExam, 0)
			if err != nil || numbers(rs) != want {
				t.Errorf("%s before release sees %q (%v), want %q", who, numbers(rs), err, want)
			}
		}
		if _, err := e.svc.Lookup(ctx, testExam, "N1", e.cat.ids["N1"]); apperr.As(err) == nil || apperr.As(err).Message != "marking.err_not_released" {
			t.Errorf("lookup before release: %v, want not released", err)
		}
		if _, err := e.svc.CandidateResult(ctx, e.p("school1"), testExam, "N1"); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("school reads a result before release: %v, want not found", err)
		}
		if err := e.svc.Release(ctx, e.p("admin"), testExam, true); err != nil {
			t.Fatal(err)
		}
		for who, want := range map[string]string{"school1": "N1,N3,N4", "teacher2": "N2", "ex1": ""} {
			rs, err := e.svc.Results(ctx, e.p(who), testExam, 0)
			if err != nil || numbers(rs) != want {
				t.Errorf("%s after release sees %q (%v), want %q", who, numbers(rs), err, want)
			}
		}
		rs, _ := e.svc.Results(ctx, e.p("admin"), testExam, 0)
		totals := map[string]string{}
		for _, r := range rs {
			totals[r.Number] = fmtScore(r.Total)
		}
		// N1: 2 + 4 + 5.5; N2: 2 + 2 + 3; N3 absent (no answers); N4: 0 + 1 + 2.25 = 3.25 → 3.3 (one decimal, half up).
		if totals["N1"] != "11.5" || totals["N2"] != "7" || totals["N3"] != "" || totals["N4"] != "3.3" {
			t.Errorf("totals = %v", totals)
		}
		if _, err := e.svc.CandidateResult(ctx, e.p("teacher2"), testExam, "N1"); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("teacher of S2 reads N1: %v, want not found", err)
		}
		// The candidate's own lookup needs the right ID; a wrong one and an unknown number look the same.
		r, err := e.svc.Lookup(ctx, testExam, "N2", strings.ToLower(e.cat.ids["N2"]))
		if err != nil || r.Number != "N2" || fmtScore(r.Total) != "7" || len(r.Items) != 3 {
			t.Errorf("N2's lookup: %+v, %v", r, err)
		}
		_, wrong := e.svc.Lookup(ctx, testExam, "N2", e.cat.ids["N1"])
		_, unknown := e.svc.Lookup(ctx, testExam, "N8", e.cat.ids["N1"])
		if apperr.As(wrong) == nil || apperr.As(unknown) == nil || apperr.As(wrong).Message != "marking.err_lookup_failed" || apperr.As(wrong).Message != apperr.As(unknown).Message {
			t.Errorf("wrong ID: %v; unknown number: %v; want the same refusal", wrong, unknown)
		}

		// 复核: requested by the school → accepted → re-marked by the leader → answered.
		if _, err := e.svc.RequestReview(ctx, e.p("teacher2"), testExam, "N1", "分数偏低"); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("another school's review request: %v, want not found", err)
		}
		rv, err := e.svc.RequestReview(ctx, e.p("school1"), testExam, "N1", "分数偏低")
		if err != nil || rv.State != ReviewRequested || fmtScore(rv.OldTotal) != "11.5" {
			t.Fatalf("request: %+v, %v", rv, err)
		}
		if _, err := e.svc.RequestReview(ctx, nil, testExam, "N1", "再次申请"); apperr.CodeOf(err) != apperr.Conflict {
			t.Errorf("a second open review: %v, want conflict", err)
		}
		if err := e.svc.AddLeader(ctx, e.p("admin"), testExam, "lead"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.RemarkReview(ctx, e.p("lead"), testExam, rv.ID, map[string]float64{"o1": 4}, "复评"); apperr.CodeOf(err) != apperr.Conflict {
			t.Errorf("re-mark before acceptance: %v, want conflict", err)
		}
		if err := e.svc.AcceptReview(ctx, e.p("staff1"), testExam, rv.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.RemarkReview(ctx, e.p("ex1"), testExam, rv.ID, map[string]float64{"o1": 4}, "复评"); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("re-mark by an examiner who does not lead: %v, want not found", err)
		}
		before := len(e.scoredEvents())
		if err := e.svc.RemarkReview(ctx, e.p("lead"), testExam, rv.ID, map[string]float64{"o1": 4, "r1": 4}, "采分点漏判"); err != nil {
			t.Fatal(err)
		}
		if n := len(e.scoredEvents()); n != before+1 {
			t.Errorf("re-mark changing one score published %d records, want 1", n-before)
		}
		changes, err := e.svc.ScoreChanges(ctx, testExam, "N1")
		if err != nil || len(changes) != 1 || changes[0].Item != "o1" || changes[0].Old != 5.5 || changes[0].New != 4 ||
			changes[0].ByUser != e.p("lead").User.ID || changes[0].Reason != "采分点漏判" || changes[0].ReviewID != rv.ID {
			t.Errorf("score changes = %+v, %v", changes, err)
		}
		if err := e.svc.AnswerReview(ctx, e.p("staff1"), testExam, rv.ID, "经复核，话题简述得分调整为 4 分。", false); err != nil {
			t.Fatal(err)
		}
		list, err := e.svc.Reviews(ctx, e.p("school1"), testExam)
		if err != nil || len(list) != 1 || list[0].State != ReviewAnswered || fmtScore(list[0].NewTotal) != "10" {
			t.Errorf("school's reviews: %+v, %v", list, err)
		}
		if list, _ := e.svc.Reviews(ctx, e.p("teacher2"), testExam); len(list) != 0 {
			t.Errorf("another school sees %d reviews, want 0", len(list))
		}
		// A candidate's own request (after the ID check on the page), then rejected.
		rv2, err := e.svc.RequestReview(ctx, nil, testExam, "N2", "想核对")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.AnswerReview(ctx, e.p("staff1"), testExam, rv2.ID, "成绩无误。", true); err != nil {
			t.Fatal(err)
		}
		st, _ := e.svc.ReviewStatus(ctx, testExam, "N2")
		if len(st) != 1 || st[0].State != ReviewRejected {
			t.Errorf("N2's review status = %+v", st)
		}
	})
}

func TestMachineScores(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		sc := &fakeScorer{}
		e.svc.SetScorer(sc)
		if err := e.svc.SaveSettings(e.ctx, testExam, 0, 1); err != nil {
			t.Fatal(err)
		}
		e.deliver("staff1", "E-T01", e.manifest("E-T01", "E-T01", "S1", e.finished("N1", 1)))
		if len(sc.reqs) != 2 {
			t.Fatalf("scorer got %d requests, want 2", len(sc.reqs))
		}
		kinds := map[string]ScoreRequest{}
		for _, r := range sc.reqs {
			kinds[r.Kind] = r
		}
		if kinds[KindReadAloud].ReferenceText == "" || kinds[KindReadAloud].MaxPoints != 4 || len(kinds[KindOpen].KeyPoints) != 2 || e.audio[kinds[KindOpen].Recording] == nil {
			t.Errorf("requests = %+v", sc.reqs)
		}
		if _, err := e.svc.NextTask(e.ctx, e.p("ex1"), testExam); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("task while waiting for the machine: %v, want none", err)
		}
		// A confident score is final; a flagged one goes to two humans.
		if err := e.svc.RecordMachineScore(e.ctx, kinds[KindReadAloud].AnswerID, 3.5, nil, []byte(`{"accuracy":0.9}`)); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.RecordMachineScore(e.ctx, kinds[KindOpen].AnswerID, 2, []string{"low_confidence"}, nil); err != nil {
			t.Fatal(err)
		}
		if _, stage, s, rule := e.answerOf("N1", "r1"); stage != StageFinal || s == nil || *s != 3.5 || rule != RuleMachine {
			t.Errorf("confident machine score: %s %v %s", stage, s, rule)
		}
		markAll(t, e, []string{"ex1", "ex2"}, map[string][]float64{"N1/o1": {3, 4}})
		if _, stage, s, rule := e.answerOf("N1", "o1"); stage != StageFinal || s == nil || *s != 3.5 || rule != RuleAgree {
			t.Errorf("flagged answer after double marking: %s %v %s", stage, s, rule)
		}
		qc, _ := e.svc.QC(e.ctx, testExam)
		for _, q := range qc {
			if q.MachinePaired != 1 {
				t.Errorf("%s compared with the machine %d times, want 1", q.Name, q.MachinePaired)
			}
		}
	})
}

func TestImportPackage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		s := e.manifest("E-T01", "E-T01", "S1", e.finished("N1", 1), e.finished("N2", 0))
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "files"), 0o755)
		b, _ := json.Marshal(s)
		os.WriteFile(filepath.Join(dir, "signed.json"), b, 0o644)
		var m bundle.AnswerManifest
		json.Unmarshal(s.Manifest, &m)
		files := m.Files()
		for i, h := range files {
			data := e.audio[h]
			if i == 0 {
				data = data[:100] // damaged on the disk
			}
			os.WriteFile(filepath.Join(dir, "files", h+".wav"), data, 0o644)
		}
		fsys, err := OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := e.svc.ImportPackage(e.ctx, e.p("staff1"), fsys)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Files != 3 || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "damaged") || rep.Receipt.Complete || len(rep.Receipt.Missing) != 1 {
			t.Errorf("import with a damaged file = %+v", rep)
		}
		os.WriteFile(filepath.Join(dir, "files", files[0]+".wav"), e.audio[files[0]], 0o644)
		if rep, err = e.svc.ImportPackage(e.ctx, e.p("staff1"), fsys); err != nil || !rep.Receipt.Complete || rep.Files != 4 {
			t.Errorf("import again after the fix: %+v, %v", rep, err)
		}
		if _, err := e.svc.ImportPackage(e.ctx, e.p("staff2"), fsys); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("import by another site's staff: %v, want not found", err)
		}
	})
}

func TestNotConfigured(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	e.svc.SetCatalog(nil)
	_, err := e.svc.ReceiveManifest(e.ctx, e.p("staff1"), "E-T01", "S1", e.manifest("E-T01", "E-T01", "S1"))
	if apperr.CodeOf(err) != apperr.Unavailable || !errors.Is(err, ErrNotConfigured) {
		t.Errorf("manifest without a catalogue: %v, want unavailable", err)
	}
}
