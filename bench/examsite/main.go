// Command examsite measures the exam site node's chunk write path: -c
// candidates each send one ~1 s chunk (16 kHz 16-bit PCM, 32,000 bytes) a
// second (and a heartbeat every two seconds, as the client does) to a real
// `jnedu site` process for -d, and the tool reports the
// acknowledgement latency (request sent → 200 read) percentiles. Baseline,
// in the same run and the same filesystem as the node's data folder: the
// latency of one 32 KiB write + fdatasync.
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
)

func main() {
	c := flag.Int("c", 600, "candidates")
	d := flag.Duration("d", 20*time.Second, "measured duration")
	keep := flag.Bool("keep", false, "keep the temporary folder")
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
	bin := filepath.Join(tmp, "jnedu")
	run("go", "build", "-o", bin, "./cmd/jnedu")
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

	type cand struct{ attempt, token string }
	cands := make([]cand, *c)
	for i, num := range fx.Numbers {
		var r struct{ Attempt, Token string }
		call(hc, "POST", url+"/client/api/signin", "", map[string]string{"number": num, "device": fmt.Sprintf("bench%d", i)}, &r)
		cands[i] = cand{r.Attempt, r.Token}
		call(hc, "POST", url+"/client/api/attempts/"+r.Attempt+"/items/s2i1/open", r.Token, map[string]any{}, nil)
	}
	pcm := make([]byte, 32000)
	for i := range pcm {
		pcm[i] = byte(i * 7)
	}
	sum := sha256.Sum256(pcm)
	hash := hex.EncodeToString(sum[:])
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	deadline := time.Now().Add(*d)
	for i, cd := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * time.Second / time.Duration(len(cands)))
			for seq := 0; time.Now().Before(deadline); seq++ {
				t0 := time.Now()
				req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/client/api/attempts/%s/items/s2i1/chunks/%d", url, cd.attempt, seq), bytes.NewReader(pcm))
				req.Header.Set("Authorization", "Bearer "+cd.token)
				req.Header.Set("X-Chunk-SHA256", hash)
				res, err := hc.Do(req)
				ok := err == nil && res.StatusCode == 200
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				el := time.Since(t0)
				mu.Lock()
				if ok {
					lat = append(lat, el)
				} else {
					errs++
				}
				mu.Unlock()
				if seq%2 == 1 {
					// The client's heartbeat, every 2 s (a database write).
					hb := map[string]any{"item": "s2i1", "phase": "answer", "remaining_ms": 600000 - seq*1000}
					b, _ := json.Marshal(hb)
					req, _ := http.NewRequest("POST", url+"/client/api/attempts/"+cd.attempt+"/heartbeat", bytes.NewReader(b))
					req.Header.Set("Authorization", "Bearer "+cd.token)
					req.Header.Set("Content-Type", "application/json")
					if res, err := hc.Do(req); err == nil {
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
					}
				}
				time.Sleep(time.Second - time.Since(t0))
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	la, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("candidates %d, %s: %d chunks acknowledged (%.0f/s), %d errors\n", *c, *d, len(lat), float64(len(lat))/d.Seconds(), errs)
	fmt.Printf("ack latency p50 %v  p90 %v  p99 %v  max %v\n", pct(0.5).Round(time.Microsecond), pct(0.9).Round(time.Microsecond),
		pct(0.99).Round(time.Microsecond), pct(1).Round(time.Microsecond))
	fmt.Printf("baseline 32 KiB write+fdatasync on the data folder's filesystem: p50 %v  p99 %v\n", base[0], base[1])
	fmt.Printf("load average (1/5/15 min) at the end: %s", la)
}

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
