package jobs_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	fakeclock "jnedu/internal/platform/clock"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/jobs"
)

// clock is the settable clock given to Options.Now.
type clock = fakeclock.Fake

func newClock() *clock {
	return fakeclock.NewFake(time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC))
}

const testLease = 10 * time.Second

// newQueue makes a queue with fast settings for tests on d, with the clock
// clk (nil: the real one); mod, if set, changes the options first.
func newQueue(t *testing.T, d *db.DB, clk *clock, mod func(*jobs.Options)) *jobs.Queue {
	t.Helper()
	opt := jobs.Options{
		Logger:            slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		PollInterval:      20 * time.Millisecond,
		LeaseTTL:          testLease,
		HeartbeatInterval: 10 * time.Millisecond,
		ShutdownTimeout:   5 * time.Second,
	}
	if clk != nil {
		opt.Now = clk.Now
	}
	if mod != nil {
		mod(&opt)
	}
	return jobs.New(d, opt)
}

// migrate applies the jobs migrations.
func migrate(t *testing.T, d *db.DB) {
	t.Helper()
	if _, err := d.Migrate(context.Background(), []db.Source{jobs.Migrations()}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
}

// reopen opens a second handle on d's database, as another process would.
func reopen(t *testing.T, d *db.DB) *db.DB {
	t.Helper()
	url := d.SQLitePath()
	if d.Dialect() == db.Postgres {
		url = d.PostgresDSN()
	}
	d2, err := db.Open(context.Background(), url, "", db.Options{MaxReadConns: 4})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { d2.Close() })
	return d2
}

// start runs q in the background. stop cancels it and waits for Run to
// return; it also runs when the test ends.
func start(t *testing.T, q *jobs.Queue) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
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

// enqueue commits one job and returns it.
func enqueue(t *testing.T, d *db.DB, q *jobs.Queue, kind string, payload any, opt jobs.EnqueueOptions) jobs.Job {
	t.Helper()
	var j jobs.Job
	err := d.InTx(context.Background(), func(tx *db.Tx) error {
		var err error
		j, err = q.Enqueue(context.Background(), tx, kind, payload, opt)
		return err
	})
	if err != nil {
		t.Fatalf("enqueue %s: %v", kind, err)
	}
	return j
}

// get reads a job.
func get(t *testing.T, q *jobs.Queue, id int64) jobs.Job {
	t.Helper()
	j, err := q.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get job %d: %v", id, err)
	}
	return j
}

// waitState waits until job id is in state want and returns it.
func waitState(t *testing.T, q *jobs.Queue, id int64, want jobs.State) jobs.Job {
	t.Helper()
	var j jobs.Job
	waitFor(t, "job to be "+string(want), func() bool {
		j = get(t, q, id)
		return j.State == want
	})
	return j
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

// tally counts the runs of each job.
type tally struct {
	mu   sync.Mutex
	runs map[int64]int
}

func (c *tally) add(id int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[int64]int{}
	}
	c.runs[id]++
	return c.runs[id]
}

func (c *tally) of(id int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[id]
}

func (c *tally) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.runs {
		n += v
	}
	return n
}

// noBackoff retries at once.
func noBackoff(int) time.Duration { return 0 }

// payload is what most tests enqueue.
type payload struct {
	VideoID int64  `json:"video_id"`
	Name    string `json:"name"`
}
