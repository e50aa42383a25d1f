package jobs

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"jnedu/internal/platform/db"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the "jobs" subsystem's tables (jobs_queue).
func Migrations() db.Source {
	f, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded folder exists: a build error, not a runtime one
	}
	return db.Source{Subsystem: "jobs", FS: f}
}

// Get returns job id, or an error wrapping db.ErrNotFound.
func (q *Queue) Get(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(q.db.QueryRow(ctx, "SELECT "+jobColumns+" FROM jobs_queue WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, fmt.Errorf("jobs: job %d: %w", id, db.ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("jobs: get job %d: %w", id, err)
	}
	return j, nil
}

// Filter selects the jobs List returns; zero fields select everything.
type Filter struct {
	Kind  string
	State State
	// BeforeID pages: only jobs with a smaller ID (the last ID of the
	// previous page).
	BeforeID int64
	// Limit bounds the jobs returned: 1 to MaxList, 0 meaning 50.
	Limit int
}

// MaxList bounds Filter.Limit.
const MaxList = 500

// List returns the jobs f selects, newest first.
func (q *Queue) List(ctx context.Context, f Filter) ([]Job, error) {
	if f.State != "" && !f.State.Valid() {
		return nil, fmt.Errorf("%w: state %q", ErrInvalid, f.State)
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, MaxList)
	var where []string
	var args []any
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, string(f.State))
	}
	if f.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	query := "SELECT " + jobColumns + " FROM jobs_queue"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	rows, err := q.db.Query(ctx, query, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("jobs: list: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("jobs: list: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("jobs: list: %w", err)
	}
	return out, nil
}

// Counts are numbers of jobs per state.
type Counts struct {
	Queued    int64 // waiting, including those whose RunAt is to come
	Running   int64
	Done      int64
	Failed    int64
	Cancelled int64
}

// Total is the sum of the counts.
func (c Counts) Total() int64 { return c.Queued + c.Running + c.Done + c.Failed + c.Cancelled }

func (c *Counts) add(s State, n int64) {
	switch s {
	case Queued:
		c.Queued += n
	case Running:
		c.Running += n
	case Done:
		c.Done += n
	case Failed:
		c.Failed += n
	case Cancelled:
		c.Cancelled += n
	}
}

// Counts counts the jobs of kind ("" for every kind) per state.
func (q *Queue) Counts(ctx context.Context, kind string) (Counts, error) {
	var c Counts
	query := "SELECT state, COUNT(*) FROM jobs_queue GROUP BY state"
	var args []any
	if kind != "" {
		query = "SELECT state, COUNT(*) FROM jobs_queue WHERE kind = ? GROUP BY state"
		args = append(args, kind)
	}
	rows, err := q.db.Query(ctx, query, args...)
	if err != nil {
		return c, fmt.Errorf("jobs: count: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return c, fmt.Errorf("jobs: count: %w", err)
		}
		c.add(State(s), n)
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("jobs: count: %w", err)
	}
	return c, nil
}

// Stats is the queue's state for metrics: counts from the database (every
// runner's jobs) and counters of this runner since New.
type Stats struct {
	// Counts are the jobs per state, all kinds together.
	Counts
	// Kinds has the counts of each kind present in the database, by name.
	Kinds []KindStats

	// Active is the number of jobs this runner runs now.
	Active int
	// RunsStarted counts the runs this runner started.
	RunsStarted uint64
	// RunsSucceeded, RunsRetried and RunsFailed count the runs that ended
	// with the job done, queued for another attempt, and failed.
	RunsSucceeded, RunsRetried, RunsFailed uint64
	// RunsReleased counts runs interrupted by a stop and queued again.
	RunsReleased uint64
	// RunsLost counts runs whose job was claimed by another runner (the
	// lease ran out) before they could record their end.
	RunsLost uint64
	// RunsCancelled counts runs stopped by Cancel.
	RunsCancelled uint64
}

// KindStats are one kind's counts.
type KindStats struct {
	Kind string
	Counts
}

// Stats reads the counts per kind and state and the runner's counters.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	st := Stats{
		RunsStarted:   q.started.Load(),
		RunsSucceeded: q.succeeded.Load(),
		RunsRetried:   q.retried.Load(),
		RunsFailed:    q.failed.Load(),
		RunsReleased:  q.released.Load(),
		RunsLost:      q.lost.Load(),
		RunsCancelled: q.cancelled.Load(),
	}
	q.mu.Lock()
	st.Active = len(q.active)
	q.mu.Unlock()
	rows, err := q.db.Query(ctx, "SELECT kind, state, COUNT(*) FROM jobs_queue GROUP BY kind, state")
	if err != nil {
		return st, fmt.Errorf("jobs: stats: %w", err)
	}
	defer rows.Close()
	byKind := map[string]*KindStats{}
	for rows.Next() {
		var kind, s string
		var n int64
		if err := rows.Scan(&kind, &s, &n); err != nil {
			return st, fmt.Errorf("jobs: stats: %w", err)
		}
		k := byKind[kind]
		if k == nil {
			k = &KindStats{Kind: kind}
			byKind[kind] = k
		}
		k.add(State(s), n)
		st.Counts.add(State(s), n)
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("jobs: stats: %w", err)
	}
	for _, k := range byKind {
		st.Kinds = append(st.Kinds, *k)
	}
	sort.Slice(st.Kinds, func(i, j int) bool { return st.Kinds[i].Kind < st.Kinds[j].Kind })
	return st, nil
}

// Retry queues a failed or cancelled job again, at once and with all its
// attempts (LastError is kept until the next run ends). It fails with
// ErrConflict when the job is in another state or another job with its
// unique key is pending, and with db.ErrNotFound when there is no such job.
func (q *Queue) Retry(ctx context.Context, id int64) error {
	now := q.now().UnixMilli()
	res, err := q.db.Exec(ctx, `UPDATE jobs_queue SET state = 'queued', attempts = 0, run_at = ?, owner = '',
		lease_until = 0, progress = 0, progress_note = '', finished_at = 0, updated_at = ?
		WHERE id = ? AND state IN ('failed', 'cancelled')`, now, now, id)
	if db.IsUniqueViolation(err) {
		return fmt.Errorf("%w: job %d: another job with its unique key is pending", ErrConflict, id)
	}
	if err := q.changed(ctx, id, "retry", res, err); err != nil {
		return err
	}
	q.log.Info("job queued again by hand", "id", id)
	q.Notify()
	return nil
}

// Cancel stops a queued or running job: it will not run (again). A handler
// running it in this process has its context cancelled at once (cause
// ErrCancelled); one in another process at its next heartbeat. It fails
// with ErrConflict when the job has already ended, and with db.ErrNotFound
// when there is no such job.
func (q *Queue) Cancel(ctx context.Context, id int64) error {
	now := q.now().UnixMilli()
	res, err := q.db.Exec(ctx, `UPDATE jobs_queue SET state = 'cancelled', lease_until = 0, finished_at = ?, updated_at = ?
		WHERE id = ? AND state IN ('queued', 'running')`, now, now, id)
	if err := q.changed(ctx, id, "cancel", res, err); err != nil {
		return err
	}
	q.log.Info("job cancelled", "id", id)
	q.mu.Lock()
	x := q.active[id]
	q.mu.Unlock()
	if x != nil {
		x.mu.Lock()
		x.lose(ErrCancelled)
		x.mu.Unlock()
	}
	return nil
}

// changed checks that an UPDATE of job id changed it, telling a missing job
// (db.ErrNotFound) from one in the wrong state (ErrConflict).
func (q *Queue) changed(ctx context.Context, id int64, what string, res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("jobs: %s job %d: %w", what, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("jobs: %s job %d: %w", what, id, err)
	}
	if n > 0 {
		return nil
	}
	j, err := q.Get(ctx, id)
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: cannot %s job %d, it is %s", ErrConflict, what, id, j.State)
}

// pruneBatch bounds the rows one DELETE removes, so pruning never holds the
// writer for long.
const pruneBatch = 1000

// Prune deletes the done, failed and cancelled jobs that finished more than
// Options.Retention ago, and returns how many. Run calls it every
// PruneInterval.
func (q *Queue) Prune(ctx context.Context) (int64, error) {
	cutoff := q.now().Add(-q.opt.Retention).UnixMilli()
	var total int64
	for {
		res, err := q.db.Exec(ctx, `DELETE FROM jobs_queue WHERE id IN (
			SELECT id FROM jobs_queue WHERE state IN ('done', 'failed', 'cancelled') AND finished_at < ?
			ORDER BY finished_at LIMIT ?)`, cutoff, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("jobs: prune: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("jobs: prune: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// Reap fails the running jobs whose lease ran out and that have no attempts
// left (their worker died on the last one, perhaps killed by the job
// itself), and returns how many. Run calls it every PollInterval; jobs with
// attempts left are claimed again instead.
func (q *Queue) Reap(ctx context.Context) (int64, error) {
	now := q.now().UnixMilli()
	const lost = "state = 'running' AND lease_until < ? AND attempts >= max_attempts"
	var id int64
	err := q.db.QueryRow(ctx, "SELECT id FROM jobs_queue WHERE "+lost+" LIMIT 1", now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("jobs: look for lost jobs: %w", err)
	}
	res, err := q.db.Exec(ctx, `UPDATE jobs_queue SET state = 'failed',
		last_error = 'lease of ' || owner || ' ran out on the last attempt: the worker stopped answering',
		lease_until = 0, finished_at = ?, updated_at = ? WHERE `+lost, now, now, now)
	if err != nil {
		return 0, fmt.Errorf("jobs: fail lost jobs: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("jobs: fail lost jobs: %w", err)
	}
	return n, nil
}
