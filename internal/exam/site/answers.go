package site

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/paper"
	"jnedu/internal/platform/db"
)

// BuildManifest lists every candidate of the session with their status,
// moves and answers.
func (n *Node) BuildManifest(ctx context.Context, session string) (*bundle.AnswerManifest, error) {
	p, s := n.session(session)
	if p == nil {
		return nil, ErrNoPackage
	}
	if s == nil {
		return nil, fail(http.StatusNotFound, "exam.site.no_such_session", session)
	}
	m := &bundle.AnswerManifest{Format: bundle.Format, Exam: p.Exam.Code, Site: p.Site.Code, Session: session, CreatedAt: n.now()}
	marks := n.marks(ctx, session)
	for _, c := range p.Candidates {
		if c.Session != session {
			continue
		}
		cr := bundle.CandidateResult{Number: c.Number, Variant: c.Variant, Room: c.Room, Seat: c.Seat, Answers: []bundle.Answer{}}
		a, err := n.attemptOf(ctx, n.db, session, c.Number)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return nil, err
		}
		if a == nil {
			cr.Status = bundle.StatusAbsent
			if mk, ok := marks[c.Number]; ok && mk[0] == StateAbnormal {
				cr.Status, cr.Reason = bundle.StatusAbnormal, mk[1]
			}
			m.Candidates = append(m.Candidates, cr)
			continue
		}
		cr.Room, cr.Seat = a.Room, a.Seat
		switch a.State {
		case StateFinished:
			cr.Status = bundle.StatusFinished
		case StateAbnormal:
			cr.Status, cr.Reason = bundle.StatusAbnormal, a.Reason
		case StateAbsent:
			cr.Status = bundle.StatusAbsent
		case StateSignedIn, StateConfirmed, StateReady:
			cr.Status = bundle.StatusAbsent // signed in but never started an item
			cr.Reason = "signed in, did not start"
		default:
			cr.Status = bundle.StatusPartial
		}
		if cr.Moves, err = n.moves(ctx, a.ID); err != nil {
			return nil, err
		}
		recs, err := n.Recordings(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		choices, err := n.choices(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		var order []paper.Item
		if op := n.paperOf(session, c.Variant); op != nil {
			order = op.order
		}
		for _, it := range order {
			ans := bundle.Answer{Item: it.ID}
			if it.Type == paper.ListenChoose {
				if ch, ok := choices[it.ID]; ok {
					ans.Choice = &ch
				}
			} else if r, ok := recs[it.ID]; ok {
				ans.Recording, ans.Bytes, ans.DurationMs = r.SHA256, r.Bytes, r.DurationMs
				ans.SpeechMs, ans.Silent, ans.Chunks = r.SpeechMs, r.Silent, r.Chunks
			}
			cr.Answers = append(cr.Answers, ans)
		}
		m.Candidates = append(m.Candidates, cr)
	}
	sort.Slice(m.Candidates, func(i, j int) bool { return m.Candidates[i].Number < m.Candidates[j].Number })
	return m, nil
}

func (n *Node) moves(ctx context.Context, attempt string) ([]bundle.Move, error) {
	rows, err := n.db.Query(ctx, `SELECT at, from_seat, to_seat, item, reason FROM examsite_moves WHERE attempt = ? ORDER BY at`, attempt)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bundle.Move
	for rows.Next() {
		var mv bundle.Move
		if err := rows.Scan(&mv.At, &mv.From, &mv.To, &mv.Item, &mv.Reason); err != nil {
			return nil, err
		}
		out = append(out, mv)
	}
	return out, rows.Err()
}

func (n *Node) choices(ctx context.Context, attempt string) (map[string]int, error) {
	rows, err := n.db.Query(ctx, `SELECT item, choice FROM examsite_items WHERE attempt = ? AND choice IS NOT NULL`, attempt)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var item string
		var c sql.NullInt64
		if err := rows.Scan(&item, &c); err != nil {
			return nil, err
		}
		out[item] = int(c.Int64)
	}
	return out, rows.Err()
}

// EndSession ends a session: every room ends, every open item is closed
// and assembled, and the signed answer package is queued for sending.
func (n *Node) EndSession(ctx context.Context, session, by string) error {
	p, s := n.session(session)
	if p == nil {
		return ErrNoPackage
	}
	if s == nil {
		return fail(http.StatusNotFound, "exam.site.no_such_session", session)
	}
	if _, err := n.db.Exec(ctx, `INSERT INTO examsite_sessions_ended (session, at, by_user) VALUES (?, ?, ?)
		ON CONFLICT (session) DO NOTHING`, session, n.now(), by); err != nil {
		return err
	}
	for _, r := range p.Rooms {
		if _, err := n.db.Exec(ctx, `INSERT INTO examsite_rooms (session, room, state, changed_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (session, room) DO UPDATE SET state = excluded.state, changed_at = excluded.changed_at`,
			session, r.Code, RoomEnded, n.now()); err != nil {
			return err
		}
	}
	if err := n.endAttempts(ctx, session, ""); err != nil {
		return err
	}
	return n.queueUpload(ctx, session)
}

// queueUpload builds, signs and stores the answer package (again: a late
// chunk may have changed a recording).
func (n *Node) queueUpload(ctx context.Context, session string) error {
	m, err := n.BuildManifest(ctx, session)
	if err != nil {
		return err
	}
	signed, err := bundle.Sign(n.priv, m)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(signed)
	if err != nil {
		return err
	}
	_, err = n.db.Exec(ctx, `INSERT INTO examsite_uploads (session, signed, state, next_at, updated_at) VALUES (?, ?, 'sending', 0, ?)
		ON CONFLICT (session) DO UPDATE SET signed = excluded.signed, state = 'sending', next_at = 0, updated_at = excluded.updated_at`,
		session, string(doc), n.now())
	return err
}

// recordingFile finds the WAV file of a recording by its hash.
func (n *Node) recordingFile(ctx context.Context, sum string) (string, error) {
	var attempt, item string
	err := n.db.QueryRow(ctx, `SELECT attempt, item FROM examsite_recordings WHERE sha256 = ? LIMIT 1`, sum).Scan(&attempt, &item)
	if err != nil {
		return "", fmt.Errorf("recording %s: %w", sum, err)
	}
	return n.recordingPath(attempt, item), nil
}

// Export writes a session's answer package to a folder (a removable
// disk): DIR/signed.json (the signed manifest) and DIR/files/<sha256>
// for every recording, each synced.
func (n *Node) Export(ctx context.Context, session, dir string) (*bundle.AnswerManifest, error) {
	var doc string
	err := n.db.QueryRow(ctx, `SELECT signed FROM examsite_uploads WHERE session = ?`, session).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		if _, s := n.session(session); s == nil {
			return nil, fail(http.StatusNotFound, "exam.site.no_such_session", session)
		}
		if err := n.queueUpload(ctx, session); err != nil {
			return nil, err
		}
		err = n.db.QueryRow(ctx, `SELECT signed FROM examsite_uploads WHERE session = ?`, session).Scan(&doc)
	}
	if err != nil {
		return nil, err
	}
	var signed bundle.Signed
	if err := json.Unmarshal([]byte(doc), &signed); err != nil {
		return nil, err
	}
	m, err := bundle.Verify(n.PublicKey(), signed)
	if err != nil {
		return nil, err
	}
	for _, sum := range m.Files() {
		path, err := n.recordingFile(ctx, sum)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := writeFileSync(OSFS{}, filepath.Join(dir, "files", sum), b, 0o644); err != nil {
			return nil, err
		}
	}
	if err := writeFileSync(OSFS{}, filepath.Join(dir, "signed.json"), []byte(doc), 0o644); err != nil {
		return nil, err
	}
	return m, nil
}
