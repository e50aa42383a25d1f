package roster

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/tabular"
	"jnedu/internal/platform/web"
)

// Auditor writes audit entries for what is not a state-changing request
// (exports). *identity.Service implements it.
type Auditor interface {
	Record(ctx context.Context, q db.Querier, e identity.AuditEntry) error
}

// Handlers serve the roster pages and API.
type Handlers struct {
	svc    *Service
	rd     *web.Renderer
	audit  Auditor
	limits tabular.Limits
}

// NewHandlers makes the handlers; limits bound an import.
func NewHandlers(svc *Service, rd *web.Renderer, audit Auditor, limits tabular.Limits) *Handlers {
	return &Handlers{svc: svc, rd: rd, audit: audit, limits: limits}
}

// Routes lists the subsystem's routes.
func (h *Handlers) Routes() []web.Route {
	const tag = "roster"
	return []web.Route{
		{Method: "GET", Path: "/roster", Perm: PermView, Handler: h.indexPage},
		{Method: "GET", Path: "/roster/schools/{id}", Perm: PermView, Handler: h.schoolPage},
		{Method: "GET", Path: "/roster/classes/{id}", Perm: PermView, Handler: h.classPage},
		{Method: "GET", Path: "/roster/classes/{id}/export", Perm: PermView, Handler: h.classExport},
		{Method: "GET", Path: "/roster/people/{id}", Perm: PermView, Handler: h.personPage},
		{Method: "GET", Path: "/roster/import", Perm: PermManage, Handler: h.importPage},
		{Method: "POST", Path: "/roster/import", Perm: PermManage, Handler: h.importSubmit},

		{Method: "GET", Path: "/api/v1/roster/schools", Perm: PermView, Tag: tag, Summary: "Schools I may look into, with class, student and teacher counts", Response: schoolList{}, Handler: h.apiSchools},
		{Method: "GET", Path: "/api/v1/roster/schools/{id}/classes", Perm: PermView, Tag: tag, Summary: "The classes of a school I may see", Response: classList{}, Handler: h.apiClasses},
		{Method: "GET", Path: "/api/v1/roster/classes/{id}", Perm: PermView, Tag: tag, Summary: "A class with its teachers and (for its teachers and administrators) students; ID numbers masked", Response: ClassDetail{}, Handler: h.apiClass},
		{Method: "GET", Path: "/api/v1/roster/people/{id}", Perm: PermView, Tag: tag, Summary: "A student or teacher with their classes; ID number masked", Response: PersonDetail{}, Handler: h.apiPerson},
		{Method: "GET", Path: "/api/v1/roster/me", Perm: PermView, Tag: tag, Summary: "My own roster records and classes", Response: meView{}, Handler: h.apiMe},
		{Method: "POST", Path: "/api/v1/roster/import", Perm: PermManage, Tag: tag, Summary: "Import a roster file (multipart: file, format=auto|csv|oneroster, source, school_year, dry_run=1); all rows or none, with a row report (422 when rows are wrong)", Response: Report{}, Handler: h.apiImport},
	}
}

type schoolList struct {
	Schools []School `json:"schools"`
}

type classList struct {
	School  identity.Org `json:"school"`
	Classes []Class      `json:"classes"`
}

type meView struct {
	People      []Person     `json:"people"`
	Memberships []Membership `json:"memberships"`
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound()
	}
	return id, nil
}

func principal(r *http.Request) *identity.Principal { return identity.PrincipalFrom(r.Context()) }

func (h *Handlers) apiSchools(w http.ResponseWriter, r *http.Request) error {
	ss, err := h.svc.Schools(r.Context(), principal(r))
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, schoolList{Schools: ss})
}

func (h *Handlers) apiClasses(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	o, cs, err := h.svc.School(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, classList{School: o, Classes: cs})
}

func (h *Handlers) apiClass(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := h.svc.Class(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, d)
}

func (h *Handlers) apiPerson(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := h.svc.Person(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, d)
}

func (h *Handlers) apiMe(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	ps, err := h.svc.Me(r.Context(), p)
	if err != nil {
		return err
	}
	ms, err := h.svc.MembershipOf(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, meView{People: ps, Memberships: ms})
}

// runImport reads the multipart form and imports; the audit log gets the
// file name and the outcome.
func (h *Handlers) runImport(r *http.Request) (*Report, error) {
	f, fh, err := r.FormFile("file")
	if err != nil {
		return nil, apperr.Field("file", "roster.err_no_file")
	}
	defer f.Close()
	v := func(k string) string { return strings.TrimSpace(r.FormValue(k)) }
	lang := web.Lang(r.Context())
	opt := ImportOptions{Format: v("format"), Source: v("source"), SchoolYear: v("school_year"),
		DryRun: v("dry_run") == "1" || v("dry_run") == "on" || v("dry_run") == "true", Limits: h.limits,
		T: func(key string, args ...any) string { return h.rd.Translator().T(lang, key, args...) }}
	rep, err := h.svc.Import(r.Context(), principal(r), f, fh.Filename, opt)
	detail := fmt.Sprintf("format=%s dry_run=%v", opt.Format, opt.DryRun)
	if rep != nil {
		detail = fmt.Sprintf("format=%s source=%s rows=%d invalid=%d dry_run=%v applied=%v classes=%+v students=%+v teachers=%+v enrolments=%+v",
			rep.Format, rep.Source, rep.Rows, rep.Invalid, rep.DryRun, rep.Applied, rep.Classes, rep.Students, rep.Teachers, rep.Enrolments)
	}
	identity.Note(r.Context(), "roster-import:"+fh.Filename, detail)
	return rep, err
}

func (h *Handlers) apiImport(w http.ResponseWriter, r *http.Request) error {
	if err := web.ParseForm(w, r, h.limits.MaxBytes+1<<20); err != nil {
		return err
	}
	rep, err := h.runImport(r)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if rep.Invalid > 0 {
		status = http.StatusUnprocessableEntity
	}
	return web.JSON(w, status, rep)
}
