package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"jnedu/internal/platform/db"
)

// How the relay works
//
// PublishTx inserts an outbox row with pos NULL. Positions cannot be taken
// from an auto-increment at insert time: on PostgreSQL a row with a smaller
// id may commit after a larger one, and a reader following "pos > cursor"
// would skip it. Instead the sequencer (one goroutine per bus) locks the
// single events_sequence row, picks up committed rows without a position and
// numbers them after the last one handed out. Positions are therefore
// gap-free and only ever given to committed rows, so once a reader sees
// last_pos = H, every row with pos <= H is visible.
//
// Each durable subscriber has a row in events_subscribers with its position
// (every row up to it has been handled) and a lease: a durable worker
// delivers only while it holds the lease, and every write it makes is
// conditional on still holding it, so two processes never move one
// subscriber's position. A worker reads the rows of its topics after its
// position, calls the handler for each in order and moves its position past
// each one it handled (or parked); a failure records the attempt and retries
// the same row after a backoff, which holds up this subscriber only.

// fastPoll is the first delay of the sequencer's quick polling after a
// PublishTx, whose row becomes visible only when the caller commits.
const fastPoll = 2 * time.Millisecond

// bookkeepingTimeout bounds the writes that record a delivery, which run even
// while the bus is stopping so a handled event is not delivered again.
const bookkeepingTimeout = 5 * time.Second

// leaseState is what a durable worker knows about its subscriber's row
// while it owns the lease. Only the worker's goroutine touches it.
type leaseState struct {
	until    time.Time // the lease runs until then (zero: not ours)
	position int64
	attempts int // failed deliveries of the row after position
}

// outboxRow is one outbox event read by a durable worker.
type outboxRow struct {
	pos       int64
	id        string
	topic     string
	payload   []byte
	createdAt int64
}

// Run delivers events until ctx ends: it starts one in-memory worker per
// subscriber and, with a database, the sequencer, one durable worker per
// subscriber and the housekeeping (backlog measurement and pruning). When
// ctx ends it waits up to Options.ShutdownTimeout for handlers to return and
// in-memory queues to drain, releases its leases and returns nil. It returns
// an error only when it cannot start (it may then be called again); a bus
// runs once.
func (b *Bus) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.state != stateNew {
		b.mu.Unlock()
		return ErrRunning
	}
	b.state = stateRunning
	b.mu.Unlock()
	subs := b.subscribers()
	if b.db != nil {
		if err := b.registerSubscribers(ctx, subs); err != nil {
			b.mu.Lock()
			b.state = stateNew
			b.mu.Unlock()
			return err
		}
	}
	b.log.Info("event bus running", "subscribers", len(subs), "durable", b.db != nil, "instance", b.opt.Instance)

	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(func() { b.runMemory(ctx, s) })
		if b.db != nil {
			wg.Go(func() { b.runDurable(ctx, s) })
		}
	}
	if b.db != nil {
		wg.Go(func() { b.runSequencer(ctx) })
		wg.Go(func() { b.runHousekeeping(ctx) })
	}
	<-ctx.Done()

	b.mu.Lock()
	b.state = stateStopped
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(b.opt.ShutdownTimeout + time.Second) // the drains have their own deadline
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		b.log.Warn("event handlers still running after the shutdown timeout", "timeout", b.opt.ShutdownTimeout)
	}
	if b.db != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
		defer cancel()
		if _, err := b.db.Exec(rctx, "UPDATE events_subscribers SET owner = '', lease_until = 0 WHERE owner = ?",
			b.opt.Instance); err != nil {
			b.log.Warn("release subscriber leases", "err", err)
		}
	}
	b.log.Info("event bus stopped")
	return nil
}

// registerSubscribers creates the progress row of every new subscriber,
// positioned after the rows ordered so far.
func (b *Bus) registerSubscribers(ctx context.Context, subs []*subscriber) error {
	now := b.now().UnixMilli()
	for _, s := range subs {
		if _, err := b.db.Exec(ctx, `INSERT INTO events_subscribers
			(name, position, owner, lease_until, attempts, last_error, created_at, updated_at)
			SELECT CAST(? AS TEXT), last_pos, '', 0, 0, '', CAST(? AS BIGINT), CAST(? AS BIGINT)
			FROM events_sequence WHERE id = 1
			ON CONFLICT (name) DO NOTHING`, s.name, now, now); err != nil {
			return fmt.Errorf("events: register subscriber %s: %w", s.name, err)
		}
	}
	return nil
}

// runSequencer orders committed outbox rows. After a PublishTx it polls
// quickly (2ms, doubling up to PollInterval), since the row shows up only
// when the caller commits; otherwise it polls every PollInterval.
func (b *Bus) runSequencer(ctx context.Context) {
	delay := b.opt.PollInterval
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
			delay = fastPoll
		case <-timer.C:
		}
		n, err := b.sequence(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			b.log.Warn("order outbox rows", "err", err)
			delay = b.opt.PollInterval
		case n > 0:
			for _, s := range b.subscribers() {
				signal(s.wake)
			}
			delay = fastPoll
			if n == b.opt.BatchSize {
				delay = 0
			}
		default:
			delay = min(2*delay, b.opt.PollInterval)
		}
		timer.Reset(delay)
	}
}

// sequence gives positions to up to BatchSize committed rows and reports
// how many it numbered.
func (b *Bus) sequence(ctx context.Context) (int, error) {
	// A cheap look on a reader first: most polls find nothing.
	var first int64
	err := b.db.QueryRow(ctx, "SELECT seq FROM events_outbox WHERE pos IS NULL ORDER BY seq LIMIT 1").Scan(&first)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("events: look for new outbox rows: %w", err)
	}
	n := 0
	err = b.db.InTx(ctx, func(tx *db.Tx) error {
		var last int64
		// Lock the sequence row: one sequencer at a time, across processes.
		if err := tx.ExecRow(ctx, "UPDATE events_sequence SET last_pos = last_pos WHERE id = 1 RETURNING last_pos").
			Scan(&last); err != nil {
			return fmt.Errorf("lock the sequence: %w", err)
		}
		seqs, err := db.Column[int64](ctx, tx, "SELECT seq FROM events_outbox WHERE pos IS NULL ORDER BY seq LIMIT ?", b.opt.BatchSize)
		if err != nil {
			return fmt.Errorf("read new outbox rows: %w", err)
		}
		for _, s := range seqs {
			last++
			if _, err := tx.Exec(ctx, "UPDATE events_outbox SET pos = ? WHERE seq = ?", last, s); err != nil {
				return fmt.Errorf("position outbox row: %w", err)
			}
		}
		if len(seqs) > 0 {
			if _, err := tx.Exec(ctx, "UPDATE events_sequence SET last_pos = ? WHERE id = 1", last); err != nil {
				return fmt.Errorf("move the sequence: %w", err)
			}
		}
		n = len(seqs)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("events: order outbox rows: %w", err)
	}
	return n, nil
}

// runDurable delivers a subscriber's outbox events until ctx ends.
func (b *Bus) runDurable(ctx context.Context, s *subscriber) {
	timer := time.NewTimer(b.opt.PollInterval)
	defer timer.Stop()
	for {
		more, err := b.durableStep(ctx, s)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			b.log.Warn("durable delivery", "subscriber", s.name, "err", err)
			more = false
		}
		if more {
			continue
		}
		timer.Reset(b.opt.PollInterval)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// durableStep delivers one batch; more says to go on without waiting.
func (b *Bus) durableStep(ctx context.Context, s *subscriber) (more bool, err error) {
	if ok, err := b.claim(ctx, s); err != nil || !ok {
		return false, err
	}
	var horizon int64
	if err := b.db.QueryRow(ctx, "SELECT last_pos FROM events_sequence WHERE id = 1").Scan(&horizon); err != nil {
		return false, fmt.Errorf("read the sequence: %w", err)
	}
	if horizon <= s.lease.position {
		return false, nil
	}
	rows, err := b.fetch(ctx, s, s.lease.position, horizon)
	if err != nil {
		return false, err
	}
	for _, r := range rows {
		if ctx.Err() != nil {
			return false, nil // stopping: leave the rest for the next run
		}
		switch res, err := b.deliverDurable(ctx, s, r); res {
		case outcomeDone:
		case outcomeRetry:
			t := time.NewTimer(b.backoff(s.lease.attempts))
			defer t.Stop()
			select {
			case <-ctx.Done():
				return false, nil
			case <-t.C:
				return true, nil
			}
		default:
			return false, err
		}
	}
	if len(rows) == b.opt.BatchSize {
		return true, nil
	}
	// Every row of our topics up to horizon is handled: skip the others.
	if horizon > s.lease.position {
		if _, err := b.advance(ctx, s, horizon); err != nil {
			return false, err
		}
	}
	return false, nil
}

// fetch reads the subscriber's rows in (after, upto], in order.
func (b *Bus) fetch(ctx context.Context, s *subscriber, after, upto int64) ([]outboxRow, error) {
	args := []any{after, upto}
	for _, t := range s.topics {
		args = append(args, t)
	}
	args = append(args, b.opt.BatchSize)
	q := `SELECT pos, id, topic, payload, created_at FROM events_outbox
		WHERE pos > ? AND pos <= ? AND topic IN (?` + strings.Repeat(", ?", len(s.topics)-1) + `)
		ORDER BY pos LIMIT ?`
	rows, err := b.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read outbox rows: %w", err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.pos, &r.id, &r.topic, &r.payload, &r.createdAt); err != nil {
			return nil, fmt.Errorf("read outbox row: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox rows: %w", err)
	}
	return out, nil
}

type outcome int

const (
	outcomeDone  outcome = iota // handled or parked: go on with the next row
	outcomeRetry                // failed: retry the same row after a backoff
	outcomeStop                 // stopping, lease lost or database error
)

// deliverDurable makes one delivery attempt of r and records its result.
func (b *Bus) deliverDurable(ctx context.Context, s *subscriber, r outboxRow) (outcome, error) {
	h := s.handlers[r.topic]
	attempt := s.lease.attempts + 1
	hctx, cancel := context.WithTimeout(ctx, b.opt.HandlerTimeout)
	start := time.Now()
	err := b.call(hctx, s, r.topic, func(c context.Context) error { return h.durable(c, r, attempt) })
	cancel()
	took := time.Since(start)

	// The result is recorded even if the bus is stopping meanwhile.
	bctx, bcancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer bcancel()
	var decodeErr *decodeError
	switch {
	case err == nil:
		s.delivered.Add(1)
		b.delivered.Add(1)
		return b.done(b.advance(bctx, s, r.pos))
	case errors.As(err, &decodeErr):
		b.log.Error("durable event cannot be decoded: parked", "subscriber", s.name, "topic", r.topic,
			"event_id", r.id, "pos", r.pos, "err", err)
		return b.done(b.park(bctx, s, r, err.Error()))
	case ctx.Err() != nil:
		// Interrupted by the shutdown: the next run delivers it again.
		return outcomeStop, nil
	case errors.Is(err, ErrPermanent) || (b.opt.MaxAttempts > 0 && attempt >= b.opt.MaxAttempts):
		s.failed.Add(1)
		b.failed.Add(1)
		b.log.Error("durable event handler failed: parked", "subscriber", s.name, "topic", r.topic,
			"event_id", r.id, "pos", r.pos, "attempt", attempt, "took", took, "err", err)
		return b.done(b.park(bctx, s, r, fmt.Sprintf("attempt %d: %v", attempt, err)))
	default:
		s.failed.Add(1)
		b.failed.Add(1)
		b.log.Warn("durable event handler failed: will retry", "subscriber", s.name, "topic", r.topic,
			"event_id", r.id, "pos", r.pos, "attempt", attempt, "took", took, "err", err)
		ok, err := b.recordFailure(bctx, s, r.pos-1, attempt, err.Error())
		if err != nil || !ok {
			return outcomeStop, err
		}
		return outcomeRetry, nil
	}
}

func (b *Bus) done(ok bool, err error) (outcome, error) {
	if err != nil || !ok {
		return outcomeStop, err
	}
	return outcomeDone, nil
}

// backoff is the wait before delivery attempt failed+1: RetryMin doubled
// per failure up to RetryMax, with jitter over its upper half.
func (b *Bus) backoff(failed int) time.Duration {
	d := b.opt.RetryMin
	for i := 1; i < failed && d < b.opt.RetryMax; i++ {
		d *= 2
	}
	d = min(d, b.opt.RetryMax)
	return d/2 + rand.N(d/2+1)
}

// claim makes sure this bus holds the subscriber's lease, renewing it when
// half of it has run out. It reports false when another process holds it.
func (b *Bus) claim(ctx context.Context, s *subscriber) (bool, error) {
	now := b.now()
	if !s.lease.until.IsZero() && now.Before(s.lease.until.Add(-b.opt.LeaseTTL/2)) {
		return true, nil
	}
	until := now.Add(b.opt.LeaseTTL)
	var pos int64
	var attempts int
	err := b.db.ExecRow(ctx, `UPDATE events_subscribers SET owner = ?, lease_until = ?, updated_at = ?
		WHERE name = ? AND (owner = ? OR owner = '' OR lease_until < ?)
		RETURNING position, attempts`,
		b.opt.Instance, until.UnixMilli(), now.UnixMilli(), s.name, b.opt.Instance, now.UnixMilli()).Scan(&pos, &attempts)
	if errors.Is(err, sql.ErrNoRows) {
		if !s.lease.until.IsZero() {
			b.log.Warn("subscriber taken over by another process", "subscriber", s.name)
		}
		s.lease = leaseState{}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim subscriber %s: %w", s.name, err)
	}
	if s.lease.until.IsZero() {
		b.log.Debug("subscriber claimed", "subscriber", s.name, "position", pos, "attempts", attempts)
	}
	s.lease = leaseState{until: until, position: pos, attempts: attempts}
	s.position.Store(pos)
	return true, nil
}

// advance moves the subscriber's position to pos. It reports false when the
// lease was lost.
func (b *Bus) advance(ctx context.Context, s *subscriber, pos int64) (bool, error) {
	now := b.now()
	until := now.Add(b.opt.LeaseTTL)
	res, err := b.db.Exec(ctx, `UPDATE events_subscribers
		SET position = ?, attempts = 0, last_error = '', lease_until = ?, updated_at = ?
		WHERE name = ? AND owner = ?`,
		pos, until.UnixMilli(), now.UnixMilli(), s.name, b.opt.Instance)
	if err != nil {
		return false, fmt.Errorf("move subscriber %s to %d: %w", s.name, pos, err)
	}
	return b.applied(s, res, leaseState{until: until, position: pos})
}

// recordFailure stores the failed attempt count and error of the failing
// row, moving the position up to just before it: the rows in between belong
// to other topics, and the backlog and pruning should not count them.
func (b *Bus) recordFailure(ctx context.Context, s *subscriber, pos int64, attempts int, msg string) (bool, error) {
	now := b.now()
	until := now.Add(b.opt.LeaseTTL)
	res, err := b.db.Exec(ctx, `UPDATE events_subscribers
		SET position = ?, attempts = ?, last_error = ?, lease_until = ?, updated_at = ?
		WHERE name = ? AND owner = ?`,
		pos, attempts, truncate(msg, 2000), until.UnixMilli(), now.UnixMilli(), s.name, b.opt.Instance)
	if err != nil {
		return false, fmt.Errorf("record failure of subscriber %s: %w", s.name, err)
	}
	return b.applied(s, res, leaseState{until: until, position: pos, attempts: attempts})
}

// applied updates the worker's view after a conditional write, or forgets
// the lease when the write found it held by someone else.
func (b *Bus) applied(s *subscriber, res sql.Result, next leaseState) (bool, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("subscriber %s: %w", s.name, err)
	}
	if n == 0 {
		b.log.Warn("subscriber lease lost", "subscriber", s.name)
		s.lease = leaseState{}
		return false, nil
	}
	s.lease = next
	s.position.Store(next.position)
	return true, nil
}

var errLeaseLost = errors.New("lease lost")

// park records r as given up by the subscriber and moves past it, in one
// transaction.
func (b *Bus) park(ctx context.Context, s *subscriber, r outboxRow, reason string) (bool, error) {
	now := b.now()
	until := now.Add(b.opt.LeaseTTL)
	err := b.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO events_parked
			(subscriber, event_id, pos, topic, payload, occurred_at, parked_at, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subscriber, event_id) DO NOTHING`,
			s.name, r.id, r.pos, r.topic, string(r.payload), r.createdAt, now.UnixMilli(), truncate(reason, 2000)); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE events_subscribers
			SET position = ?, attempts = 0, last_error = '', lease_until = ?, updated_at = ?
			WHERE name = ? AND owner = ?`,
			r.pos, until.UnixMilli(), now.UnixMilli(), s.name, b.opt.Instance)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errLeaseLost
		}
		return nil
	})
	if errors.Is(err, errLeaseLost) {
		b.log.Warn("subscriber lease lost", "subscriber", s.name)
		s.lease = leaseState{}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("park event %s for %s: %w", r.id, s.name, err)
	}
	s.parked.Add(1)
	b.parked.Add(1)
	s.lease = leaseState{until: until, position: r.pos}
	s.position.Store(r.pos)
	return true, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
