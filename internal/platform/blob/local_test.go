package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"jnedu/internal/platform/blob"
)

func openStore(t *testing.T) (*blob.Local, string) {
	t.Helper()
	root := t.TempDir()
	s, err := blob.OpenLocal(root)
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	return s, root
}

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

// files lists every regular file under root (relative paths), tmp included.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
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

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0}},
		{"text", []byte("听说读写 listening and speaking\n")},
		{"larger than a copy buffer", randomBytes(1, 300<<10+17)},
	}
	s, root := openStore(t)
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
				rest, _ := io.ReadAll(rc)
				if !bytes.Equal(rest, tt.data[off:]) {
					t.Errorf("after Seek(%d) read %d bytes, want %d", off, len(rest), len(tt.data)-int(off))
				}
			}
			p, err := s.Path(info.Key)
			if err != nil {
				t.Fatal(err)
			}
			wantPath := filepath.Join(root, info.Key[:2], info.Key[2:4], info.Key)
			if p != wantPath {
				t.Errorf("Path = %s, want %s", p, wantPath)
			}
		})
	}
	if got := walkAll(t, s); len(got) != len(tests) {
		t.Errorf("Walk saw %d blobs, want %d", len(got), len(tests))
	}
}

func TestDedup(t *testing.T) {
	ctx := context.Background()
	s, root := openStore(t)
	data := []byte("same content twice")
	a, err := s.Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.Path(a.Key)
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("second Put = %+v, want %+v", b, a)
	}
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("the second Put rewrote the stored file")
	}
	want := []string{filepath.Join(a.Key[:2], a.Key[2:4], a.Key)}
	if got := files(t, root); !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
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
	ctx := context.Background()
	tests := []struct {
		name    string
		r       io.Reader
		max     int64
		wantErr error
	}{
		{"under", strings.NewReader("12345"), 10, nil},
		{"exactly", strings.NewReader("1234567890"), 10, nil},
		{"empty with zero limit", strings.NewReader(""), 0, nil},
		{"one over", strings.NewReader("12345678901"), 10, blob.ErrTooLarge},
		{"zero limit", strings.NewReader("1"), 0, blob.ErrTooLarge},
		{"endless stream", endless{}, 1 << 20, blob.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, root := openStore(t)
			info, err := s.PutLimit(ctx, tt.r, tt.max)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("PutLimit err = %v, want %v", err, tt.wantErr)
			}
			got := files(t, root)
			if tt.wantErr != nil {
				if len(got) != 0 {
					t.Errorf("after a refused put, files = %v, want none (no blob, no temp)", got)
				}
				return
			}
			if len(got) != 1 || info.Size > tt.max {
				t.Errorf("files = %v, info %+v; want one blob within the limit", got, info)
			}
		})
	}
	s, _ := openStore(t)
	if _, err := s.PutLimit(ctx, strings.NewReader(""), -1); err == nil {
		t.Error("PutLimit with a negative limit succeeded")
	}
}

func TestBadKeys(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	valid := keyOf([]byte("x"))
	tests := []struct{ name, key string }{
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := blob.ValidateKey(tt.key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("ValidateKey err = %v, want ErrInvalidKey", err)
			}
			if _, _, err := s.Open(ctx, tt.key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("Open err = %v, want ErrInvalidKey", err)
			}
			if _, err := s.Stat(ctx, tt.key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("Stat err = %v, want ErrInvalidKey", err)
			}
			if err := s.Delete(ctx, tt.key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("Delete err = %v, want ErrInvalidKey", err)
			}
			if _, err := s.Path(tt.key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("Path err = %v, want ErrInvalidKey", err)
			}
		})
	}
	if err := blob.ValidateKey(valid); err != nil {
		t.Errorf("ValidateKey(%s) = %v, want nil", valid, err)
	}
}

func TestConcurrentPutSameContent(t *testing.T) {
	ctx := context.Background()
	s, root := openStore(t)
	data := randomBytes(7, 200<<10)
	const n = 16
	var wg sync.WaitGroup
	infos := make([]blob.Info, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			infos[i], errs[i] = s.Put(ctx, bytes.NewReader(data))
		}()
	}
	wg.Wait()
	want := blob.Info{Key: keyOf(data), Size: int64(len(data))}
	for i := range n {
		if errs[i] != nil || infos[i] != want {
			t.Errorf("put %d = %+v, %v; want %+v", i, infos[i], errs[i], want)
		}
	}
	if got, wantFiles := files(t, root), []string{filepath.Join(want.Key[:2], want.Key[2:4], want.Key)}; !slices.Equal(got, wantFiles) {
		t.Errorf("files = %v, want %v", got, wantFiles)
	}
	rc, _, err := s.Open(ctx, want.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if body, _ := io.ReadAll(rc); !bytes.Equal(body, data) {
		t.Error("stored content differs from what was put")
	}
}

func TestNotFound(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
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
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	keep, _ := s.Put(ctx, strings.NewReader("keep"))
	gone, _ := s.Put(ctx, strings.NewReader("gone"))
	if err := s.Delete(ctx, gone.Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Stat(ctx, gone.Key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat after Delete: err = %v, want ErrNotFound", err)
	}
	if got := walkAll(t, s); len(got) != 1 || got[0] != keep {
		t.Errorf("Walk after Delete = %+v, want [%+v]", got, keep)
	}
	// A deleted blob can be put again.
	if _, err := s.Put(ctx, strings.NewReader("gone")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, gone.Key); err != nil {
		t.Errorf("Stat after re-put: %v", err)
	}
}

func TestWalk(t *testing.T) {
	ctx := context.Background()
	s, root := openStore(t)
	var want []blob.Info
	for i := range 20 {
		info, err := s.Put(ctx, bytes.NewReader(randomBytes(uint64(i), i*10)))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, info)
	}
	// Stray files that do not follow the layout are not blobs.
	k := want[0].Key
	for _, p := range []string{
		"README",
		filepath.Join("tmp", "put-123"),
		filepath.Join(k[:2], "stray"),
		filepath.Join(k[:2], k[2:4], "notakey"),
		filepath.Join(k[:2], k[2:4], strings.Repeat("0", 64)), // valid key in the wrong folder
	} {
		if err := os.WriteFile(filepath.Join(root, p), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got := walkAll(t, s)
	if len(got) != len(want) {
		t.Fatalf("Walk saw %d blobs, want %d", len(got), len(want))
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].Key >= got[i].Key {
			t.Fatalf("Walk order: %s before %s", got[i-1].Key, got[i].Key)
		}
	}
	sizes := map[string]int64{}
	for _, w := range want {
		sizes[w.Key] = w.Size
	}
	for _, g := range got {
		if sz, ok := sizes[g.Key]; !ok || sz != g.Size {
			t.Errorf("Walk gave %+v, not a blob that was put", g)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := s.Walk(ctx, func(blob.Info) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Walk with a failing fn: err %v after %d calls, want stop after 1", err, calls)
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, root := openStore(t)
	cancel()
	if _, err := s.Put(ctx, endless{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put err = %v, want context.Canceled", err)
	}
	// Canceled in the middle of a stream.
	ctx2, cancel2 := context.WithCancel(context.Background())
	r := io.MultiReader(strings.NewReader("start"), readerFunc(func(p []byte) (int, error) {
		cancel2()
		return copy(p, "more"), nil
	}), endless{})
	if _, err := s.Put(ctx2, r); !errors.Is(err, context.Canceled) {
		t.Errorf("Put canceled mid-stream: err = %v, want context.Canceled", err)
	}
	if got := files(t, root); len(got) != 0 {
		t.Errorf("files after canceled puts = %v, want none", got)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestStaleTempCleanedAtOpen(t *testing.T) {
	root := t.TempDir()
	if _, err := blob.OpenLocal(root); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(root, "tmp", "put-stale")
	fresh := filepath.Join(root, "tmp", "put-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("half an upload"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * blob.StaleTempAge)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.OpenLocal(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temp file still there (err %v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("recent temp file (an upload in progress) was removed: %v", err)
	}
}
