package site

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The chunk log is where recorded audio lands first: an append-only log of
// segment files written by one goroutine. Every chunk waiting to be written
// is collected into one batch, written with one write and made durable with
// one fdatasync, and only then is every chunk of the batch acknowledged
// (group commit). A chunk that was acknowledged is therefore on stable
// storage, whatever happens next.
//
// Record layout (little endian), header then payload:
//
//	0   magic "JNC1"
//	4   attempt length (1 byte), item length (1 byte), 2 bytes zero
//	8   attempt ID, 32 bytes zero-padded
//	40  item ID, 32 bytes zero-padded
//	72  sequence number (uint32)
//	76  payload length (uint32)
//	80  SHA-256 of the payload (32 bytes)
//	112 CRC-32C of bytes 0..111 and the payload (uint32)
//	116 payload
//
// On start every segment is scanned; a record whose header or checksum does
// not verify ends its segment (a torn tail after a crash), and the last
// segment is truncated there. The index (attempt, item, seq) → place is
// rebuilt in memory.

// Chunk limits.
const (
	MaxChunkBytes = 256 << 10
	maxIDLen      = 32
	headerLen     = 116
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors of the chunk log.
var (
	ErrConflict  = errors.New("chunk log: a different chunk was already stored under this sequence number")
	ErrDiskFull  = errors.New("chunk log: the disk is full (or below its reserve)")
	ErrLogClosed = errors.New("chunk log: closed")
)

// ChunkKey names one chunk.
type ChunkKey struct {
	Attempt string
	Item    string
	Seq     uint32
}

type itemKey struct{ attempt, item string }

type chunkLoc struct {
	seg int
	off int64 // of the payload
	n   uint32
	sum [32]byte
}

// LogOptions configure the chunk log.
type LogOptions struct {
	Dir         string
	FS          FS    // nil: OSFS
	SegmentSize int64 // rotate after this many bytes (default 64 MiB)
	MaxBatch    int   // bytes in one group commit (default 8 MiB)
	// Reserve is the free space the log keeps: it refuses chunks (and
	// raises a fault) before the disk is actually full.
	Reserve int64
	// OnFault is called when writing starts failing (err) and when it
	// works again (nil).
	OnFault func(err error)
	Log     *slog.Logger
}

// ChunkLog is the group-commit log. Append is safe for concurrent use.
type ChunkLog struct {
	opt  LogOptions
	fs   FS
	reqs chan *appendReq
	quit chan struct{}
	done chan struct{}

	mu    sync.RWMutex
	index map[itemKey]map[uint32]chunkLoc
	files map[int]File // every segment, for reading (the current one too)
	count int64

	// writer state (writer goroutine only, after Open)
	cur      File
	curID    int
	curOff   int64
	newSeg   bool // the current segment's tail could not be cleaned: start a new one
	faultErr atomic.Pointer[error]
	closed   atomic.Bool
	lock     *os.File
}

type appendReq struct {
	key  ChunkKey
	data []byte
	sum  [32]byte
	done chan error
}

// OpenChunkLog opens (or creates) the log in opt.Dir, recovering after a
// crash.
func OpenChunkLog(opt LogOptions) (*ChunkLog, error) {
	if opt.FS == nil {
		opt.FS = OSFS{}
	}
	if opt.SegmentSize <= 0 {
		opt.SegmentSize = 64 << 20
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 8 << 20
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	l := &ChunkLog{opt: opt, fs: opt.FS, reqs: make(chan *appendReq, 4096), quit: make(chan struct{}),
		done: make(chan struct{}), index: map[itemKey]map[uint32]chunkLoc{}, files: map[int]File{}}
	if err := l.fs.MkdirAll(opt.Dir, 0o750); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(opt.Dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("chunk log %s is in use by another site node process", opt.Dir)
	}
	l.lock = lock
	if err := l.recover(); err != nil {
		lock.Close()
		l.closeFiles()
		return nil, err
	}
	go l.writer()
	return l, nil
}

func segName(id int) string { return fmt.Sprintf("seg-%08d.log", id) }

func (l *ChunkLog) recover() error {
	ents, err := l.fs.ReadDir(l.opt.Dir)
	if err != nil {
		return err
	}
	var ids []int
	for _, e := range ents {
		var id int
		if _, err := fmt.Sscanf(e.Name(), "seg-%08d.log", &id); err == nil && e.Name() == segName(id) {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	for i, id := range ids {
		last := i == len(ids)-1
		flag := os.O_RDONLY
		if last {
			flag = os.O_RDWR
		}
		f, err := l.fs.OpenFile(filepath.Join(l.opt.Dir, segName(id)), flag, 0o600)
		if err != nil {
			return err
		}
		l.files[id] = f
		end, size, err := l.scan(id, f)
		if err != nil {
			return fmt.Errorf("scan %s: %w", segName(id), err)
		}
		if end < size {
			l.opt.Log.Warn("chunk log: dropped a torn or damaged tail", "segment", segName(id), "valid", end, "size", size)
			if last {
				if err := f.Truncate(end); err != nil {
					return err
				}
				if err := f.Datasync(); err != nil {
					return err
				}
			}
		}
		if last {
			l.cur, l.curID, l.curOff = f, id, end
			if end < size {
				// Truncated: fine to continue. A damaged non-last
				// segment is never written again.
			}
		}
	}
	if l.cur == nil {
		return l.rotate(1)
	}
	if l.curOff >= l.opt.SegmentSize {
		return l.rotate(l.curID + 1)
	}
	return nil
}

// scan reads one segment, indexing every valid record; it returns where
// the valid records end and the file's size.
func (l *ChunkLog) scan(id int, f File) (end, size int64, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	size = st.Size()
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 1<<20)
	hdr := make([]byte, headerLen)
	payload := make([]byte, MaxChunkBytes)
	for end < size {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return end, size, nil
		}
		key, n, sum, crc, ok := parseHeader(hdr)
		if !ok || end+headerLen+int64(n) > size {
			return end, size, nil
		}
		p := payload[:n]
		if _, err := io.ReadFull(r, p); err != nil {
			return end, size, nil
		}
		c := crc32.Update(crc32.Checksum(hdr[:112], castagnoli), castagnoli, p)
		if c != crc {
			return end, size, nil
		}
		ik := itemKey{key.Attempt, key.Item}
		m := l.index[ik]
		if m == nil {
			m = map[uint32]chunkLoc{}
			l.index[ik] = m
		}
		if _, dup := m[key.Seq]; !dup {
			m[key.Seq] = chunkLoc{seg: id, off: end + headerLen, n: n, sum: sum}
			l.count++
		}
		end += headerLen + int64(n)
	}
	return end, size, nil
}

func putHeader(b []byte, k ChunkKey, n int, sum [32]byte) {
	copy(b[0:4], "JNC1")
	b[4], b[5], b[6], b[7] = byte(len(k.Attempt)), byte(len(k.Item)), 0, 0
	clear(b[8:72])
	copy(b[8:40], k.Attempt)
	copy(b[40:72], k.Item)
	binary.LittleEndian.PutUint32(b[72:], k.Seq)
	binary.LittleEndian.PutUint32(b[76:], uint32(n))
	copy(b[80:112], sum[:])
}

func parseHeader(b []byte) (k ChunkKey, n uint32, sum [32]byte, crc uint32, ok bool) {
	if string(b[0:4]) != "JNC1" || b[6] != 0 || b[7] != 0 {
		return k, 0, sum, 0, false
	}
	al, il := int(b[4]), int(b[5])
	if al == 0 || al > maxIDLen || il == 0 || il > maxIDLen {
		return k, 0, sum, 0, false
	}
	k.Attempt = string(b[8 : 8+al])
	k.Item = string(b[40 : 40+il])
	k.Seq = binary.LittleEndian.Uint32(b[72:])
	n = binary.LittleEndian.Uint32(b[76:])
	copy(sum[:], b[80:112])
	crc = binary.LittleEndian.Uint32(b[112:])
	return k, n, sum, crc, n <= MaxChunkBytes
}

// rotate starts segment id as the current one.
func (l *ChunkLog) rotate(id int) error {
	f, err := l.fs.OpenFile(filepath.Join(l.opt.Dir, segName(id)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := l.fs.SyncDir(l.opt.Dir); err != nil {
		f.Close()
		return err
	}
	l.mu.Lock()
	l.files[id] = f
	l.mu.Unlock()
	l.cur, l.curID, l.curOff, l.newSeg = f, id, 0, false
	return nil
}

// Append stores one chunk durably. It returns nil once the chunk is on
// stable storage (at once when the same bytes were stored before),
// ErrConflict when other bytes were stored under the key, and a disk error
// (IsDiskFull for a full disk) when it could not be written.
func (l *ChunkLog) Append(ctx context.Context, k ChunkKey, data []byte) error {
	if len(k.Attempt) == 0 || len(k.Attempt) > maxIDLen || len(k.Item) == 0 || len(k.Item) > maxIDLen {
		return fmt.Errorf("chunk log: bad key %v", k)
	}
	if len(data) > MaxChunkBytes {
		return fmt.Errorf("chunk log: chunk of %d bytes over the limit", len(data))
	}
	sum := sha256.Sum256(data)
	if done, err := l.known(k, sum); done {
		return err
	}
	if l.closed.Load() {
		return ErrLogClosed
	}
	req := &appendReq{key: k, data: data, sum: sum, done: make(chan error, 1)}
	select {
	case l.reqs <- req:
	case <-l.quit:
		return ErrLogClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// It may still be written; a resend is answered idempotently.
		return ctx.Err()
	}
}

// known answers a chunk already in the index.
func (l *ChunkLog) known(k ChunkKey, sum [32]byte) (bool, error) {
	l.mu.RLock()
	loc, ok := l.index[itemKey{k.Attempt, k.Item}][k.Seq]
	l.mu.RUnlock()
	if !ok {
		return false, nil
	}
	if loc.sum != sum {
		return true, ErrConflict
	}
	return true, nil
}

func (l *ChunkLog) writer() {
	defer close(l.done)
	for {
		var first *appendReq
		select {
		case first = <-l.reqs:
		case <-l.quit:
			// Answer whatever is still queued.
			for {
				select {
				case r := <-l.reqs:
					r.done <- ErrLogClosed
				default:
					return
				}
			}
		}
		batch := []*appendReq{first}
		size := headerLen + len(first.data)
	drain:
		for size < l.opt.MaxBatch {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
				size += headerLen + len(r.data)
			default:
				break drain
			}
		}
		l.commit(batch)
	}
}

// commit writes one batch with one write and one fdatasync.
func (l *ChunkLog) commit(batch []*appendReq) {
	type pending struct {
		req       *appendReq
		followers []*appendReq
		loc       chunkLoc
	}
	var todo []*pending
	inBatch := map[ChunkKey]*pending{}
	size := 0
	for _, r := range batch {
		if done, err := l.known(r.key, r.sum); done {
			r.done <- err
			continue
		}
		if p := inBatch[r.key]; p != nil {
			if p.req.sum == r.sum {
				p.followers = append(p.followers, r)
			} else {
				r.done <- ErrConflict
			}
			continue
		}
		p := &pending{req: r}
		inBatch[r.key] = p
		todo = append(todo, p)
		size += headerLen + len(r.data)
	}
	if len(todo) == 0 {
		return
	}
	reply := func(err error) {
		for _, p := range todo {
			p.req.done <- err
			for _, f := range p.followers {
				f.done <- err
			}
		}
	}
	if err := l.prepare(int64(size)); err != nil {
		l.fault(err)
		reply(err)
		return
	}
	buf := make([]byte, 0, size)
	off := l.curOff
	for _, p := range todo {
		start := len(buf)
		buf = append(buf, make([]byte, headerLen)...)
		h := buf[start : start+headerLen]
		putHeader(h, p.req.key, len(p.req.data), p.req.sum)
		c := crc32.Update(crc32.Checksum(h[:112], castagnoli), castagnoli, p.req.data)
		binary.LittleEndian.PutUint32(h[112:], c)
		buf = append(buf, p.req.data...)
		p.loc = chunkLoc{seg: l.curID, off: off + int64(start) + headerLen, n: uint32(len(p.req.data)), sum: p.req.sum}
	}
	start := time.Now()
	_, err := l.cur.WriteAt(buf, off)
	if err == nil {
		err = l.cur.Datasync()
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		l.opt.Log.Warn("chunk log: slow write and sync (the disk is slow or busy)", "ms", d.Milliseconds(), "bytes", len(buf), "chunks", len(todo))
	}
	if err != nil {
		// Nothing of this batch is acknowledged. Cut the partial write
		// off so the segment stays a clean sequence of records; if that
		// fails too, the next batch goes to a new segment.
		if terr := l.cur.Truncate(off); terr != nil || l.cur.Datasync() != nil {
			l.newSeg = true
		}
		if IsDiskFull(err) {
			err = fmt.Errorf("%w: %v", ErrDiskFull, err)
		}
		l.fault(err)
		reply(err)
		return
	}
	l.curOff = off + int64(len(buf))
	l.mu.Lock()
	for _, p := range todo {
		ik := itemKey{p.req.key.Attempt, p.req.key.Item}
		m := l.index[ik]
		if m == nil {
			m = map[uint32]chunkLoc{}
			l.index[ik] = m
		}
		m[p.req.key.Seq] = p.loc
		l.count++
	}
	l.mu.Unlock()
	l.fault(nil)
	reply(nil)
}

// prepare checks the free space and rotates the segment when needed.
func (l *ChunkLog) prepare(size int64) error {
	free, err := l.fs.Free(l.opt.Dir)
	if err == nil && free-size < l.opt.Reserve {
		return fmt.Errorf("%w: %d bytes free, reserve %d", ErrDiskFull, free, l.opt.Reserve)
	}
	if l.newSeg || (l.curOff > 0 && l.curOff+size > l.opt.SegmentSize) {
		if !l.newSeg {
			// Sealed: its data was synced by the batch that wrote it.
			l.opt.Log.Debug("chunk log: segment sealed", "segment", segName(l.curID), "bytes", l.curOff)
		}
		if err := l.rotate(l.curID + 1); err != nil {
			return err
		}
	}
	return nil
}

func (l *ChunkLog) fault(err error) {
	prev := l.faultErr.Load()
	if err == nil {
		if prev == nil {
			return
		}
		l.faultErr.Store(nil)
	} else {
		l.faultErr.Store(&err)
	}
	if l.opt.OnFault != nil {
		l.opt.OnFault(err)
	}
}

// Fault is the last write error while writing keeps failing (nil when the
// last batch was written).
func (l *ChunkLog) Fault() error {
	if p := l.faultErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Seqs lists the stored sequence numbers of an item, in order.
func (l *ChunkLog) Seqs(attempt, item string) []uint32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	m := l.index[itemKey{attempt, item}]
	out := make([]uint32, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Bytes is the total size of an item's stored chunks.
func (l *ChunkLog) Bytes(attempt, item string) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, loc := range l.index[itemKey{attempt, item}] {
		n += int64(loc.n)
	}
	return n
}

// Read returns a stored chunk, verified against its SHA-256.
func (l *ChunkLog) Read(k ChunkKey) ([]byte, error) {
	l.mu.RLock()
	loc, ok := l.index[itemKey{k.Attempt, k.Item}][k.Seq]
	f := l.files[loc.seg]
	l.mu.RUnlock()
	if !ok || f == nil {
		return nil, os.ErrNotExist
	}
	b := make([]byte, loc.n)
	if _, err := f.ReadAt(b, loc.off); err != nil {
		return nil, err
	}
	if sha256.Sum256(b) != loc.sum {
		return nil, fmt.Errorf("chunk log: %v damaged on disk", k)
	}
	return b, nil
}

// Has reports whether the chunk is stored.
func (l *ChunkLog) Has(k ChunkKey) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.index[itemKey{k.Attempt, k.Item}][k.Seq]
	return ok
}

// Count is the number of stored chunks.
func (l *ChunkLog) Count() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.count
}

// Attempts lists the attempts with stored chunks of an item prefix (for
// diagnostics and tests).
func (l *ChunkLog) Items(attempt string) []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []string
	for k := range l.index {
		if k.attempt == attempt {
			out = append(out, k.item)
		}
	}
	sort.Strings(out)
	return out
}

// Close stops the writer (answering queued requests with ErrLogClosed) and
// closes the files.
func (l *ChunkLog) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	close(l.quit)
	<-l.done
	l.closeFiles()
	return l.lock.Close()
}

func (l *ChunkLog) closeFiles() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.files {
		f.Close()
	}
	l.files = map[int]File{}
}

// validID is what the log accepts in a key.
func validID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	return !strings.ContainsAny(s, "\x00/") && bytes.IndexFunc([]byte(s), func(r rune) bool {
		return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0
}
