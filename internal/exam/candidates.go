package exam

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/tabular"
)

// Candidate is a candidate as every view shows it: the ID-card number
// masked.
type Candidate struct {
	ID          int64  `json:"id"`
	ExamID      int64  `json:"exam_id"`
	Number      string `json:"number"`
	Name        string `json:"name"`
	School      string `json:"school"`
	SchoolOrgID int64  `json:"school_org_id,omitempty"`
	IDMasked    string `json:"id_masked"`
	PhotoName   string `json:"photo_name,omitempty"`
	Photo       string `json:"photo,omitempty"`
	Site        string `json:"site,omitempty"`
	Session     string `json:"session,omitempty"`
	Room        string `json:"room,omitempty"`
	Seat        int    `json:"seat,omitempty"`
	Variant     string `json:"variant,omitempty"`
	wantSite    string
	wantSession string
	idHash      string
}

const candCols = "id, exam_id, number, name, school, school_org_id, id_masked, photo_name, photo, site_code, session_code, room_code, seat, variant, want_site, want_session, id_hash"

func scanCandidate(row interface{ Scan(...any) error }) (Candidate, error) {
	var c Candidate
	err := row.Scan(&c.ID, &c.ExamID, &c.Number, &c.Name, &c.School, &c.SchoolOrgID, &c.IDMasked, &c.PhotoName, &c.Photo,
		&c.Site, &c.Session, &c.Room, &c.Seat, &c.Variant, &c.wantSite, &c.wantSession, &c.idHash)
	return c, notFoundOr(err)
}

// CandidateFilter selects candidates.
type CandidateFilter struct {
	Site, Session, Room string
	Limit               int
}

// Candidates lists an exam's candidates in seat order (no access check).
func (s *Service) Candidates(ctx context.Context, examID int64, f CandidateFilter) ([]Candidate, error) {
	q := "SELECT " + candCols + " FROM exam_candidates WHERE exam_id = ?"
	args := []any{examID}
	for col, v := range map[string]string{"site_code": f.Site, "session_code": f.Session, "room_code": f.Room} {
		if v != "" {
			q += " AND " + col + " = ?"
			args = append(args, v)
		}
	}
	if f.Limit <= 0 || f.Limit > MaxCandidates {
		f.Limit = MaxCandidates
	}
	rows, err := s.db.Query(ctx, q+fmt.Sprintf(" ORDER BY session_code, site_code, room_code, seat, number LIMIT %d", f.Limit), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Candidate
	for rows.Next() {
		c, err := scanCandidate(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// MaxCandidates bounds one exam's candidates (and one import).
const MaxCandidates = 50_000

var numberRE = regexp.MustCompile(`^[0-9A-Za-z]{4,20}$`)

// ValidIDNumber checks an 18-character resident ID-card number: 17 digits
// and a check character (ISO 7064 MOD 11-2), with a plausible birth date.
func ValidIDNumber(id string) bool {
	if len(id) != 18 {
		return false
	}
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 17; i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
		sum += int(id[i]-'0') * weights[i]
	}
	if "10X98765432"[sum%11] != id[17] {
		return false
	}
	month := (id[10]-'0')*10 + id[11] - '0'
	day := (id[12]-'0')*10 + id[13] - '0'
	year := id[6:8]
	return (year == "19" || year == "20") && month >= 1 && month <= 12 && day >= 1 && day <= 31
}

// MaskID shows the first four and the last four characters of an ID-card
// number: 3701**********1234.
func MaskID(id string) string {
	if len(id) <= 8 {
		return strings.Repeat("*", len(id))
	}
	return id[:4] + strings.Repeat("*", len(id)-8) + id[len(id)-4:]
}

// ImportRow is the report for one line of a candidate import.
type ImportRow struct {
	Line     int      `json:"line"`
	Number   string   `json:"number"`
	Name     string   `json:"name"`
	School   string   `json:"school"`
	IDMasked string   `json:"id_masked"`
	Photo    string   `json:"photo,omitempty"`
	OK       bool     `json:"ok"`
	Errors   []string `json:"errors,omitempty"`
}

// ImportReport says what an import did. Applied is true only when every
// row was valid and all were written together.
type ImportReport struct {
	Total   int         `json:"total"`
	Valid   int         `json:"valid"`
	Invalid int         `json:"invalid"`
	Applied bool        `json:"applied"`
	Rows    []ImportRow `json:"rows"`
}

var candColumns = map[string][]string{
	"number":  {"准考证号", "考号", "admission_number", "number"},
	"name":    {"姓名", "name"},
	"school":  {"学校", "毕业学校", "school"},
	"id":      {"身份证号", "身份证号码", "证件号码", "id_number", "id_card"},
	"photo":   {"照片", "照片文件", "照片文件名", "photo"},
	"site":    {"考点代码", "考点", "site"},
	"session": {"场次", "session"},
}

// ImportCandidates reads a CSV or XLSX file (准考证号, 姓名, 学校, 身份证号,
// optional 照片 file name, optional 考点代码 and 场次) and adds every row in
// one transaction, or none when any row is wrong. T translates messages.
func (s *Service) ImportCandidates(ctx context.Context, p *identity.Principal, examID int64, r io.Reader, filename string,
	lim tabular.Limits, T func(string, ...any) string) (*ImportReport, error) {
	e, err := s.MayManage(ctx, p, examID)
	if err != nil {
		return nil, err
	}
	if lim.MaxRows <= 0 || lim.MaxRows > MaxCandidates {
		lim.MaxRows = MaxCandidates
	}
	rep := &ImportReport{}
	tab, err := tabular.Read(r, filename, lim)
	if err != nil {
		switch {
		case errors.Is(err, tabular.ErrTooLarge):
			return rep, apperr.Wrap(apperr.TooLarge, err, "import.err_too_large", lim.MaxBytes>>20)
		case errors.Is(err, tabular.ErrTooManyRows):
			return rep, apperr.Wrap(apperr.TooLarge, err, "import.err_too_many_rows", lim.MaxRows)
		default:
			return rep, apperr.Wrap(apperr.Invalid, err, "import.err_read", err.Error())
		}
	}
	col := map[string]int{}
	for f, names := range candColumns {
		col[f] = tab.Index(names...)
	}
	var missing []string
	for _, f := range []string{"number", "name", "school", "id"} {
		if col[f] < 0 {
			missing = append(missing, candColumns[f][0])
		}
	}
	if len(missing) > 0 {
		return rep, apperr.New(apperr.Invalid, "import.err_missing_columns", strings.Join(missing, "、"))
	}
	if len(tab.Rows) == 0 {
		return rep, apperr.New(apperr.Invalid, "import.err_empty")
	}
	existing := map[string]bool{}
	old, err := s.Candidates(ctx, examID, CandidateFilter{})
	if err != nil {
		return rep, err
	}
	for _, c := range old {
		existing[c.Number] = true
	}
	sessions, err := s.Sessions(ctx, examID)
	if err != nil {
		return rep, err
	}
	schools, err := s.ids.Orgs(ctx, identity.OrgFilter{Kinds: []identity.OrgKind{identity.KindSchool}})
	if err != nil {
		return rep, err
	}
	schoolID := map[string]int64{}
	for _, o := range schools {
		schoolID[o.Name], schoolID[o.Code] = o.ID, o.ID
	}
	if len(old)+len(tab.Rows) > MaxCandidates {
		return rep, apperr.New(apperr.TooLarge, "import.err_too_many_rows", MaxCandidates)
	}
	seen := map[string]int{}
	type row struct {
		c  Candidate
		id string
	}
	var rows []row
	for _, tr := range tab.Rows {
		get := func(f string) string { return strings.TrimSpace(tr.Cell(col[f])) }
		c := Candidate{ExamID: examID, Number: strings.ToUpper(get("number")), Name: get("name"), School: get("school"),
			PhotoName: path.Base(strings.ReplaceAll(get("photo"), `\`, "/")), wantSite: get("site"), wantSession: get("session")}
		if get("photo") == "" {
			c.PhotoName = ""
		}
		id := strings.ToUpper(strings.ReplaceAll(get("id"), " ", ""))
		ir := ImportRow{Line: tr.Line, Number: c.Number, Name: c.Name, School: c.School, Photo: c.PhotoName}
		if ValidIDNumber(id) {
			ir.IDMasked = MaskID(id)
		}
		bad := func(key string, args ...any) { ir.Errors = append(ir.Errors, T(key, args...)) }
		switch {
		case c.Number == "":
			bad("exam.imp_number_required")
		case !numberRE.MatchString(c.Number):
			bad("exam.imp_number_bad")
		case existing[c.Number]:
			bad("exam.imp_number_exists")
		case seen[c.Number] > 0:
			bad("exam.imp_number_dup", seen[c.Number])
		}
		if c.Number != "" {
			if _, ok := seen[c.Number]; !ok {
				seen[c.Number] = tr.Line
			}
		}
		if c.Name == "" {
			bad("exam.imp_name_required")
		} else if utf8.RuneCountInString(c.Name) > 50 {
			bad("exam.imp_name_long")
		}
		if c.School == "" {
			bad("exam.imp_school_required")
		} else if utf8.RuneCountInString(c.School) > 100 {
			bad("exam.imp_name_long")
		}
		c.SchoolOrgID = schoolID[c.School]
		if !ValidIDNumber(id) {
			bad("exam.imp_id_bad")
		}
		if c.wantSite != "" {
			if _, err := s.siteOrg(ctx, c.wantSite); err != nil {
				bad("exam.imp_site_unknown", c.wantSite)
			}
		}
		if c.wantSession != "" {
			found := false
			for _, x := range sessions {
				found = found || x.Code == c.wantSession
			}
			if !found {
				bad("exam.imp_session_unknown", c.wantSession)
			}
		}
		ir.OK = len(ir.Errors) == 0
		if ir.OK {
			rep.Valid++
		} else {
			rep.Invalid++
		}
		rep.Rows = append(rep.Rows, ir)
		rows = append(rows, row{c, id})
	}
	rep.Total = len(rows)
	if rep.Invalid > 0 {
		return rep, nil
	}
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		now := s.ms()
		for _, r := range rows {
			enc, err := s.protect([]byte(r.id), fmt.Sprintf("exam-id|%d|%s", e.ID, r.c.Number))
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO exam_candidates (exam_id, number, name, school, school_org_id, id_enc, id_hash, id_masked,
				photo_name, want_site, want_session, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				e.ID, r.c.Number, r.c.Name, r.c.School, r.c.SchoolOrgID, enc, s.idHash(e.ID, r.id), MaskID(r.id),
				r.c.PhotoName, r.c.wantSite, r.c.wantSession, now); err != nil {
				if db.IsUniqueViolation(err) {
					return apperr.New(apperr.Conflict, "exam.imp_number_exists")
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Applied = true
	return rep, nil
}

// Photo limits.
const (
	MaxPhotosZip   = 100 << 20 // uncompressed bytes in one zip
	MaxPhotoFiles  = 5000
	photoNameLimit = 100
)

// PhotoReport says which photos of a zip were matched.
type PhotoReport struct {
	Matched   int      `json:"matched"`
	Unmatched []string `json:"unmatched,omitempty"` // file names with no candidate
	Bad       []string `json:"bad,omitempty"`       // not a JPEG/PNG or too large
}

// ImportPhotos reads a zip of photos named as the import's 照片 column
// (or as the admission number plus .jpg/.png) and attaches them. Every
// photo must be good or none is attached.
func (s *Service) ImportPhotos(ctx context.Context, p *identity.Principal, examID int64, data []byte) (*PhotoReport, error) {
	if _, err := s.MayManage(ctx, p, examID); err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, apperr.Wrap(apperr.Invalid, err, "exam.err_zip")
	}
	if len(zr.File) > MaxPhotoFiles {
		return nil, apperr.New(apperr.TooLarge, "exam.err_zip_files", MaxPhotoFiles)
	}
	cands, err := s.Candidates(ctx, examID, CandidateFilter{})
	if err != nil {
		return nil, err
	}
	byName := map[string]int64{}
	for _, c := range cands {
		if c.PhotoName != "" {
			byName[strings.ToLower(c.PhotoName)] = c.ID
		}
		for _, ext := range []string{".jpg", ".jpeg", ".png"} {
			if _, ok := byName[strings.ToLower(c.Number)+ext]; !ok {
				byName[strings.ToLower(c.Number)+ext] = c.ID
			}
		}
	}
	rep := &PhotoReport{}
	type hit struct {
		id  int64
		sha string
	}
	var hits []hit
	var total uint64
	for _, f := range zr.File {
		if f.FileInfo().IsDir() || strings.HasPrefix(path.Base(f.Name), ".") || strings.Contains(f.Name, "__MACOSX") {
			continue
		}
		name := path.Base(f.Name)
		id, ok := byName[strings.ToLower(name)]
		if !ok {
			rep.Unmatched = append(rep.Unmatched, truncName(name))
			continue
		}
		total += f.UncompressedSize64
		if total > MaxPhotosZip {
			return nil, apperr.New(apperr.TooLarge, "exam.err_zip_large", MaxPhotosZip>>20)
		}
		rc, err := f.Open()
		if err != nil {
			rep.Bad = append(rep.Bad, truncName(name))
			continue
		}
		sha, err := s.putImage(ctx, rc, "photo")
		rc.Close()
		if err != nil {
			rep.Bad = append(rep.Bad, truncName(name))
			continue
		}
		hits = append(hits, hit{id, sha})
	}
	if len(rep.Bad) > 0 {
		return rep, &apperr.Error{Code: apperr.Invalid, Message: "exam.err_photos_bad", Args: []any{strings.Join(rep.Bad, "、")}}
	}
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		for _, h := range hits {
			if _, err := tx.Exec(ctx, "UPDATE exam_candidates SET photo = ? WHERE id = ? AND exam_id = ?", h.sha, h.id, examID); err != nil {
				return err
			}
		}
		return nil
	})
	rep.Matched = len(hits)
	return rep, err
}

// SetPhoto attaches one photo to a candidate of the exam, or replaces the
// one it has (a JPEG or PNG checked as every photo is: see checkPhoto).
// The site package lists the new photo, so its revision moves on.
func (s *Service) SetPhoto(ctx context.Context, p *identity.Principal, examID int64, number string, r io.Reader) (Candidate, error) {
	if _, err := s.MayManage(ctx, p, examID); err != nil {
		return Candidate{}, err
	}
	number = strings.ToUpper(strings.TrimSpace(number))
	c, err := scanCandidate(s.db.QueryRow(ctx, "SELECT "+candCols+" FROM exam_candidates WHERE exam_id = ? AND number = ?", examID, number))
	if apperr.CodeOf(err) == apperr.NotFound {
		return c, apperr.New(apperr.NotFound, "exam.err_no_candidate", truncName(number))
	} else if err != nil {
		return c, err
	}
	sha, err := s.putImage(ctx, r, "photo")
	if err != nil {
		return c, err
	}
	if _, err := s.db.Exec(ctx, "UPDATE exam_candidates SET photo = ? WHERE id = ?", sha, c.ID); err != nil {
		return c, err
	}
	c.Photo = sha
	return c, nil
}

// Candidate returns one candidate of an exam as p may see it: a manager of
// the exam, or staff of the site the candidate is seated at.
func (s *Service) Candidate(ctx context.Context, p *identity.Principal, examID int64, number string) (ExamView, Candidate, error) {
	v, err := s.ExamFor(ctx, p, examID)
	if err != nil {
		return v, Candidate{}, err
	}
	number = strings.ToUpper(strings.TrimSpace(number))
	c, err := scanCandidate(s.db.QueryRow(ctx, "SELECT "+candCols+" FROM exam_candidates WHERE exam_id = ? AND number = ?", examID, number))
	if err != nil {
		return v, c, err
	}
	if !v.Manage && (c.Site == "" || !v.SeesSite(c.Site)) {
		return v, Candidate{}, notFound()
	}
	return v, c, nil
}

func truncName(s string) string {
	if utf8.RuneCountInString(s) > photoNameLimit {
		return string([]rune(s)[:photoNameLimit]) + "…"
	}
	return s
}

// idCheck is what a site node compares at sign-in (see bundle.IDCheck).
func idCheck(exam, number, id string) string { return bundle.IDCheck(exam, number, id) }
