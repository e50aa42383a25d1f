package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Part sizes and limits of S3 multipart uploads.
const (
	// DefaultPartSize is the part size of multipart uploads when
	// S3Config.PartSize is zero. With S3's limit of 10,000 parts it allows
	// blobs of up to 156 GiB through Put (PutLimit raises the part size when
	// its limit needs it).
	DefaultPartSize = 16 << 20
	// MinPartSize is the smallest part size S3 accepts.
	MinPartSize = 5 << 20
	// MaxPartSize is the largest part size S3 accepts.
	MaxPartSize = 5 << 30

	maxParts    = 10000   // parts in one multipart upload
	maxCopySize = 5 << 30 // largest object one CopyObject request may copy
	maxParallel = 64
)

// tmpFolder holds uploads under the store's prefix until their content key
// is known; Walk never reports what is in it.
const tmpFolder = "tmp/"

// cleanupTimeout bounds removing a temporary object after the caller's
// context is done.
const cleanupTimeout = time.Minute

// S3Config says where an S3 store keeps its blobs and how it uploads them.
// Its String method hides SecretKey and SessionToken, so a config may be
// logged.
type S3Config struct {
	// Endpoint is the S3 service's host or host:port, without a scheme:
	// "minio.lan:9000", "s3.cn-north-1.amazonaws.com.cn",
	// "oss-cn-hangzhou.aliyuncs.com".
	Endpoint string
	// Bucket must exist; the store does not create it.
	Bucket string
	// Prefix is the folder inside the bucket holding the blobs, such as
	// "jnedu/blobs"; empty means the bucket's root. Slashes at either end
	// are ignored.
	Prefix string
	// AccessKey and SecretKey authenticate every request; SessionToken is
	// set for temporary credentials only.
	AccessKey    string
	SecretKey    string
	SessionToken string
	// Region is the bucket's region; empty lets the client ask the service
	// once (MinIO's default is "us-east-1").
	Region string
	// UseTLS selects https.
	UseTLS bool
	// BucketLookup is "auto" (or empty: virtual-hosted style for AWS and
	// Aliyun endpoints, path style otherwise), "dns" (virtual-hosted,
	// bucket.endpoint/key) or "path" (endpoint/bucket/key).
	BucketLookup string
	// PartSize is the size of each part of a multipart upload, between
	// MinPartSize and MaxPartSize; zero means DefaultPartSize. Content up to
	// PartSize bytes is held in memory and sent in one request.
	PartSize int64
	// Parallel is how many parts of one upload are sent at once; zero means
	// 1. An upload holds up to PartSize × (Parallel + 1) bytes in memory.
	Parallel int
	// Transport, when set, carries the requests: for a private certificate
	// authority, a proxy, or tests.
	Transport http.RoundTripper
}

// String describes the config as an s3:// URL without the secret key.
func (c S3Config) String() string {
	u := url.URL{Scheme: "s3", Host: c.Endpoint, Path: "/" + c.Bucket}
	if p := strings.Trim(c.Prefix, "/"); p != "" {
		u.Path += "/" + p
	}
	switch {
	case c.AccessKey != "" && (c.SecretKey != "" || c.SessionToken != ""):
		u.User = url.UserPassword(c.AccessKey, redacted)
	case c.AccessKey != "":
		u.User = url.User(c.AccessKey)
	}
	q := url.Values{}
	if !c.UseTLS {
		q.Set("tls", "false")
	}
	if c.Region != "" {
		q.Set("region", c.Region)
	}
	if c.BucketLookup != "" && c.BucketLookup != "auto" {
		q.Set("lookup", c.BucketLookup)
	}
	if c.PartSize != 0 {
		q.Set("part_size", fmt.Sprint(c.PartSize))
	}
	if c.Parallel != 0 {
		q.Set("parallel", fmt.Sprint(c.Parallel))
	}
	u.RawQuery = q.Encode()
	// url.URL escapes the placeholder's stars; keep them readable.
	return strings.Replace(u.String(), ":%2A%2A%2A@", ":"+redacted+"@", 1)
}

// GoString is String, so that %#v does not print the secret either.
func (c S3Config) GoString() string { return "blob.S3Config(" + c.String() + ")" }

// LogValue is String, so that log/slog (also its JSON handler) never
// prints the secret.
func (c S3Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// S3 is a Store in a bucket of an S3-compatible service (MinIO, AWS S3,
// Aliyun OSS, ...). A blob with key k is the object PREFIX/k[0:2]/k[2:4]/k,
// the same layout as Local, so a blob folder and a bucket can be mirrored
// into each other with ordinary S3 tools (leaving out tmp/).
//
// Put streams its input once. Content of up to PartSize bytes is hashed in
// memory and sent with one PUT to its final name. Longer content is sent
// as a multipart upload to PREFIX/tmp/..., hashed on the way, then copied
// inside the service to its final name, and the temporary object deleted:
// the key is only known at the end, and S3 has no rename. An upload that
// fails is aborted, so a blob is either complete or absent. Temporary
// objects and unfinished uploads older than StaleTempAge that a crash left
// behind are deleted by OpenS3; a bucket lifecycle rule expiring PREFIX/tmp/
// and aborting incomplete multipart uploads after a day does the same for
// long-running servers. Concurrent puts of the same content each upload it;
// the copies they make are identical, so the last one landing is harmless.
//
// Memory: a Put holds up to PartSize bytes while it hashes the start of
// the content, and a multipart upload PartSize × Parallel more, so with
// the defaults (16 MiB, 1) at most 32 MiB per upload in progress. Put
// accepts up to PartSize × 10,000 bytes (156 GiB by default); PutLimit
// raises the part size when its limit is larger.
//
// The bucket should not be versioned: Delete would only hide old versions.
type S3 struct {
	client   *minio.Client
	bucket   string
	prefix   string // "" or ends with "/"
	partSize int64
	parallel int
	desc     string // redacted config, for String
}

var _ Store = (*S3)(nil)

// OpenS3 connects to an S3-compatible service, checks that the bucket
// exists, and deletes what crashed uploads left under PREFIX/tmp/ more
// than StaleTempAge ago. The credentials need to list, read, write and
// delete objects and to list and abort multipart uploads under the prefix.
func OpenS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := newS3(cfg)
	if err != nil {
		return nil, err
	}
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", s, err)
	}
	if !ok {
		return nil, fmt.Errorf("blob store %s: bucket %q does not exist", s, s.bucket)
	}
	if err := s.cleanTemp(ctx, time.Now()); err != nil {
		return nil, fmt.Errorf("blob store %s: %w", s, err)
	}
	return s, nil
}

// newS3 validates cfg and makes the client, without talking to the service.
func newS3(cfg S3Config) (*S3, error) {
	desc := cfg.String()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("blob store %s: %s", desc, fmt.Sprintf(format, args...))
	}
	switch {
	case cfg.Endpoint == "":
		return nil, bad("no endpoint")
	case strings.Contains(cfg.Endpoint, "://") || strings.ContainsAny(cfg.Endpoint, "/?#@"):
		return nil, bad("the endpoint must be host or host:port, without a scheme or path")
	case cfg.Bucket == "":
		return nil, bad("no bucket")
	case cfg.AccessKey == "" || cfg.SecretKey == "":
		return nil, bad("no access key or secret key")
	case cfg.PartSize != 0 && (cfg.PartSize < MinPartSize || cfg.PartSize > MaxPartSize):
		return nil, bad("part size %d is not between %d and %d", cfg.PartSize, MinPartSize, int64(MaxPartSize))
	case cfg.Parallel < 0 || cfg.Parallel > maxParallel:
		return nil, bad("parallel %d is not between 1 and %d", cfg.Parallel, maxParallel)
	}
	lookup := minio.BucketLookupAuto
	switch cfg.BucketLookup {
	case "", "auto":
	case "dns":
		lookup = minio.BucketLookupDNS
	case "path":
		lookup = minio.BucketLookupPath
	default:
		return nil, bad("bucket lookup %q is not auto, dns or path", cfg.BucketLookup)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken),
		Secure:       cfg.UseTLS,
		Region:       cfg.Region,
		BucketLookup: lookup,
		Transport:    cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", desc, err)
	}
	s := &S3{
		client:   client,
		bucket:   cfg.Bucket,
		partSize: cfg.PartSize,
		parallel: max(cfg.Parallel, 1),
		desc:     desc,
	}
	if s.partSize == 0 {
		s.partSize = DefaultPartSize
	}
	if p := strings.Trim(cfg.Prefix, "/"); p != "" {
		s.prefix = p + "/"
	}
	return s, nil
}

// String describes the store as an s3:// URL without the secret key.
func (s *S3) String() string { return s.desc }

// object is the object name of the blob with a valid key.
func (s *S3) object(key string) string {
	return s.prefix + key[0:2] + "/" + key[2:4] + "/" + key
}

// keyOf returns the key of a blob's object name, or "" when the name does
// not follow the layout.
func (s *S3) keyOf(name string) string {
	rest, ok := strings.CutPrefix(name, s.prefix)
	if !ok || len(rest) != 6+KeyLen || rest[2] != '/' || rest[5] != '/' {
		return ""
	}
	key := rest[6:]
	if ValidateKey(key) != nil || rest[0:2] != key[0:2] || rest[3:5] != key[2:4] {
		return ""
	}
	return key
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, r io.Reader) (Info, error) {
	return s.put(ctx, r, -1)
}

// PutLimit implements Store. A negative max is refused. The limit is
// checked while streaming: the upload is abandoned as soon as the content
// passes it.
func (s *S3) PutLimit(ctx context.Context, r io.Reader, max int64) (Info, error) {
	if max < 0 {
		return Info{}, fmt.Errorf("blob put: negative limit %d", max)
	}
	return s.put(ctx, r, max)
}

// put stores r; max < 0 means no limit.
func (s *S3) put(ctx context.Context, r io.Reader, max int64) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	m := &meter{ctx: ctx, r: r, h: sha256.New(), max: max}
	head, err := readHead(m, s.partSize)
	if err != nil {
		return Info{}, fmt.Errorf("blob put: %w", err)
	}
	if int64(len(head)) <= s.partSize {
		info := m.info()
		if err := s.putSmall(ctx, info, head); err != nil {
			return Info{}, err
		}
		return info, nil
	}
	return s.putLarge(ctx, m, head)
}

// putSmall stores content that is wholly in memory, under its final name:
// one PUT is atomic, so readers never see part of it.
func (s *S3) putSmall(ctx context.Context, info Info, data []byte) error {
	if s.exists(ctx, info) {
		return nil
	}
	_, err := s.client.PutObject(ctx, s.bucket, s.object(info.Key), bytes.NewReader(data), info.Size,
		minio.PutObjectOptions{ContentType: "application/octet-stream", PartSize: uint64(s.partSize)})
	if err != nil {
		return fmt.Errorf("blob put %s: %w", info.Key, err)
	}
	return nil
}

// putLarge streams head and the rest of m to a temporary object with a
// multipart upload, then copies it to its final name.
func (s *S3) putLarge(ctx context.Context, m *meter, head []byte) (Info, error) {
	tmp, err := s.tempName()
	if err != nil {
		return Info{}, fmt.Errorf("blob put: %w", err)
	}
	// Whatever happens, the temporary object goes; a leftover (the process
	// died) is removed by the next OpenS3.
	defer s.removeDetached(ctx, tmp)

	opts := minio.PutObjectOptions{
		ContentType:           "application/octet-stream",
		PartSize:              uint64(s.partSizeFor(m.max)),
		NumThreads:            uint(s.parallel),
		ConcurrentStreamParts: s.parallel > 1,
	}
	up, err := s.client.PutObject(ctx, s.bucket, tmp, io.MultiReader(bytes.NewReader(head), m), -1, opts)
	if m.err != nil { // too large, canceled, or the reader failed
		return Info{}, fmt.Errorf("blob put: %w", m.err)
	}
	if err != nil {
		return Info{}, fmt.Errorf("blob put: upload: %w", err)
	}
	info := m.info()
	// Check what the service stored before making it a blob: a proxy or an
	// incomplete S3 implementation can mangle multipart bodies.
	oi, err := s.client.StatObject(ctx, s.bucket, tmp, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, fmt.Errorf("blob put: check upload: %w", err)
	}
	if up.Size != info.Size || oi.Size != info.Size {
		return Info{}, fmt.Errorf("blob put: read %d bytes, sent %d, the service stored %d", info.Size, up.Size, oi.Size)
	}
	if s.exists(ctx, info) {
		return info, nil
	}
	dst := minio.CopyDestOptions{Bucket: s.bucket, Object: s.object(info.Key)}
	src := minio.CopySrcOptions{Bucket: s.bucket, Object: tmp}
	if info.Size <= maxCopySize {
		_, err = s.client.CopyObject(ctx, dst, src)
	} else {
		_, err = s.client.ComposeObject(ctx, dst, src) // multipart copy
	}
	if err != nil {
		return Info{}, fmt.Errorf("blob put %s: copy into place: %w", info.Key, err)
	}
	return info, nil
}

// partSizeFor returns the part size for an upload of at most max bytes
// (max < 0: no limit): the configured one, or larger when max needs more
// than S3's 10,000 parts.
func (s *S3) partSizeFor(max int64) int64 {
	if max < 0 || max/maxParts < s.partSize {
		return s.partSize
	}
	const mib = 1 << 20
	need := max/maxParts + 1
	return min((need+mib-1)/mib*mib, MaxPartSize)
}

// exists reports whether the blob is stored with the expected size. An
// error counts as absent: the caller then writes the blob again, which is
// harmless.
func (s *S3) exists(ctx context.Context, info Info) bool {
	oi, err := s.client.StatObject(ctx, s.bucket, s.object(info.Key), minio.StatObjectOptions{})
	return err == nil && oi.Size == info.Size
}

// tempName returns a new, unique temporary object name.
func (s *S3) tempName() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return s.prefix + tmpFolder + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:]), nil
}

// removeDetached deletes an object even when ctx is done, ignoring errors.
func (s *S3) removeDetached(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{})
}

// cleanTemp deletes temporary objects and aborts unfinished uploads under
// PREFIX/tmp/ that are older than now-StaleTempAge.
func (s *S3) cleanTemp(ctx context.Context, now time.Time) error {
	ctx, cancel := context.WithCancel(ctx) // stops the listings on return
	defer cancel()
	cutoff := now.Add(-StaleTempAge)
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + tmpFolder, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("list stale uploads: %w", o.Err)
		}
		if o.LastModified.Before(cutoff) {
			if err := s.client.RemoveObject(ctx, s.bucket, o.Key, minio.RemoveObjectOptions{}); err != nil {
				return fmt.Errorf("remove stale upload: %w", err)
			}
		}
	}
	for u := range s.client.ListIncompleteUploads(ctx, s.bucket, s.prefix+tmpFolder, true) {
		if u.Err != nil {
			if errCode(u.Err) == "NoSuchUpload" {
				break // some servers (gofakes3) say so of a bucket that never had an upload
			}
			return fmt.Errorf("list unfinished uploads: %w", u.Err)
		}
		if u.Initiated.Before(cutoff) {
			if err := s.client.RemoveIncompleteUpload(ctx, s.bucket, u.Key); err != nil {
				return fmt.Errorf("abort unfinished upload: %w", err)
			}
		}
	}
	return nil
}

// Open implements Store. The reader is bound to ctx: it fails once ctx is
// done. Seek costs nothing; the Read after it asks the service for the
// bytes from the new offset on (a ranged GET), so http.ServeContent serves
// range requests without reading the blob from its start. The reader also
// implements io.ReaderAt, each ReadAt being one ranged GET.
func (s *S3) Open(ctx context.Context, key string) (io.ReadSeekCloser, Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, Info{}, err
	}
	if err := ValidateKey(key); err != nil {
		return nil, Info{}, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.object(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, Info{}, s.fail("blob open", key, err)
	}
	oi, err := obj.Stat() // a HEAD request; the first Read sends the GET
	if err != nil {
		obj.Close()
		return nil, Info{}, s.fail("blob open", key, err)
	}
	info := Info{Key: key, Size: oi.Size}
	return &s3Reader{s: s, obj: obj, key: key, size: oi.Size}, info, nil
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, s.object(key), minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s.fail("blob stat", key, err)
	}
	return Info{Key: key, Size: oi.Size}, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateKey(key); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.object(key), minio.RemoveObjectOptions{})
	if err != nil && !isNoSuchKey(err) {
		return fmt.Errorf("blob delete %s: %w", key, err)
	}
	return nil
}

// Walk implements Store. It lists the objects under the prefix (S3 lists
// in name order, which the layout makes key order), skipping objects that
// do not follow the layout, such as tmp/.
func (s *S3) Walk(ctx context.Context, fn func(Info) error) error {
	ctx, cancel := context.WithCancel(ctx) // stops the listing on return
	defer cancel()
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if o.Err != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fmt.Errorf("blob walk: %w", o.Err)
		}
		if rest, _ := strings.CutPrefix(o.Key, s.prefix); rest != "" && rest[0] > 'f' {
			return nil // past every hex folder: only tmp/ and strays remain
		}
		key := s.keyOf(o.Key)
		if key == "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(Info{Key: key, Size: o.Size}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// PresignGet returns a URL that lets anyone holding it download the blob
// directly from the S3 service until ttl has passed (at most 7 days), so
// large videos need not pass through this program. The URL works only
// where the service's endpoint is reachable.
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration) (*url.URL, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, s.object(key), ttl, nil)
	if err != nil {
		return nil, fmt.Errorf("blob presign %s: %w", key, err)
	}
	return u, nil
}

// fail wraps an error about a blob, mapping S3's NoSuchKey to ErrNotFound.
func (s *S3) fail(op, key string, err error) error {
	if isNoSuchKey(err) {
		return fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

func isNoSuchKey(err error) bool { return errCode(err) == minio.NoSuchKey }

// errCode is the S3 error code in err, or "".
func errCode(err error) string {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er.Code
	}
	return ""
}

// s3Reader is what S3.Open returns: a *minio.Object with os.File's seeking
// rules (seeking past the end is allowed; reading there gives io.EOF) and
// S3 errors mapped to this package's.
type s3Reader struct {
	s    *S3
	obj  *minio.Object
	key  string
	size int64
	pos  int64
}

func (r *s3Reader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := r.obj.Read(p)
	r.pos += int64(n)
	if err != nil && err != io.EOF {
		err = r.s.fail("blob read", r.key, err)
	}
	return n, err
}

func (r *s3Reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, fmt.Errorf("blob seek %s: invalid whence %d", r.key, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("blob seek %s: negative position %d", r.key, abs)
	}
	if abs < r.size {
		// minio's Object refuses positions past the end; those are handled
		// here without it.
		if _, err := r.obj.Seek(abs, io.SeekStart); err != nil {
			return 0, r.s.fail("blob seek", r.key, err)
		}
	}
	r.pos = abs
	return abs, nil
}

func (r *s3Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("blob read %s: negative offset %d", r.key, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	want := min(int64(len(p)), r.size-off)
	n, err := r.obj.ReadAt(p[:want], off)
	if err != nil && err != io.EOF {
		return n, r.s.fail("blob read", r.key, err)
	}
	if int64(n) < int64(len(p)) {
		if int64(n) < want {
			return n, io.ErrUnexpectedEOF
		}
		return n, io.EOF
	}
	return n, nil
}

func (r *s3Reader) Close() error { return r.obj.Close() }

// meter reads the content of a Put: it hashes and counts the bytes, stops
// with an error wrapping ErrTooLarge as soon as there are more than max
// (max < 0: no limit), and with the context's error once it is done. The
// first error is kept in err and returned by every later Read.
type meter struct {
	ctx context.Context
	r   io.Reader
	h   hash.Hash
	n   int64
	max int64
	err error
}

func (m *meter) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	if err := m.ctx.Err(); err != nil {
		m.err = err
		return 0, err
	}
	if m.max >= 0 {
		// Never read more than one byte past the limit: that byte is
		// enough to tell the content is too large.
		if room := m.max - m.n; room < int64(len(p)) {
			p = p[:room+1]
		}
	}
	n, err := m.r.Read(p)
	m.h.Write(p[:n])
	m.n += int64(n)
	if m.max >= 0 && m.n > m.max {
		m.err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, m.max)
		return 0, m.err
	}
	if err != nil && err != io.EOF {
		m.err = err
	}
	return n, err
}

func (m *meter) info() Info {
	return Info{Key: hex.EncodeToString(m.h.Sum(nil)), Size: m.n}
}

// readHead reads up to n+1 bytes: all of r when it is at most n bytes long.
// Its buffer grows as bytes come, so short content stays cheap.
func readHead(r io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, 0, min(n+1, 64<<10))
	for int64(len(buf)) <= n {
		if len(buf) == cap(buf) {
			bigger := make([]byte, len(buf), min(2*int64(cap(buf)), n+1))
			copy(bigger, buf)
			buf = bigger
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}
