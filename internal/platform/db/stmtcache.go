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
