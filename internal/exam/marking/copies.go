package marking

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"jnedu/internal/exam/paper"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
)

// Possible copies (疑似雷同). Two candidates' spoken answers are a pair
// when their recordings are byte-identical (the same SHA-256: a certain
// copy, found at intake without any scoring engine) or, once the speech
// scorer's fingerprints are back, when the fingerprints match (the same
// audio re-encoded, made louder or quieter, a little noisy or cut). Both
// answers of a pair go to human double marking and the pair waits for the
// exam's marking leader, who listens to both and confirms or dismisses it.

// RecordingMatcher compares two recordings' fingerprints (the speech
// scorer's, in their text form): their similarity (0–1) and whether they
// are close enough to be one recording.
type RecordingMatcher interface {
	SameRecording(a, b string) (float64, bool)
}

// Copy detection methods and pair states.
const (
	CopyBySHA256      = "sha256"      // byte-identical recordings
	CopyByFingerprint = "fingerprint" // nearly the same audio
	CopyOpen          = "open"
	CopyConfirmed     = "confirmed"
	CopyDismissed     = "dismissed"
	// FlagPossibleCopy is the flag an answer in an open or confirmed pair
	// carries.
	FlagPossibleCopy = "possible_copy"
)

// Limits of copy detection.
const (
	// MaxFingerprint bounds a stored fingerprint (its text form); a longer
	// one is not stored (a 10-minute recording is about 200 KB).
	MaxFingerprint = 512 << 10
	// maxCopyCandidates bounds the answers of one prompt looked at for one
	// arrival (before the comparison limit, Config.MaxCopyCompare).
	maxCopyCandidates = 200_000
	// maxIdentical bounds the answers with one recording paired at intake.
	maxIdentical = 100
	// maxCopyList bounds the pairs listed at once.
	maxCopyList = 1000
)

// SetMatcher connects the fingerprint comparison (nil: only byte-identical
// recordings are found).
func (s *Service) SetMatcher(m RecordingMatcher) { s.mu.Lock(); s.match = m; s.mu.Unlock() }

func (s *Service) matcher() RecordingMatcher {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.match
}

// copyGroup is the key under which an exam's answers are compared: the
// item type and what the candidate was given (prompt text, audio, audio
// script, image, the text to read). Variants of a paper that share an
// item's prompt share its group; a changed prompt is another group.
func copyGroup(it paper.Item) string {
	h := sha256.New()
	for _, v := range []string{string(it.Type), it.Prompt.Text, it.Prompt.Audio, it.Prompt.AudioText, it.Prompt.Image, it.Rubric.ReferenceText} {
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func newRef() string { return newTaskID()[:12] }

// copied reports whether an answer is in an open or confirmed pair.
func copied(ctx context.Context, q db.Querier, answerID int64) (bool, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT COUNT(*) FROM exam_marking_copies WHERE (answer_a = ? OR answer_b = ?) AND state <> ?`,
		answerID, answerID, CopyDismissed).Scan(&n)
	return n > 0, err
}

// addPair records a pair (once) and sends both answers to human double
// marking: an answer already final with the machine score goes back to
// the examiners; one in human marking needs two marks.
func (s *Service) addPair(ctx context.Context, tx db.Querier, exam string, a, b int64, method string, sim float64) error {
	lo, hi := min(a, b), max(a, b)
	res, err := tx.Exec(ctx, `INSERT INTO exam_marking_copies (exam, answer_a, answer_b, method, similarity, state, found_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (answer_a, answer_b) DO NOTHING`, exam, lo, hi, method, sim, CopyOpen, s.ms())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	for _, id := range []int64{lo, hi} {
		if _, err := tx.Exec(ctx, "UPDATE exam_marking_answers SET ref = ? WHERE id = ? AND ref = ''", newRef(), id); err != nil {
			return err
		}
		var stage, rule string
		var needed int
		if err := tx.QueryRow(ctx, "SELECT stage, final_rule, marks_needed FROM exam_marking_answers WHERE id = ?", id).Scan(&stage, &rule, &needed); err != nil {
			return err
		}
		switch {
		case stage == StageHuman && needed < 2:
			_, err = tx.Exec(ctx, "UPDATE exam_marking_answers SET marks_needed = 2 WHERE id = ?", id)
		case stage == StageFinal && rule == RuleMachine:
			// The machine's score is withdrawn: people mark it first.
			_, err = tx.Exec(ctx, `UPDATE exam_marking_answers SET stage = ?, marks_needed = 2, final_score = NULL, final_rule = '', final_by = 0,
				finalized_at = 0 WHERE id = ?`, StageHuman, id)
		}
		if err != nil {
			return err
		}
	}
	s.log.Info("possible copy", "exam", exam, "answers", [2]int64{lo, hi}, "method", method, "similarity", sim)
	return nil
}

// matchIdentical pairs each spoken answer of a package entering marking
// with the other candidates' answers in the exam that have the same
// recording (already in marking, or in the same package). Recordings the
// site found silent are left out: two silences are no copy.
func (s *Service) matchIdentical(ctx context.Context, tx *db.Tx, exam, site, session string) error {
	type own struct {
		id          int64
		number, rec string
	}
	rows, err := tx.Query(ctx, `SELECT id, number, recording FROM exam_marking_answers WHERE exam = ? AND site = ? AND session = ? AND stage = ?
		AND recording <> '' AND silent = FALSE ORDER BY id`, exam, site, session, StageWaiting)
	if err != nil {
		return err
	}
	var list []own
	for rows.Next() {
		var o own
		if err := rows.Scan(&o.id, &o.number, &o.rec); err != nil {
			rows.Close()
			return err
		}
		list = append(list, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, o := range list {
		others, err := db.Column[int64](ctx, tx, `SELECT id FROM exam_marking_answers WHERE exam = ? AND recording = ? AND number <> ? AND silent = FALSE
			AND (stage <> ? OR (site = ? AND session = ?)) ORDER BY id LIMIT ?`, exam, o.rec, o.number, StageWaiting, site, session, maxIdentical)
		if err != nil {
			return err
		}
		for _, other := range others {
			if err := s.addPair(ctx, tx, exam, o.id, other, CopyBySHA256, 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// RecordFingerprint stores the fingerprint of an answer's recording (the
// bridge to the speech scorer calls it with the machine result, before
// RecordMachineScore) and compares it with the fingerprints stored for
// the same exam and prompt (copyGroup): other candidates' answers whose
// lengths are within a factor of two, those of the same site first, then
// the closest in length, at most Config.MaxCopyCompare of them. Each match
// is a pair. Comparing again (a repeated result) finds nothing new.
func (s *Service) RecordFingerprint(ctx context.Context, answerID int64, fp string) error {
	if len(fp) > MaxFingerprint {
		s.log.Warn("fingerprint too long: not stored", "answer", answerID, "bytes", len(fp))
		return nil
	}
	var exam, number, site, session, variant, item, group string
	var dur int64
	var silent bool
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		err := tx.QueryRow(ctx, `SELECT exam, number, site, session, variant, item, duration_ms, silent, copy_group FROM exam_marking_answers WHERE id = ?`,
			answerID).Scan(&exam, &number, &site, &session, &variant, &item, &dur, &silent, &group)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.NotFound, "err.not_found")
		}
		if err != nil {
			return err
		}
		if group == "" {
			// Answers taken in before copy detection: the group from the paper.
			if cat, err := s.catalog(); err == nil {
				if pp, err := cat.SessionPaper(ctx, exam, session, variant); err == nil {
					if it, ok := pp.Item(item); ok {
						group = copyGroup(it)
					}
				}
			}
		}
		_, err = tx.Exec(ctx, "UPDATE exam_marking_answers SET fingerprint = ?, copy_group = ? WHERE id = ?", fp, group, answerID)
		return err
	})
	m := s.matcher()
	if err != nil || m == nil || fp == "" || group == "" || silent {
		return err
	}
	// Who to compare with: light rows first, the fingerprints in batches.
	type cand struct {
		id   int64
		same bool
		dist int64
	}
	known := map[int64]bool{}
	rows, err := s.db.Query(ctx, "SELECT answer_a, answer_b FROM exam_marking_copies WHERE answer_a = ? OR answer_b = ?", answerID, answerID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var a, b int64
		if err := rows.Scan(&a, &b); err != nil {
			rows.Close()
			return err
		}
		known[a], known[b] = true, true
	}
	rows.Close()
	rows, err = s.db.Query(ctx, `SELECT id, site, duration_ms FROM exam_marking_answers WHERE exam = ? AND copy_group = ? AND id <> ? AND number <> ?
		AND fingerprint <> '' AND silent = FALSE LIMIT ?`, exam, group, answerID, number, maxCopyCandidates)
	if err != nil {
		return err
	}
	var cands []cand
	for rows.Next() {
		var c cand
		var osite string
		var odur int64
		if err := rows.Scan(&c.id, &osite, &odur); err != nil {
			rows.Close()
			return err
		}
		// Lengths that differ by more than half cannot be one recording.
		if known[c.id] || (dur > 0 && odur > 0 && (2*min(dur, odur) < max(dur, odur))) {
			continue
		}
		c.same, c.dist = osite == site, max(dur-odur, odur-dur)
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].same != cands[j].same {
			return cands[i].same
		}
		if cands[i].dist != cands[j].dist {
			return cands[i].dist < cands[j].dist
		}
		return cands[i].id < cands[j].id
	})
	if len(cands) > s.cfg.MaxCopyCompare {
		s.log.Warn("copy comparison limited", "answer", answerID, "candidates", len(cands), "compared", s.cfg.MaxCopyCompare)
		cands = cands[:s.cfg.MaxCopyCompare]
	}
	type match struct {
		id  int64
		sim float64
	}
	var found []match
	const batch = 100
	for i := 0; i < len(cands); i += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		part := cands[i:min(i+batch, len(cands))]
		args := make([]any, len(part))
		for j, c := range part {
			args[j] = c.id
		}
		rows, err := s.db.Query(ctx, "SELECT id, fingerprint FROM exam_marking_answers WHERE id IN ("+strings.TrimSuffix(strings.Repeat("?,", len(part)), ",")+")", args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var other string
			if err := rows.Scan(&id, &other); err != nil {
				rows.Close()
				return err
			}
			if sim, same := m.SameRecording(fp, other); same {
				found = append(found, match{id, RoundScore(sim)})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	if len(found) == 0 {
		return nil
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		for _, f := range found {
			if err := s.addPair(ctx, tx, exam, answerID, f.id, CopyByFingerprint, f.sim); err != nil {
				return err
			}
		}
		return nil
	})
}

// CopyAnswer is one answer of a pair, anonymised: the location (site,
// room, seat) only for those who may see it.
type CopyAnswer struct {
	AnswerID int64    `json:"answer_id"`
	Ref      string   `json:"ref"`
	Item     string   `json:"item"`
	ItemType string   `json:"item_type"`
	Stage    string   `json:"stage"`
	Final    *float64 `json:"final,omitempty"`
	Audio    string   `json:"audio"`
	Site     string   `json:"site,omitempty"`
	Room     string   `json:"room,omitempty"`
	Seat     int      `json:"seat,omitempty"`
}

// CopyPair is a pair of possibly copied answers.
type CopyPair struct {
	ID         int64      `json:"id"`
	Method     string     `json:"method"`
	Similarity float64    `json:"similarity"`
	State      string     `json:"state"`
	FoundAt    int64      `json:"found_at"`
	DecidedBy  string     `json:"decided_by,omitempty"`
	DecidedAt  int64      `json:"decided_at,omitempty"`
	Note       string     `json:"note,omitempty"`
	A          CopyAnswer `json:"a"`
	B          CopyAnswer `json:"b"`
}

// Copies lists an exam's pairs (open first, then by similarity) for its
// leaders and for exam staff. Only staff (who see candidates anyway) get
// site, room and seat; a leader who is an examiner sees the anonymised
// references only.
func (s *Service) Copies(ctx context.Context, p *identity.Principal, exam string) ([]CopyPair, error) {
	reveal := isStaff(p)
	if !reveal {
		if err := s.mustLead(ctx, p, exam); err != nil {
			return nil, err
		}
	}
	rows, err := s.db.Query(ctx, `SELECT k.id, k.method, k.similarity, k.state, k.found_at, k.decided_by, k.decided_at, k.note,
		a.id, a.ref, a.item, a.item_type, a.stage, a.final_score, a.site, COALESCE(ca.room, ''), COALESCE(ca.seat, 0),
		b.id, b.ref, b.item, b.item_type, b.stage, b.final_score, b.site, COALESCE(cb.room, ''), COALESCE(cb.seat, 0)
		FROM exam_marking_copies k JOIN exam_marking_answers a ON a.id = k.answer_a JOIN exam_marking_answers b ON b.id = k.answer_b
		LEFT JOIN exam_marking_candidates ca ON ca.exam = a.exam AND ca.number = a.number
		LEFT JOIN exam_marking_candidates cb ON cb.exam = b.exam AND cb.number = b.number
		WHERE k.exam = ? ORDER BY CASE k.state WHEN 'open' THEN 0 ELSE 1 END, k.similarity DESC, k.id LIMIT ?`, exam, maxCopyList)
	if err != nil {
		return nil, err
	}
	out := []CopyPair{}
	var deciders []int64
	for rows.Next() {
		var c CopyPair
		var by int64
		var fa, fb sql.NullFloat64
		if err := rows.Scan(&c.ID, &c.Method, &c.Similarity, &c.State, &c.FoundAt, &by, &c.DecidedAt, &c.Note,
			&c.A.AnswerID, &c.A.Ref, &c.A.Item, &c.A.ItemType, &c.A.Stage, &fa, &c.A.Site, &c.A.Room, &c.A.Seat,
			&c.B.AnswerID, &c.B.Ref, &c.B.Item, &c.B.ItemType, &c.B.Stage, &fb, &c.B.Site, &c.B.Room, &c.B.Seat); err != nil {
			rows.Close()
			return nil, err
		}
		for _, x := range []struct {
			a *CopyAnswer
			f sql.NullFloat64
		}{{&c.A, fa}, {&c.B, fb}} {
			if x.f.Valid {
				v := x.f.Float64
				x.a.Final = &v
			}
			x.a.Audio = "/api/v1/exam/marking/" + exam + "/answers/" + strconv.FormatInt(x.a.AnswerID, 10) + "/audio"
			if !reveal {
				x.a.Site, x.a.Room, x.a.Seat = "", "", 0
			}
		}
		out = append(out, c)
		deciders = append(deciders, by)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, by := range deciders {
		if by == 0 {
			continue
		}
		out[i].DecidedBy = strconv.FormatInt(by, 10)
		if u, err := s.orgs.User(ctx, by); err == nil {
			out[i].DecidedBy = u.DisplayName
		}
	}
	return out, nil
}

// DecideCopy is the leader's decision on an open pair: dismissed (not a
// copy: nothing else changes), or confirmed, when both answers go to the
// leader's decisions, where the leader sets their scores (a score already
// final is changed with the reason recorded); confirmed copies are shown
// in the results and their exports.
func (s *Service) DecideCopy(ctx context.Context, p *identity.Principal, exam string, id int64, confirm bool, note string) error {
	if err := s.mustLead(ctx, p, exam); err != nil {
		return err
	}
	note = strings.TrimSpace(note)
	if len([]rune(note)) > 500 {
		return apperr.Field("note", "marking.err_copy_note")
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		var a, b int64
		var state string
		err := tx.QueryRow(ctx, "SELECT answer_a, answer_b, state FROM exam_marking_copies WHERE id = ? AND exam = ?", id, exam).Scan(&a, &b, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.NotFound, "err.not_found")
		}
		if err != nil {
			return err
		}
		if state != CopyOpen {
			return apperr.New(apperr.Conflict, "marking.err_copy_decided")
		}
		to := CopyDismissed
		if confirm {
			to = CopyConfirmed
		}
		if _, err := tx.Exec(ctx, "UPDATE exam_marking_copies SET state = ?, decided_by = ?, decided_at = ?, note = ? WHERE id = ?",
			to, p.User.ID, s.ms(), note, id); err != nil {
			return err
		}
		if !confirm {
			return nil
		}
		refs := map[int64]string{}
		for _, x := range []int64{a, b} {
			var r string
			if err := tx.QueryRow(ctx, "SELECT ref FROM exam_marking_answers WHERE id = ?", x).Scan(&r); err != nil {
				return err
			}
			refs[x] = r
		}
		for x, other := range map[int64]int64{a: b, b: a} {
			if _, err := tx.Exec(ctx, "UPDATE exam_marking_answers SET stage = ?, leader_reason = ? WHERE id = ? AND stage <> ?",
				StageLeader, cut(fmt.Sprintf("copy: %s", refs[other]), 500), x, StageWaiting); err != nil {
				return err
			}
		}
		return nil
	})
}

// copyRefs returns the references of the answers an answer is paired with
// (open or confirmed pairs).
func copyRefs(ctx context.Context, q db.Querier, answerID int64) ([]string, error) {
	return db.Column[string](ctx, q, `SELECT o.ref FROM exam_marking_copies k JOIN exam_marking_answers o
		ON o.id = CASE WHEN k.answer_a = ? THEN k.answer_b ELSE k.answer_a END
		WHERE (k.answer_a = ? OR k.answer_b = ?) AND k.state <> ? ORDER BY o.id`, answerID, answerID, answerID, CopyDismissed)
}

// confirmedCopies returns, per admission number, the items of exam whose
// answers are in a confirmed pair (number "" for every candidate).
func confirmedCopies(ctx context.Context, q db.Querier, exam, number string) (map[string][]string, error) {
	query := `SELECT a.number, a.item FROM exam_marking_copies k JOIN exam_marking_answers a ON a.id = k.answer_a OR a.id = k.answer_b
		WHERE k.exam = ? AND k.state = ?`
	args := []any{exam, CopyConfirmed}
	if number != "" {
		query += " AND a.number = ?"
		args = append(args, number)
	}
	rows, err := q.Query(ctx, query+" ORDER BY a.number, a.seq", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var n, it string
		if err := rows.Scan(&n, &it); err != nil {
			return nil, err
		}
		if l := out[n]; len(l) == 0 || l[len(l)-1] != it {
			out[n] = append(l, it)
		}
	}
	return out, rows.Err()
}
