// Package events is the typed publish/subscribe bus inside the process, with
// an outbox table for the events that must not be lost.
//
// Subsystems never import each other: whatever crosses a boundary (a video
// watched, an exam scored) is published on a Topic and handled by
// subscribers. A publisher picks the guarantee it needs:
//
//   - Publish is in-memory and best-effort. The event is queued for every
//     subscriber of the topic and handled asynchronously; the publisher never
//     waits. Each subscriber has a bounded queue: when it is full the new
//     event is dropped for that subscriber (drop-newest) and counted in
//     Stats.Dropped. Nothing survives a restart.
//   - PublishTx writes the event into the outbox table inside the caller's
//     transaction, so the action and its event commit or roll back together.
//     The relay (Run) gives each committed row a position in one global order
//     and delivers it to every durable subscriber of its topic, in that order,
//     at least once, retrying a failing subscriber with backoff without
//     holding up the others, and continuing after a restart from where each
//     subscriber stopped.
//
// A subscriber is a name (stable across restarts: it keys the subscriber's
// progress in the database) with one handler per topic. It receives the
// events of both paths; calls to one subscriber's handlers never overlap.
// Handlers must be idempotent: Envelope.ID is stable across redeliveries.
//
// Wiring, in the composition root:
//
//	sources = append(sources, events.Migrations())   // tables events_*
//	bus := events.NewBus(d, events.Options{Logger: log, Now: now})
//	share.Register(bus) ...                          // every Subscribe, before Run
//	go bus.Run(ctx)                                  // stop it after the HTTP server
//
// Stats feeds the metrics; Parked lists the events a subscriber gave up on.
package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"jnedu/internal/platform/db"
)

// Topic names a stream of events whose payloads have type T. Declare topics
// once, next to their payload type, in the package that owns the event:
//
//	var VideoWatched = events.NewTopic[VideoWatchedEvent]("share.video_watched")
type Topic[T any] struct{ Name string }

// NewTopic returns the topic called name. It panics when name is not a valid
// topic name (1 to 100 characters of a-z, 0-9, '.', '_' and '-', starting
// with a letter or digit): topics are declared by the program, not by users.
func NewTopic[T any](name string) Topic[T] {
	if err := validName(name); err != nil {
		panic(fmt.Sprintf("events.NewTopic(%q): %v", name, err))
	}
	return Topic[T]{Name: name}
}

// Envelope is one event as a subscriber sees it.
type Envelope[T any] struct {
	// ID identifies the event; it is the same on every delivery of the
	// event, so subscribers use it to make their handling idempotent.
	ID string
	// Topic is the topic's name.
	Topic string
	// OccurredAt is when the event was published (millisecond precision).
	OccurredAt time.Time
	// Payload is the event's data. An in-memory event shares it with the
	// publisher and the other subscribers: treat it as read-only.
	Payload T
	// Durable is true for an event that came through the outbox.
	Durable bool
	// Attempt counts deliveries of a durable event to this subscriber,
	// starting at 1; it is always 1 for in-memory events.
	Attempt int
}

// Handler handles one event. A durable event whose handler returns an error
// (or panics) is retried later; return an error wrapping ErrPermanent to park
// the event instead.
type Handler[T any] func(ctx context.Context, ev Envelope[T]) error

var (
	// ErrPermanent, wrapped in a handler's error, says that retrying cannot
	// help: the durable event is parked for this subscriber and the next
	// one is delivered.
	ErrPermanent = errors.New("events: permanent failure")
	// ErrClosed is returned by Publish once the bus has stopped.
	ErrClosed = errors.New("events: bus stopped")
	// ErrTopicType is returned when a topic name is used with two payload
	// types on one bus.
	ErrTopicType = errors.New("events: topic used with another payload type")
	// ErrTooLarge is returned when an encoded payload exceeds
	// Options.MaxPayloadBytes.
	ErrTooLarge = errors.New("events: payload too large")
	// ErrNoDatabase is returned by PublishTx on a bus made without a
	// database.
	ErrNoDatabase = errors.New("events: bus has no database")
	// ErrRunning is returned when Run is called on a bus that is running or
	// has stopped.
	ErrRunning = errors.New("events: bus already started")
)

// Options tune a Bus. The zero value gives production defaults.
type Options struct {
	// Logger receives the bus's logs (nil: discarded).
	Logger *slog.Logger
	// Now is the clock (nil: time.Now). It stamps events, leases and
	// retention; waiting uses real timers.
	Now func() time.Time
	// QueueSize bounds each subscriber's in-memory queue (default 1024).
	QueueSize int
	// MaxPayloadBytes bounds an encoded durable payload (default 1 MiB).
	MaxPayloadBytes int
	// PollInterval is how often the relay looks for outbox rows it was not
	// told about, e.g. written by another process (default 1s).
	PollInterval time.Duration
	// BatchSize bounds the outbox rows read or ordered at once (default 100).
	BatchSize int
	// RetryMin and RetryMax bound the backoff between deliveries of a
	// failing durable event (defaults 500ms and 30s); the delay doubles
	// with each attempt, with jitter.
	RetryMin, RetryMax time.Duration
	// MaxAttempts parks a durable event after this many failed deliveries
	// to one subscriber (0, the default: retry until it succeeds, keeping
	// the order; the failure shows in Stats and the logs).
	MaxAttempts int
	// HandlerTimeout bounds one handler call through its context
	// (default 30s).
	HandlerTimeout time.Duration
	// LeaseTTL is how long a process owns a durable subscriber without
	// renewing it (default 1m). After a hard crash, another process (or the
	// restarted one) resumes that subscriber once the lease has run out; a
	// clean stop releases it at once.
	LeaseTTL time.Duration
	// Instance names this bus as lease owner (default: random per bus).
	Instance string
	// Retention is how long delivered outbox rows are kept (default 7
	// days). A subscriber not seen for this long no longer holds rows back.
	Retention time.Duration
	// PruneInterval is how often Run prunes the outbox (default 10m).
	PruneInterval time.Duration
	// StatsInterval is how often Run measures the outbox backlog
	// (default 15s).
	StatsInterval time.Duration
	// ShutdownTimeout bounds how long Run, once its context ends, waits
	// for handlers to return and in-memory queues to drain (default 10s).
	ShutdownTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	setDefault(&o.QueueSize, 1024)
	setDefault(&o.MaxPayloadBytes, 1<<20)
	setDefault(&o.PollInterval, time.Second)
	setDefault(&o.BatchSize, 100)
	setDefault(&o.RetryMin, 500*time.Millisecond)
	setDefault(&o.RetryMax, 30*time.Second)
	if o.RetryMax < o.RetryMin {
		o.RetryMax = o.RetryMin
	}
	setDefault(&o.HandlerTimeout, 30*time.Second)
	setDefault(&o.LeaseTTL, time.Minute)
	setDefault(&o.Retention, 7*24*time.Hour)
	setDefault(&o.PruneInterval, 10*time.Minute)
	setDefault(&o.StatsInterval, 15*time.Second)
	setDefault(&o.ShutdownTimeout, 10*time.Second)
	if o.Instance == "" {
		var b [8]byte
		rand.Read(b[:])
		o.Instance = hex.EncodeToString(b[:])
	}
	return o
}

func setDefault[N int | time.Duration](v *N, def N) {
	if *v <= 0 {
		*v = def
	}
}

// Bus carries events between the subsystems of one process. Make one with
// NewBus, register every subscriber, then start Run.
type Bus struct {
	db  *db.DB
	opt Options
	log *slog.Logger
	now func() time.Time

	mu      sync.RWMutex
	types   map[string]reflect.Type  // topic → payload type
	subs    map[string]*subscriber   // by name
	byTopic map[string][]*subscriber // topic → subscribers, in name order
	state   runState

	wake chan struct{} // PublishTx → sequencer

	published   atomic.Uint64
	publishedTx atomic.Uint64
	delivered   atomic.Uint64
	failed      atomic.Uint64
	dropped     atomic.Uint64
	parked      atomic.Uint64
	pruned      atomic.Uint64
	backlog     atomic.Int64
}

type runState int

const (
	stateNew runState = iota
	stateRunning
	stateStopped
)

// NewBus makes a bus. d may be nil for a bus that only carries in-memory
// events; with a database, the "events" migrations (Migrations) must have
// been applied.
func NewBus(d *db.DB, opt Options) *Bus {
	opt = opt.withDefaults()
	b := &Bus{
		db:      d,
		opt:     opt,
		log:     opt.Logger.With("component", "events"),
		now:     opt.Now,
		types:   map[string]reflect.Type{},
		subs:    map[string]*subscriber{},
		byTopic: map[string][]*subscriber{},
		wake:    make(chan struct{}, 1),
	}
	b.backlog.Store(-1)
	return b
}

// subscriber is one named subscriber with its handlers, in-memory queue and
// counters.
type subscriber struct {
	name     string
	handlers map[string]handler // by topic
	topics   []string           // sorted
	queue    chan memEvent
	wake     chan struct{} // sequencer → durable worker

	callMu sync.Mutex // one handler call at a time

	position  atomic.Int64
	delivered atomic.Uint64
	failed    atomic.Uint64
	dropped   atomic.Uint64
	parked    atomic.Uint64
	dropping  atomic.Bool // the queue was full at the last publish

	lease leaseState // owned by the durable worker goroutine
}

// handler adapts a typed Handler to both delivery paths.
type handler struct {
	mem     func(ctx context.Context, e memEvent) error
	durable func(ctx context.Context, r outboxRow, attempt int) error
}

// memEvent is an in-memory event in a subscriber's queue.
type memEvent struct {
	id      string
	topic   string
	at      time.Time
	payload any
}

// decodeError marks a durable payload the subscriber's type cannot hold.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return "decode payload: " + e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// Subscribe registers fn as subscriber's handler for topic t. subscriber is
// a stable name such as "insight.video_views" (same rules as topic names);
// one subscriber may handle several topics, and then sees their durable
// events in their one global order. Subscribe must be called before Run; it
// panics on a programming error: an invalid name, a nil handler, a second
// handler for the same subscriber and topic, a topic already used with
// another payload type, or a bus already started.
//
// A subscriber seen by the database for the first time starts after the
// outbox rows already ordered at that moment; rows committed but not yet
// ordered (e.g. written before the first Run) are delivered to it.
func Subscribe[T any](b *Bus, t Topic[T], subscriber string, fn Handler[T]) {
	if fn == nil {
		panic("events.Subscribe: nil handler")
	}
	h := handler{
		mem: func(ctx context.Context, e memEvent) error {
			p, _ := e.payload.(T) // the type registry guarantees T (nil stays the zero value)
			return fn(ctx, Envelope[T]{ID: e.id, Topic: e.topic, OccurredAt: e.at, Payload: p, Attempt: 1})
		},
		durable: func(ctx context.Context, r outboxRow, attempt int) error {
			var p T
			if err := json.Unmarshal(r.payload, &p); err != nil {
				return &decodeError{err}
			}
			return fn(ctx, Envelope[T]{
				ID: r.id, Topic: r.topic, OccurredAt: time.UnixMilli(r.createdAt),
				Payload: p, Durable: true, Attempt: attempt,
			})
		},
	}
	if err := b.subscribe(t.Name, reflect.TypeFor[T](), subscriber, h); err != nil {
		panic("events.Subscribe: " + err.Error())
	}
}

func (b *Bus) subscribe(topic string, typ reflect.Type, name string, h handler) error {
	if err := validName(topic); err != nil {
		return fmt.Errorf("topic %q: %w", topic, err)
	}
	if err := validName(name); err != nil {
		return fmt.Errorf("subscriber %q: %w", name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != stateNew {
		return fmt.Errorf("subscriber %q on %q: %w", name, topic, ErrRunning)
	}
	if err := b.checkTypeLocked(topic, typ); err != nil {
		return err
	}
	s := b.subs[name]
	if s == nil {
		s = &subscriber{
			name:     name,
			handlers: map[string]handler{},
			queue:    make(chan memEvent, b.opt.QueueSize),
			wake:     make(chan struct{}, 1),
		}
		b.subs[name] = s
	}
	if _, dup := s.handlers[topic]; dup {
		return fmt.Errorf("subscriber %q already handles %q", name, topic)
	}
	s.handlers[topic] = h
	s.topics = append(s.topics, topic)
	sort.Strings(s.topics)
	list := append(b.byTopic[topic], s)
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	b.byTopic[topic] = list
	return nil
}

// checkType records typ as the payload type of topic, or fails if the topic
// has another one.
func (b *Bus) checkType(topic string, typ reflect.Type) error {
	if err := validName(topic); err != nil {
		return fmt.Errorf("events: topic %q: %w", topic, err)
	}
	b.mu.RLock()
	known, ok := b.types[topic]
	b.mu.RUnlock()
	if ok && known == typ {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.checkTypeLocked(topic, typ)
}

func (b *Bus) checkTypeLocked(topic string, typ reflect.Type) error {
	known, ok := b.types[topic]
	if !ok {
		b.types[topic] = typ
		return nil
	}
	if known != typ {
		return fmt.Errorf("%w: %q carries %v, not %v", ErrTopicType, topic, known, typ)
	}
	return nil
}

// Publish queues payload for every subscriber of t and returns at once. It
// is best-effort: a subscriber whose queue is full misses the event (counted
// in Stats.Dropped), and queued events are lost if the process stops. Events
// published before Run are held in the queues until it starts. Handlers run
// with the bus's context, not ctx.
func Publish[T any](ctx context.Context, b *Bus, t Topic[T], payload T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.checkType(t.Name, reflect.TypeFor[T]()); err != nil {
		return err
	}
	now := b.now()
	return b.publishMem(memEvent{
		id: newID(now), topic: t.Name, at: time.UnixMilli(now.UnixMilli()), payload: payload,
	})
}

// PublishTx writes payload to the outbox in tx, the caller's transaction:
// the event exists if and only if tx commits. After the commit the relay
// (Run, in this process or another on the same database) delivers it to
// every subscriber of t at least once. On SQLite, pass the transaction of
// db.InTx, never the DB, while inside it.
func PublishTx[T any](ctx context.Context, tx db.Querier, b *Bus, t Topic[T], payload T) error {
	return PublishManyTx(ctx, tx, b, t, []T{payload})
}

// PublishManyTx is PublishTx for several events of one topic, written to
// the outbox in one multi-row INSERT per 200 (a batch of records is one
// statement to parse, not one per record). They are delivered in order.
func PublishManyTx[T any](ctx context.Context, tx db.Querier, b *Bus, t Topic[T], payloads []T) error {
	if b.db == nil {
		return ErrNoDatabase
	}
	if err := b.checkType(t.Name, reflect.TypeFor[T]()); err != nil {
		return err
	}
	const perInsert = 200
	now := b.now()
	vals := make([]any, 0, 4*min(len(payloads), perInsert))
	for start := 0; start < len(payloads); start += perInsert {
		chunk := payloads[start:min(start+perInsert, len(payloads))]
		vals = vals[:0]
		for _, payload := range chunk {
			body, err := json.Marshal(payload)
			if err != nil {
				return fmt.Errorf("events: encode %s payload: %w", t.Name, err)
			}
			if len(body) > b.opt.MaxPayloadBytes {
				return fmt.Errorf("%w: %s payload is %d bytes, limit %d", ErrTooLarge, t.Name, len(body), b.opt.MaxPayloadBytes)
			}
			vals = append(vals, newID(now), t.Name, string(body), now.UnixMilli())
		}
		q := "INSERT INTO events_outbox (id, topic, payload, created_at) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?),", len(chunk)), ",")
		if _, err := tx.Exec(ctx, q, vals...); err != nil {
			return fmt.Errorf("events: write %s to the outbox: %w", t.Name, err)
		}
	}
	n := uint64(len(payloads))
	b.published.Add(n)
	b.publishedTx.Add(n)
	// The rows are not visible until the caller commits: the sequencer
	// then polls quickly for a while (see runSequencer).
	signal(b.wake)
	return nil
}

// Stats is a snapshot of the bus's counters since NewBus, for metrics.
type Stats struct {
	// Published counts events accepted by Publish and PublishTx.
	Published uint64
	// PublishedTx is the part of Published written to the outbox (a row
	// whose transaction then rolled back still counts).
	PublishedTx uint64
	// Delivered counts handler calls that succeeded, both paths.
	Delivered uint64
	// Failed counts handler calls that returned an error or panicked.
	Failed uint64
	// Dropped counts in-memory deliveries lost to a full queue (or to a
	// shutdown that could not drain the queue in time).
	Dropped uint64
	// Parked counts durable events given up on by a subscriber.
	Parked uint64
	// Pruned counts outbox rows removed after their retention.
	Pruned uint64
	// Backlog is the number of outbox rows not yet handled by every live
	// durable subscriber, as last measured by Run or Backlog (-1: not
	// measured yet, or no database).
	Backlog int64
	// Subscribers has one entry per subscriber, in name order.
	Subscribers []SubscriberStats
}

// SubscriberStats are one subscriber's counters.
type SubscriberStats struct {
	Name      string
	Topics    []string
	Delivered uint64
	Failed    uint64
	Dropped   uint64
	Parked    uint64
	// Queued is the current length of its in-memory queue.
	Queued int
	// Position is the last outbox position it has handled, as last seen
	// by this bus (0 before the relay has claimed it).
	Position int64
}

// Stats returns the current counters. It does not touch the database.
func (b *Bus) Stats() Stats {
	st := Stats{
		Published:   b.published.Load(),
		PublishedTx: b.publishedTx.Load(),
		Delivered:   b.delivered.Load(),
		Failed:      b.failed.Load(),
		Dropped:     b.dropped.Load(),
		Parked:      b.parked.Load(),
		Pruned:      b.pruned.Load(),
		Backlog:     b.backlog.Load(),
	}
	b.mu.RLock() // Subscribe may still be adding topics
	defer b.mu.RUnlock()
	for _, s := range b.subscribersLocked() {
		st.Subscribers = append(st.Subscribers, SubscriberStats{
			Name:      s.name,
			Topics:    append([]string(nil), s.topics...),
			Delivered: s.delivered.Load(),
			Failed:    s.failed.Load(),
			Dropped:   s.dropped.Load(),
			Parked:    s.parked.Load(),
			Queued:    len(s.queue),
			Position:  s.position.Load(),
		})
	}
	return st
}

// subscribers lists the subscribers in name order.
func (b *Bus) subscribers() []*subscriber {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.subscribersLocked()
}

func (b *Bus) subscribersLocked() []*subscriber {
	out := make([]*subscriber, 0, len(b.subs))
	for _, s := range b.subs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// call runs one handler call of s, one at a time per subscriber, turning a
// panic into an error (its stack is logged here).
func (b *Bus) call(ctx context.Context, s *subscriber, topic string, fn func(context.Context) error) (err error) {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r}
			b.log.Error("event handler panicked", "subscriber", s.name, "topic", topic,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	return fn(ctx)
}

type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.value) }

// signal wakes whoever waits on c without ever blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// validName accepts 1 to 100 characters of a-z, 0-9, '.', '_' and '-',
// starting with a letter or digit.
func validName(s string) error {
	if s == "" || len(s) > 100 {
		return errors.New("want 1 to 100 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return fmt.Errorf("character %q at %d: want a-z, 0-9, '.', '_' or '-'", c, i)
		}
	}
	return nil
}

// newID returns a UUIDv7: 48 bits of unix milliseconds then random bits, so
// IDs sort roughly by time and never repeat.
func newID(now time.Time) string {
	var u [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		u[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(u[6:])
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return string(out[:])
}
