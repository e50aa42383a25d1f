package marking

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
)

// Release publishes an exam's results to schools and candidates.
func (s *Service) Release(ctx context.Context, p *identity.Principal, exam string, release bool) error {
	if exam = strings.TrimSpace(exam); exam == "" || len(exam) > 64 {
		return apperr.Field("exam", "err.invalid_value")
	}
	at, by := int64(0), int64(0)
	if release {
		at, by = s.ms(), p.User.ID
	}
	_, err := s.db.Exec(ctx, `INSERT INTO exam_marking_settings (exam, released_at, released_by, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (exam) DO UPDATE SET released_at = excluded.released_at, released_by = excluded.released_by, updated_at = excluded.updated_at`,
		exam, at, by, s.ms())
	return err
}

// ItemScore is one item of a candidate's result.
type ItemScore struct {
	Item     string   `json:"item"`
	ItemType string   `json:"item_type"`
	Max      float64  `json:"max"`
	Score    *float64 `json:"score"`          // nil while not final
	Copy     bool     `json:"copy,omitempty"` // a copy the marking leader confirmed
}

// Result is a candidate's result in an exam.
type Result struct {
	Number  string      `json:"number"`
	Name    string      `json:"name"`
	School  string      `json:"school"`
	Site    string      `json:"site"`
	Session string      `json:"session"`
	Status  string      `json:"status"`
	Reason  string      `json:"reason,omitempty"`
	Max     float64     `json:"max"`
	Total   *float64    `json:"total"` // nil until every answer is final
	Final   int         `json:"final"` // answers with a final score
	Answers int         `json:"answers"`
	Items   []ItemScore `json:"items,omitempty"`
	// Copies are the items whose answers the marking leader confirmed as
	// copies (确认雷同).
	Copies []string `json:"copies,omitempty"`
}

// visibleSchools returns the school organisations of exam whose
// candidates p may see, or nil for "all" (staff).
func (s *Service) visibleSchools(ctx context.Context, p *identity.Principal, exam string) ([]int64, bool, error) {
	if isStaff(p) {
		return nil, true, nil
	}
	if !p.Can(PermResults) {
		return nil, false, nil
	}
	ids, err := db.Column[int64](ctx, s.db, "SELECT DISTINCT school_org_id FROM exam_marking_candidates WHERE exam = ?", exam)
	if err != nil {
		return nil, false, err
	}
	var out []int64
	for _, id := range ids {
		org, err := s.orgs.Org(ctx, id)
		if err != nil {
			continue
		}
		if p.CanIn(PermResults, org) {
			out = append(out, id)
		}
	}
	return out, false, nil
}

// Results lists the results of exam that p may see: staff see every
// candidate at any time; schools see their own candidates once the results
// are released.
func (s *Service) Results(ctx context.Context, p *identity.Principal, exam string, limit int) ([]Result, error) {
	if limit <= 0 || limit > 100_000 {
		limit = 100_000
	}
	schools, all, err := s.visibleSchools(ctx, p, exam)
	if err != nil {
		return nil, err
	}
	if !all {
		set, err := s.Settings(ctx, exam)
		if err != nil {
			return nil, err
		}
		if set.ReleasedAt == 0 || len(schools) == 0 {
			return []Result{}, nil
		}
	}
	where, args := "c.exam = ?", []any{exam}
	if !all {
		where += " AND c.school_org_id IN (" + strings.TrimSuffix(strings.Repeat("?,", len(schools)), ",") + ")"
		for _, id := range schools {
			args = append(args, id)
		}
	}
	args = append(args, limit)
	rows, err := s.db.Query(ctx, `SELECT c.number, c.name, c.school, c.site, c.session, c.status, c.reason, c.paper_points,
		COALESCE(SUM(a.final_score), 0), COUNT(a.final_score), COUNT(a.id)
		FROM exam_marking_candidates c LEFT JOIN exam_marking_answers a ON a.exam = c.exam AND a.number = c.number
		WHERE `+where+` GROUP BY c.number, c.name, c.school, c.site, c.session, c.status, c.reason, c.paper_points ORDER BY c.number LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Result{}
	for rows.Next() {
		var r Result
		var sum float64
		if err := rows.Scan(&r.Number, &r.Name, &r.School, &r.Site, &r.Session, &r.Status, &r.Reason, &r.Max, &sum, &r.Final, &r.Answers); err != nil {
			return nil, err
		}
		if r.Final == r.Answers && r.Answers > 0 {
			t := RoundTotal(sum)
			r.Total = &t
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	copies, err := confirmedCopies(ctx, s.db, exam, "")
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Copies = copies[out[i].Number]
	}
	return out, nil
}

// result loads one candidate's result with item scores.
func (s *Service) result(ctx context.Context, q db.Querier, exam, number string) (Result, error) {
	var r Result
	err := q.QueryRow(ctx, "SELECT number, name, school, site, session, status, reason, paper_points FROM exam_marking_candidates WHERE exam = ? AND number = ?",
		exam, number).Scan(&r.Number, &r.Name, &r.School, &r.Site, &r.Session, &r.Status, &r.Reason, &r.Max)
	if errors.Is(err, sql.ErrNoRows) {
		return r, apperr.New(apperr.NotFound, "err.not_found")
	}
	if err != nil {
		return r, err
	}
	copies, err := confirmedCopies(ctx, q, exam, number)
	if err != nil {
		return r, err
	}
	r.Copies = copies[number]
	rows, err := q.Query(ctx, "SELECT item, item_type, max_points, final_score FROM exam_marking_answers WHERE exam = ? AND number = ? ORDER BY seq", exam, number)
	if err != nil {
		return r, err
	}
	defer rows.Close()
	sum := 0.0
	for rows.Next() {
		var it ItemScore
		var sc sql.NullFloat64
		if err := rows.Scan(&it.Item, &it.ItemType, &it.Max, &sc); err != nil {
			return r, err
		}
		r.Answers++
		it.Copy = slices.Contains(r.Copies, it.Item)
		if sc.Valid {
			v := sc.Float64
			it.Score = &v
			sum += v
			r.Final++
		}
		r.Items = append(r.Items, it)
	}
	if r.Answers > 0 && r.Final == r.Answers {
		t := RoundTotal(sum)
		r.Total = &t
	}
	return r, rows.Err()
}

// CandidateResult returns one candidate's result to p (staff, or the
// candidate's school after release).
func (s *Service) CandidateResult(ctx context.Context, p *identity.Principal, exam, number string) (Result, error) {
	if err := s.canSeeCandidate(ctx, p, exam, number); err != nil {
		return Result{}, err
	}
	return s.result(ctx, s.db, exam, number)
}

func (s *Service) canSeeCandidate(ctx context.Context, p *identity.Principal, exam, number string) error {
	schools, all, err := s.visibleSchools(ctx, p, exam)
	if err != nil || all {
		return err
	}
	set, err := s.Settings(ctx, exam)
	if err != nil {
		return err
	}
	var org int64
	err = s.db.QueryRow(ctx, "SELECT school_org_id FROM exam_marking_candidates WHERE exam = ? AND number = ?", exam, number).Scan(&org)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if err != nil || set.ReleasedAt == 0 || !containsID(schools, org) {
		return apperr.New(apperr.NotFound, "err.not_found")
	}
	return nil
}

func containsID(ids []int64, id int64) bool {
	for _, v := range ids {
		if v == id {
			return true
		}
	}
	return false
}

// Lookup is a candidate's own query: admission number and ID-card number.
// A wrong pair and an unknown number get the same answer.
func (s *Service) Lookup(ctx context.Context, exam, number, idNumber string) (Result, error) {
	exam, number, idNumber = strings.TrimSpace(exam), strings.TrimSpace(number), strings.ToUpper(strings.TrimSpace(idNumber))
	if exam == "" || number == "" || idNumber == "" || len(exam) > 64 || len(number) > 64 || len(idNumber) > 32 {
		return Result{}, apperr.New(apperr.Invalid, "marking.err_lookup_fields")
	}
	cat, err := s.catalog()
	if err != nil {
		return Result{}, err
	}
	ok, err := cat.CheckCandidateID(ctx, exam, number, idNumber)
	if err != nil && !notFound(err) {
		return Result{}, err
	}
	if !ok {
		return Result{}, apperr.New(apperr.NotFound, "marking.err_lookup_failed")
	}
	set, err := s.Settings(ctx, exam)
	if err != nil {
		return Result{}, err
	}
	if set.ReleasedAt == 0 {
		return Result{}, apperr.New(apperr.NotFound, "marking.err_not_released")
	}
	r, err := s.result(ctx, s.db, exam, number)
	if apperr.CodeOf(err) == apperr.NotFound {
		return Result{}, apperr.New(apperr.NotFound, "marking.err_lookup_failed")
	}
	return r, err
}

// Review states.
const (
	ReviewRequested = "requested"
	ReviewAccepted  = "accepted"
	ReviewRemarked  = "remarked"
	ReviewAnswered  = "answered"
	ReviewRejected  = "rejected"
)

// Review is a score review request (复核).
type Review struct {
	ID          int64    `json:"id"`
	Exam        string   `json:"exam"`
	Number      string   `json:"number"`
	Reason      string   `json:"reason"`
	State       string   `json:"state"`
	RequestedAt int64    `json:"requested_at"`
	Answer      string   `json:"answer,omitempty"`
	OldTotal    *float64 `json:"old_total,omitempty"`
	NewTotal    *float64 `json:"new_total,omitempty"`
}

// RequestReview opens a review for a candidate. p is nil when the
// candidate asks through the public page (after the ID check); otherwise p
// must see the candidate. One open review per candidate.
func (s *Service) RequestReview(ctx context.Context, p *identity.Principal, exam, number, reason string) (Review, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len([]rune(reason)) > 500 {
		return Review{}, apperr.Field("reason", "marking.err_review_reason")
	}
	var by int64
	if p != nil {
		if err := s.canSeeCandidate(ctx, p, exam, number); err != nil {
			return Review{}, err
		}
		by = p.User.ID
	}
	set, err := s.Settings(ctx, exam)
	if err != nil {
		return Review{}, err
	}
	if set.ReleasedAt == 0 {
		return Review{}, apperr.New(apperr.Conflict, "marking.err_not_released")
	}
	var out Review
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM exam_marking_reviews WHERE exam = ? AND number = ? AND state IN (?, ?, ?)",
			exam, number, ReviewRequested, ReviewAccepted, ReviewRemarked).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return apperr.New(apperr.Conflict, "marking.err_review_open")
		}
		r, err := s.result(ctx, tx, exam, number)
		if err != nil {
			return err
		}
		now := s.ms()
		id, err := db.InsertID(ctx, tx, `INSERT INTO exam_marking_reviews (exam, number, reason, state, requested_by, requested_at, old_total)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, exam, number, reason, ReviewRequested, by, now, r.Total)
		if err != nil {
			return err
		}
		out = Review{ID: id, Exam: exam, Number: number, Reason: reason, State: ReviewRequested, RequestedAt: now, OldTotal: r.Total}
		return nil
	})
	return out, err
}

// Reviews lists an exam's reviews p may see (staff and leaders: all;
// schools: their candidates').
func (s *Service) Reviews(ctx context.Context, p *identity.Principal, exam string) ([]Review, error) {
	lead, err := s.IsLeader(ctx, p, exam)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT r.id, r.exam, r.number, r.reason, r.state, r.requested_at, r.answer, r.old_total, r.new_total, COALESCE(c.school_org_id, 0)
		FROM exam_marking_reviews r LEFT JOIN exam_marking_candidates c ON c.exam = r.exam AND c.number = r.number
		WHERE r.exam = ? ORDER BY r.id DESC LIMIT 1000`, exam)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var schools []int64
	all := isStaff(p) || lead
	if !all {
		if schools, _, err = s.visibleSchools(ctx, p, exam); err != nil {
			return nil, err
		}
	}
	out := []Review{}
	for rows.Next() {
		var r Review
		var oldT, newT sql.NullFloat64
		var org int64
		if err := rows.Scan(&r.ID, &r.Exam, &r.Number, &r.Reason, &r.State, &r.RequestedAt, &r.Answer, &oldT, &newT, &org); err != nil {
			return nil, err
		}
		if !all && !containsID(schools, org) {
			continue
		}
		if oldT.Valid {
			r.OldTotal = &oldT.Float64
		}
		if newT.Valid {
			r.NewTotal = &newT.Float64
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *Service) review(ctx context.Context, q db.Querier, exam string, id int64) (Review, error) {
	var r Review
	err := q.QueryRow(ctx, "SELECT id, exam, number, reason, state FROM exam_marking_reviews WHERE id = ? AND exam = ?", id, exam).
		Scan(&r.ID, &r.Exam, &r.Number, &r.Reason, &r.State)
	if errors.Is(err, sql.ErrNoRows) {
		return r, apperr.New(apperr.NotFound, "err.not_found")
	}
	return r, err
}

// AcceptReview (staff) moves a requested review to the leader.
func (s *Service) AcceptReview(ctx context.Context, p *identity.Principal, exam string, id int64) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		r, err := s.review(ctx, tx, exam, id)
		if err != nil {
			return err
		}
		if r.State != ReviewRequested {
			return apperr.New(apperr.Conflict, "marking.err_review_state")
		}
		_, err = tx.Exec(ctx, "UPDATE exam_marking_reviews SET state = ?, accepted_by = ?, accepted_at = ? WHERE id = ?", ReviewAccepted, p.User.ID, s.ms(), id)
		return err
	})
}

// RemarkReview (the exam's leader) re-marks items of an accepted review:
// each changed score is recorded with who and why, and published.
func (s *Service) RemarkReview(ctx context.Context, p *identity.Principal, exam string, id int64, scores map[string]float64, reason string) error {
	if err := s.mustLead(ctx, p, exam); err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return apperr.Field("reason", "marking.err_review_reason")
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		r, err := s.review(ctx, tx, exam, id)
		if err != nil {
			return err
		}
		if r.State != ReviewAccepted {
			return apperr.New(apperr.Conflict, "marking.err_review_state")
		}
		for item, sc := range scores {
			var aid int64
			var maxPts float64
			var final sql.NullFloat64
			err := tx.QueryRow(ctx, "SELECT id, max_points, final_score FROM exam_marking_answers WHERE exam = ? AND number = ? AND item = ?",
				exam, r.Number, item).Scan(&aid, &maxPts, &final)
			if errors.Is(err, sql.ErrNoRows) {
				return apperr.Field("item", "marking.err_unknown_item_short")
			}
			if err != nil {
				return err
			}
			if err := validMark(sc, maxPts); err != nil {
				return err
			}
			if final.Valid && final.Float64 == sc {
				continue
			}
			if err := s.finalize(ctx, tx, aid, sc, RuleReview, p.User.ID, reason); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "UPDATE exam_marking_score_changes SET review_id = ? WHERE answer_id = ? AND review_id = 0", id, aid); err != nil {
				return err
			}
		}
		res, err := s.result(ctx, tx, exam, r.Number)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE exam_marking_reviews SET state = ?, remarked_by = ?, remarked_at = ?, new_total = ? WHERE id = ?",
			ReviewRemarked, p.User.ID, s.ms(), res.Total, id)
		return err
	})
}

// AnswerReview (staff) closes a review with the answer given to the
// candidate: after the re-mark, or at once to reject it.
func (s *Service) AnswerReview(ctx context.Context, p *identity.Principal, exam string, id int64, answer string, reject bool) error {
	answer = strings.TrimSpace(answer)
	if answer == "" || len([]rune(answer)) > 1000 {
		return apperr.Field("answer", "marking.err_review_answer")
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		r, err := s.review(ctx, tx, exam, id)
		if err != nil {
			return err
		}
		state := ReviewAnswered
		switch {
		case reject && (r.State == ReviewRequested || r.State == ReviewAccepted):
			state = ReviewRejected
		case !reject && r.State == ReviewRemarked:
		default:
			return apperr.New(apperr.Conflict, "marking.err_review_state")
		}
		_, err = tx.Exec(ctx, "UPDATE exam_marking_reviews SET state = ?, answer = ?, answered_by = ?, answered_at = ? WHERE id = ?",
			state, answer, p.User.ID, s.ms(), id)
		return err
	})
}

// ReviewStatus is what a candidate sees of their review requests.
func (s *Service) ReviewStatus(ctx context.Context, exam, number string) ([]Review, error) {
	rows, err := s.db.Query(ctx, "SELECT id, state, reason, requested_at, answer FROM exam_marking_reviews WHERE exam = ? AND number = ? ORDER BY id", exam, number)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Review
	for rows.Next() {
		r := Review{Exam: exam, Number: number}
		if err := rows.Scan(&r.ID, &r.State, &r.Reason, &r.RequestedAt, &r.Answer); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ScoreChange is one recorded change of a final score.
type ScoreChange struct {
	Number   string  `json:"number"`
	Item     string  `json:"item"`
	Old      float64 `json:"old"`
	New      float64 `json:"new"`
	ByUser   int64   `json:"by_user"`
	Reason   string  `json:"reason"`
	ReviewID int64   `json:"review_id"`
	At       int64   `json:"at"`
}

// ScoreChanges lists the recorded changes of a candidate's scores.
func (s *Service) ScoreChanges(ctx context.Context, exam, number string) ([]ScoreChange, error) {
	rows, err := s.db.Query(ctx, `SELECT a.number, a.item, COALESCE(c.old_score, 0), c.new_score, c.by_user, c.reason, c.review_id, c.at
		FROM exam_marking_score_changes c JOIN exam_marking_answers a ON a.id = c.answer_id WHERE a.exam = ? AND a.number = ? ORDER BY c.id`, exam, number)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ScoreChange
	for rows.Next() {
		var c ScoreChange
		if err := rows.Scan(&c.Number, &c.Item, &c.Old, &c.New, &c.ByUser, &c.Reason, &c.ReviewID, &c.At); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
