package db

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestWriterStmts: a query run twice in write transactions is prepared on
// the writer connection in the background and then used through the
// transactions, with the same results as unprepared; a rolled-back
// transaction leaves nothing, prepared or not.
func TestWriterStmts(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, "", t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(ctx, "CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	const ins = "INSERT INTO t (k, n) VALUES (?, ?)"
	const sel = "SELECT n FROM t WHERE k = ?"
	put := func(k string, n int, commit bool) {
		t.Helper()
		err := d.InTx(ctx, func(tx *Tx) error {
			if _, err := tx.Exec(ctx, ins, k, n); err != nil {
				return err
			}
			var got int
			if err := tx.QueryRow(ctx, sel, k).Scan(&got); err != nil || got != n {
				t.Errorf("read back %s in the transaction: %d, %v", k, got, err)
			}
			if !commit {
				return errRollback
			}
			return nil
		})
		if commit && err != nil {
			t.Fatal(err)
		}
	}
	put("a", 1, true)
	put("b", 2, true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.wstmts.mu.Lock()
		_, a := d.wstmts.m[ins]
		_, b := d.wstmts.m[sel]
		d.wstmts.mu.Unlock()
		if a && b {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the queries were not prepared after two uses")
		}
		time.Sleep(5 * time.Millisecond)
	}
	put("c", 3, true)
	put("d", 4, false)
	// A prepared INSERT still reports a constraint violation.
	if err := d.InTx(ctx, func(tx *Tx) error { _, err := tx.Exec(ctx, ins, "a", 9); return err }); err == nil {
		t.Error("a duplicate key through the prepared statement: no error")
	}
	var n, sum int
	if err := d.QueryRow(ctx, "SELECT COUNT(*), SUM(n) FROM t").Scan(&n, &sum); err != nil || n != 3 || sum != 6 {
		t.Errorf("rows %d, sum %d, %v; want 3 rows, sum 6", n, sum, err)
	}
}

var errRollback = errors.New("roll back")
