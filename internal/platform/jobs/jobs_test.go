package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
	"jnedu/internal/platform/jobs"
)

var errRollback = errors.New("roll back")

func TestEnqueueFollowsTheTransaction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		clk := newClock()
		q := newQueue(t, d, clk, nil)
		ctx := context.Background()

		err := d.InTx(ctx, func(tx *db.Tx) error {
			if _, err := q.Enqueue(ctx, tx, "share.video_probe", payload{VideoID: 1}, jobs.EnqueueOptions{}); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("InTx = %v, want the rollback", err)
		}
		if c, err := q.Counts(ctx, ""); err != nil || c.Total() != 0 {
			t.Fatalf("after rollback: counts = %+v, %v; want no job", c, err)
		}

		runAt := clk.Now().Add(time.Hour)
		want := payload{VideoID: 7, Name: "口语 \"引号\" ? 和 '撇号'"}
		j := enqueue(t, d, q, "share.video_probe", want, jobs.EnqueueOptions{Priority: 3, RunAt: runAt, MaxAttempts: 2})
		got := get(t, q, j.ID)
		var p payload
		if err := got.Decode(&p); err != nil || p != want {
			t.Errorf("payload = %+v, %v; want %+v", p, err, want)
		}
		if got.Kind != "share.video_probe" || got.State != jobs.Queued || got.Priority != 3 || !got.RunAt.Equal(runAt) ||
			got.MaxAttempts != 2 || got.Attempts != 0 || got.UniqueKey != "" || !got.CreatedAt.Equal(clk.Now()) ||
			!got.StartedAt.IsZero() || !got.FinishedAt.IsZero() || !got.LeaseUntil.IsZero() {
			t.Errorf("job = %+v", got)
		}
		if j.ID != got.ID || j.State != jobs.Queued {
			t.Errorf("Enqueue returned %+v, want the job as stored", j)
		}
		def := enqueue(t, d, q, "share.video_probe", nil, jobs.EnqueueOptions{})
		if def.MaxAttempts != jobs.DefaultMaxAttempts || !def.RunAt.Equal(clk.Now()) || string(def.Payload) != "null" {
			t.Errorf("defaults: job = %+v", def)
		}
		// The package-level Enqueue works outside a transaction too.
		if _, err := jobs.Enqueue(ctx, d, "share.video_probe", 1, jobs.EnqueueOptions{}); err != nil {
			t.Errorf("Enqueue on the DB: %v", err)
		}
	})
}

func TestEnqueueRefuses(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		ctx := context.Background()
		tests := []struct {
			name    string
			kind    string
			payload any
			opt     jobs.EnqueueOptions
			want    error
		}{
			{"empty kind", "", 1, jobs.EnqueueOptions{}, jobs.ErrInvalid},
			{"upper-case kind", "Share.Probe", 1, jobs.EnqueueOptions{}, jobs.ErrInvalid},
			{"too many attempts", "a", 1, jobs.EnqueueOptions{MaxAttempts: jobs.MaxAttemptsLimit + 1}, jobs.ErrInvalid},
			{"negative attempts", "a", 1, jobs.EnqueueOptions{MaxAttempts: -1}, jobs.ErrInvalid},
			{"long key", "a", 1, jobs.EnqueueOptions{UniqueKey: strings.Repeat("k", jobs.MaxUniqueKeyBytes+1)}, jobs.ErrInvalid},
			{"priority", "a", 1, jobs.EnqueueOptions{Priority: 2_000_000}, jobs.ErrInvalid},
			{"too large", "a", strings.Repeat("x", jobs.MaxPayloadBytes), jobs.EnqueueOptions{}, jobs.ErrTooLarge},
			{"not encodable", "a", make(chan int), jobs.EnqueueOptions{}, nil},
		}
		for _, tt := range tests {
			_, err := jobs.Enqueue(ctx, d, tt.kind, tt.payload, tt.opt)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
			}
		}
		var n int
		if err := d.QueryRow(ctx, "SELECT COUNT(*) FROM jobs_queue").Scan(&n); err != nil || n != 0 {
			t.Errorf("jobs written = %d, %v; want 0", n, err)
		}
	})
}

func TestUniqueKeyDedupes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		q := newQueue(t, d, nil, nil)
		ctx := context.Background()
		key := jobs.EnqueueOptions{UniqueKey: "video-42"}

		first := enqueue(t, d, q, "share.video_probe", payload{VideoID: 42}, key)
		again := enqueue(t, d, q, "share.video_probe", payload{VideoID: 42, Name: "second"}, key)
		if again.ID != first.ID || again.UniqueKey != "video-42" {
			t.Errorf("second enqueue = job %d (key %q), want the pending job %d", again.ID, again.UniqueKey, first.ID)
		}
		// Twice in one transaction.
		var a, b jobs.Job
		err := d.InTx(ctx, func(tx *db.Tx) error {
			var err error
			if a, err = q.Enqueue(ctx, tx, "share.video_package", 1, key); err != nil {
				return err
			}
			b, err = q.Enqueue(ctx, tx, "share.video_package", 2, key)
			return err
		})
		if err != nil || a.ID != b.ID || a.ID == first.ID {
			t.Errorf("in one tx: jobs %d and %d (err %v), want one new job for the other kind", a.ID, b.ID, err)
		}
		// Concurrent enqueues outside a transaction.
		var wg sync.WaitGroup
		ids := make([]int64, 8)
		errs := make([]error, 8)
		for i := range ids {
			wg.Go(func() {
				j, err := jobs.Enqueue(ctx, d, "share.video_encode", i, key)
				ids[i], errs[i] = j.ID, err
			})
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Errorf("concurrent enqueue %d = job %d, %v; want job %d", i, ids[i], errs[i], ids[0])
			}
		}
		if c, _ := q.Counts(ctx, ""); c.Queued != 3 {
			t.Errorf("queued = %d, want 3", c.Queued)
		}

		// Once the job has ended, the key is free again.
		if err := q.Cancel(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		third := enqueue(t, d, q, "share.video_probe", payload{VideoID: 42}, key)
		if third.ID == first.ID {
			t.Errorf("enqueue after cancel returned the cancelled job")
		}
		// A retried job may not join a pending one with its key.
		if err := q.Retry(ctx, first.ID); !errors.Is(err, jobs.ErrConflict) {
			t.Errorf("Retry with a pending duplicate = %v, want ErrConflict", err)
		}
	})
}

func TestListCountsStats(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		q := newQueue(t, d, nil, nil)
		ctx := context.Background()
		var probes []jobs.Job
		for i := range 5 {
			probes = append(probes, enqueue(t, d, q, "share.video_probe", i, jobs.EnqueueOptions{}))
		}
		enc := enqueue(t, d, q, "share.video_encode", 0, jobs.EnqueueOptions{})
		if err := q.Cancel(ctx, probes[1].ID); err != nil {
			t.Fatal(err)
		}

		got, err := q.List(ctx, jobs.Filter{Kind: "share.video_probe", State: jobs.Queued, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != probes[4].ID || got[1].ID != probes[3].ID {
			t.Errorf("first page = %v, want jobs %d, %d", ids(got), probes[4].ID, probes[3].ID)
		}
		got, err = q.List(ctx, jobs.Filter{Kind: "share.video_probe", State: jobs.Queued, BeforeID: got[1].ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != probes[2].ID || got[1].ID != probes[0].ID {
			t.Errorf("second page = %v, want jobs %d, %d", ids(got), probes[2].ID, probes[0].ID)
		}
		if got, _ := q.List(ctx, jobs.Filter{}); len(got) != 6 || got[0].ID != enc.ID {
			t.Errorf("everything = %v, want 6 jobs, newest first", ids(got))
		}
		if got, _ := q.List(ctx, jobs.Filter{State: jobs.Cancelled}); len(got) != 1 || got[0].ID != probes[1].ID {
			t.Errorf("cancelled = %v, want job %d", ids(got), probes[1].ID)
		}
		if _, err := q.List(ctx, jobs.Filter{State: "lost"}); !errors.Is(err, jobs.ErrInvalid) {
			t.Errorf("List with a bad state = %v, want ErrInvalid", err)
		}

		c, err := q.Counts(ctx, "share.video_probe")
		if err != nil || c != (jobs.Counts{Queued: 4, Cancelled: 1}) {
			t.Errorf("probe counts = %+v, %v", c, err)
		}
		st, err := q.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Counts != (jobs.Counts{Queued: 5, Cancelled: 1}) || len(st.Kinds) != 2 ||
			st.Kinds[0] != (jobs.KindStats{Kind: "share.video_encode", Counts: jobs.Counts{Queued: 1}}) ||
			st.Kinds[1] != (jobs.KindStats{Kind: "share.video_probe", Counts: jobs.Counts{Queued: 4, Cancelled: 1}}) {
			t.Errorf("stats = %+v", st)
		}

		if _, err := q.Get(ctx, 999999); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("Get of a missing job = %v, want db.ErrNotFound", err)
		}
	})
}

func TestPrune(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		clk := newClock()
		q := newQueue(t, d, clk, func(o *jobs.Options) { o.Retention = 24 * time.Hour })
		ctx := context.Background()
		old := enqueue(t, d, q, "a", 1, jobs.EnqueueOptions{})
		keep := enqueue(t, d, q, "a", 2, jobs.EnqueueOptions{})
		if err := q.Cancel(ctx, old.ID); err != nil {
			t.Fatal(err)
		}
		clk.Add(25 * time.Hour)
		recent := enqueue(t, d, q, "a", 3, jobs.EnqueueOptions{})
		if err := q.Cancel(ctx, recent.ID); err != nil {
			t.Fatal(err)
		}
		n, err := q.Prune(ctx)
		if err != nil || n != 1 {
			t.Fatalf("Prune = %d, %v; want 1", n, err)
		}
		if _, err := q.Get(ctx, old.ID); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("old cancelled job: %v, want pruned", err)
		}
		get(t, q, keep.ID)   // queued: kept however old
		get(t, q, recent.ID) // within retention
	})
}

func ids(js []jobs.Job) []int64 {
	out := make([]int64, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}
