package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"

	"jnedu/internal/platform/db"
)

// isLibpqParam reports whether libpq (and so pg_dump, pg_restore and psql)
// understands a URL query parameter. pgx accepts more (pool settings, and
// any other name as a run-time parameter such as search_path); libpq refuses
// unknown ones, so those are left out of the URL handed to the programs.
func isLibpqParam(k string) bool {
	switch k {
	case "host", "hostaddr", "port", "dbname", "user", "passfile", "require_auth",
		"channel_binding", "connect_timeout", "client_encoding", "options",
		"application_name", "fallback_application_name", "keepalives",
		"keepalives_idle", "keepalives_interval", "keepalives_count",
		"tcp_user_timeout", "gssencmode", "sslmode", "sslnegotiation",
		"sslcompression", "sslcert", "sslkey", "sslpassword", "sslcertmode",
		"sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer",
		"ssl_min_protocol_version", "ssl_max_protocol_version", "krbsrvname",
		"gsslib", "gssdelegation", "service", "target_session_attrs",
		"load_balance_hosts":
		return true
	}
	return false
}

// pgConn is how a PostgreSQL program reaches the database of a pgx URL.
type pgConn struct {
	url        string   // for --dbname: no password, libpq parameters only
	env        []string // the environment, plus PGPASSWORD when the URL had one
	searchPath []string // schemas named by the search_path parameter, if any
}

// parsePgURL maps a pgx connection URL to libpq terms. The password moves
// to the environment, so it never shows in the process list.
func parsePgURL(dsn string) (pgConn, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return pgConn{}, fmt.Errorf("backup: not a PostgreSQL URL: %s", db.Redact(dsn))
	}
	var c pgConn
	password, hasPassword := "", false
	if u.User != nil {
		password, hasPassword = u.User.Password()
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	keep := url.Values{}
	for k, vs := range q {
		switch {
		case k == "password":
			password, hasPassword = vs[len(vs)-1], true
		case k == "search_path":
			c.searchPath = splitSearchPath(vs[len(vs)-1])
		case isLibpqParam(k):
			keep[k] = vs
		}
	}
	u.RawQuery = keep.Encode()
	c.url = u.String()
	c.env = os.Environ()
	if hasPassword {
		c.env = append(c.env, "PGPASSWORD="+password)
	}
	return c, nil
}

// splitSearchPath parses a search_path setting into schema names, as
// PostgreSQL does: unquoted names fold to lower case, "$user" is skipped.
func splitSearchPath(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "" || part == "$user" || part == `"$user"`:
		case len(part) >= 2 && part[0] == '"' && part[len(part)-1] == '"':
			out = append(out, strings.ReplaceAll(part[1:len(part)-1], `""`, `"`))
		default:
			out = append(out, strings.ToLower(part))
		}
	}
	return out
}

// quoteIdent quotes a name for SQL, and for pg_dump's --schema pattern
// (inside double quotes, pattern characters are taken literally).
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// searchPath returns the existing schemas of d's search path: where the
// program's tables are.
func searchPath(ctx context.Context, d *db.DB) ([]string, error) {
	out, err := db.Column[string](ctx, d, "SELECT s FROM unnest(current_schemas(false)) AS s")
	if err != nil {
		return nil, fmt.Errorf("backup: read search path: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("backup: the search path names no existing schema; nothing to back up")
	}
	return out, nil
}

// dumpPostgres runs pg_dump for the given schemas into out.
func dumpPostgres(ctx context.Context, program, dsn string, schemas []string, out string) error {
	c, err := parsePgURL(dsn)
	if err != nil {
		return err
	}
	if program == "" {
		program = "pg_dump"
	}
	args := []string{"--format=custom", "--no-owner", "--strict-names", "--file=" + out, "--dbname=" + c.url}
	for _, s := range schemas {
		args = append(args, "--schema="+quoteIdent(s))
	}
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Env = c.env
	stderr := &tailBuffer{max: 4 << 10}
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return programError("backup: pg_dump "+db.Redact(dsn), err, stderr)
	}
	return nil
}

// checkTargetSchemas refuses to restore schemas other than those the target
// URL's search_path names, when it names any: the restored tables would not
// be where the program looks for them.
func checkTargetSchemas(dsn string, schemas []string) error {
	c, err := parsePgURL(dsn)
	if err != nil {
		return err
	}
	if len(c.searchPath) == 0 {
		return nil
	}
	a, b := slices.Sorted(slices.Values(c.searchPath)), slices.Sorted(slices.Values(schemas))
	if !slices.Equal(slices.Compact(a), slices.Compact(b)) {
		return fmt.Errorf("backup: the archive holds schemas %v but the target's search_path names %v", schemas, c.searchPath)
	}
	return nil
}

// restorePostgres replaces the schemas of the dump in the target database,
// in one transaction: the schemas are dropped (with everything in them,
// including tables made after the backup) and the dump's script, made by
// pg_restore --clean --if-exists --no-owner, recreates them. The script
// is piped into psql, and the COMMIT is sent only once pg_restore has
// succeeded, so a failure at any step leaves the database as it was.
func restorePostgres(ctx context.Context, opt RestoreOptions, dsn string, schemas []string, dump string) error {
	c, err := parsePgURL(dsn)
	if err != nil {
		return err
	}
	pgRestore, psql := opt.PgRestore, opt.Psql
	if pgRestore == "" {
		pgRestore = "pg_restore"
	}
	if psql == "" {
		psql = "psql"
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	pr := exec.CommandContext(ctx, pgRestore, "--clean", "--if-exists", "--no-owner", "--file=-", dump)
	pr.Env = c.env
	prErr := &tailBuffer{max: 4 << 10}
	pr.Stderr = prErr
	script, err := pr.StdoutPipe()
	if err != nil {
		return fmt.Errorf("backup: pg_restore: %w", err)
	}

	ps := exec.CommandContext(ctx, psql, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--dbname="+c.url)
	ps.Env = c.env
	ps.Stdout = io.Discard
	psErr := &tailBuffer{max: 4 << 10}
	ps.Stderr = psErr
	in, err := ps.StdinPipe()
	if err != nil {
		return fmt.Errorf("backup: psql: %w", err)
	}
	if err := ps.Start(); err != nil {
		return fmt.Errorf("backup: start psql: %w", err)
	}
	if err := pr.Start(); err != nil {
		in.Close()
		ps.Wait()
		return fmt.Errorf("backup: start pg_restore: %w", err)
	}

	var b strings.Builder
	b.WriteString("SET client_min_messages = warning;\nBEGIN;\n")
	for _, s := range schemas {
		fmt.Fprintf(&b, "DROP SCHEMA IF EXISTS %s CASCADE;\n", quoteIdent(s))
	}
	_, werr := io.WriteString(in, b.String())
	if werr == nil {
		_, werr = io.Copy(in, script)
	}
	if werr != nil {
		pr.Process.Kill() // psql quit: nobody reads pg_restore's output any more
	}
	prWait := pr.Wait()
	if werr == nil && prWait == nil {
		_, werr = io.WriteString(in, "COMMIT;\n")
	}
	in.Close() // without COMMIT, psql's session ends and the transaction rolls back
	psWait := ps.Wait()

	switch {
	case psWait != nil:
		return programError("backup: restore into "+db.Redact(dsn)+": psql", psWait, psErr)
	case prWait != nil:
		return programError("backup: pg_restore", prWait, prErr)
	case werr != nil:
		return fmt.Errorf("backup: restore into %s: %w", db.Redact(dsn), werr)
	}
	return nil
}

// programError describes a failed program with the end of its error output.
func programError(what string, err error, stderr *tailBuffer) error {
	if out := stderr.String(); out != "" {
		return fmt.Errorf("%s: %w: %s", what, err, out)
	}
	return fmt.Errorf("%s: %w", what, err)
}
