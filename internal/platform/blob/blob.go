// Package blob stores immutable files (videos, recordings, papers) by
// content: a blob's key is the lower-case hex SHA-256 of its bytes, so the
// same content is stored once and a key always names the same bytes.
//
// Store is the small interface the rest of the program uses; nothing in it
// mentions file paths. Local keeps blobs in a folder on this machine, S3 in
// a bucket of an S3-compatible service (MinIO, AWS S3, Aliyun OSS, ...).
// Open picks one from a URL, so configuration alone decides.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Sentinel errors; compare with errors.Is.
var (
	// ErrNotFound: no blob has this key.
	ErrNotFound = errors.New("blob not found")
	// ErrTooLarge: the content was longer than the limit given to PutLimit.
	ErrTooLarge = errors.New("blob too large")
	// ErrInvalidKey: the key is not 64 lower-case hexadecimal characters.
	ErrInvalidKey = errors.New("invalid blob key")
)

// KeyLen is the length of a key: a hex-encoded SHA-256.
const KeyLen = 64

// Info describes a stored blob.
type Info struct {
	Key  string // lower-case hex SHA-256 of the content
	Size int64  // length in bytes
}

// Store holds blobs addressed by the SHA-256 of their content.
// Implementations are safe for concurrent use, also by several processes
// sharing the same storage.
type Store interface {
	// Put reads r to its end and stores its bytes. If a blob with the same
	// content exists it is kept as is and its Info returned.
	Put(ctx context.Context, r io.Reader) (Info, error)
	// PutLimit is Put for at most max bytes: longer content fails with an
	// error wrapping ErrTooLarge and leaves nothing stored.
	PutLimit(ctx context.Context, r io.Reader, max int64) (Info, error)
	// Open returns the content of a blob, which the caller must close.
	// It fails with ErrNotFound when there is no such blob.
	Open(ctx context.Context, key string) (io.ReadSeekCloser, Info, error)
	// Stat describes a blob, or fails with ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes a blob. Deleting a blob that does not exist is not an
	// error (as with S3), so deletions can be retried.
	Delete(ctx context.Context, key string) error
	// Walk calls fn for every blob, in increasing key order, and stops at
	// the first error fn returns, returning it. Blobs put or deleted during
	// the walk may or may not be seen.
	Walk(ctx context.Context, fn func(Info) error) error
}

// ValidateKey reports whether key is a well-formed blob key (64 lower-case
// hex characters). Every Store method checks its key with it, so a key can
// never name anything outside the store.
func ValidateKey(key string) error {
	if len(key) != KeyLen {
		return fmt.Errorf("%w: %q has %d characters, want %d", ErrInvalidKey, truncate(key), len(key), KeyLen)
	}
	if !isLowerHex(key) {
		return fmt.Errorf("%w: %q is not lower-case hexadecimal", ErrInvalidKey, truncate(key))
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// truncate shortens a (possibly hostile) key for error messages.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
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
