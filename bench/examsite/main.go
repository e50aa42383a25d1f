// Command examsite measures the exam site node's chunk write path: -c
// candidates each send one ~1 s chunk (16 kHz 16-bit PCM, 32,000 bytes) a
// second (and a heartbeat every two seconds, as the client does) to a real
// `jnedu site` process for -d, and the tool reports the
// acknowledgement latency (request sent → 200 read) percentiles. Baseline,
// in the same run and the same filesystem as the node's data folder: the
// latency of one 32 KiB write + fdatasync. Also reported: the node's CPU
// time over the window (user+system from /proc/PID/stat: cores used on
// average), its peak resident memory (VmHWM), the load generator's own
// CPU, the heartbeat latency, and an idle window before the load (-idle:
// every candidate signed in, heartbeats only).
//
// It builds the server (go build ./cmd/jnedu) into a temporary folder,
// writes a site package with sitefixture, loads it and the key with the
// site commands, starts `jnedu site --listen 127.0.0.1:0`, signs the
// candidates in and opens their spoken item, runs the load, and removes
// everything at the end. Loopback only; stops by itself.
//
//	go run ./bench/examsite -c 600 -d 20s
//
// Not part of CI. The load generator and the node share this machine's CPUs.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"time"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/site/sitefixture"

	"jnedu/bench/internal/procstat"
)

func main() {
	c := flag.Int("c", 600, "candidates")
	d := flag.Duration("d", 20*time.Second, "measured duration")
	idleDur := flag.Duration("idle", 5*time.Second, "idle window before the load (signed in, heartbeats only; 0: none)")
	keep := flag.Bool("keep", false, "keep the temporary folder")
	prebuilt := flag.String("bin", "", "use this jnedu binary instead of building ./cmd/jnedu")
	flag.Parse()
	if *d > 10*time.Minute {
		fail(fmt.Errorf("-d is at most 10m"))
	}
	tmp, err := os.MkdirTemp("", "jnedu-bench-examsite-")
	if err != nil {
		fail(err)
	}
	cleanup = func() {
		if !*keep {
			os.RemoveAll(tmp)
		}
	}
	defer func() { cleanup() }()
	bin := *prebuilt
	if bin == "" {
		bin = filepath.Join(tmp, "jnedu")
		run("go", "build", "-o", bin, "./cmd/jnedu")
	}
	fx, err := sitefixture.Build(sitefixture.Options{Candidates: *c, Seats: *c, AnswerSec: 600})
	if err != nil {
		fail(err)
	}
	pkg, data := filepath.Join(tmp, "pkg"), filepath.Join(tmp, "site")
	if err := fx.WriteFolder(pkg); err != nil {
		fail(err)
	}
	run(bin, "site", "load", pkg, "--site", fx.Package.Site.Code, "--data", data)
	run(bin, "site", "key", "--session", "S1", "--code", bundle.SealedCode(fx.Key), "--data", data)

	base := fsyncBaseline(data)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "site", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "warn")
	out, _ := cmd.StdoutPipe()
	logf, _ := os.Create(filepath.Join(tmp, "site.log"))
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	removeTmp := cleanup
	cleanup = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		removeTmp()
	}
	url := ""
	sc := bufio.NewScanner(out)
	re := regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
	for sc.Scan() {
		if m := re.FindString(sc.Text()); m != "" {
			url = m
			break
		}
	}
	if url == "" {
		fail(fmt.Errorf("the site node did not start"))
	}
	go io.Copy(io.Discard, out)
	tr := &http.Transport{MaxIdleConnsPerHost: *c + 10, MaxConnsPerHost: *c + 10}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	startRoom(hc, url)

	// The room starts: every candidate signs in and opens the spoken item
	// at once (state changes, each synced to disk before its answer).
	cands := make([]cand, *c)
	var stateLat durations
	var smu sync.Mutex
	var swg sync.WaitGroup
	for i, num := range fx.Numbers {
		swg.Go(func() {
			var r struct{ Attempt, Token string }
			t0 := time.Now()
			call(hc, "POST", url+"/client/api/signin", "", map[string]string{"number": num, "device": fmt.Sprintf("bench%d", i)}, &r)
			t1 := time.Now()
			cands[i] = cand{r.Attempt, r.Token}
			call(hc, "POST", url+"/client/api/attempts/"+r.Attempt+"/items/s2i1/open", r.Token, map[string]any{}, nil)
			smu.Lock()
			stateLat = append(stateLat, t1.Sub(t0), time.Since(t1))
			smu.Unlock()
		})
	}
	swg.Wait()
	slices.Sort(stateLat)
	pcm := make([]byte, 32000)
	for i := range pcm {
		pcm[i] = byte(i * 7)
	}
	sum := sha256.Sum256(pcm)
	hash := hex.EncodeToString(sum[:])
	pid := cmd.Process.Pid

	// Idle: every candidate signed in with an item open, only heartbeats.
	var idle, load result
	if *idleDur > 0 {
		idle = measure(hc, url, pid, *idleDur, false, pcm, hash, cands)
	}
	load = measure(hc, url, pid, *d, true, pcm, hash, cands)
	hwm, rss := procMem(pid)
	la, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("state changes (%d sign-ins and item opens, all at once): p50 %v  p90 %v  p99 %v  max %v\n", len(stateLat),
		stateLat.pct(0.5), stateLat.pct(0.9), stateLat.pct(0.99), stateLat.pct(1))
	if *idleDur > 0 {
		fmt.Printf("idle %s (%d candidates signed in, heartbeats only): node %.3f cores (%.2f s CPU), heartbeat p50 %v p99 %v, %d heartbeat errors\n",
			*idleDur, *c, idle.nodeCPU/idle.wall.Seconds(), idle.nodeCPU, idle.hb.pct(0.5), idle.hb.pct(0.99), idle.hbErrs)
	}
	fmt.Printf("candidates %d, %s: %d chunks acknowledged (%.0f/s), %d errors\n", *c, *d, len(load.ack), float64(len(load.ack))/d.Seconds(), load.errs)
	fmt.Printf("ack latency p50 %v  p90 %v  p99 %v  max %v\n", load.ack.pct(0.5), load.ack.pct(0.9), load.ack.pct(0.99), load.ack.pct(1))
	fmt.Printf("heartbeat latency p50 %v  p90 %v  p99 %v  max %v  (%d errors)\n", load.hb.pct(0.5), load.hb.pct(0.9), load.hb.pct(0.99), load.hb.pct(1), load.hbErrs)
	fmt.Printf("node CPU %.2f s over %s = %.2f cores; load generator CPU %.2f s = %.2f cores\n",
		load.nodeCPU, load.wall.Round(time.Millisecond), load.nodeCPU/load.wall.Seconds(), load.selfCPU, load.selfCPU/load.wall.Seconds())
	fmt.Printf("node memory: peak RSS (VmHWM) %.1f MiB, RSS at the end %.1f MiB\n", float64(hwm)/(1<<20), float64(rss)/(1<<20))
	fmt.Printf("baseline 32 KiB write+fdatasync on the data folder's filesystem: p50 %v  p99 %v\n", base[0], base[1])
	fmt.Printf("load average (1/5/15 min) at the end: %s", la)
}

type durations []time.Duration

func (ds durations) pct(p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(float64(len(ds))*p))].Round(time.Microsecond)
}

type cand struct{ attempt, token string }

type result struct {
	ack, hb      durations
	errs, hbErrs int
	wall         time.Duration
	nodeCPU      float64 // seconds, user+system
	selfCPU      float64 // the load generator's, seconds
}

// measure runs one window (at most one with chunks: sequence numbers
// start at 0): every candidate sends a heartbeat every 2 s
// and, with chunks, one chunk a second; the node's CPU time is read from
// /proc before and after.
func measure(hc *http.Client, url string, pid int, d time.Duration, chunks bool, pcm []byte, hash string, cands []cand) result {
	var mu sync.Mutex
	var res result
	var wg sync.WaitGroup
	cpu0, self0 := procCPU(pid), selfCPU()
	t00 := time.Now()
	deadline := t00.Add(d)
	for i, cd := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * time.Second / time.Duration(len(cands)))
			for k := 0; time.Now().Before(deadline); k++ {
				t0 := time.Now()
				if chunks {
					seq := k
					req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/client/api/attempts/%s/items/s2i1/chunks/%d", url, cd.attempt, seq), bytes.NewReader(pcm))
					req.Header.Set("Authorization", "Bearer "+cd.token)
					req.Header.Set("X-Chunk-SHA256", hash)
					res2, err := hc.Do(req)
					ok := err == nil && res2.StatusCode == 200
					if err == nil {
						io.Copy(io.Discard, res2.Body)
						res2.Body.Close()
					}
					el := time.Since(t0)
					mu.Lock()
					if ok {
						res.ack = append(res.ack, el)
					} else {
						res.errs++
					}
					mu.Unlock()
				}
				if k%2 == 1 {
					// The client's heartbeat, every 2 s (a database write).
					t1 := time.Now()
					hb := map[string]any{"item": "s2i1", "phase": "answer", "remaining_ms": 600000 - k*1000}
					b, _ := json.Marshal(hb)
					req, _ := http.NewRequest("POST", url+"/client/api/attempts/"+cd.attempt+"/heartbeat", bytes.NewReader(b))
					req.Header.Set("Authorization", "Bearer "+cd.token)
					req.Header.Set("Content-Type", "application/json")
					res2, err := hc.Do(req)
					ok := err == nil && res2.StatusCode == 200
					if err == nil {
						io.Copy(io.Discard, res2.Body)
						res2.Body.Close()
					}
					el := time.Since(t1)
					mu.Lock()
					if ok {
						res.hb = append(res.hb, el)
					} else {
						res.hbErrs++
					}
					mu.Unlock()
				}
				time.Sleep(time.Second - time.Since(t0))
			}
		}()
	}
	wg.Wait()
	res.wall = time.Since(t00)
	res.nodeCPU = procCPU(pid) - cpu0
	res.selfCPU = selfCPU() - self0
	slices.Sort(res.ack)
	slices.Sort(res.hb)
	return res
}

// procCPU is a process's CPU time in seconds.
func procCPU(pid int) float64 {
	d, err := procstat.CPU(pid)
	if err != nil {
		fail(err)
	}
	return d.Seconds()
}

// procMem is a process's peak and current resident size in bytes.
func procMem(pid int) (hwm, rss int64) {
	hwm, rss, err := procstat.Mem(pid)
	if err != nil {
		fail(err)
	}
	return hwm, rss
}

// selfCPU is this process's CPU time in seconds.
func selfCPU() float64 { return procstat.Self().Seconds() }

// fsyncBaseline times 200 appends of 32 KiB, each followed by fdatasync.
func fsyncBaseline(dir string) [2]time.Duration {
	f, err := os.Create(filepath.Join(dir, "fsync-baseline"))
	if err != nil {
		fail(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 32<<10)
	var ds []time.Duration
	for range 200 {
		t0 := time.Now()
		f.Write(buf)
		syscall.Fdatasync(int(f.Fd()))
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return [2]time.Duration{ds[100].Round(time.Microsecond), ds[198].Round(time.Microsecond)}
}

func startRoom(hc *http.Client, url string) {
	// The chief signs in to the console and starts room 01.
	jar, _ := cookiejar.New(nil)
	cc := &http.Client{Transport: hc.Transport, Jar: jar, Timeout: hc.Timeout}
	res, err := cc.PostForm(url+"/console/login", map[string][]string{"username": {"chief"}, "password": {"proctor-pass-1"}})
	if err != nil {
		fail(err)
	}
	res.Body.Close()
	res, err = cc.Post(url+"/console/api/rooms/S1/01/start", "application/json", bytes.NewReader([]byte("{}")))
	if err != nil {
		fail(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		fail(fmt.Errorf("start the room: %d", res.StatusCode))
	}
}

func call(hc *http.Client, method, url, token string, body, out any) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := hc.Do(req)
	if err != nil {
		fail(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		msg, _ := io.ReadAll(res.Body)
		fail(fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, msg))
	}
	if out != nil {
		json.NewDecoder(res.Body).Decode(out)
	}
}

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fail(fmt.Errorf("%s %v: %w", name, args, err))
	}
}

// cleanup stops the node and removes the folder; fail runs it too, since
// os.Exit skips deferred calls.
var cleanup = func() {}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/examsite:", err)
	cleanup()
	os.Exit(1)
}
