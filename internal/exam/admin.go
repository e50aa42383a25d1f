package exam

import (
	"context"
	"sort"
	"strings"
	"unicode/utf8"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/web"
)

// Exam is one exam (e.g. the year's 中考 listening and speaking test).
type Exam struct {
	ID          int64   `json:"id"`
	Code        string  `json:"code"`
	Title       string  `json:"title"`
	Tolerance   float64 `json:"tolerance"`    // default for items without their own
	DoubleShare float64 `json:"double_share"` // share of answers marked twice (0–1)
	OrgID       int64   `json:"org_id"`
	orgPath     string
	CreatedAt   int64 `json:"created_at"`
}

// Session is a sitting (场次) with its paper variants.
type Session struct {
	ID       int64             `json:"id"`
	ExamID   int64             `json:"exam_id"`
	Code     string            `json:"code"`
	Title    string            `json:"title"`
	StartsAt int64             `json:"starts_at"`
	EndsAt   int64             `json:"ends_at"`
	Papers   map[string]int64  `json:"papers"`      // variant → paper version id
	Codes    map[string]string `json:"paper_codes"` // variant → paper code
}

// Variants lists the session's variants, the spare S last.
func (s Session) Variants() []string {
	var out []string
	for v := range s.Papers {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i] == "S") != (out[j] == "S") {
			return out[j] == "S"
		}
		return out[i] < out[j]
	})
	return out
}

// Regular lists the variants seated candidates take (all but the spare).
func (s Session) Regular() []string {
	var out []string
	for _, v := range s.Variants() {
		if v != "S" {
			out = append(out, v)
		}
	}
	return out
}

// Room is an exam room at a site.
type Room struct {
	ID       int64  `json:"id"`
	ExamID   int64  `json:"exam_id"`
	SiteCode string `json:"site"`
	SiteOrg  int64  `json:"site_org_id"`
	Code     string `json:"code"`
	Name     string `json:"name"`
	Seats    int    `json:"seats"`
	Spare    int    `json:"spare"`
}

// Limits of administration.
const (
	MaxSeats     = 200
	MaxSessions  = 50
	MaxRooms     = 2000
	MaxVariants  = 8
	MaxExamTitle = 100
)

// ExamInput is what a person fills in for an exam.
type ExamInput struct {
	Code        string   `json:"code"`
	Title       string   `json:"title"`
	Tolerance   float64  `json:"tolerance"`
	DoubleShare *float64 `json:"double_share,omitempty"` // default 1 (100%)
	OrgID       int64    `json:"org_id,omitempty"`       // owner (default: the first center the caller administers)
}

const examCols = "id, code, title, tolerance, double_share, org_id, org_path, created_at"

func scanExam(row interface{ Scan(...any) error }) (Exam, error) {
	var e Exam
	err := row.Scan(&e.ID, &e.Code, &e.Title, &e.Tolerance, &e.DoubleShare, &e.OrgID, &e.orgPath, &e.CreatedAt)
	return e, notFoundOr(err)
}

// CanManageExam reports whether p administers the whole exam (its owner
// organisation's subtree).
func CanManageExam(p *identity.Principal, e Exam) bool {
	return p.CanIn(PermAdmin, identity.Org{ID: e.OrgID, Path: e.orgPath})
}

// CreateExam adds an exam owned by a center the caller administers.
func (s *Service) CreateExam(ctx context.Context, p *identity.Principal, in ExamInput) (Exam, error) {
	in.Code, in.Title = strings.TrimSpace(in.Code), strings.TrimSpace(in.Title)
	f := map[string]string{}
	if !validCode(in.Code) {
		f["code"] = "exam.err_code"
	}
	if in.Title == "" {
		f["title"] = "err.required"
	} else if utf8.RuneCountInString(in.Title) > MaxExamTitle {
		f["title"] = "exam.err_title_long"
	}
	share := 1.0
	if in.DoubleShare != nil {
		share = *in.DoubleShare
	}
	if share < 0 || share > 1 {
		f["double_share"] = "exam.err_share"
	}
	if in.Tolerance < 0 || in.Tolerance > 100 {
		f["tolerance"] = "exam.err_tolerance"
	}
	if len(f) > 0 {
		return Exam{}, &apperr.Error{Code: apperr.Invalid, Message: "err.form_has_errors", Fields: f}
	}
	orgs, err := s.ids.Orgs(ctx, identity.OrgFilter{Kinds: []identity.OrgKind{identity.KindCenter}})
	if err != nil {
		return Exam{}, err
	}
	var owner *identity.Org
	for i, o := range orgs {
		if (in.OrgID == 0 || in.OrgID == o.ID) && (p == nil || p.CanIn(PermAdmin, o)) {
			owner = &orgs[i]
			break
		}
	}
	if owner == nil {
		return Exam{}, apperr.New(apperr.Forbidden, "exam.err_not_center")
	}
	now := s.ms()
	id, err := db.InsertID(ctx, s.db, `INSERT INTO exam_exams (code, title, tolerance, double_share, org_id, org_path, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, in.Code, in.Title, in.Tolerance, share, owner.ID, owner.Path, now, now)
	if db.IsUniqueViolation(err) {
		return Exam{}, apperr.Field("code", "exam.err_code_taken")
	} else if err != nil {
		return Exam{}, err
	}
	return s.exam(ctx, id)
}

func (s *Service) exam(ctx context.Context, id int64) (Exam, error) {
	return scanExam(s.db.QueryRow(ctx, "SELECT "+examCols+" FROM exam_exams WHERE id = ?", id))
}

// ExamByCode finds an exam by its code (no access check: internal callers).
func (s *Service) ExamByCode(ctx context.Context, code string) (Exam, error) {
	return scanExam(s.db.QueryRow(ctx, "SELECT "+examCols+" FROM exam_exams WHERE code = ?", code))
}

// ExamView is an exam as p sees it: whole (manager) or by its sites.
type ExamView struct {
	Exam
	Manage bool     `json:"manage"`
	Sites  []string `json:"sites"` // the sites p may see (all when Manage)
}

// ExamFor returns an exam p may see: its manager, or the staff of one of
// its sites (who then see only their sites).
func (s *Service) ExamFor(ctx context.Context, p *identity.Principal, id int64) (ExamView, error) {
	e, err := s.exam(ctx, id)
	if err != nil {
		return ExamView{}, err
	}
	v := ExamView{Exam: e, Manage: CanManageExam(p, e)}
	sites, err := s.examSites(ctx, id)
	if err != nil {
		return v, err
	}
	for _, st := range sites {
		if v.Manage || s.canSite(ctx, p, PermAdmin, st) {
			v.Sites = append(v.Sites, st)
		}
	}
	if !v.Manage && len(v.Sites) == 0 {
		return v, notFound()
	}
	return v, nil
}

// MayManage returns the exam when p manages it, else not found.
func (s *Service) MayManage(ctx context.Context, p *identity.Principal, id int64) (Exam, error) {
	e, err := s.exam(ctx, id)
	if err != nil {
		return e, err
	}
	if p != nil && !CanManageExam(p, e) {
		return e, notFound()
	}
	return e, nil
}

// Exams lists the exams p may see.
func (s *Service) Exams(ctx context.Context, p *identity.Principal) ([]ExamView, error) {
	rows, err := s.db.Query(ctx, "SELECT "+examCols+" FROM exam_exams ORDER BY id DESC LIMIT 500")
	if err != nil {
		return nil, err
	}
	var all []Exam
	for rows.Next() {
		e, err := scanExam(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		all = append(all, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := []ExamView{}
	for _, e := range all {
		if v, err := s.ExamFor(ctx, p, e.ID); err == nil {
			out = append(out, v)
		}
	}
	return out, nil
}

func (s *Service) examSites(ctx context.Context, examID int64) ([]string, error) {
	return db.Column[string](ctx, s.db, "SELECT DISTINCT site_code FROM exam_rooms WHERE exam_id = ? ORDER BY site_code", examID)
}

// siteOrg finds an exam site (an organisation of kind examsite).
func (s *Service) siteOrg(ctx context.Context, code string) (identity.Org, error) {
	o, err := s.ids.OrgByCode(ctx, code)
	if err != nil || o.Kind != identity.KindExamSite {
		return o, notFound()
	}
	return o, nil
}

func (s *Service) canSite(ctx context.Context, p *identity.Principal, perm web.Perm, site string) bool {
	if p == nil {
		return false
	}
	o, err := s.siteOrg(ctx, site)
	return err == nil && p.CanIn(perm, o)
}

// SessionInput is what a person fills in for a session.
type SessionInput struct {
	Code     string            `json:"code"`
	Title    string            `json:"title"`
	StartsAt int64             `json:"starts_at"`
	EndsAt   int64             `json:"ends_at"`
	Papers   map[string]string `json:"papers"` // variant → paper code (its newest published version)
}

// SaveSession adds or replaces a session of an exam (by code).
func (s *Service) SaveSession(ctx context.Context, p *identity.Principal, examID int64, in SessionInput) (Session, error) {
	if _, err := s.MayManage(ctx, p, examID); err != nil {
		return Session{}, err
	}
	in.Code, in.Title = strings.TrimSpace(in.Code), strings.TrimSpace(in.Title)
	f := map[string]string{}
	if !validCode(in.Code) || len(in.Code) > 16 {
		f["code"] = "exam.err_code"
	}
	if in.Title == "" {
		f["title"] = "err.required"
	} else if utf8.RuneCountInString(in.Title) > MaxExamTitle {
		f["title"] = "exam.err_title_long"
	}
	if in.StartsAt <= 0 || in.EndsAt <= in.StartsAt {
		f["ends_at"] = "exam.err_times"
	}
	if len(in.Papers) == 0 || len(in.Papers) > MaxVariants {
		f["papers"] = "exam.err_variants"
	}
	ids := map[string]int64{}
	regular := 0
	for v, code := range in.Papers {
		if len(v) != 1 || v[0] < 'A' || v[0] > 'Z' {
			f["papers"] = "exam.err_variants"
			continue
		}
		if v != "S" {
			regular++
		}
		d, err := s.PublishedPaper(ctx, strings.TrimSpace(code))
		if err != nil {
			f["papers"] = "exam.err_variant_paper"
			continue
		}
		ids[v] = d.ID
	}
	if regular == 0 {
		f["papers"] = "exam.err_variants"
	}
	if len(f) > 0 {
		return Session{}, &apperr.Error{Code: apperr.Invalid, Message: "err.form_has_errors", Fields: f}
	}
	var sid int64
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM exam_sessions WHERE exam_id = ?", examID).Scan(&n); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, "SELECT id FROM exam_sessions WHERE exam_id = ? AND code = ?", examID, in.Code).Scan(&sid)
		if err == nil {
			var released int
			if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM exam_keys WHERE session_id = ? AND released_at > 0", sid).Scan(&released); err != nil {
				return err
			}
			if released > 0 {
				return apperr.New(apperr.Conflict, "exam.err_session_released")
			}
			// A site that downloaded the session holds its papers sealed:
			// other papers would not reach it. Title and times may change.
			same, err := samePapers(ctx, tx, sid, ids)
			if err != nil {
				return err
			}
			if !same {
				site, err := firstSite(ctx, tx, "SELECT site_code FROM exam_session_sites WHERE session_id = ? AND downloaded_at > 0", sid)
				if err != nil {
					return err
				}
				if site != "" {
					return apperr.New(apperr.Conflict, "exam.err_papers_downloaded", site, in.Code)
				}
			}
			if _, err := tx.Exec(ctx, "UPDATE exam_sessions SET title = ?, starts_at = ?, ends_at = ? WHERE id = ?", in.Title, in.StartsAt, in.EndsAt, sid); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "DELETE FROM exam_session_papers WHERE session_id = ?", sid); err != nil {
				return err
			}
		} else if n >= MaxSessions {
			return apperr.New(apperr.TooLarge, "exam.err_too_many", MaxSessions)
		} else if sid, err = db.InsertID(ctx, tx, "INSERT INTO exam_sessions (exam_id, code, title, starts_at, ends_at) VALUES (?, ?, ?, ?, ?)",
			examID, in.Code, in.Title, in.StartsAt, in.EndsAt); err != nil {
			return err
		}
		for v, id := range ids {
			if _, err := tx.Exec(ctx, "INSERT INTO exam_session_papers (session_id, variant, paper_id) VALUES (?, ?, ?)", sid, v, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Session{}, err
	}
	return s.session(ctx, examID, in.Code)
}

// samePapers reports whether session sid has exactly the papers ids
// (variant → paper id).
func samePapers(ctx context.Context, q db.Querier, sid int64, ids map[string]int64) (bool, error) {
	rows, err := q.Query(ctx, "SELECT variant, paper_id FROM exam_session_papers WHERE session_id = ?", sid)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	n := 0
	same := true
	for rows.Next() {
		var v string
		var id int64
		if err := rows.Scan(&v, &id); err != nil {
			return false, err
		}
		n++
		if ids[v] != id {
			same = false
		}
	}
	return same && n == len(ids), rows.Err()
}

// Sessions lists an exam's sessions in time order (no access check).
func (s *Service) Sessions(ctx context.Context, examID int64) ([]Session, error) {
	rows, err := s.db.Query(ctx, "SELECT id, exam_id, code, title, starts_at, ends_at FROM exam_sessions WHERE exam_id = ? ORDER BY starts_at, code", examID)
	if err != nil {
		return nil, err
	}
	var out []Session
	for rows.Next() {
		var x Session
		if err := rows.Scan(&x.ID, &x.ExamID, &x.Code, &x.Title, &x.StartsAt, &x.EndsAt); err != nil {
			rows.Close()
			return nil, err
		}
		x.Papers, x.Codes = map[string]int64{}, map[string]string{}
		out = append(out, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		prow, err := s.db.Query(ctx, `SELECT sp.variant, sp.paper_id, p.code FROM exam_session_papers sp JOIN exam_papers p ON p.id = sp.paper_id
			WHERE sp.session_id = ?`, out[i].ID)
		if err != nil {
			return nil, err
		}
		for prow.Next() {
			var v, code string
			var id int64
			if err := prow.Scan(&v, &id, &code); err != nil {
				prow.Close()
				return nil, err
			}
			out[i].Papers[v], out[i].Codes[v] = id, code
		}
		prow.Close()
		if err := prow.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Service) session(ctx context.Context, examID int64, code string) (Session, error) {
	all, err := s.Sessions(ctx, examID)
	if err != nil {
		return Session{}, err
	}
	for _, x := range all {
		if x.Code == code {
			return x, nil
		}
	}
	return Session{}, notFound()
}

// RoomInput is what a person fills in for a room.
type RoomInput struct {
	Site  string `json:"site"`
	Code  string `json:"code"`
	Name  string `json:"name"`
	Seats int    `json:"seats"`
	Spare int    `json:"spare"`
}

// SaveRoom adds or changes a room of a site (by site and code).
func (s *Service) SaveRoom(ctx context.Context, p *identity.Principal, examID int64, in RoomInput) (Room, error) {
	if _, err := s.MayManage(ctx, p, examID); err != nil {
		return Room{}, err
	}
	in.Site, in.Code, in.Name = strings.TrimSpace(in.Site), strings.TrimSpace(in.Code), strings.TrimSpace(in.Name)
	f := map[string]string{}
	site, err := s.siteOrg(ctx, in.Site)
	if err != nil {
		f["site"] = "exam.err_site"
	}
	if !validCode(in.Code) || len(in.Code) > 16 {
		f["code"] = "exam.err_code"
	}
	if in.Name == "" {
		in.Name = "第" + in.Code + "考场"
	}
	if utf8.RuneCountInString(in.Name) > 50 {
		f["name"] = "exam.err_title_long"
	}
	if in.Seats < 1 || in.Seats > MaxSeats {
		f["seats"] = "exam.err_seats"
	}
	if in.Spare < 0 || in.Spare > 50 {
		f["spare"] = "exam.err_seats"
	}
	if len(f) > 0 {
		return Room{}, &apperr.Error{Code: apperr.Invalid, Message: "err.form_has_errors", Fields: f}
	}
	var n int
	if err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM exam_rooms WHERE exam_id = ?", examID).Scan(&n); err != nil {
		return Room{}, err
	}
	if n >= MaxRooms {
		return Room{}, apperr.New(apperr.TooLarge, "exam.err_too_many", MaxRooms)
	}
	_, err = s.db.Exec(ctx, `INSERT INTO exam_rooms (exam_id, site_code, site_org_id, code, name, seats, spare) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (exam_id, site_code, code) DO UPDATE SET name = excluded.name, seats = excluded.seats, spare = excluded.spare`,
		examID, site.Code, site.ID, in.Code, in.Name, in.Seats, in.Spare)
	if err != nil {
		return Room{}, err
	}
	rs, err := s.Rooms(ctx, examID, site.Code)
	if err != nil {
		return Room{}, err
	}
	for _, r := range rs {
		if r.Code == in.Code {
			return r, nil
		}
	}
	return Room{}, notFound()
}

// Rooms lists an exam's rooms, of one site or all ("").
func (s *Service) Rooms(ctx context.Context, examID int64, site string) ([]Room, error) {
	q := "SELECT id, exam_id, site_code, site_org_id, code, name, seats, spare FROM exam_rooms WHERE exam_id = ?"
	args := []any{examID}
	if site != "" {
		q += " AND site_code = ?"
		args = append(args, site)
	}
	rows, err := s.db.Query(ctx, q+" ORDER BY site_code, code", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Room
	for rows.Next() {
		var r Room
		if err := rows.Scan(&r.ID, &r.ExamID, &r.SiteCode, &r.SiteOrg, &r.Code, &r.Name, &r.Seats, &r.Spare); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SeesSite reports whether the view includes a site.
func (v ExamView) SeesSite(site string) bool {
	if v.Manage {
		return true
	}
	for _, s := range v.Sites {
		if s == site {
			return true
		}
	}
	return false
}

// MaySeePhoto reports whether p may see a candidate photo: a manager of
// the candidate's exam, or staff of the site where the candidate sits.
func (s *Service) MaySeePhoto(ctx context.Context, p *identity.Principal, sha string) bool {
	rows, err := s.db.Query(ctx, "SELECT exam_id, site_code FROM exam_candidates WHERE photo = ? LIMIT 20", sha)
	if err != nil {
		return false
	}
	type hit struct {
		exam int64
		site string
	}
	var hs []hit
	for rows.Next() {
		var x hit
		if rows.Scan(&x.exam, &x.site) == nil {
			hs = append(hs, x)
		}
	}
	rows.Close()
	for _, x := range hs {
		if v, err := s.ExamFor(ctx, p, x.exam); err == nil && (v.Manage || (x.site != "" && v.SeesSite(x.site))) {
			return true
		}
	}
	return false
}

// SharePct is the double-marking share in percent.
func (e Exam) SharePct() float64 { return e.DoubleShare * 100 }
