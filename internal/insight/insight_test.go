package insight

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

const base = "https://jnedu.example"

// sliceSource serves statements from a list the way the store's feed
// does: not voided, stored order, (since, until], after the cursor.
type sliceSource struct {
	all    []Statement
	voided map[string]bool
}

func (s sliceSource) Statements(_ context.Context, after *Cursor, since, until int64, limit int) ([]Statement, error) {
	list := append([]Statement(nil), s.all...)
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].Stored != list[j].Stored {
			return list[i].Stored < list[j].Stored
		}
		return list[i].ID < list[j].ID
	})
	var out []Statement
	for _, st := range list {
		if s.voided[st.ID] || st.Stored <= since || (until > 0 && st.Stored > until) {
			continue
		}
		if after != nil && (st.Stored < after.Stored || (st.Stored == after.Stored && st.ID <= after.ID)) {
			continue
		}
		out = append(out, st)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// rosterPeople is the roster's answer for the platform users of a test.
type rosterPeople map[int64]Person

func (p rosterPeople) Person(_ context.Context, id int64) (Person, error) { return p[id], nil }
func (p rosterPeople) TeacherClasses(context.Context, int64) ([]ClassRef, error) {
	return nil, nil
}
func (p rosterPeople) StudentCount(context.Context, int64) (int, error) { return len(p), nil }

func newService(t *testing.T, d *db.DB, people People, now time.Time) *Service {
	t.Helper()
	if _, err := d.Migrate(context.Background(), []db.Source{Migrations()}); err != nil {
		t.Fatal(err)
	}
	return NewService(d, people, Config{BaseURL: base}, slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return now })
}

func ts(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

func agent(name string) map[string]any {
	return map[string]any{"objectType": "Agent", "name": name, "account": map[string]any{"homePage": base, "name": name}}
}

func videoSt(id, who, class string, verb string, video int, cumSec int, at int64, org string) Statement {
	return Statement{ID: id, Stored: at, OrgPath: org, Body: map[string]any{
		"actor": agent(who), "verb": map[string]any{"id": verb},
		"object": map[string]any{"objectType": "Activity", "id": fmt.Sprintf("%s/videos/%d", base, video),
			"definition": map[string]any{"type": typeVideo}},
		"result":    map[string]any{"duration": fmt.Sprintf("PT%dS", cumSec)},
		"context":   map[string]any{"extensions": map[string]any{Ext(base, ExtClass): class}},
		"timestamp": ts(at)}}
}

func lessonSt(id, who string, at int64, org, class string) Statement {
	return Statement{ID: id, Stored: at, OrgPath: org, Body: map[string]any{
		"actor": agent(who), "verb": map[string]any{"id": "http://adlnet.gov/expapi/verbs/experienced"},
		"object":    map[string]any{"id": base + "/lessons/" + id, "definition": map[string]any{"type": typeLesson}},
		"context":   map[string]any{"extensions": map[string]any{Ext(base, ExtRole): RoleTeacher, Ext(base, ExtClass): class}},
		"timestamp": ts(at)}}
}

func scoredSt(id, who, site string, raw, machine, human float64, at int64, org string) Statement {
	return Statement{ID: id, Stored: at, OrgPath: org, Body: map[string]any{
		"actor":  map[string]any{"account": map[string]any{"homePage": base + "/exams/E1", "name": who}},
		"verb":   map[string]any{"id": verbScored},
		"object": map[string]any{"id": base + "/exams/E1/items/" + id},
		"result": map[string]any{"score": map[string]any{"raw": raw, "min": 0.0, "max": 10.0, "scaled": raw / 10}},
		"context": map[string]any{"extensions": map[string]any{Ext(base, ExtSite): site, Ext(base, ExtMachineScore): machine,
			Ext(base, ExtHumanScore): human, Ext(base, ExtTolerance): 1.0}},
		"timestamp": ts(at)}}
}

func voidSt(id, target string, at int64, org string) Statement {
	return Statement{ID: id, Stored: at, OrgPath: org, Body: map[string]any{
		"actor": agent("admin"), "verb": map[string]any{"id": verbVoided},
		"object": map[string]any{"objectType": "StatementRef", "id": target}, "timestamp": ts(at)}}
}

// snapshot is every aggregate and member row, in order.
func snapshot(t *testing.T, d *db.DB) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	rows, err := d.Query(ctx, "SELECT measure, week, org_id, class, dim, n, total FROM insight_agg ORDER BY measure, week, org_id, class, dim")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var m, c, dim string
		var w, o, n int64
		var tot float64
		if err := rows.Scan(&m, &w, &o, &c, &dim, &n, &tot); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("agg %s %d %d %q %q n=%d t=%.6f", m, w, o, c, dim, n, tot))
	}
	rows.Close()
	rows, err = d.Query(ctx, "SELECT measure, week, org_id, class, dim, member, n FROM insight_members ORDER BY measure, week, org_id, class, dim, member")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var m, c, dim, mem string
		var w, o, n int64
		if err := rows.Scan(&m, &w, &o, &c, &dim, &mem, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("mem %s %d %d %q %q %s n=%d", m, w, o, c, dim, mem, n))
	}
	rows.Close()
	return out
}

// Organisations of the tests: the city 1, district 2 with schools 10 and
// 11, school 12 directly under the city.
const (
	orgA = "/1/2/10/"
	orgB = "/1/2/11/"
	orgC = "/1/12/"
)

var monday = time.Date(2026, 3, 2, 0, 0, 0, 0, cst).UnixMilli() // a Monday, China time

const hour = int64(3600 * 1000)

// TestIncrementalEqualsRecompute: counting statements one by one as they
// arrive (some delivered twice, one voided) gives exactly the rows a full
// rebuild from the store gives, and so does rebuilding the later half.
func TestIncrementalEqualsRecompute(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		people := rosterPeople{501: {Role: RoleStudent, Class: "七年级(1)班"}, 502: {Role: RoleTeacher}}
		s := newService(t, d, people, time.UnixMilli(monday+30*24*hour))
		var all []Statement
		at := monday + 9*hour
		add := func(st Statement) { all = append(all, st) }
		for w := 0; w < 3; w++ {
			for k := 0; k < 8; k++ {
				org := []string{orgA, orgB, orgC}[k%3]
				who := fmt.Sprintf("s%d", k)
				at += hour
				add(videoSt(fmt.Sprintf("p-%d-%d", w, k), who, "1班", verbPlayed, k%4, 30+k, at+int64(w)*7*24*hour, org))
				add(videoSt(fmt.Sprintf("c-%d-%d", w, k), who, "1班", verbCompleted, k%4, 300+10*k+w*50, at+int64(w)*7*24*hour+hour, org))
			}
			add(lessonSt(fmt.Sprintf("l-%d", w), "t1", at+int64(w)*7*24*hour, orgA, "1班"))
			up := lessonSt(fmt.Sprintf("up-%d", w), "t1", at+int64(w)*7*24*hour+hour, orgA, "")
			up.Body["verb"] = map[string]any{"id": verbShared}
			up.Body["object"] = map[string]any{"id": fmt.Sprintf("%s/videos/u%d", base, w), "definition": map[string]any{"type": typeVideo}}
			add(up)
		}
		for k := 0; k < 6; k++ {
			at += hour
			add(scoredSt(fmt.Sprintf("x-%d", k), fmt.Sprintf("2026%03d", k), "E-LW01", float64(4+k), float64(4+k), float64(4+k)+float64(k%3), at, orgB))
		}
		// a platform user the roster knows
		u := videoSt("u-1", "陈思远", "", verbPlayed, 1, 40, at+hour, orgA)
		u.UserID = 501
		add(u)
		tv := videoSt("u-2", "张晓梅", "", verbPlayed, 2, 60, at+2*hour, orgA)
		tv.UserID = 502
		add(tv)
		add(voidSt("v-1", "c-2-3", at+3*hour, orgB))
		for i, st := range all {
			if err := s.Ingest(ctx, st); err != nil {
				t.Fatalf("ingest %s: %v", st.ID, err)
			}
			if i%5 == 0 { // delivered again
				if err := s.Ingest(ctx, st); err != nil {
					t.Fatalf("ingest again %s: %v", st.ID, err)
				}
			}
		}
		// The voided one arriving once more stays out.
		if err := s.Ingest(ctx, all[0]); err != nil {
			t.Fatal(err)
		}
		incremental := snapshot(t, d)
		if len(incremental) < 50 {
			t.Fatalf("only %d rows after %d statements", len(incremental), len(all))
		}
		joined := strings.Join(incremental, "\n")
		for _, want := range []string{`agg video_uploads`, `agg video_uploaders`, `agg active_teachers`, `agg digital_lessons`, `agg exam_double`, `agg video_watch_ms`, `"七年级(1)班"`} {
			if !strings.Contains(joined, want) {
				t.Errorf("no %s row after ingest", want)
			}
		}
		src := sliceSource{all: all, voided: map[string]bool{"c-2-3": true}}
		rep, err := s.Recompute(ctx, src, 0, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Statements != len(all)-1 {
			t.Errorf("recompute counted %d statements, want %d", rep.Statements, len(all)-1)
		}
		if got := snapshot(t, d); !reflect.DeepEqual(got, incremental) {
			t.Errorf("full recompute differs from the incremental rows:\n%s", diff(incremental, got))
		}
		// The later half again.
		mid := all[len(all)/2].Stored
		if _, err := s.Recompute(ctx, src, mid, 0, nil); err != nil {
			t.Fatal(err)
		}
		if got := snapshot(t, d); !reflect.DeepEqual(got, incremental) {
			t.Errorf("recompute of the later half differs:\n%s", diff(incremental, got))
		}
	})
}

func diff(want, got []string) string {
	w, g := map[string]bool{}, map[string]bool{}
	for _, x := range want {
		w[x] = true
	}
	for _, x := range got {
		g[x] = true
	}
	var b strings.Builder
	for _, x := range want {
		if !g[x] {
			b.WriteString("- " + x + "\n")
		}
	}
	for _, x := range got {
		if !w[x] {
			b.WriteString("+ " + x + "\n")
		}
	}
	return b.String()
}

func active(s *Service, t *testing.T, n int, org string, class string, at int64) {
	t.Helper()
	for k := 0; k < n; k++ {
		st := videoSt(fmt.Sprintf("%s-%s-%d", org, class, k), fmt.Sprintf("%s-%s-%d", org, class, k), class, verbPlayed, 1, 10, at, org)
		if err := s.Ingest(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSmallGroupsHidden: a figure of fewer people than the minimum is
// hidden; when it is the only hidden part of a shown whole, the smallest
// other part is hidden too; video records move the video figures.
func TestSmallGroupsHidden(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(t, d, nil, time.UnixMilli(monday+3*24*hour))
		at := monday + 10*hour
		active(s, t, 4, orgA, "1班", at)
		active(s, t, 7, orgB, "1班", at)
		active(s, t, 9, "/1/2/13/", "1班", at)
		active(s, t, 3, orgC, "2班", at)
		ind, _ := Lookup("active_students")
		p := Period{From: monday, To: monday}
		f, err := s.Figures(ctx, FigureQuery{Indicator: ind, Org: OrgRef{ID: 2, Path: "/1/2/"}, Period: p,
			Children: []OrgRef{{ID: 10, Name: "A"}, {ID: 11, Name: "B"}, {ID: 13, Name: "D"}}})
		if err != nil {
			t.Fatal(err)
		}
		if f.Total.Value == nil || *f.Total.Value != 20 {
			t.Errorf("district total = %+v, want 20", f.Total)
		}
		got := map[string]string{}
		for _, part := range f.Parts {
			got[part.Name] = part.Text
		}
		if want := map[string]string{"A": "<5", "B": "<5", "D": "9"}; !reflect.DeepEqual(got, want) {
			t.Errorf("district parts = %v, want %v (A too small, B hidden so A cannot be worked out)", got, want)
		}
		f, err = s.Figures(ctx, FigureQuery{Indicator: ind, Org: OrgRef{ID: 1, Path: "/1/"}, Period: p,
			Children: []OrgRef{{ID: 2, Name: "district"}, {ID: 12, Name: "C"}}})
		if err != nil {
			t.Fatal(err)
		}
		if f.Total.Value == nil || *f.Total.Value != 23 || len(f.Parts) != 2 || !f.Parts[0].Hidden || !f.Parts[1].Hidden {
			t.Errorf("city: total %+v, parts %+v; want 23 with both parts hidden", f.Total, f.Parts)
		}
		// A school split by class: 4 in one class is hidden.
		f, err = s.Figures(ctx, FigureQuery{Indicator: ind, Org: OrgRef{ID: 10, Path: orgA}, Period: p, ByClass: true})
		if err != nil {
			t.Fatal(err)
		}
		if !f.Total.Hidden || f.Total.Value != nil || f.Total.Text != "<5" || len(f.Parts) != 1 || !f.Parts[0].Hidden {
			t.Errorf("school of 4: %+v parts %+v, want hidden", f.Total, f.Parts)
		}
		if f.Trend[0].Value.Value != nil {
			t.Errorf("the trend shows the hidden week: %+v", f.Trend[0])
		}
		// The class's students are listed (for those allowed: the
		// handlers decide) whatever their number.
		list, err := s.Students(ctx, 10, "1班", p)
		if err != nil || len(list) != 4 || list[0].Weeks != 1 || list[0].Records != 1 {
			t.Errorf("students of A/1班 = %+v, %v", list, err)
		}
		plays, _ := Lookup("video_plays")
		f, err = s.Figures(ctx, FigureQuery{Indicator: plays, Org: OrgRef{ID: 1, Path: "/1/"}, Period: p})
		if err != nil || f.Total.Value == nil || *f.Total.Value != 23 {
			t.Errorf("city video plays = %+v, %v; want 23", f.Total, err)
		}
	})
}

// TestExamFigures: scores give participation, mean score, bands and the
// machine–human agreement per site.
func TestExamFigures(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newService(t, d, nil, time.UnixMilli(monday+3*24*hour))
		at := monday + 10*hour
		for k := 0; k < 6; k++ {
			human := 6.0
			if k == 5 {
				human = 9 // 3 points apart: disagrees
			}
			if err := s.Ingest(ctx, scoredSt(fmt.Sprintf("a%d", k), fmt.Sprintf("N%d", k), "E-LW01", 6, 6, human, at, orgA)); err != nil {
				t.Fatal(err)
			}
		}
		p := Period{From: monday, To: monday}
		org := OrgRef{ID: 1, Path: "/1/"}
		for key, want := range map[string]string{"exam_participants": "6", "exam_mean_score": "60%", "exam_agreement": "83.3%"} {
			ind, _ := Lookup(key)
			f, err := s.Figures(ctx, FigureQuery{Indicator: ind, Org: org, Period: p})
			if err != nil {
				t.Fatal(err)
			}
			if f.Total.Text != want {
				t.Errorf("%s = %q, want %q", key, f.Total.Text, want)
			}
			if len(f.Dims) != 1 || f.Dims[0].Key != "E-LW01" || f.Dims[0].Text != want {
				t.Errorf("%s by site = %+v", key, f.Dims)
			}
		}
		ind, _ := Lookup("exam_score_bands")
		f, err := s.Figures(ctx, FigureQuery{Indicator: ind, Org: org, Period: p})
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Dims) != 10 || f.Dims[6].Text != "6" || f.Dims[5].Text != "0" {
			t.Errorf("bands = %+v", f.Dims)
		}
		// Exam scores are not activity: no active students from them.
		ind, _ = Lookup("active_students")
		if f, _ := s.Figures(ctx, FigureQuery{Indicator: ind, Org: org, Period: p}); f.Total.Value != nil {
			t.Errorf("exam candidates counted as active students: %+v", f.Total)
		}
	})
}

func TestWeekOf(t *testing.T) {
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 3, 2, 0, 30, 0, 0, cst), "2026-03-02"},
		{time.Date(2026, 3, 8, 23, 59, 0, 0, cst), "2026-03-02"},
		{time.Date(2026, 3, 8, 16, 1, 0, 0, time.UTC), "2026-03-09"}, // Monday 00:01 in China
		{time.Date(2026, 1, 1, 12, 0, 0, 0, cst), "2025-12-29"},
	} {
		if got := WeekLabel(WeekOf(c.at.UnixMilli())); got != c.want {
			t.Errorf("WeekOf(%v) = %s, want %s", c.at, got, c.want)
		}
	}
}
