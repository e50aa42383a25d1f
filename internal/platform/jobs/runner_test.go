package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
	"jnedu/internal/platform/jobs"
)

func TestEachJobRunsOnce(t *testing.T) {
	const n, m = 4, 40
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		q := newQueue(t, d, nil, nil)
		var runs tally
		var now, peak atomic.Int64
		full := make(chan struct{}) // closed once n jobs run at once
		var fullOnce sync.Once
		q.Handle("share.video_probe", func(ctx context.Context, j *jobs.Job) error {
			c := now.Add(1)
			defer now.Add(-1)
			for p := peak.Load(); c > p && !peak.CompareAndSwap(p, c); p = peak.Load() {
			}
			if c == n {
				fullOnce.Do(func() { close(full) })
			}
			runs.add(j.ID)
			select { // the first jobs wait for the others to start
			case <-full:
			case <-time.After(10 * time.Second):
				return errors.New("never ran n jobs at once")
			}
			return nil
		}, jobs.HandlerOptions{Concurrency: n})
		var all []jobs.Job
		for i := range m {
			all = append(all, enqueue(t, d, q, "share.video_probe", payload{VideoID: int64(i)}, jobs.EnqueueOptions{}))
		}
		start(t, q)
		ctx := context.Background()
		waitFor(t, "every job done", func() bool {
			c, err := q.Counts(ctx, "")
			return err == nil && c.Done == m
		})
		for _, j := range all {
			if got := runs.of(j.ID); got != 1 {
				t.Errorf("job %d ran %d times, want 1", j.ID, got)
			}
			if got := get(t, q, j.ID); got.Attempts != 1 || got.Progress != 100 || got.Owner != q.Instance() || got.FinishedAt.IsZero() {
				t.Errorf("job %d = %+v, want done on the first attempt by %s", j.ID, got, q.Instance())
			}
		}
		if p := peak.Load(); p != n {
			t.Errorf("peak concurrency = %d, want %d", p, n)
		}
		waitFor(t, "the counters", func() bool { // counted just after the rows are written
			st, err := q.Stats(ctx)
			return err == nil && st.RunsStarted == m && st.RunsSucceeded == m && st.Done == m && st.Active == 0
		})
	})
}

func TestRetryThenSucceed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		q := newQueue(t, d, newClock(), nil)
		var runs tally
		attempts := make(chan int, 10)
		q.Handle("speech.score", func(ctx context.Context, j *jobs.Job) error {
			attempts <- j.Attempts
			if runs.add(j.ID) < 3 {
				return fmt.Errorf("scorer busy (%d)", j.Attempts)
			}
			return nil
		}, jobs.HandlerOptions{Backoff: noBackoff})
		start(t, q)
		j := enqueue(t, d, q, "speech.score", 1, jobs.EnqueueOptions{MaxAttempts: 5})
		got := waitState(t, q, j.ID, jobs.Done)
		if got.Attempts != 3 || runs.of(j.ID) != 3 || got.LastError != "" {
			t.Errorf("job = %+v after %d runs, want done on attempt 3", got, runs.of(j.ID))
		}
		for want := 1; want <= 3; want++ {
			if a := <-attempts; a != want {
				t.Errorf("handler saw attempt %d, want %d", a, want)
			}
		}
		waitFor(t, "the counters", func() bool { // counted just after the row is written
			st, _ := q.Stats(context.Background())
			return st.RunsRetried == 2 && st.RunsSucceeded == 1 && st.Active == 0
		})
	})
}

func TestBackoffAndRunAtWaitForTheClock(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		clk := newClock()
		q := newQueue(t, d, clk, nil)
		var runs tally
		q.Handle("speech.score", func(ctx context.Context, j *jobs.Job) error {
			if runs.add(j.ID) == 1 && j.Priority == 0 {
				return errors.New("scorer busy")
			}
			return nil
		}, jobs.HandlerOptions{Backoff: func(n int) time.Duration { return time.Duration(n) * time.Minute }})
		start(t, q)
		failing := enqueue(t, d, q, "speech.score", 1, jobs.EnqueueOptions{})
		later := enqueue(t, d, q, "speech.score", 2, jobs.EnqueueOptions{Priority: 1, RunAt: clk.Now().Add(30 * time.Second)})

		waitFor(t, "the failed attempt", func() bool {
			j := get(t, q, failing.ID)
			return j.State == jobs.Queued && j.Attempts == 1
		})
		got := get(t, q, failing.ID)
		if !got.RunAt.Equal(clk.Now().Add(time.Minute)) || got.LastError != "scorer busy" || got.Owner != "" || !got.LeaseUntil.IsZero() {
			t.Errorf("after a failure: job = %+v, want queued for a minute later with the error", got)
		}
		time.Sleep(100 * time.Millisecond) // several polls
		if runs.of(failing.ID) != 1 || runs.of(later.ID) != 0 {
			t.Fatalf("runs before the clock moved: %d and %d, want 1 and 0", runs.of(failing.ID), runs.of(later.ID))
		}
		clk.Add(30 * time.Second)
		waitState(t, q, later.ID, jobs.Done)
		if runs.of(failing.ID) != 1 {
			t.Errorf("the failed job ran again before its backoff")
		}
		clk.Add(30 * time.Second)
		if got := waitState(t, q, failing.ID, jobs.Done); got.Attempts != 2 {
			t.Errorf("job = %+v, want done on attempt 2", got)
		}
	})
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name        string
		fn          func(ctx context.Context, j *jobs.Job) error
		opt         jobs.HandlerOptions
		maxAttempts int
		runs        int
		lastError   string
	}{
		{"permanent", func(ctx context.Context, j *jobs.Job) error {
			return fmt.Errorf("probe upload 42: not a video: %w", jobs.ErrPermanent)
		}, jobs.HandlerOptions{}, 5, 1, "probe upload 42: not a video: jobs: permanent failure"},
		{"max attempts", func(ctx context.Context, j *jobs.Job) error {
			return fmt.Errorf("boom %d", j.Attempts)
		}, jobs.HandlerOptions{Backoff: noBackoff}, 3, 3, "boom 3"},
		{"panic", func(ctx context.Context, j *jobs.Job) error {
			var m map[string]int
			m["x"]++
			return nil
		}, jobs.HandlerOptions{Backoff: noBackoff}, 2, 2, "handler panicked: assignment to entry in nil map"},
		{"timeout", func(ctx context.Context, j *jobs.Job) error {
			<-ctx.Done()
			return ctx.Err()
		}, jobs.HandlerOptions{Timeout: 30 * time.Millisecond}, 1, 1, "timed out after 30ms: context deadline exceeded"},
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		q := newQueue(t, d, nil, nil)
		var runs tally
		for i, tt := range tests {
			q.Handle(fmt.Sprintf("test.fail%d", i), func(ctx context.Context, j *jobs.Job) error {
				runs.add(j.ID)
				return tt.fn(ctx, j)
			}, tt.opt)
		}
		start(t, q)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				j := enqueue(t, d, q, fmt.Sprintf("test.fail%d", i), 1, jobs.EnqueueOptions{MaxAttempts: tt.maxAttempts})
				got := waitState(t, q, j.ID, jobs.Failed)
				if got.Attempts != tt.runs || runs.of(j.ID) != tt.runs || got.LastError != tt.lastError || got.FinishedAt.IsZero() {
					t.Errorf("job = %+v after %d runs; want failed after %d with %q", got, runs.of(j.ID), tt.runs, tt.lastError)
				}
			})
		}
	})
}

func TestStopReleasesRunningJobs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		q1 := newQueue(t, d, nil, nil)
		started := make(chan struct{})
		var cause atomic.Value
		q1.Handle("share.video_encode", func(ctx context.Context, j *jobs.Job) error {
			close(started)
			<-ctx.Done()
			cause.Store(context.Cause(ctx))
			return ctx.Err()
		}, jobs.HandlerOptions{})
		stop := start(t, q1)
		j := enqueue(t, d, q1, "share.video_encode", 1, jobs.EnqueueOptions{MaxAttempts: 1})
		<-started
		stop()
		if c := cause.Load(); c != jobs.ErrStopping {
			t.Errorf("handler's context cause = %v, want ErrStopping", c)
		}
		got := get(t, q1, j.ID)
		if got.State != jobs.Queued || got.Attempts != 0 || got.Owner != "" || !got.LeaseUntil.IsZero() || got.LastError != "" {
			t.Errorf("after stop: job = %+v, want queued again, attempt not counted", got)
		}
		if st, _ := q1.Stats(context.Background()); st.RunsReleased != 1 {
			t.Errorf("stats = %+v, want 1 released", st)
		}

		q2 := newQueue(t, d, nil, nil)
		q2.Handle("share.video_encode", func(ctx context.Context, j *jobs.Job) error { return nil }, jobs.HandlerOptions{})
		start(t, q2)
		if got := waitState(t, q2, j.ID, jobs.Done); got.Attempts != 1 || got.Owner != q2.Instance() {
			t.Errorf("job = %+v, want done by the second runner on attempt 1", got)
		}
		if err := q1.Run(context.Background()); !errors.Is(err, jobs.ErrRunning) {
			t.Errorf("second Run = %v, want ErrRunning", err)
		}
	})
}

// A runner that stops answering (killed, or stuck past its shutdown) keeps
// its jobs only until their lease runs out; then another runner takes them,
// and the first one's late result is dropped.
func TestAbandonedJobIsTakenOver(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		clk := newClock()
		q1 := newQueue(t, d, clk, func(o *jobs.Options) { o.ShutdownTimeout = 20 * time.Millisecond })
		started, unblock := make(chan struct{}), make(chan struct{})
		q1.Handle("share.video_encode", func(ctx context.Context, j *jobs.Job) error {
			close(started)
			<-unblock // ignores its context, like a stuck encoder
			return nil
		}, jobs.HandlerOptions{})
		stop1 := start(t, q1)
		j := enqueue(t, d, q1, "share.video_encode", 1, jobs.EnqueueOptions{})
		<-started
		stop1() // returns after the shutdown timeout; the heartbeat stops
		held := get(t, q1, j.ID)
		if held.State != jobs.Running || held.Owner != q1.Instance() || held.Attempts != 1 {
			t.Fatalf("abandoned job = %+v, want running, held by the first runner", held)
		}

		d2 := reopen(t, d)
		q2 := newQueue(t, d2, clk, nil)
		var runs tally
		q2.Handle("share.video_encode", func(ctx context.Context, j *jobs.Job) error {
			runs.add(j.ID)
			return nil
		}, jobs.HandlerOptions{})
		start(t, q2)
		time.Sleep(100 * time.Millisecond) // several polls
		if runs.of(j.ID) != 0 {
			t.Fatalf("the second runner took the job before the lease ran out")
		}
		clk.Add(testLease + time.Second)
		got := waitState(t, q2, j.ID, jobs.Done)
		if got.Owner != q2.Instance() || got.Attempts != 2 || runs.of(j.ID) != 1 {
			t.Errorf("job = %+v, want done by the second runner on attempt 2", got)
		}

		close(unblock) // the first handler finally returns: its result must not count
		waitFor(t, "the first runner to drop its result", func() bool {
			st, _ := q1.Stats(context.Background())
			return st.RunsLost == 1
		})
		if got := get(t, q1, j.ID); got.Owner != q2.Instance() || got.Attempts != 2 || got.State != jobs.Done {
			t.Errorf("after the late result: job = %+v, want unchanged", got)
		}
	})
}

// A job whose worker died on its last attempt is failed, not run again.
func TestLostJobWithoutAttemptsFails(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		clk := newClock()
		q1 := newQueue(t, d, clk, func(o *jobs.Options) { o.ShutdownTimeout = 20 * time.Millisecond })
		started, unblock := make(chan struct{}), make(chan struct{})
		q1.Handle("share.video_encode", func(ctx context.Context, j *jobs.Job) error {
			close(started)
			<-unblock
			return nil
		}, jobs.HandlerOptions{})
		stop1 := start(t, q1)
		j := enqueue(t, d, q1, "share.video_encode", 1, jobs.EnqueueOptions{MaxAttempts: 1})
		<-started
		stop1()

		q2 := newQueue(t, d, clk, nil)
		var runs tally
		q2.Handle("share.video_encode", func(ctx context.Context, j *jobs.Job) error {
			runs.add(j.ID)
			return nil
		}, jobs.HandlerOptions{})
		start(t, q2)
		clk.Add(testLease + time.Second)
		got := waitState(t, q2, j.ID, jobs.Failed)
		if runs.of(j.ID) != 0 || got.Attempts != 1 || !strings.Contains(got.LastError, "ran out on the last attempt") ||
			!strings.Contains(got.LastError, q1.Instance()) {
			t.Errorf("job = %+v after %d runs, want failed with the lost lease", got, runs.of(j.ID))
		}
		close(unblock)
		waitFor(t, "the first runner to drop its result", func() bool {
			st, _ := q1.Stats(context.Background())
			return st.RunsLost == 1
		})
		if got := get(t, q1, j.ID); got.State != jobs.Failed {
			t.Errorf("after the late result: job = %+v, want still failed", got)
		}
	})
}

// The heartbeat keeps a long job's lease alive: the clock moves far past
// the lease, yet another runner never takes the job.
func TestHeartbeatKeepsTheLease(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		clk := newClock()
		q1 := newQueue(t, d, clk, nil)
		started, unblock := make(chan struct{}), make(chan struct{})
		q1.Handle("share.video_encode", func(ctx context.Context, j *jobs.Job) error {
			close(started)
			select {
			case <-unblock:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}, jobs.HandlerOptions{})
		start(t, q1)
		j := enqueue(t, d, q1, "share.video_encode", 1, jobs.EnqueueOptions{})
		<-started

		q2 := newQueue(t, reopen(t, d), clk, nil)
		var runs tally
		q2.Handle("share.video_encode", func(ctx context.Context, j *jobs.Job) error {
			runs.add(j.ID)
			return nil
		}, jobs.HandlerOptions{})
		start(t, q2)
		for range 10 { // 5 leases' worth of time
			clk.Add(testLease / 2)
			want := clk.Now().Add(testLease)
			waitFor(t, "the heartbeat", func() bool { return get(t, q1, j.ID).LeaseUntil.Equal(want) })
		}
		time.Sleep(50 * time.Millisecond)
		if runs.of(j.ID) != 0 {
			t.Fatalf("the second runner took a job whose lease was renewed")
		}
		close(unblock)
		if got := waitState(t, q1, j.ID, jobs.Done); got.Owner != q1.Instance() || got.Attempts != 1 {
			t.Errorf("job = %+v, want done by the first runner on attempt 1", got)
		}
	})
}

func TestProgressIsVisible(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		q := newQueue(t, d, nil, nil)
		step := make(chan struct{})
		errs := make(chan error, 4)
		q.Handle("share.video_encode", func(ctx context.Context, j *jobs.Job) error {
			errs <- j.SetProgress(ctx, 40, "encoding 720p")
			<-step
			// Within a second of the last write: the heartbeat writes it.
			errs <- j.SetProgress(ctx, 70, strings.Repeat("长", 100))
			<-step
			errs <- j.SetProgress(ctx, 140, "packaging")
			if j.Progress != 100 {
				errs <- fmt.Errorf("progress = %d, want clamped to 100", j.Progress)
			}
			<-step
			return nil
		}, jobs.HandlerOptions{})
		start(t, q)
		j := enqueue(t, d, q, "share.video_encode", 1, jobs.EnqueueOptions{})
		waitFor(t, "progress 40", func() bool {
			got := get(t, q, j.ID)
			return got.Progress == 40 && got.ProgressNote == "encoding 720p" && got.State == jobs.Running
		})
		step <- struct{}{}
		waitFor(t, "progress 70", func() bool {
			got := get(t, q, j.ID)
			return got.Progress == 70 && got.ProgressNote == strings.Repeat("长", 66) // cut to 200 bytes
		})
		step <- struct{}{}
		waitFor(t, "progress 100", func() bool {
			got := get(t, q, j.ID)
			return got.Progress == 100 && got.ProgressNote == "packaging"
		})
		step <- struct{}{}
		waitState(t, q, j.ID, jobs.Done)
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("SetProgress: %v", err)
			}
		}
		snapshot := get(t, q, j.ID)
		if err := snapshot.SetProgress(context.Background(), 1, ""); !errors.Is(err, jobs.ErrNotHandling) {
			t.Errorf("SetProgress outside a handler = %v, want ErrNotHandling", err)
		}
	})
}

func TestRetryAndCancel(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		q := newQueue(t, d, nil, nil)
		ctx := context.Background()
		var runs tally
		var causes sync.Map
		q.Handle("share.video_probe", func(ctx context.Context, j *jobs.Job) error {
			if runs.add(j.ID) == 1 {
				return fmt.Errorf("not a video: %w", jobs.ErrPermanent)
			}
			return nil
		}, jobs.HandlerOptions{})
		running := make(chan int64, 1)
		q.Handle("share.video_encode", func(ctx context.Context, j *jobs.Job) error {
			running <- j.ID
			<-ctx.Done()
			causes.Store(j.ID, context.Cause(ctx))
			return ctx.Err()
		}, jobs.HandlerOptions{})
		start(t, q)

		// Missing jobs.
		if err := q.Retry(ctx, 424242); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("Retry of a missing job = %v, want db.ErrNotFound", err)
		}
		if err := q.Cancel(ctx, 424242); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("Cancel of a missing job = %v, want db.ErrNotFound", err)
		}

		// A failed job is retried by hand.
		failed := enqueue(t, d, q, "share.video_probe", 1, jobs.EnqueueOptions{})
		waitState(t, q, failed.ID, jobs.Failed)
		if err := q.Cancel(ctx, failed.ID); !errors.Is(err, jobs.ErrConflict) {
			t.Errorf("Cancel of a failed job = %v, want ErrConflict", err)
		}
		if err := q.Retry(ctx, failed.ID); err != nil {
			t.Fatalf("Retry: %v", err)
		}
		got := waitState(t, q, failed.ID, jobs.Done)
		if got.Attempts != 1 || runs.of(failed.ID) != 2 {
			t.Errorf("retried job = %+v after %d runs, want done on a fresh attempt", got, runs.of(failed.ID))
		}
		if err := q.Retry(ctx, failed.ID); !errors.Is(err, jobs.ErrConflict) {
			t.Errorf("Retry of a done job = %v, want ErrConflict", err)
		}
		if err := q.Cancel(ctx, failed.ID); !errors.Is(err, jobs.ErrConflict) {
			t.Errorf("Cancel of a done job = %v, want ErrConflict", err)
		}

		// A queued job (no runner handles its kind) is cancelled, then
		// queued again.
		waiting := enqueue(t, d, q, "speech.score", 1, jobs.EnqueueOptions{})
		if err := q.Retry(ctx, waiting.ID); !errors.Is(err, jobs.ErrConflict) {
			t.Errorf("Retry of a queued job = %v, want ErrConflict", err)
		}
		if err := q.Cancel(ctx, waiting.ID); err != nil {
			t.Fatalf("Cancel of a queued job: %v", err)
		}
		if got := get(t, q, waiting.ID); got.State != jobs.Cancelled || got.FinishedAt.IsZero() {
			t.Errorf("cancelled job = %+v", got)
		}
		if err := q.Retry(ctx, waiting.ID); err != nil || get(t, q, waiting.ID).State != jobs.Queued {
			t.Errorf("Retry of a cancelled job = %v, want queued again", err)
		}

		// A running job is stopped through its context.
		enc := enqueue(t, d, q, "share.video_encode", 1, jobs.EnqueueOptions{})
		if id := <-running; id != enc.ID {
			t.Fatalf("running job %d, want %d", id, enc.ID)
		}
		if err := q.Cancel(ctx, enc.ID); err != nil {
			t.Fatalf("Cancel of a running job: %v", err)
		}
		waitFor(t, "the handler to stop", func() bool { _, ok := causes.Load(enc.ID); return ok })
		if c, _ := causes.Load(enc.ID); c != jobs.ErrCancelled {
			t.Errorf("handler's context cause = %v, want ErrCancelled", c)
		}
		waitFor(t, "the run to end", func() bool {
			st, _ := q.Stats(ctx)
			return st.RunsCancelled == 1 && st.Active == 0
		})
		if got := get(t, q, enc.ID); got.State != jobs.Cancelled {
			t.Errorf("job = %+v, want cancelled", got)
		}
	})
}

// Cancelling a job another process runs stops it at that runner's next
// heartbeat.
func TestCancelReachesAnotherRunner(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		worker := newQueue(t, reopen(t, d), nil, nil)
		causes := make(chan error, 1)
		started := make(chan struct{})
		worker.Handle("share.video_encode", func(ctx context.Context, j *jobs.Job) error {
			close(started)
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return ctx.Err()
		}, jobs.HandlerOptions{})
		start(t, worker)
		web := newQueue(t, d, nil, nil) // the web process: no handlers
		j := enqueue(t, d, web, "share.video_encode", 1, jobs.EnqueueOptions{})
		<-started
		if err := web.Cancel(context.Background(), j.ID); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-causes:
			if c != jobs.ErrCancelled {
				t.Errorf("cause = %v, want ErrCancelled", c)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the handler was not cancelled")
		}
	})
}

// Two runners on one database (as two processes would) share the jobs and
// never run one twice.
func TestTwoRunnersShareTheWork(t *testing.T) {
	const m = 60
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		var runs tally
		var byRunner [2]atomic.Int64
		var queues [2]*jobs.Queue
		for i, h := range []*db.DB{d, reopen(t, d)} {
			queues[i] = newQueue(t, h, nil, nil)
			queues[i].Handle("speech.score", func(ctx context.Context, j *jobs.Job) error {
				runs.add(j.ID)
				byRunner[i].Add(1)
				time.Sleep(5 * time.Millisecond)
				return nil
			}, jobs.HandlerOptions{Concurrency: 3})
		}
		var all []jobs.Job
		for i := range m {
			all = append(all, enqueue(t, d, queues[0], "speech.score", i, jobs.EnqueueOptions{}))
		}
		start(t, queues[0])
		start(t, queues[1])
		waitFor(t, "every job done", func() bool {
			c, err := queues[0].Counts(context.Background(), "speech.score")
			return err == nil && c.Done == m
		})
		for _, j := range all {
			if n := runs.of(j.ID); n != 1 {
				t.Errorf("job %d ran %d times, want 1", j.ID, n)
			}
		}
		if a, b := byRunner[0].Load(), byRunner[1].Load(); a == 0 || b == 0 || a+b != m {
			t.Errorf("runs per runner = %d and %d, want both > 0, %d in all", a, b, m)
		}
	})
}

// Notify starts a job enqueued while the runner idles at once, not at the
// next poll.
func TestNotifyWakesAnIdleRunner(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		q := newQueue(t, d, nil, func(o *jobs.Options) { o.PollInterval = time.Hour })
		ran := make(chan int64, 2)
		q.Handle("share.video_probe", func(ctx context.Context, j *jobs.Job) error {
			ran <- j.ID
			return nil
		}, jobs.HandlerOptions{})
		start(t, q)
		time.Sleep(50 * time.Millisecond) // the runner has looked once and idles
		ctx := context.Background()

		// Queue.Enqueue notifies inside the transaction, before the commit.
		began := time.Now()
		j := enqueue(t, d, q, "share.video_probe", 1, jobs.EnqueueOptions{})
		expectRun(t, ran, j.ID, began)

		// The package-level Enqueue, then Notify after the commit.
		began = time.Now()
		err := d.InTx(ctx, func(tx *db.Tx) error {
			var err error
			j, err = jobs.Enqueue(ctx, tx, "share.video_probe", 2, jobs.EnqueueOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		q.Notify()
		expectRun(t, ran, j.ID, began)
	})
}

func expectRun(t *testing.T, ran <-chan int64, id int64, since time.Time) {
	t.Helper()
	select {
	case got := <-ran:
		if got != id {
			t.Errorf("ran job %d, want %d", got, id)
		}
		if took := time.Since(since); took > 2*time.Second {
			t.Errorf("job started after %v", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("job %d did not start (poll interval 1h)", id)
	}
}

func TestPriorityOrder(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		q := newQueue(t, d, newClock(), nil)
		var mu sync.Mutex
		var order []int
		q.Handle("speech.score", func(ctx context.Context, j *jobs.Job) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, j.Priority)
			return nil
		}, jobs.HandlerOptions{Concurrency: 1})
		for _, p := range []int{0, 10, -5, 5, 10} {
			enqueue(t, d, q, "speech.score", p, jobs.EnqueueOptions{Priority: p})
		}
		start(t, q)
		waitFor(t, "every job", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(order) == 5
		})
		if fmt.Sprint(order) != "[10 10 5 0 -5]" {
			t.Errorf("order = %v, want [10 10 5 0 -5]", order)
		}
	})
}
