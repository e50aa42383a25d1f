package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"jnedu/internal/config"
	"jnedu/internal/demo"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

// testApp is the whole program on a real database behind httptest.
type testApp struct {
	*App
	srv *httptest.Server
}

func newTestApp(t *testing.T, d *db.DB, demoMode bool) *testApp {
	t.Helper()
	return newTestAppWith(t, d, demoMode, nil)
}

// newTestAppWith lets a test change the configuration first.
func newTestAppWith(t *testing.T, d *db.DB, demoMode bool, change func(*config.Config)) *testApp {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Demo = demoMode
	cfg.LoginMaxFailures = 3
	if change != nil {
		change(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(context.Background(), cfg, log, d, Options{Migrate: true})
	if err != nil {
		t.Fatalf("new app: %v", err)
	}
	if _, err := demo.Load(context.Background(), a.Identity); err != nil {
		t.Fatalf("demo: %v", err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	return &testApp{App: a, srv: srv}
}

// client is a browser-like client with its own cookie jar.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func (ta *testApp) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: ta.srv.URL, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// login signs in through the JSON API and keeps the CSRF token.
func (c *client) login(user, pw string) *http.Response {
	c.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	resp := c.do("POST", "/api/v1/session", "application/json", string(body), nil)
	if resp.StatusCode == 200 {
		var s struct {
			CSRF string `json:"csrf_token"`
		}
		json.NewDecoder(resp.Body).Decode(&s)
		c.csrf = s.CSRF
	}
	return resp
}

func (c *client) do(method, path, ctype, body string, hdr map[string]string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.csrf != "" && method != "GET" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (c *client) getJSON(path string, v any) int {
	c.t.Helper()
	resp := c.do("GET", path, "", "", nil)
	if v != nil {
		json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func engines(t *testing.T, fn func(t *testing.T, d *db.DB)) { dbtest.Each(t, fn) }
