// Package db opens the relational store (SQLite by default, PostgreSQL when a
// postgres:// URL is given), runs embedded migrations and offers a small,
// dialect-aware query surface. Queries are written with '?' placeholders; for
// PostgreSQL they are rebound to $1, $2, ... before they reach the driver.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Dialect names the SQL engine behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ErrNotFound is returned by stores when a row does not exist.
var ErrNotFound = errors.New("not found")

// Querier is what both *DB and *Tx offer. Store helpers take a Querier so
// they compose inside and outside transactions.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
	// ExecRow runs a writing statement that returns one row
	// (INSERT ... RETURNING) on the writer.
	ExecRow(ctx context.Context, query string, args ...any) *sql.Row
	Dialect() Dialect
}

// DB is an open database. For SQLite it keeps one writer connection (so
// writes never contend for the file lock inside the process) and a pool of
// read-only connections; for PostgreSQL both are the same pool.
type DB struct {
	dialect Dialect
	w       *sql.DB
	r       *sql.DB
	url     string        // redacted form, for logs
	path    string        // SQLite file path ("" for PostgreSQL)
	dsn     string        // PostgreSQL connection string ("" for SQLite)
	stmts   *stmtCache    // SQLite reads: prepared once, reused on every read connection
	ckpt    *checkpointer // SQLite: WAL checkpoints off the writer
	wstmts  *writerStmts  // SQLite: prepared statements of the writer connection
}

// Options tune Open.
type Options struct {
	// MaxReadConns bounds the SQLite read pool and the PostgreSQL pool.
	MaxReadConns int
	// BusyTimeout is how long SQLite waits on a locked file.
	BusyTimeout time.Duration
}

// Open connects to url. An empty url means a SQLite file "jnedu.db" in
// dataDir. Accepted forms: postgres://..., postgresql://..., sqlite:PATH,
// sqlite://PATH, file:PATH, or a plain file path.
func Open(ctx context.Context, url, dataDir string, opt Options) (*DB, error) {
	if opt.MaxReadConns <= 0 {
		opt.MaxReadConns = 8
	}
	if opt.BusyTimeout <= 0 {
		opt.BusyTimeout = 10 * time.Second
	}
	dialect, target := ParseURL(url, dataDir)
	if dialect == Postgres {
		return openPostgres(ctx, target, opt)
	}
	return openSQLite(ctx, target, opt)
}

// ParseURL tells which engine a database URL names and its target: the
// PostgreSQL connection string, or the SQLite file path (an empty url
// means "jnedu.db" in dataDir).
func ParseURL(url, dataDir string) (Dialect, string) {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		return Postgres, url
	}
	path := url
	for _, p := range []string{"sqlite://", "sqlite:", "file:"} {
		path = strings.TrimPrefix(path, p)
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		path = filepath.Join(dataDir, "jnedu.db")
	}
	return SQLite, path
}

func sqliteDSN(path string, busy time.Duration, readOnly bool) string {
	q := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busy.Milliseconds()),
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(NORMAL)",
		// Statement journals (a multi-row INSERT that may have to undo
		// itself) and temporary b-trees stay in memory instead of temp files.
		"_pragma=temp_store(MEMORY)",
		"_time_format=sqlite",
	}
	if readOnly {
		q = append(q, "_pragma=query_only(1)")
	} else {
		q = append(q, "_pragma=journal_mode(WAL)", "_txlock=immediate",
			// 64 MiB of page cache for the writer; checkpoints run on
			// their own connection (checkpoint.go), this is a backstop.
			"_pragma=cache_size(-65536)", fmt.Sprintf("_pragma=wal_autocheckpoint(%d)", walBackstop))
	}
	return "file:" + path + "?" + strings.Join(q, "&")
}

func openSQLite(ctx context.Context, path string, opt Options) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create database folder: %w", err)
	}
	w, err := sql.Open("sqlite", sqliteDSN(path, opt.BusyTimeout, false))
	if err != nil {
		return nil, fmt.Errorf("open sqlite writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// Make sure the file is in WAL mode before readers attach.
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, fmt.Errorf("sqlite %s: journal mode is %q, want wal", path, mode)
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, opt.BusyTimeout, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	r.SetMaxOpenConns(opt.MaxReadConns)
	r.SetMaxIdleConns(opt.MaxReadConns)
	ck, err := startCheckpointer(path, opt.BusyTimeout)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite checkpointer: %w", err)
	}
	return &DB{dialect: SQLite, w: w, r: r, url: "sqlite:" + path, path: path, stmts: newStmtCache(r, 512), ckpt: ck,
		wstmts: newWriterStmts(w, 256)}, nil
}

func openPostgres(ctx context.Context, url string, opt Options) (*DB, error) {
	p, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// Keep as many idle as open: database/sql closes every returned
	// connection above the idle limit, which under load means a new
	// PostgreSQL backend per burst.
	p.SetMaxOpenConns(opt.MaxReadConns * 2)
	p.SetMaxIdleConns(opt.MaxReadConns * 2)
	p.SetConnMaxIdleTime(5 * time.Minute)
	if err := p.PingContext(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("connect postgres %s: %w", Redact(url), err)
	}
	return &DB{dialect: Postgres, w: p, r: p, url: Redact(url), dsn: url}, nil
}

// Redact hides the password of a database URL.
func Redact(url string) string {
	at := strings.LastIndexByte(url, '@')
	scheme := strings.Index(url, "://")
	if at < 0 || scheme < 0 {
		return url
	}
	userinfo := url[scheme+3 : at]
	if i := strings.IndexByte(userinfo, ':'); i >= 0 {
		return url[:scheme+3] + userinfo[:i] + ":***" + url[at:]
	}
	return url
}

// Close closes every connection.
func (d *DB) Close() error {
	if d.stmts != nil {
		d.stmts.close()
	}
	if d.wstmts != nil {
		d.wstmts.close()
	}
	var ckErr error
	if d.ckpt != nil {
		ckErr = d.ckpt.close()
	}
	err := d.w.Close()
	if d.r != d.w {
		if e := d.r.Close(); err == nil {
			err = e
		}
	}
	if err == nil {
		err = ckErr
	}
	return err
}

// Dialect reports the engine.
func (d *DB) Dialect() Dialect { return d.dialect }

// String is the redacted URL.
func (d *DB) String() string { return d.url }

// SQLitePath is the database file for SQLite, "" otherwise.
func (d *DB) SQLitePath() string { return d.path }

// PostgresDSN is the connection string for PostgreSQL, "" otherwise.
func (d *DB) PostgresDSN() string { return d.dsn }

// Stats reports the pool statistics of the writer and reader pools.
func (d *DB) Stats() (writer, reader sql.DBStats) { return d.w.Stats(), d.r.Stats() }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.w.PingContext(ctx); err != nil {
		return err
	}
	return d.r.PingContext(ctx)
}

// Exec runs a statement on the writer.
func (d *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.w.ExecContext(ctx, Rebind(d.dialect, query), args...)
}

// Query reads through the reader pool.
func (d *DB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := d.stmts.get(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.r.QueryContext(ctx, Rebind(d.dialect, query), args...)
}

// QueryRow reads one row through the reader pool.
func (d *DB) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := d.stmts.get(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.r.QueryRowContext(ctx, Rebind(d.dialect, query), args...)
}

// ExecRow runs a writing statement with RETURNING on the writer.
func (d *DB) ExecRow(ctx context.Context, query string, args ...any) *sql.Row {
	return d.w.QueryRowContext(ctx, Rebind(d.dialect, query), args...)
}

// Tx is a write transaction.
type Tx struct {
	tx      *sql.Tx
	dialect Dialect
	stmts   *writerStmts // SQLite writer's prepared statements (nil in read transactions)
}

// prepared is the writer's prepared statement for query bound to the
// transaction, or nil.
func (t *Tx) prepared(ctx context.Context, query string) *sql.Stmt {
	if st := t.stmts.get(query); st != nil {
		return t.tx.StmtContext(ctx, st)
	}
	return nil
}

// Exec runs a statement in the transaction.
func (t *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, Rebind(t.dialect, query), args...)
}

// Query reads in the transaction.
func (t *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, Rebind(t.dialect, query), args...)
}

// QueryRow reads one row in the transaction.
func (t *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, Rebind(t.dialect, query), args...)
}

// ExecRow runs a writing statement with RETURNING in the transaction.
func (t *Tx) ExecRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, Rebind(t.dialect, query), args...)
}

// Dialect reports the engine.
func (t *Tx) Dialect() Dialect { return t.dialect }

// InTx runs fn in a write transaction, committing when fn returns nil and
// rolling back otherwise. On SQLite the transaction holds the single writer
// connection: fn must use tx, never the DB, or it would wait on itself.
func (d *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{tx: sqlTx, dialect: d.dialect, stmts: d.wstmts}
	defer sqlTx.Rollback() //nolint:errcheck // no-op after commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// ReadTx runs fn in a read-only transaction that sees one consistent
// snapshot (REPEATABLE READ on PostgreSQL, a read transaction on SQLite).
func (d *DB) ReadTx(ctx context.Context, fn func(tx *Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if d.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	sqlTx, err := d.r.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer sqlTx.Rollback() //nolint:errcheck
	return fn(&Tx{tx: sqlTx, dialect: d.dialect})
}

// Rebind turns '?' placeholders into $N for PostgreSQL. Question marks inside
// quoted strings, quoted identifiers and comments are left alone.
func Rebind(d Dialect, q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) {
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j >= len(q) {
				j = len(q) - 1
			}
			b.WriteString(q[i : j+1])
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i - 1
			}
			b.WriteString(q[i : i+j+1])
			i += j
		case c == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// IsUniqueViolation reports whether err is a unique-constraint failure on
// either engine.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505")
}

// IsForeignKeyViolation reports whether err is a foreign-key failure.
func IsForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "FOREIGN KEY constraint failed") || strings.Contains(s, "SQLSTATE 23503")
}

// InsertID inserts with "RETURNING id" (both engines support it) and returns
// the new id.
func InsertID(ctx context.Context, q Querier, query string, args ...any) (int64, error) {
	var id int64
	if err := q.ExecRow(ctx, query+" RETURNING id", args...).Scan(&id); err != nil {
		return 0, err
	}
	return id, nil
}
