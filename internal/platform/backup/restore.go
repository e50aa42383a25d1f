package backup

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
)

// Verify reads the whole archive src and checks the manifest and every
// checksum, writing nothing. It returns the manifest of a sound archive;
// a damaged one fails with ErrCorrupt, one from a newer program with
// ErrNewerFormat.
func Verify(ctx context.Context, src string) (Manifest, error) {
	return readArchive(ctx, src, nil, func(File, io.Reader) error { return nil })
}

// Restore puts the backup src back: the database named by databaseURL
// (with the same forms db.Open accepts: "" is the SQLite file
// dataDir/jnedu.db, postgres://... a PostgreSQL database) and the blob
// folder dataDir/blobs (or the folder it links to). Afterwards both hold exactly what the backup holds:
// rows, tables and blobs added since are gone.
//
// The whole archive is read and every checksum verified first, into staging
// files next to their targets (so there must be room for a second copy);
// nothing existing is changed unless all of it is sound, the archive's
// format is known and its engine matches the target's. Then:
//
//   - SQLite: the staged file is renamed over the database file, after the
//     old file's -wal, -shm and -journal files are removed;
//   - PostgreSQL: in one transaction, the schemas the backup holds are
//     dropped with everything in them and recreated from the dump
//     (pg_restore --clean --if-exists --no-owner, run by psql). The target
//     URL's search_path, if it has one, must name those schemas;
//   - the staged blob folder replaces dataDir/blobs.
//
// The server must be stopped while Restore runs (nothing checks it): a
// running server would keep the replaced SQLite file open, or write into
// the tables being restored. Restore returns the archive's manifest.
func Restore(ctx context.Context, src, databaseURL, dataDir string, opt RestoreOptions) (Manifest, error) {
	t := parseTarget(databaseURL, dataDir)
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}
	// Stage beside the blob folder (or where its symlink points: operators
	// put blobs on a larger disk), so the swap is a rename.
	blobDir := filepath.Join(dataDir, "blobs")
	if real, err := filepath.EvalSymlinks(blobDir); err == nil {
		blobDir = real
	}
	stage, err := os.MkdirTemp(filepath.Dir(blobDir), ".jnedu-restore-")
	if err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(stage)
	stagedBlobs := filepath.Join(stage, "blobs")
	blobs, err := blob.OpenLocal(stagedBlobs)
	if err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}

	// The database is staged where it can be renamed into place (SQLite)
	// or in the staging folder (a PostgreSQL dump).
	var dbTmp *os.File
	defer func() {
		if dbTmp != nil {
			dbTmp.Close()
			os.Remove(dbTmp.Name())
		}
	}()
	check := func(m Manifest) error {
		if m.Dialect != t.dialect {
			return fmt.Errorf("restore: %w: the archive holds a %s database, the target is %s", ErrDialectMismatch, m.Dialect, t.dialect)
		}
		if t.dialect == db.Postgres {
			return checkTargetSchemas(t.dsn, m.Schemas)
		}
		return nil
	}
	handle := func(f File, r io.Reader) error {
		if strings.HasPrefix(f.Name, blobPrefix) {
			if _, err := blobs.Put(ctx, r); err != nil {
				return fmt.Errorf("restore: %s: %w", f.Name, err)
			}
			return nil
		}
		dir := stage
		if t.dialect == db.SQLite {
			dir = filepath.Dir(t.sqlitePath)
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
		}
		var err error
		if dbTmp, err = os.CreateTemp(dir, ".jnedu-db.restore-*"); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if _, err := io.Copy(dbTmp, r); err != nil {
			return fmt.Errorf("restore: %s: %w", f.Name, err)
		}
		return nil
	}
	m, err := readArchive(ctx, src, check, handle)
	if err != nil {
		return Manifest{}, err
	}
	if err := dbTmp.Sync(); err != nil {
		return Manifest{}, fmt.Errorf("restore: flush database: %w", err)
	}
	if err := dbTmp.Close(); err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}

	// Everything is verified and staged: replace.
	switch t.dialect {
	case db.SQLite:
		if err := replaceSQLite(dbTmp.Name(), t.sqlitePath); err != nil {
			return Manifest{}, err
		}
		dbTmp = nil
	case db.Postgres:
		if err := restorePostgres(ctx, opt, t.dsn, m.Schemas, dbTmp.Name()); err != nil {
			return Manifest{}, err
		}
	}
	if err := replaceDir(stagedBlobs, blobDir, filepath.Join(stage, "old-blobs")); err != nil {
		return Manifest{}, fmt.Errorf("restore: the database is restored but the blob folder is not: %w", err)
	}
	return m, nil
}

// target is the database Restore writes.
type target struct {
	dialect    db.Dialect
	sqlitePath string
	dsn        string
}

// parseTarget reads a database URL the way db.Open does.
func parseTarget(databaseURL, dataDir string) target {
	dialect, t := db.ParseURL(databaseURL, dataDir)
	if dialect == db.Postgres {
		return target{dialect: db.Postgres, dsn: t}
	}
	return target{dialect: db.SQLite, sqlitePath: t}
}

// replaceSQLite renames the restored file tmp over the database at path.
// The old database's WAL, shared-memory and rollback-journal files go
// first: SQLite would otherwise apply them to the restored file.
func replaceSQLite(tmp, path string) error {
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restore: remove the old database's %s file: %w", suffix, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("restore: flush folder: %w", err)
	}
	return nil
}

// replaceDir puts folder src in the place of dst, moving the old dst (if
// any) to old, which must be on the same file system.
func replaceDir(src, dst, old string) error {
	moved := false
	if _, err := os.Lstat(dst); err == nil {
		if err := os.Rename(dst, old); err != nil {
			return err
		}
		moved = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		if moved {
			os.Rename(old, dst)
		}
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// readArchive reads src, calling check with the manifest before any data,
// and handle with every entry's content (which handle need not read to its
// end). It fails with ErrCorrupt (or ErrNewerFormat, or the error of check
// or handle) unless the archive is complete and every checksum matches.
func readArchive(ctx context.Context, src string, check func(Manifest) error, handle func(File, io.Reader) error) (Manifest, error) {
	f, err := os.Open(src)
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return Manifest{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		zr.Multistream(false)
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)

	mj, err := readSmall(tr, manifestName, maxManifestSize)
	if err != nil {
		return Manifest{}, err
	}
	sumLine, err := readSmall(tr, manifestSumName, 1024)
	if err != nil {
		return Manifest{}, err
	}
	sum := sha256.Sum256(mj)
	if fields := strings.Fields(string(sumLine)); len(fields) == 0 || fields[0] != hex.EncodeToString(sum[:]) {
		return Manifest{}, fmt.Errorf("%w: %s does not match its checksum", ErrCorrupt, manifestName)
	}
	var m Manifest
	if err := json.Unmarshal(mj, &m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %s: %w", ErrCorrupt, manifestName, err)
	}
	if err := m.validate(); err != nil {
		return Manifest{}, err
	}
	if check != nil {
		if err := check(m); err != nil {
			return Manifest{}, err
		}
	}

	want := make(map[string]File, len(m.Files))
	for _, file := range m.Files {
		want[file.Name] = file
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		if err := ctx.Err(); err != nil {
			return Manifest{}, err
		}
		file, ok := want[hdr.Name]
		if !ok {
			return Manifest{}, fmt.Errorf("%w: unexpected entry %q", ErrCorrupt, hdr.Name)
		}
		delete(want, hdr.Name) // a second entry of the same name is unexpected
		if hdr.Typeflag != tar.TypeReg || hdr.Size != file.Size {
			return Manifest{}, fmt.Errorf("%w: %s: entry of type %q and %d bytes, want a file of %d", ErrCorrupt, hdr.Name, hdr.Typeflag, hdr.Size, file.Size)
		}
		h := sha256.New()
		body := io.TeeReader(ctxReader{ctx: ctx, r: damageReader{tr}}, h)
		if err := handle(file, body); err != nil {
			return Manifest{}, err
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return Manifest{}, err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != file.SHA256 {
			return Manifest{}, fmt.Errorf("%w: %s does not match its checksum", ErrCorrupt, hdr.Name)
		}
	}
	if len(want) > 0 {
		return Manifest{}, fmt.Errorf("%w: %d entries missing", ErrCorrupt, len(want))
	}
	// What follows the tar's end must be zeros (padding), then the end of
	// the gzip stream, whose checksum is verified on reaching it.
	if err := zerosToEOF(r); err != nil {
		return Manifest{}, err
	}
	if r != io.Reader(br) {
		if n, err := io.Copy(io.Discard, br); err != nil || n > 0 {
			return Manifest{}, fmt.Errorf("%w: data after the end of the archive", ErrCorrupt)
		}
	}
	return m, nil
}

// readSmall reads the next entry, which must be the regular file name of
// at most max bytes.
func readSmall(tr *tar.Reader, name string, max int64) ([]byte, error) {
	hdr, err := tr.Next()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty archive", ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if hdr.Name != name || hdr.Typeflag != tar.TypeReg || hdr.Size > max {
		return nil, fmt.Errorf("%w: found %q where %s should be", ErrCorrupt, hdr.Name, name)
	}
	return io.ReadAll(damageReader{tr})
}

// zerosToEOF reads r to its end and fails unless every byte is zero.
func zerosToEOF(r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			if c != 0 {
				return fmt.Errorf("%w: data after the end of the archive", ErrCorrupt)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
}

// damageReader marks read failures of the archive (truncation, a bad gzip
// stream) as ErrCorrupt.
type damageReader struct{ r io.Reader }

func (d damageReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return n, err
}
