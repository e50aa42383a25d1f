package share

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"
)

// hashingStore is tusd's file store with a SHA-256 of each upload computed
// as the bytes arrive. The hash state is saved beside the upload after
// every chunk, so a resumed upload (even after a restart) continues the
// same hash, and the finished upload's digest is known at once.
type hashingStore struct {
	files filestore.FileStore
	dir   string
}

func newHashingStore(dir string) (hashingStore, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return hashingStore{}, err
	}
	return hashingStore{files: filestore.New(dir), dir: dir}, nil
}

// UseIn registers the store's capabilities with a composer.
func (s hashingStore) UseIn(c *handler.StoreComposer) {
	c.UseCore(s)
	c.UseTerminater(s)
}

func (s hashingStore) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	u, err := s.files.NewUpload(ctx, info)
	if err != nil {
		return nil, err
	}
	got, err := u.GetInfo(ctx)
	if err != nil {
		return nil, err
	}
	// The hash starts with the upload, before its first byte.
	if err := startHash(s.statePath(got.ID)); err != nil {
		return nil, err
	}
	return &hashingUpload{Upload: u, statePath: s.statePath(got.ID)}, nil
}

func (s hashingStore) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	u, err := s.files.GetUpload(ctx, id)
	if err != nil {
		return nil, err
	}
	return &hashingUpload{Upload: u, statePath: s.statePath(id)}, nil
}

func (s hashingStore) AsTerminatableUpload(u handler.Upload) handler.TerminatableUpload {
	hu := u.(*hashingUpload)
	return terminator{inner: s.files.AsTerminatableUpload(hu.Upload), statePath: hu.statePath}
}

func (s hashingStore) statePath(id string) string { return filepath.Join(s.dir, id+".sha256state") }

// binPath is where the file store keeps an upload's bytes.
func (s hashingStore) binPath(id string) string { return filepath.Join(s.dir, id) }

type terminator struct {
	inner     handler.TerminatableUpload
	statePath string
}

func (t terminator) Terminate(ctx context.Context) error {
	os.Remove(t.statePath)
	return t.inner.Terminate(ctx)
}

type hashingUpload struct {
	handler.Upload
	statePath string
}

// countingReader counts what passed through.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// WriteChunk writes a chunk and carries the hash forward. If the saved
// state does not end exactly at offset (a crash between write and save),
// the state is dropped and the digest is computed from the file at the end.
func (u *hashingUpload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	h, at, ok := loadHash(u.statePath)
	if !ok || at != offset {
		os.Remove(u.statePath)
		return u.Upload.WriteChunk(ctx, offset, src)
	}
	cr := &countingReader{r: io.TeeReader(src, h)}
	n, err := u.Upload.WriteChunk(ctx, offset, cr)
	if cr.n != n {
		os.Remove(u.statePath) // read more than was written: the state is unusable
		return n, err
	}
	if serr := saveHash(u.statePath, h, offset+n); serr != nil {
		os.Remove(u.statePath)
	}
	return n, err
}

func loadHash(path string) (hash.Hash, int64, bool) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, false
	}
	h := sha256.New()
	if err != nil || len(b) < 8 {
		return nil, 0, false
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(b[8:]); err != nil {
		return nil, 0, false
	}
	return h, int64(binary.BigEndian.Uint64(b[:8])), true
}

func saveHash(path string, h hash.Hash, offset int64) error {
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	b := binary.BigEndian.AppendUint64(nil, uint64(offset))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, state...), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// startHash writes the empty hash state for a new upload.
func startHash(path string) error { return saveHash(path, sha256.New(), 0) }

// digest returns the upload's SHA-256: from the saved state when it covers
// the whole file, otherwise by reading the file.
func (s hashingStore) digest(id string, size int64) (string, error) {
	if h, at, ok := loadHash(s.statePath(id)); ok && at == size {
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	f, err := os.Open(s.binPath(id))
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", err
	}
	if n != size {
		return "", fmt.Errorf("upload %s: %d bytes on disk, %d declared", id, n, size)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// remove deletes an upload's files once its bytes are in the blob store.
func (s hashingStore) remove(id string) {
	for _, p := range []string{s.binPath(id), s.binPath(id) + ".info", s.statePath(id)} {
		os.Remove(p)
	}
}
