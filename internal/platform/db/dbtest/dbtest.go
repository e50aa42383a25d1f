// Package dbtest opens real databases for tests: a SQLite file in a temp
// folder always, and a fresh PostgreSQL schema when JNEDU_TEST_POSTGRES_URL
// is set. Each PostgreSQL test gets its own schema, dropped afterwards, so
// packages can run their tests in parallel against one database.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"jnedu/internal/platform/db"
)

// EnvPostgres names the variable holding the PostgreSQL test database URL.
const EnvPostgres = "JNEDU_TEST_POSTGRES_URL"

// Engine is one database a test runs against.
type Engine struct {
	Name string
	Open func(t testing.TB) *db.DB
}

// Engines lists SQLite and, when configured, PostgreSQL.
func Engines() []Engine {
	es := []Engine{{Name: "sqlite", Open: SQLite}}
	if os.Getenv(EnvPostgres) != "" {
		es = append(es, Engine{Name: "postgres", Open: Postgres})
	}
	return es
}

// Each runs fn once per engine as a subtest, with a fresh, migrated-by-fn
// database.
func Each(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) { fn(t, e.Open(t)) })
	}
}

// SQLite opens an empty SQLite database in t.TempDir().
func SQLite(t testing.TB) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), "", t.TempDir(), db.Options{})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Postgres opens a fresh, empty schema in the database named by
// JNEDU_TEST_POSTGRES_URL; the test fails if the variable is unset.
func Postgres(t testing.TB) *db.DB {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Fatalf("%s is not set", EnvPostgres)
	}
	buf := make([]byte, 6)
	rand.Read(buf)
	schema := "t_" + hex.EncodeToString(buf)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	d, err := db.Open(context.Background(), u.String(), "", db.Options{MaxReadConns: 4})
	if err != nil {
		t.Fatalf("open postgres schema: %v", err)
	}
	t.Cleanup(func() {
		d.Close()
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	return d
}
