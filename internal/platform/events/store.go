package events

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"jnedu/internal/platform/db"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the "events" subsystem's tables (events_outbox,
// events_sequence, events_subscribers, events_parked).
func Migrations() db.Source {
	f, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded folder exists: a build error, not a runtime one
	}
	return db.Source{Subsystem: "events", FS: f}
}

// pruneBatch bounds the rows one DELETE removes, so pruning never holds the
// writer for long.
const pruneBatch = 1000

// maxParkedList bounds Parked.
const maxParkedList = 1000

// runHousekeeping measures the backlog every StatsInterval and prunes the
// outbox every PruneInterval, starting at once.
func (b *Bus) runHousekeeping(ctx context.Context) {
	stats := time.NewTicker(b.opt.StatsInterval)
	defer stats.Stop()
	prune := time.NewTicker(b.opt.PruneInterval)
	defer prune.Stop()
	b.housekeep(ctx, true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-stats.C:
			b.housekeep(ctx, false)
		case <-prune.C:
			b.housekeep(ctx, true)
		}
	}
}

func (b *Bus) housekeep(ctx context.Context, prune bool) {
	if prune {
		if n, err := b.Prune(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("prune the outbox", "err", err)
		} else if n > 0 {
			b.log.Info("pruned the outbox", "rows", n, "retention", b.opt.Retention)
		}
	}
	if _, err := b.Backlog(ctx); err != nil && ctx.Err() == nil {
		b.log.Warn("measure the outbox backlog", "err", err)
	}
}

// floorQuery is the position every live subscriber has passed: the smallest
// position among subscribers seen since the given time, or the last position
// handed out when there are none.
const floorQuery = `SELECT COALESCE(
	(SELECT MIN(position) FROM events_subscribers WHERE updated_at >= ?),
	(SELECT last_pos FROM events_sequence WHERE id = 1))`

// Backlog counts the outbox rows not yet handled by every live durable
// subscriber (a subscriber is live when seen within Options.Retention), rows
// not yet ordered included, and records it for Stats.
func (b *Bus) Backlog(ctx context.Context) (int64, error) {
	if b.db == nil {
		return 0, ErrNoDatabase
	}
	since := b.now().Add(-b.opt.Retention).UnixMilli()
	var floor, n int64
	if err := b.db.QueryRow(ctx, floorQuery, since).Scan(&floor); err != nil {
		return 0, fmt.Errorf("events: backlog: %w", err)
	}
	if err := b.db.QueryRow(ctx, "SELECT COUNT(*) FROM events_outbox WHERE pos IS NULL OR pos > ?", floor).
		Scan(&n); err != nil {
		return 0, fmt.Errorf("events: backlog: %w", err)
	}
	b.backlog.Store(n)
	return n, nil
}

// Prune deletes the outbox rows older than Options.Retention that every live
// durable subscriber has handled, and returns how many it deleted. Run calls
// it every PruneInterval. Rows a live subscriber still needs are kept however
// old; a subscriber not seen for Retention no longer holds rows back.
func (b *Bus) Prune(ctx context.Context) (int64, error) {
	if b.db == nil {
		return 0, ErrNoDatabase
	}
	now := b.now()
	cutoff := now.Add(-b.opt.Retention).UnixMilli()
	var floor int64
	if err := b.db.QueryRow(ctx, floorQuery, cutoff).Scan(&floor); err != nil {
		return 0, fmt.Errorf("events: prune: %w", err)
	}
	var total int64
	for {
		res, err := b.db.Exec(ctx, `DELETE FROM events_outbox WHERE seq IN (
			SELECT seq FROM events_outbox WHERE pos IS NOT NULL AND pos <= ? AND created_at < ?
			ORDER BY pos LIMIT ?)`, floor, cutoff, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("events: prune: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("events: prune: %w", err)
		}
		total += n
		b.pruned.Add(uint64(n))
		if n < pruneBatch {
			return total, nil
		}
	}
}

// ParkedEvent is a durable event a subscriber gave up on.
type ParkedEvent struct {
	Subscriber string
	ID         string
	Topic      string
	Position   int64
	Payload    []byte // as published (JSON)
	OccurredAt time.Time
	ParkedAt   time.Time
	Reason     string
}

// Parked lists the most recently parked events, newest first; limit is
// clamped to 1..1000.
func (b *Bus) Parked(ctx context.Context, limit int) ([]ParkedEvent, error) {
	if b.db == nil {
		return nil, ErrNoDatabase
	}
	limit = min(max(limit, 1), maxParkedList)
	rows, err := b.db.Query(ctx, `SELECT subscriber, event_id, topic, pos, payload, occurred_at, parked_at, reason
		FROM events_parked ORDER BY parked_at DESC, pos DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("events: list parked: %w", err)
	}
	defer rows.Close()
	var out []ParkedEvent
	for rows.Next() {
		var p ParkedEvent
		var occurred, parked int64
		if err := rows.Scan(&p.Subscriber, &p.ID, &p.Topic, &p.Position, &p.Payload, &occurred, &parked, &p.Reason); err != nil {
			return nil, fmt.Errorf("events: list parked: %w", err)
		}
		p.OccurredAt, p.ParkedAt = time.UnixMilli(occurred), time.UnixMilli(parked)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events: list parked: %w", err)
	}
	return out, nil
}
