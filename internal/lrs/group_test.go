package lrs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

// TestGroupCommit: batches that queue for SQLite's writer are written in
// one transaction, and one batch failing there (an id stored with other
// content) is rolled back alone while the others are kept whole. On
// PostgreSQL, whose writers run side by side, each batch is its own
// transaction, with the same outcome.
func TestGroupCommit(t *testing.T) {
	dbtest.Each(t, testGroupCommit)
}

func testGroupCommit(t *testing.T, d *db.DB) {
	f := newFixture(t, d, Limits{})
	sqlite := d.Dialect() == db.SQLite
	if (f.svc.group != nil) != sqlite {
		t.Fatalf("grouping on %v: %v", d.Dialect(), f.svc.group != nil)
	}
	ctx := context.Background()
	taken := "6d7f8a2e-1c3b-4d5e-8f90-a1b2c3d4e5f6"
	if _, err := f.svc.Store(ctx, writer(f, "/1/"), []obj{stmt(t, statementJSON(taken, "a", verbCompleted, "http://x.test/a"))}, nil); err != nil {
		t.Fatalf("store: %v", err)
	}
	g0, b0 := f.svc.GroupStats()

	const n = 6
	bad := 3 // this batch repeats the taken id with another verb
	errs := make([]error, n)
	var stores []func()
	for i := range n {
		stores = append(stores, func() {
			var batch []obj
			for j := range 5 {
				batch = append(batch, stmt(t, statementJSON(fmt.Sprintf("00000000-0000-4000-8000-%012d", i*10+j),
					fmt.Sprintf("s%d", j), verbCompleted, fmt.Sprintf("http://x.test/b%d", i))))
			}
			if i == bad {
				batch = append(batch, stmt(t, statementJSON(taken, "a", verbAttempted, "http://x.test/a")))
			}
			_, errs[i] = f.svc.Store(ctx, writer(f, "/1/"), batch, nil)
		})
	}
	together(t, f, stores...)

	for i, err := range errs {
		if i == bad {
			if !errors.Is(err, ErrConflict) {
				t.Errorf("batch %d: err %v, want ErrConflict", i, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("batch %d: %v", i, err)
		}
	}
	if got, want := countRows(t, d, "SELECT COUNT(*) FROM lrs_statements"), 1+(n-1)*5; got != want {
		t.Errorf("%d statements stored, want %d (every batch but the refused one)", got, want)
	}
	if got := countRows(t, d, "SELECT COUNT(*) FROM lrs_statements WHERE id LIKE ?", fmt.Sprintf("00000000-0000-4000-8000-%010d%%", bad)); got != 0 {
		t.Errorf("the refused batch left %d statements", got)
	}
	if got := countRows(t, d, "SELECT COUNT(*) FROM lrs_statement_activities WHERE activity = ?", fmt.Sprintf("http://x.test/b%d", bad)); got != 0 {
		t.Errorf("the refused batch left %d activity rows", got)
	}
	if got, want := countRows(t, d, "SELECT COUNT(*) FROM events_outbox WHERE topic = ?", TopicStored.Name), 1+(n-1)*5; got != want {
		t.Errorf("%d stored events, want %d", got, want)
	}
	if n := countRows(t, d, "SELECT COUNT(*) FROM lrs_inflight"); n != 0 {
		t.Errorf("%d write registrations left after the writes", n)
	}
	g1, b1 := f.svc.GroupStats()
	if !sqlite {
		if g1 != 0 || b1 != 0 {
			t.Errorf("GroupStats = %d, %d on PostgreSQL, want 0, 0", g1, b1)
		}
		return
	}
	if b1-b0 != n {
		t.Errorf("%d batches counted, want %d", b1-b0, n)
	}
	if g1-g0 != 2 {
		t.Errorf("%d write transactions for %d batches, want 2 (the leader alone, then the %d that queued)", g1-g0, n, n-1)
	}
}

// together runs the stores at once. On SQLite the writer is held until
// the first leads (alone, waiting for the writer) and the rest have queued
// behind it, so they share the next transaction.
func together(t *testing.T, f *fixture, stores ...func()) {
	t.Helper()
	g := f.svc.group
	release := make(chan struct{})
	if g != nil {
		held := make(chan struct{})
		go f.d.InTx(context.Background(), func(tx *db.Tx) error { //nolint:errcheck
			close(held)
			<-release
			return nil
		})
		<-held
	}
	waitQueue := func(busy bool, n int) {
		deadline := time.Now().Add(10 * time.Second)
		for g != nil {
			g.mu.Lock()
			q, b := len(g.queue), g.busy
			g.mu.Unlock()
			if b == busy && q == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d batches queued (busy %v), want %d", q, b, n)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	for i, fn := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
		if i == 0 {
			waitQueue(true, 0)
		}
	}
	waitQueue(true, len(stores)-1)
	close(release)
	wg.Wait()
}

// TestJoinHalves: a body put together around its stored time (and a
// timestamp the store sets) is the bytes json.Marshal makes of the whole.
func TestJoinHalves(t *testing.T) {
	for _, js := range []string{
		statementJSON("6d7f8a2e-1c3b-4d5e-8f90-a1b2c3d4e5f6", "a", verbCompleted, "http://x.test/a"),
		`{"actor":{"mbox":"mailto:a@b.test"},"verb":{"id":"http://v.test/x"},"object":{"id":"http://a.test/1"},"timestamp":"2026-01-02T03:04:05.000Z","version":"2.0.0","authority":{"mbox":"mailto:k@b.test"},"result":{"score":{"scaled":0.5}}}`,
		`{"verb":{"id":"http://v.test/x"}}`,
		`{"actor":{"mbox":"mailto:a@b.test"}}`,
	} {
		st := stmt(t, js)
		_, hasTS := st["timestamp"]
		lo, hi, err := encodeHalves(st)
		if err != nil {
			t.Fatal(err)
		}
		mid := `"stored":"2026-11-26T08:00:00.000Z"`
		st["stored"] = "2026-11-26T08:00:00.000Z"
		if !hasTS {
			mid += `,"timestamp":"2026-11-26T08:00:00.000Z"`
			st["timestamp"] = "2026-11-26T08:00:00.000Z"
		}
		want, _ := json.Marshal(st)
		if got := joinHalves(lo, mid, hi); got != string(want) {
			t.Errorf("joined:\n%s\nwant\n%s", got, want)
		}
	}
}

// TestGroupCommitPanic: a batch whose write panics fails its group (the
// transaction rolls back) but not the writer: the batches queued behind
// it are written.
func TestGroupCommitPanic(t *testing.T) {
	d := dbtest.SQLite(t)
	f := newFixture(t, d, Limits{})
	ctx := context.Background()
	const boom = "bbbbbbbb-0000-4000-8000-00000000000b"
	testHookStoreBatch = func(b *batch) {
		if b.ids[0] == boom {
			panic("a bug")
		}
	}
	defer func() { testHookStoreBatch = nil }()
	store := func(id string) func() error {
		st := stmt(t, statementJSON(id, "a", verbCompleted, "http://x.test/a"))
		return func() error {
			_, err := f.svc.Store(ctx, writer(f, "/1/"), []obj{st}, nil)
			return err
		}
	}
	var errLead, errBoom, errBeside error
	together(t, f,
		func() { errLead = store("bbbbbbbb-0000-4000-8000-000000000001")() },
		func() { errBoom = store(boom)() },
		func() { errBeside = store("bbbbbbbb-0000-4000-8000-000000000002")() })
	if errLead != nil {
		t.Errorf("the batch before the panic: %v", errLead)
	}
	if errBoom == nil || errBeside == nil {
		t.Errorf("the panicking group: %v, %v; want both failed", errBoom, errBeside)
	}
	// The writer is free again.
	done := make(chan error, 1)
	go func() { done <- store("bbbbbbbb-0000-4000-8000-000000000003")() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("a batch after the panic: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a batch after the panic is still waiting")
	}
	if n := countRows(t, d, "SELECT COUNT(*) FROM lrs_statements"); n != 2 {
		t.Errorf("%d statements stored, want 2 (before and after the panic)", n)
	}
	if n := countRows(t, d, "SELECT COUNT(*) FROM lrs_inflight"); n != 0 {
		t.Errorf("%d write registrations left after the panic", n)
	}
}
