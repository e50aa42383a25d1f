package roster

import "testing"

func TestCodeSets(t *testing.T) {
	for _, tc := range []struct {
		set   *CodeSet
		in    string
		want  string
		known bool
	}{
		{Genders, "男", "1", true},
		{Genders, "2", "2", true},
		{Genders, "Female", "2", true},
		{Genders, "未说明的性别", "9", true},
		{Genders, "0", "0", true},
		{Genders, "3", "", false},
		{Ethnicities, "汉族", "01", true},
		{Ethnicities, "回", "03", true},
		{Ethnicities, "维吾尔族", "05", true},
		{Ethnicities, "毛难族", "36", true},
		{Ethnicities, "56", "56", true},
		{Ethnicities, "基诺族", "56", true},
		{Ethnicities, "穿青人", "", false},
		{Grades, "七年级", "21", true},
		{Grades, "初中二年级", "22", true},
		{Grades, "高一", "31", true},
		{Grades, "11", "11", true},
		{Grades, "小学六年级", "16", true},
		{Grades, "7", "", false},
		{Subjects, "道德与法治", "12", true},
		{Subjects, "英语", "41", true},
		{Subjects, "信息技术", "61", true},
		{Subjects, "高中信息技术", "26", true},
		{Subjects, "Mathematics", "14", true},
		{Subjects, "生物学", "18", true},
		{Subjects, "书法", "", false},
	} {
		got, ok := tc.set.Parse(tc.in)
		if got != tc.want || ok != tc.known {
			t.Errorf("%s: Parse(%q) = %q, %v; want %q, %v", tc.set.Name, tc.in, got, ok, tc.want, tc.known)
		}
	}
	if n := len(Ethnicities.Codes); n != 58 {
		t.Errorf("GB 3304 has 56 民族 plus 97 and 98; the table has %d entries", n)
	}
	for _, set := range []*CodeSet{Genders, Ethnicities, Grades, Subjects} {
		seen := map[string]bool{}
		for _, c := range set.Codes {
			if seen[c.Code] {
				t.Errorf("%s: code %s twice", set.Name, c.Code)
			}
			seen[c.Code] = true
			if got, ok := set.Parse(c.Code); !ok || got != c.Code {
				t.Errorf("%s: code %s does not parse as itself (%q)", set.Name, c.Code, got)
			}
		}
	}
	if g, ok := cedsGrade("11"); !ok || g != "32" {
		t.Errorf("OneRoster grade 11 = %q, want 32 (高中二年级)", g)
	}
	if Grades.Label("23") != "初中三年级" || Subjects.Label("13") != "语文" {
		t.Error("labels are not the standard names")
	}
}
