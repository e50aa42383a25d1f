package lrs

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"jnedu/internal/platform/db"
)

// A batch is one Store call on its way to the database.
type batch struct {
	w       Writer
	stmts   []obj
	ids     []string
	noStamp map[string]bool // timestamp set by the store, not the client
	lo, hi  [][]byte        // each statement encoded in two: the keys before "stored" and those after
	body    []string        // the statements as stored, once stampTimes has run
	atts    map[string]Attachment
	floor   time.Time // earliest stored time a restore writes (zero otherwise)

	memo memoUpdates // added to the service's memo if the batch commits

	err  error
	done chan struct{} // closed when err is final
	lead chan struct{} // closed when this batch's goroutine is to commit the next group
}

// groupCommitter joins the batches that wait for SQLite's one writer into
// one transaction (group commit): each batch in its own savepoint, so a
// batch that fails (a conflicting id, say) is rolled back alone and the
// rest commit. One commit, one write registration and one pass over the
// hot index pages then serve every batch that queued while the previous
// transaction ran. The goroutine of the first waiting batch commits the
// group, then hands the next group to the first batch still waiting, so no
// caller waits on more than its own group and the one before it.
type groupCommitter struct {
	mu       sync.Mutex
	queue    []*batch
	busy     bool
	maxStmts int // statements in one group (a batch larger than this goes alone)

	groups, batches atomic.Uint64
}

// maxGroupStatements bounds one group transaction: at 5,000 statements a
// second, a fifth of a second of writing.
const maxGroupStatements = 1000

// write stores b, alone (PostgreSQL, whose writers run side by side) or
// with the batches queued beside it (SQLite), and returns its own outcome.
func (s *Service) write(ctx context.Context, b *batch) error {
	if s.group == nil {
		s.commitGroup(ctx, []*batch{b})
		return b.err
	}
	g := s.group
	b.done = make(chan struct{})
	b.lead = make(chan struct{})
	g.mu.Lock()
	g.queue = append(g.queue, b)
	if g.busy {
		g.mu.Unlock()
		select {
		case <-b.done:
			return b.err
		case <-b.lead:
		}
		g.mu.Lock()
	}
	g.busy = true
	// b is first in the queue: the group is b and those after it, up to
	// the bound.
	n, size := 0, 0
	for _, q := range g.queue {
		if n > 0 && size+len(q.stmts) > g.maxStmts {
			break
		}
		n++
		size += len(q.stmts)
	}
	group := g.queue[:n:n]
	g.groups.Add(1)
	g.batches.Add(uint64(n))
	g.queue = g.queue[n:]
	g.mu.Unlock()

	// The group is written for every caller in it: one caller going away
	// does not cancel the others' write.
	s.commitGroupSafe(context.WithoutCancel(ctx), group)
	for _, q := range group {
		close(q.done)
	}

	g.mu.Lock()
	if len(g.queue) > 0 {
		close(g.queue[0].lead)
	} else {
		g.busy = false
	}
	g.mu.Unlock()
	return b.err
}

// commitGroupSafe is commitGroup turning a panic into every batch's
// error, so the queue behind the group is still handed on.
func (s *Service) commitGroupSafe(ctx context.Context, group []*batch) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("lrs: writing statements panicked", "panic", r, "stack", string(debug.Stack()))
			for _, b := range group {
				b.err = fmt.Errorf("store statements: internal error: %v", r)
			}
		}
	}()
	s.commitGroup(ctx, group)
}

// commitGroup writes the batches in one transaction under one write
// registration and sets each batch's err.
func (s *Service) commitGroup(ctx context.Context, group []*batch) {
	fail := func(err error) {
		for _, b := range group {
			if b.err == nil {
				b.err = err
			}
		}
	}
	var floor time.Time
	for _, b := range group {
		if !b.floor.IsZero() && (floor.IsZero() || b.floor.Before(floor)) {
			floor = b.floor
		}
	}
	// The write is registered before its stored time is taken, so a query
	// meanwhile says it is consistent only up to before it; the group's
	// transaction ends the registration as it commits.
	token, now, err := s.registerWrite(ctx, floor)
	if err != nil {
		fail(err)
		return
	}
	ended := false
	defer func() {
		if !ended { // failed, or panicked
			s.unregisterWrite(ctx, token)
		}
	}()
	for _, b := range group {
		b.stampTimes(now)
	}
	err = s.storeGroup(ctx, group, now, token)
	if err != nil && len(group) == 1 && db.IsUniqueViolation(err) {
		// Another request stored one of these ids meanwhile (PostgreSQL
		// runs writers side by side): once more, now seeing it.
		group[0].err, group[0].memo = nil, memoUpdates{}
		err = s.storeGroup(ctx, group, now, token)
	}
	if err != nil {
		fail(err)
		return
	}
	ended = true
	for _, b := range group {
		if b.err == nil {
			s.memo.apply(&b.memo)
		}
	}
}

// storeGroup is the transaction of a group. A group of one needs no
// savepoint: its error rolls the transaction back.
func (s *Service) storeGroup(ctx context.Context, group []*batch, now time.Time, token string) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		if len(group) == 1 {
			if group[0].err = s.storeBatch(ctx, tx, group[0], now); group[0].err != nil {
				return group[0].err
			}
			return endWriteTx(ctx, tx, token)
		}
		for _, b := range group {
			if _, err := tx.Exec(ctx, "SAVEPOINT lrs_batch"); err != nil {
				return fmt.Errorf("savepoint: %w", err)
			}
			if b.err = s.storeBatch(ctx, tx, b, now); b.err != nil {
				if _, err := tx.Exec(ctx, "ROLLBACK TO lrs_batch"); err != nil {
					return fmt.Errorf("roll back a batch: %w", err)
				}
			}
			if _, err := tx.Exec(ctx, "RELEASE lrs_batch"); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
		}
		return endWriteTx(ctx, tx, token)
	})
}

// GroupStats reports the group transactions written and the batches they
// held (SQLite; both zero on PostgreSQL, which writes every batch alone).
func (s *Service) GroupStats() (groups, batches uint64) {
	if s.group == nil {
		return 0, 0
	}
	return s.group.groups.Load(), s.group.batches.Load()
}
