package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestLocalAdopt(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	l, err := OpenLocal(filepath.Join(root, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("一节课的录像 / a lesson recording")
	sum := sha256.Sum256(content)
	key := hex.EncodeToString(sum[:])
	src := filepath.Join(root, "upload.bin")
	if err := os.WriteFile(src, content, 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := l.Adopt(ctx, src, key)
	if err != nil || info.Key != key || info.Size != int64(len(content)) {
		t.Fatalf("Adopt = %+v, %v", info, err)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Errorf("the adopted file is still at its old path (copied, not moved): %v", err)
	}
	rc, got, err := l.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != string(content) || got.Size != info.Size {
		t.Errorf("read back %q (%d bytes)", b, got.Size)
	}
	// The same content again: already stored, the new file is left alone.
	os.WriteFile(src, content, 0o600)
	if _, err := l.Adopt(ctx, src, key); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Errorf("a duplicate was moved over the stored blob: %v", err)
	}
	if _, err := l.Adopt(ctx, src, "../../etc/passwd"); err == nil {
		t.Error("a bad key was accepted")
	}
	if _, err := l.Adopt(ctx, filepath.Join(root, "missing"), key); err == nil {
		t.Error("a missing file was adopted")
	}
}
