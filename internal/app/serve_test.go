package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"jnedu/internal/config"
	"jnedu/internal/demo"
	"jnedu/internal/identity"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
)

// TestServeLifecycle runs the real server: it answers, delivers the events
// its actions published through the outbox, and shuts down cleanly when
// its context ends (as on SIGTERM).
func TestServeLifecycle(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.Listen = "127.0.0.1:0"
		cfg.Demo = true
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), d, Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan identity.UserEvent, 100)
		events.Subscribe(a.Bus, identity.TopicUserCreated, "test.roster", func(ctx context.Context, ev events.Envelope[identity.UserEvent]) error {
			got <- ev.Payload
			return nil
		})
		if _, err := demo.Load(context.Background(), a.Identity); err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		addr := make(chan string, 1)
		done := make(chan error, 1)
		go func() { done <- a.Serve(ctx, func(s string) { addr <- s }) }()
		base := "http://" + <-addr
		resp, err := http.Get(base + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz: %v %v", resp, err)
		}
		resp.Body.Close()
		// The demo users were created before the bus ran: the outbox
		// still delivers every one of them.
		seen := map[string]bool{}
		deadline := time.After(20 * time.Second)
		for len(seen) < len(demo.Accounts()) {
			select {
			case ev := <-got:
				seen[ev.Username] = true
			case <-deadline:
				t.Fatalf("only %d of %d user events delivered", len(seen), len(demo.Accounts()))
			}
		}
		if !seen["teacher"] || !seen["admin"] {
			t.Errorf("events for %v", seen)
		}
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v after shutdown, want nil", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop within 30s of its context ending")
		}
		if _, err := http.Get(base + "/healthz"); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("server still answers after shutdown: %v", err)
		}
	})
}
