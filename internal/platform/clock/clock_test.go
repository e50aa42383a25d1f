package clock_test

import (
	"sync"
	"testing"
	"time"

	"jnedu/internal/platform/clock"
)

func TestFakeMovesOnlyWhenTold(t *testing.T) {
	start := time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)
	c := clock.NewFake(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", c.Now(), start)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); c.Add(time.Second) }()
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(10*time.Second); !got.Equal(want) {
		t.Fatalf("after 10 × 1 s: %v, want %v", got, want)
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Set: %v, want %v", c.Now(), start)
	}
}
