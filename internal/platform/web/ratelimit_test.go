package web

import (
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	l := NewRateLimiter(3, time.Second, clock)
	for i := 0; i < 3; i++ {
		if !l.Allow("a") {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	if l.Allow("a") {
		t.Error("fourth attempt allowed beyond the burst")
	}
	if !l.Allow("b") {
		t.Error("another address shares the bucket")
	}
	now = now.Add(1100 * time.Millisecond)
	if !l.Allow("a") {
		t.Error("no token after a refill period")
	}
	if l.Allow("a") {
		t.Error("more than one token after one period")
	}
}
