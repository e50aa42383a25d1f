package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"jnedu/internal/demo"
	"jnedu/internal/lrs"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
	"jnedu/internal/share"
)

// runBus runs the app's event relay until the returned stop is called.
func runBus(t *testing.T, a *App) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Bus.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("bus: %v", err)
		}
	}
}

// waitFor polls cond until it holds; it fails the test after a generous
// bound (a stuck relay, not a slow one).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting for %s", what)
}

func count(t *testing.T, d *db.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := d.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestVideoViewBecomesStatement: a watching record published by video
// sharing is stored as one xAPI statement, and stays one when the event is
// delivered again (as after a crash before the relay noted its progress).
func TestVideoViewBecomesStatement(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx := context.Background()
		student, err := ta.Identity.UserByName(ctx, "student")
		if err != nil {
			t.Fatal(err)
		}
		school, err := ta.Identity.Org(ctx, student.OrgID)
		if err != nil {
			t.Fatal(err)
		}
		ev := share.ViewEvent{
			Actor:  share.ViewActor{UserID: student.ID, Name: student.DisplayName, OrgID: school.ID},
			Verb:   share.VerbCompleted,
			Object: share.ViewObject{ID: share.ActivityID("http://127.0.0.1:8080", 42), VideoID: 42, Title: "初二英语听说公开课", OrgID: school.ID, Duration: 600000},
			Result: share.ViewResult{PositionMS: 590000, WatchedMS: 612345, Progress: 0.983, Completed: true},
			At:     time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC).UnixMilli(),
		}
		if err := d.InTx(ctx, func(tx *db.Tx) error { return events.PublishTx(ctx, tx, ta.Bus, share.TopicViewed, ev) }); err != nil {
			t.Fatal(err)
		}
		var eventID string
		if err := d.QueryRow(ctx, "SELECT id FROM events_outbox WHERE topic = ?", share.TopicViewed.Name).Scan(&eventID); err != nil {
			t.Fatal(err)
		}
		stop := runBus(t, ta.App)
		waitFor(t, "the statement", func() bool { return count(t, d, "SELECT COUNT(*) FROM lrs_statements") > 0 })
		stop()

		// Deliver the event again from a fresh process on the same database.
		if _, err := d.Exec(ctx, "UPDATE events_subscribers SET position = 0, lease_until = 0 WHERE name = ?", recordsSubscriber); err != nil {
			t.Fatal(err)
		}
		second, err := New(ctx, ta.Cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		stop = runBus(t, second)
		waitFor(t, "the redelivery", func() bool {
			return count(t, d, "SELECT COUNT(*) FROM events_subscribers WHERE name = ? AND position > 0", recordsSubscriber) == 1
		})
		stop()
		if n := count(t, d, "SELECT COUNT(*) FROM lrs_statements"); n != 1 {
			t.Fatalf("statements after redelivery: %d, want 1", n)
		}
		if n := count(t, d, "SELECT COUNT(*) FROM events_parked"); n != 0 {
			t.Errorf("%d events parked; want none", n)
		}
		id := statementID(share.TopicViewed.Name, eventID)
		st, err := ta.LRS.Statement(ctx, id, school.Path)
		if err != nil {
			t.Fatalf("statement %s in the school's records: %v", id, err)
		}
		body, _ := json.Marshal(st.Body)
		for _, want := range []string{`"homePage":"http://127.0.0.1:8080"`, `"name":"` + itoa(student.ID) + `"`, share.VerbCompleted,
			ev.Object.ID, "初二英语听说公开课", `"completion":true`, `"2026-03-02T09:30:00.000Z"`, "/xapi/extensions/organisation"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("statement lacks %s: %s", want, body)
			}
		}
		var userID int64
		var orgPath string
		d.QueryRow(ctx, "SELECT user_id, org_path FROM lrs_statements WHERE id = ?", id).Scan(&userID, &orgPath)
		if userID != student.ID || orgPath != school.Path {
			t.Errorf("statement columns: user %d org %q, want %d %q", userID, orgPath, student.ID, school.Path)
		}

		// Through the xAPI endpoint: a credential of the school reads it, a
		// credential of another school does not.
		get := func(org string) []any {
			o, err := ta.Identity.OrgByCode(ctx, org)
			if err != nil {
				t.Fatal(err)
			}
			c, secret, err := ta.LRS.CreateClient(ctx, 1, lrs.ClientInput{Name: "读取 " + org, Scope: lrs.ScopeRead, OrgID: o.ID, OrgPath: o.Path})
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("GET", ta.srv.URL+"/xapi/statements?verb="+url.QueryEscape(share.VerbCompleted), nil)
			req.SetBasicAuth(c.Key, secret)
			req.Header.Set("X-Experience-API-Version", "2.0.0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var res struct{ Statements []any }
			if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET statements as %s: %d %v", org, resp.StatusCode, err)
			}
			return res.Statements
		}
		if got := get(school.Code); len(got) != 1 {
			t.Errorf("the school's credential reads %d statements, want 1", len(got))
		}
		if got := get("S-JN09"); len(got) != 0 {
			t.Errorf("another school's credential reads %d statements, want 0", len(got))
		}
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestCredentialPages: a school admin creates a credential for their school
// in the pages, sees the secret once, cannot create one for another school,
// and revokes it; the credential works until then.
func TestCredentialPages(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx := context.Background()
		c := ta.client(t)
		if resp := c.login("school_admin", demo.Password); resp.StatusCode != 200 {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		mine, _ := ta.Identity.OrgByCode(ctx, "S-JN01")
		other, _ := ta.Identity.OrgByCode(ctx, "S-JN09")
		resp := c.do("POST", "/lrs/clients", "application/x-www-form-urlencoded",
			form("_csrf", c.csrf, "name", "课堂互动平台", "scope", "all", "org_id", itoa(other.ID)), nil)
		page := readAll(t, resp)
		if resp.StatusCode != 400 || strings.Contains(page, `data-testid="new-secret"`) {
			t.Errorf("credential for another school: status %d", resp.StatusCode)
		}
		resp = c.do("POST", "/lrs/clients", "application/x-www-form-urlencoded",
			form("_csrf", c.csrf, "name", "课堂互动平台", "scope", "all", "org_id", itoa(mine.ID)), nil)
		page = readAll(t, resp)
		key, secret := between(page, `data-testid="new-key">`, "<"), between(page, `data-testid="new-secret">`, "<")
		if resp.StatusCode != 200 || key == "" || secret == "" {
			t.Fatalf("create credential: status %d, key %q", resp.StatusCode, key)
		}
		if list := readAll(t, c.do("GET", "/lrs/clients", "", "", nil)); !strings.Contains(list, key) || strings.Contains(list, secret) {
			t.Errorf("the list must show the key and never the secret again")
		}
		if n := count(t, d, "SELECT COUNT(*) FROM identity_audit WHERE action = ? AND result = 'ok'", "POST /lrs/clients"); n != 1 {
			t.Errorf("audited credential creations: %d, want 1", n)
		}
		xapi := func() int {
			req, _ := http.NewRequest("GET", ta.srv.URL+"/xapi/statements", nil)
			req.SetBasicAuth(key, secret)
			req.Header.Set("X-Experience-API-Version", "1.0.3")
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			return r.StatusCode
		}
		if st := xapi(); st != 200 {
			t.Fatalf("new credential: status %d, want 200", st)
		}
		var id int64
		d.QueryRow(ctx, "SELECT id FROM lrs_clients WHERE key = ?", key).Scan(&id)
		if resp := c.do("POST", "/lrs/clients/"+itoa(id)+"/revoke", "application/x-www-form-urlencoded", form("_csrf", c.csrf), nil); resp.StatusCode != 303 {
			t.Errorf("revoke: status %d", resp.StatusCode)
		}
		if st := xapi(); st != 401 {
			t.Errorf("revoked credential: status %d, want 401", st)
		}
		// Reading records in the pages is audited.
		readAll(t, c.do("GET", "/lrs/records", "", "", nil))
		if n := count(t, d, "SELECT COUNT(*) FROM identity_audit WHERE action = 'lrs.records.read'"); n != 1 {
			t.Errorf("audited record reads: %d, want 1", n)
		}
	})
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, end)
	return v
}
