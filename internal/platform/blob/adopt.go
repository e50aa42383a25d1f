package blob

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Adopter is a Store that can take over a finished local file whose
// SHA-256 the caller computed itself (an upload hashed as it arrived):
// the file is moved into the store instead of copied and hashed again.
// The caller vouches for key; the store does not re-read the file.
type Adopter interface {
	Adopt(ctx context.Context, path, key string) (Info, error)
}

var _ Adopter = (*Local)(nil)

// Adopt moves the file at path into the store under key: flushed, then
// renamed into place (the file must be on the store's filesystem; across
// filesystems it is copied with Put, which hashes it). If the content is
// already stored, the file is left where it is.
func (l *Local) Adopt(ctx context.Context, path, key string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("blob adopt: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return Info{}, fmt.Errorf("blob adopt: %w", err)
	}
	info := Info{Key: key, Size: fi.Size()}
	final := l.path(key)
	if st, err := os.Lstat(final); err == nil && st.Mode().IsRegular() && st.Size() == info.Size {
		return info, nil
	}
	dir := filepath.Dir(final)
	if err := l.mkdirs(dir); err != nil {
		return Info{}, fmt.Errorf("blob adopt: %w", err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		return Info{}, fmt.Errorf("blob adopt: %w", err)
	}
	if err := os.Rename(path, final); err != nil {
		if errors.Is(err, syscall.EXDEV) {
			return l.putFile(ctx, path, key)
		}
		return Info{}, fmt.Errorf("blob adopt: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return Info{}, fmt.Errorf("blob adopt: flush folder: %w", err)
	}
	return info, nil
}

// putFile copies a file on another filesystem in with Put, checking that
// its content has the promised key.
func (l *Local) putFile(ctx context.Context, path, key string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	info, err := l.Put(ctx, f)
	if err != nil {
		return Info{}, err
	}
	if info.Key != key {
		return Info{}, fmt.Errorf("blob adopt: %s hashes to %s, not %s", path, info.Key, key)
	}
	return info, nil
}
