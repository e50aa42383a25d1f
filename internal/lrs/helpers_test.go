package lrs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"jnedu/internal/platform/clock"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
)

type fixture struct {
	t     *testing.T
	d     *db.DB
	svc   *Service
	clock *clock.Fake
}

func newFixture(t *testing.T, d *db.DB, lim Limits) *fixture {
	t.Helper()
	ctx := context.Background()
	if _, err := d.Migrate(ctx, []db.Source{events.Migrations(), Migrations()}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	c := clock.NewFake(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))
	bus := events.NewBus(d, events.Options{Logger: log, Now: c.Now})
	svc := NewService(d, bus, log, c.Now, "https://jnedu.test", []byte("0123456789abcdef0123456789abcdef"), lim)
	return &fixture{t: t, d: d, svc: svc, clock: c}
}

// stmt parses a statement written in the test.
func stmt(t *testing.T, js string) obj {
	t.Helper()
	v, err := decodeJSON([]byte(js))
	if err != nil {
		t.Fatalf("bad test statement %s: %v", js, err)
	}
	return v.(obj)
}

func statementJSON(id, actor, verb, activity string) string {
	idPart := ""
	if id != "" {
		idPart = `"id":"` + id + `",`
	}
	return fmt.Sprintf(`{%s"actor":{"objectType":"Agent","name":"学生","mbox":"mailto:%s@school.test"},
		"verb":{"id":"%s","display":{"zh-CN":"完成","en-US":"completed"}},
		"object":{"objectType":"Activity","id":"%s","definition":{"name":{"zh-CN":"听说练习"}}}}`, idPart, actor, verb, activity)
}

const (
	verbCompleted = "http://adlnet.gov/expapi/verbs/completed"
	verbAttempted = "http://adlnet.gov/expapi/verbs/attempted"
)

// server is an httptest server in front of the xAPI endpoint with one
// client of each scope.
type server struct {
	*fixture
	srv               *httptest.Server
	all, read, write  Client
	allS, readS, wrtS string
}

func newServer(t *testing.T, d *db.DB, lim Limits) *server {
	t.Helper()
	f := newFixture(t, d, lim)
	s := &server{fixture: f}
	api := NewAPI(f.svc)
	mux := http.NewServeMux()
	mux.Handle("/xapi/", api)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	ctx := context.Background()
	var err error
	mk := func(scope, org string) (Client, string) {
		c, secret, e := f.svc.CreateClient(ctx, 1, ClientInput{Name: "工具 " + scope, Scope: scope, OrgID: 1, OrgPath: org})
		if e != nil {
			err = e
		}
		return c, secret
	}
	s.all, s.allS = mk(ScopeAll, "/1/")
	s.read, s.readS = mk(ScopeRead, "/1/")
	s.write, s.wrtS = mk(ScopeWrite, "/1/")
	if err != nil {
		t.Fatalf("create clients: %v", err)
	}
	return s
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) any {
	t.Helper()
	v, err := decodeJSON(r.body)
	if err != nil {
		t.Fatalf("response is not JSON (%v): %s", err, r.body)
	}
	return v
}

// do sends a request as client c (nil: no credentials) speaking version
// ver ("" for no header).
func (s *server) do(c *Client, secret, ver, method, path, ctype string, body []byte, hdr map[string]string) resp {
	s.t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if c != nil {
		req.SetBasicAuth(c.Key, secret)
	}
	if ver != "" {
		req.Header.Set("X-Experience-API-Version", ver)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// as sends a request with the read-and-write client in xAPI 2.0.
func (s *server) as(method, path, ctype string, body string, hdr map[string]string) resp {
	s.t.Helper()
	return s.do(&s.all, s.allS, "2.0.0", method, path, ctype, []byte(body), hdr)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func countRows(t *testing.T, d *db.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := d.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
