// Package demo loads demonstration data: Jinan's education bureau, the
// technology center, the districts, 20 city-affiliated schools, 29 exam
// sites in Laiwu, Gangcheng and the Laiwu High-tech Zone, 40 smart
// classrooms, and a few users of every role. Every name is made up for
// demonstration; none is a real person's account.
package demo

import (
	"context"
	"errors"
	"fmt"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
)

// Password is the password of every demo account. Outside demo mode the
// accounts must change it at first sign-in.
const Password = "Demo2026jn"

// Account is a demo sign-in.
type Account struct {
	Username string
	Name     string
	Role     identity.Role
	OrgCode  string
}

// Accounts lists the demo users, one or more per role.
func Accounts() []Account {
	return []Account{
		{"admin", "王建国", identity.RolePlatformAdmin, "JN-EDU"},
		{"school_admin", "李静", identity.RoleSchoolAdmin, "S-JN01"},
		{"teacher", "张晓梅", identity.RoleTeacher, "S-JN01"},
		{"teacher2", "刘洋", identity.RoleTeacher, "S-JN09"},
		{"student", "陈思远", identity.RoleStudent, "S-JN01"},
		{"exam_staff", "赵振华", identity.RoleExamStaff, "E-LW01"},
		{"examiner", "孙丽娟", identity.RoleExaminer, "JN-DJG"},
		{"security", "周涛", identity.RoleSecurityOp, "JN-DJG"},
		{"editor", "吴倩", identity.RoleEditor, "JN-DJG"},
		{"device", "郑浩", identity.RoleDeviceMaintainer, "JN-EDU"},
	}
}

type org struct {
	code, name, nameEN string
	kind               identity.OrgKind
	parent             string
}

// Districts of Jinan (the two functional zones included).
var districts = []org{
	{"D-LX", "历下区", "Lixia District", identity.KindDistrict, "JN-EDU"},
	{"D-SZ", "市中区", "Shizhong District", identity.KindDistrict, "JN-EDU"},
	{"D-HY", "槐荫区", "Huaiyin District", identity.KindDistrict, "JN-EDU"},
	{"D-TQ", "天桥区", "Tianqiao District", identity.KindDistrict, "JN-EDU"},
	{"D-LC", "历城区", "Licheng District", identity.KindDistrict, "JN-EDU"},
	{"D-CQ", "长清区", "Changqing District", identity.KindDistrict, "JN-EDU"},
	{"D-ZQ", "章丘区", "Zhangqiu District", identity.KindDistrict, "JN-EDU"},
	{"D-JY", "济阳区", "Jiyang District", identity.KindDistrict, "JN-EDU"},
	{"D-LW", "莱芜区", "Laiwu District", identity.KindDistrict, "JN-EDU"},
	{"D-GC", "钢城区", "Gangcheng District", identity.KindDistrict, "JN-EDU"},
	{"D-PY", "平阴县", "Pingyin County", identity.KindDistrict, "JN-EDU"},
	{"D-SH", "商河县", "Shanghe County", identity.KindDistrict, "JN-EDU"},
	{"D-GX", "济南高新区", "Jinan High-tech Zone", identity.KindDistrict, "JN-EDU"},
	{"D-LWGX", "莱芜高新区", "Laiwu High-tech Zone", identity.KindDistrict, "JN-EDU"},
}

// The 20 city-affiliated schools (市直属学校), demo names.
var schools = []string{
	"济南第一中学", "济南第二中学", "济南第三中学", "济南第七中学", "济南第九中学",
	"济南第十一中学", "济南第十二中学", "济南第十九中学", "济南外国语学校", "济南中学",
	"济南实验初级中学", "济南育英中学", "济南稼轩学校", "济南艺术学校", "济南信息工程学校",
	"济南第一职业中专", "济南市盲童学校", "济南市聋哑学校", "济南市启智学校", "济南市特殊教育中心",
}

// The 29 exam sites: 17 in Laiwu District, 8 in Gangcheng, 4 in the Laiwu
// High-tech Zone (demo names).
var examSites = map[string][]string{
	"D-LW": {"莱芜第一中学", "莱芜第二中学", "莱芜第四中学", "莱芜第六中学", "莱芜第十二中学", "莱芜第十七中学",
		"凤城高级中学", "莱芜区实验中学", "莱芜区胜利中学", "莱芜区花园学校", "莱芜区汶水学校", "莱芜区莲河学校",
		"莱芜区口镇中学", "莱芜区牛泉中学", "莱芜区羊里中学", "莱芜区寨里中学", "莱芜区大王庄中学"},
	"D-GC":   {"钢城区实验学校", "莱芜第三中学", "钢城区里辛中学", "钢城区颜庄中学", "钢城区艾山中学", "钢城区汶源学校", "钢城区辛庄中学", "钢城区棋山中学"},
	"D-LWGX": {"莱芜高新区实验学校", "莱芜高新区鹏泉中学", "莱芜高新区凤凰路学校", "莱芜高新区明德学校"},
}

// Orgs returns the whole demo tree in creation order.
func orgs() []org {
	out := []org{
		{"JN-EDU", "济南市教育局", "Jinan Municipal Education Bureau", identity.KindBureau, ""},
		{"JN-DJG", "济南市电化教育馆", "Jinan Audio-Visual Education Center", identity.KindCenter, "JN-EDU"},
	}
	out = append(out, districts...)
	for i, name := range schools {
		code := fmt.Sprintf("S-JN%02d", i+1)
		out = append(out, org{code, name, "", identity.KindSchool, "JN-EDU"})
		for j := 1; j <= 2; j++ { // 2 smart classrooms each: 40 in all
			out = append(out, org{fmt.Sprintf("%s-R%d", code, j), fmt.Sprintf("智慧教室%d", j), fmt.Sprintf("Smart classroom %d", j), identity.KindRoom, code})
		}
	}
	n := 0
	for _, d := range []string{"D-LW", "D-GC", "D-LWGX"} {
		for _, name := range examSites[d] {
			n++
			prefix := map[string]string{"D-LW": "E-LW", "D-GC": "E-GC", "D-LWGX": "E-GX"}[d]
			out = append(out, org{fmt.Sprintf("%s%02d", prefix, n), name + "考点", "", identity.KindExamSite, d})
		}
	}
	return out
}

// Counts of what Load creates, for messages and tests.
const (
	Schools    = 20
	ExamSites  = 29
	Classrooms = 40
)

// Loaded reports whether the demo data is already there.
func Loaded(ctx context.Context, svc *identity.Service) (bool, error) {
	_, err := svc.OrgByCode(ctx, "JN-EDU")
	if err == nil {
		return true, nil
	}
	if apperr.CodeOf(err) == apperr.NotFound {
		return false, nil
	}
	return false, err
}

// Load creates the demo data unless it is already there. It reports
// whether it created anything.
func Load(ctx context.Context, svc *identity.Service) (bool, error) {
	if ok, err := Loaded(ctx, svc); err != nil || ok {
		return false, err
	}
	ids := map[string]int64{}
	for _, o := range orgs() {
		created, err := svc.CreateOrg(ctx, nil, identity.OrgInput{ParentID: ids[o.parent], Kind: o.kind, Code: o.code, Name: o.name, NameEN: o.nameEN})
		if err != nil {
			return false, fmt.Errorf("demo org %s: %w", o.code, err)
		}
		ids[o.code] = created.ID
	}
	f := false
	for _, a := range Accounts() {
		orgID, ok := ids[a.OrgCode]
		if !ok {
			return false, errors.New("demo account in unknown org " + a.OrgCode)
		}
		_, err := svc.CreateUser(ctx, nil, identity.UserInput{OrgID: orgID, Username: a.Username, DisplayName: a.Name,
			Password: Password, Roles: []identity.Role{a.Role}, MustChangePassword: &f})
		if err != nil {
			return false, fmt.Errorf("demo user %s: %w", a.Username, err)
		}
		if err := svc.MarkDemo(ctx, a.Username); err != nil {
			return false, err
		}
	}
	return true, nil
}
