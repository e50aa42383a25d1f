package roster

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/tabular"
)

// Column names as Chinese school systems (and people) write them; the
// first is the one the report names. Matching ignores case, spaces and
// full-width forms (tabular.NormalizeHeader).
var columns = map[string][]string{
	"student_no":  {"学籍号", "全国学籍号", "学籍辅号", "学号", "个人标识码", "学生学籍号", "student_no", "student number", "studentid", "student id"},
	"staff_no":    {"工号", "教职工号", "教工号", "职工号", "教师编号", "教师工号", "staff_no", "staff number", "staffid", "teacher id", "teacher_no"},
	"name":        {"姓名", "学生姓名", "教师姓名", "name", "full name"},
	"gender":      {"性别", "性别码", "性别代码", "gender", "sex"},
	"birth_date":  {"出生日期", "出生年月日", "出生年月", "生日", "birth_date", "birthdate", "date of birth", "birthday"},
	"id_number":   {"身份证号", "身份证号码", "身份证件号", "身份证件号码", "证件号码", "公民身份号码", "id_number", "id number", "idcard", "id card"},
	"ethnicity":   {"民族", "民族码", "民族代码", "ethnicity", "nation", "ethnic group"},
	"school_code": {"学校代码", "学校标识码", "学校编码", "机构代码", "school_code", "school code", "schoolcode"},
	"school":      {"学校", "学校名称", "所在学校", "school", "school name"},
	"grade":       {"年级", "年级码", "年级代码", "任教年级", "grade", "grade level"},
	"class":       {"班级", "班级名称", "所在班级", "任教班级", "班", "class", "class name"},
	"school_year": {"学年", "学年度", "school_year", "school year", "academic year"},
	"subject":     {"任教学科", "学科", "任教课程", "课程", "subject"},
	"role":        {"是否班主任", "班主任", "职务", "角色", "role"},
	"username":    {"用户名", "账号", "帐号", "登录名", "username", "account"},
}

// readSpreadsheet reads a Chinese CSV or XLSX: students (a 学籍号 column)
// or teachers (a 工号 column), one row per student, or per teacher and
// class they teach.
func (b *batch) readSpreadsheet(ctx context.Context, data []byte, filename string) error {
	t, err := tabular.Read(bytes.NewReader(data), filename, b.opt.Limits)
	if err != nil {
		return readError(err, b.opt.Limits)
	}
	idx := map[string]int{}
	for field, names := range columns {
		idx[field] = t.Index(names...)
	}
	col := func(field string) int { return idx[field] }
	kind := ""
	switch {
	case col("student_no") >= 0:
		kind = KindStudent
	case col("staff_no") >= 0:
		kind = KindTeacher
	default:
		return apperr.New(apperr.Invalid, "roster.err_kind_columns")
	}
	var missing []string
	required := []string{"name", "grade", "class"}
	if kind == KindTeacher {
		required = []string{"name"}
	}
	for _, f := range required {
		if col(f) < 0 {
			missing = append(missing, columns[f][0])
		}
	}
	if col("school_code") < 0 && col("school") < 0 {
		missing = append(missing, columns["school_code"][0])
	}
	if len(missing) > 0 {
		return apperr.New(apperr.Invalid, "roster.err_missing_columns", strings.Join(missing, "、"))
	}
	if len(t.Rows) == 0 {
		return apperr.New(apperr.Invalid, "roster.err_empty")
	}
	file := ""
	b.rep.Rows = len(t.Rows)
	numSeen := map[string]int{}
	for _, row := range t.Rows {
		get := func(f string) string { return strings.TrimSpace(row.Cell(col(f))) }
		p := &personRec{file: file, line: row.Line, kind: kind, name: get("name")}
		if kind == KindStudent {
			p.number = strings.ToUpper(get("student_no"))
		} else {
			p.number = strings.ToUpper(get("staff_no"))
		}
		p.sid = p.number
		b.protectNumber(p)
		field := map[string]string{KindStudent: "student_no", KindTeacher: "staff_no"}[kind]
		if p.number == "" {
			b.bad(file, row.Line, field, "roster.err_required", columns[field][0])
		} else if len(p.number) > 64 {
			b.bad(file, row.Line, field, "roster.err_too_long", columns[field][0])
		}
		if p.name == "" {
			b.bad(file, row.Line, "name", "roster.err_required", columns["name"][0])
		} else if len([]rune(p.name)) > 50 {
			b.bad(file, row.Line, "name", "roster.err_too_long", columns["name"][0])
		}
		if v := get("gender"); v != "" {
			if g, ok := Genders.Parse(v); ok {
				p.gender = g
			} else {
				b.bad(file, row.Line, "gender", "roster.err_gender", v)
			}
		}
		if v := get("ethnicity"); v != "" {
			if e, ok := Ethnicities.Parse(v); ok {
				p.ethnicity = e
			} else {
				b.bad(file, row.Line, "ethnicity", "roster.err_ethnicity", v)
			}
		}
		if v := get("birth_date"); v != "" {
			if d, ok := parseDate(v); ok {
				p.birth = d
			} else {
				b.bad(file, row.Line, "birth_date", "roster.err_date", v)
			}
		}
		b.protectID(p, get("id_number"))
		code, sname := get("school_code"), get("school")
		org, err := b.school(ctx, code, sname)
		if err != nil {
			return err
		}
		if org == nil {
			b.bad(file, row.Line, "school", "roster.err_school_unknown", code+sname)
			continue
		}
		if !b.checkOrg(file, row.Line, *org, "") {
			continue
		}
		p.org = *org
		year := b.opt.SchoolYear
		if v := get("school_year"); v != "" {
			y, ok := parseSchoolYear(v)
			if !ok {
				b.bad(file, row.Line, "school_year", "roster.err_school_year_row", v)
				continue
			}
			year = y
		}
		// An account matches by the 用户名 column; a teacher's also by
		// 工号 when that is their user name.
		logins := []string{get("username")}
		if kind == KindTeacher {
			logins = append(logins, p.number)
		}
		userID, err := b.user(ctx, logins...)
		if err != nil {
			return err
		}
		p.userID = userID
		// Teachers appear once per class they teach: the person once.
		if first, dup := numSeen[p.sid]; dup && p.number != "" {
			prev := b.personBy[personKey(kind, p.sid)]
			if kind == KindStudent || prev == nil {
				b.bad(file, row.Line, field, "roster.err_duplicate", first)
				continue
			}
			if prev.name != p.name || (p.idHash != "" && prev.idHash != "" && prev.idHash != p.idHash) {
				b.bad(file, row.Line, field, "roster.err_teacher_differs", first)
				continue
			}
			p = prev
		} else if p.number != "" {
			numSeen[p.sid] = row.Line
			b.personBy[personKey(kind, p.sid)] = p
			b.people = append(b.people, p)
		}
		gradeText, classText := get("grade"), get("class")
		grade := ""
		if gradeText != "" {
			g, ok := Grades.Parse(gradeText)
			if !ok {
				b.bad(file, row.Line, "grade", "roster.err_grade", gradeText)
				continue
			}
			grade = g
		}
		if kind == KindStudent {
			p.grade = grade
			if classText == "" || grade == "" {
				b.bad(file, row.Line, "class", "roster.err_required", columns["class"][0]+"/"+columns["grade"][0])
				continue
			}
			c := b.spreadsheetClass(file, row.Line, *org, year, grade, classText)
			b.addEnrol(&enrolRec{file: file, line: row.Line, sid: "student|" + p.sid + "|" + year, classSID: c.sid,
				personKind: kind, personSID: p.sid, role: RoleStudent})
			continue
		}
		// A teacher: classes (one or several, "1班、2班") with a subject and role.
		if classText == "" {
			continue // a teacher without classes this year
		}
		if grade == "" {
			b.bad(file, row.Line, "grade", "roster.err_required", columns["grade"][0])
			continue
		}
		subject := ""
		if v := get("subject"); v != "" {
			s, ok := Subjects.Parse(v)
			if !ok {
				b.bad(file, row.Line, "subject", "roster.err_subject", v)
				continue
			}
			subject = s
		}
		role, ok := teacherRoles.Parse(get("role"))
		if !ok {
			b.bad(file, row.Line, "role", "roster.err_role", get("role"))
			continue
		}
		if role == RoleTeacher && subject == "" {
			b.bad(file, row.Line, "subject", "roster.err_required", columns["subject"][0])
			continue
		}
		for _, name := range splitList(classText) {
			c := b.spreadsheetClass(file, row.Line, *org, year, grade, name)
			b.addEnrol(&enrolRec{file: file, line: row.Line, sid: "teacher|" + p.sid + "|" + c.sid + "|" + role + "|" + subject,
				classSID: c.sid, personKind: kind, personSID: p.sid, role: role, subject: subject})
		}
	}
	return nil
}

// spreadsheetClass names a class by school, year, grade and name, which is
// how spreadsheets identify it.
func (b *batch) spreadsheetClass(file string, line int, org identity.Org, year, grade, name string) *classRec {
	sid := org.Code + "/" + year + "/" + grade + "/" + name
	if c, ok := b.classBy[sid]; ok {
		return c
	}
	c := &classRec{file: file, line: line, sid: sid, org: org, name: name, grade: grade, schoolYear: year, typ: "homeroom"}
	b.addClass(c)
	return c
}

func (b *batch) addEnrol(e *enrolRec) {
	if prev, ok := b.enrolBy[e.sid]; ok {
		if prev.classSID != e.classSID {
			b.bad(e.file, e.line, "class", "roster.err_duplicate", prev.line)
		}
		return
	}
	b.enrolBy[e.sid] = e
	b.enrols = append(b.enrols, e)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool {
		return r == '、' || r == ',' || r == '，' || r == ';' || r == '；' || r == '|'
	}) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func readError(err error, lim tabular.Limits) error {
	var te *tabular.Error
	switch {
	case errors.Is(err, tabular.ErrTooLarge):
		return apperr.Wrap(apperr.TooLarge, err, "roster.err_too_large", lim.MaxBytes>>20)
	case errors.Is(err, tabular.ErrTooManyRows):
		return apperr.Wrap(apperr.TooLarge, err, "roster.err_too_many_rows", lim.MaxRows)
	case errors.As(err, &te):
		return apperr.Wrap(apperr.Invalid, err, "roster.err_read", te.Error())
	default:
		return apperr.Wrap(apperr.Invalid, err, "roster.err_read", err.Error())
	}
}
