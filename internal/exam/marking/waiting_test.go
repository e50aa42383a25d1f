package marking

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

// TestTaskWaiting: the read-only "is there a task for me" check agrees
// with NextTask through a marking session: before any answer, during
// double and third marking, with a held task, after a lease runs out, and
// for calibration re-marks.
func TestTaskWaiting(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		waiting := func(who string) bool {
			t.Helper()
			ok, err := e.svc.TaskWaiting(e.ctx, e.p(who), testExam)
			if err != nil {
				t.Fatalf("%s waiting: %v", who, err)
			}
			return ok
		}
		// next asks TaskWaiting, then NextTask, and checks they agree.
		next := func(who string) (Task, bool) {
			t.Helper()
			w := waiting(who)
			task, err := e.svc.NextTask(e.ctx, e.p(who), testExam)
			if apperr.CodeOf(err) == apperr.NotFound {
				if w {
					t.Errorf("%s: waiting said yes, NextTask found nothing", who)
				}
				return Task{}, false
			}
			if err != nil {
				t.Fatalf("%s next: %v", who, err)
			}
			if !w {
				t.Errorf("%s: waiting said no, NextTask handed out task %s (round %d)", who, task.Task, task.Round)
			}
			return task, true
		}
		mark := func(who string, score float64) bool {
			t.Helper()
			task, ok := next(who)
			if ok {
				if err := e.svc.SubmitMark(e.ctx, e.p(who), task.Task, score); err != nil {
					t.Fatalf("%s mark: %v", who, err)
				}
			}
			return ok
		}

		if waiting("ex1") {
			t.Error("a task is waiting before any answer arrived")
		}
		// Two candidates, two spoken answers each, every one marked twice.
		e.deliver("staff1", "E-T01", e.manifest("E-T01", "E-T01", "S1", e.finished("N1", 1), e.finished("N2", 2)))
		if ok, err := e.svc.TaskWaiting(e.ctx, e.p("ex1"), "OTHER-EXAM"); err != nil || ok {
			t.Errorf("another exam: waiting %v, %v; want no", ok, err)
		}
		n := 0
		for mark("ex1", 1) {
			n++
		}
		if n != 4 || waiting("ex1") {
			t.Fatalf("ex1 marked %d answers (want 4) and still waiting=%v", n, waiting("ex1"))
		}

		// A task held is a task waiting; nobody else may take it.
		held, ok := next("ex2")
		if !ok {
			t.Fatal("ex2 found no second mark to give")
		}
		if !waiting("ex2") {
			t.Error("ex2 holds a task but nothing is waiting for them")
		}
		// ex2's lease runs out: a lease run out anywhere says yes (NextTask
		// frees it); ex1, who marked every answer, then finds nothing, and
		// the check says no again once the lease is freed.
		e.clock.Add(11 * time.Minute)
		if !waiting("ex1") {
			t.Error("an expired lease: waiting says no before NextTask frees it")
		}
		if _, err := e.svc.NextTask(e.ctx, e.p("ex1"), testExam); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("ex1 after the lease ran out: %v, want no task", err)
		}
		if waiting("ex1") {
			t.Error("waiting says yes for ex1 after the expired lease was freed")
		}
		if err := e.svc.SubmitMark(e.ctx, e.p("ex2"), held.Task, 1); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("mark on the expired lease: %v, want not found", err)
		}

		// ex2 agrees on three answers and is apart on the fourth: a third mark.
		scores := []float64{1, 1, 1, 4}
		for i := 0; mark("ex2", scores[min(i, 3)]); i++ {
		}
		if waiting("ex1") || waiting("ex2") {
			t.Error("the third mark is offered to an examiner who already marked the answer")
		}
		if !waiting("ex3") {
			t.Fatal("no third mark waiting for ex3")
		}
		if !mark("ex3", 1.5) || waiting("ex3") {
			t.Error("ex3: one third mark, then nothing")
		}
		if n := e.count("SELECT COUNT(*) FROM exam_marking_answers WHERE exam = ? AND stage = ?", testExam, StageFinal); n != 6 {
			t.Fatalf("%d final answers, want 6 (two choices, four spoken)", n)
		}

		// Calibration re-marks wait for examiners who did not mark the answer.
		if made, err := e.svc.Calibrate(e.ctx, testExam, 2); err != nil || made != 2 {
			t.Fatalf("calibrate: %d, %v", made, err)
		}
		if waiting("ex1") || waiting("ex2") {
			t.Error("a calibration re-mark is offered to an examiner who marked the answer")
		}
		if !waiting("lead") {
			t.Fatal("no calibration re-mark waiting for the leader")
		}
		for mark("lead", 1) {
		}
		if waiting("lead") {
			t.Error("still waiting after the leader gave every calibration re-mark")
		}
	})
}

// TestTaskWaitingPlan: on a filled table the check reads indexes only, on
// SQLite (EXPLAIN QUERY PLAN: no SCAN of a table) and on PostgreSQL
// (EXPLAIN: no Seq Scan).
func TestTaskWaitingPlan(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		// 9000 answers of three exams, one in a hundred in human marking,
		// the others final with two marks each; a few leases held.
		if _, err := d.Exec(e.ctx, `INSERT INTO exam_marking_answers (exam, number, site, session, variant, paper_code, item, item_type, seq,
			max_points, tolerance, stage, marks_needed, created_at)
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 9000)
			SELECT 'X' || (i % 3), 'N' || i, 'E-T01', 'S1', 'A', 'ZK-A', 'r1', 'read_aloud', 1, 4, 1,
				CASE WHEN i % 100 = 0 THEN 'human' ELSE 'final' END, 2, 0 FROM n`); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Exec(e.ctx, `INSERT INTO exam_marking_marks (task, answer_id, exam, round, examiner_id, state, lease_until, score, started_at)
			SELECT 't' || a.id || '-' || r.k, a.id, a.exam, r.k, 100 + r.k, CASE WHEN a.stage = 'human' THEN 'leased' ELSE 'done' END,
				CASE WHEN a.stage = 'human' THEN 99 ELSE 0 END, 1, 0
			FROM exam_marking_answers a CROSS JOIN (SELECT 1 AS k UNION ALL SELECT 2) r WHERE a.stage = 'final' OR (r.k = 1 AND a.id % 7 = 0)`); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Exec(e.ctx, "ANALYZE"); err != nil {
			t.Fatal(err)
		}
		args := taskWaitingArgs("X1", 1, 50)
		var plan []string
		var err error
		if d.Dialect() == db.Postgres {
			plan, err = db.Column[string](e.ctx, d, "EXPLAIN "+taskWaitingQuery, args...)
		} else {
			rows, qerr := d.Query(e.ctx, "EXPLAIN QUERY PLAN "+taskWaitingQuery, args...)
			if qerr != nil {
				t.Fatal(qerr)
			}
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			rows.Close()
			err = rows.Err()
		}
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		t.Logf("plan:\n%s", text)
		scan := regexp.MustCompile(`(?m)^\s*(->\s*)?(Seq Scan on \w+|SCAN \w+$|SCAN \w+ USING)`)
		if m := scan.FindAllString(text, -1); len(m) > 0 {
			t.Errorf("the waiting check scans a table: %q\n%s", m, text)
		}
		for _, idx := range []string{"exam_marking_answers_stage", "exam_marking_marks_lease", "exam_marking_marks_examiner"} {
			if !strings.Contains(text, idx) {
				t.Errorf("the plan does not use %s", idx)
			}
		}
		// The check still answers right on this data.
		ok, err := e.svc.TaskWaiting(e.ctx, e.p("ex1"), "X1")
		if err != nil || !ok {
			t.Errorf("waiting on the filled table: %v, %v; want yes", ok, err)
		}
	})
}
