// Command insight times the dashboards over a city's worth of aggregates:
// the demo organisations plus -per-district schools in each district, each
// school with -classes classes, -weeks weeks of figures (every measure the
// records feed, per class and per school, with the rolled-up rows of
// districts and city), and an exam with -sites sites. It then requests the
// city, a district and a school dashboard (HTML, all eleven indicators, the
// focus indicator's trend, parts and split) and the JSON API, through the
// real HTTP stack with a signed-in platform administrator, and times the
// same aggregate reads as bare SQL in the same run: the baseline a page
// cannot beat.
//
//	go run ./bench/insight                        # SQLite and PostgreSQL
//	go run ./bench/insight -engines sqlite -per-district 60
//
// Not part of CI.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"jnedu/internal/app"
	"jnedu/internal/config"
	"jnedu/internal/demo"
	"jnedu/internal/identity"
	"jnedu/internal/insight"
	"jnedu/internal/platform/db"
)

func main() {
	perDistrict := flag.Int("per-district", 40, "schools added in each of the 15 districts")
	classes := flag.Int("classes", 24, "classes per school")
	weeks := flag.Int("weeks", 20, "weeks of figures")
	sites := flag.Int("sites", 29, "exam sites")
	n := flag.Int("n", 30, "requests per measurement")
	engines := flag.String("engines", "sqlite,postgres", "engines to run")
	pg := flag.String("pg", "postgres://postgres@127.0.0.1:5432", "PostgreSQL server for the throwaway database")
	flag.Parse()
	for _, engine := range strings.Split(*engines, ",") {
		if err := run(engine, *pg, *perDistrict, *classes, *weeks, *sites, *n); err != nil {
			fmt.Fprintln(os.Stderr, "bench/insight:", engine+":", err)
			os.Exit(1)
		}
	}
}

func run(engine, pg string, perDistrict, classes, weeks, sites, n int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "jnedu-bench-insight-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Demo = true
	if engine == "postgres" {
		name := fmt.Sprintf("jnedu_bench_insight_%d", time.Now().UnixNano())
		admin, err := sql.Open("pgx", pg+"/postgres?sslmode=disable")
		if err != nil {
			return err
		}
		defer admin.Close()
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			return err
		}
		defer admin.Exec("DROP DATABASE " + name + " WITH (FORCE)") //nolint:errcheck
		cfg.DatabaseURL = pg + "/" + name + "?sslmode=disable"
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	d, err := app.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), d, app.Options{Migrate: true})
	if err != nil {
		return err
	}
	if _, err := demo.Load(ctx, a.Identity); err != nil {
		return err
	}
	start := time.Now()
	rows, city, district, school, err := fill(ctx, a, perDistrict, classes, weeks, sites)
	if err != nil {
		return err
	}
	// As autovacuum would after such a load (PostgreSQL plans by table
	// statistics; SQLite needs none for these reads).
	if engine == "postgres" {
		if _, err := d.Exec(ctx, "ANALYZE insight_agg"); err != nil {
			return err
		}
	}
	var aggRows int64
	d.QueryRow(ctx, "SELECT COUNT(*) FROM insight_agg").Scan(&aggRows) //nolint:errcheck
	fmt.Printf("\n%s: %d aggregate rows (%d written) for %d schools × %d classes × %d weeks, loaded in %.1f s\n",
		engine, aggRows, rows, 20+15*perDistrict, classes, weeks, time.Since(start).Seconds())

	srv := httptest.NewServer(a.Handler)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: time.Minute}
	resp, err := hc.Post(srv.URL+"/api/v1/session", "application/json", strings.NewReader(`{"username":"admin","password":"`+demo.Password+`"}`))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("sign-in: %d", resp.StatusCode)
	}
	last := insight.WeekOf(time.Now().UnixMilli())
	from := insight.WeekLabel(last - int64(11)*7*24*3600*1000)
	to := insight.WeekLabel(last)
	q := "?i=active_students&from=" + from + "&to=" + to
	fmt.Printf("  %-44s %9s %9s %9s   %s\n", "request (12 weeks)", "p50 ms", "p95 ms", "SQL p50", "page ÷ SQL")
	for _, c := range []struct {
		what string
		path string
		org  identity.Org
	}{
		{"city dashboard (HTML, 36 parts)", fmt.Sprintf("/insight/orgs/%d%s", city.ID, q), city},
		{"district dashboard (HTML)", fmt.Sprintf("/insight/orgs/%d%s", district.ID, q), district},
		{"school dashboard (HTML, by class)", fmt.Sprintf("/insight/orgs/%d%s", school.ID, q), school},
		{"API: active students, city", fmt.Sprintf("/api/v1/insight/indicators/active_students?org=%d&from=%s&to=%s", city.ID, from, to), city},
	} {
		page, err := timeIt(n, func() error {
			resp, err := hc.Get(srv.URL + c.path)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || len(b) < 100 {
				return fmt.Errorf("GET %s: %d", c.path, resp.StatusCode)
			}
			return nil
		})
		if err != nil {
			return err
		}
		api := strings.HasPrefix(c.path, "/api/")
		children, err := childIDs(ctx, a, c.org)
		if err != nil {
			return err
		}
		bare, err := timeIt(n, func() error {
			return bareReads(ctx, d, c.org, children, api, last-int64(11)*7*24*3600*1000, last)
		})
		if err != nil {
			return err
		}
		fmt.Printf("  %-44s %9.2f %9.2f %9.2f   %.1f×\n", c.what, ms(page[len(page)/2]), ms(page[len(page)*95/100]), ms(bare[len(bare)/2]),
			float64(page[len(page)/2])/float64(bare[len(bare)/2]))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func timeIt(n int, fn func() error) ([]time.Duration, error) {
	if err := fn(); err != nil { // warm-up
		return nil, err
	}
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t := time.Now()
		if err := fn(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func childIDs(ctx context.Context, a *app.App, o identity.Org) ([]any, error) {
	if o.Kind == identity.KindSchool {
		return nil, nil
	}
	all, err := a.Identity.Orgs(ctx, identity.OrgFilter{Under: []identity.Org{o}, Limit: 5000})
	if err != nil {
		return nil, err
	}
	var ids []any
	for _, c := range all {
		if c.ParentID == o.ID && c.Kind != identity.KindRoom {
			ids = append(ids, c.ID)
		}
	}
	return ids, nil
}

// bareReads reads the aggregate rows a dashboard reads (every indicator's
// own rows, the focus indicator's parts) with nothing else: no
// organisation lookups, figures, template or HTTP.
func bareReads(ctx context.Context, d *db.DB, o identity.Org, children []any, apiOnly bool, from, to int64) error {
	read := func(where string, args []any, measures []string) error {
		q := "SELECT measure, week, org_id, class, dim, n, total FROM insight_agg WHERE " + where + " AND week >= ? AND week <= ? AND measure IN (" +
			strings.TrimSuffix(strings.Repeat("?, ", len(measures)), ", ") + ")"
		args = append(args, from, to)
		for _, m := range measures {
			args = append(args, m)
		}
		rows, err := d.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m, c, dim string
			var w, org, n int64
			var t float64
			if err := rows.Scan(&m, &w, &org, &c, &dim, &n, &t); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	focus := []string{"active_students"}
	if !apiOnly {
		for _, ind := range insight.Registry() {
			if err := read("org_id = ? AND class = ?", []any{o.ID, insight.AllClasses}, ind.Needs); err != nil {
				return err
			}
		}
	}
	if err := read("org_id = ? AND class = ?", []any{o.ID, insight.AllClasses}, focus); err != nil {
		return err
	}
	if o.Kind == identity.KindSchool {
		return read("org_id = ? AND class <> ?", []any{o.ID, insight.AllClasses}, focus)
	}
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(children)), ", ")
	return read("org_id IN ("+ph+") AND class = ?", append(append([]any{}, children...), insight.AllClasses), focus)
}

// fill creates the schools and writes the aggregate rows the records of a
// term would leave (shaped as the ingest writes them).
func fill(ctx context.Context, a *app.App, perDistrict, classes, weeks, sites int) (int, identity.Org, identity.Org, identity.Org, error) {
	var city, district, school identity.Org
	city, err := a.Identity.OrgByCode(ctx, "JN-EDU")
	if err != nil {
		return 0, city, district, school, err
	}
	districts, err := a.Identity.Orgs(ctx, identity.OrgFilter{Kinds: []identity.OrgKind{identity.KindDistrict}, Limit: 100})
	if err != nil {
		return 0, city, district, school, err
	}
	district = districts[0]
	for _, d := range districts {
		for i := 1; i <= perDistrict; i++ {
			if _, err := a.Identity.CreateOrg(ctx, nil, identity.OrgInput{ParentID: d.ID, Kind: identity.KindSchool,
				Code: fmt.Sprintf("B-%s-%03d", strings.TrimPrefix(d.Code, "D-"), i), Name: fmt.Sprintf("%s第%d学校", d.Name, i)}); err != nil {
				return 0, city, district, school, err
			}
		}
	}
	schools, err := a.Identity.Orgs(ctx, identity.OrgFilter{Kinds: []identity.OrgKind{identity.KindSchool}, Limit: 100000})
	if err != nil {
		return 0, city, district, school, err
	}
	for _, s := range schools {
		if s.ParentID == district.ID {
			school = s
			break
		}
	}
	type key struct {
		m, class, dim string
		org, week     int64
	}
	type val struct {
		path string
		n    int64
		t    float64
	}
	agg := map[key]*val{}
	add := func(m string, org identity.Org, class, dim string, week, n int64, t float64) {
		ids := strings.Split(strings.Trim(org.Path, "/"), "/")
		path := "/"
		for _, id := range ids {
			path += id + "/"
			var oid int64
			fmt.Sscan(id, &oid)
			k := key{m, insight.AllClasses, dim, oid, week}
			if agg[k] == nil {
				agg[k] = &val{path: path}
			}
			agg[k].n += n
			agg[k].t += t
		}
		k := key{m, class, dim, org.ID, week}
		if agg[k] == nil {
			agg[k] = &val{path: org.Path}
		}
		agg[k].n += n
		agg[k].t += t
	}
	last := insight.WeekOf(time.Now().UnixMilli())
	written := 0
	flush := func() error {
		keys := make([]key, 0, len(agg))
		for k := range agg {
			keys = append(keys, k)
		}
		for i := 0; i < len(keys); i += 400 {
			end := min(i+400, len(keys))
			var sb strings.Builder
			args := make([]any, 0, 8*(end-i))
			sb.WriteString("INSERT INTO insight_agg (measure, week, org_id, org_path, class, dim, n, total) VALUES ")
			for j, k := range keys[i:end] {
				if j > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
				v := agg[k]
				args = append(args, k.m, k.week, k.org, v.path, k.class, k.dim, v.n, v.t)
			}
			sb.WriteString(" ON CONFLICT (org_id, measure, week, class, dim) DO UPDATE SET n = insight_agg.n + excluded.n, total = insight_agg.total + excluded.total")
			if _, err := a.DB.Exec(ctx, sb.String(), args...); err != nil {
				return err
			}
		}
		written += len(keys)
		clear(agg)
		return nil
	}
	for si, s := range schools {
		for w := 0; w < weeks; w++ {
			week := last - int64(w)*7*24*3600*1000
			for c := 0; c < classes; c++ {
				class := fmt.Sprintf("%d班", c+1)
				act := int64(20 + (si+c+w)%25)
				add("active_students", s, class, "", week, act, 0)
				add("video_viewers", s, class, "", week, act*2/3, 0)
				add("videos_watched", s, class, "", week, 5+int64(c%7), 0)
				add("video_plays", s, class, "", week, act, 0)
				add("video_completions", s, class, "", week, act/2, 0)
				add("video_watch_ms", s, class, "", week, act*2, float64(act)*480000)
			}
			add("active_teachers", s, "", "", week, int64(classes*2), 0)
			add("digital_lessons", s, "", "", week, int64(classes*5), 0)
			if w == 3 {
				for c := 0; c < 3; c++ {
					site := fmt.Sprintf("E-%02d", (si+c)%sites)
					add("exam_candidates", s, "", site, week, 40, 0)
					add("exam_answers", s, "", site, week, 160, 120)
					add("exam_double", s, "", site, week, 60, 54)
					add("exam_gap", s, "", site, week, 60, 3)
				}
				for b := 0; b < 10; b++ {
					add("exam_band", s, "", fmt.Sprint(b), week, int64(5+b*3), 0)
				}
			}
		}
		if len(agg) > 20000 {
			if err := flush(); err != nil {
				return 0, city, district, school, err
			}
		}
	}
	if err := flush(); err != nil {
		return 0, city, district, school, err
	}
	return written, city, district, school, nil
}
