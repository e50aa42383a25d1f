package blob_test

// The behaviour every Store shares, run against each implementation: Local
// in a temporary folder and S3 against an in-process S3 server (gofakes3).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"jnedu/internal/platform/blob"
)

// storeUnderTest is a fresh, empty store and a look behind it.
type storeUnderTest struct {
	blob.Store
	// raw lists, sorted, everything in the store's storage, named relative
	// to its root with "/": blobs ("ab/cd/abcd..."), temporary files or
	// objects ("tmp/..."), unfinished uploads ("upload:NAME") and anything
	// else that is there.
	raw func(t *testing.T) []string
	// plant writes a file or object at a name relative to the root, behind
	// the store's back.
	plant func(t *testing.T, name string, data []byte)
}

// storeKinds opens one empty store of each kind.
var storeKinds = []struct {
	name string
	open func(t *testing.T) *storeUnderTest
}{
	{"local", openLocalUnderTest},
	{"s3", func(t *testing.T) *storeUnderTest { return newFakeS3(t, fakeS3Options{}).store(t, "site/blobs", nil) }},
}

// eachStore runs test on a fresh store of each kind.
func eachStore(t *testing.T, test func(t *testing.T, s *storeUnderTest)) {
	t.Helper()
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			test(t, k.open(t))
		})
	}
}

func openLocalUnderTest(t *testing.T) *storeUnderTest {
	t.Helper()
	root := t.TempDir()
	s, err := blob.OpenLocal(root)
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	return &storeUnderTest{
		Store: s,
		raw:   func(t *testing.T) []string { return files(t, root) },
		plant: func(t *testing.T, name string, data []byte) {
			t.Helper()
			p := filepath.Join(root, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// files lists every regular file under root (relative, with "/"), tmp
// included.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// layout is where a blob lives, relative to the store's root.
func layout(key string) string { return path.Join(key[:2], key[2:4], key) }

func keyOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func walkAll(t *testing.T, s blob.Store) []blob.Info {
	t.Helper()
	var out []blob.Info
	if err := s.Walk(context.Background(), func(i blob.Info) error {
		out = append(out, i)
		return nil
	}); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return out
}

// severalParts is longer than two parts of an S3 multipart upload at the
// smallest part size the fake S3 store uses, so Put takes the multipart path.
const severalParts = 2*blob.MinPartSize + 17

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0}},
		{"text", []byte("听说读写 listening and speaking\n")},
		{"larger than a copy buffer", randomBytes(1, 300<<10+17)},
		{"several upload parts", randomBytes(2, severalParts)},
	}
	eachStore(t, func(t *testing.T, s *storeUnderTest) {
		ctx := context.Background()
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				info, err := s.Put(ctx, bytes.NewReader(tt.data))
				if err != nil {
					t.Fatalf("Put: %v", err)
				}
				want := blob.Info{Key: keyOf(tt.data), Size: int64(len(tt.data))}
				if info != want {
					t.Fatalf("Put = %+v, want %+v", info, want)
				}
				if got, err := s.Stat(ctx, info.Key); err != nil || got != want {
					t.Errorf("Stat = %+v, %v; want %+v", got, err, want)
				}
				rc, got, err := s.Open(ctx, info.Key)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer rc.Close()
				if got != want {
					t.Errorf("Open info = %+v, want %+v", got, want)
				}
				body, err := io.ReadAll(rc)
				if err != nil || !bytes.Equal(body, tt.data) {
					t.Fatalf("read back %d bytes (err %v), want the %d bytes put", len(body), err, len(tt.data))
				}
				if len(tt.data) > 1 {
					off := int64(len(tt.data) / 2)
					if _, err := rc.Seek(off, io.SeekStart); err != nil {
						t.Fatalf("Seek: %v", err)
					}
					rest, err := io.ReadAll(rc)
					if err != nil || !bytes.Equal(rest, tt.data[off:]) {
						t.Errorf("after Seek(%d) read %d bytes (err %v), want %d", off, len(rest), err, len(tt.data)-int(off))
					}
				}
			})
		}
		got := walkAll(t, s)
		if len(got) != len(tests) {
			t.Errorf("Walk saw %d blobs, want %d", len(got), len(tests))
		}
		var want []string
		for _, i := range got {
			want = append(want, layout(i.Key))
		}
		if raw := s.raw(t); !slices.Equal(raw, want) {
			t.Errorf("stored = %v, want only the blobs %v (no temporary files or uploads)", raw, want)
		}
	})
}

// TestSeekAndRanges checks what serving video needs: seeking, reading at
// offsets, and http.ServeContent answering range requests.
func TestSeekAndRanges(t *testing.T) {
	data := randomBytes(3, 1<<20+5)
	eachStore(t, func(t *testing.T, s *storeUnderTest) {
		ctx := context.Background()
		info, err := s.Put(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		rc, _, err := s.Open(ctx, info.Key)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()

		size := int64(len(data))
		seeks := []struct {
			name   string
			offset int64
			whence int
			want   int64 // position, or -1 for an error
			read   []byte
		}{
			{"end", 0, io.SeekEnd, size, nil},
			{"start", 0, io.SeekStart, 0, data[:10]},
			{"current", 100, io.SeekCurrent, 110, data[110:120]},
			{"back from end", -7, io.SeekEnd, size - 7, data[size-7:]},
			{"back from current", -3, io.SeekCurrent, size - 3, data[size-3:]}, // after reading to the end
			{"middle", 1 << 19, io.SeekStart, 1 << 19, data[1<<19 : 1<<19+4096]},
			{"past the end", size + 10, io.SeekStart, size + 10, nil},
			{"negative", -1, io.SeekStart, -1, nil},
			{"before start", -size - 1, io.SeekEnd, -1, nil},
		}
		for _, sk := range seeks {
			pos, err := rc.Seek(sk.offset, sk.whence)
			if sk.want < 0 {
				if err == nil {
					t.Errorf("Seek %s (%d, %d) = %d, want an error", sk.name, sk.offset, sk.whence, pos)
				}
				continue
			}
			if err != nil || pos != sk.want {
				t.Errorf("Seek %s (%d, %d) = %d, %v; want %d", sk.name, sk.offset, sk.whence, pos, err, sk.want)
				continue
			}
			got := make([]byte, len(sk.read))
			if _, err := io.ReadFull(rc, got); err != nil || !bytes.Equal(got, sk.read) {
				t.Errorf("after Seek %s: read %d bytes (err %v), want %d bytes from %d", sk.name, len(got), err, len(sk.read), pos)
			}
			if sk.want >= size {
				if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Errorf("Read at %d of %d = %d, %v; want 0, io.EOF", sk.want, size, n, err)
				}
			}
		}

		if ra, ok := rc.(io.ReaderAt); !ok {
			t.Errorf("Open returned a %T, which is not an io.ReaderAt", rc)
		} else {
			reads := []struct {
				off     int64
				n       int
				wantN   int
				wantErr error
			}{
				{0, 100, 100, nil},
				{size - 50, 50, 50, nil},
				{size - 50, 80, 50, io.EOF},
				{size, 1, 0, io.EOF},
			}
			for _, r := range reads {
				p := make([]byte, r.n)
				n, err := ra.ReadAt(p, r.off)
				badErr := r.wantErr != nil && !errors.Is(err, r.wantErr) ||
					r.wantErr == nil && err != nil && err != io.EOF // io.EOF is allowed with a full read
				if n != r.wantN || badErr {
					t.Errorf("ReadAt(%d bytes at %d) = %d, %v; want %d, %v", r.n, r.off, n, err, r.wantN, r.wantErr)
				}
				if !bytes.Equal(p[:n], data[r.off:r.off+int64(n)]) {
					t.Errorf("ReadAt(%d bytes at %d) read other bytes", r.n, r.off)
				}
			}
		}

		ranges := []struct {
			header     string
			wantStatus int
			want       []byte
		}{
			{"", http.StatusOK, data},
			{"bytes=100-199", http.StatusPartialContent, data[100:200]},
			{"bytes=-10", http.StatusPartialContent, data[size-10:]},
			{"bytes=1048000-", http.StatusPartialContent, data[1048000:]},
			{"bytes=0-0", http.StatusPartialContent, data[:1]},
			{"bytes=99999999-", http.StatusRequestedRangeNotSatisfiable, nil},
		}
		for _, r := range ranges {
			req := httptest.NewRequest(http.MethodGet, "/video.mp4", nil)
			if r.header != "" {
				req.Header.Set("Range", r.header)
			}
			w := httptest.NewRecorder()
			rc, _, err := s.Open(ctx, info.Key)
			if err != nil {
				t.Fatal(err)
			}
			http.ServeContent(w, req, "video.mp4", time.Time{}, rc)
			rc.Close()
			if w.Code != r.wantStatus {
				t.Errorf("Range %q: status %d, want %d", r.header, w.Code, r.wantStatus)
				continue
			}
			if r.want != nil && !bytes.Equal(w.Body.Bytes(), r.want) {
				t.Errorf("Range %q: %d bytes, want %d", r.header, w.Body.Len(), len(r.want))
			}
		}
	})
}

func TestDedup(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"small", []byte("same content twice")},
		{"several upload parts", randomBytes(4, severalParts)},
	}
	eachStore(t, func(t *testing.T, s *storeUnderTest) {
		ctx := context.Background()
		var want []string
		for _, tt := range tests {
			a, err := s.Put(ctx, bytes.NewReader(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.Put(ctx, bytes.NewReader(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if a != b {
				t.Errorf("%s: second Put = %+v, want %+v", tt.name, b, a)
			}
			want = append(want, layout(a.Key))
		}
		slices.Sort(want)
		if got := s.raw(t); !slices.Equal(got, want) {
			t.Errorf("stored = %v, want %v", got, want)
		}
	})
}

// endless yields bytes forever: a limit must stop reading it.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestPutLimit(t *testing.T) {
	big := randomBytes(5, severalParts)
	tests := []struct {
		name    string
		r       func() io.Reader
		max     int64
		wantErr error
	}{
		{"under", text("12345"), 10, nil},
		{"exactly", text("1234567890"), 10, nil},
		{"empty with zero limit", text(""), 0, nil},
		{"one over", text("12345678901"), 10, blob.ErrTooLarge},
		{"zero limit", text("1"), 0, blob.ErrTooLarge},
		{"endless stream", func() io.Reader { return endless{} }, 1 << 20, blob.ErrTooLarge},
		{"several parts, exactly", func() io.Reader { return bytes.NewReader(big) }, severalParts, nil},
		{"several parts, one over", func() io.Reader { return bytes.NewReader(big) }, severalParts - 1, blob.ErrTooLarge},
		{"endless stream past several parts", func() io.Reader { return endless{} }, 3 * blob.MinPartSize, blob.ErrTooLarge},
	}
	eachStore(t, func(t *testing.T, s *storeUnderTest) {
		ctx := context.Background()
		var want []string
		for _, tt := range tests {
			info, err := s.PutLimit(ctx, tt.r(), tt.max)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("%s: PutLimit err = %v, want %v", tt.name, err, tt.wantErr)
			}
			if tt.wantErr == nil {
				if info.Size > tt.max {
					t.Errorf("%s: stored %d bytes, over the limit %d", tt.name, info.Size, tt.max)
				}
				want = append(want, layout(info.Key))
			}
			// After a refused put nothing is left: no blob, no temporary
			// file or object, no unfinished upload.
			slices.Sort(want)
			if got := s.raw(t); !slices.Equal(got, want) {
				t.Errorf("%s: stored = %v, want %v", tt.name, got, want)
			}
		}
		if _, err := s.PutLimit(ctx, strings.NewReader(""), -1); err == nil {
			t.Error("PutLimit with a negative limit succeeded")
		}
	})
}

func text(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }

func TestBadKeys(t *testing.T) {
	valid := keyOf([]byte("x"))
	keys := []struct{ name, key string }{
		{"empty", ""},
		{"short", valid[:63]},
		{"long", valid + "0"},
		{"upper case", strings.ToUpper(valid)},
		{"not hex", "g" + valid[1:]},
		{"traversal", "../../../../etc/passwd" + valid[22:]},
		{"slash", valid[:2] + "/" + valid[3:]},
		{"absolute", "/" + valid[1:]},
		{"tmp folder", "tmp"},
	}
	for _, tt := range keys {
		if err := blob.ValidateKey(tt.key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("ValidateKey(%s) err = %v, want ErrInvalidKey", tt.name, err)
		}
	}
	if err := blob.ValidateKey(valid); err != nil {
		t.Errorf("ValidateKey(%s) = %v, want nil", valid, err)
	}
	eachStore(t, func(t *testing.T, s *storeUnderTest) {
		ctx := context.Background()
		for _, tt := range keys {
			if _, _, err := s.Open(ctx, tt.key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("%s: Open err = %v, want ErrInvalidKey", tt.name, err)
			}
			if _, err := s.Stat(ctx, tt.key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("%s: Stat err = %v, want ErrInvalidKey", tt.name, err)
			}
			if err := s.Delete(ctx, tt.key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("%s: Delete err = %v, want ErrInvalidKey", tt.name, err)
			}
		}
	})
}

func TestConcurrentPutSameContent(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		n    int
	}{
		{"small", randomBytes(7, 200<<10), 16},
		{"several upload parts", randomBytes(8, severalParts), 4},
	}
	eachStore(t, func(t *testing.T, s *storeUnderTest) {
		ctx := context.Background()
		var wantRaw []string
		for _, tt := range tests {
			var wg sync.WaitGroup
			infos := make([]blob.Info, tt.n)
			errs := make([]error, tt.n)
			for i := range tt.n {
				wg.Go(func() { infos[i], errs[i] = s.Put(ctx, bytes.NewReader(tt.data)) })
			}
			wg.Wait()
			want := blob.Info{Key: keyOf(tt.data), Size: int64(len(tt.data))}
			for i := range tt.n {
				if errs[i] != nil || infos[i] != want {
					t.Errorf("%s: put %d = %+v, %v; want %+v", tt.name, i, infos[i], errs[i], want)
				}
			}
			rc, _, err := s.Open(ctx, want.Key)
			if err != nil {
				t.Fatal(err)
			}
			if body, _ := io.ReadAll(rc); !bytes.Equal(body, tt.data) {
				t.Errorf("%s: stored content differs from what was put", tt.name)
			}
			rc.Close()
			wantRaw = append(wantRaw, layout(want.Key))
		}
		slices.Sort(wantRaw)
		if got := s.raw(t); !slices.Equal(got, wantRaw) {
			t.Errorf("stored = %v, want %v", got, wantRaw)
		}
	})
}

func TestNotFound(t *testing.T) {
	eachStore(t, func(t *testing.T, s *storeUnderTest) {
		ctx := context.Background()
		key := keyOf([]byte("never stored"))
		if _, _, err := s.Open(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Open err = %v, want ErrNotFound", err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat err = %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete of a missing blob = %v, want nil", err)
		}
	})
}

func TestDelete(t *testing.T) {
	eachStore(t, func(t *testing.T, s *storeUnderTest) {
		ctx := context.Background()
		keep, _ := s.Put(ctx, strings.NewReader("keep"))
		gone, _ := s.Put(ctx, strings.NewReader("gone"))
		if err := s.Delete(ctx, gone.Key); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Stat(ctx, gone.Key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat after Delete: err = %v, want ErrNotFound", err)
		}
		if _, _, err := s.Open(ctx, gone.Key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Open after Delete: err = %v, want ErrNotFound", err)
		}
		if got := walkAll(t, s); len(got) != 1 || got[0] != keep {
			t.Errorf("Walk after Delete = %+v, want [%+v]", got, keep)
		}
		if err := s.Delete(ctx, gone.Key); err != nil {
			t.Errorf("second Delete = %v, want nil", err)
		}
		// A deleted blob can be put again.
		if _, err := s.Put(ctx, strings.NewReader("gone")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, gone.Key); err != nil {
			t.Errorf("Stat after re-put: %v", err)
		}
	})
}

func TestWalk(t *testing.T) {
	eachStore(t, func(t *testing.T, s *storeUnderTest) {
		ctx := context.Background()
		if got := walkAll(t, s); len(got) != 0 {
			t.Errorf("Walk of an empty store = %v", got)
		}
		var want []blob.Info
		for i := range 20 {
			info, err := s.Put(ctx, bytes.NewReader(randomBytes(uint64(i), i*10)))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, info)
		}
		slices.SortFunc(want, func(a, b blob.Info) int { return strings.Compare(a.Key, b.Key) })
		// Stray files that do not follow the layout are not blobs.
		k := want[0].Key
		for _, p := range []string{
			"README",
			"tmp/put-123",
			k[:2] + "/stray",
			k[:2] + "/" + k[2:4] + "/notakey",
			k[:2] + "/" + k[2:4] + "/" + strings.Repeat("0", 64), // valid key in the wrong folder
			"zz/" + k[2:4] + "/" + k,
		} {
			s.plant(t, p, []byte("junk"))
		}
		if got := walkAll(t, s); !slices.Equal(got, want) {
			t.Errorf("Walk = %v\nwant %v (in key order)", got, want)
		}
		stop := errors.New("stop")
		calls := 0
		err := s.Walk(ctx, func(blob.Info) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("Walk with a failing fn: err %v after %d calls, want stop after 1", err, calls)
		}
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Walk(canceled, func(blob.Info) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("Walk with a canceled context = %v, want context.Canceled", err)
		}
	})
}

func TestCanceled(t *testing.T) {
	eachStore(t, func(t *testing.T, s *storeUnderTest) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Put(ctx, endless{}); !errors.Is(err, context.Canceled) {
			t.Errorf("Put err = %v, want context.Canceled", err)
		}
		// Canceled in the middle of a stream, early and after several
		// upload parts.
		for _, after := range []int{0, 3 * blob.MinPartSize} {
			ctx, cancel := context.WithCancel(context.Background())
			r := io.MultiReader(io.LimitReader(endless{}, int64(after)), strings.NewReader("start"), readerFunc(func(p []byte) (int, error) {
				cancel()
				return copy(p, "more"), nil
			}), endless{})
			if _, err := s.Put(ctx, r); !errors.Is(err, context.Canceled) {
				t.Errorf("Put canceled after %d bytes: err = %v, want context.Canceled", after, err)
			}
		}
		if got := s.raw(t); len(got) != 0 {
			t.Errorf("stored after canceled puts = %v, want nothing", got)
		}
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
