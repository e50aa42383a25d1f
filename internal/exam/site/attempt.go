package site

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"jnedu/internal/exam/paper"
	"jnedu/internal/platform/db"
)

// Attempt states.
const (
	StateSignedIn  = "signed_in"
	StateConfirmed = "confirmed"
	StateReady     = "ready" // device check passed
	StateRunning   = "running"
	StateFinished  = "finished"
	StateAbsent    = "absent"
	StateAbnormal  = "abnormal"
)

// Room states.
const (
	RoomWaiting = "waiting"
	RoomRunning = "running"
	RoomPaused  = "paused"
	RoomEnded   = "ended"
)

// Attempt is one candidate's sitting in one session.
type Attempt struct {
	ID          string `json:"id"`
	Session     string `json:"session"`
	Number      string `json:"number"`
	tokenHash   string
	Device      string `json:"-"`
	Room        string `json:"room"`
	Seat        int    `json:"seat"`
	State       string `json:"state"`
	Reason      string `json:"reason,omitempty"`
	DeviceOK    bool   `json:"device_ok"`
	MovePending bool   `json:"move_pending"`
	Pos         int    `json:"pos"`
	Phase       string `json:"phase"`
	RemainingMs int64  `json:"remaining_ms"`
	LastSeen    int64  `json:"last_seen"`
	CreatedAt   int64  `json:"created_at"`
	FinishedAt  int64  `json:"finished_at"`
}

const attemptCols = `id, session, number, token_hash, device, room, seat, state, reason, device_ok, move_pending,
	pos, phase, remaining_ms, last_seen, created_at, finished_at`

func scanAttempt(row interface{ Scan(...any) error }) (*Attempt, error) {
	var a Attempt
	err := row.Scan(&a.ID, &a.Session, &a.Number, &a.tokenHash, &a.Device, &a.Room, &a.Seat, &a.State, &a.Reason,
		&a.DeviceOK, &a.MovePending, &a.Pos, &a.Phase, &a.RemainingMs, &a.LastSeen, &a.CreatedAt, &a.FinishedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, db.ErrNotFound
	}
	return &a, err
}

func (n *Node) attempt(ctx context.Context, q db.Querier, id string) (*Attempt, error) {
	return scanAttempt(q.QueryRow(ctx, `SELECT `+attemptCols+` FROM examsite_attempts WHERE id = ?`, id))
}

func (n *Node) attemptOf(ctx context.Context, q db.Querier, session, number string) (*Attempt, error) {
	return scanAttempt(q.QueryRow(ctx, `SELECT `+attemptCols+` FROM examsite_attempts WHERE session = ? AND number = ?`, session, number))
}

func newID(nbytes int) string {
	b := make([]byte, nbytes)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newToken() (token, hash string) {
	b := make([]byte, 24)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

func hashToken(t string) string {
	s := sha256.Sum256([]byte(t))
	return hex.EncodeToString(s[:])
}

// SignIn is the candidate's sign-in: admission number and the browser's
// device ID (a random ID the page keeps).
type SignIn struct {
	Number string `json:"number"`
	Device string `json:"device"`
}

// SignedIn answers a sign-in.
type SignedIn struct {
	Attempt string `json:"attempt"`
	Token   string `json:"token"`
}

// SignIn admits a candidate: the same browser signing in again gets a new
// token for the same attempt; another browser is refused while the attempt
// is held, unless a proctor moved the candidate (then the new browser takes
// the attempt over on the seat the proctor chose).
func (n *Node) SignIn(ctx context.Context, in SignIn) (*SignedIn, error) {
	in.Number = strings.TrimSpace(in.Number)
	if in.Number == "" || len(in.Number) > 32 {
		return nil, fail(http.StatusBadRequest, "exam.site.number_required")
	}
	if !validID(in.Device) {
		return nil, fail(http.StatusBadRequest, "exam.site.bad_device")
	}
	if n.Package() == nil {
		return nil, fail(http.StatusServiceUnavailable, "exam.site.no_package")
	}
	c, s := n.candidate(in.Number)
	if c == nil {
		return nil, fail(http.StatusNotFound, "exam.site.no_such_number")
	}
	if n.sessionEnded(ctx, s.Code) {
		return nil, fail(http.StatusConflict, "exam.site.session_ended")
	}
	var mark string
	err := n.db.QueryRow(ctx, `SELECT state FROM examsite_marks WHERE session = ? AND number = ?`, s.Code, c.Number).Scan(&mark)
	if err == nil && mark == StateAbsent {
		return nil, fail(http.StatusConflict, "exam.site.marked_absent")
	}
	token, th := newToken()
	out := &SignedIn{Token: token}
	err = n.db.InTx(ctx, func(tx *db.Tx) error {
		a, err := n.attemptOf(ctx, tx, s.Code, c.Number)
		now := n.now()
		if errors.Is(err, db.ErrNotFound) {
			out.Attempt = newID(16)
			_, err = tx.Exec(ctx, `INSERT INTO examsite_attempts (id, session, number, token_hash, device, room, seat, state,
				last_seen, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				out.Attempt, s.Code, c.Number, th, in.Device, c.Room, c.Seat, StateSignedIn, now, now)
			return err
		}
		if err != nil {
			return err
		}
		out.Attempt = a.ID
		switch {
		case a.State == StateFinished:
			return fail(http.StatusConflict, "exam.site.already_finished")
		case a.Device == in.Device:
		case a.MovePending:
		default:
			return fail(http.StatusConflict, "exam.site.signed_in_elsewhere")
		}
		_, err = tx.Exec(ctx, `UPDATE examsite_attempts SET token_hash = ?, device = ?, move_pending = ?, last_seen = ? WHERE id = ?`,
			th, in.Device, false, now, a.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	n.cacheMu.Lock()
	delete(n.holders, out.Attempt)
	n.cacheMu.Unlock()
	n.touch(out.Attempt)
	return out, nil
}

// authChunk is authAttempt for the chunk write path: the holder comes from
// memory (read once from the database).
func (n *Node) authChunk(r *http.Request) (*Attempt, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return nil, fail(http.StatusUnauthorized, "exam.site.no_token")
	}
	id := r.PathValue("attempt")
	n.cacheMu.Lock()
	h, cached := n.holders[id]
	n.cacheMu.Unlock()
	if !cached {
		a, err := n.attempt(r.Context(), n.db, id)
		if errors.Is(err, db.ErrNotFound) {
			return nil, fail(http.StatusForbidden, "exam.site.not_your_attempt")
		}
		if err != nil {
			return nil, err
		}
		h = holder{tokenHash: a.tokenHash, session: a.Session, number: a.Number}
		n.cacheMu.Lock()
		if _, again := n.holders[id]; !again {
			n.holders[id] = h
		}
		n.cacheMu.Unlock()
	}
	if h.tokenHash != hashToken(tok) {
		return nil, fail(http.StatusForbidden, "exam.site.not_your_attempt")
	}
	n.touch(id)
	return &Attempt{ID: id, Session: h.session, Number: h.number}, nil
}

// authAttempt checks the bearer token against the attempt named in the
// path.
func (n *Node) authAttempt(r *http.Request) (*Attempt, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return nil, fail(http.StatusUnauthorized, "exam.site.no_token")
	}
	id := r.PathValue("attempt")
	a, err := n.attempt(r.Context(), n.db, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, fail(http.StatusForbidden, "exam.site.not_your_attempt")
	}
	if err != nil {
		return nil, err
	}
	if a.tokenHash != hashToken(tok) {
		// Another browser took the attempt over (a move), or a forged or
		// stale token: the same answer for all.
		return nil, fail(http.StatusForbidden, "exam.site.not_your_attempt")
	}
	n.touch(a.ID)
	return a, nil
}

func (n *Node) touch(attempt string) {
	n.mu.Lock()
	n.seen[attempt] = n.opt.Now()
	n.mu.Unlock()
}

func (n *Node) lastSeen(attempt string) (int64, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	t, ok := n.seen[attempt]
	return t.UnixMilli(), ok
}

func (n *Node) roomState(ctx context.Context, session, room string) string {
	var st string
	if err := n.db.QueryRow(ctx, `SELECT state FROM examsite_rooms WHERE session = ? AND room = ?`, session, room).Scan(&st); err != nil {
		return RoomWaiting
	}
	return st
}

func (n *Node) sessionEnded(ctx context.Context, session string) bool {
	var at int64
	return n.db.QueryRow(ctx, `SELECT at FROM examsite_sessions_ended WHERE session = ?`, session).Scan(&at) == nil
}

// ItemState is one item of an attempt as the client sees it.
type ItemState struct {
	State   string `json:"state"` // open, closed
	Choice  *int   `json:"choice,omitempty"`
	NextSeq uint32 `json:"next_seq"` // one past the highest stored chunk
}

// AttemptView is what GET /client/api/attempts/{attempt} answers.
type AttemptView struct {
	Attempt   *Attempt             `json:"attempt"`
	Candidate CandidateView        `json:"candidate"`
	Session   SessionView          `json:"session"`
	RoomState string               `json:"room_state"`
	PaperOpen bool                 `json:"paper_open"`
	Item      string               `json:"item,omitempty"` // the current item's ID
	Items     map[string]ItemState `json:"items"`
	Now       int64                `json:"now"`
}

// CandidateView is the candidate as shown for confirmation.
type CandidateView struct {
	Number   string `json:"number"`
	Name     string `json:"name"`
	School   string `json:"school"`
	IDMasked string `json:"id_masked"`
	HasPhoto bool   `json:"has_photo"`
	Room     string `json:"room"`
	Seat     int    `json:"seat"`
}

// SessionView names the session.
type SessionView struct {
	Code     string `json:"code"`
	Title    string `json:"title"`
	Exam     string `json:"exam"`
	StartsAt int64  `json:"starts_at"`
	EndsAt   int64  `json:"ends_at"`
}

func (n *Node) view(ctx context.Context, a *Attempt) (*AttemptView, error) {
	p, s := n.session(a.Session)
	c := n.candidateIn(a.Session, a.Number)
	if s == nil || c == nil {
		return nil, fail(http.StatusNotFound, "exam.site.no_such_number")
	}
	v := &AttemptView{Attempt: a, Now: n.now(), Items: map[string]ItemState{},
		Candidate: CandidateView{Number: c.Number, Name: c.Name, School: c.School, IDMasked: c.IDMasked,
			HasPhoto: c.Photo != "", Room: a.Room, Seat: a.Seat},
		Session:   SessionView{Code: s.Code, Title: s.Title, Exam: p.Exam.Title, StartsAt: s.StartsAt, EndsAt: s.EndsAt},
		RoomState: n.roomState(ctx, a.Session, a.Room)}
	if op := n.paperOf(a.Session, c.Variant); op != nil {
		v.PaperOpen = true
		if a.Pos < len(op.order) {
			it := op.order[a.Pos]
			v.Item = it.ID
			if a.Phase == "answer" && it.Type.Spoken() {
				// The last heartbeat may be up to one beat old: what was
				// recorded bounds the answer time left more tightly.
				recorded := n.chunk.Bytes(a.ID, it.ID) * 1000 / (2 * SampleRate)
				if left := int64(it.AnswerSec)*1000 - recorded; left < a.RemainingMs {
					a.RemainingMs = max(left, 0)
				}
			}
		}
	}
	rows, err := n.db.Query(ctx, `SELECT item, state, choice FROM examsite_items WHERE attempt = ?`, a.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var item, st string
		var choice sql.NullInt64
		if err := rows.Scan(&item, &st, &choice); err != nil {
			return nil, err
		}
		is := ItemState{State: st}
		if choice.Valid {
			c := int(choice.Int64)
			is.Choice = &c
		}
		if seqs := n.chunk.Seqs(a.ID, item); len(seqs) > 0 {
			is.NextSeq = seqs[len(seqs)-1] + 1
		}
		v.Items[item] = is
	}
	return v, rows.Err()
}

// setState moves an attempt forward through sign-in (confirmed, ready).
func (n *Node) setState(ctx context.Context, a *Attempt, to string, deviceOK bool) error {
	if a.State == StateFinished || a.State == StateAbsent || a.State == StateAbnormal {
		return fail(http.StatusConflict, "exam.site.attempt_closed")
	}
	if a.State == StateRunning { // a resumed attempt: nothing to redo
		return nil
	}
	_, err := n.db.Exec(ctx, `UPDATE examsite_attempts SET state = ?, device_ok = (device_ok OR ?) WHERE id = ?`, to, deviceOK, a.ID)
	return err
}

// paperFor returns the candidate's open paper, when the room may see it.
func (n *Node) paperFor(ctx context.Context, a *Attempt) (*openPaper, error) {
	c := n.candidateIn(a.Session, a.Number)
	if c == nil {
		return nil, fail(http.StatusNotFound, "exam.site.no_such_number")
	}
	op := n.paperOf(a.Session, c.Variant)
	if op == nil {
		return nil, fail(http.StatusConflict, "exam.site.paper_sealed")
	}
	if st := n.roomState(ctx, a.Session, a.Room); st == RoomWaiting {
		return nil, fail(http.StatusConflict, "exam.site.room_not_started")
	}
	return op, nil
}

// itemOf finds an item of the candidate's paper (any room state: chunks
// keep arriving after a pause or the end).
func (n *Node) itemOf(a *Attempt, item string) (*openPaper, int, paper.Item, error) {
	c := n.candidateIn(a.Session, a.Number)
	if c == nil {
		return nil, 0, paper.Item{}, fail(http.StatusNotFound, "exam.site.no_such_number")
	}
	op := n.paperOf(a.Session, c.Variant)
	if op == nil {
		return nil, 0, paper.Item{}, fail(http.StatusConflict, "exam.site.paper_sealed")
	}
	i := op.index(item)
	if i < 0 {
		return nil, 0, paper.Item{}, fail(http.StatusNotFound, "exam.site.no_such_item")
	}
	return op, i, op.order[i], nil
}

type itemRow struct {
	state  string
	chunks int
}

// cachedItemRow is itemRow through the cache (the chunk write path).
func (n *Node) cachedItemRow(ctx context.Context, attempt, item string) (*itemRow, error) {
	k := itemKey{attempt, item}
	n.cacheMu.Lock()
	r, ok := n.items[k]
	n.cacheMu.Unlock()
	if ok {
		return &r, nil
	}
	row, err := n.itemRow(ctx, n.db, attempt, item)
	if err != nil || row == nil {
		return row, err
	}
	n.cacheMu.Lock()
	if have, again := n.items[k]; again {
		row = &have // written through meanwhile: that one is newer
	} else {
		n.items[k] = *row
	}
	n.cacheMu.Unlock()
	return row, nil
}

func (n *Node) storeItem(attempt, item string, r itemRow) {
	n.cacheMu.Lock()
	n.items[itemKey{attempt, item}] = r
	n.cacheMu.Unlock()
}

func (n *Node) itemRow(ctx context.Context, q db.Querier, attempt, item string) (*itemRow, error) {
	var r itemRow
	err := q.QueryRow(ctx, `SELECT state, chunks FROM examsite_items WHERE attempt = ? AND item = ?`, attempt, item).Scan(&r.state, &r.chunks)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &r, err
}

// OpenItem moves the candidate to an item. Going back is refused when the
// item's section is no_back; a closed item cannot be reopened.
func (n *Node) OpenItem(ctx context.Context, a *Attempt, item string) error {
	op, i, _, err := n.itemOf(a, item)
	if err != nil {
		return err
	}
	if a.State == StateAbsent || a.State == StateAbnormal {
		return fail(http.StatusConflict, "exam.site.attempt_closed")
	}
	if n.roomState(ctx, a.Session, a.Room) == RoomWaiting {
		return fail(http.StatusConflict, "exam.site.room_not_started")
	}
	opened := false
	err = n.db.InTx(ctx, func(tx *db.Tx) error {
		row, err := n.itemRow(ctx, tx, a.ID, item)
		if err != nil {
			return err
		}
		if row != nil && row.state == "closed" {
			return fail(http.StatusConflict, "exam.site.item_closed")
		}
		opened = row == nil
		if i < a.Pos && op.noBack[i] {
			return fail(http.StatusConflict, "exam.site.no_back")
		}
		if row == nil {
			if _, err := tx.Exec(ctx, `INSERT INTO examsite_items (attempt, item, state, opened_at) VALUES (?, ?, 'open', ?)`,
				a.ID, item, n.now()); err != nil {
				return err
			}
		}
		if i == a.Pos && a.State == StateRunning {
			return nil // reopened (a reload): the position and time stay
		}
		_, err = tx.Exec(ctx, `UPDATE examsite_attempts SET pos = ?, state = ?, phase = '', remaining_ms = 0 WHERE id = ?`, i, StateRunning, a.ID)
		return err
	})
	if err == nil && opened {
		n.cacheMu.Lock()
		if _, ok := n.items[itemKey{a.ID, item}]; !ok {
			n.items[itemKey{a.ID, item}] = itemRow{state: "open", chunks: -1}
		}
		n.cacheMu.Unlock()
	}
	return err
}

// Answer stores an objective item's choice (again with the same choice is
// fine; a change while the item is open replaces it).
func (n *Node) Answer(ctx context.Context, a *Attempt, item string, choice int) error {
	_, _, it, err := n.itemOf(a, item)
	if err != nil {
		return err
	}
	if it.Type != paper.ListenChoose {
		return fail(http.StatusBadRequest, "exam.site.not_objective")
	}
	if choice < 0 || choice >= len(it.Options) {
		return fail(http.StatusBadRequest, "exam.site.bad_choice")
	}
	return n.db.InTx(ctx, func(tx *db.Tx) error {
		row, err := n.itemRow(ctx, tx, a.ID, item)
		if err != nil {
			return err
		}
		if row == nil {
			return fail(http.StatusConflict, "exam.site.item_not_open")
		}
		if row.state == "closed" {
			var have sql.NullInt64
			tx.QueryRow(ctx, `SELECT choice FROM examsite_items WHERE attempt = ? AND item = ?`, a.ID, item).Scan(&have)
			if have.Valid && int(have.Int64) == choice {
				return nil // a resend of what was stored
			}
			return fail(http.StatusConflict, "exam.site.item_closed")
		}
		_, err = tx.Exec(ctx, `UPDATE examsite_items SET choice = ? WHERE attempt = ? AND item = ?`, choice, a.ID, item)
		return err
	})
}

// PutChunk stores one chunk of a spoken answer. It returns only once the
// chunk is durable.
func (n *Node) PutChunk(ctx context.Context, a *Attempt, item string, seq uint32, data []byte) error {
	_, _, it, err := n.itemOf(a, item)
	if err != nil {
		return err
	}
	if !it.Type.Spoken() {
		return fail(http.StatusBadRequest, "exam.site.not_spoken")
	}
	if len(data)%2 != 0 {
		return fail(http.StatusBadRequest, "exam.site.bad_pcm")
	}
	row, err := n.cachedItemRow(ctx, a.ID, item)
	if err != nil {
		return err
	}
	k := ChunkKey{Attempt: a.ID, Item: item, Seq: seq}
	if row != nil && row.state == "closed" {
		// A resend of a stored chunk is still answered; a chunk recorded
		// before the close (seq below the final count) that was still
		// queued fills its gap; anything later is refused.
		if !n.chunk.Has(k) && (row.chunks < 0 || int64(seq) >= int64(row.chunks)) {
			return fail(http.StatusConflict, "exam.site.item_closed")
		}
	}
	if row == nil {
		// Chunks may overtake a lost open: the item opens implicitly.
		full, err := n.attempt(ctx, n.db, a.ID)
		if err != nil {
			return err
		}
		if err := n.OpenItem(ctx, full, item); err != nil {
			return err
		}
	}
	had := n.chunk.Has(k)
	if err := n.chunk.Append(ctx, k, data); err != nil {
		return err
	}
	if row != nil && row.state == "closed" && !had {
		// A late chunk filled a gap: assemble the recording again (and
		// the answer package, when it was already made).
		if err := n.assemble(ctx, a, item, row.chunks, "late"); err != nil {
			n.opt.Log.Error("reassemble after a late chunk", "attempt", a.ID, "item", item, "err", err)
		} else if n.sessionEnded(ctx, a.Session) {
			if err := n.queueUpload(ctx, a.Session); err != nil {
				n.opt.Log.Error("rebuild the answer package after a late chunk", "session", a.Session, "err", err)
			}
		}
	}
	return nil
}

// CloseItem closes an item; for a spoken item chunks is the count the
// client recorded and the recording is assembled now.
func (n *Node) CloseItem(ctx context.Context, a *Attempt, item string, chunks int, by string) error {
	_, _, it, err := n.itemOf(a, item)
	if err != nil {
		return err
	}
	if chunks < 0 || chunks > 1<<20 {
		return fail(http.StatusBadRequest, "exam.site.bad_count")
	}
	n.itemMu.Lock()
	defer n.itemMu.Unlock()
	row, err := n.itemRow(ctx, n.db, a.ID, item)
	if err != nil {
		return err
	}
	if row != nil && row.state == "closed" {
		return nil // idempotent
	}
	if !it.Type.Spoken() {
		chunks = 0
	}
	err = n.db.InTx(ctx, func(tx *db.Tx) error {
		if row == nil {
			_, err := tx.Exec(ctx, `INSERT INTO examsite_items (attempt, item, state, chunks, closed_by, opened_at, closed_at)
				VALUES (?, ?, 'closed', ?, ?, ?, ?)`, a.ID, item, chunks, by, n.now(), n.now())
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE examsite_items SET state = 'closed', chunks = ?, closed_by = ?, closed_at = ?
			WHERE attempt = ? AND item = ?`, chunks, by, n.now(), a.ID, item)
		return err
	})
	if err != nil {
		return err
	}
	n.storeItem(a.ID, item, itemRow{state: "closed", chunks: chunks})
	if it.Type.Spoken() {
		return n.assembleLocked(ctx, a, item, chunks)
	}
	return nil
}

// Heartbeat is what the client reports every few seconds.
type Heartbeat struct {
	Item        string `json:"item"`
	Phase       string `json:"phase"` // prompt, prep, answer, done
	RemainingMs int64  `json:"remaining_ms"`
}

// Beat records the client's position (for resuming after a reload or a
// move): the remaining time of an item phase only ever goes down.
func (n *Node) Beat(ctx context.Context, a *Attempt, hb Heartbeat) error {
	if hb.Item == "" {
		return nil
	}
	_, i, _, err := n.itemOf(a, hb.Item)
	if err != nil {
		return err
	}
	switch hb.Phase {
	case "prompt", "prep", "answer", "done":
	default:
		return fail(http.StatusBadRequest, "exam.site.bad_phase")
	}
	if hb.RemainingMs < 0 {
		hb.RemainingMs = 0
	}
	if i == a.Pos && hb.Phase == a.Phase && hb.RemainingMs > a.RemainingMs && a.RemainingMs > 0 {
		hb.RemainingMs = a.RemainingMs
	}
	if i < a.Pos {
		return nil // a late beat from before the last open
	}
	_, err = n.db.Exec(ctx, `UPDATE examsite_attempts SET pos = ?, phase = ?, remaining_ms = ?, last_seen = ? WHERE id = ?`,
		i, hb.Phase, hb.RemainingMs, n.now(), a.ID)
	return err
}

// Finish ends the attempt: every item not yet closed is closed. Called by
// the client (by "client"), it marks the attempt finished when the client
// closed every item itself; otherwise (the proctor or the session ended it)
// the attempt stays as it was and counts as partial.
func (n *Node) Finish(ctx context.Context, a *Attempt, by string) error {
	if a.State == StateFinished {
		return nil
	}
	c := n.candidateIn(a.Session, a.Number)
	if c == nil {
		return fail(http.StatusNotFound, "exam.site.no_such_number")
	}
	op := n.paperOf(a.Session, c.Variant)
	complete := op != nil
	if op != nil {
		var byClient int
		if err := n.db.QueryRow(ctx, `SELECT COUNT(*) FROM examsite_items WHERE attempt = ? AND state = 'closed' AND closed_by = 'client'`,
			a.ID).Scan(&byClient); err != nil {
			return err
		}
		complete = byClient == len(op.order)
		for _, it := range op.order {
			row, err := n.itemRow(ctx, n.db, a.ID, it.ID)
			if err != nil {
				return err
			}
			if row != nil && row.state == "open" {
				cnt := 0
				if seqs := n.chunk.Seqs(a.ID, it.ID); len(seqs) > 0 {
					cnt = int(seqs[len(seqs)-1]) + 1
				}
				if err := n.CloseItem(ctx, a, it.ID, cnt, by); err != nil {
					return err
				}
			}
		}
	}
	if by != "client" || !complete {
		return nil // ended under the candidate: partial
	}
	_, err := n.db.Exec(ctx, `UPDATE examsite_attempts SET state = ?, finished_at = ? WHERE id = ? AND state NOT IN ('absent', 'abnormal')`,
		StateFinished, n.now(), a.ID)
	return err
}
