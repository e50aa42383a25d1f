package events_test

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"jnedu/internal/platform/events"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewTopicNames(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"share.video_watched", true},
		{"exam-2025.scored", true},
		{"a", true},
		{"", false},
		{".hidden", false},
		{"Share.Video", false},
		{"video watched", false},
		{"视频", false},
		{strings.Repeat("a", 101), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); (r == nil) != tt.ok {
					t.Errorf("NewTopic(%q) panic = %v, want ok %v", tt.name, r, tt.ok)
				}
			}()
			events.NewTopic[int](tt.name)
		})
	}
}

func TestSubscribePanics(t *testing.T) {
	ok := func(context.Context, events.Envelope[lesson]) error { return nil }
	tests := []struct {
		name string
		fn   func(t *testing.T, b *events.Bus)
	}{
		{"nil handler", func(t *testing.T, b *events.Bus) { events.Subscribe(b, lessonDone, "s", nil) }},
		{"bad subscriber name", func(t *testing.T, b *events.Bus) { events.Subscribe(b, lessonDone, "Bad Name", ok) }},
		{"bad topic literal", func(t *testing.T, b *events.Bus) { events.Subscribe(b, events.Topic[lesson]{}, "s", ok) }},
		{"duplicate", func(t *testing.T, b *events.Bus) {
			events.Subscribe(b, lessonDone, "s", ok)
			events.Subscribe(b, lessonDone, "s", ok)
		}},
		{"other payload type", func(t *testing.T, b *events.Bus) {
			events.Subscribe(b, lessonDone, "s", ok)
			events.Subscribe(b, events.NewTopic[string](lessonDone.Name), "t",
				func(context.Context, events.Envelope[string]) error { return nil })
		}},
		{"after Run", func(t *testing.T, b *events.Bus) {
			start(t, b)
			time.Sleep(10 * time.Millisecond)
			events.Subscribe(b, lessonDone, "s", ok)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			tt.fn(t, events.NewBus(nil, options(t, nil)))
		})
	}
}

func TestPublishMemoryRoundTrip(t *testing.T) {
	clk := newClock()
	clk.Add(1234567 * time.Microsecond) // sub-millisecond part is dropped
	b := events.NewBus(nil, options(t, clk.Now))
	var done, moved recorder[lesson]
	events.Subscribe(b, lessonDone, "insight.done", done.handle)
	events.Subscribe(b, lessonDone, "insight.both", moved.handle)
	events.Subscribe(b, lessonMoved, "insight.both", moved.handle)
	ctx := context.Background()

	want := lesson{N: 1, Title: "听说考试 第一课", Tags: []string{"英语"}, At: clk.Now()}
	// Published before Run: held in the queues until it starts.
	if err := events.Publish(ctx, b, lessonDone, want); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	start(t, b)
	if err := events.Publish(ctx, b, lessonMoved, lesson{N: 2}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	waitFor(t, "three deliveries", func() bool { return done.len() == 1 && moved.len() == 2 })

	got := done.all()[0]
	if !reflect.DeepEqual(got.Payload, want) {
		t.Errorf("payload = %+v, want %+v", got.Payload, want)
	}
	if got.Topic != lessonDone.Name || got.Durable || got.Attempt != 1 {
		t.Errorf("envelope = topic %q durable %v attempt %d, want %q false 1", got.Topic, got.Durable, got.Attempt, lessonDone.Name)
	}
	if wantAt := clk.Now().Truncate(time.Millisecond); !got.OccurredAt.Equal(wantAt) {
		t.Errorf("OccurredAt = %v, want %v", got.OccurredAt, wantAt)
	}
	if !uuidV7.MatchString(got.ID) {
		t.Errorf("ID = %q, want a UUIDv7", got.ID)
	}
	if both := moved.all(); both[0].ID != got.ID {
		t.Errorf("second subscriber saw ID %q, want the same %q", both[0].ID, got.ID)
	}

	// A topic name is bound to one payload type.
	err := events.Publish(ctx, b, events.NewTopic[string](lessonDone.Name), "x")
	if !errors.Is(err, events.ErrTopicType) {
		t.Errorf("Publish with another type: err = %v, want ErrTopicType", err)
	}
	// Without a database there is no outbox.
	if err := events.PublishTx(ctx, nil, b, lessonDone, want); !errors.Is(err, events.ErrNoDatabase) {
		t.Errorf("PublishTx without database: err = %v, want ErrNoDatabase", err)
	}

	st := b.Stats()
	if st.Published != 2 || st.Delivered != 3 || st.Failed != 0 || st.Dropped != 0 || st.PublishedTx != 0 {
		t.Errorf("stats = %+v, want 2 published, 3 delivered", st)
	}
	if len(st.Subscribers) != 2 || st.Subscribers[0].Name != "insight.both" ||
		!reflect.DeepEqual(st.Subscribers[0].Topics, []string{lessonDone.Name, lessonMoved.Name}) {
		t.Errorf("subscriber stats = %+v", st.Subscribers)
	}
}

// A stuck subscriber loses events once its queue is full; the publisher and
// the other subscribers go on as if nothing happened.
func TestPublishDoesNotBlockOnStuckSubscriber(t *testing.T) {
	const queue, total = 4, 100
	opt := options(t, nil)
	opt.QueueSize = queue
	b := events.NewBus(nil, opt)
	entered := make(chan struct{}, total)
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	var stuck, fast recorder[lesson]
	stuck.fail = func(events.Envelope[lesson]) error {
		entered <- struct{}{}
		<-release
		return nil
	}
	events.Subscribe(b, lessonDone, "stuck", stuck.handle)
	events.Subscribe(b, lessonDone, "fast", fast.handle)
	stop := start(t, b)
	t.Cleanup(unblock) // runs before stop
	ctx := context.Background()

	if err := events.Publish(ctx, b, lessonDone, lesson{N: 1}); err != nil {
		t.Fatal(err)
	}
	<-entered // the stuck handler holds event 1
	var slowest time.Duration
	for i := 2; i <= total; i++ {
		begin := time.Now()
		if err := events.Publish(ctx, b, lessonDone, lesson{N: i}); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(begin))
		// The fast subscriber keeps up, so only the stuck one drops.
		waitFor(t, "the fast subscriber", func() bool { return fast.len() == i })
	}
	if slowest > 50*time.Millisecond {
		t.Errorf("a Publish took %v with a stuck subscriber", slowest)
	}
	if got := ns(fast.all()); !reflect.DeepEqual(got, seq(1, total)) {
		t.Errorf("fast subscriber got %v", got)
	}
	st := b.Stats()
	if want := uint64(total - 1 - queue); st.Dropped != want {
		t.Errorf("dropped = %d, want %d", st.Dropped, want)
	}
	for _, s := range st.Subscribers {
		want := events.SubscriberStats{Name: "fast", Topics: []string{lessonDone.Name}, Delivered: total}
		if s.Name == "stuck" {
			want = events.SubscriberStats{Name: "stuck", Topics: []string{lessonDone.Name}, Dropped: total - 1 - queue, Queued: queue}
		}
		if !reflect.DeepEqual(s, want) {
			t.Errorf("subscriber stats = %+v, want %+v", s, want)
		}
	}

	unblock()
	waitFor(t, "the stuck subscriber to catch up", func() bool { return stuck.len() == 1+queue })
	if got := ns(stuck.all()); !reflect.DeepEqual(got, seq(1, 1+queue)) {
		t.Errorf("stuck subscriber got %v, want the first %d", got, 1+queue)
	}
	stop()
	if err := events.Publish(ctx, b, lessonDone, lesson{}); !errors.Is(err, events.ErrClosed) {
		t.Errorf("Publish after stop: err = %v, want ErrClosed", err)
	}
	if err := b.Run(ctx); !errors.Is(err, events.ErrRunning) {
		t.Errorf("second Run: err = %v, want ErrRunning", err)
	}
}

func TestMemoryHandlerFailures(t *testing.T) {
	tests := []struct {
		name string
		fail func(events.Envelope[lesson]) error
	}{
		{"error", func(events.Envelope[lesson]) error { return errors.New("boom") }},
		{"panic", func(events.Envelope[lesson]) error { panic("boom") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := events.NewBus(nil, options(t, nil))
			var bad, good recorder[lesson]
			bad.fail = func(ev events.Envelope[lesson]) error {
				if ev.Payload.N == 1 {
					return tt.fail(ev)
				}
				return nil
			}
			events.Subscribe(b, lessonDone, "bad", bad.handle)
			events.Subscribe(b, lessonDone, "good", good.handle)
			start(t, b)
			for i := 1; i <= 3; i++ {
				if err := events.Publish(context.Background(), b, lessonDone, lesson{N: i}); err != nil {
					t.Fatalf("Publish: %v", err)
				}
			}
			waitFor(t, "deliveries", func() bool { return bad.len() == 2 && good.len() == 3 })
			if got := ns(bad.all()); !reflect.DeepEqual(got, []int{2, 3}) {
				t.Errorf("after a failure the subscriber got %v, want [2 3] (no retry in memory)", got)
			}
			if st := b.Stats(); st.Failed != 1 || st.Delivered != 5 {
				t.Errorf("stats: failed %d delivered %d, want 1 and 5", st.Failed, st.Delivered)
			}
		})
	}
}
