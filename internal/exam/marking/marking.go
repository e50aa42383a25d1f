package marking

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"jnedu/internal/exam/paper"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// Settings are an exam's marking settings.
type Settings struct {
	Exam        string  `json:"exam"`
	DoubleShare float64 `json:"double_share"` // 0..1
	Tolerance   float64 `json:"tolerance"`
	ReleasedAt  int64   `json:"released_at"`
}

func (s *Service) settings(ctx context.Context, q db.Querier, exam string) (Settings, error) {
	out := Settings{Exam: exam, DoubleShare: 1, Tolerance: 1}
	err := q.QueryRow(ctx, "SELECT double_share, tolerance, released_at FROM exam_marking_settings WHERE exam = ?", exam).
		Scan(&out.DoubleShare, &out.Tolerance, &out.ReleasedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return out, nil
	}
	return out, err
}

// Settings returns an exam's settings (defaults when never set).
func (s *Service) Settings(ctx context.Context, exam string) (Settings, error) {
	return s.settings(ctx, s.db, exam)
}

// SaveSettings changes the double-marking share and default tolerance.
// They apply to answers that enter marking afterwards.
func (s *Service) SaveSettings(ctx context.Context, exam string, share, tol float64) error {
	if exam = strings.TrimSpace(exam); exam == "" || len(exam) > 64 {
		return apperr.Field("exam", "err.invalid_value")
	}
	if math.IsNaN(share) || share < 0 || share > 1 {
		return apperr.Field("double_share", "marking.err_share_range")
	}
	if math.IsNaN(tol) || tol < 0 || tol > paper.MaxItemPoints {
		return apperr.Field("tolerance", "marking.err_tolerance_range")
	}
	_, err := s.db.Exec(ctx, `INSERT INTO exam_marking_settings (exam, double_share, tolerance, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (exam) DO UPDATE SET double_share = excluded.double_share, tolerance = excluded.tolerance, updated_at = excluded.updated_at`,
		exam, share, tol, s.ms())
	return err
}

// Leader is a marking leader of an exam.
type Leader struct {
	UserID   int64  `json:"user_id"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

// Leaders lists an exam's leaders.
func (s *Service) Leaders(ctx context.Context, exam string) ([]Leader, error) {
	ids, err := db.Column[int64](ctx, s.db, "SELECT user_id FROM exam_marking_leaders WHERE exam = ? ORDER BY added_at", exam)
	if err != nil {
		return nil, err
	}
	out := []Leader{}
	for _, id := range ids {
		l := Leader{UserID: id}
		if u, err := s.orgs.User(ctx, id); err == nil {
			l.Username, l.Name = u.Username, u.DisplayName
		}
		out = append(out, l)
	}
	return out, nil
}

// AddLeader names an examiner leader of an exam.
func (s *Service) AddLeader(ctx context.Context, actor *identity.Principal, exam, username string) error {
	u, err := s.orgs.UserByName(ctx, strings.TrimSpace(username))
	if err != nil {
		if notFound(err) {
			return apperr.Field("username", "marking.err_no_such_examiner")
		}
		return err
	}
	examiner := false
	for _, g := range u.Grants {
		examiner = examiner || g.Role == identity.RoleExaminer
	}
	if !examiner {
		return apperr.Field("username", "marking.err_no_such_examiner")
	}
	_, err = s.db.Exec(ctx, `INSERT INTO exam_marking_leaders (exam, user_id, added_by, added_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (exam, user_id) DO NOTHING`, exam, u.ID, actor.User.ID, s.ms())
	return err
}

// RemoveLeader takes a leader off an exam's list.
func (s *Service) RemoveLeader(ctx context.Context, exam string, userID int64) error {
	_, err := s.db.Exec(ctx, "DELETE FROM exam_marking_leaders WHERE exam = ? AND user_id = ?", exam, userID)
	return err
}

// IsLeader reports whether p leads the marking of exam: platform admins
// lead every exam, examiners the exams that list them.
func (s *Service) IsLeader(ctx context.Context, p *identity.Principal, exam string) (bool, error) {
	if p == nil || !p.Can(PermLead) {
		return false, nil
	}
	if slices.Contains(p.Roles(), identity.RolePlatformAdmin) {
		return true, nil
	}
	var n int
	err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM exam_marking_leaders WHERE exam = ? AND user_id = ?", exam, p.User.ID).Scan(&n)
	return n > 0, err
}

func (s *Service) mustLead(ctx context.Context, p *identity.Principal, exam string) error {
	ok, err := s.IsLeader(ctx, p, exam)
	if err != nil {
		return err
	}
	if !ok {
		return apperr.New(apperr.NotFound, "marking.err_not_leader")
	}
	return nil
}

// finalize sets an answer's final score and publishes it as a learning
// record once per distinct final score. A change of an earlier final score
// is recorded with who and why.
func (s *Service) finalize(ctx context.Context, tx db.Querier, id int64, score float64, rule string, by int64, reason string) error {
	var exam, number, paperCode, item, itemType, site string
	var maxPts, tolerance float64
	var old, published, machine sql.NullFloat64
	var orgID int64
	err := tx.QueryRow(ctx, `SELECT a.exam, a.number, a.paper_code, a.item, a.item_type, a.max_points, a.final_score, a.published_score,
		COALESCE(c.school_org_id, 0), a.site, a.tolerance, a.machine_score FROM exam_marking_answers a LEFT JOIN exam_marking_candidates c ON c.exam = a.exam AND c.number = a.number
		WHERE a.id = ?`, id).Scan(&exam, &number, &paperCode, &item, &itemType, &maxPts, &old, &published, &orgID, &site, &tolerance, &machine)
	if err != nil {
		return err
	}
	score = RoundScore(math.Max(0, math.Min(score, maxPts)))
	now := s.ms()
	if _, err := tx.Exec(ctx, `UPDATE exam_marking_answers SET stage = ?, final_score = ?, final_rule = ?, final_by = ?, finalized_at = ? WHERE id = ?`,
		StageFinal, score, rule, by, now, id); err != nil {
		return err
	}
	if old.Valid && old.Float64 != score {
		if _, err := tx.Exec(ctx, `INSERT INTO exam_marking_score_changes (answer_id, old_score, new_score, by_user, reason, at) VALUES (?, ?, ?, ?, ?, ?)`,
			id, old.Float64, score, by, cut(reason, 1000), now); err != nil {
			return err
		}
	}
	if s.bus == nil || (published.Valid && published.Float64 == score) {
		return nil
	}
	scaled := 0.0
	if maxPts > 0 {
		scaled = score / maxPts
	}
	// Where and how it was scored, for the indicators (machine–human
	// agreement per site): the machine's score and the mean human mark.
	var human sql.NullFloat64
	if err := tx.QueryRow(ctx, "SELECT AVG(score) FROM exam_marking_marks WHERE answer_id = ? AND state = 'done' AND round < 4 AND score IS NOT NULL", id).Scan(&human); err != nil {
		return err
	}
	sc := ScoredContext{Site: site, Tolerance: tolerance}
	if machine.Valid {
		sc.Machine = &machine.Float64
	}
	if human.Valid {
		h := RoundScore(human.Float64)
		sc.Human = &h
	}
	base := strings.TrimRight(s.cfg.BaseURL, "/") + "/exams/" + exam
	ev := ScoredEvent{
		Actor:  ScoredActor{HomePage: base, Name: number, OrgID: orgID},
		Verb:   VerbScored,
		Object: ScoredObject{ID: base + "/papers/" + paperCode + "/items/" + item, Exam: exam, Paper: paperCode, Item: item, ItemType: itemType},
		Result: ScoredResult{Raw: score, Min: 0, Max: maxPts, Scaled: RoundScore(scaled), Success: scaled >= SuccessShare, Rule: rule},
		At:     now,
	}
	ev.Context = sc
	if err := events.PublishTx(ctx, tx, s.bus, TopicScored, ev); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "UPDATE exam_marking_answers SET published_score = ? WHERE id = ?", score, id)
	return err
}

// Task is one anonymised marking task: the item and its rubric, the
// recording, nothing about who answered.
type Task struct {
	Task       string       `json:"task"`
	Round      int          `json:"round"`
	Calibrate  bool         `json:"calibration"`
	ItemType   string       `json:"item_type"`
	Points     float64      `json:"points"`
	Step       float64      `json:"step"`
	Prompt     string       `json:"prompt"`
	PromptText string       `json:"prompt_audio_text,omitempty"`
	Rubric     paper.Rubric `json:"rubric"`
	Audio      string       `json:"audio"` // URL of the recording
	DurationMs int64        `json:"duration_ms"`
	Silent     bool         `json:"silent"`
	LeaseUntil int64        `json:"lease_until"`
}

// ScoreStep is the granularity of human marks.
const ScoreStep = 0.5

// NextTask hands p the next task of exam: the one p already holds, or a
// new lease on an answer that needs a mark p has not given. Two examiners
// never hold the same task (a task is a round of an answer, unique in the
// table) and nobody marks an answer twice (unique answer × examiner). It
// answers "no task" (not found) when there is nothing to mark.
func (s *Service) NextTask(ctx context.Context, p *identity.Principal, exam string) (Task, error) {
	var taskID string
	now := s.ms()
	until := now + s.cfg.Lease.Milliseconds()
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		if err := expireLeases(ctx, tx, now); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, "SELECT task FROM exam_marking_marks WHERE exam = ? AND examiner_id = ? AND state = 'leased' ORDER BY id LIMIT 1",
			exam, p.User.ID).Scan(&taskID)
		if err == nil {
			_, err = tx.Exec(ctx, "UPDATE exam_marking_marks SET lease_until = ? WHERE task = ?", until, taskID)
			return err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT a.id, a.marks_needed FROM exam_marking_answers a
			WHERE a.exam = ? AND a.stage = ?
			AND NOT EXISTS (SELECT 1 FROM exam_marking_marks m WHERE m.answer_id = a.id AND m.examiner_id = ?)
			AND (SELECT COUNT(*) FROM exam_marking_marks m WHERE m.answer_id = a.id AND m.round <= 3) < a.marks_needed
			ORDER BY a.id LIMIT 50`, exam, StageHuman, p.User.ID)
		if err != nil {
			return err
		}
		type cand struct {
			id     int64
			needed int
		}
		var cands []cand
		for rows.Next() {
			var c cand
			if err := rows.Scan(&c.id, &c.needed); err != nil {
				rows.Close()
				return err
			}
			cands = append(cands, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range cands {
			rounds, err := roundsOf(ctx, tx, c.id)
			if err != nil {
				return err
			}
			round := 0
			for r := 1; r <= c.needed && r <= RoundThird; r++ {
				if !rounds[r] {
					round = r
					break
				}
			}
			if round == 0 {
				continue
			}
			id := newTaskID()
			res, err := tx.Exec(ctx, `INSERT INTO exam_marking_marks (task, answer_id, exam, round, examiner_id, state, lease_until, started_at)
				VALUES (?, ?, ?, ?, ?, 'leased', ?, ?) ON CONFLICT DO NOTHING`, id, c.id, exam, round, p.User.ID, until, now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				taskID = id
				return nil
			}
		}
		// Nothing to mark: a calibration re-mark, if any is open.
		var calID int64
		err = tx.QueryRow(ctx, `SELECT m.id, m.task FROM exam_marking_marks m WHERE m.exam = ? AND m.state = 'open'
			AND NOT EXISTS (SELECT 1 FROM exam_marking_marks o WHERE o.answer_id = m.answer_id AND o.examiner_id = ?) ORDER BY m.id LIMIT 1`,
			exam, p.User.ID).Scan(&calID, &taskID)
		if errors.Is(err, sql.ErrNoRows) {
			taskID = ""
			return nil
		}
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, "UPDATE exam_marking_marks SET state = 'leased', examiner_id = ?, lease_until = ?, started_at = ? WHERE id = ? AND state = 'open'",
			p.User.ID, until, now, calID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			taskID = "" // taken meanwhile: nothing for now
		}
		return nil
	})
	if err != nil {
		return Task{}, err
	}
	if taskID == "" {
		return Task{}, apperr.New(apperr.NotFound, "marking.no_task")
	}
	return s.taskView(ctx, p, taskID)
}

// taskWaitingQuery tells whether NextTask would have something for an
// examiner, without a write: a task they hold; a lease run out anywhere
// (NextTask frees it first, so the answer may be theirs to take); an
// answer in human marking that still needs a mark they have not given; an
// open calibration re-mark of an answer they have not marked. Each part
// stops at its first row and reads an index (the leases and the open
// calibration re-marks by exam_marking_marks_examiner or _lease, answers
// in human marking by exam_marking_answers_stage, their marks by the
// unique (answer_id, examiner_id) and (answer_id, round) keys), so idle
// examiners polling it cost neither a write nor a table scan.
const taskWaitingQuery = `SELECT CASE WHEN
	EXISTS (SELECT 1 FROM exam_marking_marks WHERE exam = ? AND examiner_id = ? AND state = 'leased')
	OR EXISTS (SELECT 1 FROM exam_marking_marks WHERE state = 'leased' AND lease_until < ?)
	OR EXISTS (SELECT 1 FROM exam_marking_answers a WHERE a.exam = ? AND a.stage = ?
		AND NOT EXISTS (SELECT 1 FROM exam_marking_marks m WHERE m.answer_id = a.id AND m.examiner_id = ?)
		AND (SELECT COUNT(*) FROM exam_marking_marks m WHERE m.answer_id = a.id AND m.round <= 3) < a.marks_needed)
	OR EXISTS (SELECT 1 FROM exam_marking_marks m WHERE m.exam = ? AND m.examiner_id = 0 AND m.state = 'open'
		AND NOT EXISTS (SELECT 1 FROM exam_marking_marks o WHERE o.answer_id = m.answer_id AND o.examiner_id = ?))
	THEN 1 ELSE 0 END`

func taskWaitingArgs(exam string, examiner, now int64) []any {
	return []any{exam, examiner, now, exam, StageHuman, examiner, exam, examiner}
}

// TaskWaiting reports whether NextTask would hand p a task of exam now. It
// only reads: the examiner workspace polls it while idle and asks for a
// task when it answers yes. (A yes can still meet "no task" when another
// examiner takes the last one first.)
func (s *Service) TaskWaiting(ctx context.Context, p *identity.Principal, exam string) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, taskWaitingQuery, taskWaitingArgs(exam, p.User.ID, s.ms())...).Scan(&n)
	return n == 1, err
}

// expireLeases frees tasks whose lease ran out: marking tasks are dropped
// (the round is open again), calibration tasks go back to the pool.
func expireLeases(ctx context.Context, tx *db.Tx, now int64) error {
	if _, err := tx.Exec(ctx, "DELETE FROM exam_marking_marks WHERE state = 'leased' AND lease_until < ? AND round <= 3", now); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "UPDATE exam_marking_marks SET state = 'open', examiner_id = 0, lease_until = 0 WHERE state = 'leased' AND lease_until < ? AND round = ?",
		now, RoundCalibration)
	return err
}

func roundsOf(ctx context.Context, q db.Querier, answerID int64) (map[int]bool, error) {
	rounds, err := db.Column[int](ctx, q, "SELECT round FROM exam_marking_marks WHERE answer_id = ?", answerID)
	if err != nil {
		return nil, err
	}
	out := map[int]bool{}
	for _, r := range rounds {
		out[r] = true
	}
	return out, nil
}

type heldTask struct {
	markID, answerID       int64
	round                  int
	state                  string
	leaseUntil             int64
	exam, session, variant string
	item, itemType, rec    string
	maxPts, tol            float64
	durationMs             int64
	silent                 bool
	stage                  string
	marksNeeded            int
}

// held loads a task p holds.
func (s *Service) held(ctx context.Context, q db.Querier, p *identity.Principal, task string) (heldTask, error) {
	var h heldTask
	err := q.QueryRow(ctx, `SELECT m.id, m.answer_id, m.round, m.state, m.lease_until, a.exam, a.session, a.variant, a.item, a.item_type, a.recording,
		a.max_points, a.tolerance, a.duration_ms, a.silent, a.stage, a.marks_needed
		FROM exam_marking_marks m JOIN exam_marking_answers a ON a.id = m.answer_id WHERE m.task = ? AND m.examiner_id = ?`, task, p.User.ID).
		Scan(&h.markID, &h.answerID, &h.round, &h.state, &h.leaseUntil, &h.exam, &h.session, &h.variant, &h.item, &h.itemType, &h.rec,
			&h.maxPts, &h.tol, &h.durationMs, &h.silent, &h.stage, &h.marksNeeded)
	if errors.Is(err, sql.ErrNoRows) {
		return h, apperr.New(apperr.NotFound, "marking.err_task_gone")
	}
	return h, err
}

func (s *Service) taskView(ctx context.Context, p *identity.Principal, task string) (Task, error) {
	h, err := s.held(ctx, s.db, p, task)
	if err != nil {
		return Task{}, err
	}
	t := Task{Task: task, Round: h.round, Calibrate: h.round == RoundCalibration, ItemType: h.itemType, Points: h.maxPts, Step: ScoreStep,
		Audio: "/api/v1/exam/marking/tasks/" + task + "/audio", DurationMs: h.durationMs, Silent: h.silent, LeaseUntil: h.leaseUntil}
	if cat, err := s.catalog(); err == nil {
		if pp, err := cat.SessionPaper(ctx, h.exam, h.session, h.variant); err == nil {
			if it, ok := pp.Item(h.item); ok {
				t.Prompt, t.PromptText, t.Rubric = it.Prompt.Text, it.Prompt.AudioText, it.Rubric
			}
		}
	}
	return t, nil
}

// TaskRecording returns the blob key of the recording of a task p holds.
func (s *Service) TaskRecording(ctx context.Context, p *identity.Principal, task string) (string, error) {
	h, err := s.held(ctx, s.db, p, task)
	if err != nil {
		return "", err
	}
	if h.rec == "" {
		return "", apperr.New(apperr.NotFound, "marking.err_no_recording")
	}
	return h.rec, nil
}

func validMark(score, maxPts float64) error {
	if math.IsNaN(score) || score < 0 || score > maxPts+1e-9 || math.Abs(score/ScoreStep-math.Round(score/ScoreStep)) > 1e-9 {
		return apperr.Field("score", "marking.err_score_range")
	}
	return nil
}

// SubmitMark records p's mark for a task and applies the double-marking
// rules: final score, a third mark, or the leader.
func (s *Service) SubmitMark(ctx context.Context, p *identity.Principal, task string, score float64) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		h, err := s.held(ctx, tx, p, task)
		if err != nil {
			return err
		}
		if h.state != "leased" {
			return apperr.New(apperr.Conflict, "marking.err_task_done")
		}
		if err := validMark(score, h.maxPts); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE exam_marking_marks SET state = 'done', score = ?, submitted_at = ? WHERE id = ?", score, s.ms(), h.markID); err != nil {
			return err
		}
		if h.round == RoundCalibration || h.stage != StageHuman {
			return nil
		}
		return s.evaluate(ctx, tx, h.answerID, h.marksNeeded, h.tol)
	})
}

// evaluate decides what an answer in human marking needs next.
func (s *Service) evaluate(ctx context.Context, tx db.Querier, answerID int64, needed int, tol float64) error {
	marks, err := db.Column[float64](ctx, tx, "SELECT score FROM exam_marking_marks WHERE answer_id = ? AND round <= 3 AND state = 'done' ORDER BY round", answerID)
	if err != nil {
		return err
	}
	if len(marks) < needed {
		return nil // other marks are still out
	}
	d := Decide(marks, needed, tol)
	switch {
	case d.Final:
		return s.finalize(ctx, tx, answerID, d.Score, d.Rule, 0, "")
	case d.Next == RoundSecond || d.Next == RoundThird:
		_, err := tx.Exec(ctx, "UPDATE exam_marking_answers SET marks_needed = ? WHERE id = ?", d.Next, answerID)
		return err
	default:
		_, err := tx.Exec(ctx, "UPDATE exam_marking_answers SET stage = ?, leader_reason = 'apart' WHERE id = ?", StageLeader, answerID)
		return err
	}
}

// FlagProblem sends a task to the leader (no audio, wrong item, …).
func (s *Service) FlagProblem(ctx context.Context, p *identity.Principal, task, note string) error {
	note = strings.TrimSpace(note)
	if note == "" || len(note) > 500 {
		return apperr.Field("note", "marking.err_problem_note")
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		h, err := s.held(ctx, tx, p, task)
		if err != nil {
			return err
		}
		if h.state != "leased" {
			return apperr.New(apperr.Conflict, "marking.err_task_done")
		}
		if _, err := tx.Exec(ctx, "UPDATE exam_marking_marks SET state = 'problem', problem = ?, submitted_at = ? WHERE id = ?", note, s.ms(), h.markID); err != nil {
			return err
		}
		if h.round == RoundCalibration || h.stage == StageFinal {
			return nil
		}
		_, err = tx.Exec(ctx, "UPDATE exam_marking_answers SET stage = ?, leader_reason = ? WHERE id = ?", StageLeader, "problem: "+note, h.answerID)
		return err
	})
}

// Case is an answer waiting for the leader, still anonymised.
type Case struct {
	AnswerID     int64        `json:"answer_id"`
	Item         string       `json:"item"`
	ItemType     string       `json:"item_type"`
	Points       float64      `json:"points"`
	Tolerance    float64      `json:"tolerance"`
	Reason       string       `json:"reason"`
	Flags        []string     `json:"flags,omitempty"`   // the machine's flags, and possible_copy
	CopyOf       []string     `json:"copy_of,omitempty"` // references of the answers it may be a copy of
	Marks        []CaseMark   `json:"marks"`
	MachineScore *float64     `json:"machine_score,omitempty"`
	Final        *float64     `json:"final,omitempty"`
	Prompt       string       `json:"prompt"`
	Rubric       paper.Rubric `json:"rubric"`
	Audio        string       `json:"audio"`
}

// CaseMark is one mark a leader sees.
type CaseMark struct {
	Round    int      `json:"round"`
	Examiner string   `json:"examiner"`
	Score    *float64 `json:"score,omitempty"`
	Problem  string   `json:"problem,omitempty"`
}

// LeaderQueue lists the answers waiting for the leader of exam.
func (s *Service) LeaderQueue(ctx context.Context, p *identity.Principal, exam string) ([]Case, error) {
	if err := s.mustLead(ctx, p, exam); err != nil {
		return nil, err
	}
	ids, err := db.Column[int64](ctx, s.db, `SELECT id FROM exam_marking_answers WHERE exam = ? AND stage = ? ORDER BY id LIMIT 200`, exam, StageLeader)
	if err != nil {
		return nil, err
	}
	out := []Case{}
	for _, id := range ids {
		c, err := s.caseOf(ctx, exam, id)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *Service) caseOf(ctx context.Context, exam string, id int64) (Case, error) {
	c := Case{AnswerID: id, Audio: "/api/v1/exam/marking/" + exam + "/answers/" + strconv.FormatInt(id, 10) + "/audio"}
	var session, variant, flags string
	var machine, final sql.NullFloat64
	err := s.db.QueryRow(ctx, `SELECT item, item_type, max_points, tolerance, leader_reason, machine_score, final_score, session, variant, machine_flags
		FROM exam_marking_answers WHERE id = ? AND exam = ?`, id, exam).
		Scan(&c.Item, &c.ItemType, &c.Points, &c.Tolerance, &c.Reason, &machine, &final, &session, &variant, &flags)
	if errors.Is(err, sql.ErrNoRows) {
		return c, apperr.New(apperr.NotFound, "err.not_found")
	}
	if err != nil {
		return c, err
	}
	if flags != "" {
		c.Flags = strings.Split(flags, ",")
	}
	if c.CopyOf, err = copyRefs(ctx, s.db, id); err != nil {
		return c, err
	}
	if len(c.CopyOf) > 0 {
		c.Flags = append(c.Flags, FlagPossibleCopy)
	}
	if machine.Valid {
		c.MachineScore = &machine.Float64
	}
	if final.Valid {
		c.Final = &final.Float64
	}
	rows, err := s.db.Query(ctx, "SELECT round, examiner_id, score, problem FROM exam_marking_marks WHERE answer_id = ? AND state IN ('done', 'problem') ORDER BY round", id)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	for rows.Next() {
		var m CaseMark
		var uid int64
		var sc sql.NullFloat64
		if err := rows.Scan(&m.Round, &uid, &sc, &m.Problem); err != nil {
			return c, err
		}
		if sc.Valid {
			m.Score = &sc.Float64
		}
		m.Examiner = strconv.FormatInt(uid, 10)
		if u, err := s.orgs.User(ctx, uid); err == nil {
			m.Examiner = u.DisplayName
		}
		c.Marks = append(c.Marks, m)
	}
	if cat, err := s.catalog(); err == nil {
		if pp, err := cat.SessionPaper(ctx, exam, session, variant); err == nil {
			if it, ok := pp.Item(c.Item); ok {
				c.Prompt, c.Rubric = it.Prompt.Text, it.Rubric
			}
		}
	}
	return c, rows.Err()
}

// Decide records the leader's score for an answer waiting for them.
func (s *Service) LeaderDecide(ctx context.Context, p *identity.Principal, exam string, answerID int64, score float64, reason string) error {
	if err := s.mustLead(ctx, p, exam); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		var stage string
		var maxPts float64
		err := tx.QueryRow(ctx, "SELECT stage, max_points FROM exam_marking_answers WHERE id = ? AND exam = ?", answerID, exam).Scan(&stage, &maxPts)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.NotFound, "err.not_found")
		}
		if err != nil {
			return err
		}
		if stage != StageLeader {
			return apperr.New(apperr.Conflict, "marking.err_not_waiting")
		}
		if err := validMark(score, maxPts); err != nil {
			return err
		}
		return s.finalize(ctx, tx, answerID, score, RuleLeader, p.User.ID, cut(strings.TrimSpace(reason), 500))
	})
}

// AnswerRecording returns the recording of an answer for its exam's leader.
func (s *Service) AnswerRecording(ctx context.Context, p *identity.Principal, exam string, answerID int64) (string, error) {
	if err := s.mustLead(ctx, p, exam); err != nil {
		return "", err
	}
	var rec string
	err := s.db.QueryRow(ctx, "SELECT recording FROM exam_marking_answers WHERE id = ? AND exam = ?", answerID, exam).Scan(&rec)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && rec == "") {
		return "", apperr.New(apperr.NotFound, "marking.err_no_recording")
	}
	return rec, err
}

// Progress counts an exam's answers per stage.
func (s *Service) Progress(ctx context.Context, exam string) (map[string]int, error) {
	rows, err := s.db.Query(ctx, "SELECT stage, COUNT(*) FROM exam_marking_answers WHERE exam = ? GROUP BY stage", exam)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

// Calibrate opens n calibration re-marks on random final, human- or
// machine-scored spoken answers of exam (each answer at most once).
func (s *Service) Calibrate(ctx context.Context, exam string, n int) (int, error) {
	if n <= 0 || n > 1000 {
		return 0, apperr.Field("count", "marking.err_calibrate_count")
	}
	made := 0
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		ids, err := db.Column[int64](ctx, tx, `SELECT id FROM exam_marking_answers a WHERE exam = ? AND stage = ? AND recording <> ''
			AND final_rule IN (?, ?, ?, ?) AND NOT EXISTS (SELECT 1 FROM exam_marking_marks m WHERE m.answer_id = a.id AND m.round = ?)
			ORDER BY RANDOM() LIMIT ?`, exam, StageFinal, RuleMachine, RuleSingle, RuleAgree, RuleThird, RoundCalibration, n)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.Exec(ctx, `INSERT INTO exam_marking_marks (task, answer_id, exam, round, examiner_id, state, lease_until, started_at)
				VALUES (?, ?, ?, ?, 0, 'open', 0, 0)`, newTaskID(), id, exam, RoundCalibration); err != nil {
				return err
			}
			made++
		}
		return nil
	})
	return made, err
}

// ExaminerQC is one examiner's quality-control figures for an exam.
type ExaminerQC struct {
	UserID        int64   `json:"user_id"`
	Name          string  `json:"name"`
	Marks         int     `json:"marks"`
	Problems      int     `json:"problems"`
	MedianSeconds float64 `json:"median_seconds"`
	Paired        int     `json:"paired"`         // marks compared with a colleague's
	Agreement     float64 `json:"agreement"`      // share of those within tolerance
	MeanAbsDiff   float64 `json:"mean_abs_diff"`  // mean |mine − colleague's|
	MachinePaired int     `json:"machine_paired"` // marks compared with the machine
	MachineAgree  float64 `json:"machine_agreement"`
	MachineMAD    float64 `json:"machine_mean_abs_diff"`
	Calibration   int     `json:"calibration"`           // calibration re-marks given
	CalibAgree    float64 `json:"calibration_agreement"` // share within tolerance of the final score
}

// QC computes each examiner's figures for exam.
func (s *Service) QC(ctx context.Context, exam string) ([]ExaminerQC, error) {
	type mk struct {
		answer         int64
		round          int
		user           int64
		state          string
		score          sql.NullFloat64
		secs           float64
		tol            float64
		machine, final sql.NullFloat64
	}
	rows, err := s.db.Query(ctx, `SELECT m.answer_id, m.round, m.examiner_id, m.state, m.score, m.started_at, m.submitted_at, a.tolerance, a.machine_score, a.final_score
		FROM exam_marking_marks m JOIN exam_marking_answers a ON a.id = m.answer_id WHERE m.exam = ? AND m.state IN ('done', 'problem')`, exam)
	if err != nil {
		return nil, err
	}
	var all []mk
	byAnswer := map[int64][]int{}
	for rows.Next() {
		var m mk
		var started, submitted int64
		if err := rows.Scan(&m.answer, &m.round, &m.user, &m.state, &m.score, &started, &submitted, &m.tol, &m.machine, &m.final); err != nil {
			rows.Close()
			return nil, err
		}
		m.secs = float64(submitted-started) / 1000
		byAnswer[m.answer] = append(byAnswer[m.answer], len(all))
		all = append(all, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	type acc struct {
		q                          ExaminerQC
		secs                       []float64
		agree, diff, mAgree, mDiff float64
		cAgree                     float64
	}
	per := map[int64]*acc{}
	for _, m := range all {
		a := per[m.user]
		if a == nil {
			a = &acc{q: ExaminerQC{UserID: m.user}}
			per[m.user] = a
		}
		if m.state == "problem" {
			a.q.Problems++
			continue
		}
		a.q.Marks++
		a.secs = append(a.secs, m.secs)
		if m.round == RoundCalibration {
			a.q.Calibration++
			if m.final.Valid && math.Abs(m.score.Float64-m.final.Float64) <= m.tol+1e-9 {
				a.cAgree++
			}
			continue
		}
		for _, j := range byAnswer[m.answer] {
			o := all[j]
			if o.user == m.user || o.round == RoundCalibration || o.state != "done" {
				continue
			}
			d := math.Abs(m.score.Float64 - o.score.Float64)
			a.q.Paired++
			a.diff += d
			if d <= m.tol+1e-9 {
				a.agree++
			}
		}
		if m.machine.Valid {
			d := math.Abs(m.score.Float64 - m.machine.Float64)
			a.q.MachinePaired++
			a.mDiff += d
			if d <= m.tol+1e-9 {
				a.mAgree++
			}
		}
	}
	out := []ExaminerQC{}
	for uid, a := range per {
		q := a.q
		q.Name = strconv.FormatInt(uid, 10)
		if u, err := s.orgs.User(ctx, uid); err == nil {
			q.Name = u.DisplayName + " (" + u.Username + ")"
		}
		q.MedianSeconds = median(a.secs)
		if q.Paired > 0 {
			q.Agreement, q.MeanAbsDiff = RoundScore(a.agree/float64(q.Paired)), RoundScore(a.diff/float64(q.Paired))
		}
		if q.MachinePaired > 0 {
			q.MachineAgree, q.MachineMAD = RoundScore(a.mAgree/float64(q.MachinePaired)), RoundScore(a.mDiff/float64(q.MachinePaired))
		}
		if q.Calibration > 0 {
			q.CalibAgree = RoundScore(a.cAgree / float64(q.Calibration))
		}
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return RoundScore(s[len(s)/2])
	}
	return RoundScore((s[len(s)/2-1] + s[len(s)/2]) / 2)
}
