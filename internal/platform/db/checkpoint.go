package db

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// checkpointEvery is how often the background checkpointer copies the
// write-ahead log back into the database file. A page written many times
// in that span is copied once.
const checkpointEvery = 250 * time.Millisecond

// walBackstop is the writer's own automatic checkpoint, in pages: it only
// runs when the background checkpointer has fallen this far behind.
const walBackstop = 65536

// checkpointer runs SQLite's WAL checkpoints on a connection of its own,
// so a commit on the writer never pays for copying pages into the
// database file, and on a machine with a second core the copying runs
// beside the writes. PASSIVE checkpoints never wait on readers or the
// writer; SQLite restarts the log from its start once a checkpoint has
// copied all of it.
type checkpointer struct {
	conn *sql.DB
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

func startCheckpointer(path string, busy time.Duration) (*checkpointer, error) {
	c, err := sql.Open("sqlite", fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)", path, busy.Milliseconds()))
	if err != nil {
		return nil, err
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	c.SetConnMaxLifetime(0)
	cp := &checkpointer{conn: c, stop: make(chan struct{})}
	cp.wg.Add(1)
	go cp.run()
	return cp, nil
}

func (cp *checkpointer) run() {
	defer cp.wg.Done()
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-cp.stop:
			return
		case <-t.C:
			cp.checkpoint(context.Background(), "PASSIVE") //nolint:errcheck // retried on the next tick
		}
	}
}

// checkpoint runs one checkpoint of the given mode and returns the pages
// in the log and those copied.
func (cp *checkpointer) checkpoint(ctx context.Context, mode string) (log, copied int, err error) {
	var busy int
	err = cp.conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &log, &copied)
	return log, copied, err
}

// close stops the ticker, copies what it can of the log without waiting
// on anyone (another process may be writing: a TRUNCATE would hold its
// writes back), and closes the connection. The last connection to the
// database to close checkpoints the rest and removes the log. A second
// call does nothing.
func (cp *checkpointer) close() error {
	cp.once.Do(func() {
		close(cp.stop)
		cp.wg.Wait()
		cp.checkpoint(context.Background(), "PASSIVE") //nolint:errcheck // best effort: the next open replays the log
		cp.err = cp.conn.Close()
	})
	return cp.err
}
