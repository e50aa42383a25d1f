package marking

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/paper"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
)

// Limits of intake.
const (
	MaxCandidatesPerPackage = 5000
)

var shaRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

// CodeHashMismatch is the error code of a recording whose bytes do not
// match its name: the site sends it again.
const CodeHashMismatch apperr.Code = "hash_mismatch"

// ErrHashMismatch is returned by ReceiveFile when the bytes do not hash to
// the name they were sent under.
var ErrHashMismatch = errors.New("marking: recording does not match its SHA-256")

// FileReceipt answers one received recording.
type FileReceipt struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ReceiveFile stores one recording sent by a site for a session. The bytes
// must hash to sha; a repeat is answered the same way.
func (s *Service) ReceiveFile(ctx context.Context, p *identity.Principal, site, session, sha string, r io.Reader) (FileReceipt, error) {
	if _, err := s.siteOrg(ctx, p, site); err != nil {
		return FileReceipt{}, err
	}
	if !shaRe.MatchString(sha) {
		return FileReceipt{}, apperr.Field("sha256", "marking.err_bad_hash")
	}
	if session = strings.TrimSpace(session); session == "" || len(session) > 64 {
		return FileReceipt{}, apperr.Field("session", "err.invalid_value")
	}
	info, err := s.blobs.PutLimit(ctx, r, s.cfg.MaxRecording)
	if err != nil {
		if errors.Is(err, blob.ErrTooLarge) {
			return FileReceipt{}, apperr.New(apperr.TooLarge, "err.body_too_large", s.cfg.MaxRecording)
		}
		return FileReceipt{}, fmt.Errorf("store recording: %w", err)
	}
	if info.Key != sha {
		// What arrived is not what was named (cut short or damaged in
		// transit): drop it and ask for it again.
		s.dropUnreferenced(ctx, info.Key)
		return FileReceipt{}, &apperr.Error{Code: CodeHashMismatch, Message: "marking.err_hash_mismatch", Err: ErrHashMismatch}
	}
	_, err = s.db.Exec(ctx, `INSERT INTO exam_marking_files (site, session, sha256, size, received_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (site, session, sha256) DO NOTHING`, site, session, sha, info.Size, s.ms())
	if err != nil {
		return FileReceipt{}, err
	}
	return FileReceipt{SHA256: sha, Size: info.Size}, nil
}

// dropUnreferenced deletes a blob no received recording names.
func (s *Service) dropUnreferenced(ctx context.Context, key string) {
	var n int
	if err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM exam_marking_files WHERE sha256 = ?", key).Scan(&n); err != nil || n > 0 {
		return
	}
	if err := s.blobs.Delete(ctx, key); err != nil {
		s.log.Warn("drop mismatched recording", "key", key, "err", err)
	}
}

// Receipt answers a manifest: whether the center holds every recording it
// lists, and which it lacks.
type Receipt struct {
	Complete bool     `json:"complete"`
	Missing  []string `json:"missing"`
}

type plannedAnswer struct {
	number  string
	variant string
	seq     int
	item    paper.Item
	ans     bundle.Answer
	tol     float64
	paper   string
}

type plannedCandidate struct {
	res  bundle.CandidateResult
	info Candidate
	pp   paper.Paper
}

// ReceiveManifest verifies a signed answer manifest with the site's
// registered key, checks it against the catalogue, and applies it in one
// transaction. A repeat of the same manifest is fine; a different one for
// a package already complete is refused until the center re-opens it.
// When every recording is there, marking starts.
func (s *Service) ReceiveManifest(ctx context.Context, p *identity.Principal, site, session string, signed bundle.Signed) (Receipt, error) {
	if _, err := s.siteOrg(ctx, p, site); err != nil {
		return Receipt{}, err
	}
	cat, err := s.catalog()
	if err != nil {
		return Receipt{}, err
	}
	pub, err := cat.SitePublicKey(ctx, site)
	if err != nil {
		if notFound(err) {
			return Receipt{}, apperr.New(apperr.Invalid, "marking.err_no_site_key", site)
		}
		return Receipt{}, err
	}
	m, err := bundle.Verify(pub, signed)
	if err != nil {
		if errors.Is(err, bundle.ErrSignature) {
			return Receipt{}, apperr.Wrap(apperr.Invalid, err, "marking.err_signature")
		}
		return Receipt{}, apperr.Wrap(apperr.Invalid, err, "marking.err_manifest_format")
	}
	if m.Site != site || m.Session != session {
		return Receipt{}, apperr.New(apperr.Invalid, "marking.err_wrong_package", m.Site, m.Session)
	}
	roster, err := cat.SessionRoster(ctx, m.Exam, site, session)
	if err != nil {
		if notFound(err) {
			return Receipt{}, apperr.New(apperr.Invalid, "marking.err_wrong_package", m.Site, m.Session)
		}
		return Receipt{}, err
	}
	plan, err := s.plan(ctx, cat, m, roster)
	if err != nil {
		return Receipt{}, err
	}
	sum := sha256.Sum256(signed.Manifest)
	mhash := hex.EncodeToString(sum[:])
	var out Receipt
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		var prevHash string
		var complete, reopened bool
		err := tx.QueryRow(ctx, "SELECT manifest_sha256, complete, reopened FROM exam_marking_packages WHERE exam = ? AND site = ? AND session = ?",
			m.Exam, site, session).Scan(&prevHash, &complete, &reopened)
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		switch {
		case exists && prevHash == mhash:
			// The same package again: nothing to apply.
		case exists && complete && !reopened:
			return apperr.New(apperr.Conflict, "marking.err_package_closed")
		default:
			if err := s.apply(ctx, tx, m, plan, roster); err != nil {
				return err
			}
			doc := mustJSON(signed)
			if exists {
				_, err = tx.Exec(ctx, `UPDATE exam_marking_packages SET manifest_sha256 = ?, manifest = ?, key_id = ?, received_at = ?,
					complete = FALSE, completed_at = 0, reopened = FALSE, expected = ? WHERE exam = ? AND site = ? AND session = ?`,
					mhash, doc, signed.KeyID, s.ms(), len(roster), m.Exam, site, session)
			} else {
				_, err = tx.Exec(ctx, `INSERT INTO exam_marking_packages (exam, site, session, manifest_sha256, manifest, key_id, received_at, expected)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, m.Exam, site, session, mhash, doc, signed.KeyID, s.ms(), len(roster))
			}
			if err != nil {
				return err
			}
			complete = false
		}
		missing, err := missingFiles(ctx, tx, site, session, m.Files())
		if err != nil {
			return err
		}
		out = Receipt{Complete: len(missing) == 0, Missing: missing}
		if out.Complete && !complete {
			if _, err := tx.Exec(ctx, "UPDATE exam_marking_packages SET complete = TRUE, completed_at = ? WHERE exam = ? AND site = ? AND session = ?",
				s.ms(), m.Exam, site, session); err != nil {
				return err
			}
			return s.startMarking(ctx, tx, m.Exam, site, session, plan)
		}
		return nil
	})
	if out.Missing == nil {
		out.Missing = []string{}
	}
	return out, err
}

// plan checks every candidate and answer of m against the catalogue.
func (s *Service) plan(ctx context.Context, cat Catalog, m *bundle.AnswerManifest, roster []string) ([]plannedCandidate, error) {
	if len(m.Candidates) > MaxCandidatesPerPackage {
		return nil, apperr.New(apperr.TooLarge, "marking.err_too_many_candidates", MaxCandidatesPerPackage)
	}
	onRoster := map[string]bool{}
	for _, n := range roster {
		onRoster[n] = true
	}
	papers := map[string]paper.Paper{}
	seen := map[string]bool{}
	var out []plannedCandidate
	for _, c := range m.Candidates {
		if !onRoster[c.Number] {
			return nil, apperr.New(apperr.Invalid, "marking.err_unknown_candidate", c.Number)
		}
		if seen[c.Number] {
			return nil, apperr.New(apperr.Invalid, "marking.err_duplicate_candidate", c.Number)
		}
		seen[c.Number] = true
		switch c.Status {
		case bundle.StatusFinished, bundle.StatusAbsent, bundle.StatusAbnormal, bundle.StatusPartial:
		default:
			return nil, apperr.New(apperr.Invalid, "marking.err_bad_status", c.Number)
		}
		info, err := cat.CandidateInfo(ctx, m.Exam, c.Number)
		if err != nil {
			if notFound(err) {
				return nil, apperr.New(apperr.Invalid, "marking.err_unknown_candidate", c.Number)
			}
			return nil, err
		}
		variant := c.Variant
		if variant == "" {
			variant = info.Variant
		}
		pp, ok := papers[variant]
		if !ok {
			pp, err = cat.SessionPaper(ctx, m.Exam, m.Session, variant)
			if err != nil {
				if notFound(err) {
					return nil, apperr.New(apperr.Invalid, "marking.err_unknown_variant", c.Number, variant)
				}
				return nil, err
			}
			papers[variant] = pp
		}
		items := map[string]bool{}
		for _, a := range c.Answers {
			if _, ok := pp.Item(a.Item); !ok || items[a.Item] {
				return nil, apperr.New(apperr.Invalid, "marking.err_unknown_item", c.Number, a.Item)
			}
			items[a.Item] = true
			if a.Recording != "" && !shaRe.MatchString(a.Recording) {
				return nil, apperr.New(apperr.Invalid, "marking.err_bad_recording", c.Number, a.Item)
			}
		}
		c.Variant = variant
		out = append(out, plannedCandidate{res: c, info: info, pp: pp})
	}
	return out, nil
}

// apply writes the candidates and answers of a (new or changed) manifest.
// Answers that did not change keep their marks; changed ones start again.
func (s *Service) apply(ctx context.Context, tx *db.Tx, m *bundle.AnswerManifest, plan []plannedCandidate, roster []string) error {
	set, err := s.settings(ctx, tx, m.Exam)
	if err != nil {
		return err
	}
	now := s.ms()
	for _, pc := range plan {
		c := pc.res
		_, err := tx.Exec(ctx, `INSERT INTO exam_marking_candidates (exam, number, name, school, school_org_id, site, session, room, seat, variant, paper_code, paper_points, status, reason, moves)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (exam, number) DO UPDATE SET name = excluded.name, school = excluded.school, school_org_id = excluded.school_org_id,
				site = excluded.site, session = excluded.session, room = excluded.room, seat = excluded.seat, variant = excluded.variant,
				paper_code = excluded.paper_code, paper_points = excluded.paper_points, status = excluded.status, reason = excluded.reason, moves = excluded.moves`,
			m.Exam, c.Number, pc.info.Name, pc.info.School, pc.info.SchoolOrgID, m.Site, m.Session, c.Room, c.Seat, c.Variant,
			pc.pp.Code, pc.pp.Points(), c.Status, cut(c.Reason, 500), len(c.Moves))
		if err != nil {
			return err
		}
		given := map[string]bundle.Answer{}
		for _, a := range c.Answers {
			given[a.Item] = a
		}
		for seq, it := range pc.pp.Items() {
			a, answered := given[it.ID]
			if !answered && c.Status == bundle.StatusAbsent {
				continue // an absent candidate has no answers to mark
			}
			var id int64
			var oldRec string
			var oldChoice sql.NullInt64
			err := tx.QueryRow(ctx, "SELECT id, recording, choice FROM exam_marking_answers WHERE exam = ? AND number = ? AND item = ?",
				m.Exam, c.Number, it.ID).Scan(&id, &oldRec, &oldChoice)
			exists := err == nil
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			var choice any
			if a.Choice != nil {
				choice = *a.Choice
			}
			tol := it.Rubric.Tolerance
			if tol <= 0 {
				tol = set.Tolerance
			}
			same := exists && oldRec == a.Recording && oldChoice.Valid == (a.Choice != nil) && (a.Choice == nil || int64(*a.Choice) == oldChoice.Int64)
			switch {
			case same:
				continue
			case exists:
				if _, err := tx.Exec(ctx, "DELETE FROM exam_marking_marks WHERE answer_id = ?", id); err != nil {
					return err
				}
				// Pairs found on the old recording no longer hold.
				if _, err := tx.Exec(ctx, "DELETE FROM exam_marking_copies WHERE answer_a = ? OR answer_b = ?", id, id); err != nil {
					return err
				}
				_, err = tx.Exec(ctx, `UPDATE exam_marking_answers SET site = ?, session = ?, variant = ?, paper_code = ?, item_type = ?, seq = ?, max_points = ?,
					tolerance = ?, choice = ?, recording = ?, bytes = ?, duration_ms = ?, speech_ms = ?, silent = ?, stage = ?, marks_needed = 0,
					machine_score = NULL, machine_flags = '', machine_details = '', machine_at = 0, leader_reason = '', copy_group = ?, fingerprint = '' WHERE id = ?`,
					m.Site, m.Session, c.Variant, pc.pp.Code, string(it.Type), seq, it.Points, tol, choice, a.Recording, a.Bytes, a.DurationMs,
					a.SpeechMs, a.Silent, StageWaiting, copyGroup(it), id)
			default:
				_, err = tx.Exec(ctx, `INSERT INTO exam_marking_answers (exam, number, site, session, variant, paper_code, item, item_type, seq, max_points,
					tolerance, choice, recording, bytes, duration_ms, speech_ms, silent, stage, created_at, ref, copy_group)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					m.Exam, c.Number, m.Site, m.Session, c.Variant, pc.pp.Code, it.ID, string(it.Type), seq, it.Points, tol, choice,
					a.Recording, a.Bytes, a.DurationMs, a.SpeechMs, a.Silent, StageWaiting, now, newRef(), copyGroup(it))
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func missingFiles(ctx context.Context, q db.Querier, site, session string, files []string) ([]string, error) {
	stored, err := db.Column[string](ctx, q, "SELECT sha256 FROM exam_marking_files WHERE site = ? AND session = ?", site, session)
	if err != nil {
		return nil, err
	}
	have := make(map[string]bool, len(stored))
	for _, h := range stored {
		have[h] = true
	}
	missing := []string{}
	for _, f := range files {
		if !have[f] {
			missing = append(missing, f)
		}
	}
	return missing, nil
}

// startMarking moves the package's waiting answers into marking: objective
// items and unanswered ones are final at once, spoken ones go to the
// machine scorer (when there is one) or to the examiners.
func (s *Service) startMarking(ctx context.Context, tx *db.Tx, exam, site, session string, plan []plannedCandidate) error {
	set, err := s.settings(ctx, tx, exam)
	if err != nil {
		return err
	}
	papers := map[string]paper.Paper{}
	for _, pc := range plan {
		papers[pc.res.Variant] = pc.pp
	}
	type row struct {
		id              int64
		number, variant string
		item, rec       string
		choice          sql.NullInt64
		flagged         bool
	}
	// Byte-identical recordings of two candidates are found first, so
	// that both answers are routed as flagged.
	if err := s.matchIdentical(ctx, tx, exam, site, session); err != nil {
		return fmt.Errorf("match identical recordings: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT id, number, variant, item, recording, choice, silent FROM exam_marking_answers
		WHERE exam = ? AND site = ? AND session = ? AND stage = ? ORDER BY id`, exam, site, session, StageWaiting)
	if err != nil {
		return err
	}
	var list []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.number, &r.variant, &r.item, &r.rec, &r.choice, &r.flagged); err != nil {
			rows.Close()
			return err
		}
		list = append(list, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	scorer := s.machine()
	for _, r := range list {
		pp, ok := papers[r.variant]
		if !ok {
			return fmt.Errorf("marking: no paper for variant %q", r.variant)
		}
		it, ok := pp.Item(r.item)
		if !ok {
			return fmt.Errorf("marking: item %q not in paper %s", r.item, pp.Code)
		}
		switch {
		case !it.Type.Spoken():
			score := 0.0
			rule := RuleKey
			if !r.choice.Valid {
				rule = RuleNoAnswer
			} else if it.Answer != nil && int64(*it.Answer) == r.choice.Int64 {
				score = it.Points
			}
			if err := s.finalize(ctx, tx, r.id, score, rule, 0, ""); err != nil {
				return err
			}
		case r.rec == "":
			if err := s.finalize(ctx, tx, r.id, 0, RuleNoAnswer, 0, ""); err != nil {
				return err
			}
		case scorer != nil:
			if _, err := tx.Exec(ctx, "UPDATE exam_marking_answers SET stage = ? WHERE id = ?", StageMachine, r.id); err != nil {
				return err
			}
			req := ScoreRequest{AnswerID: r.id, Recording: r.rec, Kind: KindOpen, ReferenceAnswers: it.Rubric.ReferenceAnswers,
				KeyPoints: it.Rubric.KeyPoints, MaxPoints: it.Points}
			if it.Type.ReadsText() {
				req.Kind, req.ReferenceText, req.ReferenceAnswers, req.KeyPoints = KindReadAloud, it.Rubric.ReferenceText, nil, nil
			}
			if err := scorer.Submit(ctx, tx, req); err != nil {
				return fmt.Errorf("request machine score: %w", err)
			}
		default:
			flagged, err := copied(ctx, tx, r.id)
			if err != nil {
				return err
			}
			needed := 1
			if flagged || sampled(exam, r.number, r.item, set.DoubleShare) {
				needed = 2
			}
			if _, err := tx.Exec(ctx, "UPDATE exam_marking_answers SET stage = ?, marks_needed = ? WHERE id = ?", StageHuman, needed, r.id); err != nil {
				return err
			}
		}
	}
	return nil
}

// sampled decides, reproducibly, whether an answer is among the share
// marked twice.
func sampled(exam, number, item string, share float64) bool {
	if share >= 1 {
		return true
	}
	if share <= 0 {
		return false
	}
	h := fnv.New64a()
	h.Write([]byte(exam + "\x00" + number + "\x00" + item))
	return float64(h.Sum64())/math.MaxUint64 < share
}

// RecordMachineScore stores the machine score of an answer (the bridge to
// the speech scorer calls it). Flagged answers (the scorer's flags, or a
// possible copy) and those sampled for calibration go to human double
// marking; the rest are final with the
// machine score. A repeat for an answer already past the machine stage
// only updates the stored machine score.
func (s *Service) RecordMachineScore(ctx context.Context, answerID int64, score float64, flags []string, details []byte) error {
	if math.IsNaN(score) || score < 0 {
		return apperr.New(apperr.Invalid, "marking.err_score_range")
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		var exam, number, item, stage string
		var maxPts float64
		err := tx.QueryRow(ctx, "SELECT exam, number, item, stage, max_points FROM exam_marking_answers WHERE id = ?", answerID).
			Scan(&exam, &number, &item, &stage, &maxPts)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.NotFound, "err.not_found")
		}
		if err != nil {
			return err
		}
		score = RoundScore(math.Min(score, maxPts))
		if len(details) == 0 {
			details = []byte("{}")
		}
		if _, err := tx.Exec(ctx, "UPDATE exam_marking_answers SET machine_score = ?, machine_flags = ?, machine_details = ?, machine_at = ? WHERE id = ?",
			score, cut(strings.Join(flags, ","), 500), cut(string(details), 8000), s.ms(), answerID); err != nil {
			return err
		}
		if stage != StageMachine {
			return nil
		}
		set, err := s.settings(ctx, tx, exam)
		if err != nil {
			return err
		}
		flagged, err := copied(ctx, tx, answerID)
		if err != nil {
			return err
		}
		if len(flags) > 0 || flagged || sampled(exam, number, item, set.DoubleShare) {
			_, err := tx.Exec(ctx, "UPDATE exam_marking_answers SET stage = ?, marks_needed = 2 WHERE id = ?", StageHuman, answerID)
			return err
		}
		return s.finalize(ctx, tx, answerID, score, RuleMachine, 0, "")
	})
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// ReopenPackage lets a site send a changed manifest for a package that
// was complete (answers that change are marked again).
func (s *Service) ReopenPackage(ctx context.Context, exam, site, session string) error {
	res, err := s.db.Exec(ctx, "UPDATE exam_marking_packages SET reopened = TRUE WHERE exam = ? AND site = ? AND session = ?", exam, site, session)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "err.not_found")
	}
	return nil
}

// SiteProgress is one site's intake for an exam session.
type SiteProgress struct {
	Site         string   `json:"site"`
	Session      string   `json:"session"`
	Expected     int      `json:"expected"`
	Received     int      `json:"received"` // candidates reported
	Finished     int      `json:"finished"`
	Absent       int      `json:"absent"`
	Complete     bool     `json:"complete"`
	Reopened     bool     `json:"reopened"`
	ReceivedAt   int64    `json:"received_at"`
	MissingFiles []string `json:"missing_files"`
	Empty        []Flag   `json:"empty"`    // spoken items with no recording
	Silent       []Flag   `json:"silent"`   // recordings with (almost) no speech
	Abnormal     []Flag   `json:"abnormal"` // candidates the site marked abnormal or partial
}

// Flag names one candidate (and item) for review.
type Flag struct {
	Number string `json:"number"`
	Item   string `json:"item,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Completeness lists, per site and session of an exam, what arrived.
func (s *Service) Completeness(ctx context.Context, exam string) ([]SiteProgress, error) {
	var out []SiteProgress
	err := s.db.ReadTx(ctx, func(tx *db.Tx) error {
		rows, err := tx.Query(ctx, `SELECT site, session, expected, complete, reopened, received_at, manifest FROM exam_marking_packages
			WHERE exam = ? ORDER BY session, site`, exam)
		if err != nil {
			return err
		}
		var docs []string
		for rows.Next() {
			var sp SiteProgress
			var doc string
			if err := rows.Scan(&sp.Site, &sp.Session, &sp.Expected, &sp.Complete, &sp.Reopened, &sp.ReceivedAt, &doc); err != nil {
				rows.Close()
				return err
			}
			out = append(out, sp)
			docs = append(docs, doc)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range out {
			sp := &out[i]
			var signed bundle.Signed
			var m bundle.AnswerManifest
			if err := jsonUnmarshal(docs[i], &signed); err != nil {
				return err
			}
			if err := jsonUnmarshal(string(signed.Manifest), &m); err != nil {
				return err
			}
			if sp.MissingFiles, err = missingFiles(ctx, tx, sp.Site, sp.Session, m.Files()); err != nil {
				return err
			}
			sp.Received = len(m.Candidates)
			for _, c := range m.Candidates {
				switch c.Status {
				case bundle.StatusFinished:
					sp.Finished++
				case bundle.StatusAbsent:
					sp.Absent++
				default:
					sp.Abnormal = append(sp.Abnormal, Flag{Number: c.Number, Note: c.Status + " " + c.Reason})
				}
			}
			r2, err := tx.Query(ctx, `SELECT number, item, recording, silent FROM exam_marking_answers WHERE exam = ? AND site = ? AND session = ?
				AND item_type <> ? AND (recording = '' OR silent = TRUE) ORDER BY number, seq`, exam, sp.Site, sp.Session, string(paper.ListenChoose))
			if err != nil {
				return err
			}
			for r2.Next() {
				var f Flag
				var rec string
				var silent bool
				if err := r2.Scan(&f.Number, &f.Item, &rec, &silent); err != nil {
					r2.Close()
					return err
				}
				if rec == "" {
					sp.Empty = append(sp.Empty, f)
				} else {
					sp.Silent = append(sp.Silent, f)
				}
			}
			r2.Close()
			if err := r2.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Exams lists the exams marking has received packages for.
func (s *Service) Exams(ctx context.Context) ([]string, error) {
	out, err := db.Column[string](ctx, s.db, "SELECT DISTINCT exam FROM exam_marking_packages UNION SELECT exam FROM exam_marking_settings ORDER BY 1 LIMIT 200")
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}
