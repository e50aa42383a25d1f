package app

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"jnedu/internal/demo"
	"jnedu/internal/platform/db"
)

// Who may use each route, written out independently of the role model:
// when a permission or route changes, this table must change with it.
var (
	anyone      = []string{"*"}
	everyone    = []string{"admin", "school_admin", "teacher", "teacher2", "student", "exam_staff", "examiner", "security", "editor", "device"}
	orgReaders  = []string{"admin", "school_admin", "exam_staff", "security", "device"}
	managers    = []string{"admin", "school_admin"}
	auditors    = []string{"admin", "security"}
	uploaders   = []string{"admin", "school_admin", "teacher", "teacher2", "editor"}
	siteNodes   = []string{"exam_staff"}
	examiners   = []string{"examiner"}
	leaders     = []string{"admin", "examiner"}
	examStaff   = []string{"admin", "exam_staff"}
	resultSeers = []string{"admin", "exam_staff", "school_admin", "teacher", "teacher2"}
	rosterView  = []string{"admin", "school_admin", "teacher", "teacher2", "student"}
	insightView = []string{"admin", "school_admin", "teacher", "teacher2"}
	// xapiClient: an xAPI credential (HTTP Basic key and secret), never a
	// session or bearer token. These routes are web.Route.OwnAuth.
	xapiClient = []string{"xapi-client"}
)

var routeAccess = map[string][]string{
	"GET /login":                                         anyone,
	"POST /login":                                        anyone,
	"POST /logout":                                       everyone,
	"GET /{$}":                                           everyone,
	"GET /account":                                       everyone,
	"POST /account":                                      everyone,
	"GET /account/password":                              everyone,
	"POST /account/password":                             everyone,
	"GET /account/tokens":                                everyone,
	"POST /account/tokens":                               everyone,
	"POST /account/tokens/{id}/revoke":                   everyone,
	"GET /orgs":                                          orgReaders,
	"GET /orgs/new":                                      managers,
	"POST /orgs":                                         managers,
	"GET /orgs/{id}":                                     orgReaders,
	"POST /orgs/{id}":                                    managers,
	"GET /users":                                         managers,
	"GET /users/new":                                     managers,
	"POST /users":                                        managers,
	"GET /users/{id}":                                    managers,
	"POST /users/{id}":                                   managers,
	"POST /users/{id}/password":                          managers,
	"GET /users/import":                                  managers,
	"POST /users/import":                                 managers,
	"GET /users/import/template.csv":                     managers,
	"GET /audit":                                         auditors,
	"GET /audit/export.csv":                              auditors,
	"POST /api/v1/session":                               anyone,
	"DELETE /api/v1/session":                             everyone,
	"GET /api/v1/me":                                     everyone,
	"PATCH /api/v1/me":                                   everyone,
	"PUT /api/v1/me/password":                            everyone,
	"GET /api/v1/me/tokens":                              everyone,
	"POST /api/v1/me/tokens":                             everyone,
	"DELETE /api/v1/me/tokens/{id}":                      everyone,
	"GET /api/v1/roles":                                  everyone,
	"GET /api/v1/orgs":                                   orgReaders,
	"POST /api/v1/orgs":                                  managers,
	"GET /api/v1/orgs/{id}":                              orgReaders,
	"PATCH /api/v1/orgs/{id}":                            managers,
	"GET /api/v1/users":                                  managers,
	"POST /api/v1/users":                                 managers,
	"GET /api/v1/users/{id}":                             managers,
	"PATCH /api/v1/users/{id}":                           managers,
	"POST /api/v1/users/{id}/password":                   managers,
	"POST /api/v1/users/import":                          managers,
	"GET /api/v1/audit":                                  auditors,
	"GET /api/v1/audit/export":                           auditors,
	"GET /videos":                                        everyone,
	"GET /videos/mine":                                   uploaders,
	"GET /videos/upload":                                 uploaders,
	"GET /videos/{id}":                                   anyone,
	"POST /videos/{id}":                                  uploaders,
	"POST /videos/{id}/collections":                      uploaders,
	"POST /videos/{id}/takedown":                         uploaders,
	"POST /videos/{id}/restore":                          uploaders,
	"GET /media/{id}/{file...}":                          anyone,
	"GET /api/v1/share/videos":                           everyone,
	"GET /api/v1/share/videos/{id}":                      everyone,
	"PATCH /api/v1/share/videos/{id}":                    uploaders,
	"POST /api/v1/share/videos/{id}/takedown":            uploaders,
	"POST /api/v1/share/videos/{id}/restore":             uploaders,
	"POST /api/v1/share/videos/{id}/views":               everyone,
	"POST /api/v1/share/uploads/":                        uploaders,
	"HEAD /api/v1/share/uploads/{id}":                    uploaders,
	"PATCH /api/v1/share/uploads/{id}":                   uploaders,
	"DELETE /api/v1/share/uploads/{id}":                  uploaders,
	"GET /collections/{id}":                              everyone,
	"POST /collections":                                  uploaders,
	"POST /collections/{id}":                             uploaders,
	"POST /collections/{id}/delete":                      uploaders,
	"POST /collections/{id}/videos":                      uploaders,
	"POST /collections/{id}/videos/{vid}":                uploaders,
	"GET /api/v1/share/collections":                      everyone,
	"POST /api/v1/share/collections":                     uploaders,
	"GET /api/v1/share/collections/{id}":                 everyone,
	"PATCH /api/v1/share/collections/{id}":               uploaders,
	"DELETE /api/v1/share/collections/{id}":              uploaders,
	"POST /api/v1/share/collections/{id}/videos":         uploaders,
	"PUT /api/v1/share/collections/{id}/videos":          uploaders,
	"DELETE /api/v1/share/collections/{id}/videos/{vid}": uploaders,
	"GET /videos/admin":                                  managers,
	"POST /videos/admin/jobs/{id}/retry":                 managers,
	"PUT /api/v1/exam/site/{site}/answers/{session}/files/{sha256}": examStaff,
	"POST /api/v1/exam/site/{site}/answers/{session}/manifest":      examStaff,
	"POST /api/v1/exam/marking/{exam}/tasks/next":                   examiners,
	"GET /api/v1/exam/marking/{exam}/tasks/waiting":                 examiners,
	"POST /api/v1/exam/marking/tasks/{task}/mark":                   examiners,
	"POST /api/v1/exam/marking/tasks/{task}/problem":                examiners,
	"GET /api/v1/exam/marking/tasks/{task}/audio":                   examiners,
	"GET /api/v1/exam/marking/{exam}/leader/cases":                  leaders,
	"POST /api/v1/exam/marking/{exam}/leader/cases/{id}":            leaders,
	"GET /api/v1/exam/marking/{exam}/answers/{id}/audio":            leaders,
	"GET /api/v1/exam/marking/{exam}/copies":                        leaders,
	"POST /api/v1/exam/marking/{exam}/copies/{id}/decision":         leaders,
	"GET /api/v1/exam/marking/{exam}/completeness":                  examStaff,
	"GET /api/v1/exam/marking/{exam}/qc":                            examStaff,
	"GET /api/v1/exam/results/{exam}":                               resultSeers,
	"POST /api/v1/exam/results/{exam}/reviews":                      resultSeers,
	"POST /api/v1/exam/score":                                       anyone,
	"GET /exam/marking":                                             examiners,
	"GET /exam/marking/{exam}/mark":                                 examiners,
	"GET /exam/marking/{exam}/lead":                                 leaders,
	"POST /exam/marking/{exam}/lead/{id}":                           leaders,
	"GET /exam/marking/{exam}/reviews":                              leaders,
	"GET /exam/marking/{exam}/copies":                               leaders,
	"POST /exam/marking/{exam}/copies/{id}":                         leaders,
	"GET /exam/marking/admin":                                       examStaff,
	"POST /exam/marking/admin/import":                               examStaff,
	"GET /exam/marking/{exam}/intake":                               examStaff,
	"GET /exam/marking/{exam}/intake.xlsx":                          examStaff,
	"POST /exam/marking/{exam}/settings":                            examStaff,
	"POST /exam/marking/{exam}/leaders":                             examStaff,
	"POST /exam/marking/{exam}/leaders/{id}/remove":                 examStaff,
	"POST /exam/marking/{exam}/release":                             examStaff,
	"POST /exam/marking/{exam}/calibrate":                           examStaff,
	"POST /exam/marking/{exam}/packages/{site}/{session}/reopen":    examStaff,
	"GET /exam/marking/{exam}/qc":                                   examStaff,
	"GET /exam/marking/{exam}/qc.xlsx":                              examStaff,
	"GET /exam/results":                                             resultSeers,
	"GET /exam/results/{exam}":                                      resultSeers,
	"GET /exam/results/{exam}/results.xlsx":                         resultSeers,
	"GET /exam/results/{exam}/reviews":                              resultSeers,
	"POST /exam/results/{exam}/reviews":                             resultSeers,
	"POST /exam/results/{exam}/reviews/{id}/accept":                 examStaff,
	"POST /exam/results/{exam}/reviews/{id}/answer":                 examStaff,
	"POST /exam/results/{exam}/reviews/{id}/remark":                 leaders,
	"GET /exam/score":                                               anyone,
	"POST /exam/score":                                              anyone,
	"GET /roster":                                                   rosterView,
	"GET /roster/schools/{id}":                                      rosterView,
	"GET /roster/classes/{id}":                                      rosterView,
	"GET /roster/classes/{id}/export":                               rosterView,
	"GET /roster/people/{id}":                                       rosterView,
	"GET /roster/import":                                            managers,
	"POST /roster/import":                                           managers,
	"GET /api/v1/roster/schools":                                    rosterView,
	"GET /api/v1/roster/schools/{id}/classes":                       rosterView,
	"GET /api/v1/roster/classes/{id}":                               rosterView,
	"GET /api/v1/roster/people/{id}":                                rosterView,
	"GET /api/v1/roster/me":                                         rosterView,
	"POST /api/v1/roster/import":                                    managers,
	"GET /exam/papers":                                              examStaff,
	"POST /exam/papers":                                             examStaff,
	"GET /exam/papers/{id}":                                         examStaff,
	"POST /exam/papers/{id}":                                        examStaff,
	"POST /exam/papers/{id}/publish":                                examStaff,
	"POST /exam/papers/{id}/synthesize":                             examStaff,
	"GET /exam/papers/{id}/preview":                                 examStaff,
	"GET /exam/media/{sha}":                                         examStaff,
	"GET /api/v1/exam/papers":                                       examStaff,
	"POST /api/v1/exam/papers":                                      examStaff,
	"GET /api/v1/exam/papers/{id}":                                  examStaff,
	"PUT /api/v1/exam/papers/{id}":                                  examStaff,
	"POST /api/v1/exam/papers/{id}/publish":                         examStaff,
	"POST /api/v1/exam/papers/{id}/synthesize":                      examStaff,
	"POST /api/v1/exam/media/audio":                                 examStaff,
	"POST /api/v1/exam/media/images":                                examStaff,
	"GET /exam/exams":                                               examStaff,
	"POST /exam/exams":                                              examStaff,
	"GET /exam/exams/{id}":                                          examStaff,
	"POST /exam/exams/{id}/sessions":                                examStaff,
	"POST /exam/exams/{id}/rooms":                                   examStaff,
	"POST /exam/exams/{id}/candidates/import":                       examStaff,
	"POST /exam/exams/{id}/candidates/photos":                       examStaff,
	"POST /exam/exams/{id}/seats":                                   examStaff,
	"GET /exam/exams/{id}/candidates":                               examStaff,
	"GET /exam/exams/{id}/candidates.csv":                           examStaff,
	"GET /exam/exams/{id}/tickets":                                  examStaff,
	"GET /exam/exams/{id}/signin":                                   examStaff,
	"GET /exam/exams/{id}/keys":                                     examStaff,
	"POST /exam/exams/{id}/keys/release":                            examStaff,
	"GET /exam/exams/{id}/keys/codes":                               examStaff,
	"POST /exam/exams/{id}/sessions/{session}/delete":               examStaff,
	"POST /exam/exams/{id}/sites/{site}/rooms/{room}/delete":        examStaff,
	"POST /exam/exams/{id}/seats/clear":                             examStaff,
	"GET /exam/exams/{id}/candidates/{number}":                      examStaff,
	"POST /exam/exams/{id}/candidates/{number}/photo":               examStaff,
	"POST /exam/exams/{id}/keys/rekey":                              examStaff,
	"GET /exam/exams/{id}/sites/{site}/staff":                       examStaff,
	"POST /exam/exams/{id}/sites/{site}/staff":                      examStaff,
	"GET /api/v1/exam/exams":                                        examStaff,
	"POST /api/v1/exam/exams":                                       examStaff,
	"GET /api/v1/exam/exams/{id}":                                   examStaff,
	"POST /api/v1/exam/exams/{id}/sessions":                         examStaff,
	"POST /api/v1/exam/exams/{id}/rooms":                            examStaff,
	"POST /api/v1/exam/exams/{id}/candidates/import":                examStaff,
	"PUT /api/v1/exam/exams/{id}/candidates/{number}/photo":         examStaff,
	"GET /api/v1/exam/exams/{id}/candidates":                        examStaff,
	"POST /api/v1/exam/exams/{id}/seats":                            examStaff,
	"GET /api/v1/exam/exams/{id}/keys":                              examStaff,
	"POST /api/v1/exam/exams/{id}/keys/release":                     examStaff,
	"POST /api/v1/exam/exams/{id}/keys/rekey":                       examStaff,
	"DELETE /api/v1/exam/exams/{id}/sessions/{session}":             examStaff,
	"DELETE /api/v1/exam/exams/{id}/sites/{site}/rooms/{room}":      examStaff,
	"DELETE /api/v1/exam/exams/{id}/seats":                          examStaff,
	"POST /api/v1/exam/site/{site}/register":                        siteNodes,
	"GET /api/v1/exam/site/{site}/package":                          siteNodes,
	"GET /api/v1/exam/site/{site}/blobs/{sha256}":                   siteNodes,
	"GET /api/v1/exam/site/{site}/sessions/{session}/key":           siteNodes,
	"GET /healthz":                                                  anyone,
	"GET /readyz":                                                   anyone,
	"GET /metrics":                                                  anyone,
	"GET /api/v1/openapi.json":                                      anyone,
	"GET /xapi/statements":                                          xapiClient,
	"PUT /xapi/statements":                                          xapiClient,
	"POST /xapi/statements":                                         xapiClient,
	"GET /xapi/activities/state":                                    xapiClient,
	"PUT /xapi/activities/state":                                    xapiClient,
	"POST /xapi/activities/state":                                   xapiClient,
	"DELETE /xapi/activities/state":                                 xapiClient,
	"GET /xapi/activities/profile":                                  xapiClient,
	"PUT /xapi/activities/profile":                                  xapiClient,
	"POST /xapi/activities/profile":                                 xapiClient,
	"DELETE /xapi/activities/profile":                               xapiClient,
	"GET /xapi/agents/profile":                                      xapiClient,
	"PUT /xapi/agents/profile":                                      xapiClient,
	"POST /xapi/agents/profile":                                     xapiClient,
	"DELETE /xapi/agents/profile":                                   xapiClient,
	"GET /xapi/agents":                                              xapiClient,
	"GET /xapi/activities":                                          xapiClient,
	"GET /xapi/about":                                               anyone,
	"OPTIONS /xapi/{rest...}":                                       anyone,
	"GET /lrs/clients":                                              managers,
	"POST /lrs/clients":                                             managers,
	"POST /lrs/clients/{id}/revoke":                                 managers,
	"GET /lrs/records":                                              managers,
	"GET /insight":                                                  insightView,
	"GET /insight/orgs/{id}":                                        insightView,
	"GET /insight/orgs/{id}/export":                                 insightView,
	"GET /api/v1/insight/indicators":                                insightView,
	"GET /api/v1/insight/indicators/{key}":                          insightView,
	"GET /api/v1/insight/orgs/{id}/students":                        insightView,
}

// requestFor builds a harmless request for a route: ids that exist, bodies
// that fail validation, so an allowed caller changes nothing.
func requestFor(method, path string) (string, string, string) {
	p := strings.ReplaceAll(path, "{$}", "")
	p = strings.ReplaceAll(p, "{id}", "1")
	p = strings.ReplaceAll(p, "{rest...}", "statements")
	switch {
	case method == "GET" || method == "DELETE" || method == "HEAD":
		return p, "", ""
	case strings.HasPrefix(p, "/api/"):
		if strings.HasSuffix(p, "/import") {
			return p, "multipart/form-data; boundary=x", "--x--\r\n"
		}
		return p, "application/json", "{}"
	default:
		return p, "application/x-www-form-urlencoded", ""
	}
}

// TestAuthorizationMatrix walks every route with every role (and nobody)
// and checks that each is refused exactly where it must be.
func TestAuthorizationMatrix(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		seen := map[string]bool{}
		for _, rt := range ta.Routes.All() {
			seen[rt.Pattern()] = true
			if _, ok := routeAccess[rt.Pattern()]; !ok {
				t.Errorf("route %s is not in the authorization table; add it with the roles that may use it", rt.Pattern())
			}
		}
		for p := range routeAccess {
			if !seen[p] {
				t.Errorf("authorization table names %s, which is not a route", p)
			}
		}
		// One signed-in client per demo account.
		clients := map[string]*client{}
		for _, acc := range demo.Accounts() {
			c := ta.client(t)
			if resp := c.login(acc.Username, demo.Password); resp.StatusCode != 200 {
				t.Fatalf("login %s: status %d", acc.Username, resp.StatusCode)
			}
			clients[acc.Username] = c
		}
		callers := append([]string{""}, everyone...)
		for _, rt := range ta.Routes.All() {
			allowed := routeAccess[rt.Pattern()]
			if rt.Pattern() == "POST /logout" || rt.Pattern() == "DELETE /api/v1/session" || rt.Pattern() == "POST /api/v1/session" || rt.Pattern() == "POST /login" {
				continue // these change the caller's own session: covered in TestSignIn
			}
			if rt.OwnAuth != slices.Equal(allowed, xapiClient) && !slices.Contains(allowed, "*") {
				t.Errorf("%s: OwnAuth is %v but the table says %v", rt.Pattern(), rt.OwnAuth, allowed)
			}
			for _, who := range callers {
				var c *client
				if who == "" {
					c = ta.client(t)
				} else {
					c = clients[who]
				}
				path, ctype, body := requestFor(rt.Method, rt.Path)
				if slices.Equal(allowed, xapiClient) {
					// No session or bearer token opens the xAPI endpoint:
					// 401 with a Basic challenge for everyone.
					resp := c.do(rt.Method, path, "application/json", body, map[string]string{"X-Experience-API-Version": "2.0.0"})
					if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
						t.Errorf("%s %s as %q: status %d, challenge %q; want 401 with Basic", rt.Method, path, who, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
					}
					continue
				}
				resp := c.do(rt.Method, path, ctype, body, nil)
				ok := slices.Contains(allowed, "*") || (who != "" && slices.Contains(allowed, who))
				name := who
				if name == "" {
					name = "anonymous"
				}
				switch {
				case ok && (resp.StatusCode == 401 || resp.StatusCode == 403):
					t.Errorf("%s %s as %s: status %d, want it allowed", rt.Method, path, name, resp.StatusCode)
				case !ok && who == "" && rt.IsAPI() && resp.StatusCode != 401:
					t.Errorf("%s %s as nobody: status %d, want 401", rt.Method, path, resp.StatusCode)
				case !ok && who == "" && !rt.IsAPI() && rt.Method == "GET" && (resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=")):
					t.Errorf("%s %s as nobody: status %d to %q, want 303 to /login", rt.Method, path, resp.StatusCode, resp.Header.Get("Location"))
				case !ok && who == "" && !rt.IsAPI() && rt.Method != "GET" && resp.StatusCode != 401:
					t.Errorf("%s %s as nobody: status %d, want 401", rt.Method, path, resp.StatusCode)
				case !ok && who != "" && resp.StatusCode != 403:
					t.Errorf("%s %s as %s: status %d, want 403", rt.Method, path, name, resp.StatusCode)
				}
				if !ok && rt.IsAPI() && rt.Method != "HEAD" { // a HEAD answer has no body
					var e struct {
						Error struct{ Code, Message string } `json:"error"`
					}
					if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
						t.Errorf("%s %s as %s: refusal is not a JSON error (%v)", rt.Method, path, name, err)
					}
				}
			}
		}
	})
}

// TestCSRF checks that a signed-in browser request without the token is
// refused, and one from another site too.
func TestCSRF(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		c := ta.client(t)
		c.login("admin", demo.Password)
		token := c.csrf
		c.csrf = ""
		body := form("kind", "school", "code", "CSRF-1", "name", "跨站学校", "parent_id", "1")
		if resp := c.do("POST", "/orgs", "application/x-www-form-urlencoded", body, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("form post without CSRF token: status %d, want 403", resp.StatusCode)
		}
		if resp := c.do("POST", "/orgs", "application/x-www-form-urlencoded", body+"&_csrf=wrong", nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("form post with a wrong CSRF token: status %d, want 403", resp.StatusCode)
		}
		if resp := c.do("POST", "/orgs", "application/x-www-form-urlencoded", body+"&_csrf="+token,
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site post with the right token: status %d, want 403", resp.StatusCode)
		}
		if resp := c.do("POST", "/orgs", "application/x-www-form-urlencoded", body+"&_csrf="+token, nil); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("form post with the CSRF token: status %d, want 303", resp.StatusCode)
		}
	})
}
