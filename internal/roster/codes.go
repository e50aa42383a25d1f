package roster

import (
	"strings"

	"jnedu/internal/platform/tabular"
)

// Code sets of the education management information standards. Imports
// accept a code or its name (Chinese, or English where one is given) and
// store the code; pages show the Chinese name.

// Code is one entry of a code set.
type Code struct {
	Code string
	Name string   // the standard's Chinese name
	Alt  []string // other names people write (variants, English)
}

// CodeSet is a named list of codes.
type CodeSet struct {
	Name   string // what it is, and where it comes from
	Codes  []Code
	lookup map[string]string
}

func newCodeSet(name string, codes []Code) *CodeSet {
	s := &CodeSet{Name: name, Codes: codes, lookup: map[string]string{}}
	for _, c := range codes {
		for _, k := range append([]string{c.Code, c.Name}, c.Alt...) {
			s.lookup[normCode(k)] = c.Code
		}
	}
	return s
}

func normCode(s string) string { return tabular.NormalizeHeader(strings.TrimSpace(s)) }

// Parse returns the code that s names (a code, a name or a variant).
func (s *CodeSet) Parse(v string) (string, bool) {
	c, ok := s.lookup[normCode(v)]
	return c, ok
}

// Label returns the Chinese name of a code, or the code itself.
func (s *CodeSet) Label(code string) string {
	for _, c := range s.Codes {
		if c.Code == code {
			return c.Name
		}
	}
	return code
}

// Genders is GB/T 2261.1-2003 (个人基本信息分类与代码 第1部分：人的性别代码),
// the code set JY/T 1001-2012 cites for 性别码.
var Genders = newCodeSet("GB/T 2261.1-2003 人的性别代码", []Code{
	{"0", "未知的性别", []string{"未知", "unknown", "other"}},
	{"1", "男", []string{"男性", "male", "m"}},
	{"2", "女", []string{"女性", "female", "f"}},
	{"9", "未说明的性别", []string{"未说明", "unspecified", "not specified"}},
})

// Ethnicities is GB 3304-1991 (中国各民族名称的罗马字母拼写法和代码), the
// code set JY/T 1001-2012 cites for 民族码: the 56 民族 with two-digit
// codes, plus 97 其他 and 98 外国血统中国籍人士.
var Ethnicities = newCodeSet("GB 3304-1991 中国各民族名称的罗马字母拼写法和代码", ethnicityCodes())

func ethnicityCodes() []Code {
	names := []string{"汉族", "蒙古族", "回族", "藏族", "维吾尔族", "苗族", "彝族", "壮族", "布依族", "朝鲜族",
		"满族", "侗族", "瑶族", "白族", "土家族", "哈尼族", "哈萨克族", "傣族", "黎族", "傈僳族",
		"佤族", "畲族", "高山族", "拉祜族", "水族", "东乡族", "纳西族", "景颇族", "柯尔克孜族", "土族",
		"达斡尔族", "仫佬族", "羌族", "布朗族", "撒拉族", "毛南族", "仡佬族", "锡伯族", "阿昌族", "普米族",
		"塔吉克族", "怒族", "乌孜别克族", "俄罗斯族", "鄂温克族", "德昂族", "保安族", "裕固族", "京族", "塔塔尔族",
		"独龙族", "鄂伦春族", "赫哲族", "门巴族", "珞巴族", "基诺族"}
	out := make([]Code, 0, len(names)+2)
	for i, n := range names {
		c := Code{Code: twoDigits(i + 1), Name: n, Alt: []string{strings.TrimSuffix(n, "族")}}
		if n == "毛南族" {
			c.Alt = append(c.Alt, "毛难族") // the spelling of the 1991 edition
		}
		if n == "汉族" {
			c.Alt = append(c.Alt, "han")
		}
		out = append(out, c)
	}
	return append(out, Code{"97", "其他", []string{"其他民族", "未识别民族"}}, Code{"98", "外国血统中国籍人士", []string{"外国血统"}})
}

func twoDigits(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }

// Grades are the grade codes of primary and secondary schools.
//
// JY/T 1001-2012 (教育管理基础代码) gives a 年级代码 table (NJ) that numbers
// the years inside one stage (1 一年级, 2 二年级, …) and is used together
// with a stage (学段); the student-status exports of the national
// primary and secondary student-status system (全国中小学生学籍信息管理系统)
// and the JY/T 1004-2012 data sets write the two together as one
// two-digit code: the stage first (1 小学, 2 初中, 3 高中), the year within
// the stage second. That combined form is what this code set stores; the
// bare stage-less NJ numbers are ambiguous and are not accepted alone.
// Chinese names are accepted in the forms schools use, including the
// continuous 七/八/九年级 for 初中 and 高一/高二/高三.
var Grades = newCodeSet("年级码 (JY/T 1001-2012 年级代码 with the 学段 of JY/T 1004-2012, as the national student-status system writes it)", []Code{
	{"11", "小学一年级", []string{"一年级", "1年级", "grade 1"}},
	{"12", "小学二年级", []string{"二年级", "2年级", "grade 2"}},
	{"13", "小学三年级", []string{"三年级", "3年级", "grade 3"}},
	{"14", "小学四年级", []string{"四年级", "4年级", "grade 4"}},
	{"15", "小学五年级", []string{"五年级", "5年级", "grade 5"}},
	{"16", "小学六年级", []string{"六年级", "6年级", "grade 6"}},
	{"21", "初中一年级", []string{"初一", "七年级", "7年级", "grade 7"}},
	{"22", "初中二年级", []string{"初二", "八年级", "8年级", "grade 8"}},
	{"23", "初中三年级", []string{"初三", "九年级", "9年级", "grade 9"}},
	{"24", "初中四年级", []string{"初四"}},
	{"31", "高中一年级", []string{"高一", "十年级", "grade 10"}},
	{"32", "高中二年级", []string{"高二", "十一年级", "grade 11"}},
	{"33", "高中三年级", []string{"高三", "十二年级", "grade 12"}},
})

// Subjects is the 中小学课程代码 (ZXXKC) code set of JY/T 1001-2012, the
// subjects of primary and secondary school, with the names the
// curriculum uses today accepted as variants (道德与法治 for 思想品德,
// 信息科技 for the compulsory-stage 信息技术, 生物学 for 生物).
var Subjects = newCodeSet("JY/T 1001-2012 中小学课程代码 (ZXXKC)", []Code{
	{"11", "品德与生活（社会）", []string{"品德与生活", "品德与社会"}},
	{"12", "思想品德（政治）", []string{"思想品德", "政治", "思想政治", "道德与法治", "道法", "politics"}},
	{"13", "语文", []string{"chinese"}},
	{"14", "数学", []string{"math", "maths", "mathematics"}},
	{"15", "科学", []string{"science"}},
	{"16", "物理", []string{"physics"}},
	{"17", "化学", []string{"chemistry"}},
	{"18", "生物", []string{"生物学", "biology"}},
	{"19", "历史与社会", nil},
	{"20", "地理", []string{"geography"}},
	{"21", "历史", []string{"history"}},
	{"22", "体育与健康", []string{"体育", "pe", "physical education"}},
	{"23", "艺术", []string{"art"}},
	{"24", "音乐", []string{"music"}},
	{"25", "美术", []string{"fine arts"}},
	// 26 and 61 share the name 信息技术 (senior and compulsory stage):
	// the bare name resolves to 61, the later entry.
	{"26", "信息技术", []string{"高中信息技术"}},
	{"27", "通用技术", []string{"general technology"}},
	{"40", "外语", []string{"foreign language"}},
	{"41", "英语", []string{"english"}},
	{"42", "日语", []string{"japanese"}},
	{"43", "俄语", []string{"russian"}},
	{"49", "其他外国语", nil},
	{"60", "综合实践活动", []string{"综合实践"}},
	{"61", "信息技术", []string{"信息科技", "information technology", "it"}},
	{"62", "劳动与技术", []string{"劳动", "劳动技术"}},
})

// Roles of a person in a class.
const (
	RoleStudent     = "student"
	RoleHeadTeacher = "head_teacher" // 班主任
	RoleTeacher     = "teacher"      // 任课教师
)

// teacherRoles maps what files say to a teacher role.
var teacherRoles = newCodeSet("teacher role in a class", []Code{
	{RoleHeadTeacher, "班主任", []string{"是", "y", "yes", "true", "1", "head teacher", "homeroom teacher"}},
	{RoleTeacher, "任课教师", []string{"否", "n", "no", "false", "0", "任课", "教师", "teacher", ""}},
})

// cedsGrade maps the grade levels OneRoster uses (the CEDS option set:
// "01"…"12") to grade codes; it reports false for other values
// (kindergarten, post-secondary), which have no place in this code set.
func cedsGrade(v string) (string, bool) {
	ceds := map[string]string{"01": "11", "02": "12", "03": "13", "04": "14", "05": "15", "06": "16",
		"07": "21", "08": "22", "09": "23", "10": "31", "11": "32", "12": "33"}
	c, ok := ceds[strings.TrimSpace(v)]
	return c, ok
}

// oneRosterSex maps the OneRoster demographics sex vocabulary to GB/T 2261.1.
func oneRosterSex(v string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "male":
		return "1", true
	case "female":
		return "2", true
	case "other":
		return "0", true
	case "unspecified", "":
		return "9", true
	}
	return "", false
}
