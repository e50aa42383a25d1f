package site

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"jnedu/internal/exam/site/sitefixture"
)

// TestMoveSeat: a move goes only to a seat of the candidate's room that
// nobody else holds, needs a reason, and is listed by the end-of-session
// check with the manifest's from, to, item and reason.
func TestMoveSeat(t *testing.T) {
	// Four candidates on seats 1–4, spare seats 5 and 6.
	fx := buildFixture(t, sitefixture.Options{})
	n, srv := startedNode(t, fx, Options{})
	ctx := context.Background()
	if err := n.SetRoom(ctx, "S1", "01", "start"); err != nil {
		t.Fatal(err)
	}
	a := &client{t: t, base: srv.URL}
	must(t, a.signIn(fx.Numbers[0], "devA"), 200)
	b := &client{t: t, base: srv.URL}
	must(t, b.signIn(fx.Numbers[1], "devB"), 200)
	must(t, a.do("POST", a.att("/items/s1i1/open"), map[string]any{}, nil), 200)

	code := func(err error) string {
		if err == nil {
			return ""
		}
		return toErr(err).Code
	}
	for _, c := range []struct {
		what   string
		number string
		seat   int
		reason string
		want   string
	}{
		{"no reason", fx.Numbers[0], 5, "", "exam.site.reason_required"},
		{"seat 0", fx.Numbers[0], 0, "电脑死机", "exam.site.bad_seat"},
		{"past the spare seats", fx.Numbers[0], 7, "电脑死机", "exam.site.bad_seat"},
		{"a signed-in candidate's seat", fx.Numbers[0], 2, "电脑死机", "exam.site.seat_taken"},
		{"a seat assigned to one not signed in", fx.Numbers[0], 3, "电脑死机", "exam.site.seat_taken"},
		{"not signed in", fx.Numbers[2], 6, "电脑死机", "exam.site.not_signed_in"},
		{"unknown number", "2027999999", 6, "电脑死机", "exam.site.no_such_number"},
		{"to a spare seat", fx.Numbers[0], 5, "电脑死机", ""},
		{"onto the moved candidate's new seat", fx.Numbers[1], 5, "耳机故障", "exam.site.seat_taken"},
		{"onto the seat the moved candidate left", fx.Numbers[1], 1, "耳机故障", ""},
		{"to the seat they hold (a new browser there)", fx.Numbers[0], 5, "浏览器重装", ""},
	} {
		if got := code(n.Move(ctx, "S1", c.number, c.seat, c.reason)); got != c.want {
			t.Errorf("%s: %q, want %q", c.what, got, c.want)
		}
	}
	// A marked-absent candidate still holds their seat on the grid.
	if err := n.Mark(ctx, "S1", fx.Numbers[3], StateAbsent, ""); err != nil {
		t.Fatal(err)
	}
	if got := code(n.Move(ctx, "S1", fx.Numbers[0], 4, "电脑死机")); got != "exam.site.seat_taken" {
		t.Errorf("onto an absent candidate's seat: %q", got)
	}
	rv, err := n.Room(ctx, "S1", "01")
	if err != nil {
		t.Fatal(err)
	}
	bySeat := map[int]string{}
	for _, s := range rv.Seats {
		bySeat[s.Seat] = s.Number
	}
	if bySeat[5] != fx.Numbers[0] || bySeat[1] != fx.Numbers[1] || bySeat[2] != "" || bySeat[6] != "" {
		t.Fatalf("grid after the moves: %v", bySeat)
	}

	// The end-of-session check, through the console API, lists the moves.
	c := wire{t: t, h: n.Handler(), addr: "10.0.1.1"}
	login := c.send("POST", "/console/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		strings.NewReader(url.Values{"username": {"proctor"}, "password": {"proctor-pass-1"}}.Encode()), 0)
	var cookie string
	for _, ck := range (&http.Response{Header: login.hdr}).Cookies() {
		if ck.Name == staffCookie {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	ans := c.send("GET", "/console/api/sessions/S1/check", map[string]string{"Cookie": cookie}, nil, 0)
	var check struct {
		Moves []struct {
			Number, Room, Item, Reason string
			From, To                   int
			At                         int64
		}
	}
	if err := json.Unmarshal(ans.body, &check); ans.status != 200 || err != nil {
		t.Fatalf("check: %d %s", ans.status, ans.body)
	}
	type mv struct {
		number    string
		from, to  int
		item, why string
	}
	want := []mv{{fx.Numbers[0], 1, 5, "s1i1", "电脑死机"}, {fx.Numbers[0], 5, 5, "s1i1", "浏览器重装"}, {fx.Numbers[1], 2, 1, "s1i1", "耳机故障"}}
	if len(check.Moves) != len(want) {
		t.Fatalf("check moves: %s", ans.body)
	}
	for i, w := range want {
		g := check.Moves[i]
		if (mv{g.Number, g.From, g.To, g.Item, g.Reason}) != w || g.Room != "01" || g.At == 0 {
			t.Errorf("move %d: %+v, want %+v", i, g, w)
		}
	}
	// The HTTP answer names the seat.
	isErr(t, n, "move onto a taken seat", c.send("POST", "/console/api/move", map[string]string{"Cookie": cookie, "Content-Type": "application/json"},
		strings.NewReader(`{"session":"S1","number":"`+fx.Numbers[1]+`","seat":5,"reason":"r"}`), 0), 409, "exam.site.seat_taken", 5)

	// Once the session has ended nobody is moved.
	if err := n.EndSession(ctx, "S1", "chief"); err != nil {
		t.Fatal(err)
	}
	if got := code(n.Move(ctx, "S1", fx.Numbers[1], 6, "电脑死机")); got != "exam.site.session_ended" {
		t.Errorf("after the end: %q", got)
	}
}
