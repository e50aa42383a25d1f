package site

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/web"
)

const staffCookie = "jnedu_site"

type staffKey struct{}

func staffOf(r *http.Request) *bundle.Staff {
	s, _ := r.Context().Value(staffKey{}).(*bundle.Staff)
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	return enc.Encode(v)
}

// checkPassword verifies a password against an argon2id PHC string (the
// verifier the center ships in SitePackage.Staff).
func checkPassword(encoded, pw string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m > 1<<20 || t > 16 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

func (n *Node) staff(username string) *bundle.Staff {
	p := n.Package()
	if p == nil {
		return nil
	}
	for i := range p.Staff {
		if p.Staff[i].Username == username {
			return &p.Staff[i]
		}
	}
	return nil
}

// StaffLogin checks a proctor's password and opens a console session.
func (n *Node) StaffLogin(ctx context.Context, username, password string) (string, error) {
	now := n.opt.Now()
	n.cacheMu.Lock()
	f := n.fails[username]
	n.cacheMu.Unlock()
	if f.until.After(now) {
		return "", fail(http.StatusTooManyRequests, "exam.site.too_many_tries")
	}
	s := n.staff(username)
	if s == nil || !checkPassword(s.PasswordHash, password) {
		// Five wrong passwords in a row lock the name for a minute.
		n.cacheMu.Lock()
		f.count++
		if f.count >= 5 {
			f = failures{until: now.Add(time.Minute)}
		}
		n.fails[username] = f
		n.cacheMu.Unlock()
		return "", fail(http.StatusUnauthorized, "exam.site.bad_login")
	}
	n.cacheMu.Lock()
	delete(n.fails, username)
	n.cacheMu.Unlock()
	tok, th := newToken()
	_, err := n.db.Exec(ctx, `INSERT INTO examsite_staff_sessions (token_hash, username, expires_at) VALUES (?, ?, ?)`,
		th, username, n.opt.Now().Add(14*time.Hour).UnixMilli())
	return tok, err
}

// signedIn is the proctor whose console session the request carries; chief:
// only the chief proctor.
func (n *Node) signedIn(r *http.Request, chief bool) (*bundle.Staff, error) {
	c, err := r.Cookie(staffCookie)
	if err != nil || c.Value == "" {
		return nil, fail(http.StatusUnauthorized, "exam.site.sign_in_first")
	}
	var user string
	var exp int64
	err = n.db.QueryRow(r.Context(), `SELECT username, expires_at FROM examsite_staff_sessions WHERE token_hash = ?`,
		hashToken(c.Value)).Scan(&user, &exp)
	if err != nil || exp < n.now() {
		return nil, fail(http.StatusUnauthorized, "exam.site.sign_in_first")
	}
	s := n.staff(user)
	if s == nil {
		return nil, fail(http.StatusUnauthorized, "exam.site.sign_in_first")
	}
	if chief && !s.Chief {
		return nil, fail(http.StatusForbidden, "exam.site.chief_only")
	}
	return s, nil
}

// proctor and chief are the callers of the console API: any proctor, the
// chief proctor only.
func (n *Node) proctor(r *http.Request) (*bundle.Staff, error) { return n.signedIn(r, false) }
func (n *Node) chief(r *http.Request) (*bundle.Staff, error)   { return n.signedIn(r, true) }

// requireStaff is for console pages: the proctor is in the request's
// context (staffOf).
func (n *Node) requireStaff(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := n.signedIn(r, false)
		if err != nil {
			return err
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), staffKey{}, s)))
	}
}

func (n *Node) consoleRoutes(api, page func(string, handlerFunc)) {
	page("GET /console/login", n.loginPage)
	page("POST /console/login", n.loginPost)
	page("POST /console/logout", n.logout)
	page("GET /console", n.requireStaff(n.consolePage))
	api("GET /console/api/overview", call(n.proctor, n.hOverview))
	api("GET /console/api/rooms/{session}/{room}", call(n.proctor, n.hRoom))
	api("POST /console/api/rooms/{session}/{room}/{action}", call(n.proctor, n.hRoomAction))
	api("POST /console/api/move", call(n.proctor, n.hMove))
	api("POST /console/api/mark", call(n.proctor, n.hMark))
	api("POST /console/api/sessions/{session}/key", call(n.chief, n.hKey))
	api("POST /console/api/sessions/{session}/end", call(n.chief, n.hEnd))
	api("GET /console/api/sessions/{session}/check", call(n.proctor, n.hCheck))
}

func (n *Node) loginPage(w http.ResponseWriter, r *http.Request) error {
	return n.render(w, r, http.StatusOK, "login", map[string]any{})
}

func (n *Node) loginPost(w http.ResponseWriter, r *http.Request) error {
	if err := web.ParseForm(w, r, 16<<10); err != nil {
		return err
	}
	addr := clientAddr(r)
	if d := n.staffGuard.wait(addr); d > 0 {
		retryAfter(w, d)
		return n.render(w, r, http.StatusTooManyRequests, "login", map[string]any{"Error": "exam.site.too_many_logins"})
	}
	tok, err := n.StaffLogin(r.Context(), r.PostFormValue("username"), r.PostFormValue("password"))
	if err != nil {
		e := toErr(err)
		if e.Code == "exam.site.bad_login" && !n.staffGuard.refused(addr) {
			retryAfter(w, staffFailEvery)
			e = fail(http.StatusTooManyRequests, "exam.site.too_many_logins")
		}
		return n.render(w, r, e.Status, "login", map[string]any{"Error": e.Code})
	}
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: 14 * 3600})
	http.Redirect(w, r, "/console", http.StatusSeeOther)
	return nil
}

func (n *Node) logout(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(staffCookie); err == nil {
		n.db.Exec(r.Context(), `DELETE FROM examsite_staff_sessions WHERE token_hash = ?`, hashToken(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: "", Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
	return nil
}

// consoleStrings are the messages console.js shows.
var consoleStrings = []string{"exam.site.st_waiting", "exam.site.st_signed_in", "exam.site.st_confirmed", "exam.site.st_ready",
	"exam.site.st_running", "exam.site.st_finished", "exam.site.st_absent", "exam.site.st_abnormal", "exam.site.st_disconnected",
	"exam.site.st_not_signed_in", "exam.site.room_waiting", "exam.site.room_running", "exam.site.room_paused", "exam.site.room_ended",
	"exam.site.start", "exam.site.pause", "exam.site.resume", "exam.site.end_room", "exam.site.move", "exam.site.mark_absent",
	"exam.site.mark_abnormal", "exam.site.clear_mark", "exam.site.seat", "exam.site.item", "exam.site.reason_prompt",
	"exam.site.no_free_seat", "exam.site.moves", "exam.site.move_from_to", "exam.site.key_loaded", "exam.site.key_missing", "exam.site.enter_key", "exam.site.end_session",
	"exam.site.check", "exam.site.upload_sending", "exam.site.upload_complete", "exam.site.silent", "exam.site.gaps",
	"exam.site.duration", "exam.site.no_recording", "exam.site.confirm_end", "exam.site.device_ok", "exam.site.spare",
	"exam.site.alarm_disk", "exam.site.alarm_disk_low", "exam.site.alarm_write", "exam.site.alarm_db", "exam.site.alarm_upload", "exam.site.done"}

func (n *Node) consolePage(w http.ResponseWriter, r *http.Request) error {
	lang := web.Lang(r.Context())
	strs := map[string]string{}
	for _, k := range consoleStrings {
		strs[k] = n.tr.T(lang, k)
	}
	b, _ := json.Marshal(strs)
	s := staffOf(r)
	return n.render(w, r, http.StatusOK, "console", map[string]any{"Strings": string(b), "Chief": s.Chief, "Name": s.Name})
}

// Overview is the console's top: sessions, rooms and alarms.
type Overview struct {
	Site     string            `json:"site"`
	Exam     string            `json:"exam"`
	Revision int64             `json:"revision"`
	Sessions []SessionOverview `json:"sessions"`
	Rooms    []bundle.Room     `json:"rooms"`
	Alarms   []Alarm           `json:"alarms"`
}

// SessionOverview is one session on the console.
type SessionOverview struct {
	SessionView
	KeyLoaded bool   `json:"key_loaded"`
	Ended     bool   `json:"ended"`
	Upload    string `json:"upload,omitempty"` // sending, complete
	UploadErr string `json:"upload_error,omitempty"`
}

func (n *Node) hOverview(r *http.Request, _ *bundle.Staff, _ *noBody) (any, error) {
	p := n.Package()
	if p == nil {
		return Overview{Alarms: n.Alarms()}, nil
	}
	n.checkDisk()
	o := Overview{Site: p.Site.Name, Exam: p.Exam.Title, Revision: p.Revision, Rooms: p.Rooms, Alarms: n.Alarms()}
	for _, s := range p.Sessions {
		so := SessionOverview{SessionView: SessionView{Code: s.Code, Title: s.Title, Exam: p.Exam.Title, StartsAt: s.StartsAt, EndsAt: s.EndsAt},
			KeyLoaded: n.hasPapers(s.Code), Ended: n.sessionEnded(r.Context(), s.Code)}
		n.db.QueryRow(r.Context(), `SELECT state, last_error FROM examsite_uploads WHERE session = ?`, s.Code).Scan(&so.Upload, &so.UploadErr)
		o.Sessions = append(o.Sessions, so)
	}
	lang := web.Lang(r.Context())
	for i := range o.Alarms {
		o.Alarms[i].Message = n.tr.T(lang, o.Alarms[i].Message)
	}
	return o, nil
}

// Seat is one seat of a room on the console grid.
type Seat struct {
	Seat      int    `json:"seat"`
	Spare     bool   `json:"spare"`
	Number    string `json:"number,omitempty"`
	Name      string `json:"name,omitempty"`
	State     string `json:"state"` // not_signed_in, signed_in, …, absent, abnormal
	Reason    string `json:"reason,omitempty"`
	DeviceOK  bool   `json:"device_ok"`
	Item      int    `json:"item"` // 1-based position, 0 before the first
	ItemID    string `json:"item_id,omitempty"`
	Phase     string `json:"phase,omitempty"`
	Connected bool   `json:"connected"`
}

// RoomView is one room's live grid.
type RoomView struct {
	Session string `json:"session"`
	Room    string `json:"room"`
	Name    string `json:"name"`
	State   string `json:"state"`
	Items   int    `json:"items"`
	Seats   []Seat `json:"seats"`
	Alarms  []Alarm
}

// Room builds a room's grid.
func (n *Node) Room(ctx context.Context, session, room string) (*RoomView, error) {
	p, s := n.session(session)
	if s == nil {
		return nil, fail(http.StatusNotFound, "exam.site.no_such_session", session)
	}
	var rm *bundle.Room
	for i := range p.Rooms {
		if p.Rooms[i].Code == room {
			rm = &p.Rooms[i]
		}
	}
	if rm == nil {
		return nil, fail(http.StatusNotFound, "exam.site.no_such_room", room)
	}
	v := &RoomView{Session: session, Room: room, Name: rm.Name, State: n.roomState(ctx, session, room)}
	bySeat := map[int]*Seat{}
	for i := 1; i <= rm.Seats+rm.Spare; i++ {
		st := &Seat{Seat: i, Spare: i > rm.Seats, State: "empty"}
		bySeat[i] = st
	}
	attempts := map[string]*Attempt{}
	rows, err := n.db.Query(ctx, `SELECT `+attemptCols+` FROM examsite_attempts WHERE session = ? AND room = ?`, session, room)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		attempts[a.Number] = a
	}
	rows.Close()
	marks := n.marks(ctx, session)
	now := n.opt.Now()
	for _, c := range p.Candidates {
		if c.Session != session {
			continue
		}
		a := attempts[c.Number]
		seat := c.Seat
		if a != nil {
			if a.Room != room {
				continue
			}
			seat = a.Seat
		} else if c.Room != room {
			continue
		}
		st := bySeat[seat]
		if st == nil {
			st = &Seat{Seat: seat}
			bySeat[seat] = st
		}
		st.Number, st.Name, st.State = c.Number, c.Name, "not_signed_in"
		if m, ok := marks[c.Number]; ok {
			st.State, st.Reason = m[0], m[1]
		}
		if a != nil {
			st.State, st.DeviceOK, st.Phase = a.State, a.DeviceOK, a.Phase
			if a.Reason != "" {
				st.Reason = a.Reason
			}
			if a.State == StateRunning || a.State == StateFinished {
				st.Item = a.Pos + 1
				if op := n.paperOf(session, c.Variant); op != nil && a.Pos < len(op.order) {
					st.ItemID = op.order[a.Pos].ID
					v.Items = len(op.order)
				}
			}
			if t, ok := n.lastSeen(a.ID); ok {
				st.Connected = now.UnixMilli()-t < n.opt.Offline.Milliseconds()
			}
		}
	}
	for _, st := range bySeat {
		v.Seats = append(v.Seats, *st)
	}
	sort.Slice(v.Seats, func(i, j int) bool { return v.Seats[i].Seat < v.Seats[j].Seat })
	return v, nil
}

func (n *Node) marks(ctx context.Context, session string) map[string][2]string {
	out := map[string][2]string{}
	rows, err := n.db.Query(ctx, `SELECT number, state, reason FROM examsite_marks WHERE session = ?`, session)
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var num, st, reason string
		if rows.Scan(&num, &st, &reason) == nil {
			out[num] = [2]string{st, reason}
		}
	}
	return out
}

func (n *Node) hRoom(r *http.Request, _ *bundle.Staff, _ *noBody) (any, error) {
	return n.Room(r.Context(), r.PathValue("session"), r.PathValue("room"))
}

// SetRoom starts, pauses, resumes or ends a room.
func (n *Node) SetRoom(ctx context.Context, session, room, action string) error {
	if _, err := n.Room(ctx, session, room); err != nil {
		return err
	}
	cur := n.roomState(ctx, session, room)
	var to string
	switch {
	case action == "start" && cur == RoomWaiting:
		if !n.hasPapers(session) {
			return fail(http.StatusConflict, "exam.site.paper_sealed")
		}
		to = RoomRunning
	case action == "pause" && cur == RoomRunning:
		to = RoomPaused
	case action == "resume" && cur == RoomPaused:
		to = RoomRunning
	case action == "end" && cur != RoomEnded:
		to = RoomEnded
	default:
		return fail(http.StatusConflict, "exam.site.bad_room_action", action)
	}
	_, err := n.db.Exec(ctx, `INSERT INTO examsite_rooms (session, room, state, changed_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (session, room) DO UPDATE SET state = excluded.state, changed_at = excluded.changed_at`, session, room, to, n.now())
	if err != nil || to != RoomEnded {
		return err
	}
	return n.endAttempts(ctx, session, room)
}

// endAttempts closes the open items of every attempt in a room (or the
// whole session when room is "").
func (n *Node) endAttempts(ctx context.Context, session, room string) error {
	q := `SELECT ` + attemptCols + ` FROM examsite_attempts WHERE session = ?`
	args := []any{session}
	if room != "" {
		q += ` AND room = ?`
		args = append(args, room)
	}
	rows, err := n.db.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	var list []*Attempt
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			rows.Close()
			return err
		}
		list = append(list, a)
	}
	rows.Close()
	for _, a := range list {
		if err := n.Finish(ctx, a, "proctor"); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) hRoomAction(r *http.Request, _ *bundle.Staff, _ *noBody) (any, error) {
	return nil, n.SetRoom(r.Context(), r.PathValue("session"), r.PathValue("room"), r.PathValue("action"))
}

// Move lets a candidate continue on another seat: the next sign-in from any
// browser takes the attempt over there, from the item they were on. The
// seat must be one of the room's seats (regular or spare) that no other
// candidate holds; the same seat is allowed (a new browser on a repaired
// PC). A reason is required: it goes into the answer manifest.
func (n *Node) Move(ctx context.Context, session, number string, seat int, reason string) error {
	c := n.candidateIn(session, number)
	if c == nil {
		return fail(http.StatusNotFound, "exam.site.no_such_number")
	}
	if reason == "" {
		return fail(http.StatusBadRequest, "exam.site.reason_required")
	}
	if n.sessionEnded(ctx, session) {
		return fail(http.StatusConflict, "exam.site.session_ended")
	}
	return n.db.InTx(ctx, func(tx *db.Tx) error {
		a, err := n.attemptOf(ctx, tx, session, number)
		if errors.Is(err, db.ErrNotFound) {
			return fail(http.StatusConflict, "exam.site.not_signed_in")
		}
		if err != nil {
			return err
		}
		if a.State == StateFinished {
			return fail(http.StatusConflict, "exam.site.already_finished")
		}
		if err := n.seatFree(ctx, tx, session, a, seat); err != nil {
			return err
		}
		item := ""
		if op := n.paperOf(session, c.Variant); op != nil && a.Pos < len(op.order) {
			item = op.order[a.Pos].ID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO examsite_moves (attempt, at, from_seat, to_seat, item, reason) VALUES (?, ?, ?, ?, ?, ?)`,
			a.ID, n.now(), a.Seat, seat, item, reason); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE examsite_attempts SET seat = ?, move_pending = ? WHERE id = ?`, seat, true, a.ID)
		return err
	})
}

// seatFree checks that seat is a seat of a's room that no other candidate
// of the session holds: one signed in there (or moved there), or one
// seated there who has not signed in (marked absent or not: the seat grid
// shows one candidate per seat).
func (n *Node) seatFree(ctx context.Context, q db.Querier, session string, a *Attempt, seat int) error {
	p := n.Package()
	var rm *bundle.Room
	for i := range p.Rooms {
		if p.Rooms[i].Code == a.Room {
			rm = &p.Rooms[i]
		}
	}
	if rm == nil || seat <= 0 || seat > rm.Seats+rm.Spare {
		return fail(http.StatusBadRequest, "exam.site.bad_seat")
	}
	if seat == a.Seat {
		return nil
	}
	held := map[string]bool{} // numbers with an attempt
	rows, err := q.Query(ctx, `SELECT number, room, seat FROM examsite_attempts WHERE session = ?`, session)
	if err != nil {
		return err
	}
	taken := false
	for rows.Next() {
		var num, room string
		var s int
		if err := rows.Scan(&num, &room, &s); err != nil {
			rows.Close()
			return err
		}
		held[num] = true
		if num != a.Number && room == a.Room && s == seat {
			taken = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range p.Candidates {
		if c.Session == session && c.Number != a.Number && !held[c.Number] && c.Room == a.Room && c.Seat == seat {
			taken = true
		}
	}
	if taken {
		return fail(http.StatusConflict, "exam.site.seat_taken", seat)
	}
	return nil
}

type moveRequest struct {
	Session string `json:"session"`
	Number  string `json:"number"`
	Seat    int    `json:"seat"`
	Reason  string `json:"reason"`
}

func (n *Node) hMove(r *http.Request, _ *bundle.Staff, in *moveRequest) (any, error) {
	return nil, n.Move(r.Context(), in.Session, in.Number, in.Seat, limitText(in.Reason))
}

func limitText(s string) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 200 {
		return string(r[:200])
	}
	return s
}

// Mark marks a candidate absent or abnormal (with a reason), or clears it.
func (n *Node) Mark(ctx context.Context, session, number, state, reason string) error {
	if n.candidateIn(session, number) == nil {
		return fail(http.StatusNotFound, "exam.site.no_such_number")
	}
	switch state {
	case StateAbsent, StateAbnormal:
		if state == StateAbnormal && reason == "" {
			return fail(http.StatusBadRequest, "exam.site.reason_required")
		}
	case "clear":
	default:
		return fail(http.StatusBadRequest, "exam.site.bad_mark")
	}
	return n.db.InTx(ctx, func(tx *db.Tx) error {
		a, err := n.attemptOf(ctx, tx, session, number)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		err = nil
		if state == "clear" {
			if _, err := tx.Exec(ctx, `DELETE FROM examsite_marks WHERE session = ? AND number = ?`, session, number); err != nil {
				return err
			}
			if a != nil && (a.State == StateAbnormal || a.State == StateAbsent) {
				_, err = tx.Exec(ctx, `UPDATE examsite_attempts SET state = ?, reason = '' WHERE id = ?`, StateRunning, a.ID)
			}
			return err
		}
		if state == StateAbsent && a != nil && a.State != StateSignedIn {
			return fail(http.StatusConflict, "exam.site.already_sitting")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO examsite_marks (session, number, state, reason, at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (session, number) DO UPDATE SET state = excluded.state, reason = excluded.reason, at = excluded.at`,
			session, number, state, reason, n.now()); err != nil {
			return err
		}
		if a != nil {
			_, err = tx.Exec(ctx, `UPDATE examsite_attempts SET state = ?, reason = ? WHERE id = ?`, state, reason, a.ID)
		}
		return err
	})
}

type markRequest struct {
	Session string `json:"session"`
	Number  string `json:"number"`
	State   string `json:"state"`
	Reason  string `json:"reason"`
}

func (n *Node) hMark(r *http.Request, _ *bundle.Staff, in *markRequest) (any, error) {
	return nil, n.Mark(r.Context(), in.Session, in.Number, in.State, limitText(in.Reason))
}

type keyCode struct {
	Code string `json:"code"`
}

func (n *Node) hKey(r *http.Request, _ *bundle.Staff, in *keyCode) (any, error) {
	return nil, n.SetKeyCode(r.Context(), r.PathValue("session"), in.Code)
}

func (n *Node) hEnd(r *http.Request, s *bundle.Staff, _ *noBody) (any, error) {
	return nil, n.EndSession(r.Context(), r.PathValue("session"), s.Username)
}

// CheckRow is one candidate × item of the end-of-session check.
type CheckRow struct {
	Number     string `json:"number"`
	Name       string `json:"name"`
	Room       string `json:"room"`
	Seat       int    `json:"seat"`
	Status     string `json:"status"`
	Item       string `json:"item"`
	Recorded   bool   `json:"recorded"`
	DurationMs int64  `json:"duration_ms"`
	SpeechMs   int64  `json:"speech_ms"`
	Silent     bool   `json:"silent"`
	Gaps       string `json:"gaps,omitempty"`
}

func (n *Node) hCheck(r *http.Request, _ *bundle.Staff, _ *noBody) (any, error) {
	m, err := n.BuildManifest(r.Context(), r.PathValue("session"))
	if err != nil {
		return nil, err
	}
	p := n.Package()
	names := map[string]string{}
	for _, c := range p.Candidates {
		names[c.Number] = c.Name
	}
	gaps := map[string]string{}
	rows, err := n.db.Query(r.Context(), `SELECT r.sha256, r.gaps FROM examsite_recordings r
		JOIN examsite_attempts a ON a.id = r.attempt WHERE a.session = ? AND r.gaps <> ''`, m.Session)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var sum, g string
		if rows.Scan(&sum, &g) == nil {
			gaps[sum] = g
		}
	}
	rows.Close()
	out := []CheckRow{}
	moves := []CheckMove{}
	for _, c := range m.Candidates {
		for _, mv := range c.Moves {
			moves = append(moves, CheckMove{Number: c.Number, Name: names[c.Number], Room: c.Room, Move: mv})
		}
		op := n.paperOf(m.Session, c.Variant)
		if op == nil {
			continue
		}
		byItem := map[string]bundle.Answer{}
		for _, a := range c.Answers {
			byItem[a.Item] = a
		}
		for _, it := range op.order {
			if !it.Type.Spoken() {
				continue
			}
			a := byItem[it.ID]
			out = append(out, CheckRow{Number: c.Number, Name: names[c.Number], Room: c.Room, Seat: c.Seat, Status: c.Status,
				Item: it.ID, Recorded: a.Recording != "", DurationMs: a.DurationMs, SpeechMs: a.SpeechMs, Silent: a.Silent,
				Gaps: gaps[a.Recording]})
		}
	}
	return map[string]any{"rows": out, "moves": moves}, nil
}

// CheckMove is one move to another seat, as the end-of-session check lists
// it (the answer manifest carries the same).
type CheckMove struct {
	Number string `json:"number"`
	Name   string `json:"name"`
	Room   string `json:"room"`
	bundle.Move
}
