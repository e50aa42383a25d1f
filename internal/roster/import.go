package roster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
	"jnedu/internal/platform/tabular"
)

// Import formats.
const (
	FormatAuto      = "auto"
	FormatCSV       = "csv" // Chinese CSV or XLSX as school systems export them
	FormatOneRoster = "oneroster"
)

// MaxProblems bounds the problems a report lists; the counts stay exact.
const MaxProblems = 5000

// ImportOptions say how to read a file.
type ImportOptions struct {
	Format string // auto, csv or oneroster
	// Source names where the records come from; rows are keyed by
	// (source, sourcedId). Default: "csv" for spreadsheets (keyed by
	// 学籍号/工号, which are unique nationally), "oneroster" for OneRoster.
	Source string
	// SchoolYear is the 学年 of classes a spreadsheet does not date
	// (default: the current one, starting in August).
	SchoolYear string
	DryRun     bool
	Limits     tabular.Limits
	// T translates the report's messages (nil: the keys are left).
	T func(key string, args ...any) string
}

// Problem is one thing wrong with one row.
type Problem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line"`
	Field   string `json:"field,omitempty"`
	Key     string `json:"key"`
	Message string `json:"message"`
}

// Report says what an import found and did. Applied is true only when
// every row was valid and all were written in one transaction.
type Report struct {
	Format     string    `json:"format"`
	Source     string    `json:"source"`
	Filename   string    `json:"filename"`
	Files      []string  `json:"files,omitempty"` // OneRoster: the files read and their mode
	DryRun     bool      `json:"dry_run"`
	Applied    bool      `json:"applied"`
	Rows       int       `json:"rows"`
	Invalid    int       `json:"invalid_rows"`
	Skipped    int       `json:"skipped_rows"` // rows of no concern to the roster (e.g. guardians)
	Problems   []Problem `json:"problems"`
	More       int       `json:"more_problems,omitempty"` // problems beyond MaxProblems
	Classes    Counts    `json:"classes"`
	Students   Counts    `json:"students"`
	Teachers   Counts    `json:"teachers"`
	Enrolments Counts    `json:"enrolments"`
}

// ---- the batch: what a file says, format-independent ----

type classRec struct {
	file       string
	line       int
	sid        string
	org        identity.Org
	name       string
	grade      string
	schoolYear string
	typ        string
	subject    string
	deleted    bool
}

type personRec struct {
	file      string
	line      int
	kind      string
	sid       string
	org       identity.Org
	number    string
	name      string
	gender    string
	birth     string
	ethnicity string
	grade     string
	idEnc     string
	idHash    string
	idMasked  string
	userID    int64
	deleted   bool
	patchOnly bool // OneRoster demographics for a person not in this file
}

type enrolRec struct {
	file       string
	line       int
	sid        string
	classSID   string
	personKind string
	personSID  string
	role       string
	subject    string
	deleted    bool
}

type orgMapRec struct {
	sid, name, kind string
	orgID           int64
}

type batch struct {
	s        *Service
	actor    *identity.Principal
	opt      ImportOptions
	rep      *Report
	source   string
	orgMaps  []orgMapRec
	classes  []*classRec
	people   []*personRec
	enrols   []*enrolRec
	classBy  map[string]*classRec
	personBy map[string]*personRec // kind|sid
	enrolBy  map[string]*enrolRec
	// bulk lists the entities the file holds completely: rows of the
	// source missing from it are withdrawn.
	bulk     map[string]bool
	badLines map[string]bool
	ex       *existing
	orgs     map[string]*identity.Org // resolved school codes/names (nil: none)
	users    map[string]int64
}

func newBatch(s *Service, actor *identity.Principal, opt ImportOptions, rep *Report) *batch {
	return &batch{s: s, actor: actor, opt: opt, rep: rep, source: opt.Source,
		classBy: map[string]*classRec{}, personBy: map[string]*personRec{}, enrolBy: map[string]*enrolRec{},
		bulk: map[string]bool{}, badLines: map[string]bool{}, orgs: map[string]*identity.Org{}, users: map[string]int64{}}
}

func (b *batch) T(key string, args ...any) string {
	if b.opt.T == nil {
		return key
	}
	return b.opt.T(key, args...)
}

// bad records a problem with a row.
func (b *batch) bad(file string, line int, field, key string, args ...any) {
	lk := file + ":" + strconv.Itoa(line)
	if !b.badLines[lk] {
		b.badLines[lk] = true
		b.rep.Invalid++
	}
	if len(b.rep.Problems) >= MaxProblems {
		b.rep.More++
		return
	}
	b.rep.Problems = append(b.rep.Problems, Problem{File: file, Line: line, Field: field, Key: key, Message: b.T(key, args...)})
}

func (b *batch) addClass(c *classRec) {
	if prev, ok := b.classBy[c.sid]; ok {
		// The same class named again (by another student's row): it must agree.
		if prev.org.ID != c.org.ID || prev.deleted != c.deleted {
			b.bad(c.file, c.line, "class", "roster.err_class_conflict", c.name)
		}
		return
	}
	b.classBy[c.sid] = c
	b.classes = append(b.classes, c)
}

func personKey(kind, sid string) string { return kind + "|" + sid }

// school resolves a school by code or by name; nil when unknown.
func (b *batch) school(ctx context.Context, code, name string) (*identity.Org, error) {
	key := "code:" + code
	if code == "" {
		key = "name:" + name
	}
	if o, ok := b.orgs[key]; ok {
		return o, nil
	}
	var found *identity.Org
	if code != "" {
		o, err := b.s.dir.OrgByCode(ctx, code)
		if err == nil && o.Kind == identity.KindSchool {
			found = &o
		} else if err != nil && apperr.CodeOf(err) != apperr.NotFound {
			return nil, err
		}
	} else if name != "" {
		os, err := b.s.dir.Orgs(ctx, identity.OrgFilter{Kinds: []identity.OrgKind{identity.KindSchool}, Search: name, Limit: 50})
		if err != nil {
			return nil, err
		}
		for _, o := range os {
			if o.Name == name {
				o := o
				found = &o
				break
			}
		}
	}
	b.orgs[key] = found
	return found, nil
}

// user finds the identity user a person maps to (0: none).
func (b *batch) user(ctx context.Context, names ...string) (int64, error) {
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" {
			continue
		}
		if id, ok := b.users[n]; ok {
			if id != 0 {
				return id, nil
			}
			continue
		}
		u, err := b.s.dir.UserByName(ctx, n)
		if err != nil && apperr.CodeOf(err) != apperr.NotFound {
			return 0, err
		}
		b.users[n] = u.ID
		if err == nil {
			return u.ID, nil
		}
	}
	return 0, nil
}

// protectID validates and seals an ID number into p; false when invalid
// (the problem is recorded).
func (b *batch) protectID(p *personRec, raw string) bool {
	id := NormalizeID(raw)
	if id == "" {
		return true
	}
	birth, err := ValidateID(id)
	if err != nil {
		key := map[error]string{errIDLength: "roster.err_id_length", errIDChars: "roster.err_id_chars",
			errIDBirth: "roster.err_id_birth", errIDChecksum: "roster.err_id_checksum"}[err]
		b.bad(p.file, p.line, "id_number", key, MaskID(id))
		return false
	}
	if p.birth == "" {
		p.birth = birth
	} else if p.birth != birth {
		b.bad(p.file, p.line, "birth_date", "roster.err_birth_mismatch", p.birth)
	}
	// GB 11643: the sequence code is odd for men, even for women.
	want := "2"
	if (id[16]-'0')%2 == 1 {
		want = "1"
	}
	switch p.gender {
	case "":
		p.gender = want
	case "1", "2":
		if p.gender != want {
			b.bad(p.file, p.line, "gender", "roster.err_gender_mismatch")
		}
	}
	enc, err := b.s.prot.Seal(id)
	if err != nil {
		b.bad(p.file, p.line, "id_number", "roster.err_internal")
		return false
	}
	p.idEnc, p.idHash, p.idMasked = enc, b.s.prot.Hash(id), MaskID(id)
	return true
}

// protectNumber handles a 学籍号 that embeds the person's ID number (the
// national student number is "G" followed by it): the number is shown
// with the ID part masked, and when it is also the row's key (spreadsheets
// key students by 学籍号) the key becomes its keyed hash, so the plain ID
// number is stored nowhere.
func (b *batch) protectNumber(p *personRec) {
	n := p.number
	if len(n) < 18 {
		return
	}
	id := NormalizeID(n[len(n)-18:])
	if _, err := ValidateID(id); err != nil {
		return
	}
	if p.sid == p.number {
		p.sid = "h:" + b.s.prot.Hash(strings.ToUpper(n))
	}
	p.number = n[:len(n)-18] + MaskID(id)
}

// checkOrg makes sure the actor may import into org, and (for a person
// or class that exists) into the organisation it is in now.
func (b *batch) checkOrg(file string, line int, org identity.Org, prevPath string) bool {
	if b.actor == nil {
		return true
	}
	if !b.actor.CanIn(PermManage, org) {
		b.bad(file, line, "school", "roster.err_school_forbidden", org.Code)
		return false
	}
	if prevPath != "" && !b.actor.CanIn(PermManage, identity.Org{Path: prevPath}) {
		b.bad(file, line, "school", "roster.err_other_school")
		return false
	}
	return true
}

// finish checks what needs the whole batch: references, duplicates,
// permissions over the rows that exist already.
func (b *batch) finish(ctx context.Context) error {
	ex, err := loadExisting(ctx, b.s.db, b.source)
	if err != nil {
		return err
	}
	b.ex = ex
	for _, c := range b.classes {
		if e, ok := ex.classes[c.sid]; ok {
			b.checkOrg(c.file, c.line, c.org, e.orgPath)
		}
	}
	idSeen := map[string]*personRec{}
	for _, p := range b.people {
		e, ok := ex.people[personKey(p.kind, p.sid)]
		if p.patchOnly {
			if !ok {
				b.bad(p.file, p.line, "sourcedId", "roster.err_user_unknown", p.sid)
			} else {
				b.checkOrg(p.file, p.line, identity.Org{Path: e.orgPath, Code: p.sid}, "")
			}
			continue
		}
		if ok {
			b.checkOrg(p.file, p.line, p.org, e.orgPath)
		}
		if p.idHash != "" && !p.deleted {
			k := p.kind + p.idHash
			if prev, dup := idSeen[k]; dup {
				b.bad(p.file, p.line, "id_number", "roster.err_id_duplicate", prev.line)
			} else {
				idSeen[k] = p
			}
		}
	}
	for _, e := range b.enrols {
		if e.deleted {
			x, ok := ex.enrols[e.sid]
			if !ok || (b.actor != nil && !b.actor.CanIn(PermManage, identity.Org{Path: x.orgPath})) {
				b.bad(e.file, e.line, "sourcedId", "roster.err_enrolment_unknown", e.sid)
			}
			continue
		}
		c, inBatch := b.classBy[e.classSID]
		if !inBatch {
			ec, ok := ex.classes[e.classSID]
			if !ok || ec.status != StatusActive {
				b.bad(e.file, e.line, "classSourcedId", "roster.err_class_unknown", e.classSID)
				continue
			}
			if b.actor != nil && !b.actor.CanIn(PermManage, identity.Org{Path: ec.orgPath}) {
				b.bad(e.file, e.line, "classSourcedId", "roster.err_class_unknown", e.classSID)
				continue
			}
		} else if c.deleted {
			b.bad(e.file, e.line, "classSourcedId", "roster.err_class_deleted", e.classSID)
			continue
		}
		pk := personKey(e.personKind, e.personSID)
		if p, ok := b.personBy[pk]; ok && !p.patchOnly {
			if p.deleted {
				b.bad(e.file, e.line, "userSourcedId", "roster.err_user_deleted", e.personSID)
			}
			continue
		}
		ep, ok := ex.people[pk]
		if !ok || ep.status != StatusActive || (b.actor != nil && !b.actor.CanIn(PermManage, identity.Org{Path: ep.orgPath})) {
			b.bad(e.file, e.line, "userSourcedId", "roster.err_user_unknown", e.personSID)
		}
	}
	return nil
}

// ---- what is stored already ----

type exRow struct {
	id      int64
	status  string
	orgPath string
	orgID   int64
}

type existing struct {
	classes map[string]exRow // sid
	people  map[string]exRow // kind|sid
	enrols  map[string]exRow // sid
}

func loadExisting(ctx context.Context, q db.Querier, source string) (*existing, error) {
	ex := &existing{classes: map[string]exRow{}, people: map[string]exRow{}, enrols: map[string]exRow{}}
	load := func(query string, into func(sid string, r exRow)) error {
		rows, err := q.Query(ctx, query, source)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var sid string
			var r exRow
			if err := rows.Scan(&r.id, &sid, &r.status, &r.orgPath, &r.orgID); err != nil {
				return err
			}
			into(sid, r)
		}
		return rows.Err()
	}
	if err := load("SELECT id, sourced_id, status, org_path, org_id FROM roster_classes WHERE source = ?",
		func(sid string, r exRow) { ex.classes[sid] = r }); err != nil {
		return nil, fmt.Errorf("load classes: %w", err)
	}
	if err := load("SELECT id, kind || '|' || sourced_id, status, org_path, org_id FROM roster_people WHERE source = ?",
		func(sid string, r exRow) { ex.people[sid] = r }); err != nil {
		return nil, fmt.Errorf("load people: %w", err)
	}
	if err := load("SELECT e.id, e.sourced_id, e.status, c.org_path, c.org_id FROM roster_enrolments e JOIN roster_classes c ON c.id = e.class_id WHERE e.source = ?",
		func(sid string, r exRow) { ex.enrols[sid] = r }); err != nil {
		return nil, fmt.Errorf("load enrolments: %w", err)
	}
	return ex, nil
}

// ---- entry point ----

// Import reads a roster file and applies it whole, or nothing when any row
// is wrong (or when opt.DryRun). The report lists every problem by file,
// line and field. actor nil means the system (the command line).
func (s *Service) Import(ctx context.Context, actor *identity.Principal, r io.Reader, filename string, opt ImportOptions) (*Report, error) {
	if actor != nil && !actor.Can(PermManage) {
		return nil, apperr.New(apperr.Forbidden, "err.forbidden")
	}
	if s.prot == nil {
		return nil, errors.New("roster: no ID-number key configured")
	}
	lim := opt.Limits
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = tabular.DefaultMaxBytes
	}
	if lim.MaxRows <= 0 {
		lim.MaxRows = tabular.DefaultMaxRows
	}
	opt.Limits = lim
	data, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	if int64(len(data)) > lim.MaxBytes {
		return nil, apperr.New(apperr.TooLarge, "roster.err_too_large", lim.MaxBytes>>20)
	}
	if opt.Format == "" || opt.Format == FormatAuto {
		opt.Format = detectFormat(data, filename)
	}
	if opt.Format != FormatCSV && opt.Format != FormatOneRoster {
		return nil, apperr.Field("format", "roster.err_format")
	}
	if opt.Source == "" {
		opt.Source = opt.Format
	}
	opt.Source = strings.ToLower(strings.TrimSpace(opt.Source))
	if !sourceRE.MatchString(opt.Source) {
		return nil, apperr.Field("source", "roster.err_source")
	}
	if opt.SchoolYear == "" {
		opt.SchoolYear = s.currentSchoolYear()
	} else if y, ok := parseSchoolYear(opt.SchoolYear); ok {
		opt.SchoolYear = y
	} else {
		return nil, apperr.Field("school_year", "roster.err_school_year")
	}
	rep := &Report{Format: opt.Format, Source: opt.Source, Filename: filename, DryRun: opt.DryRun, Problems: []Problem{}}
	b := newBatch(s, actor, opt, rep)
	switch opt.Format {
	case FormatCSV:
		err = b.readSpreadsheet(ctx, data, filename)
	case FormatOneRoster:
		err = b.readOneRoster(ctx, data)
	}
	if err != nil {
		return rep, err
	}
	if err := b.finish(ctx); err != nil {
		return rep, err
	}
	if rep.Invalid > 0 {
		return rep, nil
	}
	if opt.DryRun {
		b.count(b.ex)
		return rep, nil
	}
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		ex, err := loadExisting(ctx, tx, b.source)
		if err != nil {
			return err
		}
		return b.apply(ctx, tx, ex)
	})
	if err != nil {
		return rep, err
	}
	rep.Applied = true
	return rep, nil
}

var sourceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.:-]{0,39}$`)

// detectFormat: a zip with manifest.csv is OneRoster, anything else a spreadsheet.
func detectFormat(data []byte, filename string) string {
	if len(data) > 4 && string(data[:4]) == "PK\x03\x04" && zipHas(data, "manifest.csv") {
		return FormatOneRoster
	}
	return FormatCSV
}

// count fills the report's counts from what exists (a dry run).
func (b *batch) count(ex *existing) {
	rep := b.rep
	tally := func(c *Counts, exists bool, status string, deleted bool) {
		switch {
		case deleted && exists && status == StatusActive:
			c.Deleted++
		case deleted:
		case exists:
			c.Updated++
		default:
			c.Created++
		}
	}
	seen := map[string]bool{}
	for _, c := range b.classes {
		e, ok := ex.classes[c.sid]
		tally(&rep.Classes, ok, e.status, c.deleted)
		seen[c.sid] = true
	}
	if b.bulk["classes"] {
		for sid, e := range ex.classes {
			if !seen[sid] && e.status == StatusActive {
				rep.Classes.Deleted++
			}
		}
	}
	clear(seen)
	for _, p := range b.people {
		if p.patchOnly {
			continue
		}
		e, ok := ex.people[personKey(p.kind, p.sid)]
		c := &rep.Students
		if p.kind == KindTeacher {
			c = &rep.Teachers
		}
		tally(c, ok, e.status, p.deleted)
		seen[personKey(p.kind, p.sid)] = true
	}
	if b.bulk["people"] {
		for k, e := range ex.people {
			if !seen[k] && e.status == StatusActive {
				if strings.HasPrefix(k, KindTeacher+"|") {
					rep.Teachers.Deleted++
				} else {
					rep.Students.Deleted++
				}
			}
		}
	}
	clear(seen)
	for _, e := range b.enrols {
		x, ok := ex.enrols[e.sid]
		tally(&rep.Enrolments, ok, x.status, e.deleted)
		seen[e.sid] = true
	}
	if b.bulk["enrolments"] {
		for sid, e := range ex.enrols {
			if !seen[sid] && e.status == StatusActive {
				rep.Enrolments.Deleted++
			}
		}
	}
}

// upsertChunk is how many rows one INSERT … ON CONFLICT statement
// carries: few statements for a city's roster, well under both engines'
// limits on bound parameters (18 columns × 400 = 7,200).
const upsertChunk = 400

// upsert runs head + VALUES (…), (…) + tail for items in chunks; each
// item gives its row's arguments; scan reads RETURNING rows (nil: none).
func upsert[T any](ctx context.Context, tx *db.Tx, items []T, head string, cols int, tail string, args func(T) []any,
	scan func(rows *sql.Rows) error) error {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	for start := 0; start < len(items); start += upsertChunk {
		part := items[start:min(start+upsertChunk, len(items))]
		var q strings.Builder
		q.WriteString(head)
		q.WriteString(" VALUES ")
		vals := make([]any, 0, len(part)*cols)
		for i, it := range part {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(row)
			vals = append(vals, args(it)...)
		}
		q.WriteString(" ")
		q.WriteString(tail)
		if scan == nil {
			if _, err := tx.Exec(ctx, q.String(), vals...); err != nil {
				return err
			}
			continue
		}
		rows, err := tx.Query(ctx, q.String(), vals...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// withdraw marks rows tobedeleted by id.
func withdraw(ctx context.Context, tx *db.Tx, table string, ids []int64, now int64) error {
	for _, id := range ids {
		if _, err := tx.Exec(ctx, "UPDATE "+table+" SET status = ?, updated_at = ? WHERE id = ?", StatusDeleted, now, id); err != nil {
			return fmt.Errorf("withdraw from %s: %w", table, err)
		}
	}
	return nil
}

// apply writes the batch in the caller's transaction: upserts keyed by
// (source, sourcedId) in chunks, then the withdrawals.
func (b *batch) apply(ctx context.Context, tx *db.Tx, ex *existing) error {
	b.count(ex)
	now := b.s.ms()
	touched := map[int64]bool{}
	for _, m := range b.orgMaps {
		if _, err := tx.Exec(ctx, `INSERT INTO roster_orgs (source, sourced_id, org_id, name, kind, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (source, sourced_id) DO UPDATE SET org_id = excluded.org_id, name = excluded.name, kind = excluded.kind, updated_at = excluded.updated_at`,
			b.source, m.sid, m.orgID, m.name, m.kind, now); err != nil {
			return fmt.Errorf("org %s: %w", m.sid, err)
		}
	}

	// Classes.
	var live []*classRec
	var gone []int64
	seen := map[string]bool{}
	for _, c := range b.classes {
		seen[c.sid] = true
		e, ok := ex.classes[c.sid]
		if ok {
			touched[e.orgID] = true
		}
		switch {
		case c.deleted && ok:
			gone = append(gone, e.id)
		case !c.deleted:
			live = append(live, c)
			touched[c.org.ID] = true
		}
	}
	if b.bulk["classes"] {
		for sid, e := range ex.classes {
			if !seen[sid] && e.status == StatusActive {
				gone = append(gone, e.id)
				touched[e.orgID] = true
			}
		}
	}
	classIDs := map[string]int64{}
	err := upsert(ctx, tx, live, `INSERT INTO roster_classes (source, sourced_id, org_id, org_path, name, grade, school_year, class_type,
		subject, status, created_at, updated_at)`, 12, `ON CONFLICT (source, sourced_id) DO UPDATE SET org_id = excluded.org_id,
		org_path = excluded.org_path, name = excluded.name, grade = excluded.grade, school_year = excluded.school_year,
		class_type = excluded.class_type, subject = excluded.subject, status = excluded.status, updated_at = excluded.updated_at
		RETURNING id, sourced_id`,
		func(c *classRec) []any {
			return []any{b.source, c.sid, c.org.ID, c.org.Path, c.name, c.grade, c.schoolYear, c.typ, c.subject, StatusActive, now, now}
		},
		func(rows *sql.Rows) error {
			var id int64
			var sid string
			err := rows.Scan(&id, &sid)
			classIDs[sid] = id
			return err
		})
	if err != nil {
		return fmt.Errorf("classes: %w", err)
	}
	if err := withdraw(ctx, tx, "roster_classes", gone, now); err != nil {
		return err
	}

	// People.
	var people []*personRec
	gone = gone[:0]
	clear(seen)
	for _, p := range b.people {
		k := personKey(p.kind, p.sid)
		e, ok := ex.people[k]
		if ok {
			touched[e.orgID] = true
		}
		switch {
		case p.patchOnly:
			if _, err := tx.Exec(ctx, `UPDATE roster_people SET gender = COALESCE(NULLIF(?, ''), gender), birth_date = COALESCE(NULLIF(?, ''), birth_date),
				ethnicity = COALESCE(NULLIF(?, ''), ethnicity), updated_at = ? WHERE id = ?`, p.gender, p.birth, p.ethnicity, now, e.id); err != nil {
				return err
			}
		case p.deleted:
			seen[k] = true
			if ok {
				gone = append(gone, e.id)
			}
		default:
			seen[k] = true
			people = append(people, p)
			touched[p.org.ID] = true
		}
	}
	if b.bulk["people"] {
		for k, e := range ex.people {
			if !seen[k] && e.status == StatusActive {
				gone = append(gone, e.id)
				touched[e.orgID] = true
			}
		}
	}
	personIDs := map[string]int64{}
	err = upsert(ctx, tx, people, `INSERT INTO roster_people (kind, source, sourced_id, org_id, org_path, number, name, gender, birth_date,
		ethnicity, grade, id_enc, id_hash, id_masked, user_id, status, created_at, updated_at)`, 18,
		`ON CONFLICT (kind, source, sourced_id) DO UPDATE SET org_id = excluded.org_id, org_path = excluded.org_path,
		number = COALESCE(NULLIF(excluded.number, ''), roster_people.number), name = excluded.name,
		gender = COALESCE(NULLIF(excluded.gender, ''), roster_people.gender),
		birth_date = COALESCE(NULLIF(excluded.birth_date, ''), roster_people.birth_date),
		ethnicity = COALESCE(NULLIF(excluded.ethnicity, ''), roster_people.ethnicity),
		grade = COALESCE(NULLIF(excluded.grade, ''), roster_people.grade),
		id_enc = COALESCE(NULLIF(excluded.id_enc, ''), roster_people.id_enc),
		id_hash = COALESCE(NULLIF(excluded.id_hash, ''), roster_people.id_hash),
		id_masked = COALESCE(NULLIF(excluded.id_masked, ''), roster_people.id_masked),
		user_id = CASE WHEN excluded.user_id > 0 THEN excluded.user_id ELSE roster_people.user_id END,
		status = excluded.status, updated_at = excluded.updated_at
		RETURNING id, kind, sourced_id`,
		func(p *personRec) []any {
			return []any{p.kind, b.source, p.sid, p.org.ID, p.org.Path, p.number, p.name, p.gender, p.birth, p.ethnicity, p.grade,
				p.idEnc, p.idHash, p.idMasked, p.userID, StatusActive, now, now}
		},
		func(rows *sql.Rows) error {
			var id int64
			var kind, sid string
			err := rows.Scan(&id, &kind, &sid)
			personIDs[personKey(kind, sid)] = id
			return err
		})
	if err != nil {
		return fmt.Errorf("people: %w", err)
	}
	if err := withdraw(ctx, tx, "roster_people", gone, now); err != nil {
		return err
	}

	// Enrolments.
	type enrolRow struct {
		e        *enrolRec
		cid, pid int64
	}
	var enrols []enrolRow
	gone = gone[:0]
	clear(seen)
	for _, e := range b.enrols {
		seen[e.sid] = true
		x, ok := ex.enrols[e.sid]
		if ok {
			touched[x.orgID] = true
		}
		if e.deleted {
			if ok {
				gone = append(gone, x.id)
			}
			continue
		}
		cid, found := classIDs[e.classSID]
		if !found {
			cid = ex.classes[e.classSID].id
		}
		pk := personKey(e.personKind, e.personSID)
		pid, found := personIDs[pk]
		if !found {
			pid = ex.people[pk].id
		}
		if cid == 0 || pid == 0 {
			return fmt.Errorf("enrolment %s: class or person vanished", e.sid)
		}
		enrols = append(enrols, enrolRow{e, cid, pid})
	}
	if b.bulk["enrolments"] {
		for sid, e := range ex.enrols {
			if !seen[sid] && e.status == StatusActive {
				gone = append(gone, e.id)
				touched[e.orgID] = true
			}
		}
	}
	err = upsert(ctx, tx, enrols, `INSERT INTO roster_enrolments (source, sourced_id, class_id, person_id, role, subject, status, created_at, updated_at)`, 9,
		`ON CONFLICT (source, sourced_id) DO UPDATE SET class_id = excluded.class_id, person_id = excluded.person_id, role = excluded.role,
		subject = excluded.subject, status = excluded.status, updated_at = excluded.updated_at`,
		func(r enrolRow) []any {
			return []any{b.source, r.e.sid, r.cid, r.pid, r.e.role, r.e.subject, StatusActive, now, now}
		}, nil)
	if err != nil {
		return fmt.Errorf("enrolments: %w", err)
	}
	if err := withdraw(ctx, tx, "roster_enrolments", gone, now); err != nil {
		return err
	}

	delete(touched, 0)
	if b.s.bus == nil {
		return nil
	}
	ev := ImportedEvent{Source: b.source, Format: b.rep.Format, OrgIDs: []int64{}, Classes: b.rep.Classes, Students: b.rep.Students,
		Teachers: b.rep.Teachers, Enrolments: b.rep.Enrolments}
	if b.actor != nil {
		ev.ActorID = b.actor.User.ID
	}
	for id := range touched {
		ev.OrgIDs = append(ev.OrgIDs, id)
	}
	sort.Slice(ev.OrgIDs, func(i, j int) bool { return ev.OrgIDs[i] < ev.OrgIDs[j] })
	return events.PublishTx(ctx, tx, b.s.bus, TopicImported, ev)
}

// ---- small parsers ----

var yearRE = regexp.MustCompile(`^(\d{4})\s*(?:[-–—/~至]\s*(\d{4}))?\s*(?:学年(?:度)?)?$`)

// parseSchoolYear accepts "2025-2026", "2025—2026学年", "2025/2026" and
// "2025" (the year it starts).
func parseSchoolYear(s string) (string, bool) {
	m := yearRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return "", false
	}
	y, _ := strconv.Atoi(m[1])
	if m[2] != "" {
		if y2, _ := strconv.Atoi(m[2]); y2 != y+1 {
			return "", false
		}
	}
	if y < 1990 || y > 2100 {
		return "", false
	}
	return schoolYearOf(y), true
}

func schoolYearOf(start int) string { return fmt.Sprintf("%d-%d", start, start+1) }

var dateRE = regexp.MustCompile(`^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$`)

// parseDate accepts 2012-03-05, 2012/3/5, 2012.3.5, 2012年3月5日 and 20120305.
func parseDate(s string) (string, bool) {
	s = strings.TrimSpace(s)
	var y, m, d int
	if len(s) == 8 && strings.Trim(s, "0123456789") == "" {
		y, _ = strconv.Atoi(s[:4])
		m, _ = strconv.Atoi(s[4:6])
		d, _ = strconv.Atoi(s[6:])
	} else if mm := dateRE.FindStringSubmatch(s); mm != nil {
		y, _ = strconv.Atoi(mm[1])
		m, _ = strconv.Atoi(mm[2])
		d, _ = strconv.Atoi(mm[3])
	} else {
		return "", false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Year() != y || int(t.Month()) != m || t.Day() != d || y < 1900 || y > 2100 {
		return "", false
	}
	return t.Format("2006-01-02"), true
}
