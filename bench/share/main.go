// Command share measures jnedu's video sharing against plain baselines, in
// one run, on the loopback interface:
//
//  1. Upload ingest: a large file (-ingest-mib of pseudo-random bytes, not a
//     video; its processing fails, which is expected) sent through tus in
//     -chunk-mib PATCH requests, timed from the first byte to the final 204,
//     against the disk's sequential write rate on the same filesystem as the
//     server's data folder (a Go writer, 64 MiB writes, fsync at the end,
//     timed including the fsync).
//  2. Serving: a generated 720p H.264 video (ffmpeg testsrc2 + sine,
//     libx264 veryfast) is uploaded, processed until ready; then -viewers
//     concurrent viewers fetch the segments of one media playlist in order,
//     in a loop, for -d; the same segment files, copied out through the
//     server, are then served by nginx (sendfile on) with the same load.
//
// It builds the server (go build ./cmd/jnedu) into a temporary folder,
// starts `jnedu serve --demo` on a free loopback port with a temporary data
// folder, and removes everything when it stops (nginx and the server too).
// Run it from the repository root:
//
//	go run ./bench/share
//
// Not part of CI. Client, server and nginx share this machine's CPUs.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"jnedu/bench/internal/procstat"
)

type config struct {
	ingestMiB  int
	chunkMiB   int
	minutes    float64
	viewers    int
	dur        time.Duration
	warmup     time.Duration
	rendition  string
	keep       bool
	tmpRoot    string
	skipIngest bool
	skipServe  bool
	readyWait  time.Duration
	rounds     int
}

func main() {
	var cfg config
	flag.IntVar(&cfg.ingestMiB, "ingest-mib", 2048, "size of the ingest upload, MiB")
	flag.IntVar(&cfg.chunkMiB, "chunk-mib", 64, "tus PATCH size, MiB")
	flag.Float64Var(&cfg.minutes, "minutes", 2, "length of the generated 720p video, minutes")
	flag.IntVar(&cfg.viewers, "viewers", 200, "concurrent viewers")
	flag.DurationVar(&cfg.dur, "d", 15*time.Second, "measured time per serving run")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "warm-up per serving run (discarded)")
	flag.IntVar(&cfg.rounds, "rounds", 1, "serving rounds; each is jnedu then nginx")
	flag.StringVar(&cfg.rendition, "rendition", "720,source", "media playlist to use: the first variant whose path contains the first of these (comma-separated) that any does")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temporary folder (server log, segments)")
	flag.StringVar(&cfg.tmpRoot, "tmp", "", "parent of the temporary folder (default $TMPDIR); the disk baseline is measured there")
	flag.BoolVar(&cfg.skipIngest, "skip-ingest", false, "skip part 1")
	flag.BoolVar(&cfg.skipServe, "skip-serve", false, "skip part 2")
	flag.DurationVar(&cfg.readyWait, "ready-wait", 10*time.Minute, "at most this long for the video to be ready")
	flag.Parse()
	if cfg.ingestMiB < cfg.chunkMiB || cfg.chunkMiB < 1 || cfg.viewers < 1 || cfg.viewers > 2000 || cfg.dur <= 0 || cfg.dur > 5*time.Minute || cfg.rounds < 1 || cfg.rounds > 5 {
		fatal(errors.New("need -ingest-mib ≥ -chunk-mib ≥ 1, 1 ≤ -viewers ≤ 2000, 0 < -d ≤ 5m, 1 ≤ -rounds ≤ 5"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, cfg)
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "share:", err)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "share: "+format+"\n", args...)
}

type env struct {
	cfg     config
	tmp     string
	bin     string
	data    string
	srv     *exec.Cmd
	srvDone chan struct{}
	base    *url.URL
	hc      *http.Client
	cookie  string
	csrf    string
	nginx   *exec.Cmd
	ngDone  chan struct{}
}

func run(ctx context.Context, cfg config) (err error) {
	e := &env{cfg: cfg}
	root := cfg.tmpRoot
	if root == "" {
		root = os.TempDir()
	}
	if e.tmp, err = os.MkdirTemp(root, "jnedu-bench-share."); err != nil {
		return err
	}
	os.Chmod(e.tmp, 0o755) // nginx workers run as nobody when we are root
	defer func() {
		e.stopNginx()
		e.stopServer()
		if cfg.keep {
			logf("kept %s", e.tmp)
		} else {
			os.RemoveAll(e.tmp)
		}
	}()
	e.bin = filepath.Join(e.tmp, "jnedu")
	e.data = filepath.Join(e.tmp, "data")
	logf("building the server (go build ./cmd/jnedu)")
	b := exec.CommandContext(ctx, "go", "build", "-o", e.bin, "./cmd/jnedu")
	b.Stdout, b.Stderr = os.Stderr, os.Stderr
	if err := b.Run(); err != nil {
		return fmt.Errorf("go build (run from the repository root): %w", err)
	}
	if err := e.startServer(ctx); err != nil {
		return err
	}
	e.hc = newClient(cfg.viewers + 16)
	if err := e.signIn(ctx); err != nil {
		return err
	}
	fmt.Printf("jnedu bench/share — %d CPUs shared by client, server and nginx; GOMAXPROCS %d; load average %s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), procstat.LoadAvg())
	fmt.Printf("server %s, data folder %s\n\n", e.base, e.data)

	if !cfg.skipIngest {
		if err := e.ingest(ctx); err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
	}
	if !cfg.skipServe {
		if err := e.serve(ctx); err != nil {
			return fmt.Errorf("serving: %w", err)
		}
	}
	return nil
}

// ---- server ----

func (e *env) startServer(ctx context.Context) error {
	logOut, err := os.Create(filepath.Join(e.tmp, "server.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(e.bin, "serve", "--demo", "--data", e.data, "--listen", "127.0.0.1:0")
	cmd.Stderr = logOut
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	e.srv = cmd
	e.srvDone = make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if m := re.FindString(sc.Text()); m != "" && !sent {
				addr <- m
				sent = true
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { cmd.Wait(); logOut.Close(); close(e.srvDone) }()
	select {
	case a := <-addr:
		e.base, _ = url.Parse(a)
		logf("server at %s (pid %d)", a, cmd.Process.Pid)
		return nil
	case <-e.srvDone:
		return fmt.Errorf("server exited; see %s", logOut.Name())
	case <-time.After(60 * time.Second):
		return errors.New("server did not print its address within 60s")
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *env) stopServer() {
	if e.srv == nil || e.srv.Process == nil {
		return
	}
	e.srv.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.srvDone:
	case <-time.After(20 * time.Second):
		e.srv.Process.Kill()
		<-e.srvDone
	}
	if b, err := os.ReadFile(filepath.Join(e.tmp, "server.log")); err == nil {
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "level=ERROR") && n < 5 {
				logf("server logged: %.300s", l)
				n++
			}
		}
	}
	e.srv = nil
}

func newClient(idle int) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("refusing to dial %s: not loopback", addr)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}
	return &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) signIn(ctx context.Context) error {
	body := `{"username":"teacher","password":"Demo2026jn"}`
	req, _ := http.NewRequestWithContext(ctx, "POST", e.base.String()+"/api/v1/session", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("sign-in: %s: %.200s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	for _, c := range resp.Cookies() {
		if c.Name == "jnedu_session" {
			e.cookie = c.Value
		}
	}
	if e.cookie == "" || out.CSRF == "" {
		return errors.New("sign-in: no session cookie or csrf_token")
	}
	e.csrf = out.CSRF
	return nil
}

func (e *env) authed(req *http.Request) *http.Request {
	req.AddCookie(&http.Cookie{Name: "jnedu_session", Value: e.cookie})
	if req.Method != "GET" {
		req.Header.Set("X-CSRF-Token", e.csrf)
	}
	return req
}

// ---- part 1: ingest ----

// chunkSource yields size bytes of pseudo-random data, chunk by chunk; each
// chunk is a base block with its index stamped every 4 KiB, so no two
// chunks are equal and it costs the client almost nothing.
type chunkSource struct {
	block []byte
}

func newChunkSource(n int) *chunkSource {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	r.Read(b)
	return &chunkSource{block: b}
}

func (c *chunkSource) chunk(i int, n int) []byte {
	b := c.block[:n]
	for off := 0; off+8 <= n; off += 4096 {
		b[off], b[off+1], b[off+2], b[off+3] = byte(i), byte(i>>8), byte(i>>16), 0xA5
	}
	return b
}

// diskRate writes size bytes in 64 MiB writes to a file in dir, fsyncs,
// and returns MB/s (10^6 bytes) over the whole, fsync included.
func diskRate(dir string, src *chunkSource, size int64, chunk int) (float64, error) {
	name := filepath.Join(dir, "disk-baseline.bin")
	defer os.Remove(name)
	f, err := os.Create(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	t := time.Now()
	for i, off := 0, int64(0); off < size; i++ {
		n := int(min(int64(chunk), size-off))
		if _, err := f.Write(src.chunk(i, n)); err != nil {
			return 0, err
		}
		off += int64(n)
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return float64(size) / 1e6 / time.Since(t).Seconds(), nil
}

// tusUpload sends body chunks through tus and returns the video id and the
// seconds from the first PATCH byte to the final 204.
func (e *env) tusUpload(ctx context.Context, name string, size int64, chunk int, next func(i, n int) []byte) (int64, float64, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", e.base.String()+"/api/v1/share/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte(name))+",title "+base64.StdEncoding.EncodeToString([]byte("bench "+name)))
	resp, err := e.hc.Do(e.authed(req))
	if err != nil {
		return 0, 0, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		return 0, 0, fmt.Errorf("tus create: %s: %.300s", resp.Status, b)
	}
	loc, err := e.base.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Host != e.base.Host {
		return 0, 0, fmt.Errorf("tus create: bad Location %q", resp.Header.Get("Location"))
	}
	var id string
	t := time.Now()
	for i, off := 0, int64(0); off < size; i++ {
		n := int(min(int64(chunk), size-off))
		req, _ := http.NewRequestWithContext(ctx, "PATCH", loc.String(), bytes.NewReader(next(i, n)))
		req.ContentLength = int64(n)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
		resp, err := e.hc.Do(e.authed(req))
		if err != nil {
			return 0, 0, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 204 {
			return 0, 0, fmt.Errorf("tus PATCH at %d: %s: %.300s", off, resp.Status, b)
		}
		off += int64(n)
		if got := resp.Header.Get("Upload-Offset"); got != strconv.FormatInt(off, 10) {
			return 0, 0, fmt.Errorf("tus PATCH: Upload-Offset %q, want %d", got, off)
		}
		id = resp.Header.Get("Jnedu-Video-Id")
	}
	secs := time.Since(t).Seconds()
	vid, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return 0, secs, fmt.Errorf("final PATCH carried no Jnedu-Video-Id (%q)", id)
	}
	return vid, secs, nil
}

func (e *env) ingest(ctx context.Context) error {
	chunk := e.cfg.chunkMiB << 20
	size := int64(e.cfg.ingestMiB) << 20
	src := newChunkSource(chunk)
	logf("part 1: disk baseline, %d MiB in %d MiB writes + fsync, in %s", e.cfg.ingestMiB, e.cfg.chunkMiB, e.data)
	disk1, err := diskRate(e.data, src, size, chunk)
	if err != nil {
		return err
	}
	logf("part 1: tus upload of %d MiB in %d MiB PATCHes", e.cfg.ingestMiB, e.cfg.chunkMiB)
	srvCPU0 := procCPU(e.srv.Process.Pid)
	id, secs, err := e.tusUpload(ctx, "ingest.bin", size, chunk, src.chunk)
	if err != nil {
		return err
	}
	srvCPU := procCPU(e.srv.Process.Pid) - srvCPU0
	ingest := float64(size) / 1e6 / secs
	// A second disk run after the upload, to see how much the disk drifted.
	disk2, err := diskRate(e.data, src, size, chunk)
	if err != nil {
		return err
	}
	disk := (disk1 + disk2) / 2
	ratio := ingest / disk
	fmt.Printf("1. Upload ingest (%d MiB pseudo-random bytes, %d MiB tus PATCHes, loopback)\n", e.cfg.ingestMiB, e.cfg.chunkMiB)
	fmt.Printf("   disk sequential write (Go, %d MiB writes, fsync at end; same filesystem as the data folder): %.0f MB/s before, %.0f MB/s after, mean %.0f MB/s\n",
		e.cfg.chunkMiB, disk1, disk2, disk)
	fmt.Printf("   jnedu tus ingest: %.0f MB/s (%.2f s first byte → final 204; server CPU %.1f s = %.2f CPU-s/GB); video id %d\n",
		ingest, secs, srvCPU, srvCPU/(float64(size)/1e9), id)
	fmt.Printf("   ratio ingest / disk: %.2f×   aim ≥ 0.6× %s\n\n", ratio, verdict(ratio >= 0.6))
	// Free the space: the video will fail processing anyway.
	req, _ := http.NewRequestWithContext(ctx, "DELETE", e.base.String()+"/api/v1/share/videos/"+strconv.FormatInt(id, 10), nil)
	if resp, err := e.hc.Do(e.authed(req)); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// procCPU is a process's user+system CPU time in seconds, 0 when it is gone.
func procCPU(pid int) float64 {
	d, _ := procstat.CPU(pid)
	return d.Seconds()
}

// treeCPU is procCPU of pid and its direct children (nginx workers).
func treeCPU(pid int) float64 {
	total := procCPU(pid)
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		c, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			total += procCPU(c)
		}
	}
	return total
}

// ---- part 2: serving ----

func (e *env) makeVideo(ctx context.Context) (string, error) {
	out := filepath.Join(e.tmp, "src720.mp4")
	secs := strconv.FormatFloat(e.cfg.minutes*60, 'f', 0, 64)
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", secs, "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "60",
		"-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", out}
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.Stderr = os.Stderr
	return out, cmd.Run()
}

type videoJSON struct {
	ID       int64  `json:"id"`
	Playlist string `json:"playlist"`
	Media    *struct {
		State    string `json:"state"`
		Reason   string `json:"state_reason"`
		Playable bool   `json:"playable"`
		Progress int    `json:"progress"`
	} `json:"media"`
}

func (e *env) getVideo(ctx context.Context, id int64) (videoJSON, error) {
	var v videoJSON
	req, _ := http.NewRequestWithContext(ctx, "GET", e.base.String()+"/api/v1/share/videos/"+strconv.FormatInt(id, 10), nil)
	resp, err := e.hc.Do(e.authed(req))
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return v, fmt.Errorf("GET video %d: %s: %.200s", id, resp.Status, b)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

func (e *env) fetch(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return b, err
}

// uris returns the URI lines of a playlist (and the EXT-X-MAP URI first).
func uris(pl []byte) []string {
	var out []string
	for _, line := range strings.Split(string(pl), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			if i := strings.Index(line, `URI="`); i >= 0 {
				if j := strings.Index(line[i+5:], `"`); j >= 0 {
					out = append(out, line[i+5:i+5+j])
				}
			}
		case !strings.HasPrefix(line, "#"):
			out = append(out, line)
		}
	}
	return out
}

func (e *env) serve(ctx context.Context) error {
	logf("part 2: generating a %.1f-minute 720p30 H.264 + AAC video (testsrc2 + sine, veryfast)", e.cfg.minutes)
	t := time.Now()
	src, err := e.makeVideo(ctx)
	if err != nil {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	logf("part 2: generated %.1f MB in %.1f s; uploading", float64(st.Size())/1e6, time.Since(t).Seconds())
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	chunk := e.cfg.chunkMiB << 20
	id, upSecs, err := e.tusUpload(ctx, "bench720.mp4", int64(len(data)), chunk, func(i, n int) []byte {
		off := i * chunk
		return data[off : off+n]
	})
	if err != nil {
		return err
	}
	data = nil
	t = time.Now()
	var v videoJSON
	var playableAt time.Duration
	for deadline := time.Now().Add(e.cfg.readyWait); ; {
		if v, err = e.getVideo(ctx, id); err != nil {
			return err
		}
		if v.Media != nil && v.Media.Playable && playableAt == 0 {
			playableAt = time.Since(t)
		}
		if v.Media != nil && v.Media.State == "ready" {
			break
		}
		if v.Media != nil && (v.Media.State == "failed" || v.Media.State == "error") {
			return fmt.Errorf("video %d: processing %s: %s", id, v.Media.State, v.Media.Reason)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("video %d not ready after %s (state %+v)", id, e.cfg.readyWait, v.Media)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	readySecs := time.Since(t).Seconds()
	logf("part 2: video %d uploaded in %.2f s, playable after %.1f s, ready after %.1f s", id, upSecs, playableAt.Seconds(), readySecs)
	if v.Playlist == "" {
		return errors.New("ready video has no playlist")
	}
	master, err := e.base.Parse(v.Playlist)
	if err != nil {
		return err
	}
	mb, err := e.fetch(ctx, master.String())
	if err != nil {
		return err
	}
	variants := uris(mb)
	var pick string
	for _, want := range strings.Split(e.cfg.rendition, ",") {
		for _, u := range variants {
			if want != "" && pick == "" && strings.Contains(strings.SplitN(u, "?", 2)[0], want) {
				pick = u
			}
		}
	}
	if pick == "" {
		return fmt.Errorf("no variant matching %q in master playlist: %v", e.cfg.rendition, variants)
	}
	media, err := master.Parse(pick)
	if err != nil {
		return err
	}
	pb, err := e.fetch(ctx, media.String())
	if err != nil {
		return err
	}
	var segs []string // server-relative request URIs
	www := filepath.Join(e.tmp, "www")
	var total int64
	for _, s := range uris(pb) {
		u, err := media.Parse(s)
		if err != nil {
			return err
		}
		b, err := e.fetch(ctx, u.String())
		if err != nil {
			return err
		}
		p := path.Clean(u.Path)
		if !strings.HasPrefix(p, "/media/") || strings.Contains(p, "..") {
			return fmt.Errorf("unexpected segment path %q", p)
		}
		dst := filepath.Join(www, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
		total += int64(len(b))
		segs = append(segs, u.RequestURI())
	}
	if len(segs) < 2 {
		return fmt.Errorf("media playlist has %d URIs", len(segs))
	}
	logf("part 2: rendition %s: %d files (init + segments), %.1f MB, mean %.0f KB; copied to %s",
		pick[:strings.IndexByte(pick+"?", '?')], len(segs), float64(total)/1e6, float64(total)/1e3/float64(len(segs)), www)

	ngAddr, err := e.startNginx(www)
	if err != nil {
		return fmt.Errorf("nginx: %w", err)
	}
	ngBase := &url.URL{Scheme: "http", Host: ngAddr}
	// Check nginx serves the same bytes for one segment.
	a, err1 := e.fetch(ctx, e.base.String()+segs[1])
	b, err2 := e.fetch(ctx, ngBase.String()+segs[1])
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		return fmt.Errorf("nginx and jnedu differ on %s (%v, %v)", segs[1], err1, err2)
	}

	var js, ns []loadResult
	for r := 0; r < e.cfg.rounds; r++ {
		logf("part 2: round %d: jnedu, %d viewers, %s warm-up + %s", r+1, e.cfg.viewers, e.cfg.warmup, e.cfg.dur)
		js = append(js, e.load(ctx, e.base, segs, func() float64 { return procCPU(e.srv.Process.Pid) }))
		logf("part 2: round %d: nginx, %d viewers, %s warm-up + %s", r+1, e.cfg.viewers, e.cfg.warmup, e.cfg.dur)
		ns = append(ns, e.load(ctx, ngBase, segs, func() float64 { return treeCPU(e.nginx.Process.Pid) }))
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	fmt.Printf("2. Serving (%d viewers, keep-alive, each fetching the %d files of the %s playlist in order in a loop; %s measured after %s warm-up)\n",
		e.cfg.viewers, len(segs), pick[:strings.IndexByte(pick+"?", '?')], e.cfg.dur, e.cfg.warmup)
	fmt.Printf("   video: %.1f min 720p30 H.264, ready %.1f s after upload; %.1f MB served set, mean file %.0f KB\n",
		e.cfg.minutes, readySecs, float64(total)/1e6, float64(total)/1e3/float64(len(segs)))
	fmt.Printf("   %-14s %9s %8s %8s %8s %8s %7s %11s %9s\n", "", "MB/s", "files/s", "p50 ms", "p99 ms", "max ms", "errors", "server CPU", "µs/file")
	for r := range js {
		for _, x := range []struct {
			name string
			l    loadResult
		}{{"jnedu", js[r]}, {"nginx", ns[r]}} {
			fmt.Printf("   %-14s %9.0f %8.0f %8.1f %8.1f %8.1f %7d %9.1f s %9.0f\n", fmt.Sprintf("%s r%d", x.name, r+1),
				x.l.mbps, x.l.rps, x.l.p50, x.l.p99, x.l.max, x.l.errors, x.l.cpu, x.l.cpu*1e6/float64(max(1, x.l.n)))
		}
	}
	var jt, nt, jp, np float64
	for r := range js {
		jt += js[r].mbps
		nt += ns[r].mbps
		jp += js[r].p99
		np += ns[r].p99
	}
	tr := jt / nt
	fmt.Printf("   throughput jnedu / nginx: %.2f×   aim ≥ 0.8× %s\n", tr, verdict(tr >= 0.8))
	fmt.Printf("   p99 jnedu / nginx: %.2f× (lower is better)\n", jp/np)
	if js[0].firstErr != "" || ns[0].firstErr != "" {
		fmt.Printf("   first errors: jnedu %q, nginx %q\n", js[0].firstErr, ns[0].firstErr)
	}
	return nil
}

// ---- nginx ----

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (e *env) startNginx(root string) (string, error) {
	prefix := filepath.Join(e.tmp, "nginx")
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			return "", err
		}
	}
	addr, err := freePort()
	if err != nil {
		return "", err
	}
	// As close as nginx gets to the server's job: static files, sendfile,
	// keep-alive, no access log (jnedu writes none per request either? it
	// may log; see the README), workers = CPUs.
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
events { worker_connections 4096; }
http {
	include /etc/nginx/mime.types;
	types { video/iso.segment m4s; }
	default_type application/octet-stream;
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 75s;
	keepalive_requests 1000000;
	access_log off;
	client_body_temp_path %[1]s/tmp/body;
	proxy_temp_path %[1]s/tmp/proxy;
	fastcgi_temp_path %[1]s/tmp/fastcgi;
	uwsgi_temp_path %[1]s/tmp/uwsgi;
	scgi_temp_path %[1]s/tmp/scgi;
	server {
		listen %[2]s;
		root %[3]s;
	}
}
`, prefix, addr, root)
	cf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command("nginx", "-c", cf, "-p", prefix)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	e.nginx = cmd
	e.ngDone = make(chan struct{})
	go func() { cmd.Wait(); close(e.ngDone) }()
	for i := 0; i < 100; i++ {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			logf("nginx at %s (pid %d)", addr, cmd.Process.Pid)
			return addr, nil
		}
		select {
		case <-e.ngDone:
			b, _ := os.ReadFile(filepath.Join(prefix, "logs", "error.log"))
			return "", fmt.Errorf("nginx exited: %s", b)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "", errors.New("nginx did not listen within 10s")
}

func (e *env) stopNginx() {
	if e.nginx == nil || e.nginx.Process == nil {
		return
	}
	e.nginx.Process.Signal(syscall.SIGQUIT) // graceful: workers exit too
	select {
	case <-e.ngDone:
	case <-time.After(10 * time.Second):
		e.nginx.Process.Signal(syscall.SIGTERM)
		<-e.ngDone
	}
	e.nginx = nil
}

// ---- the viewers ----

type loadResult struct {
	n, errors          int
	bytes              int64
	mbps, rps          float64
	p50, p99, max, cpu float64
	firstErr           string
}

func (e *env) load(ctx context.Context, base *url.URL, segs []string, cpu func() float64) loadResult {
	hc := newClient(e.cfg.viewers + 16)
	defer hc.CloseIdleConnections()
	var measuring atomic.Bool
	var stop atomic.Bool
	var mu sync.Mutex
	var lat []time.Duration
	var bytesN int64
	var errs int
	var firstErr string
	var wg sync.WaitGroup
	for w := 0; w < e.cfg.viewers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1024)
			var myBytes int64
			myErr := 0
			var myFirst string
			buf := make([]byte, 64<<10)
			// Viewers start at different places in the video.
			for i := w % len(segs); !stop.Load() && ctx.Err() == nil; i = (i + 1) % len(segs) {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, "GET", base.String()+segs[i], nil)
				resp, err := hc.Do(req)
				var n int64
				if err == nil {
					for {
						k, rerr := resp.Body.Read(buf)
						n += int64(k)
						if rerr != nil {
							if rerr != io.EOF {
								err = rerr
							}
							break
						}
					}
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				d := time.Since(t0)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					myErr++
					if myFirst == "" {
						myFirst = err.Error()
					}
					continue
				}
				mine = append(mine, d)
				myBytes += n
			}
			mu.Lock()
			lat = append(lat, mine...)
			bytesN += myBytes
			errs += myErr
			if firstErr == "" {
				firstErr = myFirst
			}
			mu.Unlock()
		}(w)
	}
	sleep(ctx, e.cfg.warmup)
	c0 := cpu()
	t0 := time.Now()
	measuring.Store(true)
	sleep(ctx, e.cfg.dur)
	measuring.Store(false)
	secs := time.Since(t0).Seconds()
	c1 := cpu()
	stop.Store(true)
	wg.Wait()
	slices.Sort(lat)
	r := loadResult{n: len(lat), errors: errs, bytes: bytesN, firstErr: firstErr, cpu: c1 - c0}
	r.mbps = float64(bytesN) / 1e6 / secs
	r.rps = float64(len(lat)) / secs
	if len(lat) > 0 {
		r.p50 = ms(lat[pct(len(lat), 50)])
		r.p99 = ms(lat[pct(len(lat), 99)])
		r.max = ms(lat[len(lat)-1])
	}
	return r
}

func pct(n int, p float64) int {
	k := int(float64(n)*p/100+0.999999) - 1
	return max(0, min(k, n-1))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
