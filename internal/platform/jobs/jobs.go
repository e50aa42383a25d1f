// Package jobs is a durable background job queue kept in the database: work
// that takes from seconds to hours (probing, packaging and encoding videos,
// scoring speech, imports) and must survive restarts and crashes.
//
// Unlike the event bus (platform/events), where every subscriber sees every
// event, a job is done once, by whichever worker claims it first: any number
// of runners, in this process or in `jnedu worker` processes on other
// machines, compete for the jobs of one database.
//
// A job's life:
//
//   - Enqueue writes it (state queued) in the caller's transaction, so an
//     upload's record and its processing job commit or roll back together.
//     A unique key makes a second Enqueue, while the first job is pending,
//     return the pending job instead of adding one.
//   - A runner (Queue.Run) claims a ready job of a kind it handles, atomically
//     (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: the single writer), sets
//     state running with a lease (owner, lease_until), counts the attempt and
//     calls the kind's handler. A heartbeat renews the lease while the
//     handler runs, so a job of hours keeps it; a worker that dies stops
//     renewing and, once the lease has run out, another runner claims the job
//     again.
//   - The handler's result decides what follows: nil marks the job done; an
//     error schedules another attempt after a backoff, until MaxAttempts is
//     reached and the job is failed with the last error kept; an error
//     wrapping ErrPermanent (e.g. "not a video") fails it at once.
//   - When Run's context ends, running handlers see their context cancelled;
//     the jobs they give up are released (queued again, the attempt not
//     counted). A handler that does not return within ShutdownTimeout is left
//     to its lease.
//
// Delivery is at least once: a worker that dies after the work but before
// recording it, or a handler that outlives its lease, means the job runs
// again. Handlers must be idempotent (write outputs under names derived from
// the job, replace rather than append).
//
// Wiring, in the composition root:
//
//	sources = append(sources, jobs.Migrations())      // table jobs_queue
//	q := jobs.New(d, jobs.Options{Logger: log, Now: now})
//	q.Handle("share.video_probe", probe, jobs.HandlerOptions{Concurrency: 2, Timeout: time.Hour})
//	go q.Run(ctx)                                      // every Handle before Run
//
// Stop Run (cancel its context) after the HTTP server, and wait for it to
// return: it releases the jobs its handlers give up. A process that only
// enqueues and shows jobs (a web node when `jnedu worker` processes do the
// work) makes a Queue without handlers and does not need to run it.
//
// and where work is created:
//
//	err := d.InTx(ctx, func(tx *db.Tx) error {
//		... insert the upload ...
//		_, err := q.Enqueue(ctx, tx, "share.video_probe", probeJob{VideoID: id},
//			jobs.EnqueueOptions{UniqueKey: fmt.Sprint(id)})
//		return err
//	})
//
// Queue.Enqueue wakes the local runner (Notify); the package-level Enqueue
// does not, and other processes find new jobs by polling
// (Options.PollInterval).
package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"jnedu/internal/platform/db"
)

// State is where a job is in its life.
type State string

const (
	// Queued jobs wait for a runner (and for RunAt).
	Queued State = "queued"
	// Running jobs are held by a runner until their lease runs out.
	Running State = "running"
	// Done jobs succeeded.
	Done State = "done"
	// Failed jobs ran out of attempts or failed permanently; LastError says
	// why. Queue.Retry queues them again.
	Failed State = "failed"
	// Cancelled jobs were stopped by Queue.Cancel.
	Cancelled State = "cancelled"
)

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	switch s {
	case Queued, Running, Done, Failed, Cancelled:
		return true
	}
	return false
}

// Limits.
const (
	// MaxPayloadBytes bounds a job's encoded payload. A payload names its
	// work (a video's ID, a blob's hash), it does not carry it.
	MaxPayloadBytes = 64 << 10
	// MaxUniqueKeyBytes bounds EnqueueOptions.UniqueKey.
	MaxUniqueKeyBytes = 200
	// MaxAttemptsLimit bounds EnqueueOptions.MaxAttempts.
	MaxAttemptsLimit = 100
	// DefaultMaxAttempts is used when EnqueueOptions.MaxAttempts is 0.
	DefaultMaxAttempts = 5
	// maxErrorBytes and maxNoteBytes bound the texts kept in a job's row.
	maxErrorBytes = 2000
	maxNoteBytes  = 200
)

var (
	// ErrPermanent, wrapped in a handler's error, says that retrying cannot
	// help: the job fails at once, whatever attempts it has left.
	ErrPermanent = errors.New("jobs: permanent failure")
	// ErrConflict is returned by Retry and Cancel when the job's state does
	// not allow the change, and by Retry when another job with the same
	// unique key is pending.
	ErrConflict = errors.New("jobs: job is not in a state that allows this")
	// ErrTooLarge is returned by Enqueue when the payload exceeds
	// MaxPayloadBytes.
	ErrTooLarge = errors.New("jobs: payload too large")
	// ErrInvalid is returned by Enqueue for a bad kind or option.
	ErrInvalid = errors.New("jobs: invalid job")
	// ErrLeaseLost is the cause of a handler's context being cancelled when
	// its runner no longer holds the job (another runner claimed it after
	// the lease ran out). SetProgress returns it too.
	ErrLeaseLost = errors.New("jobs: lease lost")
	// ErrCancelled is the cause of a handler's context being cancelled when
	// its job was cancelled with Queue.Cancel. SetProgress returns it too.
	ErrCancelled = errors.New("jobs: job cancelled")
	// ErrStopping is the cause of a handler's context being cancelled when
	// the runner stops; the job is released for another run.
	ErrStopping = errors.New("jobs: runner stopping")
	// ErrRunning is returned when Run is called on a queue that is running
	// or has stopped.
	ErrRunning = errors.New("jobs: runner already started")
	// ErrNotHandling is returned by SetProgress on a Job that is not the
	// one a handler was given.
	ErrNotHandling = errors.New("jobs: progress reported outside a handler")
)

// Job is one job's row. Get and List return snapshots; a handler receives
// the job it runs, as claimed, and reports progress through it.
type Job struct {
	ID       int64
	Kind     string
	Payload  json.RawMessage // the JSON given to Enqueue
	State    State
	Priority int
	// RunAt is the earliest time the job may (next) run.
	RunAt time.Time
	// Attempts counts the runs started, the current one included (a run
	// interrupted by a stopping runner is not counted).
	Attempts    int
	MaxAttempts int
	UniqueKey   string // "" when none
	// Owner names the runner that holds (or last held) the job.
	Owner string
	// LeaseUntil is when a running job's lease runs out (zero otherwise).
	LeaseUntil time.Time
	// Progress (0–100) and ProgressNote are what the handler last reported.
	Progress     int
	ProgressNote string
	// LastError is the error of the last failed attempt.
	LastError  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  time.Time // start of the last attempt (zero: never started)
	FinishedAt time.Time // when it became done, failed or cancelled (zero otherwise)

	run *execution // set on the job a handler runs
}

// Decode unmarshals the job's payload into v.
func (j *Job) Decode(v any) error {
	if err := json.Unmarshal(j.Payload, v); err != nil {
		return fmt.Errorf("jobs: decode %s payload of job %d: %w", j.Kind, j.ID, err)
	}
	return nil
}

// EnqueueOptions tune one job. The zero value runs the job as soon as
// possible, at priority 0, up to DefaultMaxAttempts times.
type EnqueueOptions struct {
	// Priority orders the ready jobs of a kind: higher runs first; equal
	// priorities run in order of RunAt, then of enqueueing.
	Priority int
	// RunAt delays the job until then (zero: now).
	RunAt time.Time
	// MaxAttempts bounds the runs of the job (0: DefaultMaxAttempts; at
	// most MaxAttemptsLimit).
	MaxAttempts int
	// UniqueKey, when set, deduplicates: while a job of the same kind with
	// this key is queued or running, Enqueue returns that job instead of
	// adding one. Once it is done, failed or cancelled, the key is free.
	UniqueKey string
}

// Enqueue writes a job of the given kind in q, usually the caller's
// transaction (on SQLite, the tx of db.InTx, never the DB while inside it):
// the job exists if and only if the transaction commits. payload is encoded
// as JSON (at most MaxPayloadBytes); RunAt defaults to time.Now.
//
// Enqueue does not wake a runner: call Queue.Notify after the commit, or use
// Queue.Enqueue, which does; otherwise the job starts at the next poll.
func Enqueue(ctx context.Context, q db.Querier, kind string, payload any, opt EnqueueOptions) (Job, error) {
	return enqueue(ctx, q, time.Now(), kind, payload, opt)
}

func enqueue(ctx context.Context, q db.Querier, now time.Time, kind string, payload any, opt EnqueueOptions) (Job, error) {
	if err := validKind(kind); err != nil {
		return Job{}, fmt.Errorf("%w: kind %q: %v", ErrInvalid, kind, err)
	}
	switch {
	case opt.MaxAttempts == 0:
		opt.MaxAttempts = DefaultMaxAttempts
	case opt.MaxAttempts < 0 || opt.MaxAttempts > MaxAttemptsLimit:
		return Job{}, fmt.Errorf("%w: max attempts %d, want 1 to %d", ErrInvalid, opt.MaxAttempts, MaxAttemptsLimit)
	}
	if len(opt.UniqueKey) > MaxUniqueKeyBytes {
		return Job{}, fmt.Errorf("%w: unique key of %d bytes, limit %d", ErrInvalid, len(opt.UniqueKey), MaxUniqueKeyBytes)
	}
	if opt.Priority < -1_000_000 || opt.Priority > 1_000_000 {
		return Job{}, fmt.Errorf("%w: priority %d, want -1000000 to 1000000", ErrInvalid, opt.Priority)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return Job{}, fmt.Errorf("jobs: encode %s payload: %w", kind, err)
	}
	if len(body) > MaxPayloadBytes {
		return Job{}, fmt.Errorf("%w: %s payload is %d bytes, limit %d", ErrTooLarge, kind, len(body), MaxPayloadBytes)
	}
	runAt := opt.RunAt
	if runAt.IsZero() {
		runAt = now
	}
	var key any // NULL: no key
	if opt.UniqueKey != "" {
		key = opt.UniqueKey
	}
	// A conflict can only come from the unique key. The pending job holding
	// it may finish between the INSERT and the SELECT: then try again.
	for range 3 {
		j, err := scanJob(q.ExecRow(ctx, `INSERT INTO jobs_queue
			(kind, payload, state, priority, run_at, max_attempts, unique_key, created_at, updated_at)
			VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING
			RETURNING `+jobColumns,
			kind, string(body), opt.Priority, runAt.UnixMilli(), opt.MaxAttempts, key, now.UnixMilli(), now.UnixMilli()))
		if err == nil {
			return j, nil
		}
		if !errors.Is(err, sql.ErrNoRows) || key == nil {
			return Job{}, fmt.Errorf("jobs: enqueue %s: %w", kind, err)
		}
		j, err = scanJob(q.QueryRow(ctx, "SELECT "+jobColumns+` FROM jobs_queue
			WHERE kind = ? AND unique_key = ? AND state IN ('queued', 'running')`, kind, key))
		if err == nil {
			return j, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return Job{}, fmt.Errorf("jobs: enqueue %s: find the pending job with key %q: %w", kind, opt.UniqueKey, err)
		}
	}
	return Job{}, fmt.Errorf("jobs: enqueue %s: the pending job with key %q keeps changing", kind, opt.UniqueKey)
}

// jobColumns are the columns scanJob reads, in order.
const jobColumns = `id, kind, payload, state, priority, run_at, attempts, max_attempts,
	COALESCE(unique_key, ''), owner, lease_until, progress, progress_note, last_error,
	created_at, updated_at, started_at, finished_at`

type scanner interface{ Scan(dest ...any) error }

// scanJob reads the jobColumns of one row.
func scanJob(s scanner) (Job, error) {
	var j Job
	var payload, state string
	var runAt, lease, created, updated, started, finished int64
	if err := s.Scan(&j.ID, &j.Kind, &payload, &state, &j.Priority, &runAt, &j.Attempts, &j.MaxAttempts,
		&j.UniqueKey, &j.Owner, &lease, &j.Progress, &j.ProgressNote, &j.LastError,
		&created, &updated, &started, &finished); err != nil {
		return Job{}, err
	}
	j.Payload = json.RawMessage(payload)
	j.State = State(state)
	j.RunAt = time.UnixMilli(runAt)
	j.LeaseUntil = msTime(lease)
	j.CreatedAt = time.UnixMilli(created)
	j.UpdatedAt = time.UnixMilli(updated)
	j.StartedAt = msTime(started)
	j.FinishedAt = msTime(finished)
	return j, nil
}

// msTime turns Unix milliseconds into a time, 0 into the zero time.
func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// validKind accepts 1 to 100 characters of a-z, 0-9, '.', '_' and '-',
// starting with a letter or digit, like "share.video_probe".
func validKind(s string) error {
	if s == "" || len(s) > 100 {
		return errors.New("want 1 to 100 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return fmt.Errorf("character %q at %d: want a-z, 0-9, '.', '_' or '-'", c, i)
		}
	}
	return nil
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
