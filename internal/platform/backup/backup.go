// Package backup saves a whole jnedu installation, the relational database
// and the blob folder, into one archive file, and puts it back.
//
// An archive is a tar file, gzip-compressed when asked, holding in order:
//
//	manifest.json         what the archive holds (see Manifest)
//	manifest.json.sha256  the SHA-256 of manifest.json ("sha256sum -c" format)
//	database/jnedu.db     SQLite: a consistent copy made with VACUUM INTO, or
//	database/jnedu.pgdump PostgreSQL: pg_dump --format=custom --no-owner
//	blobs/<key>           every blob, named by its SHA-256
//
// Create runs next to a live server: the database copy is one consistent
// snapshot, and blobs (immutable, content-addressed) are copied after it, so
// every blob the snapshot refers to is in the archive. Restore checks every
// checksum before it changes anything, and needs the server stopped.
package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
)

// FormatVersion is the archive format this program writes. Restore refuses
// archives with a higher version, written by a newer program.
const FormatVersion = 1

// Program names the program in the manifest.
const Program = "jnedu"

// Archive entry names.
const (
	manifestName    = "manifest.json"
	manifestSumName = "manifest.json.sha256"
	sqliteEntry     = "database/jnedu.db"
	postgresEntry   = "database/jnedu.pgdump"
	blobPrefix      = "blobs/"

	maxManifestSize = 256 << 20 // about two million blobs
)

// Sentinel errors; compare with errors.Is.
var (
	// ErrCorrupt: the archive is damaged (a checksum does not match, an
	// entry is missing, unexpected or truncated) or is not a jnedu backup.
	ErrCorrupt = errors.New("backup archive is damaged")
	// ErrNewerFormat: the archive was written by a newer program.
	ErrNewerFormat = errors.New("backup was written by a newer program")
	// ErrDialectMismatch: the archive holds a database of another engine
	// than the restore target.
	ErrDialectMismatch = errors.New("backup is for another database engine")
)

// Manifest describes an archive; it is its first entry, as JSON.
type Manifest struct {
	Format    int        `json:"format"`  // FormatVersion of the writer
	Program   string     `json:"program"` // always Program
	CreatedAt time.Time  `json:"created_at"`
	Dialect   db.Dialect `json:"dialect"`
	// Schemas lists, for PostgreSQL, the schemas dumped: those of the
	// connection's search path. Restore replaces exactly these.
	Schemas []string `json:"schemas,omitempty"`
	// Database is the name of the entry in Files holding the database.
	Database string `json:"database"`
	// Files lists every entry after the manifest: the database first, then
	// the blobs in key order.
	Files []File `json:"files"`
}

// File is one entry of an archive.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // lower-case hex
}

// BlobCount is the number of blobs in the archive.
func (m Manifest) BlobCount() int {
	n := 0
	for _, f := range m.Files {
		if strings.HasPrefix(f.Name, blobPrefix) {
			n++
		}
	}
	return n
}

// validate checks the manifest's own consistency; every failure is
// ErrCorrupt or ErrNewerFormat.
func (m *Manifest) validate() error {
	if m.Program != Program {
		return fmt.Errorf("%w: not a %s backup (program %q)", ErrCorrupt, Program, m.Program)
	}
	if m.Format > FormatVersion {
		return fmt.Errorf("%w: archive format %d, this program reads up to %d", ErrNewerFormat, m.Format, FormatVersion)
	}
	if m.Format < 1 {
		return fmt.Errorf("%w: archive format %d", ErrCorrupt, m.Format)
	}
	switch {
	case m.Dialect == db.SQLite && m.Database == sqliteEntry:
	case m.Dialect == db.Postgres && m.Database == postgresEntry:
		if len(m.Schemas) == 0 {
			return fmt.Errorf("%w: PostgreSQL backup without schemas", ErrCorrupt)
		}
	default:
		return fmt.Errorf("%w: dialect %q with database entry %q", ErrCorrupt, m.Dialect, m.Database)
	}
	seen := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		if seen[f.Name] {
			return fmt.Errorf("%w: %s listed twice", ErrCorrupt, f.Name)
		}
		seen[f.Name] = true
		if f.Size < 0 || blob.ValidateKey(f.SHA256) != nil {
			return fmt.Errorf("%w: bad size or checksum for %s", ErrCorrupt, f.Name)
		}
		if f.Name == m.Database {
			continue
		}
		key, ok := strings.CutPrefix(f.Name, blobPrefix)
		if !ok || key != f.SHA256 {
			return fmt.Errorf("%w: unexpected entry %q", ErrCorrupt, f.Name)
		}
	}
	if !seen[m.Database] {
		return fmt.Errorf("%w: the database entry is not listed", ErrCorrupt)
	}
	return nil
}

// CreateOptions tune Create. The zero value is ready to use.
type CreateOptions struct {
	// Gzip compresses the archive. Restore detects compression by itself.
	Gzip bool
	// Now is the clock for Manifest.CreatedAt; nil means time.Now.
	Now func() time.Time
	// PgDump is the pg_dump program; "" means "pg_dump" on the PATH.
	PgDump string
}

// RestoreOptions tune Restore. The zero value is ready to use.
type RestoreOptions struct {
	// PgRestore and Psql are the PostgreSQL client programs; "" means
	// "pg_restore" and "psql" on the PATH.
	PgRestore string
	Psql      string
}

// ctxReader stops a long copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// tailBuffer keeps the last max bytes written to it: the end of a
// program's error output, where its reason to fail is.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.TrimSpace(string(t.buf)) }
