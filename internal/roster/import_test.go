package roster

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
	"jnedu/internal/platform/tabular"
)

const studentHeader = "学籍号,姓名,性别,出生日期,身份证号,民族,学校代码,年级,班级,用户名"

var (
	idZhang = validID("370102", "20130305", "001") // a boy
	idLi    = validID("370102", "20130601", "002") // a girl
	idWang  = validID("370103", "20121111", "013") // a boy
)

func studentRows() [][]string {
	return [][]string{
		{"L001", "张三", "男", "2013-03-05", idZhang, "汉族", "S-JN01", "七年级", "1班", "student"},
		{"L002", "李四", "女", "2013/6/1", idLi, "回族", "S-JN01", "七年级", "1班", ""},
		{"G" + idWang, "王五", "1", "", idWang, "01", "S-JN01", "21", "2班", ""}, // the national 学籍号: G + ID number
	}
}

func studentCSV() string {
	var lines []string
	for _, r := range studentRows() {
		lines = append(lines, strings.Join(r, ","))
	}
	return csvText(studentHeader, lines...)
}

// TestSpreadsheetEncodings imports the same student list as UTF-8, UTF-8
// with BOM, GBK and XLSX: the first creates the rows, the others update
// them (keyed by 学籍号), and the names read back exactly every time.
func TestSpreadsheetEncodings(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(studentCSV()))
		if err != nil {
			t.Fatal(err)
		}
		var xlsx bytes.Buffer
		if err := tabular.WriteXLSX(&xlsx, "学生名单", strings.Split(studentHeader, ","), studentRows()); err != nil {
			t.Fatal(err)
		}
		for i, tc := range []struct {
			name string
			data []byte
		}{
			{"学生.csv", []byte(studentCSV())},
			{"学生-bom.csv", append([]byte("\xEF\xBB\xBF"), studentCSV()...)},
			{"学生-gbk.csv", gbk},
			{"学生.xlsx", xlsx.Bytes()},
		} {
			rep := f.imp(t, "school_admin", tc.data, tc.name, ImportOptions{})
			if !rep.Applied || rep.Invalid != 0 || rep.Rows != 3 {
				t.Fatalf("%s: applied %v, rows %d, invalid %d: %+v", tc.name, rep.Applied, rep.Rows, rep.Invalid, rep.Problems)
			}
			want := Counts{Created: 3}
			if i > 0 {
				want = Counts{Updated: 3}
			}
			if rep.Students != want {
				t.Errorf("%s: students %+v, want %+v", tc.name, rep.Students, want)
			}
			if p, c, e := f.rows(t); p != 3 || c != 2 || e != 3 {
				t.Errorf("%s: %d people, %d classes, %d enrolments; want 3, 2, 3", tc.name, p, c, e)
			}
			d1, err := f.svc.Class(context.Background(), f.p["school_admin"], f.classByName(t, "S-JN01", "1班").ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(d1.Students); got != "张三,李四" {
				t.Errorf("%s: class 1班 students %q", tc.name, got)
			}
			li := d1.Students[1]
			if li.Gender != "2" || li.Ethnicity != "03" || li.BirthDate != "2013-06-01" || li.IDMasked != MaskID(idLi) ||
				d1.Class.Grade != "21" || d1.Class.SchoolYear != "2026-2027" {
				t.Errorf("%s: read back %+v in %+v", tc.name, li, d1.Class)
			}
		}
		// The stored row holds the number sealed and hashed, never in clear.
		if n := f.count(t, `SELECT COUNT(*) FROM roster_people WHERE id_enc LIKE ? OR id_hash = ? OR id_masked = ? OR number LIKE ? OR sourced_id LIKE ?`,
			"%"+idLi+"%", idLi, idLi, "%"+idWang+"%", "%"+idWang+"%"); n != 0 {
			t.Errorf("%d rows hold the plain ID number", n)
		}
		// 王五 had no birth date: it comes from the ID number.
		d2, _ := f.svc.Class(context.Background(), f.p["admin"], f.classByName(t, "S-JN01", "2班").ID)
		if len(d2.Students) != 1 || d2.Students[0].BirthDate != "2012-11-11" || d2.Students[0].Gender != "1" || d2.Students[0].Number != "G"+MaskID(idWang) {
			t.Errorf("2班 = %+v", d2.Students)
		}
		// Four applied imports, four events for the indicators.
		if n := f.count(t, "SELECT COUNT(*) FROM events_outbox WHERE topic = ?", TopicImported.Name); n != 4 {
			t.Errorf("%d roster.imported events, want 4", n)
		}
	})
}

// TestAllOrNothing: one file with good and bad rows changes nothing and
// reports every bad row by line and field, without showing ID numbers.
func TestAllOrNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		badSum := idLi[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", idLi[17])+1)%11])
		file := csvText(studentHeader,
			"L001,张三,男,2013-03-05,"+idZhang+",汉族,S-JN01,七年级,1班,",
			"L002,李四,女,2013-06-01,"+badSum+",回族,S-JN01,七年级,1班,", // line 3: checksum
			"L003,王五,未知性别X,,,汉族,S-JN01,七年级,2班,",                 // line 4: gender
			"L004,赵六,女,,,火星族,S-NOPE,七年级,2班,",                    // line 5: ethnicity, school
			"L005,钱七,女,2013-02-30,,汉族,S-JN01,十三年级,2班,",          // line 6: date, grade
			"L001,张三,男,2013-03-05,,汉族,S-JN01,七年级,1班,",           // line 7: duplicate
			"L008,孙八,女,,"+idZhang+",汉族,S-JN01,七年级,1班,",          // line 8: gender and ID number of line 2
		)
		rep := f.imp(t, "school_admin", []byte(file), "bad.csv", ImportOptions{})
		if rep.Applied || rep.Invalid != 6 || rep.Rows != 7 {
			t.Fatalf("applied %v, rows %d, invalid %d, want not applied, 7, 6: %+v", rep.Applied, rep.Rows, rep.Invalid, rep.Problems)
		}
		if p, c, e := f.rows(t); p+c+e != 0 {
			t.Errorf("a rejected import wrote %d people, %d classes, %d enrolments", p, c, e)
		}
		want := map[int][]string{3: {"id_number"}, 4: {"gender"}, 5: {"ethnicity", "school"}, 6: {"birth_date", "grade"}, 7: {"student_no"}, 8: {"gender", "id_number"}}
		got := map[int][]string{}
		for _, p := range rep.Problems {
			got[p.Line] = append(got[p.Line], p.Field)
			if strings.Contains(p.Message, badSum) || strings.Contains(p.Message, idZhang) {
				t.Errorf("problem message shows an ID number: %s", p.Message)
			}
		}
		for line, fields := range want {
			if strings.Join(got[line], ",") != strings.Join(fields, ",") {
				t.Errorf("line %d: problems in %v, want %v", line, got[line], fields)
			}
		}
		keys := problemKeys(rep)
		for _, k := range []string{"roster.err_id_checksum", "roster.err_gender", "roster.err_school_unknown", "roster.err_date", "roster.err_grade", "roster.err_duplicate", "roster.err_id_duplicate", "roster.err_gender_mismatch"} {
			if !keys[k] {
				t.Errorf("no problem %s in %v", k, keys)
			}
		}
		// A dry run of a good file writes nothing either, but counts.
		rep = f.imp(t, "school_admin", []byte(studentCSV()), "good.csv", ImportOptions{DryRun: true})
		if rep.Applied || rep.Invalid != 0 || rep.Students.Created != 3 || rep.Classes.Created != 2 {
			t.Errorf("dry run: %+v", rep)
		}
		if p, _, _ := f.rows(t); p != 0 {
			t.Errorf("a dry run wrote %d people", p)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM events_outbox"); n != 0 {
			t.Errorf("%d events from imports that wrote nothing", n)
		}
		// Whole-file problems are errors, not rows.
		_, err := f.svc.Import(context.Background(), f.p["admin"], strings.NewReader("姓名,性别\r\n张三,男\r\n"), "x.csv", ImportOptions{})
		if apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("a file without 学籍号 or 工号: %v", err)
		}
		_, err = f.svc.Import(context.Background(), f.p["admin"], strings.NewReader(studentCSV()), "x.csv", ImportOptions{Limits: tabular.Limits{MaxBytes: 1 << 20, MaxRows: 2}})
		if apperr.CodeOf(err) != apperr.TooLarge {
			t.Errorf("three rows over a two-row limit: %v", err)
		}
		_, err = f.svc.Import(context.Background(), f.p["teacher"], strings.NewReader(studentCSV()), "x.csv", ImportOptions{})
		if apperr.CodeOf(err) != apperr.Forbidden {
			t.Errorf("a teacher imported: %v", err)
		}
	})
}

const teacherHeader = "工号,姓名,性别,身份证号,学校代码,任教年级,任教班级,任教学科,是否班主任,用户名"

// TestReimportUpdates: a second import of the same source updates rows by
// 学籍号/工号 (a student moves class, a name is corrected) and adds none.
func TestReimportUpdates(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		f.imp(t, "school_admin", []byte(studentCSV()), "s.csv", ImportOptions{})
		teachers := csvText(teacherHeader,
			"T001,张晓梅,女,"+validID("370102", "19850412", "024")+",S-JN01,七年级,1班,数学,是,teacher",
			"T001,张晓梅,女,,S-JN01,七年级,2班,数学,否,teacher",
			"T002,赵刚,男,,S-JN01,七年级,1班、2班,英语,,",
		)
		rep := f.imp(t, "school_admin", []byte(teachers), "t.csv", ImportOptions{})
		if !rep.Applied || rep.Teachers.Created != 2 || rep.Enrolments.Created != 4 || rep.Classes.Updated != 2 || rep.Classes.Created != 0 {
			t.Fatalf("teachers: %+v", rep)
		}
		moved := strings.Replace(strings.Replace(studentCSV(), "王五", "王武", 1), "21,2班", "21,1班", 1)
		moved = strings.Replace(moved, "G"+idWang, "g"+idWang, 1) // the same 学籍号, written in lower case
		rep = f.imp(t, "school_admin", []byte(moved), "s2.csv", ImportOptions{})
		if rep.Students != (Counts{Updated: 3}) || rep.Enrolments != (Counts{Updated: 3}) {
			t.Errorf("second import: students %+v, enrolments %+v", rep.Students, rep.Enrolments)
		}
		rep = f.imp(t, "school_admin", []byte(teachers), "t.csv", ImportOptions{})
		if rep.Teachers != (Counts{Updated: 2}) || rep.Enrolments != (Counts{Updated: 4}) {
			t.Errorf("teachers again: %+v %+v", rep.Teachers, rep.Enrolments)
		}
		if p, c, e := f.rows(t); p != 5 || c != 2 || e != 7 {
			t.Errorf("%d people, %d classes, %d enrolments; want 5, 2, 7", p, c, e)
		}
		c1, err := f.svc.Class(ctx, f.p["admin"], f.classByName(t, "S-JN01", "1班").ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(c1.Students); got != "王武,张三,李四" { // by 学籍号: G… before L…
			t.Errorf("1班 after the move: %q", got)
		}
		var roles []string
		for _, tc := range c1.Teachers {
			roles = append(roles, tc.Name+":"+tc.Role+":"+tc.SubjectName)
		}
		if got := strings.Join(roles, " "); got != "张晓梅:head_teacher:数学 赵刚:teacher:英语" {
			t.Errorf("1班 teachers: %s", got)
		}
		if c2 := f.classByName(t, "S-JN01", "2班"); c2.Students != 0 {
			t.Errorf("2班 still counts %d students", c2.Students)
		}
		// The teacher file linked 工号 T001 to the demo account "teacher".
		tp, err := f.svc.TeacherOfUser(ctx, f.p["teacher"].User.ID)
		if err != nil || tp.Number != "T001" || tp.IDMasked != "3701**********"+validID("370102", "19850412", "024")[14:] {
			t.Errorf("TeacherOfUser = %+v, %v", tp, err)
		}
	})
}
