package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"jnedu/internal/demo"
	"jnedu/internal/identity"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/tabular"
	"jnedu/internal/roster"
)

// rosterID makes a valid GB 11643 ID number.
func rosterID(first17 string) string { return first17 + string(roster.IDCheckChar(first17)) }

// TestRosterThroughTheWeb imports a GBK student list through the API as
// a school administrator, then reads it through the API, the pages and
// both exports: the full ID number appears nowhere, the masked one does;
// another school's administrator and a teacher of another school get 404;
// the import and the exports are in the audit log.
func TestRosterThroughTheWeb(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx := context.Background()
		id1, id2 := rosterID("37010220130305001"), rosterID("37010220130601002")
		list := "学籍号,姓名,性别,出生日期,身份证号,民族,学校代码,年级,班级\r\n" +
			"L001,张三,男,2013-03-05," + id1 + ",汉族,S-JN01,七年级,1班\r\n" +
			"L002,李四,女,2013-06-01," + id2 + ",回族,S-JN01,七年级,1班\r\n"
		gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(list))
		if err != nil {
			t.Fatal(err)
		}
		admin := ta.client(t)
		admin.login("school_admin", demo.Password)
		ct, body := multipartFile(t, "学生名单.csv", gbk, map[string]string{"dry_run": "1"})
		var rep roster.Report
		resp := admin.do("POST", "/api/v1/roster/import", ct, body, nil)
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&rep) != nil || rep.Applied || rep.Students.Created != 2 {
			t.Fatalf("dry run: status %d, %+v", resp.StatusCode, rep)
		}
		ct, body = multipartFile(t, "学生名单.csv", gbk, nil)
		resp = admin.do("POST", "/api/v1/roster/import", ct, body, nil)
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&rep) != nil || !rep.Applied {
			t.Fatalf("import: status %d, %+v", resp.StatusCode, rep)
		}
		// A bad row: 422 with the report, nothing written.
		bad := strings.Replace(list, id2, id2[:17]+"0", 1)
		if bad == list || id2[17] == '0' {
			bad = strings.Replace(list, id2, id2[:17]+"1", 1)
		}
		ct, body = multipartFile(t, "bad.csv", []byte(strings.Replace(bad, "李四", "李思", 1)), nil)
		resp = admin.do("POST", "/api/v1/roster/import", ct, body, nil)
		if b := mustRead(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(b, "roster.err_id_checksum") || strings.Contains(b, id2[:17]) {
			t.Errorf("bad import: status %d, %s", resp.StatusCode, b)
		}

		var schools struct{ Schools []roster.School }
		admin.getJSON("/api/v1/roster/schools", &schools)
		if len(schools.Schools) != 1 || schools.Schools[0].Code != "S-JN01" || schools.Schools[0].Students != 2 {
			t.Fatalf("schools = %+v", schools)
		}
		var classes struct{ Classes []roster.Class }
		admin.getJSON(fmt.Sprintf("/api/v1/roster/schools/%d/classes", schools.Schools[0].OrgID), &classes)
		if len(classes.Classes) != 1 {
			t.Fatalf("classes = %+v", classes)
		}
		cid := classes.Classes[0].ID
		var class roster.ClassDetail
		admin.getJSON(fmt.Sprintf("/api/v1/roster/classes/%d", cid), &class)
		if len(class.Students) != 2 || class.Students[1].Name != "李四" {
			t.Fatalf("class = %+v", class)
		}
		pid := class.Students[0].ID
		for _, path := range []string{
			fmt.Sprintf("/api/v1/roster/classes/%d", cid), fmt.Sprintf("/api/v1/roster/people/%d", pid),
			fmt.Sprintf("/roster/classes/%d", cid), fmt.Sprintf("/roster/people/%d", pid),
			fmt.Sprintf("/roster/classes/%d/export", cid), "/roster", fmt.Sprintf("/roster/schools/%d", schools.Schools[0].OrgID),
		} {
			resp := admin.do("GET", path, "", "", nil)
			b := mustRead(t, resp)
			if resp.StatusCode != 200 {
				t.Errorf("GET %s: status %d", path, resp.StatusCode)
				continue
			}
			if strings.Contains(b, id1) || strings.Contains(b, id2) {
				t.Errorf("GET %s shows a full ID number", path)
			}
			if !strings.Contains(path, "/schools/") && path != "/roster" && !strings.Contains(b, roster.MaskID(id1)) {
				t.Errorf("GET %s lacks the masked ID number %s", path, roster.MaskID(id1))
			}
		}
		resp = admin.do("GET", fmt.Sprintf("/roster/classes/%d/export?format=xlsx", cid), "", "", nil)
		tab, err := tabular.Read(resp.Body, "x.xlsx", tabular.Limits{})
		if err != nil || len(tab.Rows) != 2 {
			t.Fatalf("xlsx export: %v", err)
		}
		for _, r := range tab.Rows {
			if cell := tab.Get(r, "身份证号"); strings.Contains(strings.Join(r.Cells, "|"), id1) || !strings.Contains(cell, "**********") {
				t.Errorf("xlsx row %v", r.Cells)
			}
		}
		// Outsiders: not found.
		admin09 := ta.client(t)
		no := false
		s9, err := ta.Identity.OrgByCode(ctx, "S-JN09")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ta.Identity.CreateUser(ctx, nil, identity.UserInput{OrgID: s9.ID, Username: "admin09", DisplayName: "钱校长",
			Password: demo.Password, Roles: []identity.Role{identity.RoleSchoolAdmin}, MustChangePassword: &no}); err != nil {
			t.Fatal(err)
		}
		admin09.login("admin09", demo.Password)
		teacher2 := ta.client(t)
		teacher2.login("teacher2", demo.Password)
		for _, c := range []*client{admin09, teacher2} {
			for _, path := range []string{fmt.Sprintf("/api/v1/roster/classes/%d", cid), fmt.Sprintf("/api/v1/roster/people/%d", pid),
				fmt.Sprintf("/roster/classes/%d/export", cid)} {
				if resp := c.do("GET", path, "", "", nil); resp.StatusCode != 404 {
					t.Errorf("outsider GET %s: status %d", path, resp.StatusCode)
				}
			}
		}
		admin09.getJSON("/api/v1/roster/schools", &schools)
		if len(schools.Schools) != 1 || schools.Schools[0].Code != "S-JN09" || schools.Schools[0].Students != 0 {
			t.Errorf("admin09 schools = %+v", schools)
		}
		var n int
		d.QueryRow(ctx, "SELECT COUNT(*) FROM identity_audit WHERE action = ? AND result = ?", "roster.export", "ok").Scan(&n)
		if n != 2 {
			t.Errorf("%d export audit entries, want 2", n)
		}
		d.QueryRow(ctx, "SELECT COUNT(*) FROM identity_audit WHERE action = ? AND target LIKE ?", "POST /api/v1/roster/import", "roster-import:%").Scan(&n)
		if n != 3 {
			t.Errorf("%d import audit entries, want 3", n)
		}
	})
}

// TestRosterCLI runs "jnedu roster import" against a data folder.
func TestRosterCLI(t *testing.T) {
	dir := t.TempDir()
	env := func(k string) string {
		return map[string]string{"JNEDU_DATA_DIR": dir, "JNEDU_DEMO": "true", "LANG": "zh_CN.UTF-8"}[k]
	}
	var out, errOut strings.Builder
	if code := Main(context.Background(), []string{"demo"}, &out, &errOut, env); code != 0 {
		t.Fatalf("demo: %s", errOut.String())
	}
	file := filepath.Join(dir, "学生.csv")
	list := "学籍号,姓名,性别,身份证号,学校代码,年级,班级\r\nL001,张三,男," + rosterID("37010220130305001") + ",S-JN01,七年级,1班\r\n"
	if err := os.WriteFile(file, []byte(list), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := Main(context.Background(), []string{"roster", "import", "-dry-run", file}, &out, &errOut, env); code != 0 || !strings.Contains(out.String(), "仅校验") {
		t.Errorf("dry run: code %d, %s %s", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := Main(context.Background(), []string{"roster", "import", "-format", "csv", file}, &out, &errOut, env); code != 0 || !strings.Contains(out.String(), "学生 新增 1") {
		t.Errorf("import: code %d, %s %s", code, out.String(), errOut.String())
	}
	bad := strings.Replace(list, "七年级", "十三年级", 1)
	os.WriteFile(file, []byte(bad), 0o600)
	out.Reset()
	errOut.Reset()
	if code := Main(context.Background(), []string{"roster", "import", file}, &out, &errOut, env); code != 1 || !strings.Contains(out.String(), "年级“十三年级”无法识别") {
		t.Errorf("bad file: code %d, %s %s", code, out.String(), errOut.String())
	}
}
