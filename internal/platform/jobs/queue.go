package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"jnedu/internal/platform/db"
)

// Options tune a Queue. The zero value gives production defaults.
type Options struct {
	// Logger receives the queue's logs (nil: discarded).
	Logger *slog.Logger
	// Now is the clock (nil: time.Now). It stamps jobs, schedules retries
	// and sets and checks leases; waiting uses real timers.
	Now func() time.Time
	// Instance names this runner as the owner of the jobs it claims
	// (default: host name, process ID and a random suffix). Two runners
	// must never share a name.
	Instance string
	// PollInterval is how often an idle runner looks for jobs it was not
	// told about: enqueued by another process, or whose RunAt has come
	// (default 1s).
	PollInterval time.Duration
	// LeaseTTL is how long a claimed job stays with its runner without a
	// heartbeat (default 1m): after a crash, the job is claimed again once
	// it has run out.
	LeaseTTL time.Duration
	// HeartbeatInterval is how often a running job's lease is renewed and
	// its progress written (default LeaseTTL/4). It is also how soon a
	// runner notices a job cancelled or taken over by another process.
	HeartbeatInterval time.Duration
	// ShutdownTimeout bounds how long Run, once its context ends, waits
	// for handlers to return (default 10s). Jobs of handlers still running
	// then are left to their lease.
	ShutdownTimeout time.Duration
	// Retention is how long done, failed and cancelled jobs are kept
	// (default 30 days); Run prunes older ones every PruneInterval
	// (default 1h).
	Retention     time.Duration
	PruneInterval time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	setDefault(&o.PollInterval, time.Second)
	setDefault(&o.LeaseTTL, time.Minute)
	setDefault(&o.HeartbeatInterval, o.LeaseTTL/4)
	if o.HeartbeatInterval > o.LeaseTTL/2 {
		o.HeartbeatInterval = o.LeaseTTL / 2
	}
	setDefault(&o.ShutdownTimeout, 10*time.Second)
	setDefault(&o.Retention, 30*24*time.Hour)
	setDefault(&o.PruneInterval, time.Hour)
	if o.Instance == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "worker"
		}
		var b [4]byte
		rand.Read(b[:])
		o.Instance = fmt.Sprintf("%s-%d-%s", truncate(host, 60), os.Getpid(), hex.EncodeToString(b[:]))
	}
	return o
}

func setDefault[N int | time.Duration](v *N, def N) {
	if *v <= 0 {
		*v = def
	}
}

// HandlerFunc runs one job. It should return soon after ctx is done; the
// context's cause (context.Cause) tells why: ErrStopping, ErrCancelled,
// ErrLeaseLost or the handler's timeout. An error wrapping ErrPermanent
// fails the job without further attempts.
type HandlerFunc func(ctx context.Context, j *Job) error

// HandlerOptions tune the handler of one kind.
type HandlerOptions struct {
	// Concurrency is how many jobs of the kind this runner runs at once
	// (default 1). Every runner on the database adds its own.
	Concurrency int
	// Timeout bounds one run through its context (default 1h); a run that
	// times out counts as a failed attempt.
	Timeout time.Duration
	// Backoff is the delay before attempt n+1 after attempt n failed
	// (default ExponentialBackoff(10s, 1h)).
	Backoff func(attempt int) time.Duration
}

// ExponentialBackoff returns a backoff that waits base after the first
// failed attempt, doubling with each further one up to limit, with up to
// 20% of random jitter either way.
func ExponentialBackoff(base, limit time.Duration) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt && d < limit; i++ {
			d *= 2
		}
		d = min(d, limit)
		if d <= 0 {
			return 0
		}
		jitter := time.Duration(mrand.Int64N(int64(d)/5+1)) * 2
		return d - d/5 + jitter
	}
}

// Queue runs jobs from the database: register a handler per kind with
// Handle, then start Run. Its query methods (Get, List, Counts, Stats,
// Retry, Cancel) work whether it runs or not.
type Queue struct {
	db  *db.DB
	opt Options
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex
	handlers map[string]*handler
	active   map[int64]*execution // jobs running in this process
	state    runState

	// abandoned is closed when Run gives up waiting for handlers: their
	// heartbeats stop and their jobs are left to the lease.
	abandoned chan struct{}

	started, succeeded, retried, failed, released, lost, cancelled atomic.Uint64
}

type runState int

const (
	stateNew runState = iota
	stateRunning
	stateStopped
)

// handler is one kind's handler and its slots.
type handler struct {
	kind string
	fn   HandlerFunc
	opt  HandlerOptions
	wake chan struct{} // Notify → the kind's claim loop
}

// New makes a queue on d, on which the "jobs" migrations (Migrations) must
// have been applied.
func New(d *db.DB, opt Options) *Queue {
	opt = opt.withDefaults()
	return &Queue{
		db:        d,
		opt:       opt,
		log:       opt.Logger.With("component", "jobs", "instance", opt.Instance),
		now:       opt.Now,
		handlers:  map[string]*handler{},
		active:    map[int64]*execution{},
		abandoned: make(chan struct{}),
	}
}

// Instance is the name this runner claims jobs under.
func (q *Queue) Instance() string { return q.opt.Instance }

// Handle registers fn as the handler of the jobs of kind. It must be called
// before Run; it panics on a programming error: an invalid kind, a nil
// handler, a second handler for a kind, or a queue already started.
func (q *Queue) Handle(kind string, fn HandlerFunc, opt HandlerOptions) {
	if err := validKind(kind); err != nil {
		panic(fmt.Sprintf("jobs.Handle(%q): %v", kind, err))
	}
	if fn == nil {
		panic(fmt.Sprintf("jobs.Handle(%q): nil handler", kind))
	}
	setDefault(&opt.Concurrency, 1)
	setDefault(&opt.Timeout, time.Hour)
	if opt.Backoff == nil {
		opt.Backoff = ExponentialBackoff(10*time.Second, time.Hour)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.state != stateNew {
		panic(fmt.Sprintf("jobs.Handle(%q): %v", kind, ErrRunning))
	}
	if _, dup := q.handlers[kind]; dup {
		panic(fmt.Sprintf("jobs.Handle(%q): kind already handled", kind))
	}
	q.handlers[kind] = &handler{kind: kind, fn: fn, opt: opt, wake: make(chan struct{}, 1)}
}

// Enqueue is the package-level Enqueue with the queue's clock, followed by
// Notify: call it inside the transaction that creates the work.
func (q *Queue) Enqueue(ctx context.Context, x db.Querier, kind string, payload any, opt EnqueueOptions) (Job, error) {
	j, err := enqueue(ctx, x, q.now(), kind, payload, opt)
	if err == nil {
		q.Notify()
	}
	return j, err
}

// Notify tells the runner that jobs may be ready: it looks at once, then
// quickly again for a short while (2ms, doubling up to PollInterval), since
// a job enqueued in a transaction is visible only once that commits. It
// never blocks and may be called before or after the commit.
func (q *Queue) Notify() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, h := range q.handlers {
		signal(h.wake)
	}
}

// fastPoll is the first delay of the quick polling after Notify.
const fastPoll = 2 * time.Millisecond

// bookkeepingTimeout bounds the writes that record a run's end, which go on
// while the runner stops.
const bookkeepingTimeout = 5 * time.Second

// Run claims and runs jobs of the handled kinds until ctx ends, then stops
// gracefully (see the package documentation) and returns nil. A queue runs
// once: a second call returns ErrRunning.
func (q *Queue) Run(ctx context.Context) error {
	q.mu.Lock()
	if q.state != stateNew {
		q.mu.Unlock()
		return ErrRunning
	}
	q.state = stateRunning
	hs := make([]*handler, 0, len(q.handlers))
	kinds := make([]string, 0, len(q.handlers))
	for _, h := range q.handlers {
		hs = append(hs, h)
		kinds = append(kinds, h.kind)
	}
	q.mu.Unlock()
	q.log.Info("job runner running", "kinds", kinds, "lease", q.opt.LeaseTTL, "poll", q.opt.PollInterval)

	var loops, runs sync.WaitGroup
	for _, h := range hs {
		loops.Go(func() { q.claimLoop(ctx, h, &runs) })
	}
	loops.Go(func() { q.housekeeping(ctx) })
	<-ctx.Done()
	loops.Wait() // no new claims from here on

	q.mu.Lock()
	q.state = stateStopped
	q.mu.Unlock()
	done := make(chan struct{})
	go func() { runs.Wait(); close(done) }()
	t := time.NewTimer(q.opt.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		close(q.abandoned)
		q.mu.Lock()
		left := make([]*execution, 0, len(q.active))
		for _, x := range q.active {
			left = append(left, x)
		}
		q.mu.Unlock()
		// Wait for lease renewals under way: none may follow.
		for _, x := range left {
			x.mu.Lock()
			x.mu.Unlock() //nolint:staticcheck // an empty critical section is the point
		}
		n := len(left)
		q.log.Warn("job handlers still running after the shutdown timeout; their jobs are left to the lease",
			"running", n, "timeout", q.opt.ShutdownTimeout)
	}
	q.log.Info("job runner stopped")
	return nil
}

// claimLoop claims jobs of h's kind while it has free slots, and starts a
// run for each, until ctx ends.
func (q *Queue) claimLoop(ctx context.Context, h *handler, runs *sync.WaitGroup) {
	slots := make(chan struct{}, h.opt.Concurrency)
	delay := q.opt.PollInterval
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
			delay = fastPoll
		case <-timer.C:
		}
		var err error
		for {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			var j Job
			var ok bool
			if j, ok, err = q.claim(ctx, h.kind); !ok {
				<-slots
				break
			}
			delay = fastPoll // a job was there: more may follow
			runs.Go(func() {
				defer func() {
					<-slots
					signal(h.wake) // a slot is free
				}()
				q.execute(ctx, h, j)
			})
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			q.log.Warn("claim a job", "kind", h.kind, "err", err)
			delay = q.opt.PollInterval
		}
		timer.Reset(delay)
		delay = min(2*delay, q.opt.PollInterval)
	}
}

// readyCondition selects the jobs a runner may claim: queued ones whose
// RunAt has come, and running ones whose lease ran out (their runner is
// gone) and that have attempts left. Arguments: now, now.
const readyCondition = `((state = 'queued' AND run_at <= ?)
	OR (state = 'running' AND lease_until < ? AND attempts < max_attempts))`

// claim takes the next ready job of kind for this runner: state running,
// owner this runner, a fresh lease, one more attempt. ok is false when
// there is none.
func (q *Queue) claim(ctx context.Context, kind string) (j Job, ok bool, err error) {
	now := q.now().UnixMilli()
	// A cheap look on a reader first: most polls find nothing, and on
	// SQLite the claim takes the single writer.
	var id int64
	err = q.db.QueryRow(ctx, "SELECT id FROM jobs_queue WHERE kind = ? AND "+readyCondition+" LIMIT 1",
		kind, now, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("jobs: look for %s jobs: %w", kind, err)
	}
	// PostgreSQL: SKIP LOCKED lets runners claim different rows at once.
	// SQLite: the statement runs on the single writer (and under the file's
	// write lock across processes), so no two claims interleave.
	lock := ""
	if q.db.Dialect() == db.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	until := now + q.opt.LeaseTTL.Milliseconds()
	j, err = scanJob(q.db.ExecRow(ctx, `UPDATE jobs_queue SET
			state = 'running', owner = ?, lease_until = ?, attempts = attempts + 1,
			progress = 0, progress_note = '', started_at = ?, updated_at = ?,
			last_error = CASE WHEN state = 'running'
				THEN 'lease of ' || owner || ' ran out: the worker stopped answering' ELSE last_error END
		WHERE id = (SELECT id FROM jobs_queue WHERE kind = ? AND `+readyCondition+`
			ORDER BY priority DESC, run_at, id LIMIT 1`+lock+`)
		RETURNING `+jobColumns,
		q.opt.Instance, until, now, now, kind, now, now))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, false, nil // another runner was quicker
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("jobs: claim a %s job: %w", kind, err)
	}
	return j, true, nil
}

// housekeeping fails lost jobs without attempts left every PollInterval and
// prunes finished jobs every PruneInterval, both at once at start.
func (q *Queue) housekeeping(ctx context.Context) {
	reap := time.NewTicker(q.opt.PollInterval)
	defer reap.Stop()
	prune := time.NewTicker(q.opt.PruneInterval)
	defer prune.Stop()
	q.housekeep(ctx, true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-reap.C:
			q.housekeep(ctx, false)
		case <-prune.C:
			q.housekeep(ctx, true)
		}
	}
}

func (q *Queue) housekeep(ctx context.Context, prune bool) {
	if n, err := q.Reap(ctx); err != nil && ctx.Err() == nil {
		q.log.Warn("fail lost jobs", "err", err)
	} else if n > 0 {
		q.log.Warn("failed lost jobs without attempts left", "jobs", n)
	}
	if !prune {
		return
	}
	if n, err := q.Prune(ctx); err != nil && ctx.Err() == nil {
		q.log.Warn("prune finished jobs", "err", err)
	} else if n > 0 {
		q.log.Info("pruned finished jobs", "jobs", n, "retention", q.opt.Retention)
	}
}

// signal wakes whoever waits on c without ever blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
