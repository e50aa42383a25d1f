package jobs

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// progressInterval is the least time between two progress writes of one
// run; reports in between are written by the next one or the heartbeat.
const progressInterval = time.Second

// errTimeout is the cause of a handler's context ending at its timeout.
var errTimeout = errors.New("jobs: handler timed out")

// execution is one run of a job by this runner: the fence of its writes
// (the claim's owner and attempt) and the progress not yet written.
type execution struct {
	q       *Queue
	id      int64
	attempt int
	cancel  context.CancelCauseFunc

	mu        sync.Mutex // serialises the run's writes and guards what follows
	until     int64      // the lease as last written, Unix ms
	progress  int
	note      string
	lastWrite time.Time // of the progress, real time
	gone      error     // ErrLeaseLost or ErrCancelled once the job is no longer ours
}

// execute runs claimed job j with h and records the outcome.
func (q *Queue) execute(ctx context.Context, h *handler, j Job) {
	// The handler's context outlives Run's by design: it is cancelled with
	// ErrStopping when Run's ends, and the heartbeat must go on until the
	// handler has returned so the job can be released, not lost.
	base := context.WithoutCancel(ctx)
	hctx, cancel := context.WithCancelCause(base)
	defer cancel(nil)
	stopAfter := context.AfterFunc(ctx, func() { cancel(ErrStopping) })
	defer stopAfter()
	tctx, cancelTimeout := context.WithTimeoutCause(hctx, h.opt.Timeout, errTimeout)
	defer cancelTimeout()

	x := &execution{q: q, id: j.ID, attempt: j.Attempts, cancel: cancel, until: j.LeaseUntil.UnixMilli()}
	j.run = x
	q.mu.Lock()
	q.active[j.ID] = x
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		delete(q.active, j.ID)
		q.mu.Unlock()
	}()
	q.started.Add(1)
	q.log.Debug("job started", "id", j.ID, "kind", j.Kind, "attempt", j.Attempts)

	beatDone := make(chan struct{})
	var beats sync.WaitGroup
	beats.Go(func() { x.heartbeat(base, beatDone) })

	start := time.Now()
	err := q.call(tctx, h, &j)
	cause := context.Cause(tctx)
	took := time.Since(start)
	close(beatDone)
	beats.Wait()

	if err != nil && errors.Is(cause, errTimeout) && tctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", h.opt.Timeout, err)
	}
	wctx, cancelW := context.WithTimeout(base, bookkeepingTimeout)
	defer cancelW()
	x.mu.Lock()
	defer x.mu.Unlock()
	gone := x.gone
	switch {
	case gone != nil:
		// Cancelled, or claimed again by another runner: nothing to record.
		if errors.Is(gone, ErrCancelled) {
			q.cancelled.Add(1)
			q.log.Info("job cancelled while running", "id", j.ID, "kind", j.Kind, "took", took)
		} else {
			q.lost.Add(1)
			q.log.Warn("job lost its lease while running; another runner has it", "id", j.ID, "kind", j.Kind, "took", took, "err", err)
		}
	case err == nil:
		if x.record(wctx, "done", `state = 'done', lease_until = 0, progress = 100, last_error = '', finished_at = ?`,
			q.now().UnixMilli()) {
			q.succeeded.Add(1)
			q.log.Info("job done", "id", j.ID, "kind", j.Kind, "attempt", j.Attempts, "took", took)
		}
	case errors.Is(cause, ErrStopping) && !errors.Is(err, ErrPermanent):
		// Interrupted by the stop, not failed: queue it again at once,
		// without counting the attempt.
		if x.record(wctx, "release", `state = 'queued', owner = '', lease_until = 0, attempts = attempts - 1, run_at = ?`,
			q.now().UnixMilli()) {
			q.released.Add(1)
			q.log.Info("job released by the stopping runner", "id", j.ID, "kind", j.Kind, "took", took)
		}
	case errors.Is(err, ErrPermanent) || j.Attempts >= j.MaxAttempts:
		if x.record(wctx, "fail", `state = 'failed', lease_until = 0, last_error = ?, finished_at = ?`,
			truncate(err.Error(), maxErrorBytes), q.now().UnixMilli()) {
			q.failed.Add(1)
			q.log.Warn("job failed", "id", j.ID, "kind", j.Kind, "attempt", j.Attempts, "max_attempts", j.MaxAttempts,
				"permanent", errors.Is(err, ErrPermanent), "took", took, "err", err)
		}
	default:
		wait := max(h.opt.Backoff(j.Attempts), 0)
		next := q.now().Add(wait)
		if x.record(wctx, "retry", `state = 'queued', owner = '', lease_until = 0, last_error = ?, run_at = ?`,
			truncate(err.Error(), maxErrorBytes), next.UnixMilli()) {
			q.retried.Add(1)
			q.log.Info("job attempt failed; will retry", "id", j.ID, "kind", j.Kind, "attempt", j.Attempts,
				"max_attempts", j.MaxAttempts, "retry_in", wait, "took", took, "err", err)
		}
	}
}

// call runs the handler, turning a panic into an error (its stack is
// logged here).
func (q *Queue) call(ctx context.Context, h *handler, j *Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
			q.log.Error("job handler panicked", "id", j.ID, "kind", j.Kind, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	return h.fn(ctx, j)
}

// record writes the end of the run (set is the SET list, args its
// arguments), fenced by the claim: it changes nothing when the job is no
// longer this run's. It reports whether it wrote. x.mu must be held.
func (x *execution) record(ctx context.Context, what, set string, args ...any) bool {
	args = append(args, x.q.now().UnixMilli(), x.id, x.q.opt.Instance, x.attempt)
	res, err := x.q.db.Exec(ctx, "UPDATE jobs_queue SET "+set+`, updated_at = ?
		WHERE id = ? AND owner = ? AND attempts = ? AND state = 'running'`, args...)
	if err != nil {
		// The lease will run out and another run will follow.
		x.q.log.Error("record the end of a job", "id", x.id, "outcome", what, "err", err)
		return false
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		x.q.log.Warn("job no longer held by this runner; its outcome is dropped", "id", x.id, "outcome", what)
		x.q.lost.Add(1)
		return false
	}
	return true
}

// heartbeat renews the lease and writes pending progress every
// HeartbeatInterval until done is closed or the runner abandons its jobs.
func (x *execution) heartbeat(ctx context.Context, done <-chan struct{}) {
	t := time.NewTicker(x.q.opt.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-x.q.abandoned:
			return
		case <-t.C:
		}
		x.mu.Lock()
		err := x.renew(ctx)
		gone := x.gone
		x.mu.Unlock()
		if errors.Is(err, ErrStopping) {
			return
		}
		if err != nil && gone == nil {
			x.q.log.Warn("renew a job's lease", "id", x.id, "err", err)
		}
	}
}

// renew writes the lease and the progress. When the row is no longer this
// run's (cancelled, or claimed by another runner) it cancels the handler
// with the reason. A write that keeps failing until the lease has run out
// cancels it too (ErrLeaseLost): another runner may claim the job by now.
// Once the runner has abandoned its jobs it writes nothing (ErrStopping):
// the lease must run out. x.mu must be held.
func (x *execution) renew(ctx context.Context) error {
	if x.gone != nil {
		return x.gone
	}
	select {
	case <-x.q.abandoned:
		return ErrStopping
	default:
	}
	now := x.q.now()
	until := now.Add(x.q.opt.LeaseTTL).UnixMilli()
	// A slow database gets at least a few seconds: with a short heartbeat
	// interval a write that merely waits on a busy server would count as
	// failed, and failing until the lease ends gives the job up.
	wctx, cancel := context.WithTimeout(ctx, max(x.q.opt.HeartbeatInterval, 3*time.Second))
	defer cancel()
	res, err := x.q.db.Exec(wctx, `UPDATE jobs_queue SET lease_until = ?, progress = ?, progress_note = ?, updated_at = ?
		WHERE id = ? AND owner = ? AND attempts = ? AND state = 'running'`,
		until, x.progress, x.note, now.UnixMilli(), x.id, x.q.opt.Instance, x.attempt)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		if now.UnixMilli() >= x.until {
			x.lose(ErrLeaseLost)
		}
		return fmt.Errorf("jobs: renew the lease of job %d: %w", x.id, err)
	}
	if n == 0 {
		x.lose(x.whyGone(ctx))
		return x.gone
	}
	x.until = until
	x.lastWrite = time.Now()
	return nil
}

// whyGone tells whether the job was cancelled or taken over.
func (x *execution) whyGone(ctx context.Context) error {
	var state string
	err := x.q.db.QueryRow(ctx, "SELECT state FROM jobs_queue WHERE id = ?", x.id).Scan(&state)
	if err == nil && State(state) == Cancelled {
		return ErrCancelled
	}
	return ErrLeaseLost
}

// lose marks the job as no longer this run's and cancels the handler.
// x.mu must be held.
func (x *execution) lose(why error) {
	if x.gone == nil {
		x.gone = why
		x.cancel(why)
	}
}

// SetProgress records how far the handler got: percent (clamped to 0–100)
// and a short note (at most 200 bytes), shown in the job's row. Writes are
// spaced by at least a second; a report in between is written by the next
// one or by the heartbeat. It returns ErrCancelled or ErrLeaseLost when the
// job is no longer this run's (the handler's context is cancelled then too),
// ErrStopping once the stopped runner has left the job to its lease, and
// ErrNotHandling on a Job that is not a handler's.
func (j *Job) SetProgress(ctx context.Context, percent int, note string) error {
	x := j.run
	if x == nil {
		return ErrNotHandling
	}
	percent = min(max(percent, 0), 100)
	note = truncate(note, maxNoteBytes)
	j.Progress, j.ProgressNote = percent, note
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.gone != nil {
		return x.gone
	}
	x.progress, x.note = percent, note
	if time.Since(x.lastWrite) < progressInterval && percent < 100 {
		return nil
	}
	return x.renew(context.WithoutCancel(ctx))
}
