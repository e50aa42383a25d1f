package site

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func chunkBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

func openLog(t *testing.T, dir string, fsys FS, seg int64) *ChunkLog {
	t.Helper()
	l, err := OpenChunkLog(LogOptions{Dir: dir, FS: fsys, SegmentSize: seg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestChunkLogConcurrentIdempotentConflict(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil, 256<<10) // small segments: rotation happens
	ctx := context.Background()
	const writers, per = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*per*2)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range per {
				k := ChunkKey{Attempt: fmt.Sprintf("att%02d", w), Item: "s1i1", Seq: uint32(s)}
				data := chunkBytes(uint64(w*1000+s), 1000+s*37)
				if err := l.Append(ctx, k, data); err != nil {
					errs <- err
				}
				// A resend (the first 200 was lost) is answered again.
				if err := l.Append(ctx, k, data); err != nil {
					errs <- fmt.Errorf("resend: %w", err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := l.Count(); got != writers*per {
		t.Fatalf("count %d, want %d", got, writers*per)
	}
	k := ChunkKey{Attempt: "att03", Item: "s1i1", Seq: 5}
	if err := l.Append(ctx, k, chunkBytes(99, 100)); !errors.Is(err, ErrConflict) {
		t.Fatalf("different bytes under a stored key: %v, want ErrConflict", err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if len(segs) < 2 {
		t.Errorf("%d segments: rotation did not happen", len(segs))
	}
	l.Close()
	l2 := openLog(t, dir, nil, 256<<10)
	for w := range writers {
		for s := range per {
			k := ChunkKey{Attempt: fmt.Sprintf("att%02d", w), Item: "s1i1", Seq: uint32(s)}
			got, err := l2.Read(k)
			if err != nil {
				t.Fatalf("%v after reopen: %v", k, err)
			}
			if !bytes.Equal(got, chunkBytes(uint64(w*1000+s), 1000+s*37)) {
				t.Fatalf("%v: bytes differ after reopen", k)
			}
		}
	}
	if err := l2.Append(ctx, k, chunkBytes(99, 100)); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflict after reopen: %v", err)
	}
}

func TestChunkLogTornTail(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil, 0)
	ctx := context.Background()
	for s := range 5 {
		if err := l.Append(ctx, ChunkKey{"a1", "i1", uint32(s)}, chunkBytes(uint64(s), 4000)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	seg := filepath.Join(dir, segName(1))
	st, _ := os.Stat(seg)
	full := st.Size()
	// A crash in the middle of the next batch: half a record at the end.
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	var h [headerLen]byte
	putHeader(h[:], ChunkKey{"a1", "i1", 5}, 4000, [32]byte{})
	f.Write(h[:])
	f.Write(chunkBytes(5, 1500))
	f.Close()
	l2 := openLog(t, dir, nil, 0)
	if l2.Count() != 5 {
		t.Fatalf("count %d after torn tail, want 5", l2.Count())
	}
	st, _ = os.Stat(seg)
	if st.Size() != full {
		t.Fatalf("segment is %d bytes, want the torn tail cut back to %d", st.Size(), full)
	}
	// A record whose bytes were damaged (checksum) ends the segment too.
	if err := l2.Append(ctx, ChunkKey{"a1", "i1", 5}, chunkBytes(5, 4000)); err != nil {
		t.Fatal(err)
	}
	l2.Close()
	b, _ := os.ReadFile(seg)
	b[len(b)-10] ^= 0xff
	os.WriteFile(seg, b, 0o600)
	l3 := openLog(t, dir, nil, 0)
	if l3.Count() != 5 || l3.Has(ChunkKey{"a1", "i1", 5}) {
		t.Fatalf("damaged last record kept: count %d", l3.Count())
	}
	for s := range 5 {
		if _, err := l3.Read(ChunkKey{"a1", "i1", uint32(s)}); err != nil {
			t.Fatalf("seq %d lost: %v", s, err)
		}
	}
}

// TestChunkLogDiskFull simulates the disk filling up with FaultFS: writes
// fail with ENOSPC after a budget of bytes.
func TestChunkLogDiskFull(t *testing.T) {
	dir := t.TempDir()
	ffs := NewFaultFS(OSFS{})
	var mu sync.Mutex
	var faults []error
	l, err := OpenChunkLog(LogOptions{Dir: dir, FS: ffs, OnFault: func(err error) {
		mu.Lock()
		faults = append(faults, err)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	acked := map[uint32][]byte{}
	ffs.SetBudget(3*(headerLen+2000) + 500) // three chunks and a bit
	for s := range 6 {
		data := chunkBytes(uint64(s), 2000)
		err := l.Append(ctx, ChunkKey{"a1", "i1", uint32(s)}, data)
		if err == nil {
			acked[uint32(s)] = data
		} else if !IsDiskFull(err) {
			t.Fatalf("seq %d: %v, want a disk-full error", s, err)
		}
	}
	if len(acked) != 3 {
		t.Fatalf("%d chunks acknowledged, want 3 before the disk filled", len(acked))
	}
	if l.Fault() == nil || !IsDiskFull(l.Fault()) {
		t.Fatalf("fault %v, want disk full", l.Fault())
	}
	mu.Lock()
	if len(faults) == 0 || faults[0] == nil {
		t.Fatalf("no fault reported: %v", faults)
	}
	mu.Unlock()
	// Space comes back: the retried chunks are written.
	ffs.SetBudget(-1)
	for s := 3; s < 6; s++ {
		data := chunkBytes(uint64(s), 2000)
		if err := l.Append(ctx, ChunkKey{"a1", "i1", uint32(s)}, data); err != nil {
			t.Fatalf("retry seq %d: %v", s, err)
		}
		acked[uint32(s)] = data
	}
	if l.Fault() != nil {
		t.Fatalf("fault still raised after a good write: %v", l.Fault())
	}
	l.Close()
	l2 := openLog(t, dir, nil, 0)
	for s, want := range acked {
		got, err := l2.Read(ChunkKey{"a1", "i1", s})
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("acknowledged seq %d lost after reopen: %v", s, err)
		}
	}
}
