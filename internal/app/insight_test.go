package app

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"jnedu/internal/config"
	"jnedu/internal/exam/marking"
	"jnedu/internal/insight"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
	"jnedu/internal/roster"
	"jnedu/internal/share"
)

func aggSnapshot(t *testing.T, d *db.DB) []string {
	t.Helper()
	rows, err := d.Query(context.Background(), "SELECT measure, week, org_id, class, dim, n, total FROM insight_agg ORDER BY measure, week, org_id, class, dim")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var m, c, dim string
		var w, o, n int64
		var tot float64
		if err := rows.Scan(&m, &w, &o, &c, &dim, &n, &tot); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %d %d %q %q %d %.6f", m, w, o, c, dim, n, tot))
	}
	return out
}

type figures struct {
	Total struct {
		Value  *float64
		Hidden bool
		Text   string
	}
	PartsBy string `json:"parts_by"`
	Parts   []struct{ Key, Name, Text string }
	Dims    []struct{ Key, Name, Text string }
}

// TestInsightFromRecords: a video added, watched and an exam answer scored become
// statements in the store and then figures on the dashboards; the figures
// are scoped to what each role covers, a class's students are shown to its
// teacher and school only, exports are audited, and a rebuild from the
// store gives the same rows as the incremental count.
func TestInsightFromRecords(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestAppWith(t, d, true, func(c *config.Config) { c.InsightMinGroup = 1 })
		ctx := context.Background()
		admin, err := ta.Identity.PrincipalOf(ctx, "school_admin")
		if err != nil {
			t.Fatal(err)
		}
		students := "学籍号,姓名,性别,出生日期,身份证号,民族,学校代码,年级,班级,用户名\r\nL001,陈思远,男,," + rosterID("37010220130305001") + ",汉族,S-JN01,七年级,1班,student\r\n"
		teachers := "工号,姓名,性别,身份证号,学校代码,任教年级,任教班级,任教学科,是否班主任,用户名\r\nT001,张晓梅,女,,S-JN01,七年级,1班,数学,是,teacher\r\n"
		for name, csv := range map[string]string{"s.csv": students, "t.csv": teachers} {
			rep, err := ta.Roster.Import(ctx, admin, strings.NewReader(csv), name, roster.ImportOptions{})
			if err != nil || !rep.Applied {
				t.Fatalf("roster %s: %v %+v", name, err, rep)
			}
		}
		student, _ := ta.Identity.UserByName(ctx, "student")
		school, _ := ta.Identity.OrgByCode(ctx, "S-JN01")
		other, _ := ta.Identity.OrgByCode(ctx, "S-JN09")
		ms, err := ta.Roster.MembershipOf(ctx, student.ID)
		if err != nil || len(ms) != 1 {
			t.Fatalf("membership: %+v %v", ms, err)
		}
		class := ms[0].ClassName
		now := time.Now()
		video := share.ViewObject{ID: share.ActivityID(ta.LRS.BaseURL(), 7), VideoID: 7, Title: "初一英语听说训练", OrgID: school.ID, Duration: 600000}
		actor := share.ViewActor{UserID: student.ID, Name: student.DisplayName, OrgID: school.ID}
		machine, human := 7.0, 7.5
		if err := d.InTx(ctx, func(tx *db.Tx) error {
			if err := events.PublishTx(ctx, tx, ta.Bus, share.TopicViewed, share.ViewEvent{Actor: actor, Verb: share.VerbPlayed, Object: video,
				Result: share.ViewResult{PositionMS: 120000, WatchedMS: 120000, Progress: 0.2}, At: now.UnixMilli() - 60000}); err != nil {
				return err
			}
			if err := events.PublishTx(ctx, tx, ta.Bus, share.TopicViewed, share.ViewEvent{Actor: actor, Verb: share.VerbCompleted, Object: video,
				Result: share.ViewResult{PositionMS: 590000, WatchedMS: 300000, Progress: 0.98, Completed: true}, At: now.UnixMilli() - 30000}); err != nil {
				return err
			}
			if err := events.PublishTx(ctx, tx, ta.Bus, share.TopicUploaded, share.UploadEvent{Actor: actor, Object: share.ViewObject{VideoID: 8, Title: "校本微课", OrgID: school.ID},
				At: now.UnixMilli() - 90000}); err != nil {
				return err
			}
			ev := marking.ScoredEvent{Actor: marking.ScoredActor{HomePage: ta.LRS.BaseURL() + "/exams/E2026", Name: "2026000001", OrgID: school.ID},
				Verb: marking.VerbScored, Object: marking.ScoredObject{ID: ta.LRS.BaseURL() + "/exams/E2026/papers/A/items/3", Exam: "E2026", Paper: "A", Item: "3", ItemType: "read_aloud"},
				Result: marking.ScoredResult{Raw: 7.5, Min: 0, Max: 10, Scaled: 0.75, Success: true, Rule: "agree"}, At: now.UnixMilli()}
			ev.Context = marking.ScoredContext{Site: "E-LW01", Machine: &machine, Human: &human, Tolerance: 1}
			return events.PublishTx(ctx, tx, ta.Bus, marking.TopicScored, ev)
		}); err != nil {
			t.Fatal(err)
		}
		stop := runBus(t, ta.App)
		defer stop()
		adminC := ta.client(t)
		adminC.login("admin", "Demo2026jn")
		get := func(c *client, key string, org int64, extra string) (figures, int) {
			var f figures
			code := c.getJSON(fmt.Sprintf("/api/v1/insight/indicators/%s?org=%d%s", key, org, extra), &f)
			return f, code
		}
		waitFor(t, "the exam score in the indicators", func() bool {
			f, _ := get(adminC, "exam_agreement", school.ID, "")
			return f.Total.Text == "100%"
		})
		waitFor(t, "the video in the indicators", func() bool {
			f, _ := get(adminC, "completion_rate", school.ID, "")
			return f.Total.Text == "100%"
		})
		if n := count(t, d, "SELECT COUNT(*) FROM lrs_statements WHERE verb = ?", marking.VerbScored); n != 1 {
			t.Errorf("%d scored statements stored, want 1", n)
		}
		for key, want := range map[string]string{"videos_uploaded": "1", "videos_watched": "0.1", "video_plays": "1", "watch_minutes": "5", "exam_participants": "1", "exam_mean_score": "75%", "active_students": "0.1"} {
			if f, code := get(adminC, key, school.ID, ""); code != 200 || f.Total.Text != want {
				// active students: one over the 12-week default period
				t.Errorf("%s at the school: %d %+v, want %s", key, code, f.Total, want)
			}
		}
		week := insight.WeekLabel(insight.WeekOf(now.UnixMilli()))
		f, _ := get(adminC, "active_students", school.ID, "&from="+week+"&to="+week)
		if f.Total.Text != "1" || f.PartsBy != "class" || len(f.Parts) != 1 || f.Parts[0].Name != class {
			t.Errorf("this week's active students at the school: %+v, want 1 in class %q", f, class)
		}
		// The roster import gave the denominator: 1 active of 1 student.
		waitFor(t, "the roster count", func() bool {
			f, _ := get(adminC, "active_share", school.ID, "&from="+week+"&to="+week)
			return f.Total.Text == "100%"
		})
		f, _ = get(adminC, "exam_agreement", school.ID, "")
		if len(f.Dims) != 1 || f.Dims[0].Key != "E-LW01" || !strings.Contains(f.Dims[0].Name, "考点") {
			t.Errorf("agreement by site: %+v", f.Dims)
		}
		// Scoping: the school's admin and teachers see their school only.
		for _, who := range []string{"school_admin", "teacher"} {
			c := ta.client(t)
			c.login(who, "Demo2026jn")
			if _, code := get(c, "video_plays", other.ID, ""); code != 404 {
				t.Errorf("%s looked into S-JN09: %d", who, code)
			}
			if f, code := get(c, "video_plays", school.ID, ""); code != 200 || f.Total.Text != "1" {
				t.Errorf("%s at their school: %d %+v", who, code, f.Total)
			}
		}
		// Students: the class's teacher and the school's admin, nobody else.
		path := fmt.Sprintf("/api/v1/insight/orgs/%d/students?class=%s", school.ID, url.QueryEscape(class))
		for who, want := range map[string]int{"teacher": 200, "school_admin": 200, "teacher2": 404, "admin": 404} {
			c := ta.client(t)
			c.login(who, "Demo2026jn")
			var list struct{ Students []insight.StudentRow }
			if code := c.getJSON(path, &list); code != want {
				t.Errorf("%s: students of the class: %d, want %d", who, code, want)
			} else if code == 200 && (len(list.Students) != 1 || list.Students[0].Name != student.DisplayName) {
				t.Errorf("%s: students %+v", who, list.Students)
			}
		}
		// The dashboard page and exports (audited).
		tc := ta.client(t)
		tc.login("teacher", "Demo2026jn")
		page := mustRead(t, tc.do("GET", fmt.Sprintf("/insight/orgs/%d?class=%s", school.ID, url.QueryEscape(class)), "", "", nil))
		for _, want := range []string{"data-chart", "周活跃学生数", "班级学生活跃情况", student.DisplayName, "/static/insight/vendor/echarts.min.js"} {
			if !strings.Contains(page, want) {
				t.Errorf("the class dashboard lacks %q", want)
			}
		}
		resp := tc.do("GET", fmt.Sprintf("/insight/orgs/%d/export?i=active_students&class=%s&part=students&format=csv", school.ID, url.QueryEscape(class)), "", "", nil)
		if body := mustRead(t, resp); resp.StatusCode != 200 || !strings.Contains(body, student.DisplayName) {
			t.Errorf("students export: %d %q", resp.StatusCode, body)
		}
		resp = adminC.do("GET", fmt.Sprintf("/insight/orgs/%d/export?i=video_plays&part=trend&format=xlsx", school.ID), "", "", nil)
		if body := mustRead(t, resp); resp.StatusCode != 200 || !strings.HasPrefix(body, "PK") {
			t.Errorf("xlsx export: %d", resp.StatusCode)
		}
		if n := count(t, d, "SELECT COUNT(*) FROM identity_audit WHERE action = ? AND result = ?", "insight.export", "ok"); n != 2 {
			t.Errorf("%d exports audited, want 2", n)
		}
		// A rebuild from the store gives the same rows.
		before := aggSnapshot(t, d)
		rep, err := ta.Insight.Recompute(ctx, insightSource{ta.LRS}, 0, 0, nil)
		if err != nil || rep.Statements != 4 {
			t.Fatalf("recompute: %+v %v", rep, err)
		}
		if after := aggSnapshot(t, d); !reflect.DeepEqual(before, after) {
			t.Errorf("recompute changed the figures:\nbefore %v\nafter  %v", before, after)
		}
	})
}

// TestInsightRecomputeCLI runs "jnedu insight recompute" on a data folder.
func TestInsightRecomputeCLI(t *testing.T) {
	dir := t.TempDir()
	env := func(k string) string { return map[string]string{"JNEDU_DATA_DIR": dir}[k] }
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"insight", "recompute", "-from", "2026-01-05", "-to", "2026-02-01"}, &out, &errOut, env); code != 0 ||
		!strings.Contains(out.String(), "recomputed: 0 statements") {
		t.Errorf("recompute: exit %d, %q %q", code, out.String(), errOut.String())
	}
	if code := Main(context.Background(), []string{"insight", "recompute", "-from", "2026-02-01", "-to", "2026-01-05"}, &out, &errOut, env); code == 0 {
		t.Error("a reversed range was accepted")
	}
	if _, err := filepath.Abs(dir); err != nil {
		t.Fatal(err)
	}
}
