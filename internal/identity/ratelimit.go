package identity

import (
	"sync"
	"time"
)

// rateLimiter is a token bucket per key (a client address), kept in memory:
// it blunts password guessing from one place; the per-account lockout in
// the database covers guessing spread over many addresses.
type rateLimiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	now     func() time.Time
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(burst int, every time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{burst: float64(burst), every: every, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for key, reporting false when none is left.
func (l *rateLimiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.sweep) > 10*time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.last) > time.Duration(l.burst)*l.every {
				delete(l.buckets, k)
			}
		}
		l.sweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens += float64(now.Sub(b.last)) / float64(l.every)
	if b.tokens > l.burst {
		b.tokens = l.burst
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
