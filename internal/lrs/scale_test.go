package lrs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"jnedu/internal/platform/clock"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
	"jnedu/internal/platform/events"
)

// partitionOf names the table a statement's row is kept in: the month's
// partition on PostgreSQL, the one table on SQLite.
func partitionOf(t *testing.T, d *db.DB, id string) string {
	t.Helper()
	if d.Dialect() != db.Postgres {
		if n := countRows(t, d, "SELECT COUNT(*) FROM lrs_statements WHERE id = ?", id); n != 1 {
			t.Fatalf("statement %s: %d rows, want 1", id, n)
		}
		return "lrs_statements"
	}
	var name string
	if err := d.QueryRow(context.Background(), "SELECT tableoid::regclass::text FROM lrs_statements WHERE id = ?", id).Scan(&name); err != nil {
		t.Fatalf("partition of %s: %v", id, err)
	}
	return name
}

// TestMonthPartitions stores statements on both sides of a month boundary
// and in a month whose partition was not made yet: each lands in its
// month, stays found by id and by query, and the id stays unique across
// months (the same id with other content is a conflict in any later month).
func TestMonthPartitions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, Limits{})
		ctx := context.Background()
		pg := d.Dialect() == db.Postgres
		// A month far from the migration's (made for the real clock).
		f.clock.Set(time.Date(2031, 3, 31, 23, 59, 59, 999_000_000, time.UTC))
		if _, err := f.svc.EnsurePartitions(ctx); err != nil {
			t.Fatalf("ensure partitions: %v", err)
		}
		march := "aaaaaaaa-0000-4000-8000-000000000001"
		april := "aaaaaaaa-0000-4000-8000-000000000002"
		july := "aaaaaaaa-0000-4000-8000-000000000003"
		store := func(id, actor string, verb string) error {
			_, err := f.svc.Store(ctx, writer(f, "/1/"), []obj{stmt(t, statementJSON(id, actor, verb, "http://x.test/m"))}, nil)
			return err
		}
		if err := store(march, "m", verbCompleted); err != nil {
			t.Fatal(err)
		}
		f.clock.Add(time.Millisecond) // 2031-04-01T00:00:00.000Z
		if err := store(april, "m", verbCompleted); err != nil {
			t.Fatal(err)
		}
		if pg {
			if got := partitionOf(t, d, march); got != "lrs_statements_p203103" {
				t.Errorf("last millisecond of March is in %s", got)
			}
			if got := partitionOf(t, d, april); got != "lrs_statements_p203104" {
				t.Errorf("first millisecond of April is in %s", got)
			}
		}
		// July: no partition yet (made three months ahead of March).
		f.clock.Set(time.Date(2031, 7, 15, 10, 0, 0, 0, time.UTC))
		if err := store(july, "m", verbCompleted); err != nil {
			t.Fatalf("store in a month without a partition: %v", err)
		}
		if pg {
			if got := partitionOf(t, d, july); got != "lrs_statements_default" {
				t.Errorf("before the maintenance, July's statement is in %s, want the default partition", got)
			}
		}
		made, err := f.svc.EnsurePartitions(ctx)
		if err != nil {
			t.Fatalf("ensure partitions in July: %v", err)
		}
		if pg {
			// July, August, September for three tables.
			if made != 9 {
				t.Errorf("made %d partitions, want 9", made)
			}
			if got := partitionOf(t, d, july); got != "lrs_statements_p203107" {
				t.Errorf("after the maintenance, July's statement is in %s", got)
			}
			if n := countRows(t, d, "SELECT COUNT(*) FROM lrs_statement_agents_p203107 WHERE statement_id = ? AND agent = ?", july, "mbox:m@school.test"); n != 1 {
				t.Errorf("July's agent rows in the July partition: %d, want 1", n)
			}
			if n := countRows(t, d, "SELECT COUNT(*) FROM lrs_statements_default"); n != 0 {
				t.Errorf("default partition still holds %d statements", n)
			}
			if again, _ := f.svc.EnsurePartitions(ctx); again != 0 {
				t.Errorf("second run made %d partitions, want 0", again)
			}
		} else if made != 0 {
			t.Errorf("SQLite made %d partitions", made)
		}
		for _, id := range []string{march, april, july} {
			if _, err := f.svc.Statement(ctx, id, "/1/"); err != nil {
				t.Errorf("statement %s by id: %v", id, err)
			}
		}
		list, _, err := f.svc.Statements(ctx, Query{Agent: "mbox:m@school.test", Verb: verbCompleted, Ascending: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(list); len(got) != 3 || got[0] != march || got[1] != april || got[2] != july {
			t.Errorf("by agent and verb across months: %v", got)
		}
		list, _, _ = f.svc.Statements(ctx, Query{Agent: "mbox:m@school.test", HasSince: true, Since: time.Date(2031, 3, 31, 23, 59, 59, 999_000_000, time.UTC).UnixMilli()})
		if got := ids(list); len(got) != 2 || got[0] != july || got[1] != april {
			t.Errorf("since the last millisecond of March: %v, want July then April", got)
		}
		// The March id again in July: the same content changes nothing,
		// other content is a conflict.
		if err := store(march, "m", verbCompleted); err != nil {
			t.Errorf("the same statement again months later: %v", err)
		}
		if err := store(march, "m", verbAttempted); !errors.Is(err, ErrConflict) {
			t.Errorf("the March id with other content in July: %v, want ErrConflict", err)
		}
		if n := countRows(t, d, "SELECT COUNT(*) FROM lrs_statements WHERE id = ?", march); n != 1 {
			t.Errorf("rows for the March id: %d, want 1", n)
		}
		// Voiding across months: the March statement from July.
		void := stmt(t, `{"actor":{"mbox":"mailto:t@school.test"},"verb":{"id":"`+VerbVoided+`"},"object":{"objectType":"StatementRef","id":"`+march+`"}}`)
		if _, err := f.svc.Store(ctx, writer(f, "/1/"), []obj{void}, nil); err != nil {
			t.Fatal(err)
		}
		if st, _ := f.svc.Statement(ctx, march, "/1/"); !st.Voided {
			t.Error("the March statement is not voided by a July statement")
		}
	})
}

// TestMigrateUnpartitioned upgrades a store at its first schema, with
// statements in it, to the current one: every statement, index row and
// query survives, in its month's partition on PostgreSQL.
func TestMigrateUnpartitioned(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		first := fstest.MapFS{}
		b, err := fs.ReadFile(Migrations().FS, "001_init.sql")
		if err != nil {
			t.Fatal(err)
		}
		first["001_init.sql"] = &fstest.MapFile{Data: b}
		if _, err := d.Migrate(ctx, []db.Source{events.Migrations(), {Subsystem: "lrs", FS: first}}); err != nil {
			t.Fatalf("first schema: %v", err)
		}
		// Two statements written by the first schema's code path, in
		// January and February 2025.
		rows := []struct {
			id     string
			stored int64
		}{
			{"bbbbbbbb-0000-4000-8000-000000000001", time.Date(2025, 1, 20, 8, 0, 0, 0, time.UTC).UnixMilli()},
			{"bbbbbbbb-0000-4000-8000-000000000002", time.Date(2025, 2, 3, 8, 0, 0, 0, time.UTC).UnixMilli()},
		}
		for _, r := range rows {
			st := stmt(t, statementJSON(r.id, "old", verbCompleted, "http://x.test/old"))
			st["stored"] = stamp(time.UnixMilli(r.stored))
			st["timestamp"] = st["stored"]
			if _, err := d.Exec(ctx, `INSERT INTO lrs_statements (id, stored, ts, actor, verb, activity, org_path, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				r.id, r.stored, r.stored, "mbox:old@school.test", verbCompleted, "http://x.test/old", "/1/", mustJSON(st)); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Exec(ctx, `INSERT INTO lrs_statement_agents (statement_id, agent, direct) VALUES (?, 'mbox:old@school.test', TRUE)`, r.id); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Exec(ctx, `INSERT INTO lrs_statement_activities (statement_id, activity, direct) VALUES (?, 'http://x.test/old', TRUE)`, r.id); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.Migrate(ctx, []db.Source{events.Migrations(), Migrations()}); err != nil {
			t.Fatalf("upgrade: %v", err)
		}
		c := clock.NewFake(time.Date(2025, 2, 10, 0, 0, 0, 0, time.UTC))
		svc := NewService(d, nil, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})), c.Now, "https://jnedu.test", nil, Limits{})
		for _, r := range rows {
			if _, err := svc.Statement(ctx, r.id, "/1/"); err != nil {
				t.Errorf("statement %s after the upgrade: %v", r.id, err)
			}
		}
		if d.Dialect() == db.Postgres {
			if got := partitionOf(t, d, rows[0].id); got != "lrs_statements_p202501" {
				t.Errorf("January statement in %s", got)
			}
			if got := partitionOf(t, d, rows[1].id); got != "lrs_statements_p202502" {
				t.Errorf("February statement in %s", got)
			}
		}
		for _, q := range []Query{
			{Agent: "mbox:old@school.test", Verb: verbCompleted},
			{Activity: "http://x.test/old", RelatedActivities: true},
			{Activity: "http://x.test/old"},
			{Verb: verbCompleted, HasSince: true, Since: rows[0].stored - 1},
		} {
			list, _, err := svc.Statements(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(list); len(got) != 2 || got[0] != rows[1].id || got[1] != rows[0].id {
				t.Errorf("query %+v after the upgrade: %v", q, got)
			}
		}
		if d.Dialect() == db.SQLite {
			// 003: each index table is one b-tree in stored order.
			for _, table := range []string{"lrs_statement_agents", "lrs_statement_activities"} {
				var ddl string
				if err := d.QueryRow(ctx, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", table).Scan(&ddl); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(ddl, "WITHOUT ROWID") || !strings.Contains(ddl, "PRIMARY KEY (") {
					t.Errorf("%s after the upgrade: %s", table, ddl)
				}
				if n := countRows(t, d, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", table); n != 0 {
					t.Errorf("%s keeps %d secondary indexes, want none", table, n)
				}
			}
		}
		// The old id is still unique: other content under it conflicts.
		if _, err := svc.Store(ctx, Writer{OrgPath: "/1/", Version: V200}, []obj{stmt(t, statementJSON(rows[0].id, "old", verbAttempted, "http://x.test/old"))}, nil); !errors.Is(err, ErrConflict) {
			t.Errorf("an upgraded id with other content: %v, want ErrConflict", err)
		}
	})
}

// TestConsistentThrough: while a write is registered (between taking its
// stored time and committing), queries say they are consistent only up to
// just before that write; afterwards up to just before now.
func TestConsistentThrough(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := newServer(t, d, Limits{})
		ctx := context.Background()
		header := func() string {
			r := s.as("GET", "/xapi/statements?verb="+url.QueryEscape(verbCompleted), "", "", nil)
			if r.status != 200 {
				t.Fatalf("GET statements: %d %s", r.status, r.body)
			}
			return r.header.Get("X-Experience-API-Consistent-Through")
		}
		start := s.clock.Now()
		if got, want := header(), stamp(start.Add(-time.Millisecond)); got != want {
			t.Errorf("idle: consistent through %s, want %s", got, want)
		}
		done, stored, err := s.svc.beginWrite(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if !stored.Equal(start) {
			t.Fatalf("write stored at %v, want %v", stored, start)
		}
		// The write is slow: time passes, and another write starts and
		// ends meanwhile.
		s.clock.Add(5 * time.Second)
		if _, err := s.svc.Store(ctx, writer(s.fixture, "/1/"), []obj{stmt(t, statementJSON("", "x", verbCompleted, "http://x.test/c"))}, nil); err != nil {
			t.Fatal(err)
		}
		if got, want := header(), stamp(stored.Add(-time.Millisecond)); got != want {
			t.Errorf("a write in progress since %s: consistent through %s, want %s", stamp(stored), got, want)
		}
		done()
		if got, want := header(), stamp(s.clock.Now().Add(-time.Millisecond)); got != want {
			t.Errorf("after the write: consistent through %s, want %s", got, want)
		}
		// A registration whose writer died counts until its lease ends.
		if _, _, err := s.svc.beginWrite(ctx, time.Time{}); err != nil {
			t.Fatal(err)
		}
		held := s.clock.Now()
		s.clock.Add(writeLease - time.Second)
		if got, want := header(), stamp(held.Add(-time.Millisecond)); got != want {
			t.Errorf("abandoned write within its lease: %s, want %s", got, want)
		}
		s.clock.Add(time.Second)
		if got, want := header(), stamp(s.clock.Now().Add(-time.Millisecond)); got != want {
			t.Errorf("abandoned write after its lease: %s, want %s", got, want)
		}
		if n, err := s.svc.PruneInflight(ctx); err != nil || n != 1 {
			t.Errorf("prune: %d, %v; want 1", n, err)
		}
		// An import restoring statements stored in the past holds queries
		// back to the earliest of them.
		past := time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)
		done, _, err = s.svc.beginWrite(ctx, past)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := header(), stamp(past.Add(-time.Millisecond)); got != want {
			t.Errorf("restoring from %s: consistent through %s, want %s", stamp(past), got, want)
		}
		done()
	})
}

// TestConcurrentBatchesSharedActivities: batches stored at once that name
// the same new activities and agents, in opposite orders, all succeed
// (PostgreSQL writes them side by side: the rows are locked in one order).
func TestConcurrentBatchesSharedActivities(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, Limits{})
		for round := range 10 {
			var batches [4][]obj
			for w := range batches {
				for i := range 30 {
					k := i
					if w%2 == 1 {
						k = 29 - i
					}
					batches[w] = append(batches[w], stmt(t, statementJSON("", fmt.Sprintf("r%d-s%d", round, k), verbCompleted, fmt.Sprintf("http://x.test/r%d/a%d", round, k))))
				}
			}
			errs := make(chan error, len(batches))
			start := make(chan struct{})
			for _, b := range batches {
				go func() {
					<-start
					_, err := f.svc.Store(context.Background(), writer(f, "/1/"), b, nil)
					errs <- err
				}()
			}
			close(start)
			for range batches {
				if err := <-errs; err != nil {
					t.Fatalf("round %d: concurrent batch: %v", round, err)
				}
			}
		}
		if n := countRows(t, d, "SELECT COUNT(*) FROM lrs_activities"); n != 300 {
			t.Errorf("activities: %d, want 300", n)
		}
		if n := countRows(t, d, "SELECT COUNT(*) FROM lrs_agents WHERE agent LIKE 'mbox:r%'"); n != 300 {
			t.Errorf("agents: %d, want 300", n)
		}
	})
}
