package db

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements for the SQLite read pool. SQLite
// spends much of a small query's time parsing it; a *sql.Stmt is prepared
// once per connection and reused. The cache is bounded: queries built with
// a varying shape beyond the bound simply run unprepared.
// (PostgreSQL needs none: pgx caches prepared statements per connection.)
type stmtCache struct {
	pool *sql.DB
	max  int
	mu   sync.RWMutex
	m    map[string]*sql.Stmt
}

func newStmtCache(pool *sql.DB, max int) *stmtCache {
	return &stmtCache{pool: pool, max: max, m: map[string]*sql.Stmt{}}
}

// get returns the prepared statement for query, preparing it on first use;
// nil means "run it unprepared" (cache full, or preparing failed: the
// unprepared call then reports the error).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	st, ok := c.m[query]
	n := len(c.m)
	c.mu.RUnlock()
	if ok || n >= c.max {
		return st
	}
	st, err := c.pool.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		st.Close()
		return prev
	}
	if len(c.m) >= c.max {
		st.Close()
		return nil
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, st := range c.m {
		st.Close()
		delete(c.m, k)
	}
}

// writerStmts keeps prepared statements for SQLite's one writer
// connection, used inside transactions through Tx.StmtContext (which
// reuses a statement already prepared on the transaction's connection). A
// statement can only be prepared on the pool when the connection is free,
// so a query is prepared in the background after its second use, and runs
// unprepared until then.
type writerStmts struct {
	pool   *sql.DB
	max    int
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	uses   map[string]int // unprepared queries and how often they ran (bounded like m)
	closed bool
}

func newWriterStmts(pool *sql.DB, max int) *writerStmts {
	return &writerStmts{pool: pool, max: max, m: map[string]*sql.Stmt{}, uses: map[string]int{}}
}

// get returns the prepared statement for query, or nil to run it
// unprepared this time.
func (c *writerStmts) get(query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if c.closed || len(c.m) >= c.max {
		return nil
	}
	if len(c.uses) >= 4*c.max {
		clear(c.uses)
	}
	c.uses[query]++
	if c.uses[query] == 2 {
		go c.prepare(query)
	}
	return nil
}

func (c *writerStmts) prepare(query string) {
	st, err := c.pool.PrepareContext(context.Background(), query)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.uses, query)
	if err != nil {
		return // runs unprepared; the error, if it is one, shows there
	}
	if c.closed || len(c.m) >= c.max {
		st.Close()
		return
	}
	c.m[query] = st
}

// close closes the statements; one still being prepared is closed when
// it is ready (or fails, the pool being closed).
func (c *writerStmts) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for k, st := range c.m {
		st.Close()
		delete(c.m, k)
	}
}
