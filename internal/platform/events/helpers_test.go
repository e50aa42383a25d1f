package events_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	fakeclock "jnedu/internal/platform/clock"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
)

// lesson is the payload most tests publish.
type lesson struct {
	N     int       `json:"n"`
	Title string    `json:"title"`
	Tags  []string  `json:"tags,omitempty"`
	At    time.Time `json:"at"`
}

var (
	lessonDone  = events.NewTopic[lesson]("test.lesson_done")
	lessonMoved = events.NewTopic[lesson]("test.lesson_moved")
)

// clock is the settable clock given to Options.Now.
type clock = fakeclock.Fake

func newClock() *clock {
	return fakeclock.NewFake(time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC))
}

// options are fast settings for tests; now may be nil.
func options(t *testing.T, now func() time.Time) events.Options {
	return events.Options{
		Logger:          slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		Now:             now,
		PollInterval:    20 * time.Millisecond,
		RetryMin:        5 * time.Millisecond,
		RetryMax:        40 * time.Millisecond,
		StatsInterval:   50 * time.Millisecond,
		LeaseTTL:        10 * time.Second,
		ShutdownTimeout: 2 * time.Second,
	}
}

// migrate applies the events migrations.
func migrate(t *testing.T, d *db.DB) {
	t.Helper()
	if _, err := d.Migrate(context.Background(), []db.Source{events.Migrations()}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
}

// start runs b in the background. stop cancels it and waits for Run to
// return; it also runs when the test ends.
func start(t *testing.T, b *events.Bus) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// recorder collects the events a handler accepted; fail, if set, may refuse
// one first.
type recorder[T any] struct {
	mu   sync.Mutex
	evs  []events.Envelope[T]
	fail func(ev events.Envelope[T]) error
}

func (r *recorder[T]) handle(_ context.Context, ev events.Envelope[T]) error {
	if r.fail != nil {
		if err := r.fail(ev); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
	return nil
}

func (r *recorder[T]) all() []events.Envelope[T] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Envelope[T](nil), r.evs...)
}

func (r *recorder[T]) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.evs)
}

// ns lists the payload numbers of lesson events.
func ns(evs []events.Envelope[lesson]) []int {
	out := make([]int, len(evs))
	for i, e := range evs {
		out[i] = e.Payload.N
	}
	return out
}

// seq returns from, from+1, ..., to.
func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// publishTx publishes the payloads on topic in one committed transaction.
func publishTx[T any](t *testing.T, d *db.DB, b *events.Bus, topic events.Topic[T], payloads ...T) {
	t.Helper()
	if err := publishTxErr(d, b, topic, payloads...); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// publishTxErr is publishTx for goroutines, which must not call t.Fatal.
func publishTxErr[T any](d *db.DB, b *events.Bus, topic events.Topic[T], payloads ...T) error {
	ctx := context.Background()
	return d.InTx(ctx, func(tx *db.Tx) error {
		for _, p := range payloads {
			if err := events.PublishTx(ctx, tx, b, topic, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// waitFor polls cond for up to 15 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// count runs a COUNT query.
func count(t *testing.T, d *db.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := d.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
