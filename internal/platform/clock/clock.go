// Package clock holds a settable clock for code that takes a "now" function
// (every service's Options.Now or Settings.Now): tests move time forward
// instead of sleeping.
package clock

import (
	"sync"
	"time"
)

// Fake is a clock that only moves when told to. Safe for concurrent use.
type Fake struct {
	mu sync.Mutex
	t  time.Time
}

// NewFake returns a clock standing at t.
func NewFake(t time.Time) *Fake { return &Fake{t: t} }

// Now returns the clock's time; pass the method value (c.Now) where a
// func() time.Time is wanted.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward by d (backward when d is negative).
func (c *Fake) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set puts the clock at t.
func (c *Fake) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
