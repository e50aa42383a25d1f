package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"jnedu/internal/platform/blob"
)

const (
	testBucket = "jnedu-test"
	testAccess = "AKIDJNEDUTEST"
	testSecret = "Sup3r/Secret+Key" // with characters that need escaping in a URL
)

// fakeS3 is an S3 server in this process: gofakes3 with its in-memory
// backend behind httptest (TLS unless plainHTTP), holding testBucket.
type fakeS3 struct {
	srv *httptest.Server
	raw *minio.Client // talks to the server behind the store's back
	cfg blob.S3Config // for the whole bucket

	mu       sync.Mutex
	requests []*http.Request // every request the server answered, without body
}

type fakeS3Options struct {
	clock     *testClock // the server's clock; nil: the real one
	plainHTTP bool
}

func newFakeS3(t *testing.T, opts fakeS3Options) *fakeS3 {
	t.Helper()
	var serverOpts []gofakes3.Option
	var backendOpts []s3mem.Option
	if opts.clock != nil {
		serverOpts = append(serverOpts, gofakes3.WithTimeSource(opts.clock), gofakes3.WithTimeSkewLimit(0))
		backendOpts = append(backendOpts, s3mem.WithTimeSource(opts.clock))
	}
	backend := s3mem.New(backendOpts...)
	if err := backend.CreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	f := &fakeS3{}
	fake := gofakes3.New(backend, serverOpts...).Server()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Clone(context.Background()))
		f.mu.Unlock()
		fake.ServeHTTP(w, r)
	})
	var srv *httptest.Server
	if opts.plainHTTP {
		srv = httptest.NewServer(handler)
	} else {
		srv = httptest.NewTLSServer(handler)
	}
	t.Cleanup(srv.Close)
	cfg := blob.S3Config{
		Endpoint:  srv.Listener.Addr().String(),
		Bucket:    testBucket,
		AccessKey: testAccess,
		SecretKey: testSecret,
		UseTLS:    !opts.plainHTTP,
		PartSize:  blob.MinPartSize, // small parts, so tests reach multipart uploads cheaply
	}
	if !opts.plainHTTP {
		cfg.Transport = srv.Client().Transport
	}
	raw, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(testAccess, testSecret, ""),
		Secure:    cfg.UseTLS,
		Transport: cfg.Transport,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.raw, f.cfg = srv, raw, cfg
	return f
}

// takeRequests returns the requests answered since the last call, each as
// "METHOD object?subresource" with the object name relative to prefix,
// temporary names shortened to tmp/*, and a copy or a Range noted.
func (f *fakeS3) takeRequests(prefix string) []string {
	f.mu.Lock()
	reqs := f.requests
	f.requests = nil
	f.mu.Unlock()
	var out []string
	for _, r := range reqs {
		name := strings.TrimPrefix(r.URL.Path, "/"+testBucket+"/"+prefix+"/")
		if strings.HasPrefix(name, "tmp/") {
			name = "tmp/*"
		}
		line := r.Method + " " + name
		q := r.URL.Query()
		for _, sub := range []string{"uploads", "uploadId"} {
			if q.Has(sub) {
				line += "?" + sub
			}
		}
		if src := r.Header.Get("X-Amz-Copy-Source"); src != "" {
			line += " copy from " + src[strings.LastIndex(src, "/tmp/")+1:strings.LastIndex(src, "/")] + "/*"
		}
		if rng := r.Header.Get("Range"); rng != "" {
			line += " Range " + rng
		}
		out = append(out, line)
	}
	return out
}

// config is the store's configuration for a prefix, changed by modify.
func (f *fakeS3) config(prefix string, modify func(*blob.S3Config)) blob.S3Config {
	cfg := f.cfg
	cfg.Prefix = prefix
	if modify != nil {
		modify(&cfg)
	}
	return cfg
}

// store opens an S3 store on the fake server.
func (f *fakeS3) store(t *testing.T, prefix string, modify func(*blob.S3Config)) *storeUnderTest {
	t.Helper()
	s, err := blob.OpenS3(context.Background(), f.config(prefix, modify))
	if err != nil {
		t.Fatalf("OpenS3: %v", err)
	}
	return &storeUnderTest{
		Store: s,
		raw:   func(t *testing.T) []string { return f.list(t, prefix) },
		plant: func(t *testing.T, name string, data []byte) { f.put(t, join(prefix, name), data) },
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "/" + name
}

// list names, sorted, every object in the bucket and every unfinished
// multipart upload, relative to prefix ("../NAME" outside it).
func (f *fakeS3) list(t *testing.T, prefix string) []string {
	t.Helper()
	rel := func(name string) string {
		if prefix == "" {
			return name
		}
		if r, ok := strings.CutPrefix(name, prefix+"/"); ok {
			return r
		}
		return "../" + name
	}
	ctx := context.Background()
	var out []string
	for o := range f.raw.ListObjects(ctx, testBucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list objects: %v", o.Err)
		}
		out = append(out, rel(o.Key))
	}
	for u := range f.raw.ListIncompleteUploads(ctx, testBucket, "", true) {
		if u.Err != nil {
			if strings.Contains(u.Err.Error(), "NoSuchUpload") {
				break // gofakes3's answer for a bucket that never had an upload
			}
			t.Fatalf("list uploads: %v", u.Err)
		}
		out = append(out, "upload:"+rel(u.Key))
	}
	slices.Sort(out)
	return out
}

func (f *fakeS3) put(t *testing.T, name string, data []byte) {
	t.Helper()
	_, err := f.raw.PutObject(context.Background(), testBucket, name, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
}

// testClock is the fake server's clock, set back or forth from real time.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *testClock) set(offset time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = offset
}

func TestS3StaleTempCleanedAtOpen(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{}
	f := newFakeS3(t, fakeS3Options{clock: clock})
	core := minio.Core{Client: f.raw}
	startUpload := func(name string) {
		t.Helper()
		if _, err := core.NewMultipartUpload(ctx, testBucket, name, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("start upload %s: %v", name, err)
		}
	}
	clock.set(-2 * blob.StaleTempAge)
	f.put(t, "p/tmp/old", []byte("half an upload"))
	startUpload("p/tmp/old-multipart")
	f.put(t, "other/tmp/old", []byte("not under the store's prefix"))
	clock.set(0)
	f.put(t, "p/tmp/fresh", []byte("an upload in progress"))
	startUpload("p/tmp/fresh-multipart")

	s := f.store(t, "p", nil)
	want := []string{"../other/tmp/old", "tmp/fresh", "upload:tmp/fresh-multipart"}
	if got := s.raw(t); !slices.Equal(got, want) {
		t.Errorf("after OpenS3, stored = %v, want %v (stale uploads removed, recent ones kept)", got, want)
	}
}

func TestS3PrefixesAreSeparate(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t, fakeS3Options{})
	a := f.store(t, "site-a/blobs", nil)
	b := f.store(t, "/site-b/", nil) // slashes at either end are ignored
	root := f.store(t, "", nil)
	inA, err := a.Put(ctx, strings.NewReader("in a"))
	if err != nil {
		t.Fatal(err)
	}
	inRoot, err := root.Put(ctx, strings.NewReader("in the root"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, inA.Key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("store b sees a's blob: Stat err = %v", err)
	}
	if got := walkAll(t, b); len(got) != 0 {
		t.Errorf("store b walks %v, want nothing", got)
	}
	if got := walkAll(t, a); !slices.Equal(got, []blob.Info{inA}) {
		t.Errorf("store a walks %v, want [%v]", got, inA)
	}
	if got := walkAll(t, root); !slices.Equal(got, []blob.Info{inRoot}) {
		t.Errorf("the store at the bucket's root walks %v, want [%v]", got, inRoot)
	}
	want := []string{layout(inRoot.Key), "site-a/blobs/" + layout(inA.Key)}
	if got := f.list(t, ""); !slices.Equal(got, want) {
		t.Errorf("bucket = %v, want %v", got, want)
	}
}

func TestS3ParallelParts(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t, fakeS3Options{})
	s := f.store(t, "par", func(c *blob.S3Config) { c.Parallel = 3 })
	data := randomBytes(9, 4*blob.MinPartSize+3)
	info, err := s.Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.Open(ctx, info.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if body, err := io.ReadAll(rc); err != nil || !bytes.Equal(body, data) {
		t.Errorf("read back %d bytes (err %v), want the %d put", len(body), err, len(data))
	}
	if _, err := s.PutLimit(ctx, endless{}, 4*blob.MinPartSize); !errors.Is(err, blob.ErrTooLarge) {
		t.Errorf("PutLimit of an endless stream = %v, want ErrTooLarge", err)
	}
	if got, want := s.raw(t), []string{layout(info.Key)}; !slices.Equal(got, want) {
		t.Errorf("stored = %v, want %v", got, want)
	}
}

func TestS3PresignGet(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t, fakeS3Options{})
	s := f.store(t, "pre", nil).Store.(*blob.S3)
	data := []byte("a video, as far as this test knows")
	info, err := s.Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.PresignGet(ctx, info.Key, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.Path, layout(info.Key)) || u.Query().Get("X-Amz-Signature") == "" {
		t.Errorf("presigned URL %s does not name the blob with a signature", u)
	}
	if strings.Contains(u.String(), testSecret) {
		t.Errorf("presigned URL %s contains the secret key", u)
	}
	resp, err := f.srv.Client().Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Errorf("GET presigned URL: %s, %q; want 200 and the blob", resp.Status, body)
	}
	if _, err := s.PresignGet(ctx, "../x", time.Minute); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("PresignGet of a bad key = %v, want ErrInvalidKey", err)
	}
}

func TestOpenS3Refuses(t *testing.T) {
	f := newFakeS3(t, fakeS3Options{})
	tests := []struct {
		name   string
		modify func(*blob.S3Config)
		want   string
	}{
		{"missing bucket", func(c *blob.S3Config) { c.Bucket = "no-such-bucket" }, `bucket "no-such-bucket" does not exist`},
		{"no endpoint", func(c *blob.S3Config) { c.Endpoint = "" }, "no endpoint"},
		{"scheme in endpoint", func(c *blob.S3Config) { c.Endpoint = "https://" + c.Endpoint }, "without a scheme"},
		{"no bucket", func(c *blob.S3Config) { c.Bucket = "" }, "no bucket"},
		{"no secret", func(c *blob.S3Config) { c.SecretKey = "" }, "no access key or secret key"},
		{"small parts", func(c *blob.S3Config) { c.PartSize = 1 << 20 }, "part size"},
		{"negative parallel", func(c *blob.S3Config) { c.Parallel = -1 }, "parallel"},
		{"bad lookup", func(c *blob.S3Config) { c.BucketLookup = "sideways" }, "bucket lookup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := blob.OpenS3(context.Background(), f.config("x", tt.modify))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("OpenS3 = %v, %v; want an error containing %q", s, err, tt.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error %q contains the secret key", err)
			}
		})
	}
	// A wrong port: the connection is refused, and the error says where
	// without the secret.
	cfg := f.config("x", func(c *blob.S3Config) { c.Endpoint = "127.0.0.1:1" })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := blob.OpenS3(ctx, cfg); err == nil || strings.Contains(err.Error(), testSecret) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("OpenS3 of a closed port = %v; want an error naming the endpoint, without the secret", err)
	}
}

func TestS3ConfigHidesSecret(t *testing.T) {
	cfg := blob.S3Config{
		Endpoint:     "minio.lan:9000",
		Bucket:       "media",
		Prefix:       "/jnedu/blobs/",
		AccessKey:    "AKID",
		SecretKey:    "TOPSECRET",
		SessionToken: "TOKENSECRET",
		Region:       "cn-east-1",
		PartSize:     64 << 20,
		Parallel:     2,
	}
	want := "s3://AKID:***@minio.lan:9000/media/jnedu/blobs?parallel=2&part_size=67108864&region=cn-east-1&tls=false"
	if got := cfg.String(); got != want {
		t.Errorf("String = %s\nwant     %s", got, want)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("blob store", "cfg", cfg)
	shown := map[string]string{
		"%v":   fmt.Sprintf("%v", cfg),
		"%+v":  fmt.Sprintf("%+v", cfg),
		"%#v":  fmt.Sprintf("%#v", cfg),
		"%s":   fmt.Sprintf("%s", cfg),
		"*cfg": fmt.Sprintf("%+v", &cfg),
		"slog": logged.String(),
	}
	for how, s := range shown {
		if strings.Contains(s, "SECRET") {
			t.Errorf("%s shows a secret: %s", how, s)
		}
		if !strings.Contains(s, "minio.lan:9000") {
			t.Errorf("%s does not show the endpoint: %s", how, s)
		}
	}
	// The String of a URL-parsed config parses back to the same config.
	back, err := blob.ParseS3URL(strings.Replace(cfg.String(), "***", "TOPSECRET", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Prefix, cfg.SessionToken = "jnedu/blobs", ""
	if back.String() != cfg.String() || back.SecretKey != cfg.SecretKey {
		t.Errorf("round trip through String: %s, want %s", back, cfg)
	}
}

func TestParseS3URL(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		env     map[string]string
		want    blob.S3Config
		wantErr string // part of the error; "" means no error
	}{
		{
			name: "everything",
			url:  "s3://AK:Sup3r%2FSecret+Key@minio.lan:9000/media/jnedu/blobs?tls=false&region=cn-east-1&lookup=path&part_size=64MiB&parallel=4",
			want: blob.S3Config{Endpoint: "minio.lan:9000", Bucket: "media", Prefix: "jnedu/blobs", AccessKey: "AK", SecretKey: testSecret,
				Region: "cn-east-1", BucketLookup: "path", PartSize: 64 << 20, Parallel: 4},
		},
		{
			name: "defaults",
			url:  "s3://AK:SK@oss-cn-hangzhou.aliyuncs.com/jnedu-media",
			want: blob.S3Config{Endpoint: "oss-cn-hangzhou.aliyuncs.com", Bucket: "jnedu-media", AccessKey: "AK", SecretKey: "SK", UseTLS: true},
		},
		{
			name: "trailing slash, part size in bytes",
			url:  "s3://AK:SK@h/bucket/pre/?part_size=8388608&tls=1",
			want: blob.S3Config{Endpoint: "h", Bucket: "bucket", Prefix: "pre", AccessKey: "AK", SecretKey: "SK", UseTLS: true, PartSize: 8 << 20},
		},
		{
			name: "credentials from JNEDU_BLOB_*",
			url:  "s3://h/bucket",
			env:  map[string]string{blob.EnvAccessKey: "EAK", blob.EnvSecretKey: "ESK", "AWS_ACCESS_KEY_ID": "AWSAK", "AWS_SECRET_ACCESS_KEY": "AWSSK"},
			want: blob.S3Config{Endpoint: "h", Bucket: "bucket", AccessKey: "EAK", SecretKey: "ESK", UseTLS: true},
		},
		{
			name: "credentials from AWS_*",
			url:  "s3://h/bucket",
			env:  map[string]string{"AWS_ACCESS_KEY_ID": "AWSAK", "AWS_SECRET_ACCESS_KEY": "AWSSK", "AWS_SESSION_TOKEN": "TOK"},
			want: blob.S3Config{Endpoint: "h", Bucket: "bucket", AccessKey: "AWSAK", SecretKey: "AWSSK", SessionToken: "TOK", UseTLS: true},
		},
		{
			name: "access key in the URL, secret from the environment",
			url:  "s3://AK@h/bucket",
			env:  map[string]string{blob.EnvSecretKey: "ESK"},
			want: blob.S3Config{Endpoint: "h", Bucket: "bucket", AccessKey: "AK", SecretKey: "ESK", UseTLS: true},
		},
		{
			name: "the URL's credentials win",
			url:  "s3://AK:SK@h/bucket",
			env:  map[string]string{blob.EnvAccessKey: "EAK", blob.EnvSecretKey: "ESK"},
			want: blob.S3Config{Endpoint: "h", Bucket: "bucket", AccessKey: "AK", SecretKey: "SK", UseTLS: true},
		},
		{name: "no credentials", url: "s3://h/bucket", wantErr: "no credentials"},
		{name: "no secret", url: "s3://AK@h/bucket", wantErr: "no credentials"},
		{name: "no bucket", url: "s3://AK:SK@h", wantErr: "not a valid bucket name"},
		{name: "bad bucket", url: "s3://AK:SK@h/Media_Files", wantErr: "not a valid bucket name"},
		{name: "no host", url: "s3://AK:SK@/bucket", wantErr: "no host"},
		{name: "other scheme", url: "https://AK:SK@h/bucket", wantErr: `scheme "https" is not s3`},
		{name: "empty folder in prefix", url: "s3://AK:SK@h/bucket/a//b", wantErr: "empty folder"},
		{name: "bad tls", url: "s3://AK:SK@h/bucket?tls=maybe", wantErr: "tls="},
		{name: "small parts", url: "s3://AK:SK@h/bucket?part_size=1MiB", wantErr: "part_size="},
		{name: "bad parallel", url: "s3://AK:SK@h/bucket?parallel=0", wantErr: "parallel="},
		{name: "bad lookup", url: "s3://AK:SK@h/bucket?lookup=up", wantErr: "lookup="},
		{name: "unknown parameter", url: "s3://AK:SK@h/bucket?secret_key=Sup3r%2FSecret%2BKey", wantErr: `unknown parameter "secret_key"`},
		{name: "fragment", url: "s3://AK:SK@h/bucket#x", wantErr: "fragment"},
		// The secret's '/' is not escaped: the URL does not parse, and the
		// error must not quote it.
		{name: "unescaped secret", url: "s3://AK:Sup3r/Secret+Key@h/bucket", wantErr: "s3://AK:***@h/bucket: not a valid URL"},
		{name: "space in secret", url: "s3://AK:Sup3r Secret@h:9000/bucket", wantErr: "s3://AK:***@h:9000/bucket: not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := blob.ParseS3URL(tt.url, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseS3URL(%s) = %v, %v; want an error containing %q", tt.url, got, err, tt.wantErr)
				}
				for _, secret := range []string{"Sup3r", "Secret", "SK"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q shows the secret", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseS3URL(%s): %v", tt.url, err)
			}
			if !equalConfig(got, tt.want) {
				t.Errorf("ParseS3URL(%s)\n got %#v %q\nwant %#v %q", tt.url, got, got.SecretKey, tt.want, tt.want.SecretKey)
			}
		})
	}
}

// equalConfig compares configs including the secrets.
func equalConfig(a, b blob.S3Config) bool {
	return a.String() == b.String() && a.SecretKey == b.SecretKey && a.SessionToken == b.SessionToken && a.UseTLS == b.UseTLS
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"s3://AK:SK@h/b", "s3://AK:***@h/b"},
		{"s3://AK@h/b", "s3://AK@h/b"},
		{"s3://h/b", "s3://h/b"},
		{"s3://AK:se/cr@et@h:9000/b/p?tls=false", "s3://AK:***@h:9000/b/p?tls=false"},
		{"/srv/blobs", "/srv/blobs"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := blob.RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestOpen checks that configuration alone picks the store.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := newFakeS3(t, fakeS3Options{plainHTTP: true})
	t.Setenv(blob.EnvAccessKey, testAccess)
	t.Setenv(blob.EnvSecretKey, testSecret)
	s3URL := "s3://" + f.cfg.Endpoint + "/" + testBucket + "/jnedu?tls=false&region=us-east-1"
	tests := []struct {
		name     string
		url      string
		wantType string
		wantErr  string
	}{
		{"empty: the local root", "", "*blob.Local", ""},
		{"a folder", filepath.Join(dir, "elsewhere"), "*blob.Local", ""},
		{"file URL", "file://" + filepath.Join(dir, "file-url"), "*blob.Local", ""},
		{"s3 URL, credentials from the environment", s3URL, "*blob.S3", ""},
		{"s3 URL with credentials", "s3://" + testAccess + ":Sup3r%2FSecret%2BKey@" + f.cfg.Endpoint + "/" + testBucket + "?tls=false", "*blob.S3", ""},
		{"missing bucket", "s3://" + testAccess + ":Sup3r%2FSecret%2BKey@" + f.cfg.Endpoint + "/nope?tls=false", "", `bucket "nope" does not exist`},
		{"unknown scheme", "ftp://AK:Sup3r@h/b", "", `unknown scheme "ftp"`},
		{"empty file URL", "file:", "", "names no folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := blob.Open(ctx, tt.url, filepath.Join(dir, "root"))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open(%s) = %v, %v; want an error containing %q", tt.url, s, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "Sup3r") {
					t.Errorf("error %q shows the secret", err)
				}
				if s != nil {
					t.Errorf("Open failed but returned a store %#v", s)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%s): %v", tt.url, err)
			}
			if got := fmt.Sprintf("%T", s); got != tt.wantType {
				t.Fatalf("Open(%s) = %s, want %s", tt.url, got, tt.wantType)
			}
			if str, ok := s.(fmt.Stringer); ok && strings.Contains(str.String(), "Sup3r") {
				t.Errorf("String %s shows the secret", str)
			}
			data := []byte("chosen by configuration: " + tt.name)
			info, err := s.Put(ctx, bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if got, err := s.Stat(ctx, info.Key); err != nil || got != info {
				t.Errorf("Stat = %+v, %v; want %+v", got, err, info)
			}
		})
	}
	if got := files(t, filepath.Join(dir, "root")); len(got) != 1 {
		t.Errorf("the local root holds %v, want the one blob put through Open(\"\")", got)
	}
	if got := f.list(t, "jnedu"); len(got) != 2 {
		t.Errorf("the bucket holds %v, want the two blobs put through s3 URLs", got)
	}
}

// TestS3ReaderAfterDelete: a blob deleted while it is open reads as not
// found, not as a half-known S3 error.
func TestS3ReaderAfterDelete(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t, fakeS3Options{})
	s := f.store(t, "rd", nil)
	info, err := s.Put(ctx, strings.NewReader("soon gone"))
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.Open(ctx, info.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := s.Delete(ctx, info.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("reading a deleted blob: err = %v, want ErrNotFound", err)
	}
}

// TestS3Requests pins down how S3 puts and reads: small content in one PUT
// to its final name, large content through a temporary multipart upload and
// a server-side copy (none when the blob exists), reads by ranged GETs.
func TestS3Requests(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t, fakeS3Options{})
	s := f.store(t, "req", func(c *blob.S3Config) { c.Region = "us-east-1" })
	small := []byte("a small paper")
	large := randomBytes(10, severalParts) // three parts
	k, K := layout(keyOf(small)), layout(keyOf(large))
	tests := []struct {
		name string
		do   func() error
		want []string
	}{
		{"small put", func() error { _, err := s.Put(ctx, bytes.NewReader(small)); return err },
			[]string{"HEAD " + k, "PUT " + k}},
		{"small put again", func() error { _, err := s.Put(ctx, bytes.NewReader(small)); return err },
			[]string{"HEAD " + k}},
		{"large put", func() error { _, err := s.Put(ctx, bytes.NewReader(large)); return err },
			[]string{"POST tmp/*?uploads", "PUT tmp/*?uploadId", "PUT tmp/*?uploadId", "PUT tmp/*?uploadId", "POST tmp/*?uploadId",
				"HEAD tmp/*", "HEAD " + K, "PUT " + K + " copy from tmp/*", "DELETE tmp/*"}},
		{"large put again", func() error { _, err := s.Put(ctx, bytes.NewReader(large)); return err },
			[]string{"POST tmp/*?uploads", "PUT tmp/*?uploadId", "PUT tmp/*?uploadId", "PUT tmp/*?uploadId", "POST tmp/*?uploadId",
				"HEAD tmp/*", "HEAD " + K, "DELETE tmp/*"}},
		{"too large", func() error {
			_, err := s.PutLimit(ctx, bytes.NewReader(large), severalParts-1)
			if !errors.Is(err, blob.ErrTooLarge) {
				return fmt.Errorf("PutLimit = %v, want ErrTooLarge", err)
			}
			return nil
		}, []string{"POST tmp/*?uploads", "PUT tmp/*?uploadId", "PUT tmp/*?uploadId", "DELETE tmp/*?uploadId", "DELETE tmp/*"}},
		{"open, seek, read", func() error {
			rc, _, err := s.Open(ctx, keyOf(large))
			if err != nil {
				return err
			}
			defer rc.Close()
			if _, err := rc.Seek(1000, io.SeekStart); err != nil {
				return err
			}
			_, err = rc.Read(make([]byte, 10))
			return err
		}, []string{"HEAD " + K, "GET " + K + " Range bytes=1000-"}},
	}
	f.takeRequests("req")
	for _, tt := range tests {
		if err := tt.do(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := f.takeRequests("req"); !slices.Equal(got, tt.want) {
			t.Errorf("%s sent\n  %s\nwant\n  %s", tt.name, strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
		}
	}
}

// TestS3RefusesMangledUpload: a server that stores other bytes than were
// sent (gofakes3 keeps the chunk signatures of multipart parts sent over
// plain http) makes Put fail rather than store a wrong blob.
func TestS3RefusesMangledUpload(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t, fakeS3Options{plainHTTP: true})
	s := f.store(t, "plain", nil)
	_, err := s.Put(ctx, bytes.NewReader(randomBytes(11, severalParts)))
	if err == nil || !strings.Contains(err.Error(), "the service stored") {
		t.Fatalf("Put through a mangling server = %v, want an error", err)
	}
	if got := s.raw(t); len(got) != 0 {
		t.Errorf("stored = %v, want nothing", got)
	}
}
