// Package insight is the education big-data platform's indicators and
// dashboards: a small registry of named indicators, each defined next to
// its computation, kept as aggregate tables that grow with every learning
// record stored (lrs.statement.stored, delivered through the outbox) and
// rebuilt on demand from the store. Pages, the JSON API and exports read
// only the aggregates, never the records, and apply the privacy rules:
// a person sees the organisations their role covers, small groups are
// hidden, a class's students only for its teachers and school.
package insight

import (
	"context"
	"log/slog"
	"time"

	"jnedu/internal/platform/db"
)

// Base measures kept in insight_agg. Distinct ones are maintained from
// insight_members.
const (
	mActiveStudents = "active_students"   // distinct learners with any record (members: actor)
	mActiveTeachers = "active_teachers"   // distinct teachers with any record (members: actor)
	mVideoPlays     = "video_plays"       // video records with the verb played (a first view)
	mVideoDone      = "video_completions" // video records with the verb completed
	mWatchMS        = "video_watch_ms"    // total: watching time added, ms
	mViewers        = "video_viewers"     // distinct people with a video record (members: actor)
	mVideos         = "videos_watched"    // distinct videos with a record (members: activity)
	mAnswers        = "exam_answers"      // scored answers; total: scaled scores (dim: site)
	mCandidates     = "exam_candidates"   // distinct candidates (members: actor; dim: site)
	mBand           = "exam_band"         // scored answers per tenth of the scale (dim: 0…9)
	mDouble         = "exam_double"       // answers with machine and human scores; total: agreeing (dim: site)
	mGap            = "exam_gap"          // total: |machine − human| / max of those answers (dim: site)
	mLessons        = "digital_lessons"   // distinct (teacher, day, class) with a digital resource used
	mUploads        = "video_uploads"     // video records with the verb shared (a video added)
	mUploaders      = "video_uploaders"   // distinct people who added videos (members: actor)
	mRoster         = "roster_students"   // students on the roster (insight_roster, not insight_agg)
)

// distinctMeasures are counted from member sets.
var distinctMeasures = map[string]bool{mUploaders: true, mActiveStudents: true, mActiveTeachers: true, mViewers: true, mVideos: true, mCandidates: true, mLessons: true}

// Indicator is one named figure: its definition (a message key, shown on
// every page and in the API next to the figure), how it is computed from
// the base measures of a cell, and which measure is the group whose size
// decides whether the cell may be shown.
type Indicator struct {
	Key     string
	Unit    string   // people, count, minutes, percent, ratio
	Dim     string   // "", "site" or "band": the dimension the figure can be split by
	Needs   []string // base measures read
	Group   string   // the measure whose size (people or answers) must reach the minimum
	Weekly  bool     // a per-week figure: over several weeks, the weekly mean
	Class   bool     // split by class at school level
	Roster  bool     // needs the roster's student count (mRoster)
	compute func(c cell) (float64, bool)
}

// NameKey and DefKey are the messages naming and defining the indicator.
func (i Indicator) NameKey() string { return "insight.ind_" + i.Key }
func (i Indicator) DefKey() string  { return "insight.def_" + i.Key }

// cell is the base measures of one figure (one week or a period, one
// organisation or class or dimension value), and the weeks it spans.
type cell struct {
	m     map[string]acc
	weeks int
	// wk holds the distinct counts per week: over several weeks, a group's
	// size is its largest week (never more than the people really in it).
	wk map[string]map[int64]int64
}

type acc struct {
	N     int64
	Total float64
}

func (c cell) n(measure string) float64     { return float64(c.m[measure].N) }
func (c cell) total(measure string) float64 { return c.m[measure].Total }

// perWeek is a distinct count averaged over the weeks of the cell.
func (c cell) perWeek(measure string) float64 {
	if c.weeks <= 1 {
		return c.n(measure)
	}
	return c.n(measure) / float64(c.weeks)
}

func ratio(num, den float64, scale float64) (float64, bool) {
	if den <= 0 {
		return 0, false
	}
	return num / den * scale, true
}

// Registry is the first set of indicators, in the order pages show them.
// Weeks run Monday to Sunday in China Standard Time; every indicator is
// over the organisations the record belongs to (the actor's school for the
// platform's own records, the credential's organisation for outside
// tools), rolled up to district and city by the organisation tree.
func Registry() []Indicator {
	return []Indicator{
		{Key: "active_students", Unit: "people", Needs: []string{mActiveStudents}, Group: mActiveStudents, Weekly: true, Class: true,
			compute: func(c cell) (float64, bool) { return c.perWeek(mActiveStudents), true }},
		{Key: "active_share", Unit: "percent", Needs: []string{mActiveStudents}, Group: mActiveStudents, Weekly: true, Roster: true,
			compute: func(c cell) (float64, bool) { return ratio(c.perWeek(mActiveStudents), c.n(mRoster), 100) }},
		{Key: "active_teachers", Unit: "people", Needs: []string{mActiveTeachers}, Group: mActiveTeachers, Weekly: true,
			compute: func(c cell) (float64, bool) { return c.perWeek(mActiveTeachers), true }},
		{Key: "videos_uploaded", Unit: "count", Needs: []string{mUploads, mUploaders}, Group: mUploaders,
			compute: func(c cell) (float64, bool) { return c.n(mUploads), true }},
		{Key: "video_plays", Unit: "count", Needs: []string{mVideoPlays, mViewers}, Group: mViewers, Class: true,
			compute: func(c cell) (float64, bool) { return c.n(mVideoPlays), true }},
		{Key: "videos_watched", Unit: "count", Needs: []string{mVideos, mViewers}, Group: mViewers, Weekly: true,
			compute: func(c cell) (float64, bool) { return c.perWeek(mVideos), true }},
		{Key: "watch_minutes", Unit: "minutes", Needs: []string{mWatchMS, mViewers}, Group: mViewers, Class: true,
			compute: func(c cell) (float64, bool) { return c.total(mWatchMS) / 60000, true }},
		{Key: "completion_rate", Unit: "percent", Needs: []string{mVideoDone, mVideoPlays, mViewers}, Group: mViewers, Class: true,
			compute: func(c cell) (float64, bool) { return ratio(c.n(mVideoDone), c.n(mVideoPlays), 100) }},
		{Key: "exam_participants", Unit: "people", Dim: "site", Needs: []string{mCandidates}, Group: mCandidates,
			compute: func(c cell) (float64, bool) { return c.n(mCandidates), true }},
		{Key: "exam_mean_score", Unit: "percent", Dim: "site", Needs: []string{mAnswers, mCandidates}, Group: mCandidates,
			compute: func(c cell) (float64, bool) { return ratio(c.total(mAnswers), c.n(mAnswers), 100) }},
		{Key: "exam_score_bands", Unit: "count", Dim: "band", Needs: []string{mBand, mCandidates}, Group: mCandidates,
			compute: func(c cell) (float64, bool) { return c.n(mBand), true }},
		{Key: "exam_agreement", Unit: "percent", Dim: "site", Needs: []string{mDouble, mGap}, Group: mDouble,
			compute: func(c cell) (float64, bool) { return ratio(c.total(mDouble), c.n(mDouble), 100) }},
		{Key: "digital_lessons", Unit: "ratio", Needs: []string{mLessons, mActiveTeachers}, Group: mActiveTeachers,
			compute: func(c cell) (float64, bool) { return ratio(c.n(mLessons), c.n(mActiveTeachers), 1) }},
	}
}

// Lookup finds an indicator by key.
func Lookup(key string) (Indicator, bool) {
	for _, i := range Registry() {
		if i.Key == key {
			return i, true
		}
	}
	return Indicator{}, false
}

// Statement is a stored learning record as the indicators read it: the
// xAPI statement with the organisation and platform user the store filed
// it under.
type Statement struct {
	ID      string
	Stored  int64
	OrgPath string
	UserID  int64
	Body    map[string]any
}

// Cursor is a position in the store's (stored, id) order.
type Cursor struct {
	Stored int64
	ID     string
}

// Source pages through the store's statements that are not voided, in
// stored order, stored in (since, until] (until 0: no bound) and after the
// cursor. The composition root implements it with the learning-record
// store.
type Source interface {
	Statements(ctx context.Context, after *Cursor, since, until int64, limit int) ([]Statement, error)
}

// Person is who a platform user is in the roster.
type Person struct {
	Role  string // RoleTeacher, RoleStudent or "" (unknown)
	Class string // a student's class ("" unknown)
}

// ClassRef is a class a teacher teaches.
type ClassRef struct {
	OrgID int64
	Name  string
}

// Roles of the people records name.
const (
	RoleTeacher = "teacher"
	RoleStudent = "student"
)

// People answers who a user is; the composition root implements it with
// the roster (and the user's roles when the roster does not know them).
type People interface {
	Person(ctx context.Context, userID int64) (Person, error)
	TeacherClasses(ctx context.Context, userID int64) ([]ClassRef, error)
	// StudentCount counts the students on the roster in an
	// organisation's subtree.
	StudentCount(ctx context.Context, orgID int64) (int, error)
}

// Config tunes the service.
type Config struct {
	// MinGroup is the smallest group an aggregate figure may describe;
	// smaller groups are hidden (default 5).
	MinGroup int
	// BaseURL is the platform's address: the home page of its accounts
	// and the prefix of its extension IRIs.
	BaseURL string
	// MaxWeeks bounds the period one request may ask for (default 104).
	MaxWeeks int
}

// Service keeps and reads the indicators.
type Service struct {
	db     *db.DB
	people People
	log    *slog.Logger
	now    func() time.Time
	cfg    Config
}

// NewService makes the service.
func NewService(d *db.DB, people People, cfg Config, log *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.MinGroup <= 0 {
		cfg.MinGroup = 5
	}
	if cfg.MaxWeeks <= 0 {
		cfg.MaxWeeks = 104
	}
	return &Service{db: d, people: people, log: log, now: now, cfg: cfg}
}

// MinGroup is the smallest group shown.
func (s *Service) MinGroup() int { return s.cfg.MinGroup }

// cst is China Standard Time (no tzdata needed).
var cst = time.FixedZone("CST", 8*3600)

// WeekOf returns the start (Monday 00:00 CST, Unix ms) of the week of t.
func WeekOf(ms int64) int64 {
	t := time.UnixMilli(ms).In(cst)
	d := (int(t.Weekday()) + 6) % 7
	y, m, dd := t.Date()
	return time.Date(y, m, dd-d, 0, 0, 0, 0, cst).UnixMilli()
}

// dayOf is the calendar day (CST) of ms as YYYY-MM-DD.
func dayOf(ms int64) string { return time.UnixMilli(ms).In(cst).Format("2006-01-02") }

// WeekLabel shows a week by its Monday.
func WeekLabel(week int64) string { return time.UnixMilli(week).In(cst).Format("2006-01-02") }
