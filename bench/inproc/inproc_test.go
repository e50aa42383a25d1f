//go:build jnedubench

// Package inproc benchmarks jnedu's HTTP handler in-process, without a
// network or a separate client, so that a CPU profile shows only the
// server's work. It is behind the jnedubench build tag to stay out of
// `go test ./...`:
//
//	go test -tags jnedubench -run '^$' -bench . -benchtime 3s -cpuprofile /tmp/cpu.out ./bench/inproc
//	go tool pprof -top -nodecount 30 /tmp/cpu.out
//
// SQLite always; PostgreSQL too when JNEDU_TEST_POSTGRES_URL is set (a
// fresh schema, dropped afterwards, as in the tests).
package inproc

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"jnedu/internal/app"
	"jnedu/internal/config"
	"jnedu/internal/demo"
	"jnedu/internal/platform/db/dbtest"
)

type fixture struct {
	h       http.Handler
	cookies map[string]string // user → session cookie value
}

// setup builds the app the way `jnedu serve --demo` does, with the access
// log formatted at info level (as in production) but thrown away.
func setup(b *testing.B, e dbtest.Engine) *fixture {
	b.Helper()
	d := e.Open(b)
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.Demo = true
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(context.Background(), cfg, log, d, app.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := demo.Load(context.Background(), a.Identity); err != nil {
		b.Fatal(err)
	}
	f := &fixture{h: a.Handler, cookies: map[string]string{}}
	for _, acc := range demo.Accounts() {
		body, _ := json.Marshal(map[string]string{"username": acc.Username, "password": demo.Password})
		req := httptest.NewRequest("POST", "/api/v1/session", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("sign-in %s: %d %s", acc.Username, rec.Code, rec.Body)
		}
		for _, c := range rec.Result().Cookies() {
			if c.Name == "jnedu_session" {
				f.cookies[acc.Username] = c.Value
			}
		}
	}
	return f
}

// get runs path in parallel, round-robin over users (nil: no cookie).
func (f *fixture) get(b *testing.B, path string, users []string) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			req := httptest.NewRequest("GET", path, nil)
			if len(users) > 0 {
				req.Header.Set("Cookie", "jnedu_session="+f.cookies[users[i%len(users)]])
				i++
			}
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Errorf("GET %s: %d", path, rec.Code)
				return
			}
		}
	})
}

var (
	everyone = []string{"admin", "school_admin", "teacher", "teacher2", "student", "exam_staff", "examiner", "security", "editor", "device"}
	orgRead  = []string{"admin", "school_admin", "exam_staff", "security", "device"}
	userRead = []string{"admin", "school_admin"}
)

func BenchmarkHandler(b *testing.B) {
	for _, e := range dbtest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			f := setup(b, e)
			b.Run("healthz", func(b *testing.B) { f.get(b, "/healthz", nil) })
			b.Run("portal", func(b *testing.B) { f.get(b, "/", everyone) })
			b.Run("api-me", func(b *testing.B) { f.get(b, "/api/v1/me", everyone) })
			b.Run("api-orgs", func(b *testing.B) { f.get(b, "/api/v1/orgs", orgRead) })
			b.Run("api-users", func(b *testing.B) { f.get(b, "/api/v1/users?limit=50", userRead) })
		})
	}
}

// BenchmarkLogin is one sign-in (argon2id included), sequential. Each
// iteration comes from its own address so the per-address rate limit does
// not interfere.
func BenchmarkLogin(b *testing.B) {
	for _, e := range dbtest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			f := setup(b, e)
			body, _ := json.Marshal(map[string]string{"username": "teacher", "password": demo.Password})
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req := httptest.NewRequest("POST", "/api/v1/session", strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				req.RemoteAddr = "10.9." + strconv.Itoa(i/250%250) + "." + strconv.Itoa(i%250+1) + ":1234"
				rec := httptest.NewRecorder()
				f.h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
