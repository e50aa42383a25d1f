// Command load is jnedu's HTTP load generator. It talks only to a server on
// the loopback interface, signs in a small pool of users once (sequentially,
// timing each sign-in), then drives each scenario with a closed-loop pool of
// workers over keep-alive connections: a warm-up that is thrown away, then a
// measured period. Every latency is recorded, so percentiles are exact.
//
//	go run ./bench/load -url http://127.0.0.1:8080 -c 32 -d 10s
//
// Scenarios (see bench/README.md):
//
//	healthz    GET /healthz, unauthenticated: the baseline
//	portal     GET / with a session cookie (the HTML portal)
//	api-me     GET /api/v1/me
//	api-orgs   GET /api/v1/orgs
//	api-users  GET /api/v1/users?limit=50
//	login      always run first: one sequential POST /api/v1/session per user
//
// Authenticated scenarios go round-robin over the signed-in users that may
// use the endpoint (a user answered 403 in the eligibility probe is left out
// and the table says so). Any non-2xx answer during the measurement is an
// error, reported by status.
//
// Not part of CI; never point it at a shared server.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"jnedu/bench/internal/procstat"
)

const sessionCookie = "jnedu_session"

// scenarioDefs maps a scenario name to the request it repeats.
var scenarioDefs = map[string]struct {
	path string
	auth bool
}{
	"healthz":   {"/healthz", false},
	"portal":    {"/", true},
	"api-me":    {"/api/v1/me", true},
	"api-orgs":  {"/api/v1/orgs", true},
	"api-users": {"/api/v1/users?limit=50", true},
}

type config struct {
	base        *url.URL
	conc        int
	dur         time.Duration
	warmup      time.Duration
	maxReq      int
	timeout     time.Duration
	scenarios   []string
	users       []string
	password    string
	loginProbe  int
	loginWait   time.Duration
	serverPID   int
	pgDB        string
	label       string
	jsonOut     string
	cpuProfile  string
	aims        bool
	aimRPS      float64
	aimP99      time.Duration
	aimLogin    time.Duration
	aimScenario string
}

func main() {
	var cfg config
	rawURL := flag.String("url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	flag.IntVar(&cfg.conc, "c", 32, "concurrent workers (closed loop: each waits for its answer)")
	flag.DurationVar(&cfg.dur, "d", 10*time.Second, "measured duration per scenario")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "warm-up per scenario (results discarded)")
	flag.IntVar(&cfg.maxReq, "n", 2_000_000, "at most this many measured requests per scenario")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per-request timeout")
	scen := flag.String("scenarios", "healthz,portal,api-me,api-orgs,api-users", "comma-separated scenarios, in order (healthz may repeat; the baseline is the mean of its runs)")
	users := flag.String("users", "admin,school_admin,teacher,teacher2,student,exam_staff,examiner,security,editor,device", "users to sign in (sequentially, once each)")
	flag.StringVar(&cfg.password, "password", "Demo2026jn", "password of the users")
	flag.IntVar(&cfg.loginProbe, "login-probe", 2, "extra sign-ins right after the pool, to show the per-address rate limit (expect 429 after a burst of 10)")
	flag.DurationVar(&cfg.loginWait, "login-wait", 45*time.Second, "on 429 while signing in the pool, retry every 3.1s for at most this long")
	flag.IntVar(&cfg.serverPID, "server-pid", 0, "server process id: report its CPU time per request (Linux /proc)")
	flag.StringVar(&cfg.pgDB, "pg-db", "", "PostgreSQL database name: also report the CPU time of the backends serving it (Linux /proc)")
	flag.StringVar(&cfg.label, "label", "", "label for the report (e.g. the database engine)")
	flag.StringVar(&cfg.jsonOut, "json", "", "also write results as JSON to this file (\"-\": stdout, instead of the tables)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile here")
	flag.BoolVar(&cfg.aims, "aims", false, "print verdicts against the aims below")
	flag.StringVar(&cfg.aimScenario, "aim-scenario", "portal", "scenario the throughput/p99 aims apply to")
	flag.Float64Var(&cfg.aimRPS, "aim-rps", 2000, "aim: at least this many req/s")
	flag.DurationVar(&cfg.aimP99, "aim-p99", 50*time.Millisecond, "aim: p99 under this")
	flag.DurationVar(&cfg.aimLogin, "aim-login", 300*time.Millisecond, "aim: every successful sign-in under this")
	flag.Parse()

	var err error
	if cfg.base, err = checkURL(*rawURL); err != nil {
		fatal(err)
	}
	for _, s := range splitList(*scen) {
		if _, ok := scenarioDefs[s]; !ok {
			fatal(fmt.Errorf("unknown scenario %q (have healthz, portal, api-me, api-orgs, api-users; login always runs)", s))
		}
		cfg.scenarios = append(cfg.scenarios, s)
	}
	cfg.users = splitList(*users)
	if cfg.conc < 1 || cfg.conc > 1024 || cfg.dur <= 0 || cfg.dur > 10*time.Minute || cfg.maxReq < 1 || len(cfg.users) == 0 {
		fatal(errors.New("need 1 ≤ -c ≤ 1024, 0 < -d ≤ 10m, -n ≥ 1 and at least one user"))
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg)
	if err != nil {
		pprof.StopCPUProfile()
		fatal(err)
	}
	if cfg.jsonOut != "-" {
		printReport(os.Stdout, cfg, rep)
	}
	if cfg.jsonOut != "" {
		if err := writeJSON(cfg.jsonOut, rep); err != nil {
			fatal(err)
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "load:", err)
	os.Exit(1)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// checkURL accepts only http:// URLs naming a loopback address.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Port() == "" {
		return nil, fmt.Errorf("-url %q: want http://127.0.0.1:PORT", raw)
	}
	if h := u.Hostname(); h != "localhost" {
		ip := net.ParseIP(h)
		if ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("-url %q: only loopback addresses are allowed", raw)
		}
	}
	u.Path, u.RawQuery, u.Fragment = "", "", ""
	return u, nil
}

// newClient makes a keep-alive client whose dialer refuses anything but the
// loopback interface, and which does not follow redirects (a redirect to the
// sign-in page is an error, not a success).
func newClient(cfg config) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if host == "localhost" {
				addr = net.JoinHostPort("127.0.0.1", addr[strings.LastIndexByte(addr, ':')+1:])
			} else if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("refusing to dial %s: not loopback", addr)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        cfg.conc + 16,
		MaxIdleConnsPerHost: cfg.conc + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: cfg.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// ---- results ----

// Stats summarises one scenario run.
type Stats struct {
	Scenario   string         `json:"scenario"`
	Users      []string       `json:"users,omitempty"`
	Excluded   map[string]int `json:"excluded_users,omitempty"` // user → probe status
	Requests   int            `json:"requests"`
	Errors     int            `json:"errors"`
	ByStatus   map[string]int `json:"errors_by_status,omitempty"`
	Seconds    float64        `json:"seconds"`
	RPS        float64        `json:"req_per_s"`
	P50        float64        `json:"p50_ms"`
	P90        float64        `json:"p90_ms"`
	P99        float64        `json:"p99_ms"`
	Max        float64        `json:"max_ms"`
	Mean       float64        `json:"mean_ms"`
	AvgBytes   float64        `json:"avg_bytes"`
	ClientCPU  float64        `json:"client_cpu_s"`
	ServerCPU  float64        `json:"server_cpu_s,omitempty"`
	ServerUSPR float64        `json:"server_cpu_us_per_req,omitempty"`
	ClientUSPR float64        `json:"client_cpu_us_per_req,omitempty"`
	PGCPU      float64        `json:"pg_backend_cpu_s,omitempty"`
	PGUSPR     float64        `json:"pg_backend_cpu_us_per_req,omitempty"`
	// From the server's /metrics, over the measured period: mean time
	// inside the server's handler chain, and database pool waits.
	ServerMeanMS float64 `json:"server_mean_ms,omitempty"`
	DBWaits      float64 `json:"db_pool_waits,omitempty"`
	DBWaitMS     float64 `json:"db_pool_wait_ms_total,omitempty"`
	Capped       bool    `json:"capped_by_n,omitempty"`
	Skipped      string  `json:"skipped,omitempty"`
}

// Login is one timed sign-in.
type Login struct {
	User   string  `json:"user"`
	Status int     `json:"status"` // 0: transport error
	MS     float64 `json:"ms"`
	Err    string  `json:"error,omitempty"`
	Probe  bool    `json:"rate_limit_probe,omitempty"`
}

// Report is everything one run measured.
type Report struct {
	Label      string    `json:"label,omitempty"`
	URL        string    `json:"url"`
	Started    time.Time `json:"started"`
	GoMaxProcs int       `json:"client_gomaxprocs"`
	NumCPU     int       `json:"num_cpu"`
	Conc       int       `json:"concurrency"`
	Duration   string    `json:"duration"`
	Warmup     string    `json:"warmup"`
	Logins     []Login   `json:"logins"`
	// SeqHealthz is healthz sent sequentially (one worker), the baseline
	// for the sequential sign-ins.
	SeqHealthz *Stats    `json:"healthz_sequential,omitempty"`
	Scenarios  []Stats   `json:"scenarios"`
	Baseline   *Baseline `json:"baseline,omitempty"`
}

// Baseline is the healthz reference the ratios are taken against.
type Baseline struct {
	Runs int     `json:"runs"`
	RPS  float64 `json:"req_per_s"`
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	// SrvUSPR is the server's CPU time per healthz request, in µs.
	SrvUSPR float64 `json:"server_cpu_us_per_req,omitempty"`
	// Drift is (last−first)/first of healthz req/s when it ran more than
	// once: how much the machine changed under the run.
	Drift float64 `json:"rps_drift,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// percentile returns the nearest-rank percentile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

// ---- the run ----

type session struct {
	user   string
	cookie string
}

func run(ctx context.Context, cfg config) (*Report, error) {
	hc := newClient(cfg)
	rep := &Report{Label: cfg.label, URL: cfg.base.String(), Started: time.Now(), GoMaxProcs: runtime.GOMAXPROCS(0),
		NumCPU: runtime.NumCPU(), Conc: cfg.conc, Duration: cfg.dur.String(), Warmup: cfg.warmup.String()}

	// One request first, so the server is up and the first sign-in does not
	// pay for the connection.
	if st, _, err := do(ctx, hc, mustReq(cfg.base, "GET", "/healthz", "", nil)); err != nil || st != 200 {
		return nil, fmt.Errorf("server not answering /healthz (status %d): %v", st, err)
	}

	rep.SeqHealthz = sequential(ctx, cfg, hc, 200)
	sessions, err := signIn(ctx, cfg, hc, rep)
	if err != nil {
		return nil, err
	}
	for _, name := range cfg.scenarios {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		fmt.Fprintf(os.Stderr, "load: %s%s: %s warm-up, %s measured, %d workers\n", prefix(cfg.label), name, cfg.warmup, cfg.dur, cfg.conc)
		st := runScenario(ctx, cfg, hc, name, sessions)
		rep.Scenarios = append(rep.Scenarios, st)
	}
	rep.Baseline = baseline(rep.Scenarios)
	return rep, nil
}

func prefix(label string) string {
	if label == "" {
		return ""
	}
	return label + " "
}

func mustReq(base *url.URL, method, path, body string, hdr map[string]string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base.String()+path, rd)
	if err != nil {
		panic(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return req
}

// do sends req, reads the whole body and returns the status and byte count.
func do(ctx context.Context, hc *http.Client, req *http.Request) (int, int64, error) {
	resp, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, n, err
}

// sequential times n healthz requests sent one after the other.
func sequential(ctx context.Context, cfg config, hc *http.Client, n int) *Stats {
	req := mustReq(cfg.base, "GET", "/healthz", "", nil)
	var lat []time.Duration
	errs := 0
	t := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		t0 := time.Now()
		st, _, err := do(ctx, hc, req)
		lat = append(lat, time.Since(t0))
		if err != nil || st/100 != 2 {
			errs++
		}
	}
	secs := time.Since(t).Seconds()
	slices.Sort(lat)
	return &Stats{Scenario: "healthz (sequential)", Requests: len(lat), Errors: errs, Seconds: secs,
		RPS: float64(len(lat)) / secs, P50: ms(percentile(lat, 50)), P90: ms(percentile(lat, 90)),
		P99: ms(percentile(lat, 99)), Max: ms(lat[len(lat)-1])}
}

// signIn signs every user in once, sequentially, timing each sign-in, then
// sends the rate-limit probe.
func signIn(ctx context.Context, cfg config, hc *http.Client, rep *Report) ([]session, error) {
	login := func(user string) (Login, string) {
		body, _ := json.Marshal(map[string]string{"username": user, "password": cfg.password})
		req, _ := http.NewRequestWithContext(ctx, "POST", cfg.base.String()+"/api/v1/session", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return Login{User: user, MS: ms(time.Since(start)), Err: err.Error()}, ""
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		l := Login{User: user, Status: resp.StatusCode, MS: ms(time.Since(start))}
		for _, c := range resp.Cookies() {
			if c.Name == sessionCookie && c.Value != "" {
				return l, c.Value
			}
		}
		return l, ""
	}
	var out []session
	deadline := time.Now().Add(cfg.loginWait)
	for _, u := range cfg.users {
		for {
			l, cookie := login(u)
			if l.Status == http.StatusTooManyRequests && time.Now().Before(deadline) {
				// Not a sign-in of the pool: record it as a limit hit and wait
				// for the bucket (20 a minute) to give a token back.
				l.Probe = true
				rep.Logins = append(rep.Logins, l)
				fmt.Fprintf(os.Stderr, "load: sign-in of %s: 429, waiting 3.1s for the rate limit\n", u)
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(3100 * time.Millisecond):
				}
				continue
			}
			rep.Logins = append(rep.Logins, l)
			if l.Status/100 == 2 && cookie != "" {
				out = append(out, session{user: u, cookie: cookie})
			} else {
				fmt.Fprintf(os.Stderr, "load: sign-in of %s failed: status %d %s\n", u, l.Status, l.Err)
			}
			break
		}
	}
	for i := 0; i < cfg.loginProbe; i++ {
		l, _ := login(cfg.users[i%len(cfg.users)])
		l.Probe = true
		rep.Logins = append(rep.Logins, l)
	}
	if len(out) == 0 {
		return nil, errors.New("no user could sign in")
	}
	return out, nil
}

// eligible probes each session once on path and keeps those answered 2xx.
func eligible(ctx context.Context, cfg config, hc *http.Client, path string, ss []session) ([]session, map[string]int) {
	var ok []session
	excl := map[string]int{}
	for _, s := range ss {
		st, _, err := do(ctx, hc, mustReq(cfg.base, "GET", path, "", map[string]string{"Cookie": sessionCookie + "=" + s.cookie}))
		if err == nil && st/100 == 2 {
			ok = append(ok, s)
		} else {
			excl[s.user] = st
		}
	}
	return ok, excl
}

type sample struct {
	lat    []time.Duration
	bytes  int64
	status map[string]int
	errs   int
}

func runScenario(ctx context.Context, cfg config, hc *http.Client, name string, all []session) Stats {
	def := scenarioDefs[name]
	st := Stats{Scenario: name}
	var ss []session
	if def.auth {
		var excl map[string]int
		ss, excl = eligible(ctx, cfg, hc, def.path, all)
		if len(excl) > 0 {
			st.Excluded = excl
		}
		for _, s := range ss {
			st.Users = append(st.Users, s.user)
		}
		if len(ss) == 0 {
			st.Skipped = "no signed-in user may use " + def.path
			return st
		}
	}

	// Each worker reuses one prebuilt request per user (allowed once the
	// previous response body is closed), so the client spends its share of
	// the two cores on sending, not on building requests.
	nreq := max(1, len(ss))
	var (
		rr        atomic.Uint64 // round-robin over users
		measured  atomic.Int64  // measured requests started (the -n cap)
		wg        sync.WaitGroup
		results   = make([]sample, cfg.conc)
		start     = time.Now()
		measStart = start.Add(cfg.warmup)
		end       = measStart.Add(cfg.dur)
	)
	// Counters are read when the measured period starts and after it ends.
	var snap0 snapshot
	snapped := make(chan struct{})
	go func() {
		defer close(snapped)
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(measStart)):
		}
		snap0 = takeSnapshot(ctx, cfg, hc)
	}()
	for w := 0; w < cfg.conc; w++ {
		reqs := make([]*http.Request, nreq)
		for i := range reqs {
			var hdr map[string]string
			if def.auth {
				hdr = map[string]string{"Cookie": sessionCookie + "=" + ss[i].cookie}
			}
			reqs[i] = mustReq(cfg.base, "GET", def.path, "", hdr).WithContext(ctx)
		}
		res := &results[w]
		res.status = map[string]int{}
		res.lat = make([]time.Duration, 0, 4096)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				inWindow := !t0.Before(measStart)
				if inWindow && measured.Add(1) > int64(cfg.maxReq) {
					return
				}
				req := reqs[int(rr.Add(1)%uint64(nreq))]
				resp, err := hc.Do(req)
				var n int64
				code := 0
				if err == nil {
					n, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				d := time.Since(t0)
				if !inWindow {
					continue
				}
				res.lat = append(res.lat, d)
				res.bytes += n
				switch {
				case err != nil && ctx.Err() != nil:
					res.lat = res.lat[:len(res.lat)-1] // interrupted, not an answer
				case err != nil:
					res.errs++
					res.status["transport: "+shortErr(err)]++
				case code/100 != 2:
					res.errs++
					res.status[strconv.Itoa(code)]++
				}
			}
		}()
	}
	wg.Wait()
	done := time.Now()
	<-snapped
	snap1 := takeSnapshot(ctx, cfg, hc)

	var lat []time.Duration
	var bytesTotal int64
	st.ByStatus = map[string]int{}
	for _, r := range results {
		lat = append(lat, r.lat...)
		bytesTotal += r.bytes
		st.Errors += r.errs
		for k, v := range r.status {
			st.ByStatus[k] += v
		}
	}
	if len(st.ByStatus) == 0 {
		st.ByStatus = nil
	}
	slices.Sort(lat)
	st.Requests = len(lat)
	st.Capped = measured.Load() > int64(cfg.maxReq)
	st.Seconds = done.Sub(measStart).Seconds()
	if st.Seconds > 0 {
		st.RPS = float64(st.Requests) / st.Seconds
	}
	if st.Requests > 0 {
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		st.Mean = ms(sum / time.Duration(len(lat)))
		st.P50, st.P90, st.P99 = ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99))
		st.Max = ms(lat[len(lat)-1])
		st.AvgBytes = float64(bytesTotal) / float64(st.Requests)
	}
	st.ClientCPU = snap1.self - snap0.self
	perReq := func(sec float64) float64 {
		if st.Requests == 0 {
			return 0
		}
		return sec / float64(st.Requests) * 1e6
	}
	st.ClientUSPR = perReq(st.ClientCPU)
	if snap0.server >= 0 && snap1.server >= 0 {
		st.ServerCPU = snap1.server - snap0.server
		st.ServerUSPR = perReq(st.ServerCPU)
	}
	if cfg.pgDB != "" {
		for pid, c1 := range snap1.pg {
			st.PGCPU += c1 - snap0.pg[pid] // a backend started since counts whole
		}
		st.PGUSPR = perReq(st.PGCPU)
	}
	if snap0.metrics != nil && snap1.metrics != nil {
		m0, m1 := snap0.metrics, snap1.metrics
		if n := m1["count"] - m0["count"]; n > 0 {
			st.ServerMeanMS = (m1["sum"] - m0["sum"]) / n * 1e3
		}
		st.DBWaits = m1["waits"] - m0["waits"]
		st.DBWaitMS = (m1["wait_s"] - m0["wait_s"]) * 1e3
	}
	return st
}

// snapshot holds the counters read at the edges of a measured period.
type snapshot struct {
	self    float64            // this process's CPU seconds
	server  float64            // the server's CPU seconds, -1 if unknown
	pg      map[int]float64    // PostgreSQL backend pid → CPU seconds
	metrics map[string]float64 // summed from /metrics; nil if unreadable
}

func takeSnapshot(ctx context.Context, cfg config, hc *http.Client) snapshot {
	s := snapshot{self: selfCPU(), server: procCPU(cfg.serverPID), metrics: scrapeMetrics(ctx, cfg, hc)}
	if s.server < 0 && s.metrics != nil {
		if v, ok := s.metrics["process_cpu"]; ok {
			s.server = v
		}
	}
	if cfg.pgDB != "" {
		s.pg = pgBackends(cfg.pgDB)
	}
	return s
}

// scrapeMetrics reads the server's Prometheus text and sums what the report
// needs: request duration sum and count over every route but /metrics, and
// the database pools' wait count and time.
func scrapeMetrics(ctx context.Context, cfg config, hc *http.Client) map[string]float64 {
	req := mustReq(cfg.base, "GET", "/metrics", "", nil).WithContext(ctx)
	resp, err := hc.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil || resp.StatusCode != 200 {
		return nil
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name := line[:i]
		switch {
		case strings.Contains(name, `route="GET /metrics"`):
		case strings.HasPrefix(name, "jnedu_http_request_duration_seconds_sum{"):
			m["sum"] += v
		case strings.HasPrefix(name, "jnedu_http_request_duration_seconds_count{"):
			m["count"] += v
		case strings.HasPrefix(name, "jnedu_db_wait_total{"):
			m["waits"] += v
		case strings.HasPrefix(name, "jnedu_db_wait_seconds_total{"):
			m["wait_s"] += v
		case name == "process_cpu_seconds_total":
			m["process_cpu"] = v
		}
	}
	return m
}

// pgBackends finds the PostgreSQL backend processes serving database db
// (their title reads "postgres: ... USER DB HOST(PORT) STATE") and returns
// their CPU seconds.
func pgBackends(db string) map[int]float64 {
	out := map[int]float64{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.HasPrefix(b, []byte("postgres: ")) {
			continue
		}
		if !slices.Contains(strings.Fields(strings.ReplaceAll(string(b), "\x00", " ")), db) {
			continue
		}
		if c := procCPU(pid); c >= 0 {
			out[pid] = c
		}
	}
	return out
}

func shortErr(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	}
	s := err.Error()
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

// selfCPU is this process's user+system CPU time in seconds.
func selfCPU() float64 { return procstat.Self().Seconds() }

// procCPU is a process's user+system CPU time in seconds, or -1.
func procCPU(pid int) float64 {
	if pid <= 0 {
		return -1
	}
	d, err := procstat.CPU(pid)
	if err != nil {
		return -1
	}
	return d.Seconds()
}

func baseline(ss []Stats) *Baseline {
	var b Baseline
	var first, last float64
	for _, s := range ss {
		if s.Scenario != "healthz" || s.Requests == 0 {
			continue
		}
		if b.Runs == 0 {
			first = s.RPS
		}
		last = s.RPS
		b.Runs++
		b.RPS += s.RPS
		b.P50 += s.P50
		b.P99 += s.P99
		b.SrvUSPR += s.ServerUSPR
	}
	if b.Runs == 0 {
		return nil
	}
	n := float64(b.Runs)
	b.RPS, b.P50, b.P99, b.SrvUSPR = b.RPS/n, b.P50/n, b.P99/n, b.SrvUSPR/n
	if b.Runs > 1 && first > 0 {
		b.Drift = (last - first) / first
	}
	return &b
}

// ---- output ----

func writeJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func printReport(w io.Writer, cfg config, rep *Report) {
	title := "jnedu load"
	if rep.Label != "" {
		title += " — " + rep.Label
	}
	fmt.Fprintf(w, "\n== %s: %s, %d workers, %s warm-up + %s per scenario, client GOMAXPROCS %d of %d CPUs (client and server share them)\n",
		title, rep.URL, rep.Conc, rep.Warmup, rep.Duration, rep.GoMaxProcs, rep.NumCPU)

	// Sign-ins.
	fmt.Fprintf(w, "\nSign-ins (sequential, one per user, password hashing included):\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "user\tstatus\tms\t")
	var okMS []float64
	var limited []Login
	for _, l := range rep.Logins {
		if l.Probe {
			limited = append(limited, l)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t\n", l.User, l.Status, f1(l.MS))
		if l.Status/100 == 2 {
			okMS = append(okMS, l.MS)
		}
	}
	tw.Flush()
	if len(okMS) > 0 {
		sort.Float64s(okMS)
		var sum float64
		for _, v := range okMS {
			sum += v
		}
		fmt.Fprintf(w, "  %d ok: min %s ms, median %s ms, mean %s ms, max %s ms\n", len(okMS), f1(okMS[0]),
			f1(okMS[(len(okMS)-1)/2]), f1(sum/float64(len(okMS))), f1(okMS[len(okMS)-1]))
	}
	if len(limited) > 0 {
		fmt.Fprintf(w, "Rate-limit probe (same client address, after the pool's sign-ins; limit is a burst of 10, then 20/min):\n")
		for _, l := range limited {
			fmt.Fprintf(w, "  %-14s status %d in %s ms%s\n", l.User, l.Status, f1(l.MS), map[bool]string{true: "  (rate limited)", false: ""}[l.Status == 429])
		}
	}

	// Scenarios.
	fmt.Fprintf(w, "\nScenarios (latency in ms as the client saw it; errors = non-2xx or transport failures;\n"+
		"srv ms = mean time inside the server's handlers, from its /metrics; CPU per request from /proc):\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	pg := cfg.pgDB != ""
	hdr := "scenario\tusers\trequests\terrors\treq/s\tp50\tp90\tp99\tmax\tmean\tsrv ms\tdb waits\tbytes\tclient µs/req\tserver µs/req\t"
	if pg {
		hdr += "pg µs/req\t"
	}
	fmt.Fprintln(tw, hdr)
	dash := func(v float64, prec int) string {
		if v <= 0 {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', prec, 64)
	}
	for _, s := range rep.Scenarios {
		if s.Skipped != "" {
			fmt.Fprintf(tw, "%s\tskipped\t\n", s.Scenario)
			continue
		}
		users := "-"
		if s.Users != nil {
			users = strconv.Itoa(len(s.Users))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%s\t%s\t", s.Scenario, users, s.Requests, s.Errors,
			f1(s.RPS), f2(s.P50), f2(s.P90), f2(s.P99), f2(s.Max), f2(s.Mean), dash(s.ServerMeanMS, 2), s.DBWaits, s.AvgBytes,
			dash(s.ClientUSPR, 0), dash(s.ServerUSPR, 0))
		if pg {
			fmt.Fprintf(tw, "%s\t", dash(s.PGUSPR, 0))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	for _, s := range rep.Scenarios {
		if s.Skipped != "" {
			fmt.Fprintf(w, "  %s skipped: %s\n", s.Scenario, s.Skipped)
		}
		if len(s.Excluded) > 0 {
			var ex []string
			for u, code := range s.Excluded {
				ex = append(ex, fmt.Sprintf("%s(%d)", u, code))
			}
			sort.Strings(ex)
			fmt.Fprintf(w, "  %s: users left out (probe status): %s\n", s.Scenario, strings.Join(ex, " "))
		}
		if len(s.ByStatus) > 0 {
			var es []string
			for k, v := range s.ByStatus {
				es = append(es, fmt.Sprintf("%s×%d", k, v))
			}
			sort.Strings(es)
			fmt.Fprintf(w, "  %s errors: %s\n", s.Scenario, strings.Join(es, ", "))
		}
		if s.Capped {
			fmt.Fprintf(w, "  %s stopped at -n %d requests\n", s.Scenario, cfg.maxReq)
		}
	}

	// Summary against the baseline.
	b := rep.Baseline
	if b == nil {
		fmt.Fprintf(w, "\n(no healthz run: no baseline ratios)\n")
		return
	}
	fmt.Fprintf(w, "\nSummary%s — ratios against the healthz baseline (%s req/s, p99 %s ms", map[bool]string{true: " (" + rep.Label + ")", false: ""}[rep.Label != ""], f1(b.RPS), f2(b.P99))
	if b.Runs > 1 {
		fmt.Fprintf(w, "; mean of %d runs, drift %+.1f%% first→last", b.Runs, b.Drift*100)
	}
	fmt.Fprintf(w, "):\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	hdr = "scenario\treq/s\tp50 ms\tp99 ms\treq/s ÷ healthz\tp99 ÷ healthz\tserver CPU µs/req\t÷ healthz\t"
	if pg {
		hdr += "+ pg µs/req\t"
	}
	fmt.Fprintln(tw, hdr+"errors\t")
	for _, s := range rep.Scenarios {
		if s.Skipped != "" || s.Requests == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t", s.Scenario, f1(s.RPS), f2(s.P50), f2(s.P99),
			ratio(s.RPS, b.RPS), ratio(s.P99, b.P99), dash(s.ServerUSPR, 0), ratio(s.ServerUSPR, b.SrvUSPR))
		if pg {
			fmt.Fprintf(tw, "%s\t", dash(s.PGUSPR, 0))
		}
		fmt.Fprintf(tw, "%d\t\n", s.Errors)
	}
	tw.Flush()
	if q := rep.SeqHealthz; q != nil && len(okMS) > 0 {
		fmt.Fprintf(w, "Sign-in (sequential, %d users) against healthz sent sequentially (%d requests, p50 %s ms, p99 %s ms):\n",
			len(okMS), q.Requests, f2(q.P50), f2(q.P99))
		fmt.Fprintf(w, "  login median %s ms = %s healthz p50; login max %s ms = %s healthz p99\n",
			f2(okMS[(len(okMS)-1)/2]), ratio(okMS[(len(okMS)-1)/2], q.P50), f2(okMS[len(okMS)-1]), ratio(okMS[len(okMS)-1], q.P99))
	}

	if cfg.aims {
		fmt.Fprintf(w, "\nAims%s:\n", map[bool]string{true: " (" + rep.Label + ")", false: ""}[rep.Label != ""])
		for _, s := range rep.Scenarios {
			if s.Scenario != cfg.aimScenario || s.Requests == 0 {
				continue
			}
			fmt.Fprintf(w, "  %s ≥ %.0f req/s: %s req/s → %s\n", s.Scenario, cfg.aimRPS, f1(s.RPS), verdict(s.RPS >= cfg.aimRPS && s.Errors == 0))
			fmt.Fprintf(w, "  %s p99 < %s: %s ms → %s\n", s.Scenario, cfg.aimP99, f2(s.P99), verdict(s.P99 < ms(cfg.aimP99)))
			break
		}
		if len(okMS) > 0 {
			fmt.Fprintf(w, "  sign-in < %s (every one): max %s ms → %s\n", cfg.aimLogin, f1(okMS[len(okMS)-1]), verdict(okMS[len(okMS)-1] < ms(cfg.aimLogin)))
		}
	}
}

func ratio(a, b float64) string {
	if b <= 0 || a <= 0 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "×"
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
