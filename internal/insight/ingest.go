package insight

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"jnedu/internal/platform/db"
)

// IRIs the indicators recognise.
const (
	verbPlayed    = "https://w3id.org/xapi/video/verbs/played"
	verbCompleted = "http://adlnet.gov/expapi/verbs/completed"
	verbScored    = "http://adlnet.gov/expapi/verbs/scored"
	verbVoided    = "http://adlnet.gov/expapi/verbs/voided"
	verbShared    = "http://adlnet.gov/expapi/verbs/shared"
	typeVideo     = "https://w3id.org/xapi/video/activity-type/video"
	profileVideo  = "https://w3id.org/xapi/video"
	typeLesson    = "http://adlnet.gov/expapi/activities/lesson"
)

// Extension names of the platform, under BaseURL + "/xapi/extensions/".
const (
	ExtOrganisation = "organisation"
	ExtRole         = "role"          // teacher or student, for records from tools that know it
	ExtClass        = "class"         // the learner's class name
	ExtSite         = "site"          // exam site code
	ExtItemType     = "item-type"     // exam item type
	ExtMachineScore = "machine-score" // the machine's raw score of an answer
	ExtHumanScore   = "human-score"   // the human markers' raw score (mean of the marks)
	ExtTolerance    = "tolerance"     // the points within which two scores agree
)

// Ext is the IRI of a platform extension.
func Ext(base, name string) string { return strings.TrimRight(base, "/") + "/xapi/extensions/" + name }

// contrib is what one statement adds to the aggregates; kept with the fact
// so that it can be taken back exactly.
type contrib struct {
	Week    int64    `json:"w"`
	OrgID   int64    `json:"o"`
	OrgPath string   `json:"p"`
	Class   string   `json:"c,omitempty"`
	Aggs    []inc    `json:"a,omitempty"`
	Members []member `json:"m,omitempty"`
	// Watch is the watching time this statement added to (actor, video).
	Watch *watch `json:"v,omitempty"`
}

type inc struct {
	M     string  `json:"m"`
	Dim   string  `json:"d,omitempty"`
	Total float64 `json:"t,omitempty"`
}

type member struct {
	M      string `json:"m"`
	Dim    string `json:"d,omitempty"`
	Member string `json:"k"`
	Label  string `json:"l,omitempty"`
}

type watch struct {
	Actor    string `json:"a"`
	Activity string `json:"i"`
	CumMS    int64  `json:"c"` // the cumulative time the statement reported
	DeltaMS  int64  `json:"d"` // what it added
}

// parsed is what the indicators read of a statement.
type parsed struct {
	actor, label  string
	verb          string
	activity      string
	activityTypes []string // of the object and the context activities
	categories    []string
	ext           map[string]any
	score         *score
	durationMS    int64
	hasDuration   bool
	at            int64
	voids         string
}

type score struct{ raw, min, max, scaled float64 }

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func sub(m map[string]any, k string) map[string]any {
	v, _ := m[k].(map[string]any)
	return v
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// agentKey identifies an agent by its inverse functional identifier.
func agentKey(a map[string]any) string {
	switch {
	case str(a, "mbox") != "":
		return "mbox:" + strings.ToLower(str(a, "mbox"))
	case str(a, "mbox_sha1sum") != "":
		return "sha1:" + strings.ToLower(str(a, "mbox_sha1sum"))
	case str(a, "openid") != "":
		return "openid:" + str(a, "openid")
	}
	if acc := sub(a, "account"); acc != nil {
		return "account:" + str(acc, "homePage") + "|" + str(acc, "name")
	}
	return ""
}

var durationRE = regexp.MustCompile(`^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// durationMS reads an ISO 8601 duration of days, hours, minutes, seconds.
func durationMS(s string) (int64, bool) {
	m := durationRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	var ms float64
	for i, unit := range []float64{86400e3, 3600e3, 60e3, 1e3} {
		if m[i+1] != "" {
			f, _ := strconv.ParseFloat(m[i+1], 64)
			ms += f * unit
		}
	}
	return int64(math.Round(ms)), true
}

func parse(st Statement) parsed {
	b := st.Body
	p := parsed{verb: str(sub(b, "verb"), "id"), at: st.Stored}
	if a := sub(b, "actor"); a != nil {
		p.actor = agentKey(a)
		p.label = str(a, "name")
		if p.label == "" {
			p.label = str(sub(a, "account"), "name")
		}
	}
	if ts, err := time.Parse(time.RFC3339Nano, str(b, "timestamp")); err == nil {
		p.at = ts.UnixMilli()
	}
	obj := sub(b, "object")
	if str(obj, "objectType") == "StatementRef" {
		p.voids = str(obj, "id")
	} else if t := str(obj, "objectType"); t == "" || t == "Activity" {
		p.activity = str(obj, "id")
		if t := str(sub(obj, "definition"), "type"); t != "" {
			p.activityTypes = append(p.activityTypes, t)
		}
	}
	if ctx := sub(b, "context"); ctx != nil {
		p.ext = sub(ctx, "extensions")
		for kind, v := range sub(ctx, "contextActivities") {
			list, _ := v.([]any)
			if m, ok := v.(map[string]any); ok {
				list = []any{m}
			}
			for _, x := range list {
				a, _ := x.(map[string]any)
				if kind == "category" {
					p.categories = append(p.categories, str(a, "id"))
				}
				if t := str(sub(a, "definition"), "type"); t != "" {
					p.activityTypes = append(p.activityTypes, t)
				}
			}
		}
	}
	if r := sub(b, "result"); r != nil {
		if d, ok := durationMS(str(r, "duration")); ok {
			p.durationMS, p.hasDuration = d, true
		}
		if sc := sub(r, "score"); sc != nil {
			var s score
			var okRaw, okMax, okScaled bool
			s.raw, okRaw = num(sc["raw"])
			s.min, _ = num(sc["min"])
			s.max, okMax = num(sc["max"])
			s.scaled, okScaled = num(sc["scaled"])
			if !okScaled && okRaw && okMax && s.max > s.min {
				s.scaled, okScaled = (s.raw-s.min)/(s.max-s.min), true
			}
			if okScaled {
				s.scaled = math.Max(0, math.Min(1, s.scaled))
				p.score = &s
			}
		}
	}
	return p
}

func (p parsed) has(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (p parsed) extString(base, name string) string {
	v, ok := p.ext[Ext(base, name)]
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return strings.TrimSpace(s)
	}
	if f, ok := num(v); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return ""
}

func (p parsed) extNum(base, name string) (float64, bool) {
	v, ok := p.ext[Ext(base, name)]
	if !ok {
		return 0, false
	}
	return num(v)
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// orgIDOf is the last element of a materialised path (/1/4/17/ → 17).
func orgIDOf(path string) int64 {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	id, _ := strconv.ParseInt(parts[len(parts)-1], 10, 64)
	return id
}

// who decides the role and class of the actor: the roster (through
// People) for the platform's users, else the record's own role and class
// extensions; anyone else counts as a learner.
func (s *Service) who(ctx context.Context, st Statement, p parsed, cache map[int64]Person) (Person, error) {
	var per Person
	if st.UserID != 0 && s.people != nil {
		if c, ok := cache[st.UserID]; ok {
			per = c
		} else {
			var err error
			if per, err = s.people.Person(ctx, st.UserID); err != nil {
				return per, err
			}
			if cache != nil {
				cache[st.UserID] = per
			}
		}
	}
	if per.Role == "" {
		switch p.extString(s.cfg.BaseURL, ExtRole) {
		case RoleTeacher:
			per.Role = RoleTeacher
		default:
			per.Role = RoleStudent
		}
	}
	if per.Class == "" && per.Role == RoleStudent {
		per.Class = cut(p.extString(s.cfg.BaseURL, ExtClass), 64)
	}
	return per, nil
}

// build works out a statement's contribution (the watching time is added
// in apply, which knows what was seen before). ok is false when the
// statement counts for nothing.
func (s *Service) build(st Statement, p parsed, per Person) (contrib, bool) {
	if p.actor == "" || st.OrgPath == "" || p.verb == verbVoided {
		return contrib{}, false
	}
	base := s.cfg.BaseURL
	c := contrib{Week: WeekOf(p.at), OrgID: orgIDOf(st.OrgPath), OrgPath: st.OrgPath, Class: per.Class}
	label := cut(p.label, 100)
	exam := p.verb == verbScored
	switch {
	case per.Role == RoleTeacher:
		c.Class = ""
		c.Members = append(c.Members, member{M: mActiveTeachers, Member: p.actor, Label: label})
	case !exam:
		// Exam candidates are named by their admission number, not their
		// platform account: their scores count for the exam figures, not
		// as activity (which would count a student twice).
		c.Members = append(c.Members, member{M: mActiveStudents, Member: p.actor, Label: label})
	}
	video := p.has(p.activityTypes, typeVideo) || p.has(p.categories, profileVideo)
	lesson := p.has(p.activityTypes, typeLesson)
	if video && p.activity != "" && p.verb == verbShared {
		c.Aggs = append(c.Aggs, inc{M: mUploads})
		c.Members = append(c.Members, member{M: mUploaders, Member: p.actor, Label: label})
		video = false // adding a video is not watching it, nor teaching with it
	}
	if video && p.activity != "" {
		c.Members = append(c.Members, member{M: mViewers, Member: p.actor, Label: label}, member{M: mVideos, Member: p.activity})
		switch p.verb {
		case verbPlayed:
			c.Aggs = append(c.Aggs, inc{M: mVideoPlays})
		case verbCompleted:
			c.Aggs = append(c.Aggs, inc{M: mVideoDone})
		}
		if p.hasDuration {
			c.Watch = &watch{Actor: p.actor, Activity: p.activity, CumMS: p.durationMS}
		}
	}
	if per.Role == RoleTeacher && (video || lesson) {
		class := cut(p.extString(base, ExtClass), 64)
		c.Members = append(c.Members, member{M: mLessons, Member: p.actor + "|" + dayOf(p.at) + "|" + class})
	}
	if exam && p.score != nil && p.activity != "" {
		site := cut(p.extString(base, ExtSite), 64)
		band := int(p.score.scaled * 10)
		if band > 9 {
			band = 9
		}
		c.Aggs = append(c.Aggs, inc{M: mAnswers, Dim: site, Total: p.score.scaled}, inc{M: mBand, Dim: strconv.Itoa(band)})
		c.Members = append(c.Members, member{M: mCandidates, Dim: site, Member: p.actor, Label: label})
		m, okM := p.extNum(base, ExtMachineScore)
		h, okH := p.extNum(base, ExtHumanScore)
		if okM && okH && p.score.max > p.score.min {
			span := p.score.max - p.score.min
			tol, ok := p.extNum(base, ExtTolerance)
			if !ok || tol < 0 {
				tol = span / 10
			}
			agree := 0.0
			if math.Abs(m-h) <= tol+1e-9 {
				agree = 1
			}
			c.Aggs = append(c.Aggs, inc{M: mDouble, Dim: site, Total: agree}, inc{M: mGap, Dim: site, Total: math.Abs(m-h) / span})
		}
	}
	return c, true
}

// Ingest counts one stored statement (or, for a voiding statement, takes
// back the one it voids). Delivering the same statement again changes
// nothing.
func (s *Service) Ingest(ctx context.Context, st Statement) error {
	return s.IngestBatch(ctx, []Statement{st}, nil)
}

// IngestBatch counts statements in one transaction; cache (may be nil)
// keeps the roster answers across batches.
func (s *Service) IngestBatch(ctx context.Context, sts []Statement, cache map[int64]Person) error {
	type item struct {
		st  Statement
		p   parsed
		per Person
	}
	items := make([]item, 0, len(sts))
	for _, st := range sts {
		p := parse(st)
		var per Person
		if p.voids == "" && p.actor != "" {
			var err error
			if per, err = s.who(ctx, st, p, cache); err != nil {
				return fmt.Errorf("insight: who is %d: %w", st.UserID, err)
			}
		}
		items = append(items, item{st, p, per})
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		for _, it := range items {
			if it.p.verb == verbVoided && it.p.voids != "" {
				if err := s.takeBack(ctx, tx, it.p.voids, true); err != nil {
					return err
				}
				continue
			}
			var seen int
			err := tx.QueryRow(ctx, "SELECT 1 FROM insight_facts WHERE statement_id = ?", it.st.ID).Scan(&seen)
			if err == nil {
				continue // counted already (or voided before it arrived)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			c, ok := s.build(it.st, it.p, it.per)
			if ok {
				if err := s.apply(ctx, tx, &c, 1); err != nil {
					return fmt.Errorf("insight: statement %s: %w", it.st.ID, err)
				}
			}
			b, _ := json.Marshal(c)
			if _, err := tx.Exec(ctx, "INSERT INTO insight_facts (statement_id, stored, week, org_id, contrib) VALUES (?, ?, ?, ?, ?)",
				it.st.ID, it.st.Stored, c.Week, c.OrgID, string(b)); err != nil {
				return err
			}
		}
		return nil
	})
}

// takeBack removes what a statement added. With tombstone, a fact with
// nothing in it stays, so that a late delivery of a voided statement is
// not counted.
func (s *Service) takeBack(ctx context.Context, tx *db.Tx, id string, tombstone bool) error {
	var raw string
	err := tx.QueryRow(ctx, "SELECT contrib FROM insight_facts WHERE statement_id = ?", id).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		if tombstone {
			_, err = tx.Exec(ctx, "INSERT INTO insight_facts (statement_id, stored, week, org_id, contrib) VALUES (?, 0, 0, 0, '{}')", id)
		}
		return err
	}
	if err != nil {
		return err
	}
	var c contrib
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return fmt.Errorf("insight: fact %s: %w", id, err)
	}
	if c.OrgID != 0 {
		if err := s.apply(ctx, tx, &c, -1); err != nil {
			return err
		}
	}
	if tombstone {
		_, err = tx.Exec(ctx, "UPDATE insight_facts SET contrib = '{}', week = 0, org_id = 0 WHERE statement_id = ?", id)
	} else {
		_, err = tx.Exec(ctx, "DELETE FROM insight_facts WHERE statement_id = ?", id)
	}
	return err
}

// apply adds (sign 1) or takes back (sign −1) a contribution.
func (s *Service) apply(ctx context.Context, tx *db.Tx, c *contrib, sign int64) error {
	if c.Watch != nil {
		var prev int64
		err := tx.QueryRow(ctx, "SELECT watched_ms FROM insight_watch WHERE actor = ? AND activity = ?", c.Watch.Actor, c.Watch.Activity).Scan(&prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		switch {
		case sign > 0:
			// What the statement adds is the increase of the cumulative
			// time over the most seen before.
			c.Watch.DeltaMS = max(0, c.Watch.CumMS-prev)
			if c.Watch.DeltaMS > 0 {
				if _, err := tx.Exec(ctx, `INSERT INTO insight_watch (actor, activity, watched_ms) VALUES (?, ?, ?)
					ON CONFLICT (actor, activity) DO UPDATE SET watched_ms = excluded.watched_ms`, c.Watch.Actor, c.Watch.Activity, c.Watch.CumMS); err != nil {
					return err
				}
			}
		case prev > c.Watch.CumMS:
			// A later record of the same person and video reported more:
			// the time was watched whatever this one said, so it stays.
			c.Watch.DeltaMS = 0
		case c.Watch.DeltaMS > 0:
			if _, err := tx.Exec(ctx, "UPDATE insight_watch SET watched_ms = watched_ms - ? WHERE actor = ? AND activity = ?",
				c.Watch.DeltaMS, c.Watch.Actor, c.Watch.Activity); err != nil {
				return err
			}
		}
	}
	aggs := c.Aggs
	if c.Watch != nil {
		aggs = append(aggs[:len(aggs):len(aggs)], inc{M: mWatchMS, Total: float64(c.Watch.DeltaMS)})
	}
	for _, t := range targets(c) {
		for _, a := range aggs {
			if err := s.addAgg(ctx, tx, t, a, sign); err != nil {
				return err
			}
		}
		for _, m := range c.Members {
			if err := s.addMember(ctx, tx, t, m, sign); err != nil {
				return err
			}
		}
	}
	return nil
}

// target is one row key a contribution goes to.
type target struct {
	week    int64
	orgID   int64
	orgPath string
	class   string
}

// AllClasses is the class of the rows holding an organisation's whole
// subtree.
const AllClasses = "*"

// targets are where a contribution is counted: the statement's own
// organisation and class (its class breakdown), and the whole-subtree rows
// of that organisation and each of its ancestors (so a district or the
// city is read from its own few rows, and a person active in two schools
// counts once in their district).
func targets(c *contrib) []target {
	ids := strings.Split(strings.Trim(c.OrgPath, "/"), "/")
	out := make([]target, 0, len(ids)+1)
	path := "/"
	for _, id := range ids {
		path += id + "/"
		n, _ := strconv.ParseInt(id, 10, 64)
		out = append(out, target{week: c.Week, orgID: n, orgPath: path, class: AllClasses})
	}
	return append(out, target{week: c.Week, orgID: c.OrgID, orgPath: c.OrgPath, class: c.Class})
}

func (s *Service) addMember(ctx context.Context, tx *db.Tx, t target, m member, sign int64) error {
	var n int64
	if sign > 0 {
		err := tx.QueryRow(ctx, `INSERT INTO insight_members (measure, week, org_id, org_path, class, dim, member, label, n) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)
			ON CONFLICT (org_id, class, measure, week, dim, member) DO UPDATE SET n = insight_members.n + 1 RETURNING n`,
			m.M, t.week, t.orgID, t.orgPath, t.class, m.Dim, m.Member, m.Label).Scan(&n)
		if err != nil || n != 1 {
			return err
		}
	} else {
		err := tx.QueryRow(ctx, `UPDATE insight_members SET n = n - 1 WHERE measure = ? AND week = ? AND org_id = ? AND class = ? AND dim = ? AND member = ? RETURNING n`,
			m.M, t.week, t.orgID, t.class, m.Dim, m.Member).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && n > 0) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM insight_members WHERE measure = ? AND week = ? AND org_id = ? AND class = ? AND dim = ? AND member = ?`,
			m.M, t.week, t.orgID, t.class, m.Dim, m.Member); err != nil {
			return err
		}
	}
	return s.addAgg(ctx, tx, t, inc{M: m.M, Dim: m.Dim}, sign)
}

func (s *Service) addAgg(ctx context.Context, tx *db.Tx, t target, a inc, sign int64) error {
	if sign > 0 {
		_, err := tx.Exec(ctx, `INSERT INTO insight_agg (measure, week, org_id, org_path, class, dim, n, total) VALUES (?, ?, ?, ?, ?, ?, 1, ?)
			ON CONFLICT (org_id, measure, week, class, dim) DO UPDATE SET n = insight_agg.n + 1, total = insight_agg.total + excluded.total`,
			a.M, t.week, t.orgID, t.orgPath, t.class, a.Dim, a.Total)
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE insight_agg SET n = n - 1, total = total - ? WHERE measure = ? AND week = ? AND org_id = ? AND class = ? AND dim = ?`,
		a.Total, a.M, t.week, t.orgID, t.class, a.Dim); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM insight_agg WHERE measure = ? AND week = ? AND org_id = ? AND class = ? AND dim = ? AND n <= 0`,
		a.M, t.week, t.orgID, t.class, a.Dim)
	return err
}

// RecomputeReport says what a recompute did.
type RecomputeReport struct {
	Statements int   `json:"statements"`
	TakenBack  int   `json:"taken_back"`
	Millis     int64 `json:"ms"`
}

// Recompute rebuilds the indicators from the store, in pages: all of
// them when since and until are 0, else those of the statements stored in
// (since, until] (each fact of the range taken back, then the range
// counted again). Running it twice gives the same figures.
func (s *Service) Recompute(ctx context.Context, src Source, since, until int64, progress func(RecomputeReport)) (RecomputeReport, error) {
	start := time.Now()
	var rep RecomputeReport
	full := since == 0 && until == 0
	if full {
		since = -1
		if err := s.db.InTx(ctx, func(tx *db.Tx) error {
			for _, t := range []string{"insight_facts", "insight_agg", "insight_members", "insight_watch"} {
				if _, err := tx.Exec(ctx, "DELETE FROM "+t); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return rep, err
		}
	} else {
		for {
			q := "SELECT statement_id FROM insight_facts WHERE stored > ?"
			args := []any{since}
			if until > 0 {
				q += " AND stored <= ?"
				args = append(args, until)
			}
			ids, err := s.strings(ctx, q+" ORDER BY stored DESC LIMIT 500", args...)
			if err != nil {
				return rep, err
			}
			if len(ids) == 0 {
				break
			}
			if err := s.db.InTx(ctx, func(tx *db.Tx) error {
				for _, id := range ids {
					if err := s.takeBack(ctx, tx, id, false); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return rep, err
			}
			rep.TakenBack += len(ids)
		}
	}
	cache := map[int64]Person{}
	var after *Cursor
	for {
		page, err := src.Statements(ctx, after, since, until, 500)
		if err != nil {
			return rep, err
		}
		if len(page) == 0 {
			break
		}
		if err := s.IngestBatch(ctx, page, cache); err != nil {
			return rep, err
		}
		rep.Statements += len(page)
		last := page[len(page)-1]
		after = &Cursor{Stored: last.Stored, ID: last.ID}
		if progress != nil {
			rep.Millis = time.Since(start).Milliseconds()
			progress(rep)
		}
		if len(cache) > 100000 {
			clear(cache)
		}
	}
	rep.Millis = time.Since(start).Milliseconds()
	return rep, nil
}

func (s *Service) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
