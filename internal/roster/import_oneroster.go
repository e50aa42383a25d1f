package roster

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"path"
	"strings"
	"time"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/tabular"
)

// OneRoster 1.2 CSV binding: a zip of CSV files with a manifest.csv whose
// file.<name> properties say, per file, "bulk" (the complete set: what the
// source had before and is missing now is withdrawn), "delta" (changes
// only; every row has status active|tobedeleted and a dateLastModified) or
// "absent". Mapping to the roster:
//
//	orgs              type school → the identity school whose code is the
//	                  org's identifier (or its sourcedId); others are ignored
//	academicSessions  schoolYear (the year the session ends) → 学年
//	courses           grades and subjects, for classes that lack their own
//	classes           → classes (homeroom = 行政班, scheduled = 教学班)
//	users (+ roles)   role student → students, teacher → teachers (identifier
//	                  = 学籍号/工号, username links an identity user); others skipped
//	demographics      birthDate, sex → the person's birth date and gender
//	enrollments       student and teacher (primary=true in a homeroom = 班主任)
//
// National ID numbers, which OneRoster has no field for, may come in a
// users.csv extension column metadata.idNumber.

const maxZipFiles = 64

// zipHas reports whether a zip holds a file of that base name.
func zipHas(data []byte, name string) bool {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return false
	}
	for _, f := range zr.File {
		if strings.EqualFold(path.Base(f.Name), name) {
			return true
		}
	}
	return false
}

type orFile struct {
	name string
	mode string // bulk or delta
	t    *tabular.Table
}

func (b *batch) readOneRoster(ctx context.Context, data []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return apperr.Wrap(apperr.Invalid, err, "roster.err_zip")
	}
	if len(zr.File) > maxZipFiles {
		return apperr.New(apperr.Invalid, "roster.err_zip")
	}
	budget := b.opt.Limits.MaxBytes * tabular.XLSXExpansion
	files := map[string][]byte{}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		name := strings.ToLower(path.Base(f.Name))
		rc, err := f.Open()
		if err != nil {
			return apperr.Wrap(apperr.Invalid, err, "roster.err_zip")
		}
		raw, err := io.ReadAll(io.LimitReader(rc, budget+1))
		rc.Close()
		if err != nil {
			return apperr.Wrap(apperr.Invalid, err, "roster.err_zip")
		}
		budget -= int64(len(raw))
		if budget < 0 {
			return apperr.New(apperr.TooLarge, "roster.err_too_large", b.opt.Limits.MaxBytes>>20)
		}
		files[name] = raw
	}
	man, ok := files["manifest.csv"]
	if !ok {
		return apperr.New(apperr.Invalid, "roster.err_manifest")
	}
	mt, err := tabular.ReadWith(bytes.NewReader(man), "manifest.csv", tabular.Options{Limits: b.opt.Limits, HeaderLine: 1})
	if err != nil {
		return readError(err, b.opt.Limits)
	}
	props := map[string]string{}
	for _, r := range mt.Rows {
		props[strings.TrimSpace(mt.Get(r, "propertyName"))] = strings.ToLower(strings.TrimSpace(mt.Get(r, "value")))
	}
	if v := props["oneroster.version"]; v != "1.2" && v != "1.1" {
		return apperr.New(apperr.Invalid, "roster.err_manifest_version", v)
	}
	read := map[string]*orFile{}
	rows := 0
	for _, name := range []string{"orgs", "academicSessions", "courses", "classes", "users", "roles", "demographics", "enrollments"} {
		mode := props["file."+name]
		if mode == "" || mode == "absent" {
			continue
		}
		if mode != "bulk" && mode != "delta" {
			b.bad("manifest.csv", 0, "file."+name, "roster.err_manifest_mode", mode)
			continue
		}
		raw, ok := files[strings.ToLower(name)+".csv"]
		if !ok {
			b.bad("manifest.csv", 0, "file."+name, "roster.err_manifest_file", name+".csv")
			continue
		}
		lim := b.opt.Limits
		lim.MaxRows -= rows
		if lim.MaxRows <= 0 {
			return apperr.New(apperr.TooLarge, "roster.err_too_many_rows", b.opt.Limits.MaxRows)
		}
		t, err := tabular.ReadWith(bytes.NewReader(raw), name+".csv", tabular.Options{Limits: lim, HeaderLine: 1})
		if err != nil {
			return readError(err, lim)
		}
		if err := t.Require([]string{"sourcedId"}); err != nil {
			b.bad(name+".csv", 1, "sourcedId", "roster.err_missing_columns", "sourcedId")
			continue
		}
		rows += len(t.Rows)
		read[name] = &orFile{name: name + ".csv", mode: mode, t: t}
		b.rep.Files = append(b.rep.Files, name+".csv ("+mode+")")
	}
	b.rep.Rows = rows
	if f := read["classes"]; f != nil && f.mode == "bulk" {
		b.bulk["classes"] = true
	}
	if f := read["users"]; f != nil && f.mode == "bulk" {
		b.bulk["people"] = true
	}
	if f := read["enrollments"]; f != nil && f.mode == "bulk" {
		b.bulk["enrolments"] = true
	}
	o := &orState{b: b, orgs: map[string]*identity.Org{}, years: map[string]string{}, courses: map[string]orCourse{},
		classes: map[string]*classRec{}, users: map[string]*personRec{}}
	return o.run(ctx, read)
}

type orCourse struct{ grade, subject string }

type orState struct {
	b       *batch
	orgs    map[string]*identity.Org // org sourcedId → school (nil: not a school)
	years   map[string]string        // session sourcedId → 学年
	courses map[string]orCourse
	classes map[string]*classRec
	users   map[string]*personRec
}

// rowStatus reads status and dateLastModified: required in delta files.
func (o *orState) rowStatus(f *orFile, r tabular.Row) (deleted, ok bool) {
	st := strings.ToLower(strings.TrimSpace(f.t.Get(r, "status")))
	mod := strings.TrimSpace(f.t.Get(r, "dateLastModified"))
	if f.mode == "delta" {
		if st != "active" && st != "tobedeleted" {
			o.b.bad(f.name, r.Line, "status", "roster.err_status", st)
			return false, false
		}
		if mod == "" {
			o.b.bad(f.name, r.Line, "dateLastModified", "roster.err_required", "dateLastModified")
			return false, false
		}
	} else if st != "" && st != "active" && st != "tobedeleted" {
		o.b.bad(f.name, r.Line, "status", "roster.err_status", st)
		return false, false
	}
	if mod != "" {
		if _, err := time.Parse(time.RFC3339, mod); err != nil {
			if _, err := time.Parse("2006-01-02", mod); err != nil {
				o.b.bad(f.name, r.Line, "dateLastModified", "roster.err_date", mod)
				return false, false
			}
		}
	}
	return st == "tobedeleted", true
}

// org resolves an org sourcedId to a school: from this file, or from an
// earlier import of the same source.
func (o *orState) org(ctx context.Context, sid string) (*identity.Org, error) {
	if org, ok := o.orgs[sid]; ok {
		return org, nil
	}
	var orgID int64
	err := o.b.s.db.QueryRow(ctx, "SELECT org_id FROM roster_orgs WHERE source = ? AND sourced_id = ?", o.b.source, sid).Scan(&orgID)
	var found *identity.Org
	if err == nil {
		if org, err := o.b.s.dir.Org(ctx, orgID); err == nil {
			found = &org
		}
	}
	o.orgs[sid] = found
	return found, nil
}

func (o *orState) run(ctx context.Context, files map[string]*orFile) error {
	b := o.b
	if f := files["orgs"]; f != nil {
		for _, r := range f.t.Rows {
			sid := f.t.Get(r, "sourcedId")
			if _, ok := o.rowStatus(f, r); !ok {
				continue
			}
			if !strings.EqualFold(f.t.Get(r, "type"), "school") {
				o.orgs[sid] = nil
				b.rep.Skipped++
				continue
			}
			code := f.t.Get(r, "identifier")
			if code == "" {
				code = sid
			}
			org, err := b.school(ctx, code, "")
			if err != nil {
				return err
			}
			if org == nil {
				b.bad(f.name, r.Line, "identifier", "roster.err_school_unknown", code)
				continue
			}
			if !b.checkOrg(f.name, r.Line, *org, "") {
				continue
			}
			o.orgs[sid] = org
			b.orgMaps = append(b.orgMaps, orgMapRec{sid: sid, name: f.t.Get(r, "name"), kind: "school", orgID: org.ID})
		}
	}
	if f := files["academicSessions"]; f != nil {
		for _, r := range f.t.Rows {
			if _, ok := o.rowStatus(f, r); !ok {
				continue
			}
			end := strings.TrimSpace(f.t.Get(r, "schoolYear"))
			y, ok := parseSchoolYear(end)
			if !ok {
				b.bad(f.name, r.Line, "schoolYear", "roster.err_school_year_row", end)
				continue
			}
			// OneRoster's schoolYear is the year the session ends.
			start := y[:4]
			o.years[f.t.Get(r, "sourcedId")] = schoolYearOf(atoi(start) - 1)
		}
	}
	if f := files["courses"]; f != nil {
		for _, r := range f.t.Rows {
			if _, ok := o.rowStatus(f, r); !ok {
				continue
			}
			c := orCourse{}
			c.grade, _ = o.grade(f.t.Get(r, "grades"))
			c.subject = o.subject(f.t.Get(r, "subjects"), f.t.Get(r, "subjectCodes"))
			o.courses[f.t.Get(r, "sourcedId")] = c
		}
	}
	if f := files["classes"]; f != nil {
		for _, r := range f.t.Rows {
			deleted, ok := o.rowStatus(f, r)
			if !ok {
				continue
			}
			sid := f.t.Get(r, "sourcedId")
			c := &classRec{file: f.name, line: r.Line, sid: sid, name: f.t.Get(r, "title"), deleted: deleted, typ: "homeroom"}
			if strings.EqualFold(f.t.Get(r, "classType"), "scheduled") {
				c.typ = "scheduled"
			}
			org, err := o.org(ctx, f.t.Get(r, "schoolSourcedId"))
			if err != nil {
				return err
			}
			if org == nil {
				b.bad(f.name, r.Line, "schoolSourcedId", "roster.err_school_unknown", f.t.Get(r, "schoolSourcedId"))
				continue
			}
			if !b.checkOrg(f.name, r.Line, *org, "") {
				continue
			}
			c.org = *org
			if !deleted && c.name == "" {
				b.bad(f.name, r.Line, "title", "roster.err_required", "title")
				continue
			}
			course := o.courses[f.t.Get(r, "courseSourcedId")]
			if g := f.t.Get(r, "grades"); g != "" {
				gc, ok := o.grade(g)
				if !ok {
					b.bad(f.name, r.Line, "grades", "roster.err_grade", g)
					continue
				}
				c.grade = gc
			} else {
				c.grade = course.grade
			}
			c.subject = o.subject(f.t.Get(r, "subjects"), f.t.Get(r, "subjectCodes"))
			if c.subject == "" {
				c.subject = course.subject
			}
			c.schoolYear = b.opt.SchoolYear
			for _, term := range splitList(f.t.Get(r, "termSourcedIds")) {
				if y, ok := o.years[term]; ok {
					c.schoolYear = y
					break
				}
			}
			if _, dup := b.classBy[sid]; dup {
				b.bad(f.name, r.Line, "sourcedId", "roster.err_duplicate", b.classBy[sid].line)
				continue
			}
			b.addClass(c)
			o.classes[sid] = c
		}
	}
	roles := map[string]string{} // user sourcedId → role, org sourcedId (1.2 roles.csv)
	roleOrg := map[string]string{}
	if f := files["roles"]; f != nil {
		for _, r := range f.t.Rows {
			if deleted, ok := o.rowStatus(f, r); !ok || deleted {
				continue
			}
			u := f.t.Get(r, "userSourcedId")
			if _, done := roles[u]; done && !strings.EqualFold(f.t.Get(r, "roleType"), "primary") {
				continue
			}
			roles[u] = strings.ToLower(f.t.Get(r, "role"))
			roleOrg[u] = f.t.Get(r, "orgSourcedId")
		}
	}
	if f := files["users"]; f != nil {
		for _, r := range f.t.Rows {
			deleted, ok := o.rowStatus(f, r)
			if !ok {
				continue
			}
			sid := f.t.Get(r, "sourcedId")
			role := strings.ToLower(f.t.Get(r, "role"))
			if role == "" {
				role = roles[sid]
			}
			kind := map[string]string{"student": KindStudent, "teacher": KindTeacher}[role]
			if role == "" {
				// A delta may change a user without their roles: the
				// stored person says who they are.
				kind = o.kindInDB(ctx, sid)
			}
			if kind == "" {
				if role == "" {
					b.bad(f.name, r.Line, "role", "roster.err_required", "role")
				} else {
					b.rep.Skipped++
				}
				continue
			}
			p := &personRec{file: f.name, line: r.Line, kind: kind, sid: sid, deleted: deleted, number: f.t.Get(r, "identifier")}
			b.protectNumber(p)
			family, given := f.t.Get(r, "familyName"), f.t.Get(r, "givenName")
			if isASCII(family + given) {
				p.name = strings.TrimSpace(given + " " + family)
			} else {
				p.name = family + given
			}
			orgSID := firstOf(f.t.Get(r, "primaryOrgSourcedId"), roleOrg[sid], firstOf(splitList(f.t.Get(r, "orgSourcedIds"))...))
			org, err := o.org(ctx, orgSID)
			if err != nil {
				return err
			}
			if org == nil {
				b.bad(f.name, r.Line, "orgSourcedIds", "roster.err_school_unknown", orgSID)
				continue
			}
			if !b.checkOrg(f.name, r.Line, *org, "") {
				continue
			}
			p.org = *org
			if !deleted && p.name == "" {
				b.bad(f.name, r.Line, "givenName", "roster.err_required", "givenName")
				continue
			}
			if g := f.t.Get(r, "grades"); g != "" && kind == KindStudent {
				if gc, ok := o.grade(g); ok {
					p.grade = gc
				} else {
					b.bad(f.name, r.Line, "grades", "roster.err_grade", g)
					continue
				}
			}
			if raw := f.t.Get(r, "metadata.idNumber", "metadata.jnedu.idNumber"); raw != "" {
				if !b.protectID(p, raw) {
					continue
				}
			}
			uid, err := b.user(ctx, f.t.Get(r, "username"))
			if err != nil {
				return err
			}
			p.userID = uid
			if _, dup := o.users[sid]; dup {
				b.bad(f.name, r.Line, "sourcedId", "roster.err_duplicate", o.users[sid].line)
				continue
			}
			o.users[sid] = p
			b.personBy[personKey(kind, sid)] = p
			b.people = append(b.people, p)
		}
	}
	if f := files["demographics"]; f != nil {
		for _, r := range f.t.Rows {
			deleted, ok := o.rowStatus(f, r)
			if !ok || deleted {
				continue // withdrawn demographics leave the person as is
			}
			sid := f.t.Get(r, "sourcedId")
			g, ok := oneRosterSex(f.t.Get(r, "sex"))
			if !ok {
				b.bad(f.name, r.Line, "sex", "roster.err_gender", f.t.Get(r, "sex"))
				continue
			}
			birth := ""
			if v := f.t.Get(r, "birthDate"); v != "" {
				d, ok := parseDate(v)
				if !ok {
					b.bad(f.name, r.Line, "birthDate", "roster.err_date", v)
					continue
				}
				birth = d
			}
			if g == "9" && f.t.Get(r, "sex") == "" {
				g = ""
			}
			if p, ok := o.users[sid]; ok {
				if p.birth != "" && birth != "" && p.birth != birth {
					b.bad(f.name, r.Line, "birthDate", "roster.err_birth_mismatch", birth)
				}
				if birth != "" {
					p.birth = birth
				}
				if g != "" {
					p.gender = g
				}
				continue
			}
			kind := o.kindInDB(ctx, sid)
			if kind == "" {
				b.rep.Skipped++ // demographics of someone the roster does not hold (a guardian)
				continue
			}
			patch := &personRec{file: f.name, line: r.Line, kind: kind, sid: sid, gender: g, birth: birth, patchOnly: true}
			b.people = append(b.people, patch)
		}
	}
	if f := files["enrollments"]; f != nil {
		for _, r := range f.t.Rows {
			deleted, ok := o.rowStatus(f, r)
			if !ok {
				continue
			}
			e := &enrolRec{file: f.name, line: r.Line, sid: f.t.Get(r, "sourcedId"), classSID: f.t.Get(r, "classSourcedId"),
				personSID: f.t.Get(r, "userSourcedId"), deleted: deleted}
			role := strings.ToLower(f.t.Get(r, "role"))
			switch role {
			case "student":
				e.personKind, e.role = KindStudent, RoleStudent
			case "teacher":
				e.personKind, e.role = KindTeacher, RoleTeacher
				c := o.classes[e.classSID]
				if strings.EqualFold(f.t.Get(r, "primary"), "true") && (c == nil || c.typ == "homeroom") {
					e.role = RoleHeadTeacher
				}
				if c != nil {
					e.subject = c.subject
				}
			case "":
				if !deleted {
					b.bad(f.name, r.Line, "role", "roster.err_required", "role")
					continue
				}
			default:
				b.rep.Skipped++
				continue
			}
			if _, dup := b.enrolBy[e.sid]; dup {
				b.bad(f.name, r.Line, "sourcedId", "roster.err_duplicate", b.enrolBy[e.sid].line)
				continue
			}
			b.addEnrol(e)
		}
	}
	return nil
}

// kindInDB says whether a user sourcedId is a stored student or teacher.
func (o *orState) kindInDB(ctx context.Context, sid string) string {
	var kind string
	err := o.b.s.db.QueryRow(ctx, "SELECT kind FROM roster_people WHERE source = ? AND sourced_id = ? ORDER BY id LIMIT 1",
		o.b.source, sid).Scan(&kind)
	if err != nil {
		return ""
	}
	return kind
}

// grade maps a OneRoster grades list (first entry) to a grade code.
func (o *orState) grade(v string) (string, bool) {
	list := splitList(v)
	if len(list) == 0 {
		return "", true
	}
	if g, ok := cedsGrade(list[0]); ok {
		return g, true
	}
	return Grades.Parse(list[0])
}

// subject maps subjects or subjectCodes (first that is known) to a code.
func (o *orState) subject(names, codes string) string {
	for _, v := range append(splitList(names), splitList(codes)...) {
		if s, ok := Subjects.Parse(v); ok {
			return s
		}
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
