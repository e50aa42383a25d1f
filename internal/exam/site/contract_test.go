package site

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"jnedu/internal/exam/site/sitefixture"
)

// The HTTP contract of the client and console APIs as docs/EXAM.md states
// it, call by call: statuses, error codes and bodies, headers, body limits,
// and the order of the checks (who is calling before what the body says;
// calls without a body do not read one).

// answer is one recorded answer.
type answer struct {
	status int
	hdr    http.Header
	body   []byte
}

// wire sends requests straight to a node's handler.
type wire struct {
	t    testing.TB
	h    http.Handler
	addr string // the client's IP address
}

func (c wire) send(method, path string, hdr map[string]string, body io.Reader, length int64) answer {
	c.t.Helper()
	req := httptest.NewRequest(method, path, body)
	if length != 0 {
		req.ContentLength = length
	}
	req.RemoteAddr = c.addr + ":40000"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, req)
	return answer{w.Code, w.Header(), w.Body.Bytes()}
}

// json sends a JSON body (a string as is) with the token, if any.
func (c wire) json(method, path, token string, body string) answer {
	c.t.Helper()
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	var rd io.Reader
	if body != "" {
		hdr["Content-Type"] = "application/json"
		rd = strings.NewReader(body)
	}
	return c.send(method, path, hdr, rd, 0)
}

func jsonHeaders(t *testing.T, what string, a answer) {
	t.Helper()
	if ct, cc := a.hdr.Get("Content-Type"), a.hdr.Get("Cache-Control"); ct != "application/json; charset=utf-8" || cc != "no-store" {
		t.Fatalf("%s: Content-Type %q, Cache-Control %q", what, ct, cc)
	}
	if a.hdr.Get("X-Content-Type-Options") != "nosniff" || a.hdr.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("%s: security headers missing: %v", what, a.hdr)
	}
}

// isErr checks an error answer: the status, the JSON form
// {"error": {"code", "message"}} and nothing more, the message in Chinese.
func isErr(t *testing.T, n *Node, what string, a answer, status int, code string, args ...any) {
	t.Helper()
	jsonHeaders(t, what, a)
	want, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": n.tr.T("zh", code, args...)}})
	if a.status != status || string(a.body) != string(want)+"\n" {
		t.Fatalf("%s: %d %s, want %d %s", what, a.status, a.body, status, want)
	}
}

func isOK(t *testing.T, what string, a answer) {
	t.Helper()
	jsonHeaders(t, what, a)
	if a.status != 200 || string(a.body) != "{\"ok\":true}\n" {
		t.Fatalf("%s: %d %s, want 200 {\"ok\":true}", what, a.status, a.body)
	}
}

// hasKeys checks a 200 JSON answer holding an object with exactly these
// keys.
func hasKeys(t *testing.T, what string, a answer, keys ...string) map[string]any {
	t.Helper()
	jsonHeaders(t, what, a)
	var m map[string]any
	if a.status != 200 || json.Unmarshal(a.body, &m) != nil || !bytes.HasSuffix(a.body, []byte("}\n")) {
		t.Fatalf("%s: %d %s", what, a.status, a.body)
	}
	got := []string{}
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(keys)
	if !reflect.DeepEqual(got, keys) {
		t.Fatalf("%s: keys %v, want %v", what, got, keys)
	}
	return m
}

func TestClientAPIContract(t *testing.T) {
	fx := buildFixture(t, sitefixture.Options{})
	n, _ := startedNode(t, fx, Options{})
	ctx := context.Background()
	c := wire{t: t, h: n.Handler(), addr: "10.0.0.1"}

	// Sign-in: the body's limits and form, then the number.
	signin := "/client/api/signin"
	isErr(t, n, "text body", c.send("POST", signin, map[string]string{"Content-Type": "text/plain"}, strings.NewReader("x"), 0),
		415, "err.json_content_type")
	isErr(t, n, "empty body", c.json("POST", signin, "", ""), 400, "err.json_empty")
	isErr(t, n, "cut JSON", c.json("POST", signin, "", `{"number":`), 400, "err.json_invalid")
	isErr(t, n, "bad JSON", c.json("POST", signin, "", `{"number":]`), 400, "err.json_syntax", 11)
	isErr(t, n, "unknown field", c.json("POST", signin, "", `{"number":"1","device":"d","x":1}`), 400, "err.json_unknown_field", "x")
	isErr(t, n, "wrong type", c.json("POST", signin, "", `{"number":1}`), 400, "err.json_type", "number")
	isErr(t, n, "trailing data", c.json("POST", signin, "", `{} {}`), 400, "err.json_trailing")
	isErr(t, n, "body over 64 KiB", c.json("POST", signin, "", `{"number":"`+strings.Repeat("1", 64<<10)+`"}`),
		413, "err.body_too_large", 64<<10)
	isErr(t, n, "no number", c.json("POST", signin, "", `{"number":" ","device":"d"}`), 400, "exam.site.number_required")
	isErr(t, n, "bad device", c.json("POST", signin, "", `{"number":"1","device":"a b"}`), 400, "exam.site.bad_device")
	isErr(t, n, "wrong number", c.json("POST", signin, "", `{"number":"2027999999","device":"d"}`), 404, "exam.site.no_such_number")
	si := hasKeys(t, "sign-in", c.json("POST", signin, "", `{"number":"`+fx.Numbers[0]+`","device":"devA"}`), "attempt", "token")
	id, tok := si["attempt"].(string), si["token"].(string)
	isErr(t, n, "another device", c.json("POST", signin, "", `{"number":"`+fx.Numbers[0]+`","device":"devB"}`),
		409, "exam.site.signed_in_elsewhere")

	// Too many wrong numbers from one address: 429 with Retry-After, and
	// while the address waits its body is not even read.
	g := wire{t: t, h: c.h, addr: "10.0.0.2"}
	for range candidateFailBurst {
		if a := g.json("POST", signin, "", `{"number":"2027999999","device":"d"}`); a.status != 404 {
			t.Fatalf("wrong number in the burst: %d", a.status)
		}
	}
	for _, body := range []string{`{"number":"2027999999","device":"d"}`, `{"number":"` + fx.Numbers[1] + `","device":"d"}`, `{`} {
		a := g.json("POST", signin, "", body)
		isErr(t, n, "past the burst: "+body, a, 429, "exam.site.too_many_numbers")
		if a.hdr.Get("Retry-After") != "2" {
			t.Fatalf("Retry-After %q", a.hdr.Get("Retry-After"))
		}
	}
	if a := c.json("POST", signin, "", `{"number":"2027999999","device":"d"}`); a.hdr.Get("Retry-After") != "" {
		t.Fatal("Retry-After on a plain refusal")
	}

	// Every call on an attempt checks the token first, whatever the body.
	b := wire{t: t, h: c.h, addr: "10.0.0.3"}
	other := hasKeys(t, "sign-in B", b.json("POST", signin, "", `{"number":"`+fx.Numbers[1]+`","device":"devB"}`), "attempt", "token")
	att := "/client/api/attempts/" + id
	calls := [][2]string{{"GET", ""}, {"GET", "/photo"}, {"POST", "/confirm"}, {"POST", "/device"}, {"GET", "/paper"},
		{"GET", "/files/" + fx.Paper.Sections[0].Items[0].Prompt.Audio}, {"POST", "/heartbeat"}, {"POST", "/items/s1i1/open"},
		{"PUT", "/items/s1i1/answer"}, {"PUT", "/items/s2i1/chunks/0"}, {"POST", "/items/s1i1/close"}, {"POST", "/finish"}}
	for _, call := range calls {
		what := call[0] + " " + call[1]
		for _, body := range []string{"", "{", `{"x":1}`} {
			isErr(t, n, what+" without a token", c.json(call[0], att+call[1], "", body), 401, "exam.site.no_token")
			a := c.send(call[0], att+call[1], map[string]string{"Authorization": "Basic " + tok, "Content-Type": "application/json"},
				strings.NewReader(body), 0)
			isErr(t, n, what+" with a Basic token", a, 401, "exam.site.no_token")
			isErr(t, n, what+" with a forged token", c.json(call[0], att+call[1], "forged", body), 403, "exam.site.not_your_attempt")
			isErr(t, n, what+" with another's token", c.json(call[0], att+call[1], other["token"].(string), body),
				403, "exam.site.not_your_attempt")
			isErr(t, n, what+" of no attempt", c.json(call[0], "/client/api/attempts/nope"+call[1], tok, body),
				403, "exam.site.not_your_attempt")
		}
	}

	// The view, the photo, the confirmation.
	hasKeys(t, "view", c.json("GET", att, tok, ""), "attempt", "candidate", "item", "items", "now", "paper_open", "room_state", "session")
	a := c.json("GET", att+"/photo", tok, "")
	photo := fx.Blobs[fx.Package.Candidates[0].Photo]
	if a.status != 200 || !bytes.Equal(a.body, photo) || a.hdr.Get("Content-Type") != http.DetectContentType(photo) ||
		a.hdr.Get("Cache-Control") != "private, no-store" {
		t.Fatalf("photo: %d %v (%d bytes)", a.status, a.hdr, len(a.body))
	}
	// Calls without a body do not read one.
	isOK(t, "confirm with any body", c.send("POST", att+"/confirm", map[string]string{"Authorization": "Bearer " + tok,
		"Content-Type": "text/plain"}, strings.NewReader("not json"), 0))
	isOK(t, "confirm again", c.json("POST", att+"/confirm", tok, "{}"))

	// The device check.
	isErr(t, n, "device: unknown field", c.json("POST", att+"/device", tok, `{"ok":true,"volume":1}`), 400,
		"err.json_unknown_field", "volume")
	isErr(t, n, "device: no body", c.json("POST", att+"/device", tok, ""), 400, "err.json_empty")
	isOK(t, "device not passed", c.json("POST", att+"/device", tok, `{"ok":false,"level":0}`))
	isOK(t, "device", c.json("POST", att+"/device", tok, `{"ok":true,"level":0.12}`))

	// Heartbeats.
	isErr(t, n, "heartbeat: bad JSON", c.json("POST", att+"/heartbeat", tok, `{"item"}`), 400, "err.json_syntax", 8)
	hb := hasKeys(t, "heartbeat", c.json("POST", att+"/heartbeat", tok, `{}`), "room_state", "state", "now", "paper_open")
	if hb["room_state"] != RoomWaiting || hb["state"] != StateReady || hb["paper_open"] != true {
		t.Fatalf("heartbeat: %v", hb)
	}

	// The paper and its files.
	isErr(t, n, "paper before the start", c.json("GET", att+"/paper", tok, ""), 409, "exam.site.room_not_started")
	isErr(t, n, "open before the start", c.json("POST", att+"/items/s1i1/open", tok, "{}"), 409, "exam.site.room_not_started")
	if err := n.SetRoom(ctx, "S1", "01", "start"); err != nil {
		t.Fatal(err)
	}
	at, err := n.attempt(ctx, n.db, id)
	if err != nil {
		t.Fatal(err)
	}
	op, err := n.paperFor(ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	a = c.json("GET", att+"/paper", tok, "")
	jsonHeaders(t, "paper", a)
	if a.status != 200 || !bytes.Equal(a.body, op.client) {
		t.Fatalf("paper: %d %s", a.status, a.body)
	}
	isErr(t, n, "no such file", c.json("GET", att+"/files/"+strings.Repeat("ab", 32), tok, ""), 404, "exam.site.no_such_file")
	sum := fx.Paper.Sections[0].Items[0].Prompt.Audio
	file := op.files[sum]
	a = c.json("GET", att+"/files/"+sum, tok, "")
	if a.status != 200 || !bytes.Equal(a.body, file) || a.hdr.Get("Content-Type") != http.DetectContentType(file) ||
		a.hdr.Get("Cache-Control") != "private, max-age=3600" || a.hdr.Get("Accept-Ranges") != "bytes" ||
		a.hdr.Get("Content-Length") != strconv.Itoa(len(file)) {
		t.Fatalf("file: %d %v (%d bytes)", a.status, a.hdr, len(a.body))
	}
	a = c.send("GET", att+"/files/"+sum, map[string]string{"Authorization": "Bearer " + tok, "Range": "bytes=4-11"}, nil, 0)
	if a.status != 206 || !bytes.Equal(a.body, file[4:12]) || a.hdr.Get("Content-Range") != "bytes 4-11/"+strconv.Itoa(len(file)) {
		t.Fatalf("file range: %d %v %q", a.status, a.hdr, a.body)
	}

	// An objective item.
	isOK(t, "open with any body", c.send("POST", att+"/items/s1i1/open", map[string]string{"Authorization": "Bearer " + tok},
		strings.NewReader("}"), 0))
	isErr(t, n, "answer: wrong type", c.json("PUT", att+"/items/s1i1/answer", tok, `{"choice":"1"}`), 400, "err.json_type", "choice")
	isOK(t, "answer", c.json("PUT", att+"/items/s1i1/answer", tok, `{"choice":1}`))
	isErr(t, n, "close: unknown field", c.json("POST", att+"/items/s1i1/close", tok, `{"count":0}`), 400,
		"err.json_unknown_field", "count")
	isOK(t, "close", c.json("POST", att+"/items/s1i1/close", tok, `{"chunks":0}`))
	isErr(t, n, "answer after the close", c.json("PUT", att+"/items/s1i1/answer", tok, `{"choice":2}`), 409, "exam.site.item_closed")

	// Chunks: a raw body, its hash in X-Chunk-SHA256.
	isOK(t, "open spoken", c.json("POST", att+"/items/s2i1/open", tok, `{}`))
	pcm := speech(0)
	h := sha256.Sum256(pcm)
	hash := hex.EncodeToString(h[:])
	chunk := func(seq string, hash string, body io.Reader, length int64) answer {
		hdr := map[string]string{"Authorization": "Bearer " + tok}
		if hash != "" {
			hdr["X-Chunk-SHA256"] = hash
		}
		return c.send("PUT", att+"/items/s2i1/chunks/"+seq, hdr, body, length)
	}
	for _, seq := range []string{"x", "-1", "4294967296", "+1"} {
		isErr(t, n, "sequence number "+seq, chunk(seq, hash, bytes.NewReader(pcm), 0), 400, "exam.site.bad_seq")
	}
	for _, bad := range []string{"", hash[:63], hash + "0", strings.Repeat("g", 64)} {
		isErr(t, n, "hash "+bad, chunk("0", bad, bytes.NewReader(pcm), 0), 400, "exam.site.bad_hash")
	}
	isErr(t, n, "chunk over the limit", chunk("0", hash, bytes.NewReader(make([]byte, MaxChunkBytes+2)), 0), 413,
		"exam.site.chunk_too_large", MaxChunkBytes)
	isErr(t, n, "chunk over the limit, no length", chunk("0", hash, io.MultiReader(bytes.NewReader(make([]byte, MaxChunkBytes+2))), -1),
		413, "exam.site.chunk_too_large", MaxChunkBytes)
	isErr(t, n, "chunk shorter than its length", chunk("0", hash, bytes.NewReader(pcm[:100]), int64(len(pcm))), 400, "exam.site.bad_body")
	isErr(t, n, "chunk not matching its hash", chunk("0", hash, bytes.NewReader(speech(1)), 0), 400, "exam.site.bad_hash")
	for _, what := range []string{"chunk (hash in capitals)", "chunk sent again", "chunk without a length"} {
		var a answer
		switch what {
		case "chunk (hash in capitals)":
			a = chunk("0", strings.ToUpper(hash), bytes.NewReader(pcm), 0)
		case "chunk sent again":
			a = chunk("0", hash, bytes.NewReader(pcm), 0)
		default:
			a = chunk("0", hash, io.MultiReader(bytes.NewReader(pcm)), -1)
		}
		jsonHeaders(t, what, a)
		if a.status != 200 || string(a.body) != "{\"ok\":true,\"seq\":0}\n" {
			t.Fatalf("%s: %d %s", what, a.status, a.body)
		}
	}
	isErr(t, n, "chunk conflict", chunk("0", hex.EncodeToString(func() []byte { s := sha256.Sum256(speech(1)); return s[:] }()),
		bytes.NewReader(speech(1)), 0), 409, "exam.site.chunk_conflict")
	isOK(t, "close spoken", c.json("POST", att+"/items/s2i1/close", tok, `{"chunks":1}`))
	isErr(t, n, "chunk after the close", chunk("1", hash, bytes.NewReader(pcm), 0), 409, "exam.site.item_closed")
	isOK(t, "finish with any body", c.send("POST", att+"/finish", map[string]string{"Authorization": "Bearer " + tok},
		strings.NewReader("]"), 0))
	a = c.json("GET", att+"?lang=en", "", "")
	var e struct{ Error struct{ Message string } }
	if json.Unmarshal(a.body, &e); a.status != 401 || e.Error.Message != "Sign in first" {
		t.Fatalf("English: %d %s", a.status, a.body)
	}
}

func TestConsoleAPIContract(t *testing.T) {
	fx := buildFixture(t, sitefixture.Options{})
	n, _ := startedNode(t, fx, Options{})
	c := wire{t: t, h: n.Handler(), addr: "10.0.1.1"}
	cookie := func(user string) string {
		a := c.send("POST", "/console/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			strings.NewReader(url.Values{"username": {user}, "password": {"proctor-pass-1"}}.Encode()), 0)
		res := http.Response{Header: a.hdr}
		for _, ck := range res.Cookies() {
			if ck.Name == staffCookie && a.status == http.StatusSeeOther {
				return ck.Name + "=" + ck.Value
			}
		}
		t.Fatalf("console sign-in as %s: %d %v", user, a.status, a.hdr)
		return ""
	}
	proctor, chief := cookie("proctor"), cookie("chief")
	call := func(method, path, cookie, body string) answer {
		hdr := map[string]string{}
		if cookie != "" {
			hdr["Cookie"] = cookie
		}
		var rd io.Reader
		if body != "" {
			hdr["Content-Type"] = "application/json"
			rd = strings.NewReader(body)
		}
		return c.send(method, path, hdr, rd, 0)
	}

	routes := []struct {
		method, path string
		chief        bool
	}{{"GET", "/console/api/overview", false}, {"GET", "/console/api/rooms/S1/01", false},
		{"POST", "/console/api/rooms/S1/01/start", false}, {"POST", "/console/api/move", false}, {"POST", "/console/api/mark", false},
		{"POST", "/console/api/sessions/S1/key", true}, {"POST", "/console/api/sessions/S1/end", true},
		{"GET", "/console/api/sessions/S1/check", false}}
	for _, r := range routes {
		for _, body := range []string{"", "{", `{"x":1}`} {
			isErr(t, n, r.path+" signed out", call(r.method, r.path, "", body), 401, "exam.site.sign_in_first")
			isErr(t, n, r.path+" unknown session", call(r.method, r.path, staffCookie+"=nope", body), 401, "exam.site.sign_in_first")
			if r.chief {
				isErr(t, n, r.path+" as a proctor", call(r.method, r.path, proctor, body), 403, "exam.site.chief_only")
			}
		}
	}

	hasKeys(t, "overview", call("GET", "/console/api/overview", proctor, ""), "site", "exam", "revision", "sessions", "rooms", "alarms")
	hasKeys(t, "room", call("GET", "/console/api/rooms/S1/01", proctor, ""), "session", "room", "name", "state", "items", "seats", "Alarms")
	isErr(t, n, "no such room", call("GET", "/console/api/rooms/S1/99", proctor, ""), 404, "exam.site.no_such_room", "99")
	// Room actions take no body.
	isOK(t, "start with any body", c.send("POST", "/console/api/rooms/S1/01/start", map[string]string{"Cookie": proctor,
		"Content-Type": "text/plain"}, strings.NewReader("x"), 0))
	isErr(t, n, "start again", call("POST", "/console/api/rooms/S1/01/start", proctor, ""), 409, "exam.site.bad_room_action", "start")

	isErr(t, n, "move: bad JSON", call("POST", "/console/api/move", proctor, "{"), 400, "err.json_invalid")
	isErr(t, n, "move: unknown field", call("POST", "/console/api/move", proctor, `{"to":1}`), 400, "err.json_unknown_field", "to")
	isErr(t, n, "move: no body", call("POST", "/console/api/move", proctor, ""), 400, "err.json_empty")
	isErr(t, n, "move: not signed in", call("POST", "/console/api/move", proctor,
		`{"session":"S1","number":"`+fx.Numbers[0]+`","seat":5,"reason":"r"}`), 409, "exam.site.not_signed_in")
	isErr(t, n, "move: no reason", call("POST", "/console/api/move", proctor,
		`{"session":"S1","number":"`+fx.Numbers[0]+`","seat":5,"reason":" "}`), 400, "exam.site.reason_required")
	isErr(t, n, "mark: bad", call("POST", "/console/api/mark", proctor,
		`{"session":"S1","number":"`+fx.Numbers[1]+`","state":"gone","reason":""}`), 400, "exam.site.bad_mark")
	isOK(t, "mark", call("POST", "/console/api/mark", proctor, `{"session":"S1","number":"`+fx.Numbers[1]+`","state":"absent","reason":""}`))
	isErr(t, n, "key: wrong type", call("POST", "/console/api/sessions/S1/key", chief, `{"code":1}`), 400, "err.json_type", "code")
	isErr(t, n, "key: mistyped", call("POST", "/console/api/sessions/S1/key", chief, `{"code":"x"}`), 422, "exam.site.code_mistyped")
	hasKeys(t, "check", call("GET", "/console/api/sessions/S1/check", proctor, ""), "rows", "moves")
	isOK(t, "end with any body", c.send("POST", "/console/api/sessions/S1/end", map[string]string{"Cookie": chief}, strings.NewReader("x"), 0))
	isErr(t, n, "end of no session", call("POST", "/console/api/sessions/S9/end", chief, ""), 404, "exam.site.no_such_session", "S9")
}
