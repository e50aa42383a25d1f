package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Source is one subsystem's embedded migrations. Files are named
// NNN_description.sql (both engines), or NNN_description.sqlite.sql and
// NNN_description.postgres.sql where the SQL differs; a version must exist
// for each engine. A file runs as one script in one transaction.
type Source struct {
	Subsystem string // e.g. "identity"; also the prefix of its tables
	FS        fs.FS  // holds the files at its root
}

// Migration is one version of a subsystem's schema for one engine.
type Migration struct {
	Subsystem string
	Version   int
	Name      string
	SQL       string
}

// ErrDatabaseNewer is returned when the database holds migrations this
// binary does not know: an older binary must not run on a newer schema.
var ErrDatabaseNewer = errors.New("database schema is newer than this program")

// Load reads the migrations of src for dialect d, sorted by version.
func Load(src Source, d Dialect) ([]Migration, error) {
	entries, err := fs.ReadDir(src.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("%s migrations: %w", src.Subsystem, err)
	}
	byVersion := map[int]Migration{}
	specific := map[int]bool{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		base := strings.TrimSuffix(name, ".sql")
		engine := ""
		for _, dd := range []Dialect{SQLite, Postgres} {
			if strings.HasSuffix(base, "."+string(dd)) {
				engine = string(dd)
				base = strings.TrimSuffix(base, "."+string(dd))
			}
		}
		if engine != "" && engine != string(d) {
			continue
		}
		num, desc, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("%s migrations: bad file name %q (want NNN_name.sql)", src.Subsystem, name)
		}
		body, err := fs.ReadFile(src.FS, path.Clean(name))
		if err != nil {
			return nil, err
		}
		if prev, dup := byVersion[v]; dup {
			if engine == "" && specific[v] {
				continue // an engine-specific file wins over the common one
			}
			if engine == "" || specific[v] {
				return nil, fmt.Errorf("%s migrations: version %d defined twice (%s)", src.Subsystem, v, prev.Name)
			}
		}
		byVersion[v] = Migration{Subsystem: src.Subsystem, Version: v, Name: desc, SQL: string(body)}
		if engine != "" {
			specific[v] = true
		}
	}
	out := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("%s migrations: version %d missing", src.Subsystem, i+1)
		}
	}
	return out, nil
}

const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	subsystem TEXT NOT NULL,
	version INTEGER NOT NULL,
	name TEXT NOT NULL,
	applied_at BIGINT NOT NULL,
	PRIMARY KEY (subsystem, version)
)`

// Applied returns the highest applied version per subsystem.
func (d *DB) Applied(ctx context.Context) (map[string]int, error) {
	if _, err := d.Exec(ctx, migrationsTable); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	rows, err := d.Query(ctx, "SELECT subsystem, MAX(version) FROM schema_migrations GROUP BY subsystem")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var v int
		if err := rows.Scan(&s, &v); err != nil {
			return nil, err
		}
		out[s] = v
	}
	return out, rows.Err()
}

// Status compares the database with the known sources. pending counts the
// migrations not yet applied; it fails with ErrDatabaseNewer when the
// database is ahead of this program for any subsystem, or holds a subsystem
// this program does not know.
func (d *DB) Status(ctx context.Context, sources []Source) (pending int, err error) {
	applied, err := d.Applied(ctx)
	if err != nil {
		return 0, err
	}
	known := map[string]bool{}
	for _, src := range sources {
		known[src.Subsystem] = true
		ms, err := Load(src, d.dialect)
		if err != nil {
			return 0, err
		}
		have := applied[src.Subsystem]
		if have > len(ms) {
			return 0, fmt.Errorf("%w: %s is at version %d, this program knows %d", ErrDatabaseNewer, src.Subsystem, have, len(ms))
		}
		pending += len(ms) - have
	}
	for s := range applied {
		if !known[s] {
			return 0, fmt.Errorf("%w: unknown subsystem %q", ErrDatabaseNewer, s)
		}
	}
	return pending, nil
}

// Migrate applies every pending migration, each in its own transaction
// (PostgreSQL and SQLite both have transactional DDL), and returns the ones
// applied.
func (d *DB) Migrate(ctx context.Context, sources []Source) ([]Migration, error) {
	if _, err := d.Status(ctx, sources); err != nil {
		return nil, err
	}
	applied, err := d.Applied(ctx)
	if err != nil {
		return nil, err
	}
	var done []Migration
	for _, src := range sources {
		ms, err := Load(src, d.dialect)
		if err != nil {
			return done, err
		}
		for _, m := range ms[applied[src.Subsystem]:] {
			err := d.InTx(ctx, func(tx *Tx) error {
				// The whole file runs as one script: both drivers execute
				// several statements in one call without arguments, and
				// trigger bodies keep their inner semicolons.
				if _, err := tx.Exec(ctx, m.SQL); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (subsystem, version, name, applied_at) VALUES (?, ?, ?, ?)",
					m.Subsystem, m.Version, m.Name, time.Now().UnixMilli())
				return err
			})
			if err != nil {
				return done, fmt.Errorf("migrate %s %03d_%s: %w", m.Subsystem, m.Version, m.Name, err)
			}
			done = append(done, m)
		}
	}
	return done, nil
}
