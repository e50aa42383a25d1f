package db_test

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2"},
		{"SELECT '?', \"a?\" FROM t WHERE x = ?", "SELECT '?', \"a?\" FROM t WHERE x = $1"},
		{"SELECT 'it''s ?' , ? -- why?\n, ?", "SELECT 'it''s ?' , $1 -- why?\n, $2"},
	}
	for _, tt := range tests {
		if got := db.Rebind(db.Postgres, tt.in); got != tt.want {
			t.Errorf("Rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := db.Rebind(db.SQLite, tt.in); got != tt.in {
			t.Errorf("Rebind(sqlite, %q) changed the query to %q", tt.in, got)
		}
	}
}

func TestRedact(t *testing.T) {
	got := db.Redact("postgres://u:secret@h:5432/d")
	if got != "postgres://u:***@h:5432/d" {
		t.Errorf("Redact = %q", got)
	}
}

func migrations(n int) db.Source {
	files := fstest.MapFS{
		"001_init.sql":          {Data: []byte("CREATE TABLE demo_a (id BIGINT PRIMARY KEY, name TEXT NOT NULL);\nCREATE TABLE demo_b (id @IDENTITY, x TEXT);")},
		"002_more.sqlite.sql":   {Data: []byte("ALTER TABLE demo_a ADD COLUMN note TEXT NOT NULL DEFAULT 'sqlite';")},
		"002_more.postgres.sql": {Data: []byte("ALTER TABLE demo_a ADD COLUMN note TEXT NOT NULL DEFAULT 'postgres';")},
		"003_broken.sql":        {Data: []byte("CREATE TABLE demo_c (id BIGINT);\nTHIS IS NOT SQL;")},
	}
	if n < 3 {
		delete(files, "003_broken.sql")
	}
	if n < 2 {
		delete(files, "002_more.sqlite.sql")
		delete(files, "002_more.postgres.sql")
	}
	return db.Source{Subsystem: "demo", FS: files}
}

func TestMigrate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		done, err := d.Migrate(ctx, []db.Source{migrations(2)})
		if err != nil {
			t.Fatalf("migrate: %v", err)
		}
		if len(done) != 2 {
			t.Fatalf("applied %d migrations, want 2", len(done))
		}
		if _, err := d.Exec(ctx, "INSERT INTO demo_a (id, name) VALUES (?, ?)", 1, "一"); err != nil {
			t.Fatal(err)
		}
		var note string
		if err := d.QueryRow(ctx, "SELECT note FROM demo_a WHERE id = ?", 1).Scan(&note); err != nil {
			t.Fatal(err)
		}
		if note != string(d.Dialect()) {
			t.Errorf("engine-specific migration: note = %q, want %q", note, d.Dialect())
		}
		// Idempotent.
		if done, err := d.Migrate(ctx, []db.Source{migrations(2)}); err != nil || len(done) != 0 {
			t.Fatalf("second migrate: %d applied, err %v", len(done), err)
		}
		// A broken migration leaves nothing behind.
		if _, err := d.Migrate(ctx, []db.Source{migrations(3)}); err == nil {
			t.Fatal("broken migration applied without error")
		}
		if _, err := d.Exec(ctx, "SELECT * FROM demo_c"); err == nil {
			t.Error("table from the failed migration exists; the migration was not atomic")
		}
		// An older program refuses a newer database.
		if _, err := d.Status(ctx, []db.Source{migrations(1)}); !errors.Is(err, db.ErrDatabaseNewer) {
			t.Errorf("status with older sources: err = %v, want ErrDatabaseNewer", err)
		}
		if _, err := d.Status(ctx, nil); !errors.Is(err, db.ErrDatabaseNewer) {
			t.Errorf("status without the subsystem: err = %v, want ErrDatabaseNewer", err)
		}
		pending, err := d.Status(ctx, []db.Source{migrations(2)})
		if err != nil || pending != 0 {
			t.Errorf("status = %d, %v; want 0, nil", pending, err)
		}
	})
}

func TestTx(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.Migrate(ctx, []db.Source{migrations(1)}); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err := d.InTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO demo_a (id, name) VALUES (?, ?)", 7, "x"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx err = %v, want boom", err)
		}
		var n int
		if err := d.QueryRow(ctx, "SELECT COUNT(*) FROM demo_a").Scan(&n); err != nil || n != 0 {
			t.Fatalf("after rollback: %d rows (err %v), want 0", n, err)
		}
		// @IDENTITY gives generated keys on both engines.
		for want := int64(1); want <= 2; want++ {
			got, err := db.InsertID(ctx, d, "INSERT INTO demo_b (x) VALUES (?)", "v")
			if err != nil || got != want {
				t.Fatalf("generated id = %d, %v; want %d", got, err, want)
			}
		}
		id, err := db.InsertID(ctx, d, "INSERT INTO demo_a (id, name) VALUES (?, ?)", 8, "y")
		if err != nil || id != 8 {
			t.Fatalf("InsertID = %d, %v", id, err)
		}
		_, err = d.Exec(ctx, "INSERT INTO demo_a (id, name) VALUES (?, ?)", 8, "dup")
		if !db.IsUniqueViolation(err) {
			t.Errorf("duplicate insert: err = %v, want a unique violation", err)
		}
	})
}
