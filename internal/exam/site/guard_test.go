package site

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"jnedu/internal/exam/site/sitefixture"
)

// TestSignInGuard: a room of PCs behind one address signs in with right
// numbers without limit; a burst of wrong numbers from one address is
// answered 429 with a Chinese message (and then every sign-in from that
// address waits a moment, right or wrong), while other addresses are not
// slowed; the console's sign-in is guarded the same way.
func TestSignInGuard(t *testing.T) {
	fx := buildFixture(t, sitefixture.Options{Candidates: 45})
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	n, _ := startedNode(t, fx, Options{Now: clock})
	h := n.Handler()
	post := func(addr, path, ctype, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.RemoteAddr = addr + ":50000"
		req.Header.Set("Content-Type", ctype)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	signIn := func(addr, number, device string) *httptest.ResponseRecorder {
		b, _ := json.Marshal(map[string]string{"number": number, "device": device})
		return post(addr, "/client/api/signin", "application/json", string(b))
	}
	code := func(w *httptest.ResponseRecorder) (string, string) {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.Unmarshal(w.Body.Bytes(), &e)
		return e.Error.Code, e.Error.Message
	}
	const room = "10.1.2.3"

	// A whole room behind one address signs in (and signs in again).
	for i, num := range fx.Numbers[:40] {
		for range 2 {
			if w := signIn(room, num, "pc"+num); w.Code != 200 {
				t.Fatalf("sign-in %d from the room's address: %d %s", i, w.Code, w.Body)
			}
		}
	}
	// Wrong numbers: the burst is answered 404, then 429.
	for i := range candidateFailBurst {
		if w := signIn(room, "2027999999", "pcX"); w.Code != 404 {
			t.Fatalf("wrong number %d: %d, want 404", i+1, w.Code)
		}
	}
	w := signIn(room, "2027999999", "pcX")
	c, msg := code(w)
	if w.Code != http.StatusTooManyRequests || c != "exam.site.too_many_numbers" || !strings.Contains(msg, "准考证号") || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("wrong number past the burst: %d %q %q Retry-After %q", w.Code, c, msg, w.Header().Get("Retry-After"))
	}
	// While the address waits, a right number waits too (a hit must not
	// look different from a miss) …
	if w := signIn(room, fx.Numbers[40], "pc40"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("right number while the address waits: %d, want 429", w.Code)
	}
	// … another address does not.
	if w := signIn("10.9.9.9", fx.Numbers[41], "pc41"); w.Code != 200 {
		t.Fatalf("another address: %d %s", w.Code, w.Body)
	}
	// In English on request.
	b, _ := json.Marshal(map[string]string{"number": "2027999999", "device": "pcX"})
	w = post(room, "/client/api/signin?lang=en", "application/json", string(b))
	if _, msg := code(w); w.Code != 429 || !strings.Contains(msg, "Too many wrong admission numbers") {
		t.Fatalf("English message: %d %q", w.Code, msg)
	}
	// One interval later one more try is allowed: a right number passes …
	skew.Add(int64(candidateFailEvery))
	if w := signIn(room, fx.Numbers[40], "pc40"); w.Code != 200 {
		t.Fatalf("right number after the wait: %d %s", w.Code, w.Body)
	}
	// … and a wrong one uses the token that came back, the next waits.
	if w := signIn(room, "2027999998", "pcX"); w.Code != 404 {
		t.Fatalf("one wrong number after the wait: %d, want 404", w.Code)
	}
	if w := signIn(room, "2027999997", "pcX"); w.Code != 429 {
		t.Fatalf("the next wrong number: %d, want 429", w.Code)
	}

	// Console: wrong passwords under many names from one address.
	form := func(addr, user, pw string) *httptest.ResponseRecorder {
		return post(addr, "/console/login", "application/x-www-form-urlencoded", url.Values{"username": {user}, "password": {pw}}.Encode())
	}
	for i := range staffFailBurst {
		if w := form(room, "nobody"+string(rune('a'+i)), "wrong"); w.Code != 401 {
			t.Fatalf("wrong console sign-in %d: %d, want 401", i+1, w.Code)
		}
	}
	w = form(room, "someone", "wrong")
	if w.Code != 429 || !bytes.Contains(w.Body.Bytes(), []byte("本机登录失败次数过多")) {
		t.Fatalf("console sign-in past the burst: %d %s", w.Code, w.Body)
	}
	if w := form(room, "chief", "proctor-pass-1"); w.Code != 429 {
		t.Fatalf("right password while the address waits: %d, want 429", w.Code)
	}
	if w := form("10.9.9.9", "chief", "proctor-pass-1"); w.Code != http.StatusSeeOther {
		t.Fatalf("the chief from another address: %d, want 303", w.Code)
	}
	skew.Add(int64(staffFailEvery))
	if w := form(room, "chief", "proctor-pass-1"); w.Code != http.StatusSeeOther {
		t.Fatalf("the chief after the wait: %d, want 303", w.Code)
	}
}
