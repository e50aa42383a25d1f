package roster

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

// loadTwoSchools imports students and teachers of S-JN01 (as its admin)
// and of S-JN09 (as admin09), linking the demo accounts: "student" and
// "teacher" at S-JN01, "teacher2" at S-JN09.
func loadTwoSchools(t *testing.T, f *fixture) {
	f.imp(t, "school_admin", []byte(studentCSV()), "s1.csv", ImportOptions{})
	f.imp(t, "school_admin", []byte(csvText(teacherHeader, "T001,张晓梅,女,,S-JN01,七年级,1班,数学,是,teacher")), "t1.csv", ImportOptions{})
	other := csvText(studentHeader, "L901,周九,男,,"+validID("370104", "20110909", "031")+",汉族,S-JN09,高一,3班,")
	if rep := f.imp(t, "admin09", []byte(other), "s9.csv", ImportOptions{}); !rep.Applied {
		t.Fatalf("S-JN09 students: %+v", rep.Problems)
	}
	f.imp(t, "admin09", []byte(csvText(teacherHeader, "T901,刘洋,男,,S-JN09,高一,3班,物理,是,teacher2")), "t9.csv", ImportOptions{})
}

func (f *fixture) personID(t *testing.T, name string) int64 {
	var id int64
	if err := f.d.QueryRow(context.Background(), "SELECT id FROM roster_people WHERE name = ?", name).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestWhoSeesWhom: administrators see their school subtree, teachers the
// classes they teach, students themselves; everything else is "not found",
// and importing into another school is refused row by row.
func TestWhoSeesWhom(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		loadTwoSchools(t, f)
		s1, s9 := f.org["S-JN01"].ID, f.org["S-JN09"].ID
		class1 := f.classByName(t, "S-JN01", "1班").ID
		class2 := f.classByName(t, "S-JN01", "2班").ID
		class9 := f.classByName(t, "S-JN09", "3班").ID
		zhang, wang, zhou := f.personID(t, "张三"), f.personID(t, "王五"), f.personID(t, "周九")

		schools := func(who string) string {
			ss, err := f.svc.Schools(ctx, f.p[who])
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, s := range ss {
				out = append(out, s.Code)
			}
			return strings.Join(out, ",")
		}
		if got := schools("admin09"); got != "S-JN09" {
			t.Errorf("admin09 sees schools %q", got)
		}
		if got := schools("teacher"); got != "S-JN01" {
			t.Errorf("teacher sees schools %q", got)
		}
		if got := schools("admin"); !strings.Contains(got, "S-JN01") || !strings.Contains(got, "S-JN09") {
			t.Errorf("platform admin sees schools %q", got)
		}
		for _, tc := range []struct {
			who     string
			class   int64
			visible bool
			pupils  int // students shown when visible
		}{
			{"admin", class9, true, 1},
			{"school_admin", class1, true, 2},
			{"school_admin", class9, false, 0},
			{"admin09", class1, false, 0},
			{"admin09", class9, true, 1},
			{"teacher", class1, true, 2},
			{"teacher", class2, false, 0},
			{"teacher2", class1, false, 0},
			{"teacher2", class9, true, 1},
			{"student", class1, true, 0}, // their own class: teachers only
			{"student", class2, false, 0},
		} {
			d, err := f.svc.Class(ctx, f.p[tc.who], tc.class)
			switch {
			case tc.visible && err != nil:
				t.Errorf("%s: class %d: %v", tc.who, tc.class, err)
			case !tc.visible && apperr.CodeOf(err) != apperr.NotFound:
				t.Errorf("%s: class %d: %v, want not found", tc.who, tc.class, err)
			case tc.visible && len(d.Students) != tc.pupils:
				t.Errorf("%s: class %d shows %d students, want %d", tc.who, tc.class, len(d.Students), tc.pupils)
			}
		}
		for _, tc := range []struct {
			who     string
			person  int64
			visible bool
		}{
			{"school_admin", zhang, true}, {"school_admin", zhou, false},
			{"admin09", zhang, false}, {"admin09", zhou, true},
			{"teacher", zhang, true}, {"teacher", wang, false}, {"teacher", zhou, false},
			{"teacher2", zhang, false}, {"teacher2", zhou, true},
			{"student", zhang, true}, {"student", wang, false},
		} {
			_, err := f.svc.Person(ctx, f.p[tc.who], tc.person)
			if tc.visible != (err == nil) || (!tc.visible && apperr.CodeOf(err) != apperr.NotFound) {
				t.Errorf("%s: person %d: %v, want visible=%v", tc.who, tc.person, err, tc.visible)
			}
		}
		if _, _, err := f.svc.School(ctx, f.p["admin09"], s1); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("admin09 opened S-JN01: %v", err)
		}
		if _, cs, err := f.svc.School(ctx, f.p["teacher"], s1); err != nil || len(cs) != 1 || cs[0].ID != class1 {
			t.Errorf("teacher's view of the school: %+v, %v", cs, err)
		}
		if _, _, err := f.svc.School(ctx, f.p["teacher"], s9); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("teacher opened S-JN09: %v", err)
		}
		// Another school's admin may neither import into S-JN01 nor take
		// its students over by 学籍号.
		people, _, _ := f.rows(t)
		rep := f.imp(t, "admin09", []byte(studentCSV()), "steal.csv", ImportOptions{})
		if rep.Applied || rep.Invalid != 3 || !problemKeys(rep)["roster.err_school_forbidden"] {
			t.Errorf("admin09 importing S-JN01: %+v", rep)
		}
		moved := csvText(studentHeader, "L001,张三,男,,,汉族,S-JN09,高一,3班,")
		rep = f.imp(t, "admin09", []byte(moved), "move.csv", ImportOptions{})
		if rep.Applied || !problemKeys(rep)["roster.err_other_school"] {
			t.Errorf("admin09 taking over L001: %+v", rep)
		}
		if now, _, _ := f.rows(t); now != people {
			t.Errorf("refused imports changed the people (%d → %d)", people, now)
		}
		// Whatever a view returns, the full number is not in it.
		for _, who := range []string{"admin", "school_admin", "teacher", "student"} {
			d, _ := f.svc.Class(ctx, f.p[who], class1)
			p, _ := f.svc.Person(ctx, f.p[who], zhang)
			b, _ := json.Marshal([]any{d, p})
			if strings.Contains(string(b), idZhang) || strings.Contains(string(b), idLi) || strings.Contains(string(b), idWang) || !strings.Contains(string(b), MaskID(idZhang)) {
				t.Errorf("%s: views show %s", who, b)
			}
		}
	})
}

// TestIndicatorAPI covers the Go API the indicators use.
func TestIndicatorAPI(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		loadTwoSchools(t, f)
		for _, tc := range []struct {
			org   string
			grade string
			want  int
		}{
			{"S-JN01", "", 3}, {"S-JN01", "21", 3}, {"S-JN01", "高一", 0}, {"S-JN09", "31", 1}, {"JN-EDU", "", 4}, {"JN-EDU", "初一", 3},
		} {
			if n, err := f.svc.StudentCount(ctx, f.org[tc.org].ID, tc.grade); err != nil || n != tc.want {
				t.Errorf("StudentCount(%s, %q) = %d, %v; want %d", tc.org, tc.grade, n, err, tc.want)
			}
		}
		if _, err := f.svc.StudentCount(ctx, f.org["S-JN01"].ID, "九十年级"); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("an unknown grade: %v", err)
		}
		cs, err := f.svc.ClassesOf(ctx, f.org["S-JN01"].ID)
		if err != nil || len(cs) != 2 || cs[0].Name != "1班" || cs[0].Students != 2 || cs[1].Students != 1 {
			t.Errorf("ClassesOf = %+v, %v", cs, err)
		}
		tp, err := f.svc.TeacherOfUser(ctx, f.p["teacher2"].User.ID)
		if err != nil || tp.Number != "T901" || tp.OrgID != f.org["S-JN09"].ID {
			t.Errorf("TeacherOfUser(teacher2) = %+v, %v", tp, err)
		}
		if _, err := f.svc.TeacherOfUser(ctx, f.p["student"].User.ID); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("TeacherOfUser(student): %v", err)
		}
		ms, err := f.svc.MembershipOf(ctx, f.p["student"].User.ID)
		if err != nil || len(ms) != 1 || ms[0].ClassName != "1班" || ms[0].Role != RoleStudent || ms[0].Grade != "21" || ms[0].OrgID != f.org["S-JN01"].ID {
			t.Errorf("MembershipOf(student) = %+v, %v", ms, err)
		}
		if ms, err := f.svc.MembershipOf(ctx, f.p["admin"].User.ID); err != nil || len(ms) != 0 {
			t.Errorf("MembershipOf(admin) = %+v, %v", ms, err)
		}
	})
}
