// Command examintake measures how fast the center takes in one site's
// answer package: -c candidates (default 600), each with one objective
// answer and -spoken recordings (default 4) of -min-sec to -max-sec
// seconds of 16 kHz 16-bit speech-like audio (default 15–30 s, about
// 1.5 GB for 600 candidates).
//
// It builds the server (go build ./cmd/jnedu), makes a fresh center data
// folder through the center's Go API (the demo organisations and users, a
// published paper, an exam with one session and rooms at one site, the
// candidates imported and seated, an API token of the site's exam staff),
// copies that folder for the import, and starts `jnedu serve` on it as its
// own process. Then, as a site node would, it registers an Ed25519 key,
// reads the site package, and writes the signed answer package folder
// (signed.json and files/<sha256>, the `jnedu site export` layout).
//
// Measured, in this order, each on the same files:
//
//   - baseline disk: every file copied to a new file on the same
//     filesystem with fsync (the disk's limit), as many at once as the sync;
//   - baseline HTTP: every file PUT over loopback to a trivial Go handler
//     that writes and fsyncs it, as many at once as the sync;
//   - sync: the site node's own sending code (site.Center.SendPackage: the
//     files, then the manifest) against the running center, until it
//     answers complete; with the center's CPU time and peak memory;
//   - import: `jnedu exam import-answers` on the copied folder.
//
// When the speech model is installed the center queues one scoring job
// per spoken answer as it completes the package (the jobs are counted,
// not waited for). The figures are printed as JSON; everything is removed
// at the end unless -keep.
//
//	go run ./bench/examintake
//	go run ./bench/examintake -c 60 -min-sec 5 -max-sec 10    # a quick look
//
// Not part of CI. Loopback only; the tool and the center share the CPUs.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"jnedu/internal/app"
	"jnedu/internal/config"
	"jnedu/internal/demo"
	"jnedu/internal/exam"
	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/paper"
	"jnedu/internal/exam/simulate"
	"jnedu/internal/exam/site"
	"jnedu/internal/identity"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/tabular"

	"jnedu/bench/internal/procstat"
)

const (
	examCode = "2027-ZK-BENCH"
	session  = "S1"
	staff    = "bench_staff" // exam staff of the site, made here
)

func main() {
	n := flag.Int("c", 600, "candidates")
	spoken := flag.Int("spoken", 4, "spoken items per candidate (1–4)")
	minSec := flag.Int("min-sec", 15, "shortest recording, seconds")
	maxSec := flag.Int("max-sec", 30, "longest recording, seconds")
	par := flag.Int("parallel", 0, "files sent at once (0: the site node's default)")
	noImport := flag.Bool("no-import", false, "skip `jnedu exam import-answers`")
	keep := flag.Bool("keep", false, "keep the temporary folder")
	prebuilt := flag.String("bin", "", "use this jnedu binary instead of building ./cmd/jnedu")
	flag.Parse()
	switch {
	case *n < 1 || *n > 5000:
		fail(fmt.Errorf("-c is 1 to 5000"))
	case *spoken < 1 || *spoken > 4:
		fail(fmt.Errorf("-spoken is 1 to 4"))
	case *minSec < 1 || *maxSec < *minSec || *maxSec > 60:
		fail(fmt.Errorf("need 1 <= -min-sec <= -max-sec <= 60"))
	}
	if *par <= 0 {
		*par = site.SendParallel
	}
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "jnedu-bench-examintake-")
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

	// The center, made through its Go API; a copy for the import.
	center, center2 := filepath.Join(tmp, "center"), filepath.Join(tmp, "center-import")
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	siteCode, token, pp := setupCenter(ctx, center, *n, *spoken, pub)
	if !*noImport {
		run("cp", "-a", center, center2)
	}
	url, pid, stop := serve(bin, center, filepath.Join(tmp, "center.log"))
	removeTmp := cleanup
	cleanup = func() { stop(); removeTmp() }

	// The site: its key registered at the center (again: the copy for the
	// import has it from the set-up), the package it would read.
	hc := &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	api := func(method, path string, body any, out any) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, url+"/api/v1/exam/site/"+siteCode+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			fail(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 {
			msg, _ := io.ReadAll(res.Body)
			fail(fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, msg))
		}
		if out != nil {
			if err := json.NewDecoder(res.Body).Decode(out); err != nil {
				fail(err)
			}
		}
	}
	api("POST", "/register", map[string]string{"public_key": base64.StdEncoding.EncodeToString(pub)}, nil)
	var pkg bundle.SitePackage
	api("GET", "/package", nil, &pkg)

	pkgDir := filepath.Join(tmp, "package")
	t0 := time.Now()
	files, total, audioSec := writePackage(pkgDir, priv, &pkg, pp, *minSec, *maxSec)
	genTime := time.Since(t0)
	syscall.Sync() // nothing of the setup left to write back during the measurements
	doc, err := os.ReadFile(filepath.Join(pkgDir, "signed.json"))
	if err != nil {
		fail(err)
	}
	read := func(sha string) ([]byte, error) { return os.ReadFile(filepath.Join(pkgDir, "files", sha)) }
	for _, f := range files { // the files in the page cache for every run alike
		if _, err := read(f); err != nil {
			fail(err)
		}
	}

	// Baselines.
	diskDir := filepath.Join(tmp, "baseline-disk")
	diskTime := timeIt(func() { copyFiles(files, read, diskDir, *par) })
	os.RemoveAll(diskDir)
	syscall.Sync()
	httpDir := filepath.Join(tmp, "baseline-http")
	httpTime := timeIt(func() { putBare(files, read, httpDir, *par) })
	os.RemoveAll(httpDir)
	syscall.Sync()

	// The site node's sending code against the center.
	cpu0 := procCPU(pid)
	c := site.Center{URL: url, Site: siteCode, Token: token, HTTP: hc, Parallel: *par}
	var complete bool
	syncTime := timeIt(func() {
		complete, err = c.SendPackage(ctx, session, doc, files, read)
	})
	if err != nil {
		fail(fmt.Errorf("sync: %w", err))
	}
	if !complete {
		fail(fmt.Errorf("sync: the center did not answer complete"))
	}
	centerCPU := procCPU(pid) - cpu0
	hwm := procHWM(pid)
	stop()
	answers, queued := count(ctx, center)

	out := map[string]any{
		"candidates": *n, "spoken_items": *spoken, "files": len(files), "bytes": total,
		"audio_hours": round(audioSec/3600, 2), "parallel": *par, "generate_s": round(genTime.Seconds(), 1),
		"baseline_disk_s": round(diskTime.Seconds(), 2), "baseline_disk_mb_s": mbs(total, diskTime),
		"baseline_http_s": round(httpTime.Seconds(), 2), "baseline_http_mb_s": mbs(total, httpTime),
		"sync_s": round(syncTime.Seconds(), 2), "sync_mb_s": mbs(total, syncTime), "sync_complete": complete,
		"sync_vs_disk": round(syncTime.Seconds()/diskTime.Seconds(), 2), "sync_vs_http": round(syncTime.Seconds()/httpTime.Seconds(), 2),
		"center_cpu_s": round(centerCPU, 2), "center_cores": round(centerCPU/syncTime.Seconds(), 2),
		"center_peak_rss_mib": round(float64(hwm)/(1<<20), 1),
		"answers_stored":      answers, "speech_jobs_queued": queued,
	}
	if !*noImport {
		cmd := exec.Command(bin, "exam", "import-answers", "-user", staff, "-data", center2, "-log-level", "warn", pkgDir)
		cmd.Env = cleanEnv()
		var stdout bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stdout
		t0 := time.Now()
		err := cmd.Run()
		imp := time.Since(t0)
		if err != nil || !strings.Contains(stdout.String(), "complete: marking has started") {
			fail(fmt.Errorf("import-answers: %v: %s", err, stdout.String()))
		}
		ps := cmd.ProcessState
		a2, q2 := count(ctx, center2)
		out["import_s"] = round(imp.Seconds(), 2)
		out["import_mb_s"] = mbs(total, imp)
		out["import_vs_disk"] = round(imp.Seconds()/diskTime.Seconds(), 2)
		out["import_cpu_s"] = round((ps.UserTime() + ps.SystemTime()).Seconds(), 2)
		out["import_answers_stored"], out["import_speech_jobs_queued"] = a2, q2
	}
	la, _ := os.ReadFile("/proc/loadavg")
	out["loadavg_end"] = strings.TrimSpace(string(la))
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}

// benchPaper is the demo paper cut to one objective item and n spoken
// ones (listen and answer, imitate, read aloud, situational), with answer
// times long enough for the recordings.
func benchPaper(n int) paper.Paper {
	pp := exam.DemoPaper("A")
	pp.Code, pp.Title = examCode+"-A", "2027年听说考试（性能测试）A卷"
	pp.Sections = pp.Sections[:1+n]
	for i := 1; i < len(pp.Sections); i++ {
		pp.Sections[i].Items[0].AnswerSec = 60
	}
	return pp
}

// setupCenter makes a center data folder with the demo organisations and
// users, an exam staff account at the site, the site's registered key, a paper, an exam with one session at the first Laiwu site, n
// candidates seated there, and an API token of the site's exam staff.
func setupCenter(ctx context.Context, dir string, n, spoken int, sitePub ed25519.PublicKey) (siteCode, token string, pp paper.Paper) {
	cfg := config.Default()
	cfg.DataDir = dir
	if err := cfg.Validate(); err != nil {
		fail(err)
	}
	d, err := app.Open(ctx, cfg)
	if err != nil {
		fail(err)
	}
	defer d.Close()
	a, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler), d, app.Options{Migrate: true})
	if err != nil {
		fail(err)
	}
	if _, err := demo.Load(ctx, a.Identity); err != nil {
		fail(err)
	}
	sites, err := a.Exam.DemoSites(ctx)
	if err != nil {
		fail(err)
	}
	siteCode = sites[0]
	pp = benchPaper(spoken)
	doc, err := a.Exam.CreatePaper(ctx, nil, pp)
	if err != nil {
		fail(fmt.Errorf("paper: %w", err))
	}
	if _, err := a.Exam.PublishPaper(ctx, nil, doc.ID); err != nil {
		fail(fmt.Errorf("publish: %w", err))
	}
	e, err := a.Exam.CreateExam(ctx, nil, exam.ExamInput{Code: examCode, Title: "2027年听说考试（性能测试）", Tolerance: 1})
	if err != nil {
		fail(err)
	}
	start := time.Now().Add(-2 * time.Hour)
	if _, err := a.Exam.SaveSession(ctx, nil, e.ID, exam.SessionInput{Code: session, Title: "第1场", StartsAt: start.UnixMilli(),
		EndsAt: start.Add(time.Hour).UnixMilli(), Papers: map[string]string{"A": pp.Code}}); err != nil {
		fail(err)
	}
	for r := range (n + 29) / 30 {
		if _, err := a.Exam.SaveRoom(ctx, nil, e.ID, exam.RoomInput{Site: siteCode, Code: fmt.Sprintf("%02d", r+1), Seats: 30, Spare: 2}); err != nil {
			fail(err)
		}
	}
	var csv strings.Builder
	csv.WriteString("准考证号,姓名,学校,身份证号\n")
	for i := range n {
		fmt.Fprintf(&csv, "2027%06d,考生%d,济南第一中学,%s\n", 100001+i, i+1, exam.DemoIDNumber(i))
	}
	rep, err := a.Exam.ImportCandidates(ctx, nil, e.ID, strings.NewReader(csv.String()), "candidates.csv",
		tabular.Limits{MaxBytes: 16 << 20, MaxRows: 10000}, func(k string, _ ...any) string { return k })
	if err != nil || !rep.Applied {
		fail(fmt.Errorf("candidates: %v (%d invalid)", err, rep.Invalid))
	}
	if sr, err := a.Exam.AssignExamSeats(ctx, nil, e.ID); err != nil || sr.Seated != n {
		fail(fmt.Errorf("seats: %+v %v", sr, err))
	}
	org, err := a.Identity.OrgByCode(ctx, siteCode)
	if err != nil {
		fail(err)
	}
	no := false
	if _, err := a.Identity.CreateUser(ctx, nil, identity.UserInput{OrgID: org.ID, Username: staff, DisplayName: "考务（性能测试）",
		Password: demo.Password, Roles: []identity.Role{identity.RoleExamStaff}, MustChangePassword: &no}); err != nil {
		fail(err)
	}
	p, err := a.Identity.PrincipalOf(ctx, staff)
	if err != nil {
		fail(err)
	}
	if _, err := a.Exam.Register(ctx, p, siteCode, exam.RegisterInput{PublicKey: base64.StdEncoding.EncodeToString(sitePub)}); err != nil {
		fail(fmt.Errorf("register the site key: %w", err))
	}
	token, _, err = a.Identity.CreateToken(ctx, p, identity.TokenInput{Name: "bench site", Scopes: []string{"read", "write"}, ExpiresIn: 1})
	if err != nil {
		fail(err)
	}
	return siteCode, token, pp
}

// serve starts `jnedu serve` on dir and waits for its address.
func serve(bin, dir, logPath string) (url string, pid int, stop func()) {
	cmd := exec.Command(bin, "serve", "-data", dir, "-listen", "127.0.0.1:0", "-log-level", "warn")
	cmd.Env = cleanEnv()
	out, _ := cmd.StdoutPipe()
	logf, err := os.Create(logPath)
	if err != nil {
		fail(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			logf.Close()
		})
	}
	re := regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := re.FindString(sc.Text()); m != "" {
			url = m
			break
		}
	}
	if url == "" {
		stop()
		b, _ := os.ReadFile(logPath)
		fail(fmt.Errorf("the center did not start: %s", b))
	}
	go io.Copy(io.Discard, out)
	return url, cmd.Process.Pid, stop
}

// cleanEnv is this process's environment without jnedu's own settings, so
// the center uses the folder it is given.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JNEDU_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			out = append(out, kv)
		}
	}
	return out
}

// writePackage writes the signed answer package for every candidate of the
// site package: DIR/files/<sha256> (WAV) and DIR/signed.json.
func writePackage(dir string, priv ed25519.PrivateKey, pkg *bundle.SitePackage, pp paper.Paper, minSec, maxSec int) (files []string, total int64, audioSec float64) {
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		fail(err)
	}
	// One long stretch of speech-like audio; each recording is a slice of
	// it at its own offset and level, so every file is different.
	const poolSec = 90
	pool := simulate.NewSpeech(7).PCM(poolSec * simulate.SampleRate)
	rng := mrand.New(mrand.NewPCG(1, 2))
	m := &bundle.AnswerManifest{Format: bundle.Format, Exam: pkg.Exam.Code, Site: pkg.Site.Code, Session: session, CreatedAt: time.Now().UnixMilli()}
	items := pp.Items()
	var cands []bundle.Candidate
	for _, c := range pkg.Candidates {
		if c.Session == session {
			cands = append(cands, c)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].Number < cands[j].Number })
	pcm := make([]byte, maxSec*2*simulate.SampleRate)
	for _, c := range cands {
		cr := bundle.CandidateResult{Number: c.Number, Status: bundle.StatusFinished, Variant: c.Variant, Room: c.Room, Seat: c.Seat}
		for _, it := range items {
			if !it.Type.Spoken() {
				ch := rng.IntN(len(it.Options))
				cr.Answers = append(cr.Answers, bundle.Answer{Item: it.ID, Choice: &ch})
				continue
			}
			sec := minSec + rng.IntN(maxSec-minSec+1)
			samples := sec * simulate.SampleRate
			off := rng.IntN(poolSec*simulate.SampleRate - samples)
			gain := 0.55 + 0.45*rng.Float64()
			p := pcm[:2*samples]
			for i := range samples {
				v := int16(binary.LittleEndian.Uint16(pool[2*(off+i):]))
				binary.LittleEndian.PutUint16(p[2*i:], uint16(int16(float64(v)*gain)))
			}
			wav := site.WAV(p)
			sum := sha256.Sum256(wav)
			sha := hex.EncodeToString(sum[:])
			if err := os.WriteFile(filepath.Join(dir, "files", sha), wav, 0o644); err != nil {
				fail(err)
			}
			files = append(files, sha)
			total += int64(len(wav))
			audioSec += float64(sec)
			cr.Answers = append(cr.Answers, bundle.Answer{Item: it.ID, Recording: sha, Bytes: int64(len(wav)), DurationMs: int64(sec) * 1000,
				SpeechMs: site.SpeechMs(p), Chunks: sec})
		}
		m.Candidates = append(m.Candidates, cr)
	}
	signed, err := bundle.Sign(priv, m)
	if err != nil {
		fail(err)
	}
	doc, _ := json.Marshal(signed)
	if err := os.WriteFile(filepath.Join(dir, "signed.json"), doc, 0o644); err != nil {
		fail(err)
	}
	return files, total, audioSec
}

// copyFiles writes every file into dir with fsync, par at a time.
func copyFiles(files []string, read func(string) ([]byte, error), dir string, par int) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(err)
	}
	each(files, par, func(sha string) error {
		b, err := read(sha)
		if err != nil {
			return err
		}
		return writeSync(filepath.Join(dir, sha), b)
	})
}

func writeSync(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// putBare PUTs every file to a trivial handler that writes and fsyncs it.
func putBare(files []string, read func(string) ([]byte, error), dir string, par int) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := filepath.Base(r.URL.Path)
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err == nil {
			err = writeSync(filepath.Join(dir, name), b)
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	base := "http://" + ln.Addr().String() + "/files/"
	each(files, par, func(sha string) error {
		b, err := read(sha)
		if err != nil {
			return err
		}
		req, _ := http.NewRequest("PUT", base+sha, bytes.NewReader(b))
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("bare PUT: %d", res.StatusCode)
		}
		return nil
	})
}

// each runs fn on every item, par at a time; the first error ends the run.
func each(items []string, par int, fn func(string) error) {
	next := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range par {
		wg.Go(func() {
			for it := range next {
				if err := fn(it); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
	if first != nil {
		fail(first)
	}
}

// count reads, from a stopped center's database, the answers stored and
// the speech scoring jobs waiting.
func count(ctx context.Context, dir string) (answers, queued int) {
	d, err := db.Open(ctx, "", dir, db.Options{})
	if err != nil {
		fail(err)
	}
	defer d.Close()
	if err := d.QueryRow(ctx, "SELECT COUNT(*) FROM exam_marking_answers").Scan(&answers); err != nil {
		fail(err)
	}
	if err := d.QueryRow(ctx, "SELECT COUNT(*) FROM jobs_queue WHERE kind = 'speech.score' AND state = 'queued'").Scan(&queued); err != nil {
		fail(err)
	}
	return answers, queued
}

func timeIt(fn func()) time.Duration {
	t0 := time.Now()
	fn()
	return time.Since(t0)
}

func round(x float64, digits int) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', digits, 64), 64)
	return v
}

func mbs(bytes int64, d time.Duration) float64 { return round(float64(bytes)/1e6/d.Seconds(), 1) }

// procCPU is a process's CPU time in seconds.
func procCPU(pid int) float64 {
	d, err := procstat.CPU(pid)
	if err != nil {
		fail(err)
	}
	return d.Seconds()
}

// procHWM is a process's peak resident size in bytes.
func procHWM(pid int) int64 {
	hwm, _, err := procstat.Mem(pid)
	if err != nil {
		fail(err)
	}
	return hwm
}

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fail(fmt.Errorf("%s %v: %w", name, args, err))
	}
}

// cleanup stops the center and removes the folder; fail runs it too,
// since os.Exit skips deferred calls.
var cleanup = func() {}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/examintake:", err)
	cleanup()
	os.Exit(1)
}
