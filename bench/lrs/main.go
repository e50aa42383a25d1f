// Command lrs measures the learning-record store at scale, on SQLite and on
// PostgreSQL, each in a fresh data folder or throwaway database:
//
//  1. bare: the rows the store writes for -n realistic statements (about
//     1 KB, Chinese names and activity titles) inserted by a bare loop of
//     multi-row INSERTs (one per table) in transactions of -batch, by -c
//     writers on PostgreSQL and one on SQLite, on a database with the same
//     schema: the engine's own limit on this machine;
//
//  2. ingest: the same statements POSTed in batches of -batch to
//     /xapi/statements of a real `jnedu serve` (in this process: the whole
//     stack, access log included) by -c clients at once;
//
//  3. query: -stored statements loaded into the real tables by the fastest
//     honest path (multi-row INSERTs on SQLite, COPY on PostgreSQL, the
//     indexes kept), then -q filtered GET /statements?agent=…&verb=…&since=…
//     one after the other, with their p50 and p99.
//
//     go run ./bench/lrs                                   # both engines, 20,000 / 1,000,000
//     go run ./bench/lrs -engines postgres -stored 10000000
//
// Server logs go to stderr: redirect them. Not part of CI.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"jnedu/internal/app"
	"jnedu/internal/lrs"
	"jnedu/internal/platform/db"

	"jnedu/bench/internal/procstat"
)

var (
	engines = flag.String("engines", "sqlite,postgres", "engines to run")
	pgBase  = flag.String("pg", "postgres://postgres@127.0.0.1:5432", "PostgreSQL server for the throwaway databases")
	pgOpts  = flag.String("pg-options", "?sslmode=disable", "connection options of the databases (the server is on this machine)")
	nIngest = flag.Int("n", 20000, "statements to ingest (bare loop and API)")
	batch   = flag.Int("batch", 100, "statements per POST and per bare transaction")
	conc    = flag.Int("c", 4, "clients posting at once")
	nStored = flag.String("stored", "100000,1000000", "statements stored before each round of queries (cumulative, comma-separated)")
	nQuery  = flag.Int("q", 1000, "queries timed")
	keep    = flag.Bool("keep", false, "keep the data folders and databases")
	prof    = flag.String("cpuprofile", "", "write a CPU profile of the API ingest (server and clients) to this file, suffixed by the engine")
	skipQ   = flag.Bool("ingest-only", false, "skip the load and the queries")
)

const home = "https://jnedu.jinan.edu.cn"

var verbs = []struct{ id, zh, en string }{
	{"http://adlnet.gov/expapi/verbs/completed", "完成", "completed"},
	{"http://adlnet.gov/expapi/verbs/attempted", "尝试", "attempted"},
	{"http://adlnet.gov/expapi/verbs/answered", "作答", "answered"},
	{"http://adlnet.gov/expapi/verbs/experienced", "学习", "experienced"},
	{"http://adlnet.gov/expapi/verbs/passed", "通过", "passed"},
}

var (
	surnames = []rune("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段漕钱汤尹黎易常武乔贺赖龚文")
	given    = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰梅琳雪晨宇浩然子轩梓涵欣怡思远嘉诚博文佳琪")
	subjects = []string{"英语", "语文", "数学", "物理", "化学", "生物", "历史", "地理", "道德与法治", "信息科技"}
	grades   = []string{"七年级", "八年级", "九年级", "高一", "高二", "高三"}
	kinds    = []string{"听说训练", "课堂练习", "单元测验", "微课学习", "实验探究", "阅读理解"}
	schools  = []string{"济南市第一中学", "济南外国语学校", "山东省实验中学", "济南市历城第二中学", "济南市莱芜第一中学", "济南市钢城实验学校"}
)

// gen makes realistic statements: students of a city's schools doing
// lessons, about 1 KB each.
type gen struct {
	r        *mrand.Rand
	students int
}

type stmtRow struct {
	id, actor, verb, activity, registration string
	stored, ts                              int64
	body                                    []byte // as sent (no stored/authority)
	parent, grouping                        string
}

func (g *gen) name(n int) string {
	return string(surnames[n%len(surnames)]) + string(given[(n/7)%len(given)]) + string(given[(n/131)%len(given)])
}

func uuid(r *mrand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func studentID(n int) string { return fmt.Sprintf("S3701%09d", n) }

func (g *gen) next(ts time.Time) stmtRow {
	r := g.r
	sn := r.IntN(g.students)
	v := verbs[r.IntN(len(verbs))]
	subj := subjects[r.IntN(len(subjects))]
	grade := grades[sn%len(grades)]
	kind := kinds[r.IntN(len(kinds))]
	lesson := r.IntN(40) + 1
	school := schools[sn%len(schools)]
	act := fmt.Sprintf("%s/xapi/activities/%s/%s/%s/%d", home, url.PathEscape(subj), url.PathEscape(grade), url.PathEscape(kind), lesson)
	parent := fmt.Sprintf("%s/xapi/courses/%s/%s", home, url.PathEscape(subj), url.PathEscape(grade))
	grouping := fmt.Sprintf("%s/xapi/orgs/S-JN%02d", home, sn%len(schools)+1)
	reg := uuid(r)
	score := r.IntN(41) + 60
	st := map[string]any{
		"id":    uuid(r),
		"actor": map[string]any{"objectType": "Agent", "name": g.name(sn), "account": map[string]any{"homePage": home, "name": studentID(sn)}},
		"verb":  map[string]any{"id": v.id, "display": map[string]any{"zh-CN": v.zh, "en-US": v.en}},
		"object": map[string]any{"objectType": "Activity", "id": act, "definition": map[string]any{
			"name":        map[string]any{"zh-CN": fmt.Sprintf("%s%s %s 第%d课", grade, subj, kind, lesson)},
			"description": map[string]any{"zh-CN": fmt.Sprintf("%s%s%s第%d课：课堂任务、随堂练习与即时反馈", school, grade, subj, lesson)},
			"type":        "http://adlnet.gov/expapi/activities/lesson"}},
		"result": map[string]any{"score": map[string]any{"scaled": float64(score) / 100, "raw": score, "min": 0, "max": 100},
			"success": score >= 60, "completion": true, "duration": fmt.Sprintf("PT%dM%dS", r.IntN(40)+1, r.IntN(60))},
		"context": map[string]any{"registration": reg, "language": "zh-CN", "platform": "jnedu 智慧课堂",
			"contextActivities": map[string]any{"parent": []any{map[string]any{"id": parent}}, "grouping": []any{map[string]any{"id": grouping}}},
			"extensions":        map[string]any{home + "/xapi/ext/school": school, home + "/xapi/ext/class": fmt.Sprintf("%s%d班", grade, sn%12+1)}},
		"timestamp": ts.UTC().Format("2006-01-02T15:04:05.000Z"),
	}
	b, _ := json.Marshal(st)
	return stmtRow{id: st["id"].(string), actor: "account:" + home + "|" + studentID(sn), verb: v.id, activity: act, registration: reg,
		ts: ts.UnixMilli(), body: b, parent: parent, grouping: grouping}
}

func main() {
	flag.Parse()
	root, err := os.MkdirTemp("", "jnedu-bench-lrs-")
	check(err)
	if !*keep {
		defer os.RemoveAll(root)
		atFail(func() { os.RemoveAll(root) })
	}
	go func() {
		// Ctrl-C or a kill: drop the throwaway databases before leaving.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		fail(fmt.Errorf("stopped by %v", <-sig))
	}()
	fmt.Printf("jnedu bench/lrs: -n %d, batch %d, -c %d, -stored %s, -q %d; %s\n", *nIngest, *batch, *conc, *nStored, *nQuery, time.Now().Format(time.RFC3339))
	for _, e := range strings.Split(*engines, ",") {
		runEngine(strings.TrimSpace(e), root)
	}
}

type target struct {
	dir, dbURL string
	drop       func()
}

func newTarget(engine, root, label string) target {
	dir := filepath.Join(root, engine+"-"+label)
	check(os.MkdirAll(dir, 0o750))
	if engine == "sqlite" {
		return target{dir: dir, drop: func() {}}
	}
	b := make([]byte, 4)
	rand.Read(b)
	name := "jnedu_bench_lrs_" + label + "_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", *pgBase+"/postgres")
	check(err)
	_, err = admin.Exec("CREATE DATABASE " + name)
	check(err)
	admin.Close()
	drop := func() {
		if *keep {
			return
		}
		a, err := sql.Open("pgx", *pgBase+"/postgres")
		if err == nil {
			a.Exec("DROP DATABASE " + name + " WITH (FORCE)")
			a.Close()
		}
	}
	atFail(drop)
	return target{dir: dir, dbURL: *pgBase + "/" + name + *pgOpts, drop: drop}
}

func (t target) env(k string) string {
	return map[string]string{"JNEDU_DATA_DIR": t.dir, "DATABASE_URL": t.dbURL, "JNEDU_LOG_FORMAT": "text"}[k]
}

func (t target) cli(args ...string) string {
	var out, errOut bytes.Buffer
	if code := app.Main(context.Background(), args, &out, &errOut, t.env); code != 0 {
		fail(fmt.Errorf("jnedu %s: %s %s", strings.Join(args, " "), out.String(), errOut.String()))
	}
	return out.String()
}

func (t target) open() *db.DB {
	d, err := db.Open(context.Background(), t.dbURL, t.dir, db.Options{MaxReadConns: *conc})
	check(err)
	return d
}

func runEngine(engine, root string) {
	fmt.Printf("\n== %s ==\n", engine)
	// The statements of the ingest, the same for both paths.
	g := &gen{r: mrand.New(mrand.NewPCG(1, 2)), students: 800000}
	base := time.Now().Add(-time.Hour)
	rows := make([]stmtRow, *nIngest)
	size := 0
	for i := range rows {
		rows[i] = g.next(base.Add(time.Duration(i) * time.Millisecond))
		size += len(rows[i].body)
	}
	fmt.Printf("statements: %d, %d bytes on average as sent\n", len(rows), size/len(rows))

	// 1. bare loop.
	bt := newTarget(engine, root, "bare")
	defer bt.drop()
	bt.cli("migrate")
	bd := bt.open()
	cpu0 := procstat.Self()
	bareRate := bare(bd, rows)
	bareCPU := float64(len(rows)) / (procstat.Self() - cpu0).Seconds()
	bd.Close()
	fmt.Printf("bare loop:  %8.0f statements/s (multi-row INSERTs of the statement, id, agent and activity rows, %d statements per transaction); %.0f per CPU-second of this process; load average %s\n",
		bareRate, *batch, bareCPU, procstat.LoadAvg())

	// 2. the API.
	st := newTarget(engine, root, "api")
	defer st.drop()
	st.cli("demo")
	out := st.cli("lrs", "client-create", "-org", "JN-EDU", "-name", "bench")
	var key, secret string
	for _, l := range strings.Split(out, "\n") {
		if k, ok := strings.CutPrefix(l, "key "); ok {
			key = k
		}
		if s, ok := strings.CutPrefix(l, "secret "); ok {
			secret = s
		}
	}
	addr, stop := serve(st)
	if *prof != "" {
		f, err := os.Create(*prof + "." + engine)
		check(err)
		check(pprof.StartCPUProfile(f))
	}
	cpu0 = procstat.Self()
	apiRate := ingest(addr, key, secret, rows)
	apiCPU := float64(len(rows)) / (procstat.Self() - cpu0).Seconds()
	if *prof != "" {
		pprof.StopCPUProfile()
	}
	fmt.Printf("API ingest: %8.0f statements/s (POST /xapi/statements, batches of %d, %d clients) = %.2f × the bare loop; %.0f per CPU-second of this process (server and clients); load average %s\n",
		apiRate, *batch, *conc, apiRate/bareRate, apiCPU, procstat.LoadAvg())
	if g, b := writeGroups(addr); g > 0 {
		fmt.Printf("            %.0f write transactions, %.2f batches each\n", g, b/g)
	}
	stop()
	if *skipQ {
		return
	}

	// 3. queries at -stored statements.
	var sizes []int
	for _, x := range strings.Split(*nStored, ",") {
		var n int
		_, err := fmt.Sscan(strings.TrimSpace(x), &n)
		check(err)
		sizes = append(sizes, n)
	}
	final := sizes[len(sizes)-1]
	lg := &gen{r: mrand.New(mrand.NewPCG(3, 4)), students: max(final/125, 100)}
	have := 0
	for _, size := range sizes {
		d := st.open()
		t0 := time.Now()
		agents := load(d, engine, lg, have, size-have)
		d.Close()
		loadDur := time.Since(t0)
		fmt.Printf("loaded:     %d more statements in %s (%.0f/s: COPY on PostgreSQL, multi-row INSERTs on SQLite, indexes kept)\n",
			size-have, loadDur.Round(time.Second), float64(size-have)/loadDur.Seconds())
		have = size
		addr, stop = serve(st)
		fmt.Printf("at %d stored (%d students): ", size, lg.students)
		query(addr, key, secret, agents)
		stop()
	}
}

func check(err error) {
	if err != nil {
		fail(err)
	}
}

// cleanups run on a failure too (os.Exit skips the deferred calls).
var (
	cleanMu  sync.Mutex
	cleanups []func()
)

func atFail(f func()) {
	cleanMu.Lock()
	cleanups = append(cleanups, f)
	cleanMu.Unlock()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/lrs:", err)
	cleanMu.Lock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	os.Exit(1)
}

// serve runs `jnedu serve` in this process until stop.
func serve(t target) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- app.Main(ctx, []string{"serve", "-listen", addr}, io.Discard, os.Stderr, t.env)
	}()
	for i := 0; ; i++ {
		if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		if i > 300 {
			fail(fmt.Errorf("serve did not start"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return addr, func() {
		cancel()
		<-done
	}
}

// writeGroups reads the server's count of write transactions and of the
// batches they held from /metrics.
func writeGroups(addr string) (groups, batches float64) {
	res, err := client.Get("http://" + addr + "/metrics")
	check(err)
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "jnedu_lrs_write_groups_total":
			groups = v
		case "jnedu_lrs_write_batches_total":
			batches = v
		}
	}
	return groups, batches
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func ingest(addr, key, secret string, rows []stmtRow) float64 {
	return inBatches(*conc, rows, func(part []stmtRow, _ int) {
		var body bytes.Buffer
		body.WriteByte('[')
		for i, r := range part {
			if i > 0 {
				body.WriteByte(',')
			}
			body.Write(r.body)
		}
		body.WriteByte(']')
		req, _ := http.NewRequest("POST", "http://"+addr+lrs.Prefix+"/statements", &body)
		req.SetBasicAuth(key, secret)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Experience-API-Version", "2.0.0")
		res, err := client.Do(req)
		check(err)
		msg, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			fail(fmt.Errorf("POST statements: %d %s", res.StatusCode, msg))
		}
	})
}

// inBatches hands rows to workers goroutines in batches of -batch (each
// batch to one worker, with the index of its first row) and returns the
// rows per second from start to the last batch done.
func inBatches(workers int, rows []stmtRow, fn func(part []stmtRow, first int)) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	nb := (len(rows) + *batch - 1) / *batch
	t0 := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1)) - 1
				if b >= nb {
					return
				}
				first := b * *batch
				fn(rows[first:min(first+*batch, len(rows))], first)
			}
		}()
	}
	wg.Wait()
	return float64(len(rows)) / time.Since(t0).Seconds()
}

// storedBody is a statement as the store keeps it: stored, authority and
// version added (at the end, without decoding it again: loading millions
// must not be slowed by the generator).
func storedBody(r stmtRow, stored int64) []byte {
	b := make([]byte, 0, len(r.body)+160)
	b = append(b, r.body[:len(r.body)-1]...)
	b = append(b, `,"stored":"`...)
	b = time.UnixMilli(stored).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `","authority":{"objectType":"Agent","name":"bench","account":{"homePage":"`+home+`","name":"bench"}},"version":"2.0.0"}`...)
	return b
}

const authorityKey = "account:" + home + "|bench"

// bare inserts the rows a store keeps for each statement with a bare loop.
func bare(d *db.DB, rows []stmtRow) float64 {
	ctx := context.Background()
	pg := d.Dialect() == db.Postgres
	workers := *conc
	if !pg {
		workers = 1 // one writer, as SQLite has
	}
	bodies := make([][]byte, len(rows))
	stored := time.Now().UnixMilli()
	for i, r := range rows {
		bodies[i] = storedBody(r, stored)
	}
	return inBatches(workers, rows, func(part []stmtRow, first int) {
		err := d.InTx(ctx, func(tx *db.Tx) error {
			var ids, sts, ags, acs []any
			for j, r := range part {
				i := first + j
				ids = append(ids, r.id, stored)
				sts = append(sts, r.id, stored, r.ts, r.actor, r.verb, r.activity, r.registration, string(bodies[i]))
				ags = append(ags, r.actor, stored, r.id, true, authorityKey, stored, r.id, false)
				acs = append(acs, r.activity, stored, r.id, true, r.parent, stored, r.id, false, r.grouping, stored, r.id, false)
			}
			if pg {
				if err := multiInsert(ctx, tx, "INSERT INTO lrs_statement_ids (id, stored) VALUES ", "(?, ?)", 2, ids); err != nil {
					return err
				}
			}
			if err := multiInsert(ctx, tx, `INSERT INTO lrs_statements (id, stored, ts, actor, verb, activity, object_ref, registration, client_id, org_path, user_id, body) VALUES `,
				"(?, ?, ?, ?, ?, ?, '', ?, 1, '/1/', 0, ?)", 8, sts); err != nil {
				return err
			}
			if err := multiInsert(ctx, tx, "INSERT INTO lrs_statement_agents (agent, stored, statement_id, direct) VALUES ", "(?, ?, ?, ?)", 4, ags); err != nil {
				return err
			}
			return multiInsert(ctx, tx, "INSERT INTO lrs_statement_activities (activity, stored, statement_id, direct) VALUES ", "(?, ?, ?, ?)", 4, acs)
		})
		check(err)
	})
}

// multiInsert writes rows of width values as one INSERT of many rows.
func multiInsert(ctx context.Context, tx *db.Tx, head, row string, width int, vals []any) error {
	if len(vals) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, head+strings.TrimSuffix(strings.Repeat(row+",", len(vals)/width), ","), vals...)
	return err
}

// load stores n statements of 8,000·(n/1M) students (about 125 each)
// spread over the last 60 days, straight into the tables, and returns the
// students' agent JSON for the queries.
func load(d *db.DB, engine string, g *gen, offset, n int) []string {
	ctx := context.Background()
	students := g.students
	end := time.Now().Add(-time.Minute)
	start := end.Add(-60 * 24 * time.Hour)
	step := float64(end.Sub(start).Milliseconds()) / float64(n)
	svc := lrs.NewService(d, nil, nil, func() time.Time { return end }, home, nil, lrs.Limits{})
	if _, err := svc.EnsurePartitions(ctx); err != nil {
		check(err)
	}
	if engine == "postgres" {
		// The two months before this one.
		for m := 1; m <= 2; m++ {
			at := time.Date(end.Year(), end.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -m, 0)
			check(d.InTx(ctx, func(tx *db.Tx) error {
				_, err := tx.Exec(ctx, "SELECT lrs_ensure_month(?)", at.UnixMilli())
				return err
			}))
		}
	}
	if engine == "sqlite" {
		// The loader's own writer connection gets a large page cache:
		// random ids land all over the id and registration indexes.
		_, err := d.Exec(ctx, "PRAGMA cache_size = -524288")
		check(err)
	}
	const chunk = 20000
	for done := 0; done < n; done += chunk {
		m := min(chunk, n-done)
		var sts, ags, acs [][]any
		for i := range m {
			// Each round spreads its statements over the same 60 days,
			// offset so no two share a stored time and id order.
			stored := start.UnixMilli() + int64(float64(done+i)*step) + int64(offset%1000)
			r := g.next(time.UnixMilli(stored - 2000))
			body := string(storedBody(r, stored))
			sts = append(sts, []any{r.id, stored, r.ts, r.actor, r.verb, r.activity, "", r.registration, false, int64(1), "/1/", int64(0), body})
			ags = append(ags, []any{r.actor, stored, r.id, true}, []any{authorityKey, stored, r.id, false})
			acs = append(acs, []any{r.activity, stored, r.id, true}, []any{r.parent, stored, r.id, false}, []any{r.grouping, stored, r.id, false})
		}
		if engine == "postgres" {
			copyPG(d, sts, ags, acs)
		} else {
			check(d.InTx(ctx, func(tx *db.Tx) error {
				if err := multi(ctx, tx, "INSERT INTO lrs_statements (id, stored, ts, actor, verb, activity, object_ref, registration, voided, client_id, org_path, user_id, body)", sts); err != nil {
					return err
				}
				if err := multi(ctx, tx, "INSERT INTO lrs_statement_agents (agent, stored, statement_id, direct)", ags); err != nil {
					return err
				}
				return multi(ctx, tx, "INSERT INTO lrs_statement_activities (activity, stored, statement_id, direct)", acs)
			}))
		}
		if (done/chunk)%25 == 24 {
			fmt.Fprintf(os.Stderr, "bench/lrs: loaded %d\n", done+m)
		}
	}
	if engine == "postgres" {
		_, err := d.Exec(ctx, "ANALYZE")
		check(err)
	} else {
		_, err := d.Exec(ctx, "ANALYZE")
		check(err)
	}
	out := make([]string, 0, 500)
	r := mrand.New(mrand.NewPCG(5, 6))
	for range 500 {
		sn := r.IntN(students)
		b, _ := json.Marshal(map[string]any{"objectType": "Agent", "account": map[string]any{"homePage": home, "name": studentID(sn)}})
		out = append(out, string(b))
	}
	return out
}

func multi(ctx context.Context, tx *db.Tx, head string, rows [][]any) error {
	w := len(rows[0])
	per := 30000 / w
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", w), ",") + ")"
	for s := 0; s < len(rows); s += per {
		part := rows[s:min(s+per, len(rows))]
		args := make([]any, 0, len(part)*w)
		for _, r := range part {
			args = append(args, r...)
		}
		if _, err := tx.Exec(ctx, head+" VALUES "+strings.TrimSuffix(strings.Repeat(row+",", len(part)), ","), args...); err != nil {
			return err
		}
	}
	return nil
}

func copyPG(d *db.DB, sts, ags, acs [][]any) {
	ctx := context.Background()
	conn, err := sql.Open("pgx", d.PostgresDSN())
	check(err)
	defer conn.Close()
	c, err := conn.Conn(ctx)
	check(err)
	defer c.Close()
	check(c.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		ids := make([][]any, len(sts))
		for i, s := range sts {
			ids[i] = []any{s[0], s[1]}
		}
		for _, x := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"lrs_statement_ids", []string{"id", "stored"}, ids},
			{"lrs_statements", []string{"id", "stored", "ts", "actor", "verb", "activity", "object_ref", "registration", "voided", "client_id", "org_path", "user_id", "body"}, sts},
			{"lrs_statement_agents", []string{"agent", "stored", "statement_id", "direct"}, ags},
			{"lrs_statement_activities", []string{"activity", "stored", "statement_id", "direct"}, acs},
		} {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{x.table}, x.cols, pgx.CopyFromRows(x.rows)); err != nil {
				return fmt.Errorf("copy %s: %w", x.table, err)
			}
		}
		return tx.Commit(ctx)
	}))
}

// query times GET /statements?agent&verb&since, one after the other.
func query(addr, key, secret string, agents []string) {
	since := time.Now().Add(-7 * 24 * time.Hour).UTC().Format(time.RFC3339)
	r := mrand.New(mrand.NewPCG(7, 8))
	lat := make([]time.Duration, 0, *nQuery)
	found := 0
	for i := 0; i < *nQuery+50; i++ {
		q := url.Values{"agent": {agents[r.IntN(len(agents))]}, "verb": {verbs[r.IntN(len(verbs))].id}, "since": {since}}
		req, _ := http.NewRequest("GET", "http://"+addr+lrs.Prefix+"/statements?"+q.Encode(), nil)
		req.SetBasicAuth(key, secret)
		req.Header.Set("X-Experience-API-Version", "2.0.0")
		t0 := time.Now()
		res, err := client.Do(req)
		check(err)
		var body struct {
			Statements []json.RawMessage `json:"statements"`
		}
		err = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		d := time.Since(t0)
		if res.StatusCode != 200 || err != nil {
			fail(fmt.Errorf("GET statements: %d %v", res.StatusCode, err))
		}
		if i >= 50 { // the first 50 warm the caches
			lat = append(lat, d)
			found += len(body.Statements)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[int(math.Ceil(p*float64(len(lat))))-1] }
	fmt.Printf("GET /statements?agent&verb&since (7 days) ×%d: p50 %.1f ms, p99 %.1f ms, max %.1f ms; %.1f statements per answer; load average %s\n",
		len(lat), ms(pct(0.5)), ms(pct(0.99)), ms(lat[len(lat)-1]), float64(found)/float64(len(lat)), procstat.LoadAvg())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
