package identity

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/web"
)

// ---- organisations ----

type orgRow struct {
	Org
	Depth     int
	Indent    string
	KindName  string
	CanManage bool
}

type orgsData struct {
	Rows      []orgRow
	Kind      string
	Q         string
	Kinds     []kindOption
	CanCreate bool
}

type kindOption struct {
	Kind OrgKind
	Key  string
}

func kindOptions() []kindOption {
	out := make([]kindOption, len(OrgKinds))
	for i, k := range OrgKinds {
		out[i] = kindOption{Kind: k, Key: "kind." + string(k)}
	}
	return out
}

func (h *Handlers) orgRows(r *http.Request, orgs []Org) []orgRow {
	p := PrincipalFrom(r.Context())
	rows := make([]orgRow, len(orgs))
	base := 0
	if len(orgs) > 0 {
		base = strings.Count(orgs[0].Path, "/")
		for _, o := range orgs {
			base = min(base, strings.Count(o.Path, "/"))
		}
	}
	for i, o := range orgs {
		depth := strings.Count(o.Path, "/") - base
		rows[i] = orgRow{Org: o, Depth: depth, Indent: strings.Repeat("　", depth), KindName: h.rd.T(r, "kind."+string(o.Kind)),
			CanManage: p.CanIn(PermOrgManage, o)}
	}
	return rows
}

func (h *Handlers) orgsPage(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	q := r.URL.Query()
	f := OrgFilter{Under: p.Scope(PermOrgRead), Search: strings.TrimSpace(q.Get("q"))}
	if k := OrgKind(q.Get("kind")); k.Valid() {
		f.Kinds = []OrgKind{k}
	}
	orgs, err := h.svc.Orgs(r.Context(), f)
	if err != nil {
		return err
	}
	return h.page(w, r, "orgs", "orgs.title", orgsData{Rows: h.orgRows(r, orgs), Kind: q.Get("kind"), Q: f.Search,
		Kinds: kindOptions(), CanCreate: p.Can(PermOrgManage)})
}

type orgFormData struct {
	Org       Org
	In        OrgInput
	Parents   []orgRow
	Kinds     []kindOption
	Children  []orgRow
	Users     int
	CanManage bool
	Parent    *Org
}

func (h *Handlers) manageableOrgs(r *http.Request, perm web.Perm) ([]orgRow, error) {
	p := PrincipalFrom(r.Context())
	orgs, err := h.svc.Orgs(r.Context(), OrgFilter{Under: p.Scope(perm)})
	if err != nil {
		return nil, err
	}
	return h.orgRows(r, orgs), nil
}

func (h *Handlers) orgNewPage(w http.ResponseWriter, r *http.Request) error {
	parents, err := h.manageableOrgs(r, PermOrgManage)
	if err != nil {
		return err
	}
	in := OrgInput{ParentID: formInt(r, "parent"), Kind: OrgKind(r.URL.Query().Get("kind"))}
	return h.page(w, r, "org_form", "orgs.new", orgFormData{In: in, Parents: parents, Kinds: kindOptions(), CanManage: true})
}

func orgInputFromForm(r *http.Request) OrgInput {
	return OrgInput{ParentID: formInt(r, "parent_id"), Kind: OrgKind(r.PostFormValue("kind")), Code: r.PostFormValue("code"),
		Name: r.PostFormValue("name"), NameEN: r.PostFormValue("name_en")}
}

func (h *Handlers) orgCreateSubmit(w http.ResponseWriter, r *http.Request) error {
	in := orgInputFromForm(r)
	o, err := h.svc.CreateOrg(r.Context(), PrincipalFrom(r.Context()), in)
	if err != nil {
		parents, perr := h.manageableOrgs(r, PermOrgManage)
		if perr != nil {
			return perr
		}
		return h.rd.FormError(w, r, "identity/org_form", web.Page{Title: "orgs.new",
			Data: orgFormData{In: in, Parents: parents, Kinds: kindOptions(), CanManage: true}}, err)
	}
	Note(r.Context(), "org:"+strconv.FormatInt(o.ID, 10), "created "+o.Code+" "+o.Name)
	return web.Redirect(w, r, withFlash("/orgs/"+strconv.FormatInt(o.ID, 10), "orgs.created"))
}

func (h *Handlers) orgPage(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	id, err := pathID(r)
	if err != nil {
		return err
	}
	o, err := h.svc.VisibleOrg(r.Context(), p, PermOrgRead, id)
	if err != nil {
		return err
	}
	kids, err := h.svc.Orgs(r.Context(), OrgFilter{Under: []Org{o}})
	if err != nil {
		return err
	}
	_, n, err := h.svc.Users(r.Context(), UserFilter{OrgID: o.ID, Limit: 1})
	if err != nil {
		return err
	}
	d := orgFormData{Org: o, In: OrgInput{Kind: o.Kind, Code: o.Code, Name: o.Name, NameEN: o.NameEN, ParentID: o.ParentID},
		Kinds: kindOptions(), Children: h.orgRows(r, kids), Users: n, CanManage: p.CanIn(PermOrgManage, o)}
	if len(d.Children) > 0 {
		d.Children = d.Children[1:] // the first is the organisation itself
	}
	if o.ParentID != 0 {
		if parent, err := h.svc.VisibleOrg(r.Context(), p, PermOrgRead, o.ParentID); err == nil {
			d.Parent = &parent
		}
	}
	return h.page(w, r, "org", "orgs.title", d)
}

func (h *Handlers) orgUpdateSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	in := orgInputFromForm(r)
	o, err := h.svc.UpdateOrg(r.Context(), PrincipalFrom(r.Context()), id, in)
	Note(r.Context(), "org:"+strconv.FormatInt(id, 10), "renamed to "+in.Code+" "+in.Name)
	if err != nil {
		if e := apperr.As(err); e != nil && e.Code == apperr.Invalid {
			d := orgFormData{Org: o, In: in, Kinds: kindOptions(), CanManage: true}
			return h.rd.FormError(w, r, "identity/org", web.Page{Title: "orgs.title", Data: d}, err)
		}
		return err
	}
	return web.Redirect(w, r, withFlash("/orgs/"+strconv.FormatInt(id, 10), "orgs.saved"))
}

// ---- users ----

type userRow struct {
	User
	OrgName string
	Roles   string
}

type usersData struct {
	Rows      []userRow
	Total     int
	Q         string
	Role      string
	RoleInfos []RoleInfo
	Offset    int
	Limit     int
	Prev      int
	Next      int
	CanCreate bool
}

func (h *Handlers) userRows(r *http.Request, us []User) ([]userRow, error) {
	ids := map[int64]string{}
	rows := make([]userRow, len(us))
	for i, u := range us {
		name, ok := ids[u.OrgID]
		if !ok {
			o, err := h.svc.Org(r.Context(), u.OrgID)
			if err != nil {
				return nil, err
			}
			name, ids[u.OrgID] = o.Name, o.Name
		}
		var roles []string
		for _, g := range u.Grants {
			n := h.svc.rbac.Name(g.Role, web.Lang(r.Context()))
			if !slices.Contains(roles, n) {
				roles = append(roles, n)
			}
		}
		rows[i] = userRow{User: u, OrgName: name, Roles: strings.Join(roles, "、")}
	}
	return rows, nil
}

const usersPageSize = 50

func (h *Handlers) usersPage(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	q := r.URL.Query()
	off, _ := strconv.Atoi(q.Get("offset"))
	off = max(off, 0)
	f := UserFilter{Under: p.Scope(PermUserRead), Search: strings.TrimSpace(q.Get("q")), Role: Role(q.Get("role")),
		OrgID: formInt(r, "org_id"), Limit: usersPageSize, Offset: off}
	us, total, err := h.svc.Users(r.Context(), f)
	if err != nil {
		return err
	}
	rows, err := h.userRows(r, us)
	if err != nil {
		return err
	}
	d := usersData{Rows: rows, Total: total, Q: f.Search, Role: string(f.Role), RoleInfos: h.svc.rbac.Infos(), Offset: off,
		Limit: usersPageSize, Prev: -1, Next: -1, CanCreate: p.Can(PermUserManage)}
	if off > 0 {
		d.Prev = max(off-usersPageSize, 0)
	}
	if off+usersPageSize < total {
		d.Next = off + usersPageSize
	}
	return h.page(w, r, "users", "users.title", d)
}

type userFormData struct {
	User      User
	In        UserInput
	Orgs      []orgRow
	RoleInfos []RoleInfo
	Grants    []grantView
	CanManage bool
	Creating  bool
}

// HasRole is used by the template to tick role boxes.
func (d userFormData) HasRole(r Role) bool { return slices.Contains(d.In.Roles, r) }

func userInputFromForm(r *http.Request) UserInput {
	in := UserInput{OrgID: formInt(r, "org_id"), Username: r.PostFormValue("username"), DisplayName: r.PostFormValue("display_name"),
		Email: r.PostFormValue("email"), Phone: r.PostFormValue("phone"), Password: r.PostFormValue("password"),
		Locale: r.PostFormValue("locale"), Disabled: r.PostFormValue("disabled") == "on"}
	for _, v := range r.PostForm["roles"] {
		in.Roles = append(in.Roles, Role(v))
	}
	return in
}

func (h *Handlers) userNewPage(w http.ResponseWriter, r *http.Request) error {
	orgs, err := h.manageableOrgs(r, PermUserManage)
	if err != nil {
		return err
	}
	in := UserInput{OrgID: formInt(r, "org_id"), Roles: []Role{RoleTeacher}}
	return h.page(w, r, "user_form", "users.new", userFormData{In: in, Orgs: orgs, RoleInfos: h.svc.rbac.Infos(), CanManage: true, Creating: true})
}

func (h *Handlers) userCreateSubmit(w http.ResponseWriter, r *http.Request) error {
	in := userInputFromForm(r)
	u, err := h.svc.CreateUser(r.Context(), PrincipalFrom(r.Context()), in)
	if err != nil {
		orgs, oerr := h.manageableOrgs(r, PermUserManage)
		if oerr != nil {
			return oerr
		}
		in.Password = ""
		return h.rd.FormError(w, r, "identity/user_form", web.Page{Title: "users.new",
			Data: userFormData{In: in, Orgs: orgs, RoleInfos: h.svc.rbac.Infos(), CanManage: true, Creating: true}}, err)
	}
	Note(r.Context(), "user:"+strconv.FormatInt(u.ID, 10), "created "+u.Username)
	return web.Redirect(w, r, withFlash("/users/"+strconv.FormatInt(u.ID, 10), "users.created"))
}

func (h *Handlers) userForm(r *http.Request, u User) (userFormData, error) {
	p := PrincipalFrom(r.Context())
	orgs, err := h.manageableOrgs(r, PermUserManage)
	if err != nil {
		return userFormData{}, err
	}
	in := UserInput{OrgID: u.OrgID, Username: u.Username, DisplayName: u.DisplayName, Email: u.Email, Phone: u.Phone,
		Locale: u.Locale, Disabled: u.Disabled}
	for _, g := range u.Grants {
		if g.OrgID == u.OrgID {
			in.Roles = append(in.Roles, g.Role)
		}
	}
	o, err := h.svc.Org(r.Context(), u.OrgID)
	if err != nil {
		return userFormData{}, err
	}
	return userFormData{User: u, In: in, Orgs: orgs, RoleInfos: h.svc.rbac.Infos(), Grants: h.grantViews(r, u.Grants),
		CanManage: p.CanIn(PermUserManage, o)}, nil
}

func (h *Handlers) userPage(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	u, err := h.svc.VisibleUser(r.Context(), PrincipalFrom(r.Context()), PermUserRead, id)
	if err != nil {
		return err
	}
	d, err := h.userForm(r, u)
	if err != nil {
		return err
	}
	return h.page(w, r, "user_form", "users.edit", d)
}

func (h *Handlers) userUpdateSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p := PrincipalFrom(r.Context())
	in := userInputFromForm(r)
	in.Password = ""
	Note(r.Context(), "user:"+strconv.FormatInt(id, 10), "updated")
	if _, err := h.svc.UpdateUser(r.Context(), p, id, in); err != nil {
		return h.userFormError(w, r, id, &in, err)
	}
	return web.Redirect(w, r, withFlash("/users/"+strconv.FormatInt(id, 10), "users.saved"))
}

// userFormError shows the user page again with a validation error; in, if
// given, keeps what was typed. Other errors pass through.
func (h *Handlers) userFormError(w http.ResponseWriter, r *http.Request, id int64, in *UserInput, err error) error {
	if e := apperr.As(err); e == nil || e.Code != apperr.Invalid {
		return err
	}
	u, uerr := h.svc.VisibleUser(r.Context(), PrincipalFrom(r.Context()), PermUserManage, id)
	if uerr != nil {
		return uerr
	}
	d, ferr := h.userForm(r, u)
	if ferr != nil {
		return ferr
	}
	if in != nil {
		d.In = *in
	}
	return h.rd.FormError(w, r, "identity/user_form", web.Page{Title: "users.edit", Data: d}, err)
}

func (h *Handlers) userResetSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p := PrincipalFrom(r.Context())
	Note(r.Context(), "user:"+strconv.FormatInt(id, 10), "password reset")
	if err := h.svc.ResetPassword(r.Context(), p, id, r.PostFormValue("password"), true); err != nil {
		return h.userFormError(w, r, id, nil, err)
	}
	return web.Redirect(w, r, withFlash("/users/"+strconv.FormatInt(id, 10), "users.password_reset"))
}

// ---- audit ----

type auditData struct {
	Entries []AuditEntry
	Total   int
	F       map[string]string
	Query   string
	Prev    int
	Next    int
}

func auditFilterFrom(r *http.Request, p *Principal) (AuditFilter, error) {
	q := r.URL.Query()
	f := AuditFilter{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")), Result: q.Get("result")}
	if f.Result != "" && f.Result != ResultOK && f.Result != ResultDenied && f.Result != ResultFailed {
		return f, apperr.Field("result", "err.invalid_value")
	}
	if !p.IsRootAdmin() {
		f.Under = p.Scope(PermAuditRead)
	}
	for _, k := range []string{"from", "to"} {
		v := strings.TrimSpace(q.Get(k))
		if v == "" {
			continue
		}
		t, err := time.ParseInLocation("2006-01-02", v, time.FixedZone("CST", 8*3600))
		if err != nil {
			return f, apperr.Field(k, "audit.err_date")
		}
		if k == "from" {
			f.From = t
		} else {
			f.To = t.Add(24 * time.Hour)
		}
	}
	f.Limit, _ = strconv.Atoi(q.Get("limit"))
	f.Offset, _ = strconv.Atoi(q.Get("offset"))
	f.Offset = max(f.Offset, 0)
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	return f, nil
}

func (h *Handlers) auditPage(w http.ResponseWriter, r *http.Request) error {
	f, err := auditFilterFrom(r, PrincipalFrom(r.Context()))
	q := r.URL.Query()
	d := auditData{F: map[string]string{"from": q.Get("from"), "to": q.Get("to"), "actor": f.Actor, "action": f.Action, "result": f.Result},
		Prev: -1, Next: -1}
	if err != nil {
		return h.rd.FormError(w, r, "identity/audit", web.Page{Title: "audit.title", Data: d}, err)
	}
	d.Entries, d.Total, err = h.svc.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	q.Del("offset")
	q.Del("flash")
	d.Query = q.Encode()
	if f.Offset > 0 {
		d.Prev = max(f.Offset-f.Limit, 0)
	}
	if f.Offset+f.Limit < d.Total {
		d.Next = f.Offset + f.Limit
	}
	return h.page(w, r, "audit", "audit.title", d)
}

func (h *Handlers) auditExport(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	f, err := auditFilterFrom(r, p)
	if err != nil {
		return err
	}
	f.Limit, f.Offset = MaxAuditExport, 0
	es, total, err := h.svc.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	if total > MaxAuditExport {
		return apperr.New(apperr.TooLarge, "audit.err_export_too_large", MaxAuditExport)
	}
	// Reading the audit log is itself recorded.
	h.svc.Record(r.Context(), nil, AuditEntry{ActorID: p.User.ID, ActorName: p.User.Username, OrgID: p.User.OrgID, //nolint:errcheck
		IP: web.RemoteIP(r.Context()), Action: "audit.export", Detail: r.URL.RawQuery, Result: ResultOK, RequestID: web.RequestID(r.Context())})
	return writeAuditCSV(w, r, es)
}
