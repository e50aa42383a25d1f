package insight

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"jnedu/internal/platform/apperr"
)

// OrgRef is an organisation as the figures name it.
type OrgRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
	Path string `json:"-"`
}

// Period is a run of whole weeks: the Mondays of the first and last.
type Period struct {
	From, To int64
}

// Weeks lists the Mondays of the period.
func (p Period) Weeks() []int64 {
	var out []int64
	for w := p.From; w <= p.To; w = WeekOf(w + 8*24*3600*1000) {
		out = append(out, w)
	}
	return out
}

// ParsePeriod reads a period from two dates (YYYY-MM-DD, either may be
// empty): by default the last 12 weeks up to the current one.
func (s *Service) ParsePeriod(from, to string) (Period, error) {
	now := s.now().UnixMilli()
	p := Period{To: WeekOf(now)}
	if to != "" {
		t, err := time.ParseInLocation("2006-01-02", to, cst)
		if err != nil {
			return p, apperr.Field("to", "insight.err_date")
		}
		p.To = WeekOf(t.UnixMilli())
	}
	p.From = WeekOf(time.UnixMilli(p.To).In(cst).AddDate(0, 0, -7*11).UnixMilli())
	if from != "" {
		f, err := time.ParseInLocation("2006-01-02", from, cst)
		if err != nil {
			return p, apperr.Field("from", "insight.err_date")
		}
		p.From = WeekOf(f.UnixMilli())
	}
	if p.From > p.To {
		return p, apperr.Field("from", "insight.err_period")
	}
	if len(p.Weeks()) > s.cfg.MaxWeeks {
		return p, apperr.New(apperr.Invalid, "insight.err_period_long", s.cfg.MaxWeeks)
	}
	return p, nil
}

// Value is one figure as shown: the number, or hidden (a group smaller
// than the minimum), or absent (no records).
type Value struct {
	Value  *float64 `json:"value"`
	Hidden bool     `json:"hidden,omitempty"`
	Text   string   `json:"text"`
	group  float64
}

// Point is a week of a trend.
type Point struct {
	Week string `json:"week"`
	Value
}

// Part is a figure of one part of the organisation: a child
// organisation, a class, an exam site or a score band.
type Part struct {
	Key   string `json:"key"`
	OrgID int64  `json:"org_id,omitempty"`
	Kind  string `json:"kind,omitempty"`
	Name  string `json:"name"`
	Value
}

// Figures are one indicator over one organisation (or class) and period.
type Figures struct {
	Indicator string  `json:"indicator"`
	Unit      string  `json:"unit"`
	Org       OrgRef  `json:"org"`
	Class     string  `json:"class,omitempty"`
	From      string  `json:"from"`
	To        string  `json:"to"`
	MinGroup  int     `json:"min_group"`
	Total     Value   `json:"total"`
	Trend     []Point `json:"trend"`
	// PartsBy is "org" (child organisations) or "class".
	PartsBy string `json:"parts_by,omitempty"`
	Parts   []Part `json:"parts"`
	// DimBy is "site" or "band" when the indicator splits so.
	DimBy string `json:"dim_by,omitempty"`
	Dims  []Part `json:"dims,omitempty"`
}

// FigureQuery asks for one indicator's figures.
type FigureQuery struct {
	Indicator Indicator
	Org       OrgRef
	Class     string   // one class of a school ("" all)
	Children  []OrgRef // the parts: child organisations (nil: by class, when ByClass)
	ByClass   bool
	Period    Period
}

type aggRow struct {
	measure, class, dim string
	orgID, week         int64
	n                   int64
	total               float64
}

func (s *Service) rows(ctx context.Context, measures []string, where string, args []any, p Period) ([]aggRow, error) {
	q := "SELECT measure, week, org_id, class, dim, n, total FROM insight_agg WHERE " + where + " AND week >= ? AND week <= ? AND measure IN (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(measures)), ", ") + ")"
	args = append(args, p.From, p.To)
	for _, m := range measures {
		args = append(args, m)
	}
	rows, err := s.db.Query(ctx, q+" LIMIT 200000", args...)
	if err != nil {
		return nil, fmt.Errorf("insight: read: %w", err)
	}
	defer rows.Close()
	var out []aggRow
	for rows.Next() {
		var r aggRow
		if err := rows.Scan(&r.measure, &r.week, &r.orgID, &r.class, &r.dim, &r.n, &r.total); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (c *cell) add(r aggRow) {
	if c.m == nil {
		c.m = map[string]acc{}
	}
	a := c.m[r.measure]
	a.N += r.n
	a.Total += r.total
	c.m[r.measure] = a
	if distinctMeasures[r.measure] {
		if c.wk == nil {
			c.wk = map[string]map[int64]int64{}
		}
		if c.wk[r.measure] == nil {
			c.wk[r.measure] = map[int64]int64{}
		}
		c.wk[r.measure][r.week] += r.n
	}
}

// groupSize is the number of people (or answers) behind a cell: for a
// distinct count over several weeks, its largest week.
func (c cell) groupSize(measure string) float64 {
	if !distinctMeasures[measure] || c.weeks <= 1 {
		return c.n(measure)
	}
	var most int64
	for _, n := range c.wk[measure] {
		most = max(most, n)
	}
	return float64(most)
}

// value computes a cell's figure with the privacy rule.
func (s *Service) value(ind Indicator, c cell) Value {
	g := c.groupSize(ind.Group)
	v := Value{group: g, Text: "—"}
	if c.m == nil || g == 0 {
		return v
	}
	if g < float64(s.cfg.MinGroup) {
		v.Hidden, v.Text = true, "<"+strconv.Itoa(s.cfg.MinGroup)
		return v
	}
	f, ok := ind.compute(c)
	if !ok {
		return v
	}
	digits := 1
	if ind.Unit == "ratio" {
		digits = 2
	}
	p := math.Pow10(digits)
	f = math.Round(f*p) / p
	v.Value = &f
	v.Text = strconv.FormatFloat(f, 'f', -1, 64)
	if ind.Unit == "percent" {
		v.Text += "%"
	}
	return v
}

func (v *Value) hide(min int) {
	v.Value, v.Hidden, v.Text = nil, true, "<"+strconv.Itoa(min)
}

// protect hides a second part when exactly one part of a shown whole is
// hidden, so the hidden one cannot be recovered by subtracting the others
// from the whole (the visible part with the smallest group goes).
func (s *Service) protect(whole Value, vals []*Value) {
	if whole.Value == nil {
		return
	}
	hidden, smallest := 0, -1
	for i, v := range vals {
		if v.Hidden {
			hidden++
		} else if v.Value != nil && (smallest < 0 || v.group < vals[smallest].group) {
			smallest = i
		}
	}
	if hidden == 1 && smallest >= 0 {
		vals[smallest].hide(s.cfg.MinGroup)
	}
}

// Figures computes an indicator's figures from the aggregates: the whole
// (org, or one class of it) over the period, its weekly trend, its parts
// and its split by site or band. The caller has checked that the viewer
// may see the organisation (and the class).
func (s *Service) Figures(ctx context.Context, q FigureQuery) (Figures, error) {
	ind := q.Indicator
	weeks := q.Period.Weeks()
	f := Figures{Indicator: ind.Key, Unit: ind.Unit, Org: q.Org, Class: q.Class, From: WeekLabel(q.Period.From),
		To: WeekLabel(q.Period.To), MinGroup: s.cfg.MinGroup, DimBy: ind.Dim}
	class := AllClasses
	if q.Class != "" {
		class = q.Class
	}
	own, err := s.rows(ctx, ind.Needs, "org_id = ? AND class = ?", []any{q.Org.ID, class}, q.Period)
	if err != nil {
		return f, err
	}
	whole := cell{weeks: len(weeks)}
	byWeek := map[int64]*cell{}
	byDim := map[string]*cell{}
	for _, r := range own {
		whole.add(r)
		if byWeek[r.week] == nil {
			byWeek[r.week] = &cell{weeks: 1}
		}
		byWeek[r.week].add(r)
		if ind.Dim != "" {
			if byDim[r.dim] == nil {
				byDim[r.dim] = &cell{weeks: len(weeks)}
			}
			byDim[r.dim].add(r)
		}
	}
	var roster map[int64]int64
	if ind.Roster {
		ids := []int64{q.Org.ID}
		for _, c := range q.Children {
			ids = append(ids, c.ID)
		}
		if roster, err = s.rosterCounts(ctx, ids); err != nil {
			return f, err
		}
		if q.Class == "" {
			whole.setRoster(roster[q.Org.ID])
			for _, c := range byWeek {
				c.setRoster(roster[q.Org.ID])
			}
		}
	}
	f.Total = s.value(ind, whole)
	vals := make([]*Value, 0, len(weeks))
	for _, w := range weeks {
		c := cell{weeks: 1}
		if byWeek[w] != nil {
			c = *byWeek[w]
		}
		f.Trend = append(f.Trend, Point{Week: WeekLabel(w), Value: s.value(ind, c)})
	}
	for i := range f.Trend {
		vals = append(vals, &f.Trend[i].Value)
	}
	if ind.Weekly || ind.Unit == "count" || ind.Unit == "minutes" {
		s.protect(f.Total, vals)
	}
	if ind.Dim != "" {
		keys := make([]string, 0, len(byDim))
		for k := range byDim {
			keys = append(keys, k)
		}
		if ind.Dim == "band" {
			keys = keys[:0]
			for b := 0; b < 10; b++ {
				keys = append(keys, strconv.Itoa(b))
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			c := cell{weeks: len(weeks)}
			if byDim[k] != nil {
				c = *byDim[k]
			}
			if ind.Dim == "band" {
				// a band's group is the whole's candidates
				c.m = mergeGroup(c.m, whole.m, ind.Group)
				mergeWeeks(&c, whole, ind.Group)
			}
			name := k
			if ind.Dim == "band" {
				b, _ := strconv.Atoi(k)
				name = fmt.Sprintf("%d–%d%%", b*10, b*10+10)
			}
			f.Dims = append(f.Dims, Part{Key: k, Name: name, Value: s.value(ind, c)})
		}
		dv := make([]*Value, len(f.Dims))
		for i := range f.Dims {
			dv[i] = &f.Dims[i].Value
		}
		s.protect(f.Total, dv)
	}
	if q.Class != "" {
		return f, nil
	}
	switch {
	case q.ByClass:
		f.PartsBy = "class"
		rows, err := s.rows(ctx, ind.Needs, "org_id = ? AND class <> ?", []any{q.Org.ID, AllClasses}, q.Period)
		if err != nil {
			return f, err
		}
		byClass := map[string]*cell{}
		for _, r := range rows {
			if byClass[r.class] == nil {
				byClass[r.class] = &cell{weeks: len(weeks)}
			}
			byClass[r.class].add(r)
		}
		for name, c := range byClass {
			f.Parts = append(f.Parts, Part{Key: name, Name: name, Value: s.value(ind, *c)})
		}
	case len(q.Children) > 0:
		f.PartsBy = "org"
		ids := make([]any, 0, len(q.Children)+1)
		ph := make([]string, 0, len(q.Children))
		for _, c := range q.Children {
			ids = append(ids, c.ID)
			ph = append(ph, "?")
		}
		if len(ph) > 2000 {
			return f, apperr.New(apperr.Invalid, "insight.err_too_many")
		}
		rows, err := s.rows(ctx, ind.Needs, "org_id IN ("+strings.Join(ph, ", ")+") AND class = ?", append(ids, AllClasses), q.Period)
		if err != nil {
			return f, err
		}
		byOrg := map[int64]*cell{}
		for _, r := range rows {
			if byOrg[r.orgID] == nil {
				byOrg[r.orgID] = &cell{weeks: len(weeks)}
			}
			byOrg[r.orgID].add(r)
		}
		for _, o := range q.Children {
			c := cell{weeks: len(weeks)}
			if byOrg[o.ID] != nil {
				c = *byOrg[o.ID]
			}
			if ind.Roster {
				c.setRoster(roster[o.ID])
			}
			f.Parts = append(f.Parts, Part{Key: strconv.FormatInt(o.ID, 10), OrgID: o.ID, Kind: o.Kind, Name: o.Name, Value: s.value(ind, c)})
		}
	}
	// Rankings: largest first, hidden and empty last.
	sort.SliceStable(f.Parts, func(i, j int) bool {
		a, b := f.Parts[i].Value.Value, f.Parts[j].Value.Value
		switch {
		case a != nil && b != nil:
			if *a != *b {
				return *a > *b
			}
			return f.Parts[i].Name < f.Parts[j].Name
		case a != nil:
			return true
		case b != nil:
			return false
		}
		if f.Parts[i].Hidden != f.Parts[j].Hidden {
			return f.Parts[i].Hidden
		}
		return f.Parts[i].Name < f.Parts[j].Name
	})
	pv := make([]*Value, len(f.Parts))
	for i := range f.Parts {
		pv[i] = &f.Parts[i].Value
	}
	s.protect(f.Total, pv)
	return f, nil
}

// setRoster gives a cell its organisation's roster count.
func (c *cell) setRoster(n int64) {
	if n <= 0 || c.m == nil {
		return
	}
	c.m[mRoster] = acc{N: n}
}

func (s *Service) rosterCounts(ctx context.Context, ids []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.db.Query(ctx, "SELECT org_id, students FROM insight_roster WHERE org_id IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// RefreshRoster counts again the students on the roster of the schools
// (given by their paths) and of every organisation above them: what a
// roster import changes.
func (s *Service) RefreshRoster(ctx context.Context, paths []string) error {
	if s.people == nil {
		return nil
	}
	seen := map[int64]bool{}
	for _, p := range paths {
		for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
			id, err := strconv.ParseInt(part, 10, 64)
			if err != nil || seen[id] {
				continue
			}
			seen[id] = true
			n, err := s.people.StudentCount(ctx, id)
			if err != nil {
				return fmt.Errorf("insight: roster count of %d: %w", id, err)
			}
			if _, err := s.db.Exec(ctx, `INSERT INTO insight_roster (org_id, students, updated_at) VALUES (?, ?, ?)
				ON CONFLICT (org_id) DO UPDATE SET students = excluded.students, updated_at = excluded.updated_at`, id, n, s.now().UnixMilli()); err != nil {
				return err
			}
		}
	}
	return nil
}

func mergeGroup(m, whole map[string]acc, group string) map[string]acc {
	out := map[string]acc{}
	for k, v := range m {
		out[k] = v
	}
	out[group] = whole[group]
	return out
}

func mergeWeeks(c *cell, whole cell, group string) {
	if whole.wk[group] == nil {
		return
	}
	if c.wk == nil {
		c.wk = map[string]map[int64]int64{}
	}
	c.wk[group] = whole.wk[group]
}

// StudentRow is one student's activity in a class over a period (a
// student-level view: only a class's teachers and its school see it).
type StudentRow struct {
	Name    string `json:"name"`
	Weeks   int    `json:"active_weeks"`
	Records int64  `json:"records"`
}

// Students lists a class's active students over a period. The caller has
// checked that the viewer may see them.
func (s *Service) Students(ctx context.Context, orgID int64, class string, p Period) ([]StudentRow, error) {
	rows, err := s.db.Query(ctx, `SELECT member, MAX(label), COUNT(*), SUM(n) FROM insight_members
		WHERE org_id = ? AND class = ? AND measure = ? AND dim = '' AND week >= ? AND week <= ?
		GROUP BY member ORDER BY MAX(label), member LIMIT 1000`, orgID, class, mActiveStudents, p.From, p.To)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []StudentRow{}
	for rows.Next() {
		var r StudentRow
		var key string
		if err := rows.Scan(&key, &r.Name, &r.Weeks, &r.Records); err != nil {
			return nil, err
		}
		if r.Name == "" {
			r.Name = key
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Classes lists the classes a school's records name over a period.
func (s *Service) Classes(ctx context.Context, orgID int64, p Period) ([]string, error) {
	return s.strings(ctx, `SELECT DISTINCT class FROM insight_agg WHERE org_id = ? AND class <> ? AND class <> '' AND week >= ? AND week <= ? ORDER BY class LIMIT 500`,
		orgID, AllClasses, p.From, p.To)
}
