package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"jnedu/internal/demo"
	"jnedu/internal/identity"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/tabular"
)

func errCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	var e struct {
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("error body is not JSON: %v", err)
	}
	return e.Error.Code
}

func TestSignIn(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)

		c := ta.client(t)
		if resp := c.login("teacher", "wrong-password-1"); resp.StatusCode != 401 || errCode(t, resp) != "unauthenticated" {
			t.Errorf("wrong password: status %d, want 401 unauthenticated", resp.StatusCode)
		}
		if resp := c.login("nobody", "wrong-password-1"); resp.StatusCode != 401 {
			t.Errorf("unknown user: status %d, want 401", resp.StatusCode)
		}
		// Page sign-in with a wrong password shows the form again, in Chinese.
		resp := c.do("POST", "/login", "application/x-www-form-urlencoded", form("username", "teacher", "password", "nope-nope-1"), nil)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 401 || !strings.Contains(string(b), "用户名或密码不正确") {
			t.Errorf("page sign-in with a wrong password: status %d, body lacks the Chinese message", resp.StatusCode)
		}
		// Third failure (limit 3) locks the account, even for the right password.
		if resp := c.login("teacher", "wrong-password-3"); resp.StatusCode != http.StatusLocked {
			t.Errorf("third failure: status %d, want 423", resp.StatusCode)
		}
		if resp := c.login("teacher", demo.Password); resp.StatusCode != http.StatusLocked {
			t.Errorf("right password while locked: status %d, want 423", resp.StatusCode)
		}

		// Page sign-in works, sets a hardened cookie, and the portal greets.
		c2 := ta.client(t)
		resp = c2.do("POST", "/login", "application/x-www-form-urlencoded", form("username", "Admin", "password", demo.Password, "next", "//evil.example/x"), nil)
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
			t.Fatalf("page sign-in: status %d to %q, want 303 to / (never offsite)", resp.StatusCode, resp.Header.Get("Location"))
		}
		var sc *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == identity.SessionCookie {
				sc = ck
			}
		}
		if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode {
			t.Fatalf("session cookie = %+v, want HttpOnly and SameSite=Lax", sc)
		}
		resp = c2.do("GET", "/", "", "", nil)
		b, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), "王建国") || !strings.Contains(string(b), "平台管理员") {
			t.Errorf("portal: status %d; want the admin's name and role", resp.StatusCode)
		}
		// English when switched.
		resp = c2.do("GET", "/?lang=en", "", "", nil)
		b, _ = io.ReadAll(resp.Body)
		if !strings.Contains(string(b), "Platform administrator") || !strings.Contains(string(b), `lang="en"`) {
			t.Errorf("portal in English lacks the English role name")
		}
		// A profile change through the API, with validation.
		var meCSRF struct {
			CSRF string `json:"csrf_token"`
		}
		c2.getJSON("/api/v1/me", &meCSRF)
		c2.csrf = meCSRF.CSRF
		if resp := c2.do("PATCH", "/api/v1/me", "application/json", `{"display_name":"王建国","email":"not-an-email"}`, nil); resp.StatusCode != 400 {
			t.Errorf("bad email: %d, want 400", resp.StatusCode)
		}
		if resp := c2.do("PATCH", "/api/v1/me", "application/json", `{"display_name":"王建国","locale":"en","phone":"0531-86000000"}`, nil); resp.StatusCode != 200 {
			t.Errorf("profile change: %d, want 200", resp.StatusCode)
		}
		c2.csrf = ""
		// A page link cannot put its own words on the page.
		resp = c2.do("GET", "/?flash="+url.QueryEscape("请拨打 400 电话领奖"), "", "", nil)
		if b := mustRead(t, resp); strings.Contains(b, "领奖") {
			t.Error("an arbitrary ?flash= text was shown on the page")
		}
		// Sign out: the session no longer works.
		me := c2.getJSON("/api/v1/me", nil)
		if me != 200 {
			t.Fatalf("me: %d", me)
		}
		var csrf struct {
			CSRF string `json:"csrf_token"`
		}
		c2.getJSON("/api/v1/me", &csrf)
		c2.csrf = csrf.CSRF
		if resp := c2.do("POST", "/logout", "application/x-www-form-urlencoded", form("_csrf", csrf.CSRF), nil); resp.StatusCode != 303 {
			t.Errorf("logout: %d", resp.StatusCode)
		}
		if st := c2.getJSON("/api/v1/me", nil); st != 401 {
			t.Errorf("after logout: /api/v1/me status %d, want 401", st)
		}
	})
}

func TestDemoAccountsMustChangePasswordOutsideDemoMode(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, false)
		c := ta.client(t)
		if resp := c.login("teacher", demo.Password); resp.StatusCode != 200 {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		if resp := c.do("GET", "/", "", "", nil); resp.StatusCode != 303 || resp.Header.Get("Location") != "/account/password" {
			t.Errorf("portal before the password change: %d to %q, want 303 to /account/password", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp := c.do("GET", "/api/v1/roles", "", "", nil); resp.StatusCode != 403 || errCode(t, resp) != "password_change" {
			t.Errorf("API before the password change: status %d, want 403 password_change", resp.StatusCode)
		}
		body := `{"old_password":"` + demo.Password + `","password":"short"}`
		if resp := c.do("PUT", "/api/v1/me/password", "application/json", body, nil); resp.StatusCode != 400 {
			t.Errorf("weak new password: status %d, want 400", resp.StatusCode)
		}
		body = `{"old_password":"` + demo.Password + `","password":"Lesson-plan-2027"}`
		if resp := c.do("PUT", "/api/v1/me/password", "application/json", body, nil); resp.StatusCode != 204 {
			t.Fatalf("password change: status %d, want 204", resp.StatusCode)
		}
		if resp := c.do("GET", "/", "", "", nil); resp.StatusCode != 200 {
			t.Errorf("portal after the change: %d, want 200", resp.StatusCode)
		}
	})
}

func TestAPITokens(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		c := ta.client(t)
		c.login("school_admin", demo.Password)
		var created struct {
			Token  identity.Token `json:"token"`
			Secret string         `json:"secret"`
		}
		resp := c.do("POST", "/api/v1/me/tokens", "application/json", `{"name":"教务脚本","scopes":["read"],"expires_in_days":30}`, nil)
		if resp.StatusCode != 201 {
			t.Fatalf("create token: %d", resp.StatusCode)
		}
		json.NewDecoder(resp.Body).Decode(&created)
		bearer := map[string]string{"Authorization": "Bearer " + created.Secret}
		anon := ta.client(t)
		if resp := anon.do("GET", "/api/v1/users", "", "", bearer); resp.StatusCode != 200 {
			t.Errorf("read with a read token: %d, want 200", resp.StatusCode)
		}
		if resp := anon.do("POST", "/api/v1/orgs", "application/json", `{}`, bearer); resp.StatusCode != 403 {
			t.Errorf("write with a read-only token: %d, want 403", resp.StatusCode)
		}
		if resp := anon.do("POST", "/api/v1/me/tokens", "application/json", `{"name":"x","scopes":["write"],"expires_in_days":1}`, bearer); resp.StatusCode != 403 {
			t.Errorf("a token making tokens: %d, want 403", resp.StatusCode)
		}
		// The stored form is a hash: the secret is nowhere in the table.
		var n int
		if err := d.QueryRow(context.Background(), "SELECT COUNT(*) FROM identity_tokens WHERE hash = ? OR prefix = ?", created.Secret, created.Secret).Scan(&n); err != nil || n != 0 {
			t.Errorf("token secret stored in clear (%d rows, %v)", n, err)
		}
		if resp := c.do("DELETE", fmt.Sprintf("/api/v1/me/tokens/%d", created.Token.ID), "", "", nil); resp.StatusCode != 204 {
			t.Errorf("revoke: %d", resp.StatusCode)
		}
		if resp := anon.do("GET", "/api/v1/users", "", "", bearer); resp.StatusCode != 401 {
			t.Errorf("revoked token: %d, want 401", resp.StatusCode)
		}
		if resp := anon.do("GET", "/api/v1/users", "", "", map[string]string{"Authorization": "Bearer jn_nope_nope"}); resp.StatusCode != 401 {
			t.Errorf("made-up token: %d, want 401", resp.StatusCode)
		}
	})
}

func TestBadInput(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		c := ta.client(t)
		c.login("admin", demo.Password)
		cases := []struct {
			name, ctype, body string
			status            int
			code              string
		}{
			{"unknown field", "application/json", `{"kind":"school","code":"X1","name":"学校","parent_id":1,"colour":"red"}`, 400, "invalid"},
			{"syntax", "application/json", `{"kind":`, 400, "invalid"},
			{"trailing data", "application/json", `{"kind":"school","code":"X1","name":"学校","parent_id":1} {}`, 400, "invalid"},
			{"wrong type", "application/json", `{"parent_id":"one"}`, 400, "invalid"},
			{"not JSON", "text/plain", `hello`, 415, "unsupported"},
			{"too large", "application/json", `{"name":"` + strings.Repeat("长", 600000) + `"}`, 413, "too_large"},
			{"bad kind", "application/json", `{"kind":"castle","code":"X1","name":"学校","parent_id":1}`, 400, "invalid"},
			{"empty name", "application/json", `{"kind":"school","code":"X1","name":"  ","parent_id":1}`, 400, "invalid"},
			{"room under bureau", "application/json", `{"kind":"room","code":"X1","name":"教室","parent_id":1}`, 400, "invalid"},
		}
		for _, tc := range cases {
			resp := c.do("POST", "/api/v1/orgs", tc.ctype, tc.body, nil)
			if resp.StatusCode != tc.status {
				t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
				continue
			}
			if got := errCode(t, resp); got != tc.code {
				t.Errorf("%s: code %q, want %q", tc.name, got, tc.code)
			}
		}
		// Error messages follow the caller's language.
		resp := c.do("POST", "/api/v1/orgs?lang=en", "application/json", `{"kind":"castle"}`, nil)
		var e struct{ Error struct{ Message string } }
		json.NewDecoder(resp.Body).Decode(&e)
		if !strings.Contains(e.Error.Message, "correct") {
			t.Errorf("English error message = %q", e.Error.Message)
		}
		// Unknown pages get a Chinese 404 page, never a stack trace.
		resp = c.do("GET", "/no/such/page?lang=zh-CN", "", "", nil)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 404 || !strings.Contains(string(b), "不存在") {
			t.Errorf("unknown page: %d", resp.StatusCode)
		}
		resp = c.do("GET", "/api/v1/users/999999", "", "", nil)
		if resp.StatusCode != 404 || errCode(t, resp) != "not_found" {
			t.Errorf("unknown user: %d", resp.StatusCode)
		}
	})
}

// TestSchoolAdminScope: a school admin manages only their own school.
func TestSchoolAdminScope(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx := context.Background()
		own, _ := ta.Identity.OrgByCode(ctx, "S-JN01")
		other, _ := ta.Identity.OrgByCode(ctx, "S-JN02")
		c := ta.client(t)
		c.login("school_admin", demo.Password)
		mk := func(org int64, user, role string) int {
			body := fmt.Sprintf(`{"org_id":%d,"username":%q,"display_name":"测试","password":"Teach-2026-ok","roles":[%q]}`, org, user, role)
			return c.do("POST", "/api/v1/users", "application/json", body, nil).StatusCode
		}
		if st := mk(own.ID, "t_own", "teacher"); st != 201 {
			t.Errorf("teacher in own school: %d, want 201", st)
		}
		if st := mk(other.ID, "t_other", "teacher"); st != 403 {
			t.Errorf("teacher in another school: %d, want 403", st)
		}
		if st := mk(own.ID, "t_boss", "platform_admin"); st != 400 {
			t.Errorf("granting platform admin: %d, want 400", st)
		}
		var list struct {
			Users []identity.User `json:"users"`
			Total int             `json:"total"`
		}
		c.getJSON("/api/v1/users?limit=500", &list)
		for _, u := range list.Users {
			if u.OrgID != own.ID {
				o, _ := ta.Identity.Org(ctx, u.OrgID)
				if !strings.HasPrefix(o.Path, own.Path) {
					t.Errorf("school admin sees user %s of %s", u.Username, o.Name)
				}
			}
		}
		if list.Total < 3 {
			t.Errorf("school admin sees %d users, want at least 3 of the school", list.Total)
		}
		if st := c.getJSON(fmt.Sprintf("/api/v1/orgs/%d", other.ID), nil); st != 404 {
			t.Errorf("another school's record: %d, want 404", st)
		}
	})
}

func multipartFile(t *testing.T, name string, data []byte, fields map[string]string) (string, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return mw.FormDataContentType(), buf.String()
}

func TestImportAllOrNothing(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		c := ta.client(t)
		c.login("admin", demo.Password)
		countUsers := func() int {
			var n int
			d.QueryRow(context.Background(), "SELECT COUNT(*) FROM identity_users").Scan(&n)
			return n
		}
		before := countUsers()
		gbk := func(s string) []byte {
			b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		bad := "用户名,姓名,机构代码,角色,手机\r\n" +
			"wanglei,王磊,S-JN03,教师,13900000001\r\n" +
			"wanglei,王磊二,S-JN03,教师,\r\n" +
			"zhaomin,赵敏,NO-SUCH,教师,\r\n" +
			"qianfang,钱芳,S-JN03,校长,\r\n" +
			"sunli,,S-JN03,教师,abc\r\n"
		ct, body := multipartFile(t, "教师名单.csv", gbk(bad), nil)
		resp := c.do("POST", "/api/v1/users/import", ct, body, nil)
		var rep identity.ImportReport
		json.NewDecoder(resp.Body).Decode(&rep)
		if resp.StatusCode != 422 || rep.Applied || rep.Total != 5 || rep.Invalid != 4 || rep.Valid != 1 {
			t.Fatalf("bad GBK file: status %d, report %+v; want 422 with 4 of 5 rows invalid", resp.StatusCode, rep)
		}
		wantErr := map[int]string{3: "重复", 4: "NO-SUCH", 5: "校长", 6: "姓名"}
		for _, r := range rep.Rows {
			if w, ok := wantErr[r.Line]; ok && !strings.Contains(strings.Join(r.Errors, ";"), w) {
				t.Errorf("line %d errors %q, want mention of %q", r.Line, r.Errors, w)
			}
		}
		if n := countUsers(); n != before {
			t.Fatalf("a rejected import created %d users", n-before)
		}
		good := "\ufeff用户名,姓名,机构代码,角色\n" +
			"wanglei,王磊,S-JN03,教师\n" +
			"zhaomin,赵敏,S-JN03,教师、评卷员\n"
		ct, body = multipartFile(t, "teachers.csv", []byte(good), map[string]string{"dry_run": "1"})
		resp = c.do("POST", "/api/v1/users/import", ct, body, nil)
		rep = identity.ImportReport{}
		json.NewDecoder(resp.Body).Decode(&rep)
		if resp.StatusCode != 200 || rep.Applied || rep.Valid != 2 || countUsers() != before {
			t.Fatalf("dry run: status %d, %+v; want nothing applied", resp.StatusCode, rep)
		}
		ct, body = multipartFile(t, "teachers.csv", []byte(good), nil)
		resp = c.do("POST", "/api/v1/users/import", ct, body, nil)
		rep = identity.ImportReport{}
		json.NewDecoder(resp.Body).Decode(&rep)
		if resp.StatusCode != 200 || !rep.Applied || countUsers() != before+2 {
			t.Fatalf("good file: status %d, applied %v, %d new users", resp.StatusCode, rep.Applied, countUsers()-before)
		}
		// XLSX as offices save it, with Chinese headers.
		var xb bytes.Buffer
		if err := tabular.WriteXLSX(&xb, "教师", []string{"用户名", "姓名", "机构代码", "角色", "手机"},
			[][]string{{"liuxin", "刘欣", "S-JN04", "教师", "13912345678"}}); err != nil {
			t.Fatal(err)
		}
		ct, body = multipartFile(t, "教师.xlsx", xb.Bytes(), nil)
		resp = c.do("POST", "/api/v1/users/import", ct, body, nil)
		var xrep identity.ImportReport
		json.NewDecoder(resp.Body).Decode(&xrep)
		if resp.StatusCode != 200 || !xrep.Applied {
			t.Fatalf("xlsx import: status %d, %+v", resp.StatusCode, xrep)
		}
		if u, err := ta.Identity.UserByName(context.Background(), "liuxin"); err != nil || u.Phone != "13912345678" {
			t.Errorf("xlsx user: %+v, %v", u, err)
		}
		// The generated password works, and must be changed.
		nc := ta.client(t)
		if resp := nc.login("zhaomin", rep.Rows[1].Password); resp.StatusCode != 200 {
			t.Fatalf("imported user sign-in: %d", resp.StatusCode)
		}
		var me struct {
			MustChange  bool     `json:"must_change_password"`
			Permissions []string `json:"permissions"`
		}
		nc.getJSON("/api/v1/me", &me)
		if !me.MustChange {
			t.Errorf("imported user need not change the password")
		}
	})
}

func TestAuditLog(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx := context.Background()
		c := ta.client(t)
		c.login("admin", demo.Password)
		c.do("POST", "/api/v1/orgs", "application/json", `{"kind":"school","code":"AUD-1","name":"审计测试学校","parent_id":1}`, nil)
		c.do("POST", "/api/v1/orgs", "application/json", `{"kind":"castle"}`, nil)
		t2 := ta.client(t)
		t2.login("teacher", demo.Password)
		t2.do("POST", "/api/v1/orgs", "application/json", `{}`, nil)

		var list struct {
			Entries []identity.AuditEntry `json:"entries"`
			Total   int                   `json:"total"`
		}
		if st := c.getJSON("/api/v1/audit?limit=100", &list); st != 200 {
			t.Fatalf("audit: %d", st)
		}
		results := map[string]int{}
		for _, e := range list.Entries {
			if e.Action == "POST /api/v1/orgs" {
				results[e.Result]++
				if e.IP == "" || e.ActorName == "" || e.RequestID == "" {
					t.Errorf("audit entry lacks who/where: %+v", e)
				}
			}
		}
		if results["ok"] != 1 || results["failed"] != 1 || results["denied"] != 1 {
			t.Errorf("org creation audit results = %v, want one ok, one failed, one denied", results)
		}
		logins := 0
		for _, e := range list.Entries {
			if e.Action == "login" && e.Result == "ok" {
				logins++
			}
		}
		if logins != 2 {
			t.Errorf("%d successful logins audited, want 2", logins)
		}
		// CSV export, itself audited.
		resp := c.do("GET", "/api/v1/audit/export?action=orgs", "", "", nil)
		rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(mustRead(t, resp), "\ufeff"))).ReadAll()
		if err != nil || len(rows) != 4 || rows[0][1] != "时间" {
			t.Errorf("CSV export: %d rows (%v), want header + 3", len(rows), err)
		}
		var n int
		d.QueryRow(ctx, "SELECT COUNT(*) FROM identity_audit WHERE action = 'audit.export'").Scan(&n)
		if n != 1 {
			t.Errorf("export audited %d times, want 1", n)
		}
		// Append-only: the database refuses changes and early deletions.
		if _, err := d.Exec(ctx, "UPDATE identity_audit SET result = 'ok'"); err == nil {
			t.Error("audit rows could be updated")
		}
		if _, err := d.Exec(ctx, "DELETE FROM identity_audit"); err == nil {
			t.Error("fresh audit rows could be deleted")
		}
		old := int64(1_000_000) // 1970: older than 180 days
		if _, err := d.Exec(ctx, "INSERT INTO identity_audit (at, actor_name, action, result) VALUES (?, 'x', 'old', 'ok')", old); err != nil {
			t.Fatal(err)
		}
		if pruned, err := ta.Identity.PruneAudit(ctx); err != nil || pruned != 1 {
			t.Errorf("prune: %d, %v; want the one old record", pruned, err)
		}
		// A security operator reads the audit; a teacher may not.
		if st := t2.getJSON("/api/v1/audit", nil); st != 403 {
			t.Errorf("teacher reads audit: %d", st)
		}
	})
}

func mustRead(t *testing.T, resp *http.Response) string {
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSystemEndpoints(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		c := ta.client(t)
		var h health
		if st := c.getJSON("/readyz", &h); st != 200 || h.Pending != 0 {
			t.Errorf("readyz: %d %+v", st, h)
		}
		c.getJSON("/healthz", nil)
		resp := c.do("GET", "/metrics", "", "", nil)
		m := mustRead(t, resp)
		for _, want := range []string{"jnedu_http_requests_total", "jnedu_http_request_duration_seconds", "jnedu_db_open_connections", "jnedu_events_outbox_backlog", `route="GET /readyz"`} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		var doc map[string]any
		if st := c.getJSON("/api/v1/openapi.json", &doc); st != 200 || doc["openapi"] != "3.0.3" {
			t.Fatalf("openapi: %d", st)
		}
		paths := doc["paths"].(map[string]any)
		for _, rt := range ta.Routes.All() {
			if !rt.IsAPI() {
				continue
			}
			p := pathParam.ReplaceAllString(rt.Path, "{$1}")
			ops, ok := paths[p].(map[string]any)
			if !ok || ops[strings.ToLower(rt.Method)] == nil {
				t.Errorf("openapi lacks %s", rt.Pattern())
			}
		}
	})
}

// TestPageForms: a wrong form comes back with the field's Chinese message
// and what was typed, never an error page.
func TestPageForms(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		c := ta.client(t)
		c.login("admin", demo.Password)
		csrf := c.csrf
		c.csrf = ""
		teacher, _ := ta.Identity.UserByName(context.Background(), "teacher")
		cases := []struct {
			path, body string
			want       []string
		}{
			{"/orgs", form("_csrf", csrf, "parent_id", "1", "kind", "school", "code", "bad code!", "name", ""), []string{"机构代码只能包含", "必填", "bad code!"}},
			{"/users", form("_csrf", csrf, "org_id", "1", "username", "Zhang San", "display_name", "张三", "password", "123", "roles", "teacher"), []string{"用户名须为", "密码至少 8 位", "张三"}},
			{fmt.Sprintf("/users/%d", teacher.ID), form("_csrf", csrf, "org_id", fmt.Sprint(teacher.OrgID), "display_name", "张晓梅", "email", "nope", "roles", "teacher"), []string{"邮箱格式不正确", `value="nope"`}},
			{fmt.Sprintf("/users/%d/password", teacher.ID), form("_csrf", csrf, "password", "abc"), []string{"密码至少 8 位"}},
			{"/account/password", form("_csrf", csrf, "old_password", "x", "password", "Another-pass-9", "password2", "Another-pass-8"), []string{"两次输入的新密码不一致"}},
		}
		for _, tc := range cases {
			resp := c.do("POST", tc.path+"?lang=zh-CN", "application/x-www-form-urlencoded", tc.body, nil)
			b := mustRead(t, resp)
			if resp.StatusCode != 400 {
				t.Errorf("POST %s: status %d, want 400", tc.path, resp.StatusCode)
			}
			for _, w := range tc.want {
				if !strings.Contains(b, w) {
					t.Errorf("POST %s: page lacks %q", tc.path, w)
				}
			}
		}
	})
}
