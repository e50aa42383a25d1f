package roster

import (
	"fmt"
	"net/http"
	"strconv"

	"jnedu/internal/identity"
	"jnedu/internal/platform/tabular"
	"jnedu/internal/platform/web"
)

type indexData struct {
	Schools []School
	Me      []Person
	Classes []Membership
	Manager bool
}

func (h *Handlers) indexPage(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	ss, err := h.svc.Schools(r.Context(), p)
	if err != nil {
		return err
	}
	me, err := h.svc.Me(r.Context(), p)
	if err != nil {
		return err
	}
	ms, err := h.svc.MembershipOf(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "roster/index", web.Page{Title: "roster.title",
		Data: indexData{Schools: ss, Me: me, Classes: ms, Manager: p.Can(PermManage)}})
}

type schoolData struct {
	School  identity.Org
	Classes []Class
}

func (h *Handlers) schoolPage(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	o, cs, err := h.svc.School(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "roster/school", web.Page{Title: o.Name, Data: schoolData{School: o, Classes: cs}})
}

func (h *Handlers) classPage(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := h.svc.Class(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "roster/class", web.Page{Title: d.Class.Name, Data: d})
}

func (h *Handlers) personPage(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := h.svc.Person(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "roster/person", web.Page{Title: d.Person.Name, Data: d})
}

// classExport writes a class's students (ID numbers masked) as CSV or
// XLSX, for those who may see them; every export is audited.
func (h *Handlers) classExport(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p := principal(r)
	d, err := h.svc.Class(r.Context(), p, id)
	if err != nil {
		return err
	}
	if d.StudentsHidden {
		return errNotFound()
	}
	T := func(k string) string { return h.rd.T(r, k) }
	header := []string{T("roster.student_no"), T("roster.name"), T("roster.gender"), T("roster.birth_date"), T("roster.ethnicity"),
		T("roster.id_number"), T("roster.school"), T("roster.grade"), T("roster.class"), T("roster.school_year")}
	rows := make([][]string, 0, len(d.Students))
	for _, s := range d.Students {
		rows = append(rows, []string{s.Number, s.Name, s.GenderName, s.BirthDate, s.EthnicityName, s.IDMasked, d.School,
			d.Class.GradeName, d.Class.Name, d.Class.SchoolYear})
	}
	format := r.URL.Query().Get("format")
	if err := h.audit.Record(r.Context(), nil, identity.AuditEntry{ActorID: p.User.ID, ActorName: p.User.Username, OrgID: p.User.OrgID,
		IP: web.RemoteIP(r.Context()), Action: "roster.export", Target: "roster-class:" + strconv.FormatInt(id, 10),
		Detail: fmt.Sprintf("format=%s students=%d", format, len(rows)), Result: identity.ResultOK, RequestID: web.RequestID(r.Context())}); err != nil {
		return err
	}
	name := "class-" + strconv.FormatInt(id, 10)
	if format == "xlsx" {
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.xlsx"`)
		return tabular.WriteXLSX(w, tabular.SheetName(d.Class.Name), header, rows)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	return tabular.WriteCSV(w, header, rows)
}

type importData struct {
	Report *Report
	Form   map[string]string
}

func (h *Handlers) importPage(w http.ResponseWriter, r *http.Request) error {
	return h.rd.Render(w, r, http.StatusOK, "roster/import", web.Page{Title: "roster.import_title", Data: importData{Form: map[string]string{"format": "auto"}}})
}

func (h *Handlers) importSubmit(w http.ResponseWriter, r *http.Request) error {
	rep, err := h.runImport(r)
	d := importData{Report: rep, Form: map[string]string{"format": r.FormValue("format"), "source": r.FormValue("source"),
		"school_year": r.FormValue("school_year"), "dry_run": r.FormValue("dry_run")}}
	p := web.Page{Title: "roster.import_title", Data: d}
	if err != nil {
		return h.rd.FormError(w, r, "roster/import", p, err)
	}
	status := http.StatusOK
	switch {
	case rep.Applied:
		p.Flash = "roster.applied"
	case rep.Invalid > 0:
		p.Error = h.rd.T(r, "roster.rejected", rep.Invalid)
		status = http.StatusUnprocessableEntity
	default:
		p.Flash = "roster.dry_ok"
	}
	return h.rd.Render(w, r, status, "roster/import", p)
}
