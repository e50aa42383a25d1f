package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// StaleTempAge is how old an unfinished upload in ROOT/tmp must be before
// OpenLocal deletes it. Uploads in progress rewrite their temp file all the
// time, so only the leftovers of a crash (or a killed process) get this old;
// the margin lets two processes (serve and a backup, say) share a folder.
const StaleTempAge = time.Hour

// copyBufferSize is the chunk size Put reads and writes with.
const copyBufferSize = 128 << 10

// Local is a Store over a folder on this machine. A blob with key k lives at
// ROOT/k[0:2]/k[2:4]/k; uploads are written to ROOT/tmp first, flushed to
// disk and renamed into place, so a blob is either complete or absent, even
// after a crash. Several processes may share one folder.
type Local struct {
	root string // absolute
}

var _ Store = (*Local)(nil)

// OpenLocal opens (creating it when needed) the blob folder root and deletes
// unfinished uploads older than StaleTempAge from ROOT/tmp.
func OpenLocal(root string) (*Local, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("blob folder %s: %w", root, err)
	}
	l := &Local{root: abs}
	if err := os.MkdirAll(l.tmpDir(), 0o750); err != nil {
		return nil, fmt.Errorf("create blob folder: %w", err)
	}
	if err := l.cleanTemp(time.Now()); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Local) tmpDir() string { return filepath.Join(l.root, "tmp") }

// path is where the blob with a valid key lives.
func (l *Local) path(key string) string {
	return filepath.Join(l.root, key[0:2], key[2:4], key)
}

// cleanTemp removes temp files last written before now-StaleTempAge.
func (l *Local) cleanTemp(now time.Time) error {
	entries, err := os.ReadDir(l.tmpDir())
	if err != nil {
		return fmt.Errorf("read blob temp folder: %w", err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if !fi.Mode().IsRegular() || now.Sub(fi.ModTime()) < StaleTempAge {
			continue
		}
		if err := os.Remove(filepath.Join(l.tmpDir(), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale blob upload: %w", err)
		}
	}
	return nil
}

// Path returns the file holding a blob, for serving it with sendfile or a
// reverse proxy's X-Accel-Redirect. The file may not exist; the caller must
// neither write nor remove it.
func (l *Local) Path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return l.path(key), nil
}

// Put implements Store.
func (l *Local) Put(ctx context.Context, r io.Reader) (Info, error) {
	return l.put(ctx, r, -1)
}

// PutLimit implements Store. A negative max is refused.
func (l *Local) PutLimit(ctx context.Context, r io.Reader, max int64) (Info, error) {
	if max < 0 {
		return Info{}, fmt.Errorf("blob put: negative limit %d", max)
	}
	return l.put(ctx, r, max)
}

// put stores r; max < 0 means no limit.
func (l *Local) put(ctx context.Context, r io.Reader, max int64) (info Info, err error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	tmp, err := os.CreateTemp(l.tmpDir(), "put-*")
	if err != nil {
		return Info{}, fmt.Errorf("blob put: %w", err)
	}
	placed := false
	defer func() {
		if !placed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	src := io.Reader(ctxReader{ctx: ctx, r: r})
	if max >= 0 && max < math.MaxInt64 {
		src = io.LimitReader(src, max+1) // one byte more tells "too large"
	}
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), src, make([]byte, copyBufferSize))
	if err != nil {
		return Info{}, fmt.Errorf("blob put: %w", err)
	}
	if max >= 0 && n > max {
		return Info{}, fmt.Errorf("blob put: %w: more than %d bytes", ErrTooLarge, max)
	}
	if err := tmp.Chmod(0o640); err != nil {
		return Info{}, fmt.Errorf("blob put: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return Info{}, fmt.Errorf("blob put: flush: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Info{}, fmt.Errorf("blob put: %w", err)
	}
	info = Info{Key: hex.EncodeToString(h.Sum(nil)), Size: n}

	final := l.path(info.Key)
	if fi, err := os.Lstat(final); err == nil && fi.Mode().IsRegular() && fi.Size() == n {
		return info, nil // same content already stored; the deferred cleanup drops ours
	}
	dir := filepath.Dir(final)
	if err := l.mkdirs(dir); err != nil {
		return Info{}, fmt.Errorf("blob put: %w", err)
	}
	// Concurrent puts of the same content each rename their own complete
	// copy; whichever lands last wins, and readers see a whole file always.
	if err := os.Rename(tmp.Name(), final); err != nil {
		return Info{}, fmt.Errorf("blob put: %w", err)
	}
	placed = true
	if err := syncDir(dir); err != nil {
		return Info{}, fmt.Errorf("blob put: flush folder: %w", err)
	}
	return info, nil
}

// mkdirs creates ROOT/ab and ROOT/ab/cd when missing, flushing each parent
// folder after adding an entry to it. Folders are never removed (Delete
// leaves them), so a concurrent Put cannot lose its folder before renaming.
func (l *Local) mkdirs(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	for _, d := range []string{filepath.Dir(dir), dir} {
		err := os.Mkdir(d, 0o750)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
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

// Open implements Store. The returned reader is an *os.File.
func (l *Local) Open(ctx context.Context, key string) (io.ReadSeekCloser, Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, Info{}, err
	}
	if err := ValidateKey(key); err != nil {
		return nil, Info{}, err
	}
	f, err := os.Open(l.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Info{}, fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("blob open: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Info{}, fmt.Errorf("blob open: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, Info{}, fmt.Errorf("blob %s: not a regular file", key)
	}
	return f, Info{Key: key, Size: fi.Size()}, nil
}

// Stat implements Store.
func (l *Local) Stat(ctx context.Context, key string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	fi, err := os.Lstat(l.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("blob stat: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("blob %s: not a regular file", key)
	}
	return Info{Key: key, Size: fi.Size()}, nil
}

// Delete implements Store.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := os.Remove(l.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob delete: %w", err)
	}
	return nil
}

// Walk implements Store. Files that do not follow the layout (stray files,
// the tmp folder) are skipped.
func (l *Local) Walk(ctx context.Context, fn func(Info) error) error {
	level1, err := readDir(l.root)
	if err != nil {
		return fmt.Errorf("blob walk: %w", err)
	}
	for _, a := range level1 {
		if !a.IsDir() || !isHexPair(a.Name()) {
			continue
		}
		dirA := filepath.Join(l.root, a.Name())
		level2, err := readDir(dirA)
		if err != nil {
			return fmt.Errorf("blob walk: %w", err)
		}
		for _, b := range level2 {
			if !b.IsDir() || !isHexPair(b.Name()) {
				continue
			}
			prefix := a.Name() + b.Name()
			files, err := readDir(filepath.Join(dirA, b.Name()))
			if err != nil {
				return fmt.Errorf("blob walk: %w", err)
			}
			for _, f := range files {
				name := f.Name()
				if ValidateKey(name) != nil || !strings.HasPrefix(name, prefix) {
					continue
				}
				fi, err := f.Info()
				if err != nil || !fi.Mode().IsRegular() {
					continue // deleted meanwhile, or not ours
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := fn(Info{Key: name, Size: fi.Size()}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// readDir lists a folder sorted by name; a folder removed meanwhile is empty.
func readDir(dir string) ([]os.DirEntry, error) {
	es, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return es, err
}

func isHexPair(s string) bool { return len(s) == 2 && isLowerHex(s) }
