// Package simulate plays exam candidates against a site node over real
// HTTP, the way the browser exam client does (docs/EXAM.md, "The sequence
// of calls"): sign in, confirm, device check, wait for the room, then each
// item of the paper in order, spoken answers as ~1 s chunks of speech-like
// 16 kHz PCM, each kept until the node acknowledges it and sent again after
// a network error, a restart or a full disk. At the end it reads back what
// the node stored and reports answers expected against answers stored, the
// chunk acknowledgement latency and the errors seen. `jnedu exam simulate`
// and the fault tests use it.
package simulate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"jnedu/internal/exam/paper"
)

// Options say what to play.
type Options struct {
	URL     string // the site node, e.g. http://127.0.0.1:8090
	Session string // session code (default: the node's first session)
	// Proctor and Password sign in to the proctor console: to list the
	// candidates, start rooms that are waiting (StartRooms) and read the
	// end-of-session check.
	Proctor, Password string
	StartRooms        bool
	// Numbers are the admission numbers to play; empty: every candidate of
	// the session (up to Candidates when that is set).
	Numbers    []string
	Candidates int
	// ChunkMs is the audio in one chunk (default 1000). Speed > 1 sends
	// chunks that much faster than real time (default 1).
	ChunkMs int
	Speed   float64
	// AnswerSec caps each spoken item's recording (0: the paper's time).
	AnswerSec int
	// Finish closes the attempt at the end (default true via NewOptions).
	Finish bool
	Seed   uint64
	// Client is the HTTP client (default: one with keep-alive for all).
	Client *http.Client
	// Deadline bounds the whole run (default 2 hours).
	Deadline time.Duration
	// OnProgress, if set, is called after each acknowledged chunk with the
	// total so far (used by fault tests to strike mid-run).
	OnProgress func(acked int)
}

// Report is what a run found. Answers count spoken items (recordings) and
// objective items (choices) separately.
type Report struct {
	Site                string         `json:"site"`
	Session             string         `json:"session"`
	Candidates          int            `json:"candidates"`
	Finished            int            `json:"finished"`
	SpokenExpected      int            `json:"spoken_answers_expected"`
	SpokenStored        int            `json:"spoken_answers_stored"`
	ObjectiveExpected   int            `json:"objective_answers_expected"`
	ObjectiveStored     int            `json:"objective_answers_stored"`
	AnswersExpected     int            `json:"answers_expected"`
	AnswersStored       int            `json:"answers_stored"`
	ChunksSent          int            `json:"chunks_sent"`
	ChunksAcked         int            `json:"chunks_acked"`
	ChunkResends        int            `json:"chunk_resends"`
	AudioMsSent         int64          `json:"audio_ms_sent"`
	AudioMsStored       int64          `json:"audio_ms_stored"`
	ChunksLost          int            `json:"chunks_lost"`
	AckLatency          Summary        `json:"chunk_ack_latency"`            // each successful request
	AckLatencyFirstSend Summary        `json:"chunk_ack_latency_from_first"` // first send → ack, resends included
	Errors              map[string]int `json:"errors"`
	Verified            bool           `json:"verified"` // the node's stored answers were read back
	ElapsedSec          float64        `json:"elapsed_s"`
}

// run is one simulation's shared state.
type run struct {
	o      Options
	hc     *http.Client
	base   string
	rep    Report
	mu     sync.Mutex
	lat    Latencies
	first  Latencies
	acked  int
	expect map[string]*expected // by admission number
	// objectiveStored counts choices read back as sent.
	objectiveStored int
}

type expected struct {
	audioMs map[string]int64 // spoken item → audio sent
	choices map[string]int   // objective item → choice
}

func (r *run) count(kind string) {
	r.mu.Lock()
	r.rep.Errors[kind]++
	r.mu.Unlock()
}

// Run plays the candidates and reports. It returns an error only when the
// run could not start (no node, bad credentials, no candidates).
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.ChunkMs <= 0 {
		o.ChunkMs = 1000
	}
	if o.ChunkMs > 4000 {
		return nil, errors.New("chunk at most 4000 ms")
	}
	if o.Speed <= 0 {
		o.Speed = 1
	}
	if o.Deadline <= 0 {
		o.Deadline = 2 * time.Hour
	}
	ctx, cancel := context.WithTimeout(ctx, o.Deadline)
	defer cancel()
	hc := o.Client
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}}
	}
	r := &run{o: o, hc: hc, base: strings.TrimRight(o.URL, "/"), expect: map[string]*expected{}}
	r.rep.Errors = map[string]int{}
	start := time.Now()

	proctor, err := r.console(ctx)
	if err != nil {
		return nil, err
	}
	numbers := o.Numbers
	if proctor != nil {
		if err := r.prepare(ctx, proctor, &numbers); err != nil {
			return nil, err
		}
	}
	if len(numbers) == 0 {
		return nil, errors.New("no candidates to play: give admission numbers or proctor credentials")
	}
	if o.Candidates > 0 && len(numbers) > o.Candidates {
		numbers = numbers[:o.Candidates]
	}
	r.rep.Candidates = len(numbers)
	for _, n := range numbers {
		r.expect[n] = &expected{audioMs: map[string]int64{}, choices: map[string]int{}}
	}
	var wg sync.WaitGroup
	spread := time.Second / time.Duration(max(1, len(numbers)))
	for i, num := range numbers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Candidates arrive over a second, not in one instant.
			if !sleep(ctx, time.Duration(i)*spread) {
				return
			}
			c := &candidate{r: r, number: num, device: fmt.Sprintf("sim%d", i), speech: NewSpeech(o.Seed + uint64(i) + 1),
				rng: rand.New(rand.NewPCG(o.Seed, uint64(i)))}
			if err := c.play(ctx); err != nil {
				r.count("candidate: " + errKind(err))
				return
			}
			r.mu.Lock()
			r.rep.Finished++
			r.mu.Unlock()
		}()
	}
	wg.Wait()
	r.rep.AckLatency = r.lat.Summary()
	r.rep.AckLatencyFirstSend = r.first.Summary()
	for _, e := range r.expect {
		r.rep.SpokenExpected += len(e.audioMs)
		r.rep.ObjectiveExpected += len(e.choices)
		for _, ms := range e.audioMs {
			r.rep.AudioMsSent += ms
		}
	}
	r.rep.AnswersExpected = r.rep.SpokenExpected + r.rep.ObjectiveExpected
	if proctor != nil {
		if err := r.verify(context.WithoutCancel(ctx), proctor); err != nil {
			r.count("verify: " + errKind(err))
		}
	}
	r.rep.ElapsedSec = time.Since(start).Seconds()
	return &r.rep, nil
}

// ---- the proctor's side ----

func (r *run) console(ctx context.Context) (*http.Client, error) {
	if r.o.Proctor == "" {
		return nil, nil
	}
	jar, _ := cookiejar.New(nil)
	pc := &http.Client{Transport: r.hc.Transport, Jar: jar, Timeout: r.hc.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, "POST", r.base+"/console/login",
		strings.NewReader(url.Values{"username": {r.o.Proctor}, "password": {r.o.Password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := pc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("site node %s: %w", r.base, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	u, _ := url.Parse(r.base)
	if len(jar.Cookies(u)) == 0 {
		return nil, fmt.Errorf("proctor sign-in refused (HTTP %d)", res.StatusCode)
	}
	return pc, nil
}

func (r *run) prepare(ctx context.Context, pc *http.Client, numbers *[]string) error {
	var ov struct {
		Site     string
		Rooms    []struct{ Code string }
		Sessions []struct {
			Code      string
			KeyLoaded bool `json:"key_loaded"`
		}
	}
	if _, err := jsonCall(ctx, pc, "GET", r.base+"/console/api/overview", "", nil, &ov); err != nil {
		return fmt.Errorf("console overview: %w", err)
	}
	r.rep.Site = ov.Site
	if r.o.Session == "" && len(ov.Sessions) > 0 {
		r.o.Session = ov.Sessions[0].Code
	}
	r.rep.Session = r.o.Session
	var listed []string
	for _, room := range ov.Rooms {
		var rv struct {
			State string
			Seats []struct {
				Number string
				State  string
			}
		}
		if _, err := jsonCall(ctx, pc, "GET", r.base+"/console/api/rooms/"+url.PathEscape(r.o.Session)+"/"+url.PathEscape(room.Code), "", nil, &rv); err != nil {
			return fmt.Errorf("room %s: %w", room.Code, err)
		}
		for _, s := range rv.Seats {
			if s.Number != "" && s.State != "absent" {
				listed = append(listed, s.Number)
			}
		}
		if r.o.StartRooms && rv.State == "waiting" {
			if _, err := jsonCall(ctx, pc, "POST", r.base+"/console/api/rooms/"+url.PathEscape(r.o.Session)+"/"+url.PathEscape(room.Code)+"/start", "", map[string]any{}, nil); err != nil {
				return fmt.Errorf("start room %s: %w", room.Code, err)
			}
		}
	}
	if len(*numbers) == 0 {
		sort.Strings(listed)
		*numbers = listed
	}
	return nil
}

// verify reads the end-of-session check (recordings) and each attempt's
// view (choices) and compares them with what was sent.
func (r *run) verify(ctx context.Context, pc *http.Client) error {
	var chk struct {
		Rows []struct {
			Number     string
			Item       string
			Recorded   bool
			DurationMs int64 `json:"duration_ms"`
		}
	}
	if _, err := jsonCall(ctx, pc, "GET", r.base+"/console/api/sessions/"+url.PathEscape(r.o.Session)+"/check", "", nil, &chk); err != nil {
		return err
	}
	half := int64(r.o.ChunkMs) / 2
	for _, row := range chk.Rows {
		e := r.expect[row.Number]
		if e == nil {
			continue
		}
		sent, ok := e.audioMs[row.Item]
		if !ok {
			continue
		}
		if row.Recorded {
			r.rep.AudioMsStored += row.DurationMs
			if row.DurationMs+half >= sent {
				r.rep.SpokenStored++
			}
		}
		if sent > row.DurationMs+half {
			r.rep.ChunksLost += int((sent - row.DurationMs + int64(r.o.ChunkMs) - 1) / int64(r.o.ChunkMs))
		}
	}
	r.rep.ObjectiveStored = r.objectiveStored
	r.rep.AnswersStored = r.rep.SpokenStored + r.rep.ObjectiveStored
	r.rep.Verified = true
	return nil
}

// ---- one candidate ----

type candidate struct {
	r              *run
	number, device string
	attempt, token string
	speech         *Speech
	rng            *rand.Rand
}

type view struct {
	Attempt struct {
		State string
		Pos   int
	}
	RoomState string `json:"room_state"`
	PaperOpen bool   `json:"paper_open"`
	Item      string
	Items     map[string]struct {
		State   string
		Choice  *int
		NextSeq int `json:"next_seq"`
	}
}

func (c *candidate) play(ctx context.Context) error {
	var in struct{ Attempt, Token string }
	if err := c.retry(ctx, "signin", func() (int, error) {
		return jsonCall(ctx, c.r.hc, "POST", c.r.base+"/client/api/signin", "", map[string]string{"number": c.number, "device": c.device}, &in)
	}); err != nil {
		return err
	}
	c.attempt, c.token = in.Attempt, in.Token
	for _, step := range []struct{ path, body string }{{"/confirm", `{}`}, {"/device", `{"ok":true,"level":0.2}`}} {
		if err := c.retry(ctx, step.path, func() (int, error) {
			return jsonCall(ctx, c.r.hc, "POST", c.url(step.path), c.token, json.RawMessage(step.body), nil)
		}); err != nil {
			return err
		}
	}
	// Wait for the room to run and the paper to open, as the client does.
	for {
		var hb struct {
			RoomState string `json:"room_state"`
			PaperOpen bool   `json:"paper_open"`
		}
		st, err := jsonCall(ctx, c.r.hc, "POST", c.url("/heartbeat"), c.token, map[string]any{}, &hb)
		if err == nil && hb.RoomState == "running" && hb.PaperOpen {
			break
		}
		if err != nil && st >= 400 && st < 500 {
			return err
		}
		if !sleep(ctx, 500*time.Millisecond) {
			return ctx.Err()
		}
	}
	var p paper.Paper
	if err := c.retry(ctx, "paper", func() (int, error) { return jsonCall(ctx, c.r.hc, "GET", c.url("/paper"), c.token, nil, &p) }); err != nil {
		return err
	}
	var v view
	if err := c.retry(ctx, "view", func() (int, error) { return jsonCall(ctx, c.r.hc, "GET", c.url(""), c.token, nil, &v) }); err != nil {
		return err
	}
	e := c.r.expect[c.number]
	for _, it := range p.Items() {
		if st := v.Items[it.ID].State; st == "closed" {
			continue // already done before (a resumed attempt)
		}
		if err := c.retry(ctx, "open", func() (int, error) {
			return jsonCall(ctx, c.r.hc, "POST", c.url("/items/"+it.ID+"/open"), c.token, map[string]any{}, nil)
		}); err != nil {
			return err
		}
		chunks := 0
		if it.Type.Spoken() {
			sec := it.AnswerSec
			if c.r.o.AnswerSec > 0 && c.r.o.AnswerSec < sec {
				sec = c.r.o.AnswerSec
			}
			chunks = (sec*1000 + c.r.o.ChunkMs - 1) / c.r.o.ChunkMs
			if err := c.record(ctx, it.ID, chunks, e); err != nil {
				return err
			}
		} else {
			choice := c.rng.IntN(max(1, len(it.Options)))
			if err := c.retry(ctx, "answer", func() (int, error) {
				return jsonCall(ctx, c.r.hc, "PUT", c.url("/items/"+it.ID+"/answer"), c.token, map[string]int{"choice": choice}, nil)
			}); err != nil {
				return err
			}
			c.r.mu.Lock()
			e.choices[it.ID] = choice
			c.r.mu.Unlock()
		}
		if err := c.retry(ctx, "close", func() (int, error) {
			return jsonCall(ctx, c.r.hc, "POST", c.url("/items/"+it.ID+"/close"), c.token, map[string]int{"chunks": chunks}, nil)
		}); err != nil {
			return err
		}
	}
	if c.r.o.Finish {
		if err := c.retry(ctx, "finish", func() (int, error) {
			return jsonCall(ctx, c.r.hc, "POST", c.url("/finish"), c.token, map[string]any{}, nil)
		}); err != nil {
			return err
		}
	}
	// Read back the choices as the node holds them.
	var after view
	if err := c.retry(ctx, "view", func() (int, error) { return jsonCall(ctx, c.r.hc, "GET", c.url(""), c.token, nil, &after) }); err != nil {
		return err
	}
	stored := 0
	for id, want := range e.choices {
		if got := after.Items[id].Choice; got != nil && *got == want {
			stored++
		}
	}
	c.r.mu.Lock()
	c.r.objectiveStored += stored
	c.r.mu.Unlock()
	return nil
}

// record sends the item's chunks at the recording pace; a chunk that is
// not acknowledged is kept and sent again (in order) until it is.
func (c *candidate) record(ctx context.Context, item string, chunks int, e *expected) error {
	pace := time.Duration(float64(time.Duration(c.r.o.ChunkMs)*time.Millisecond) / c.r.o.Speed)
	samples := SampleRate * c.r.o.ChunkMs / 1000
	next := time.Now()
	for seq := 0; seq < chunks; seq++ {
		next = next.Add(pace)
		pcm := c.speech.PCM(samples)
		sum := sha256.Sum256(pcm)
		hash := hex.EncodeToString(sum[:])
		first := time.Now()
		u := c.url(fmt.Sprintf("/items/%s/chunks/%d", item, seq))
		for try := 0; ; try++ {
			if try > 0 {
				c.r.mu.Lock()
				c.r.rep.ChunkResends++
				c.r.mu.Unlock()
			}
			t0 := time.Now()
			st, err := c.put(ctx, u, pcm, hash)
			c.r.mu.Lock()
			c.r.rep.ChunksSent++
			c.r.mu.Unlock()
			if err == nil && st == http.StatusOK {
				c.r.lat.Add(time.Since(t0))
				c.r.first.Add(time.Since(first))
				c.r.mu.Lock()
				c.r.rep.ChunksAcked++
				c.r.acked++
				n := c.r.acked
				c.r.mu.Unlock()
				if c.r.o.OnProgress != nil {
					c.r.o.OnProgress(n)
				}
				break
			}
			if err != nil {
				c.r.count("chunk: " + errKind(err))
			} else {
				c.r.count(fmt.Sprintf("chunk: HTTP %d", st))
				if st >= 400 && st < 500 && st != http.StatusTooManyRequests && st != http.StatusRequestTimeout {
					return fmt.Errorf("chunk %d refused: HTTP %d", seq, st)
				}
			}
			if !sleep(ctx, backoff(try)) {
				return ctx.Err()
			}
		}
		if d := time.Until(next); d > 0 && !sleep(ctx, d) {
			return ctx.Err()
		}
	}
	c.r.mu.Lock()
	e.audioMs[item] = int64(chunks * c.r.o.ChunkMs)
	c.r.mu.Unlock()
	return nil
}

func (c *candidate) put(ctx context.Context, u string, body []byte, hash string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "PUT", u, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("X-Chunk-SHA256", hash)
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := c.r.hc.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	return res.StatusCode, nil
}

// retry repeats a call through network errors and server errors (5xx),
// as the client's outbox does; a 4xx is the node's answer and ends it.
func (c *candidate) retry(ctx context.Context, what string, f func() (int, error)) error {
	for try := 0; ; try++ {
		st, err := f()
		if err == nil {
			return nil
		}
		c.r.count(what + ": " + errKind(err))
		if st >= 400 && st < 500 {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !sleep(ctx, backoff(try)) {
			return ctx.Err()
		}
	}
}

func (c *candidate) url(p string) string {
	return c.r.base + "/client/api/attempts/" + url.PathEscape(c.attempt) + p
}

// ---- helpers ----

// httpError is a non-2xx answer.
type httpError struct {
	Status int
	Code   string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d %s", e.Status, e.Code) }

func jsonCall(ctx context.Context, hc *http.Client, method, u, token string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return res.StatusCode, err
	}
	if res.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		json.Unmarshal(b, &e)
		return res.StatusCode, &httpError{Status: res.StatusCode, Code: e.Error.Code}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: %w", method, u, err)
		}
	}
	return res.StatusCode, nil
}

// errKind names an error for counting: the HTTP status and code, or the
// kind of network failure.
func errKind(err error) string {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	s := err.Error()
	for _, k := range []string{"connection refused", "connection reset", "EOF", "timeout", "broken pipe"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	return "network"
}

func backoff(try int) time.Duration {
	d := 200 * time.Millisecond << min(try, 5) // 0.2 s … 6.4 s
	return min(d, 5*time.Second)
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
