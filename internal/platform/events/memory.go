package events

import (
	"context"
	"time"
)

// publishMem queues e for every subscriber of its topic without blocking.
func (b *Bus) publishMem(e memEvent) error {
	b.mu.RLock()
	if b.state == stateStopped {
		b.mu.RUnlock()
		return ErrClosed
	}
	subs := b.byTopic[e.topic]
	b.mu.RUnlock()
	b.published.Add(1)
	for _, s := range subs {
		select {
		case s.queue <- e:
			s.dropping.Store(false)
		default:
			s.dropped.Add(1)
			b.dropped.Add(1)
			// Warn once per run of drops, not once per event.
			if !s.dropping.Swap(true) {
				b.log.Warn("subscriber queue full: dropping in-memory events",
					"subscriber", s.name, "topic", e.topic, "queue_size", cap(s.queue))
			}
		}
	}
	return nil
}

// runMemory hands a subscriber its in-memory events until ctx ends, then
// drains what is left for at most ShutdownTimeout.
func (b *Bus) runMemory(ctx context.Context, s *subscriber) {
	for {
		select {
		case <-ctx.Done():
			b.drainMemory(ctx, s)
			return
		case e := <-s.queue:
			b.deliverMem(ctx, s, e)
		}
	}
}

func (b *Bus) drainMemory(ctx context.Context, s *subscriber) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opt.ShutdownTimeout)
	defer cancel()
	for {
		if dctx.Err() != nil {
			if n := len(s.queue); n > 0 {
				s.dropped.Add(uint64(n))
				b.dropped.Add(uint64(n))
				b.log.Warn("shutdown: in-memory events not delivered", "subscriber", s.name, "count", n)
			}
			return
		}
		select {
		case e := <-s.queue:
			b.deliverMem(dctx, s, e)
		default:
			return
		}
	}
}

// deliverMem makes one attempt: in-memory events are not retried.
func (b *Bus) deliverMem(ctx context.Context, s *subscriber, e memEvent) {
	h := s.handlers[e.topic]
	hctx, cancel := context.WithTimeout(ctx, b.opt.HandlerTimeout)
	defer cancel()
	start := time.Now()
	err := b.call(hctx, s, e.topic, func(c context.Context) error { return h.mem(c, e) })
	if err != nil {
		s.failed.Add(1)
		b.failed.Add(1)
		b.log.Error("in-memory event handler failed", "subscriber", s.name, "topic", e.topic,
			"event_id", e.id, "took", time.Since(start), "err", err)
		return
	}
	s.delivered.Add(1)
	b.delivered.Add(1)
}
