package blob_test

// What only Local does; the behaviour it shares with S3 is in store_test.go.

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

func TestLocalPath(t *testing.T) {
	ctx := context.Background()
	s, root := openStore(t)
	info, err := s.Put(ctx, strings.NewReader("served by a reverse proxy"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Path(info.Key)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, info.Key[:2], info.Key[2:4], info.Key); p != want {
		t.Errorf("Path = %s, want %s", p, want)
	}
	if _, err := s.Path("../" + info.Key[3:]); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("Path of a bad key: err = %v, want ErrInvalidKey", err)
	}
}

func TestLocalDedupKeepsFile(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
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
	if _, err := s.Put(ctx, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("the second Put rewrote the stored file")
	}
}

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
