package backup

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
)

// Create writes a backup of the database d and of every blob in blobs to
// the file dest, and returns its manifest. It is meant to run while the
// server keeps working:
//
//   - SQLite: VACUUM INTO copies one consistent snapshot of the file (other
//     processes keep writing meanwhile) and the copy must pass PRAGMA
//     quick_check;
//   - PostgreSQL: pg_dump dumps the schemas of d's search path (the
//     search_path parameter of the URL, or the server's default) in one
//     snapshot.
//
// Blobs are listed and copied after the snapshot, each checked against its
// key while copied. A blob deleted between the snapshot and its copy makes
// Create fail (run it again), so the archive never lacks a blob the
// database refers to.
//
// The archive is written to a temporary file next to dest and renamed over
// dest once complete and flushed: a failed backup never leaves a partial
// file, nor destroys an older backup of the same name. Temporary files (the
// database copy) are made in dest's folder, which needs room for them.
func Create(ctx context.Context, d *db.DB, blobs blob.Store, dest string, opt CreateOptions) (Manifest, error) {
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	work, err := os.MkdirTemp(filepath.Dir(dest), ".jnedu-backup-")
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(work)

	m := Manifest{
		Format:    FormatVersion,
		Program:   Program,
		CreatedAt: now().UTC().Truncate(time.Second),
		Dialect:   d.Dialect(),
	}
	var dbFile string
	switch d.Dialect() {
	case db.SQLite:
		m.Database = sqliteEntry
		dbFile = filepath.Join(work, "jnedu.db")
		if err := snapshotSQLite(ctx, d, dbFile); err != nil {
			return Manifest{}, err
		}
	case db.Postgres:
		m.Database = postgresEntry
		dbFile = filepath.Join(work, "jnedu.pgdump")
		if m.Schemas, err = searchPath(ctx, d); err != nil {
			return Manifest{}, err
		}
		if err := dumpPostgres(ctx, opt.PgDump, d.PostgresDSN(), m.Schemas, dbFile); err != nil {
			return Manifest{}, err
		}
	default:
		return Manifest{}, fmt.Errorf("backup: unknown database dialect %q", d.Dialect())
	}
	dbEntry, err := hashFile(ctx, dbFile)
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	dbEntry.Name = m.Database
	m.Files = append(m.Files, dbEntry)

	err = blobs.Walk(ctx, func(i blob.Info) error {
		m.Files = append(m.Files, File{Name: blobPrefix + i.Key, Size: i.Size, SHA256: i.Key})
		return nil
	})
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: list blobs: %w", err)
	}

	if err := writeArchive(ctx, dest, opt.Gzip, m, dbFile, blobs); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// snapshotSQLite copies the database into the new file path with VACUUM
// INTO, which reads one consistent snapshot while writers go on, and checks
// the copy.
func snapshotSQLite(ctx context.Context, d *db.DB, path string) error {
	if _, err := d.Exec(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("backup: copy sqlite database: %w", err)
	}
	c, err := sql.Open("sqlite", path)
	if err != nil {
		return fmt.Errorf("backup: open sqlite copy: %w", err)
	}
	defer c.Close()
	var res string
	if err := c.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
		return fmt.Errorf("backup: check sqlite copy: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("backup: the sqlite copy fails quick_check: %s", res)
	}
	return nil
}

// hashFile returns the size and SHA-256 of a file.
func hashFile(ctx context.Context, path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx: ctx, r: f})
	if err != nil {
		return File{}, err
	}
	return File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// writeArchive writes the archive for m to a temporary file and renames it
// to dest.
func writeArchive(ctx context.Context, dest string, compress bool, m Manifest, dbFile string, blobs blob.Store) (err error) {
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	var w io.Writer = bw
	var zw *gzip.Writer
	if compress {
		zw = gzip.NewWriter(bw)
		w = zw
	}
	tw := tar.NewWriter(w)

	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("backup: encode manifest: %w", err)
	}
	mj = append(mj, '\n')
	sum := sha256.Sum256(mj)
	if err := addBytes(tw, manifestName, mj, m.CreatedAt); err != nil {
		return err
	}
	if err := addBytes(tw, manifestSumName, []byte(hex.EncodeToString(sum[:])+"  "+manifestName+"\n"), m.CreatedAt); err != nil {
		return err
	}

	for _, file := range m.Files {
		var r io.ReadCloser
		if file.Name == m.Database {
			if r, err = os.Open(dbFile); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
		} else {
			key := file.SHA256
			rc, info, err := blobs.Open(ctx, key)
			if errors.Is(err, blob.ErrNotFound) {
				return fmt.Errorf("backup: blob %s was deleted while the backup ran; run it again: %w", key, err)
			}
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			if info.Size != file.Size {
				rc.Close()
				return fmt.Errorf("backup: blob %s changed size from %d to %d bytes while the backup ran", key, file.Size, info.Size)
			}
			r = rc
		}
		err := addEntry(ctx, tw, file, r, m.CreatedAt)
		r.Close()
		if err != nil {
			return err
		}
	}

	if err := tw.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup: flush: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(f.Name(), dest); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(filepath.Dir(dest)); err != nil {
		return fmt.Errorf("backup: flush folder: %w", err)
	}
	return nil
}

func addBytes(tw *tar.Writer, name string, data []byte, mtime time.Time) error {
	if err := tw.WriteHeader(header(name, int64(len(data)), mtime)); err != nil {
		return fmt.Errorf("backup: %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("backup: %s: %w", name, err)
	}
	return nil
}

// addEntry copies file.Size bytes of r into the archive and checks they
// hash to file.SHA256: a blob damaged on disk fails the backup rather than
// going unnoticed into it.
func addEntry(ctx context.Context, tw *tar.Writer, file File, r io.Reader, mtime time.Time) error {
	if err := tw.WriteHeader(header(file.Name, file.Size, mtime)); err != nil {
		return fmt.Errorf("backup: %s: %w", file.Name, err)
	}
	h := sha256.New()
	n, err := io.Copy(tw, io.TeeReader(ctxReader{ctx: ctx, r: io.LimitReader(r, file.Size)}, h))
	if err != nil {
		return fmt.Errorf("backup: %s: %w", file.Name, err)
	}
	if n != file.Size {
		return fmt.Errorf("backup: %s: read %d bytes, want %d", file.Name, n, file.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != file.SHA256 {
		return fmt.Errorf("backup: %s: content hashes to %s, want %s; the stored copy is damaged", file.Name, got, file.SHA256)
	}
	return nil
}

func header(name string, size int64, mtime time.Time) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o640,
		ModTime:  mtime,
	}
}

// syncDir flushes a folder's entries (a rename or a new file) to disk.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
