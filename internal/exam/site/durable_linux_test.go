package site

import (
	"context"
	"slices"
	"strings"
	"testing"

	"jnedu/internal/exam/site/sitefixture"
)

// TestStateChangesAreSynced: every request that changes the attempt state
// syncs site.db's write-ahead log before it is answered; reads,
// heartbeats, chunks and refusals do not. When the sync fails the request
// is answered 503 write_failed and the console shows an alarm until a
// sync works again.
func TestStateChangesAreSynced(t *testing.T) {
	fx := buildFixture(t, sitefixture.Options{})
	n, srv := startedNode(t, fx, Options{})
	a := &client{t: t, base: srv.URL}
	syncs := func() int64 { return n.wal.syncs.Load() }
	step := func(name string, want int64, fn func()) {
		t.Helper()
		before := syncs()
		fn()
		if got := syncs() - before; got != want {
			t.Errorf("%s: %d syncs of the log, want %d", name, got, want)
		}
	}
	step("a wrong number", 0, func() { mustCode(t, a.signIn("2027999999", "devA"), 404, "exam.site.no_such_number") })
	step("sign-in", 1, func() { must(t, a.signIn(fx.Numbers[0], "devA"), 200) })
	step("the attempt read", 0, func() { a.view() })
	step("confirm", 1, func() { must(t, a.do("POST", a.att("/confirm"), map[string]any{}, nil), 200) })
	if err := n.SetRoom(context.Background(), "S1", "01", "start"); err != nil {
		t.Fatal(err)
	}
	step("open an item", 1, func() { must(t, a.do("POST", a.att("/items/s2i1/open"), map[string]any{}, nil), 200) })
	step("a chunk", 0, func() { must(t, a.chunk("s2i1", 0, speech(0)), 200) })
	step("a heartbeat", 0, func() {
		must(t, a.do("POST", a.att("/heartbeat"), Heartbeat{Item: "s2i1", Phase: "answer", RemainingMs: 1000}, nil), 200)
	})

	// A log that cannot be synced (fdatasync of /dev/null fails).
	n.wal.close()
	n.wal.path = "/dev/null"
	r := a.do("POST", a.att("/items/s2i1/close"), map[string]any{"chunks": 1}, nil)
	mustCode(t, r, 503, "exam.site.write_failed")
	if !strings.Contains(string(r.Body), "考点暂时无法保存") {
		t.Errorf("503 message: %s", r.Body)
	}
	kinds := func() []string {
		var out []string
		for _, al := range n.Alarms() {
			out = append(out, al.Kind)
		}
		return out
	}
	if !slices.Contains(kinds(), "db") {
		t.Fatalf("alarms %v, want db", kinds())
	}
	// Synced again: the alarm goes and the request (repeated by the
	// client) is answered.
	n.wal.close()
	n.wal.path = n.opt.DataDir + "/site.db-wal"
	step("close the item", 1, func() { must(t, a.do("POST", a.att("/items/s2i1/close"), map[string]any{"chunks": 1}, nil), 200) })
	if slices.Contains(kinds(), "db") {
		t.Errorf("alarm db still raised after a good sync")
	}
}
