package db_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"jnedu/internal/platform/db"
)

// TestBackgroundCheckpoint: pages committed on the writer reach the
// database file without a checkpoint on the writer (its own automatic one
// only starts far later), and the log then restarts from its beginning
// instead of growing.
func TestBackgroundCheckpoint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := db.Open(ctx, "", dir, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	var autockpt int
	if err := d.ExecRow(ctx, "PRAGMA wal_autocheckpoint").Scan(&autockpt); err != nil {
		t.Fatal(err)
	}
	if autockpt < 10000 {
		t.Fatalf("writer's automatic checkpoint at %d pages: the writes below would trigger it", autockpt)
	}
	path := d.SQLitePath()
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	before := size(path)
	row := strings.Repeat("济南", 200)
	write := func() {
		for range 5 {
			if err := d.InTx(ctx, func(tx *db.Tx) error {
				for range 100 {
					if _, err := tx.Exec(ctx, "INSERT INTO t (v) VALUES (?)", row); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write() // about 600 KB, some 150 pages
	deadline := time.Now().Add(10 * time.Second)
	for size(path) < before+500_000 {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes 10 s after the writes (was %d): no checkpoint copied them", size(path), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The log was copied whole, so the next writes start it over: it stays
	// at the size of one round of writes.
	wal := size(path + "-wal")
	for range 3 {
		time.Sleep(600 * time.Millisecond)
		write()
	}
	if got := size(path + "-wal"); got > 2*wal+100_000 {
		t.Errorf("log grew from %d to %d bytes over three more rounds: it is not restarting", wal, got)
	}
	var n int
	if err := d.QueryRow(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 2000 {
		t.Errorf("rows = %d, %v; want 2000", n, err)
	}
}
