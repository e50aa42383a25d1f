package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"jnedu/internal/platform/backup"
	"jnedu/internal/platform/blob"
)

func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, cf := flags("backup", stderr)
	out := fs.String("out", "", "backup file (default: DATA/backups/jnedu-YYYYMMDD-HHMMSS.tar.gz)")
	plain := fs.Bool("no-gzip", false, "write an uncompressed tar")
	cfg, err := load(fs, cf, args, getenv)
	if err != nil {
		return err
	}
	d, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	blobs, err := blob.Open(ctx, cfg.BlobURL, cfg.BlobDir())
	if err != nil {
		return err
	}
	dest := *out
	if dest == "" {
		dest = filepath.Join(cfg.DataDir, "backups", "jnedu-"+time.Now().Format("20060102-150405")+".tar.gz")
		if *plain {
			dest = dest[:len(dest)-len(".gz")]
		}
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o750); err != nil {
		return err
	}
	start := time.Now()
	m, err := backup.Create(ctx, d, blobs, dest, backup.CreateOptions{Gzip: !*plain})
	if err != nil {
		return err
	}
	st, _ := os.Stat(dest)
	fmt.Fprintf(stdout, "backup written: %s (%s database, %d blobs, %d bytes, %s)\n", dest, m.Dialect, m.BlobCount(), st.Size(),
		time.Since(start).Round(time.Millisecond))
	return nil
}

func cmdRestore(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, cf := flags("restore", stderr)
	verify := fs.Bool("verify", false, "only check the backup's integrity; change nothing")
	yes := fs.Bool("yes", false, "replace the configured database and blob folder (stop serve first)")
	cfg, err := load(fs, cf, args, getenv)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: jnedu restore [--verify | --yes] [flags] BACKUP-FILE")
	}
	src := fs.Arg(0)
	if *verify || !*yes {
		m, err := backup.Verify(ctx, src)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "backup %s is intact: %s database, %d blobs, taken %s\n", src, m.Dialect, m.BlobCount(), m.CreatedAt.Format(time.RFC3339))
		if !*verify {
			fmt.Fprintf(stdout, "to replace the data in %s with it, stop serve and run again with --yes\n", cfg.DataDir)
		}
		return nil
	}
	m, err := backup.Restore(ctx, src, cfg.DatabaseURL, cfg.DataDir, backup.RestoreOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s: %s database, %d blobs, as of %s\n", src, m.Dialect, m.BlobCount(), m.CreatedAt.Format(time.RFC3339))
	return nil
}
