package site

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"jnedu/internal/platform/web"
)

// Sign-in guards, per client address and in memory. Only refusals count
// (a wrong admission number, a wrong proctor password): a room of PCs
// behind one address signs in as fast as it likes as long as the numbers
// are right. When an address has used up its refusals, every sign-in from
// it (right or wrong) waits one interval, so a guess cannot be told apart
// from a hit by the answer.
const (
	// Candidates: 30 wrong admission numbers at once (a whole room
	// mistyping once), then one every 2 s.
	candidateFailBurst = 30
	candidateFailEvery = 2 * time.Second
	// Proctor console: 10 wrong passwords at once, then one every 6 s
	// (the per-name lock — five in a row — applies too).
	staffFailBurst = 10
	staffFailEvery = 6 * time.Second
)

// guard slows down refused sign-ins from one address.
type guard struct {
	lim   *web.RateLimiter
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	until map[string]time.Time // address → end of its wait
}

func newGuard(burst int, every time.Duration, now func() time.Time) *guard {
	return &guard{lim: web.NewRateLimiter(burst, every, now), every: every, now: now, until: map[string]time.Time{}}
}

// wait is how long addr must still wait (0: go ahead).
func (g *guard) wait(addr string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	u, ok := g.until[addr]
	if !ok {
		return 0
	}
	if d := u.Sub(g.now()); d > 0 {
		return d
	}
	delete(g.until, addr)
	return 0
}

// refused counts a refusal from addr; it reports false when addr had none
// left (it then waits one interval).
func (g *guard) refused(addr string) bool {
	if g.lim.Allow(addr) {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if len(g.until) > 10000 {
		for k, u := range g.until {
			if !u.After(now) {
				delete(g.until, k)
			}
		}
	}
	g.until[addr] = now.Add(g.every)
	return false
}

// clientAddr is the caller's IP address: the site node is reached on the
// LAN directly, never through a proxy, so the peer address is the client.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// retryAfter sets the Retry-After header (whole seconds, at least 1).
func retryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((d+time.Second-1)/time.Second))))
}
