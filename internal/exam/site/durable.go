package site

import (
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"jnedu/internal/platform/web"
)

// site.db runs with SQLite's synchronous=NORMAL: a commit is written to
// the write-ahead log but synced to the disk only at checkpoints. That
// keeps the heartbeats (one commit per candidate every 2 s, 300 a second
// with 600 candidates) cheap; with synchronous=FULL each would wait for
// the disk (figures in bench/examsite/README.md). The attempt state —
// sign-in, item open and close, answers, finish, proctor actions — must
// not roll back after a power cut, so every request that changes it syncs
// the log (fdatasync of site.db-wal) before its answer goes out: one sync
// covers every commit before it, and syncs running at once share the
// disk's work. Chunks never need it: the chunk log syncs its own writes.

// walLog keeps the database's write-ahead log open for syncing.
type walLog struct {
	path  string
	mu    sync.Mutex
	f     *os.File
	syncs atomic.Int64 // how many syncs succeeded (tests)
}

// sync makes every transaction committed so far durable. The log file is
// opened again when SQLite replaced it (it deletes the log when its last
// connection closes).
func (w *walLog) sync() error {
	w.mu.Lock()
	f := w.f
	if f != nil {
		a, err1 := f.Stat()
		b, err2 := os.Stat(w.path)
		if err1 != nil || err2 != nil || !os.SameFile(a, b) {
			f.Close()
			f = nil
		}
	}
	if f == nil {
		var err error
		if f, err = os.Open(w.path); err != nil {
			w.f = nil
			w.mu.Unlock()
			if os.IsNotExist(err) {
				return nil // no log: everything is in the database file, synced at the checkpoint that removed it
			}
			return err
		}
		w.f = f
	}
	w.mu.Unlock()
	if err := datasync(f); err != nil {
		return err
	}
	w.syncs.Add(1)
	return nil
}

func (w *walLog) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// changesState tells the routes whose requests change the attempt state
// (everything but reads, heartbeats and chunks).
func changesState(pattern string) bool {
	method, path, _ := strings.Cut(pattern, " ")
	return method != http.MethodGet && method != http.MethodHead && !strings.HasSuffix(path, "/heartbeat") && !strings.Contains(path, "/chunks/")
}

// syncState syncs the log; a failure raises the console's alarm.
func (n *Node) syncState() error {
	err := n.wal.sync()
	if err != nil {
		n.opt.Log.Error("database log not synced: the last changes may not survive a power cut", "err", err)
		n.raise("db", "exam.site.alarm_db")
		return err
	}
	n.clear("db")
	return nil
}

// durableWriter syncs the log before a successful answer starts; when the
// sync fails it answers 503 write_failed instead (the client tries again).
type durableWriter struct {
	http.ResponseWriter
	n      *Node
	r      *http.Request
	isAPI  bool
	synced bool
	failed bool
}

func (w *durableWriter) before(code int) {
	if w.synced {
		return
	}
	w.synced = true
	if code >= 400 || w.n.syncState() == nil {
		return
	}
	w.failed = true
	msg := w.n.tr.T(web.Lang(w.r.Context()), "exam.site.write_failed")
	if w.isAPI {
		web.JSON(w.ResponseWriter, http.StatusServiceUnavailable, web.ErrorBody{Error: web.ErrorDetail{Code: "exam.site.write_failed", Message: msg}})
		return
	}
	http.Error(w.ResponseWriter, msg, http.StatusServiceUnavailable)
}

func (w *durableWriter) WriteHeader(code int) {
	w.before(code)
	if !w.failed {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *durableWriter) Write(b []byte) (int, error) {
	w.before(http.StatusOK)
	if w.failed {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *durableWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
