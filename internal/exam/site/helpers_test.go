package site

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/site/sitefixture"
)

// fakeCenter implements the center's side of the site contract
// (docs/EXAM.md) from a fixture: a test double of a documented protocol.
type fakeCenter struct {
	t     *testing.T
	fx    *sitefixture.Fixture
	site  string
	token string
	srv   *httptest.Server

	mu        sync.Mutex
	pub       ed25519.PublicKey
	released  bool
	down      int // answer this many answer requests with 503
	corrupt   map[string]bool
	files     map[string][]byte
	manifests []*bundle.AnswerManifest
	complete  bool
	requests  int
}

func newCenter(t *testing.T, fx *sitefixture.Fixture) *fakeCenter {
	c := &fakeCenter{t: t, fx: fx, site: fx.Package.Site.Code, token: "center-token", corrupt: map[string]bool{}, files: map[string][]byte{}}
	mux := http.NewServeMux()
	base := "/api/v1/exam/site/" + c.site
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+c.token {
				http.Error(w, `{"error":"unauthenticated"}`, http.StatusUnauthorized)
				return
			}
			c.mu.Lock()
			c.requests++
			c.mu.Unlock()
			h(w, r)
		}
	}
	mux.HandleFunc("POST "+base+"/register", auth(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			PublicKey string `json:"public_key"`
		}
		json.NewDecoder(r.Body).Decode(&in)
		k, err := base64.StdEncoding.DecodeString(in.PublicKey)
		if err != nil || len(k) != ed25519.PublicKeySize {
			http.Error(w, "bad key", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.pub = k
		c.mu.Unlock()
		w.Write([]byte(`{"ok":true}`))
	}))
	mux.HandleFunc("GET "+base+"/package", auth(func(w http.ResponseWriter, r *http.Request) {
		etag := fmt.Sprintf(`"%d"`, c.fx.Package.Revision)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Write(c.fx.Doc)
	}))
	mux.HandleFunc("GET "+base+"/blobs/{sha}", auth(func(w http.ResponseWriter, r *http.Request) {
		b, ok := c.fx.Blobs[r.PathValue("sha")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	mux.HandleFunc("GET "+base+"/sessions/{session}/key", auth(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		rel := c.released
		c.mu.Unlock()
		if !rel {
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":{"code":"exam.key_not_released"}}`))
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"key": bundle.EncodeKey(c.fx.Key)})
	}))
	isDown := func(w http.ResponseWriter) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.down > 0 {
			c.down--
			http.Error(w, "down", http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	mux.HandleFunc("PUT "+base+"/answers/{session}/files/{sha}", auth(func(w http.ResponseWriter, r *http.Request) {
		if isDown(w) {
			return
		}
		b, _ := io.ReadAll(r.Body)
		sum := r.PathValue("sha")
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.corrupt[sum] {
			// The bytes were damaged on the way (once): 422, the site
			// sends the file again.
			delete(c.corrupt, sum)
			http.Error(w, `{"error":{"code":"exam.answers.hash_mismatch"}}`, http.StatusUnprocessableEntity)
			return
		}
		s := sha256.Sum256(b)
		if hex.EncodeToString(s[:]) != sum {
			http.Error(w, "hash", http.StatusUnprocessableEntity)
			return
		}
		c.files[sum] = b
		w.Write([]byte(`{"ok":true}`))
	}))
	mux.HandleFunc("POST "+base+"/answers/{session}/manifest", auth(func(w http.ResponseWriter, r *http.Request) {
		if isDown(w) {
			return
		}
		var s bundle.Signed
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		m, err := bundle.Verify(c.pub, s)
		if err != nil || m.Site != c.site || m.Session != r.PathValue("session") {
			http.Error(w, "signature", http.StatusUnprocessableEntity)
			return
		}
		c.manifests = append(c.manifests, m)
		missing := []string{}
		for _, f := range m.Files() {
			if _, ok := c.files[f]; !ok {
				missing = append(missing, f)
			}
		}
		c.complete = len(missing) == 0
		json.NewEncoder(w).Encode(map[string]any{"complete": c.complete, "missing": missing})
	}))
	c.srv = httptest.NewServer(mux)
	t.Cleanup(c.srv.Close)
	return c
}

func (c *fakeCenter) set(fn func(c *fakeCenter)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(c)
}

func buildFixture(t *testing.T, o sitefixture.Options) *sitefixture.Fixture {
	t.Helper()
	fx, err := sitefixture.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

func openNode(t *testing.T, dir string, o Options) *Node {
	t.Helper()
	o.DataDir = dir
	if o.RetryMin == 0 {
		o.RetryMin = 20 * time.Millisecond
		o.RetryMax = 100 * time.Millisecond
	}
	if o.Reserve == 0 {
		o.Reserve = -1 << 40 // tests: no reserve unless asked
	}
	n, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// client speaks the exam client's API to a node.
type client struct {
	t     *testing.T
	base  string
	token string
	id    string
	hc    *http.Client
}

type resp struct {
	Status int
	Body   []byte
}

func (r resp) code() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

func (c *client) do(method, path string, body any, hdr map[string]string) resp {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if _, raw := body.([]byte); body != nil && !raw {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	hc := c.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, b}
}

func (c *client) signIn(number, device string) resp {
	c.t.Helper()
	r := c.do("POST", "/client/api/signin", map[string]string{"number": number, "device": device}, nil)
	if r.Status == 200 {
		var out SignedIn
		json.Unmarshal(r.Body, &out)
		c.token, c.id = out.Token, out.Attempt
	}
	return r
}

func (c *client) att(path string) string { return "/client/api/attempts/" + c.id + path }

func (c *client) chunk(item string, seq int, pcm []byte) resp {
	c.t.Helper()
	s := sha256.Sum256(pcm)
	return c.do("PUT", c.att(fmt.Sprintf("/items/%s/chunks/%d", item, seq)), pcm, map[string]string{"X-Chunk-SHA256": hex.EncodeToString(s[:])})
}

func (c *client) view() AttemptView {
	c.t.Helper()
	r := c.do("GET", c.att(""), nil, nil)
	if r.Status != 200 {
		c.t.Fatalf("attempt view: %d %s", r.Status, r.Body)
	}
	var v AttemptView
	json.Unmarshal(r.Body, &v)
	return v
}

// speech is one second of a 16 kHz "voice" (a tone with a varying level)
// for chunk seq.
func speech(seq int) []byte {
	pcm := make([]byte, 2*SampleRate)
	for i := 0; i < SampleRate; i++ {
		v := 6000 * math.Sin(2*math.Pi*(220+float64(seq%5)*30)*float64(i)/SampleRate)
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(int16(v)))
	}
	return pcm
}

func must(t *testing.T, r resp, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, strings.TrimSpace(string(r.Body)))
	}
}

func mustCode(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.Status != status || r.code() != code {
		t.Fatalf("got %d %q, want %d %q: %s", r.Status, r.code(), status, code, r.Body)
	}
}
