package insight

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/tabular"
	"jnedu/internal/platform/web"
)

// PermView: the dashboards and figures of the organisations one's role
// covers (platform admins their subtree, school admins and teachers their
// school).
const PermView web.Perm = "insight.view"

// DefinePermissions declares the subsystem's permissions.
func DefinePermissions(r *identity.RBAC) {
	r.Define(PermView, identity.RolePlatformAdmin, identity.RoleSchoolAdmin, identity.RoleTeacher)
}

// Tiles for the portal.
func Tiles() []identity.Tile {
	return []identity.Tile{{Key: "insight.tile", DescKey: "insight.tile_desc", Href: "/insight", Perm: PermView, Group: "insight.group"}}
}

// Orgs is what the handlers need of the organisation tree;
// *identity.Service implements it.
type Orgs interface {
	VisibleOrg(ctx context.Context, actor *identity.Principal, perm web.Perm, id int64) (identity.Org, error)
	Org(ctx context.Context, id int64) (identity.Org, error)
	OrgByCode(ctx context.Context, code string) (identity.Org, error)
	Orgs(ctx context.Context, f identity.OrgFilter) ([]identity.Org, error)
	Record(ctx context.Context, q db.Querier, e identity.AuditEntry) error
}

// Handlers serve the dashboards, exports and API.
type Handlers struct {
	svc  *Service
	orgs Orgs
	rd   *web.Renderer
}

// NewHandlers makes the handlers.
func NewHandlers(svc *Service, orgs Orgs, rd *web.Renderer) *Handlers {
	return &Handlers{svc: svc, orgs: orgs, rd: rd}
}

// Routes lists the subsystem's routes.
func (h *Handlers) Routes() []web.Route {
	const tag = "insight"
	return []web.Route{
		{Method: "GET", Path: "/insight", Perm: PermView, Handler: h.home},
		{Method: "GET", Path: "/insight/orgs/{id}", Perm: PermView, Handler: h.dashboard},
		{Method: "GET", Path: "/insight/orgs/{id}/export", Perm: PermView, Handler: h.export},
		{Method: "GET", Path: "/api/v1/insight/indicators", Perm: PermView, Tag: tag, Summary: "The indicators with their definitions", Response: indicatorList{}, Handler: h.apiIndicators},
		{Method: "GET", Path: "/api/v1/insight/indicators/{key}", Perm: PermView, Tag: tag,
			Summary: "One indicator's figures (query: org, class, from, to as YYYY-MM-DD): the whole, its weekly trend, its parts (child organisations or classes) and its split by site or band; groups under the minimum size are hidden", Response: Figures{}, Handler: h.apiFigures},
		{Method: "GET", Path: "/api/v1/insight/orgs/{id}/students", Perm: PermView, Tag: tag,
			Summary: "A class's active students over a period (query: class, from, to), for the class's teachers and the school's administrators", Response: studentList{}, Handler: h.apiStudents},
	}
}

// IndicatorInfo describes an indicator in the API.
type IndicatorInfo struct {
	Key        string `json:"key"`
	Name       string `json:"name"`
	Definition string `json:"definition"`
	Unit       string `json:"unit"`
	Period     string `json:"period"`
	SplitBy    string `json:"split_by,omitempty"`
	ByClass    bool   `json:"by_class"`
}

type indicatorList struct {
	Indicators []IndicatorInfo `json:"indicators"`
	MinGroup   int             `json:"min_group"`
}

type studentList struct {
	Org      OrgRef       `json:"org"`
	Class    string       `json:"class"`
	From     string       `json:"from"`
	To       string       `json:"to"`
	Students []StudentRow `json:"students"`
}

func (h *Handlers) infos(r *http.Request) []IndicatorInfo {
	var out []IndicatorInfo
	for _, i := range Registry() {
		out = append(out, IndicatorInfo{Key: i.Key, Name: h.rd.T(r, i.NameKey()), Definition: h.rd.T(r, i.DefKey()),
			Unit: i.Unit, Period: "week", SplitBy: i.Dim, ByClass: i.Class})
	}
	return out
}

func (h *Handlers) apiIndicators(w http.ResponseWriter, r *http.Request) error {
	return web.JSON(w, http.StatusOK, indicatorList{Indicators: h.infos(r), MinGroup: h.svc.MinGroup()})
}

func ref(o identity.Org) OrgRef {
	return OrgRef{ID: o.ID, Name: o.Name, Kind: string(o.Kind), Path: o.Path}
}

// homeOrg is where a viewer's dashboard starts: the widest organisation
// their role covers.
func (h *Handlers) homeOrg(p *identity.Principal) (int64, error) {
	scope := p.Scope(PermView)
	if len(scope) == 0 {
		return 0, web.NotFoundError()
	}
	slices.SortFunc(scope, func(a, b identity.Org) int { return len(a.Path) - len(b.Path) })
	return scope[0].ID, nil
}

func (h *Handlers) home(w http.ResponseWriter, r *http.Request) error {
	id, err := h.homeOrg(identity.PrincipalFrom(r.Context()))
	if err != nil {
		return err
	}
	return web.Redirect(w, r, "/insight/orgs/"+strconv.FormatInt(id, 10))
}

// view is what one request asks to see, checked against the viewer.
type view struct {
	org      identity.Org
	class    string
	period   Period
	ind      Indicator
	children []OrgRef
	students bool // the viewer may see the class's students
}

func (h *Handlers) resolve(r *http.Request, orgID int64) (view, error) {
	ctx := r.Context()
	p := identity.PrincipalFrom(ctx)
	var v view
	o, err := h.orgs.VisibleOrg(ctx, p, PermView, orgID)
	if err != nil {
		return v, err
	}
	v.org = o
	q := r.URL.Query()
	if v.period, err = h.svc.ParsePeriod(q.Get("from"), q.Get("to")); err != nil {
		return v, err
	}
	key := q.Get("i")
	if key == "" {
		key = r.PathValue("key")
	}
	if key == "" {
		key = Registry()[0].Key
	}
	var ok bool
	if v.ind, ok = Lookup(key); !ok {
		return v, web.NotFoundError()
	}
	v.class = strings.TrimSpace(q.Get("class"))
	if len([]rune(v.class)) > 64 {
		return v, web.NotFoundError()
	}
	if v.class != "" && o.Kind != identity.KindSchool {
		return v, web.NotFoundError()
	}
	if v.class != "" {
		if v.students, err = h.mayListStudents(ctx, p, o, v.class); err != nil {
			return v, err
		}
	}
	if o.Kind != identity.KindSchool {
		all, err := h.orgs.Orgs(ctx, identity.OrgFilter{Under: []identity.Org{o}, Limit: 5000})
		if err != nil {
			return v, err
		}
		for _, c := range all {
			if c.ParentID == o.ID && c.Kind != identity.KindRoom {
				v.children = append(v.children, ref(c))
			}
		}
	}
	return v, nil
}

// mayListStudents: a class's students are shown to the school's
// administrators and to the teachers of that class, and to no one else
// (not to the city or district: they see aggregates only).
func (h *Handlers) mayListStudents(ctx context.Context, p *identity.Principal, school identity.Org, class string) (bool, error) {
	if p.HasRoleOver(identity.RoleSchoolAdmin, school) {
		return true, nil
	}
	if !p.HasRoleOver(identity.RoleTeacher, school) || h.svc.people == nil {
		return false, nil
	}
	cs, err := h.svc.people.TeacherClasses(ctx, p.User.ID)
	if err != nil {
		return false, err
	}
	for _, c := range cs {
		if c.OrgID == school.ID && c.Name == class {
			return true, nil
		}
	}
	return false, nil
}

func (h *Handlers) figures(ctx context.Context, v view, ind Indicator, parts bool) (Figures, error) {
	q := FigureQuery{Indicator: ind, Org: ref(v.org), Class: v.class, Period: v.period}
	if parts {
		q.Children = v.children
		q.ByClass = v.org.Kind == identity.KindSchool && ind.Class
	}
	f, err := h.svc.Figures(ctx, q)
	if err != nil || ind.Dim != "site" || !parts {
		return f, err
	}
	for i, d := range f.Dims {
		if d.Key == "" {
			continue
		}
		if o, err := h.orgs.OrgByCode(ctx, d.Key); err == nil {
			f.Dims[i].Name = o.Name
			f.Dims[i].OrgID = o.ID
		}
	}
	return f, nil
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, web.NotFoundError()
	}
	return id, nil
}

func (h *Handlers) apiFigures(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	id, _ := strconv.ParseInt(q.Get("org"), 10, 64)
	if id == 0 {
		var err error
		if id, err = h.homeOrg(identity.PrincipalFrom(r.Context())); err != nil {
			return err
		}
	}
	v, err := h.resolve(r, id)
	if err != nil {
		return err
	}
	f, err := h.figures(r.Context(), v, v.ind, true)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, f)
}

func (h *Handlers) apiStudents(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := h.resolve(r, id)
	if err != nil {
		return err
	}
	if v.class == "" || !v.students {
		return web.NotFoundError()
	}
	list, err := h.svc.Students(r.Context(), v.org.ID, v.class, v.period)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, studentList{Org: ref(v.org), Class: v.class, From: WeekLabel(v.period.From), To: WeekLabel(v.period.To), Students: list})
}

// Card is one indicator in the dashboard's overview.
type Card struct {
	Info  IndicatorInfo
	Total Value
	Chart string // JSON for the sparkline
	Href  string
	On    bool
}

// Crumb is a step of the drill-down path.
type Crumb struct {
	Name, Href string
}

type dashData struct {
	Org        OrgRef
	Class      string
	From, To   string
	Cards      []Card
	Focus      Figures
	Info       IndicatorInfo
	Crumbs     []Crumb
	TrendChart string
	PartsChart string
	DistChart  string
	DimsChart  string
	Districts  []Part
	Students   []StudentRow
	ShowPeople bool
	Query      string // i, class, from, to for links
	Export     string // the export URL of these figures, without part and format
	PartHref   map[string]string
	MinGroup   int
}

func (h *Handlers) link(orgID int64, v view, ind, class string) string {
	q := url.Values{}
	q.Set("i", ind)
	if class != "" {
		q.Set("class", class)
	}
	q.Set("from", WeekLabel(v.period.From))
	q.Set("to", WeekLabel(v.period.To))
	return "/insight/orgs/" + strconv.FormatInt(orgID, 10) + "?" + q.Encode()
}

type chartSeries struct {
	Labels []string   `json:"labels"`
	Values []*float64 `json:"values"`
	Hidden []bool     `json:"hidden"`
	Unit   string     `json:"unit"`
	Name   string     `json:"name"`
	Kind   string     `json:"kind"` // line or bar
	Min    int        `json:"min"`  // the smallest group shown
}

func (h *Handlers) chartJSON(c chartSeries) string {
	c.Min = h.svc.MinGroup()
	b, _ := json.Marshal(c)
	return string(b)
}

func (h *Handlers) dashboard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := h.resolve(r, id)
	if err != nil {
		return err
	}
	infos := h.infos(r)
	d := dashData{Org: ref(v.org), Class: v.class, From: WeekLabel(v.period.From), To: WeekLabel(v.period.To), MinGroup: h.svc.MinGroup(),
		PartHref: map[string]string{}}
	for i, ind := range Registry() {
		f, err := h.figures(ctx, v, ind, false)
		if err != nil {
			return err
		}
		c := chartSeries{Unit: ind.Unit, Name: infos[i].Name, Kind: "line"}
		for _, p := range f.Trend {
			c.Labels = append(c.Labels, p.Week[5:])
			c.Values = append(c.Values, p.Value.Value)
			c.Hidden = append(c.Hidden, p.Hidden)
		}
		d.Cards = append(d.Cards, Card{Info: infos[i], Total: f.Total, Chart: h.chartJSON(c), Href: h.link(v.org.ID, v, ind.Key, v.class), On: ind.Key == v.ind.Key})
		if ind.Key == v.ind.Key {
			d.Info = infos[i]
		}
	}
	if d.Focus, err = h.figures(ctx, v, v.ind, true); err != nil {
		return err
	}
	trend := chartSeries{Unit: v.ind.Unit, Name: d.Info.Name, Kind: "line"}
	for _, p := range d.Focus.Trend {
		trend.Labels = append(trend.Labels, p.Week)
		trend.Values = append(trend.Values, p.Value.Value)
		trend.Hidden = append(trend.Hidden, p.Hidden)
	}
	d.TrendChart = h.chartJSON(trend)
	parts := chartSeries{Unit: v.ind.Unit, Name: d.Info.Name, Kind: "bar"}
	for i, p := range d.Focus.Parts {
		// The ranking chart shows the first 25 with a figure (the table
		// below lists them all).
		if i < 25 && (p.Value.Value != nil || p.Hidden) {
			parts.Labels = append(parts.Labels, partName(r, h, p))
			parts.Values = append(parts.Values, p.Value.Value)
			parts.Hidden = append(parts.Hidden, p.Hidden)
		}
		if d.Focus.PartsBy == "org" {
			d.PartHref[p.Key] = h.link(p.OrgID, v, v.ind.Key, "")
		} else if p.Key != "" {
			d.PartHref[p.Key] = h.link(v.org.ID, v, v.ind.Key, p.Key)
		}
		if p.Kind == string(identity.KindDistrict) {
			d.Districts = append(d.Districts, p)
		}
	}
	d.PartsChart = h.chartJSON(parts)
	if len(d.Districts) > 0 && len(d.Districts) < len(d.Focus.Parts) {
		dc := chartSeries{Unit: v.ind.Unit, Name: d.Info.Name, Kind: "bar"}
		for _, p := range d.Districts {
			dc.Labels = append(dc.Labels, p.Name)
			dc.Values = append(dc.Values, p.Value.Value)
			dc.Hidden = append(dc.Hidden, p.Hidden)
		}
		d.DistChart = h.chartJSON(dc)
	}
	if len(d.Focus.Dims) > 0 {
		dc := chartSeries{Unit: v.ind.Unit, Name: d.Info.Name, Kind: "bar"}
		for _, p := range d.Focus.Dims {
			dc.Labels = append(dc.Labels, dimName(r, h, v.ind, p))
			dc.Values = append(dc.Values, p.Value.Value)
			dc.Hidden = append(dc.Hidden, p.Hidden)
		}
		d.DimsChart = h.chartJSON(dc)
	}
	if v.class != "" && v.students {
		d.ShowPeople = true
		if d.Students, err = h.svc.Students(ctx, v.org.ID, v.class, v.period); err != nil {
			return err
		}
	}
	d.Crumbs, err = h.crumbs(ctx, v)
	if err != nil {
		return err
	}
	q := url.Values{}
	q.Set("i", v.ind.Key)
	if v.class != "" {
		q.Set("class", v.class)
	}
	q.Set("from", d.From)
	q.Set("to", d.To)
	d.Query = q.Encode()
	d.Export = "/insight/orgs/" + strconv.FormatInt(v.org.ID, 10) + "/export?" + d.Query
	return h.rd.Render(w, r, http.StatusOK, "insight/dashboard", web.Page{Title: "insight.tile", Data: d})
}

func partName(r *http.Request, h *Handlers, p Part) string {
	if p.Name == "" {
		return h.rd.T(r, "insight.no_class")
	}
	return p.Name
}

func dimName(r *http.Request, h *Handlers, ind Indicator, p Part) string {
	if ind.Dim == "site" && p.Key == "" {
		return h.rd.T(r, "insight.no_site")
	}
	return p.Name
}

// crumbs is the drill-down path from the widest organisation the viewer
// may see down to this one (and the class).
func (h *Handlers) crumbs(ctx context.Context, v view) ([]Crumb, error) {
	p := identity.PrincipalFrom(ctx)
	var out []Crumb
	for _, s := range strings.Split(strings.Trim(v.org.Path, "/"), "/") {
		id, _ := strconv.ParseInt(s, 10, 64)
		o, err := h.orgs.Org(ctx, id)
		if err != nil {
			return nil, err
		}
		if !p.CanIn(PermView, o) {
			continue
		}
		out = append(out, Crumb{Name: o.Name, Href: h.link(o.ID, v, v.ind.Key, "")})
	}
	if v.class != "" {
		out = append(out, Crumb{Name: v.class, Href: h.link(v.org.ID, v, v.ind.Key, v.class)})
	}
	return out, nil
}

// export writes one table of the figures (trend, parts, split, or a
// class's students) as CSV or XLSX; every export is audited.
func (h *Handlers) export(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := identity.PrincipalFrom(ctx)
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := h.resolve(r, id)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	part, format := q.Get("part"), q.Get("format")
	if format != "xlsx" {
		format = "csv"
	}
	T := func(k string) string { return h.rd.T(r, k) }
	name := T(v.ind.NameKey())
	var header []string
	var rows [][]string
	switch part {
	case "students":
		if v.class == "" || !v.students {
			return web.NotFoundError()
		}
		list, err := h.svc.Students(ctx, v.org.ID, v.class, v.period)
		if err != nil {
			return err
		}
		header = []string{T("insight.col_student"), T("insight.col_active_weeks"), T("insight.col_records")}
		for _, s := range list {
			rows = append(rows, []string{s.Name, strconv.Itoa(s.Weeks), strconv.FormatInt(s.Records, 10)})
		}
	case "trend", "parts", "dims":
		f, err := h.figures(ctx, v, v.ind, part != "trend")
		if err != nil {
			return err
		}
		header = []string{T("insight.col_" + part), name}
		switch part {
		case "trend":
			for _, pt := range f.Trend {
				rows = append(rows, []string{pt.Week, pt.Text})
			}
			rows = append(rows, []string{T("insight.col_total"), f.Total.Text})
		case "parts":
			for _, pt := range f.Parts {
				rows = append(rows, []string{partName(r, h, pt), pt.Text})
			}
		case "dims":
			for _, pt := range f.Dims {
				rows = append(rows, []string{dimName(r, h, v.ind, pt), pt.Text})
			}
		}
	default:
		return apperr.Field("part", "insight.err_part")
	}
	if err := h.orgs.Record(ctx, nil, identity.AuditEntry{ActorID: p.User.ID, ActorName: p.User.Username, OrgID: p.User.OrgID,
		IP: web.RemoteIP(ctx), Action: "insight.export", Target: fmt.Sprintf("insight:%s:org:%d", v.ind.Key, v.org.ID),
		Detail: fmt.Sprintf("part=%s format=%s class=%s from=%s to=%s rows=%d", part, format, v.class, WeekLabel(v.period.From), WeekLabel(v.period.To), len(rows)),
		Result: identity.ResultOK, RequestID: web.RequestID(ctx)}); err != nil {
		return err
	}
	file := fmt.Sprintf("insight-%s-%d-%s", v.ind.Key, v.org.ID, part)
	if format == "xlsx" {
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		w.Header().Set("Content-Disposition", `attachment; filename="`+file+`.xlsx"`)
		return tabular.WriteXLSX(w, tabular.SheetName(name), header, rows)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+file+`.csv"`)
	return tabular.WriteCSV(w, header, rows)
}
