package events_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
	"jnedu/internal/platform/events"
)

func TestDurableRoundTrip(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		clk := newClock()
		b := events.NewBus(d, options(t, clk.Now))
		var rec recorder[lesson]
		events.Subscribe(b, lessonDone, "insight.done", rec.handle)
		start(t, b)

		want := lesson{N: 7, Title: "口语 \"引号\" ? 和 '撇号'", Tags: []string{"a", "b"}, At: clk.Now().Add(-time.Hour)}
		publishTx(t, d, b, lessonDone, want)
		waitFor(t, "the event", func() bool { return rec.len() == 1 })

		got := rec.all()[0]
		if !got.Payload.At.Equal(want.At) {
			t.Errorf("payload time = %v, want %v", got.Payload.At, want.At)
		}
		got.Payload.At, want.At = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got.Payload, want) {
			t.Errorf("payload = %+v, want %+v", got.Payload, want)
		}
		if !got.Durable || got.Attempt != 1 || got.Topic != lessonDone.Name || !got.OccurredAt.Equal(clk.Now()) {
			t.Errorf("envelope = %+v, want durable, attempt 1, topic %s, at %v", got, lessonDone.Name, clk.Now())
		}
		var id string
		if err := d.QueryRow(context.Background(), "SELECT id FROM events_outbox").Scan(&id); err != nil {
			t.Fatal(err)
		}
		if got.ID != id || !uuidV7.MatchString(id) {
			t.Errorf("ID = %q, want the outbox row's UUIDv7 %q", got.ID, id)
		}
		waitFor(t, "the position to be stored", func() bool {
			return count(t, d, "SELECT COUNT(*) FROM events_subscribers WHERE name = ? AND position = 1", "insight.done") == 1
		})
		st := b.Stats()
		if st.Published != 1 || st.PublishedTx != 1 || st.Delivered != 1 || st.Failed != 0 {
			t.Errorf("stats = %+v, want 1 published (tx), 1 delivered", st)
		}
		waitFor(t, "the backlog to be measured", func() bool { return b.Stats().Backlog == 0 })
	})
}

func TestPublishTxErrors(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		opt := options(t, nil)
		opt.MaxPayloadBytes = 64
		b := events.NewBus(d, opt)
		ctx := context.Background()
		tests := []struct {
			name    string
			publish func() error
			want    error
		}{
			{"too large", func() error {
				return events.PublishTx(ctx, d, b, lessonDone, lesson{Title: strings.Repeat("长", 30)})
			}, events.ErrTooLarge},
			{"not encodable", func() error {
				return events.PublishTx(ctx, d, b, events.NewTopic[chan int]("test.chan"), make(chan int))
			}, nil},
			{"other payload type", func() error {
				events.PublishTx(ctx, d, b, events.NewTopic[int]("test.typed"), 1)
				return events.PublishTx(ctx, d, b, events.NewTopic[string]("test.typed"), "1")
			}, events.ErrTopicType},
			{"no table", func() error {
				_, err := d.Exec(ctx, "ALTER TABLE events_outbox RENAME TO events_outbox_gone")
				if err != nil {
					t.Fatal(err)
				}
				defer d.Exec(ctx, "ALTER TABLE events_outbox_gone RENAME TO events_outbox")
				return events.PublishTx(ctx, d, b, lessonDone, lesson{})
			}, nil},
		}
		for _, tt := range tests {
			err := tt.publish()
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
			}
		}
		if n := count(t, d, "SELECT COUNT(*) FROM events_outbox"); n != 1 {
			t.Errorf("outbox has %d rows, want 1 (the first test.typed)", n)
		}
	})
}

func TestDurableRetry(t *testing.T) {
	tests := []struct {
		name string
		fail func() error
	}{
		{"error", func() error { return errors.New("database busy") }},
		{"panic", func() error { panic("nil map") }},
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d.Exec(context.Background(), "DELETE FROM events_subscribers")
				b := events.NewBus(d, options(t, nil))
				var mu sync.Mutex
				var attempts []int
				var ids []string
				var rec recorder[lesson]
				rec.fail = func(ev events.Envelope[lesson]) error {
					mu.Lock()
					attempts = append(attempts, ev.Attempt)
					ids = append(ids, ev.ID)
					mu.Unlock()
					if ev.Attempt < 3 {
						return tt.fail()
					}
					return nil
				}
				events.Subscribe(b, lessonDone, "retry."+tt.name, rec.handle)
				start(t, b)
				publishTx(t, d, b, lessonDone, lesson{N: 1})
				waitFor(t, "delivery after retries", func() bool { return rec.len() == 1 })

				mu.Lock()
				defer mu.Unlock()
				if !reflect.DeepEqual(attempts, []int{1, 2, 3}) {
					t.Errorf("attempts = %v, want [1 2 3]", attempts)
				}
				if ids[0] != ids[1] || ids[1] != ids[2] {
					t.Errorf("IDs changed between attempts: %v", ids)
				}
				if st := b.Stats(); st.Failed != 2 || st.Delivered != 1 || st.Parked != 0 {
					t.Errorf("stats: failed %d delivered %d parked %d, want 2 1 0", st.Failed, st.Delivered, st.Parked)
				}
			})
		}
	})
}

func TestRollbackPublishesNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		b := events.NewBus(d, options(t, nil))
		var rec recorder[lesson]
		events.Subscribe(b, lessonDone, "insight.done", rec.handle)
		start(t, b)
		ctx := context.Background()

		boom := errors.New("scoring failed")
		err := d.InTx(ctx, func(tx *db.Tx) error {
			if err := events.PublishTx(ctx, tx, b, lessonDone, lesson{N: 1, Title: "rolled back"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx err = %v, want %v", err, boom)
		}
		if n := count(t, d, "SELECT COUNT(*) FROM events_outbox"); n != 0 {
			t.Errorf("outbox has %d rows after rollback, want 0", n)
		}
		publishTx(t, d, b, lessonDone, lesson{N: 2, Title: "committed"})
		waitFor(t, "the committed event", func() bool { return rec.len() == 1 })
		time.Sleep(100 * time.Millisecond) // room for a wrong delivery
		if got := ns(rec.all()); !reflect.DeepEqual(got, []int{2}) {
			t.Errorf("delivered %v, want only the committed [2]", got)
		}
	})
}

// Events reach each subscriber in commit order, across topics, and every
// publisher's events in the order it published them.
func TestDurableOrder(t *testing.T) {
	const publishers, perPublisher = 4, 40
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		opt := options(t, nil)
		opt.BatchSize = 7 // many batches
		b := events.NewBus(d, opt)
		var both, done recorder[lesson]
		events.Subscribe(b, lessonDone, "both", both.handle)
		events.Subscribe(b, lessonMoved, "both", both.handle)
		events.Subscribe(b, lessonDone, "done", done.handle)
		start(t, b)

		// One publisher alternating topics, several events per transaction.
		for i := 1; i <= 30; i += 3 {
			publishTx(t, d, b, lessonDone, lesson{N: i})
			publishTx(t, d, b, lessonMoved, lesson{N: i + 1}, lesson{N: i + 2})
		}
		waitFor(t, "the sequential events", func() bool { return both.len() == 30 })
		if got := ns(both.all()); !reflect.DeepEqual(got, seq(1, 30)) {
			t.Errorf("subscriber of both topics got %v, want 1..30 in order", got)
		}

		// Concurrent publishers: N = publisher*1000 + k.
		var wg sync.WaitGroup
		for p := 1; p <= publishers; p++ {
			wg.Go(func() {
				for k := 1; k <= perPublisher; k++ {
					if err := publishTxErr(d, b, lessonDone, lesson{N: p*1000 + k}); err != nil {
						t.Errorf("publish: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		total := 10 + publishers*perPublisher
		waitFor(t, "the concurrent events", func() bool { return done.len() == total })
		last := map[int]int{}
		seen := map[string]bool{}
		for _, ev := range done.all() {
			if seen[ev.ID] {
				t.Errorf("event %s delivered twice", ev.ID)
			}
			seen[ev.ID] = true
			p, k := ev.Payload.N/1000, ev.Payload.N%1000
			if p == 0 {
				continue // the sequential part
			}
			if k != last[p]+1 {
				t.Errorf("publisher %d: got event %d after %d", p, k, last[p])
			}
			last[p] = k
		}
	})
}

// A failing subscriber holds up only itself.
func TestSubscribersAreIndependent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		b := events.NewBus(d, options(t, nil))
		var healthy atomic.Bool
		var bad, good recorder[lesson]
		bad.fail = func(ev events.Envelope[lesson]) error {
			if !healthy.Load() {
				return fmt.Errorf("event %d: index offline", ev.Payload.N)
			}
			return nil
		}
		events.Subscribe(b, lessonDone, "bad", bad.handle)
		events.Subscribe(b, lessonDone, "good", good.handle)
		start(t, b)
		for i := 1; i <= 20; i++ {
			publishTx(t, d, b, lessonDone, lesson{N: i})
		}
		waitFor(t, "the healthy subscriber", func() bool { return good.len() == 20 })
		if got := ns(good.all()); !reflect.DeepEqual(got, seq(1, 20)) {
			t.Errorf("healthy subscriber got %v", got)
		}
		waitFor(t, "a few failures", func() bool { return b.Stats().Failed >= 3 })
		if n := bad.len(); n != 0 {
			t.Fatalf("failing subscriber accepted %d events", n)
		}
		var attempts int
		var lastErr string
		if err := d.QueryRow(context.Background(), "SELECT attempts, last_error FROM events_subscribers WHERE name = 'bad'").
			Scan(&attempts, &lastErr); err != nil {
			t.Fatal(err)
		}
		if attempts < 1 || !strings.Contains(lastErr, "event 1: index offline") {
			t.Errorf("stored failure = %d attempts, %q; want the failure of event 1", attempts, lastErr)
		}
		waitFor(t, "the backlog to show the stuck subscriber", func() bool { return b.Stats().Backlog == 20 })

		healthy.Store(true)
		waitFor(t, "the failing subscriber to recover", func() bool { return bad.len() == 20 })
		evs := bad.all()
		if got := ns(evs); !reflect.DeepEqual(got, seq(1, 20)) {
			t.Errorf("recovered subscriber got %v, want 1..20 in order", got)
		}
		if evs[0].Attempt < 2 || evs[1].Attempt != 1 {
			t.Errorf("attempts = %d, %d; want >1 for the first event, 1 for the next", evs[0].Attempt, evs[1].Attempt)
		}
		waitFor(t, "the backlog to clear", func() bool { return b.Stats().Backlog == 0 })
	})
}

// A bus that stops (or dies) mid-way loses nothing: a new bus on the same
// database delivers the rest.
func TestCrashRecovery(t *testing.T) {
	const total = 60
	tests := []struct {
		name string
		// first runs the first bus and stops it; it returns the events its
		// subscriber accepted.
		first func(t *testing.T, d *db.DB, clk *clock) []events.Envelope[lesson]
		// advance is how far the clock moves before the second bus starts
		// (a dead owner's lease must run out).
		advance time.Duration
	}{
		{"stopped mid-delivery", func(t *testing.T, d *db.DB, clk *clock) []events.Envelope[lesson] {
			b := events.NewBus(d, options(t, clk.Now))
			var rec recorder[lesson]
			rec.fail = func(events.Envelope[lesson]) error { time.Sleep(5 * time.Millisecond); return nil }
			events.Subscribe(b, lessonDone, "crash", rec.handle)
			stop := start(t, b)
			var batch []lesson
			for i := 1; i <= total; i++ {
				batch = append(batch, lesson{N: i})
			}
			publishTx(t, d, b, lessonDone, batch...)
			waitFor(t, "some deliveries", func() bool { return rec.len() >= 10 })
			stop()
			if rec.len() >= total {
				t.Fatalf("the first bus delivered everything before it stopped; the test proves nothing")
			}
			return rec.all()
		}, 0},
		{"stopped inside a handler", func(t *testing.T, d *db.DB, clk *clock) []events.Envelope[lesson] {
			b := events.NewBus(d, options(t, clk.Now))
			var rec recorder[lesson]
			entered := make(chan struct{})
			events.Subscribe(b, lessonDone, "crash", func(ctx context.Context, ev events.Envelope[lesson]) error {
				if ev.Payload.N == 10 {
					close(entered)
					<-ctx.Done() // a handler that gives up when the bus stops
					return ctx.Err()
				}
				return rec.handle(ctx, ev)
			})
			stop := start(t, b)
			var batch []lesson
			for i := 1; i <= total; i++ {
				batch = append(batch, lesson{N: i})
			}
			publishTx(t, d, b, lessonDone, batch...)
			<-entered
			stop()
			if st := b.Stats(); st.Failed != 0 || st.Delivered != 9 {
				t.Errorf("first bus: failed %d delivered %d, want 0 and 9 (a shutdown is no failure)", st.Failed, st.Delivered)
			}
			return rec.all()
		}, 0},
		{"published but never relayed", func(t *testing.T, d *db.DB, clk *clock) []events.Envelope[lesson] {
			b := events.NewBus(d, options(t, clk.Now)) // never runs
			for i := 1; i <= total; i++ {
				publishTx(t, d, b, lessonDone, lesson{N: i})
			}
			return nil
		}, 0},
		{"died holding the lease", func(t *testing.T, d *db.DB, clk *clock) []events.Envelope[lesson] {
			b := events.NewBus(d, options(t, clk.Now))
			var rec recorder[lesson]
			events.Subscribe(b, lessonDone, "crash", rec.handle)
			stop := start(t, b)
			publishTx(t, d, b, lessonDone, lesson{N: 1})
			waitFor(t, "the first event", func() bool { return rec.len() == 1 })
			stop()
			// What a killed process leaves: a lease that runs for a while.
			if _, err := d.Exec(context.Background(), "UPDATE events_subscribers SET owner = 'dead', lease_until = ?",
				clk.Now().Add(30*time.Second).UnixMilli()); err != nil {
				t.Fatal(err)
			}
			for i := 2; i <= total; i++ {
				publishTx(t, d, b, lessonDone, lesson{N: i})
			}
			return rec.all()
		}, time.Minute},
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				for _, table := range []string{"events_outbox", "events_subscribers"} {
					if _, err := d.Exec(ctx, "DELETE FROM "+table); err != nil {
						t.Fatal(err)
					}
				}
				clk := newClock()
				before := tt.first(t, d, clk)

				b := events.NewBus(d, options(t, clk.Now))
				var rec recorder[lesson]
				events.Subscribe(b, lessonDone, "crash", rec.handle)
				start(t, b)
				if tt.advance > 0 {
					time.Sleep(150 * time.Millisecond)
					if n := rec.len(); n != 0 {
						t.Fatalf("the new bus delivered %d events while another owner's lease ran", n)
					}
					clk.Add(tt.advance)
				}
				waitFor(t, "the rest of the events", func() bool {
					evs := rec.all()
					return len(evs) > 0 && evs[len(evs)-1].Payload.N == total
				})

				after := rec.all()
				// The second bus goes on in order from where the first stopped;
				// at most the event in flight at the stop is seen twice.
				if len(before) > 0 && len(after) > 0 {
					if last, next := before[len(before)-1].Payload.N, after[0].Payload.N; next != last+1 && next != last {
						t.Errorf("first bus stopped after %d, second started at %d", last, next)
					}
				}
				if len(after) > 0 {
					if got, want := ns(after), seq(after[0].Payload.N, total); !reflect.DeepEqual(got, want) {
						t.Errorf("second bus delivered %v, want %v", got, want)
					}
				}
				seen := map[int]bool{}
				for _, ev := range append(before, after...) {
					seen[ev.Payload.N] = true
				}
				if len(seen) != total {
					t.Errorf("%d distinct events delivered, want %d", len(seen), total)
				}
			})
		}
	})
}

// Two processes on one database: each subscriber is delivered by one of
// them at a time, so with no failures every event arrives exactly once.
func TestTwoBusesShareSubscribers(t *testing.T) {
	const perBus = 50
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		var rec recorder[lesson]
		var buses []*events.Bus
		for range 2 {
			b := events.NewBus(d, options(t, nil))
			events.Subscribe(b, lessonDone, "shared", rec.handle)
			start(t, b)
			buses = append(buses, b)
		}
		var wg sync.WaitGroup
		for i, b := range buses {
			wg.Go(func() {
				for k := 1; k <= perBus; k++ {
					if err := publishTxErr(d, b, lessonDone, lesson{N: (i+1)*1000 + k}); err != nil {
						t.Errorf("publish: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		waitFor(t, "every event", func() bool { return rec.len() >= 2*perBus })
		time.Sleep(100 * time.Millisecond) // room for a duplicate
		seen := map[string]bool{}
		last := map[int]int{}
		for _, ev := range rec.all() {
			if seen[ev.ID] {
				t.Errorf("event %d delivered twice", ev.Payload.N)
			}
			seen[ev.ID] = true
			p, k := ev.Payload.N/1000, ev.Payload.N%1000
			if k != last[p]+1 {
				t.Errorf("bus %d: event %d after %d", p, k, last[p])
			}
			last[p] = k
		}
		if len(seen) != 2*perBus {
			t.Errorf("%d events delivered, want %d", len(seen), 2*perBus)
		}
	})
}

func TestParking(t *testing.T) {
	tests := []struct {
		name        string
		maxAttempts int
		// handle fails event 2 of test.lesson_done as the case needs.
		fail       func(ev events.Envelope[lesson]) error
		badPayload bool // write event 2 as JSON the payload type cannot hold
		reason     string
		failed     uint64
	}{
		{name: "undecodable payload", badPayload: true, reason: "decode payload"},
		{name: "permanent error", fail: func(ev events.Envelope[lesson]) error {
			return fmt.Errorf("lesson %d was deleted: %w", ev.Payload.N, events.ErrPermanent)
		}, reason: "lesson 2 was deleted", failed: 1},
		{name: "too many attempts", maxAttempts: 3, fail: func(events.Envelope[lesson]) error {
			return errors.New("still broken")
		}, reason: "attempt 3: still broken", failed: 3},
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				for _, table := range []string{"events_outbox", "events_subscribers", "events_parked"} {
					if _, err := d.Exec(ctx, "DELETE FROM "+table); err != nil {
						t.Fatal(err)
					}
				}
				opt := options(t, nil)
				opt.MaxAttempts = tt.maxAttempts
				b := events.NewBus(d, opt)
				var rec recorder[lesson]
				rec.fail = func(ev events.Envelope[lesson]) error {
					if ev.Payload.N == 2 && tt.fail != nil {
						return tt.fail(ev)
					}
					return nil
				}
				events.Subscribe(b, lessonDone, "parker", rec.handle)
				start(t, b)

				publishTx(t, d, b, lessonDone, lesson{N: 1})
				if tt.badPayload {
					if _, err := d.Exec(ctx, "INSERT INTO events_outbox (id, topic, payload, created_at) VALUES (?, ?, ?, ?)",
						"bad-2", lessonDone.Name, `{"n": "two"}`, time.Now().UnixMilli()); err != nil {
						t.Fatal(err)
					}
				} else {
					publishTx(t, d, b, lessonDone, lesson{N: 2})
				}
				publishTx(t, d, b, lessonDone, lesson{N: 3})
				waitFor(t, "the events around the parked one", func() bool { return rec.len() == 2 })
				if got := ns(rec.all()); !reflect.DeepEqual(got, []int{1, 3}) {
					t.Errorf("delivered %v, want [1 3]", got)
				}

				parked, err := b.Parked(ctx, 10)
				if err != nil {
					t.Fatalf("Parked: %v", err)
				}
				if len(parked) != 1 || parked[0].Subscriber != "parker" || parked[0].Topic != lessonDone.Name ||
					!strings.Contains(parked[0].Reason, tt.reason) || len(parked[0].Payload) == 0 {
					t.Fatalf("parked = %+v, want one event of parker with reason %q", parked, tt.reason)
				}
				if st := b.Stats(); st.Parked != 1 || st.Failed != tt.failed || st.Delivered != 2 {
					t.Errorf("stats: parked %d failed %d delivered %d, want 1 %d 2", st.Parked, st.Failed, st.Delivered, tt.failed)
				}
			})
		}
	})
}

func TestPruneAndBacklog(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		migrate(t, d)
		ctx := context.Background()
		clk := newClock()
		opt := options(t, clk.Now)
		opt.Retention = 24 * time.Hour
		b := events.NewBus(d, opt)
		var ok, stuck recorder[lesson]
		stuck.fail = func(events.Envelope[lesson]) error { return errors.New("never") }
		events.Subscribe(b, lessonDone, "ok", ok.handle)
		events.Subscribe(b, lessonMoved, "stuck", stuck.handle)
		stop := start(t, b)

		for i := 1; i <= 5; i++ {
			publishTx(t, d, b, lessonDone, lesson{N: i})
		}
		publishTx(t, d, b, lessonMoved, lesson{N: 6})
		waitFor(t, "delivery", func() bool { return ok.len() == 5 })
		waitFor(t, "the backlog", func() bool { return b.Stats().Backlog == 1 })
		if n, err := b.Backlog(ctx); err != nil || n != 1 {
			t.Errorf("Backlog = %d, %v; want 1 (the event the stuck subscriber needs)", n, err)
		}

		// Young rows stay.
		if n, err := b.Prune(ctx); err != nil || n != 0 {
			t.Errorf("Prune of young rows = %d, %v; want 0", n, err)
		}
		// Old rows go, but not the one a live subscriber still needs.
		clk.Add(25 * time.Hour)
		renewed := clk.Now().UnixMilli()
		waitFor(t, "both subscribers to be seen again", func() bool {
			return count(t, d, "SELECT COUNT(*) FROM events_subscribers WHERE updated_at >= ?", renewed) == 2
		})
		if n, err := b.Prune(ctx); err != nil || n != 5 {
			t.Errorf("Prune = %d, %v; want 5", n, err)
		}
		if n := count(t, d, "SELECT COUNT(*) FROM events_outbox"); n != 1 {
			t.Errorf("%d outbox rows left, want 1", n)
		}
		// A subscriber gone for longer than the retention holds nothing back.
		stop()
		clk.Add(25 * time.Hour)
		if n, err := b.Prune(ctx); err != nil || n != 1 {
			t.Errorf("Prune after the subscriber left = %d, %v; want 1", n, err)
		}
		if st := b.Stats(); st.Pruned != 6 {
			t.Errorf("stats pruned = %d, want 6", st.Pruned)
		}
	})
}
