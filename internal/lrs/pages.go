package lrs

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/web"
)

// Permissions of the learning-record store.
const (
	// PermClients: create and revoke xAPI credentials for an organisation
	// subtree (platform admins; school admins for their school).
	PermClients web.Perm = "lrs.clients"
	// PermRecords: read the records of an organisation subtree in the pages.
	PermRecords web.Perm = "lrs.records"
)

// DefinePermissions declares the subsystem's permissions.
func DefinePermissions(r *identity.RBAC) {
	r.Define(PermClients, identity.RolePlatformAdmin, identity.RoleSchoolAdmin)
	r.Define(PermRecords, identity.RolePlatformAdmin, identity.RoleSchoolAdmin)
}

// Tiles for the portal.
func Tiles() []identity.Tile {
	return []identity.Tile{
		{Key: "lrs.tile", DescKey: "lrs.tile_desc", Href: "/lrs/records", Perm: PermRecords, Group: "lrs.group"},
		{Key: "lrs.tile_clients", DescKey: "lrs.tile_clients_desc", Href: "/lrs/clients", Perm: PermClients, Group: "lrs.group"},
	}
}

// Handlers serve the pages of the store.
type Handlers struct {
	svc     *Service
	ids     *identity.Service
	rd      *web.Renderer
	maxBody int64
}

// NewHandlers makes the page handlers.
func NewHandlers(svc *Service, ids *identity.Service, rd *web.Renderer, maxBody int64) *Handlers {
	return &Handlers{svc: svc, ids: ids, rd: rd, maxBody: maxBody}
}

// Routes are the pages.
func (h *Handlers) Routes() []web.Route {
	return []web.Route{
		{Method: "GET", Path: "/lrs/clients", Perm: PermClients, Summary: "xAPI credentials", Tag: "lrs", Handler: h.clientsPage},
		{Method: "POST", Path: "/lrs/clients", Perm: PermClients, Summary: "Create an xAPI credential", Tag: "lrs", Handler: h.createClient},
		{Method: "POST", Path: "/lrs/clients/{id}/revoke", Perm: PermClients, Summary: "Revoke an xAPI credential", Tag: "lrs", Handler: h.revokeClient},
		{Method: "GET", Path: "/lrs/records", Perm: PermRecords, Summary: "Learning records", Tag: "lrs", Handler: h.recordsPage},
	}
}

type orgOption struct {
	ID   int64
	Name string
}

type clientsData struct {
	Clients  []Client
	Orgs     []orgOption
	Created  *Client
	Secret   string
	Endpoint string
	Name     string
	Scope    string
	OrgID    int64
}

func (h *Handlers) scopeOrgs(r *http.Request) ([]identity.Org, error) {
	p := identity.PrincipalFrom(r.Context())
	under := p.Scope(PermClients)
	return h.ids.Orgs(r.Context(), identity.OrgFilter{Under: under, Limit: 2000})
}

func (h *Handlers) clientsData(r *http.Request) (clientsData, error) {
	p := identity.PrincipalFrom(r.Context())
	var d clientsData
	var prefixes []string
	for _, o := range p.Scope(PermClients) {
		prefixes = append(prefixes, o.Path)
	}
	cs, err := h.svc.Clients(r.Context(), prefixes)
	if err != nil {
		return d, err
	}
	orgs, err := h.scopeOrgs(r)
	if err != nil {
		return d, err
	}
	names := map[int64]string{}
	for _, o := range orgs {
		names[o.ID] = o.Name
		d.Orgs = append(d.Orgs, orgOption{ID: o.ID, Name: o.Name})
	}
	for i := range cs {
		cs[i].OrgName = names[cs[i].OrgID]
	}
	d.Clients = cs
	d.Endpoint = h.svc.baseURL + Prefix
	d.Scope = ScopeAll
	return d, nil
}

func (h *Handlers) clientsPage(w http.ResponseWriter, r *http.Request) error {
	d, err := h.clientsData(r)
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "lrs/clients", web.Page{Title: "lrs.clients", Data: d})
}

func (h *Handlers) createClient(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := identity.PrincipalFrom(ctx)
	d, err := h.clientsData(r)
	if err != nil {
		return err
	}
	d.Name, d.Scope = r.PostFormValue("name"), r.PostFormValue("scope")
	orgID, _ := strconv.ParseInt(r.PostFormValue("org_id"), 10, 64)
	d.OrgID = orgID
	page := web.Page{Title: "lrs.clients", Data: d}
	org, err := h.ids.VisibleOrg(ctx, p, PermClients, orgID)
	if err != nil {
		if isNotFound(err) {
			err = apperr.Field("org_id", "lrs.err_client_org")
		}
		return h.rd.FormError(w, r, "lrs/clients", page, err)
	}
	c, secret, err := h.svc.CreateClient(ctx, p.User.ID, ClientInput{Name: d.Name, Scope: d.Scope, OrgID: org.ID, OrgPath: org.Path})
	if err != nil {
		return h.rd.FormError(w, r, "lrs/clients", page, err)
	}
	identity.Note(ctx, fmt.Sprintf("lrs_client:%d", c.ID), fmt.Sprintf("%s %s org:%d", c.Key, c.Scope, c.OrgID))
	c.OrgName = org.Name
	d, err = h.clientsData(r)
	if err != nil {
		return err
	}
	d.Created, d.Secret = &c, secret
	// The secret is shown this once and never stored in the clear.
	w.Header().Set("Cache-Control", "no-store")
	return h.rd.Render(w, r, http.StatusOK, "lrs/clients", web.Page{Title: "lrs.clients", Flash: "lrs.client_created", Data: d})
}

func (h *Handlers) revokeClient(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := identity.PrincipalFrom(ctx)
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	c, err := h.svc.ClientByID(ctx, id)
	if err != nil {
		return err
	}
	if _, err := h.ids.VisibleOrg(ctx, p, PermClients, c.OrgID); err != nil {
		return err
	}
	if err := h.svc.RevokeClient(ctx, c.ID); err != nil {
		return err
	}
	identity.Note(ctx, fmt.Sprintf("lrs_client:%d", c.ID), c.Key)
	return web.Redirect(w, r, "/lrs/clients")
}

// RecordRow is one statement as the records page shows it.
type RecordRow struct {
	ID       string
	Stored   int64
	Actor    string
	Verb     string
	Activity string
}

func (h *Handlers) recordsPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := identity.PrincipalFrom(ctx)
	var rows []RecordRow
	q := Query{Verb: strings.TrimSpace(r.URL.Query().Get("verb")), Activity: strings.TrimSpace(r.URL.Query().Get("activity")), Limit: 100}
	if (q.Verb != "" && !isIRI(q.Verb)) || (q.Activity != "" && !isIRI(q.Activity)) {
		return apperr.New(apperr.Invalid, "lrs.err_filter_iri")
	}
	for _, o := range p.Scope(PermRecords) {
		q.OrgPrefix = o.Path
		list, _, err := h.svc.Statements(ctx, q)
		if err != nil {
			return err
		}
		for _, st := range list {
			rows = append(rows, rowOf(st))
		}
	}
	// Reading records through the pages is recorded.
	h.ids.Record(ctx, nil, identity.AuditEntry{ActorID: p.User.ID, ActorName: p.User.Username, OrgID: p.User.OrgID, //nolint:errcheck
		IP: web.RemoteIP(ctx), Action: "lrs.records.read", Detail: r.URL.RawQuery, Target: fmt.Sprintf("rows:%d", len(rows)),
		Result: identity.ResultOK, RequestID: web.RequestID(ctx)})
	return h.rd.Render(w, r, http.StatusOK, "lrs/records", web.Page{Title: "lrs.tile",
		Data: map[string]any{"Rows": rows, "Verb": q.Verb, "Activity": q.Activity}})
}

func rowOf(st StoredStatement) RecordRow {
	row := RecordRow{ID: st.ID, Stored: st.Stored}
	if a, ok := st.Body["actor"].(obj); ok {
		if n, ok := a["name"].(string); ok {
			row.Actor = n
		} else {
			row.Actor = AgentKey(a)
		}
	}
	if v, ok := st.Body["verb"].(obj); ok {
		row.Verb, _ = v["id"].(string)
		if d, ok := v["display"].(obj); ok {
			for _, l := range []string{"zh-CN", "en-US", "en"} {
				if s, ok := d[l].(string); ok {
					row.Verb = s
					break
				}
			}
		}
	}
	if o, ok := st.Body["object"].(obj); ok {
		row.Activity, _ = o["id"].(string)
		if def, ok := o["definition"].(obj); ok {
			if n, ok := def["name"].(obj); ok {
				for _, l := range []string{"zh-CN", "en-US", "en"} {
					if s, ok := n[l].(string); ok {
						row.Activity = s
						break
					}
				}
			}
		}
	}
	return row
}
