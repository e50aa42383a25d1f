package identity

import (
	"net/http"
	"strconv"
	"strings"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/tabular"
	"jnedu/internal/platform/web"
)

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type sessionResponse struct {
	User       User   `json:"user"`
	CSRFToken  string `json:"csrf_token"`
	MustChange bool   `json:"must_change_password"`
	ExpiresAt  int64  `json:"expires_at"`
}

type meResponse struct {
	User        User       `json:"user"`
	Org         Org        `json:"org"`
	Permissions []web.Perm `json:"permissions"`
	Via         string     `json:"via"`
	CSRFToken   string     `json:"csrf_token,omitempty"`
	MustChange  bool       `json:"must_change_password"`
}

type passwordRequest struct {
	OldPassword string `json:"old_password"`
	Password    string `json:"password"`
}

type resetRequest struct {
	Password string `json:"password"`
}

type tokenCreated struct {
	Token  Token  `json:"token"`
	Secret string `json:"secret"`
}

type roleView struct {
	RoleInfo
	Permissions []web.Perm `json:"permissions"`
}

type userList struct {
	Users []User `json:"users"`
	Total int    `json:"total"`
}

type auditList struct {
	Entries []AuditEntry `json:"entries"`
	Total   int          `json:"total"`
}

func (h *Handlers) apiLogin(w http.ResponseWriter, r *http.Request) error {
	var in loginRequest
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	NoteAction(r.Context(), "login")
	Note(r.Context(), "user:"+strings.ToLower(strings.TrimSpace(in.Username)), "api")
	res, err := h.svc.Login(r.Context(), in.Username, in.Password, web.RemoteIP(r.Context()), r.UserAgent())
	if err != nil {
		return err
	}
	NoteActor(r.Context(), res.Principal)
	SetSessionCookie(w, r, res.Secret, res.ExpiresAt)
	return web.JSON(w, http.StatusOK, sessionResponse{User: res.Principal.User, CSRFToken: res.Principal.CSRF,
		MustChange: res.Principal.MustChange, ExpiresAt: res.ExpiresAt.UnixMilli()})
}

func (h *Handlers) apiLogout(w http.ResponseWriter, r *http.Request) error {
	NoteAction(r.Context(), "logout")
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := h.svc.Logout(r.Context(), c.Value); err != nil {
			return err
		}
	}
	ClearSessionCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiMe(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	var perms []web.Perm
	seen := map[web.Perm]bool{}
	for _, g := range p.Grants {
		for _, perm := range h.svc.rbac.Permissions(g.Role) {
			if !seen[perm] {
				seen[perm] = true
				perms = append(perms, perm)
			}
		}
	}
	u := p.User
	u.Grants = p.Grants
	return web.JSON(w, http.StatusOK, meResponse{User: u, Org: p.Org, Permissions: perms, Via: p.Via, CSRFToken: p.CSRF, MustChange: p.MustChange})
}

func (h *Handlers) apiUpdateProfile(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	var in ProfileInput
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	Note(r.Context(), "user:"+strconv.FormatInt(p.User.ID, 10), "profile")
	u, err := h.svc.UpdateProfile(r.Context(), p, in)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, u)
}

func (h *Handlers) apiChangePassword(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	if p.Via != "session" {
		return apperr.New(apperr.Forbidden, "token.err_session_only")
	}
	var in passwordRequest
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	NoteAction(r.Context(), "password.change")
	Note(r.Context(), "user:"+strconv.FormatInt(p.User.ID, 10), "password changed")
	if err := h.svc.ChangePassword(r.Context(), p, in.OldPassword, in.Password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := h.svc.Tokens(r.Context(), PrincipalFrom(r.Context()).User.ID)
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []Token{}
	}
	return web.JSON(w, http.StatusOK, ts)
}

func (h *Handlers) apiTokenCreate(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	if p.Via != "session" {
		return apperr.New(apperr.Forbidden, "token.err_session_only")
	}
	var in TokenInput
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	secret, t, err := h.svc.CreateToken(r.Context(), p, in)
	if err != nil {
		return err
	}
	Note(r.Context(), "token:"+strconv.FormatInt(t.ID, 10), "created "+t.Prefix)
	return web.JSON(w, http.StatusCreated, tokenCreated{Token: t, Secret: secret})
}

func (h *Handlers) apiTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	Note(r.Context(), "token:"+strconv.FormatInt(id, 10), "revoked")
	if err := h.svc.RevokeToken(r.Context(), PrincipalFrom(r.Context()), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiRoles(w http.ResponseWriter, r *http.Request) error {
	var out []roleView
	for _, ri := range h.svc.rbac.Infos() {
		out = append(out, roleView{RoleInfo: ri, Permissions: h.svc.rbac.Permissions(ri.Role)})
	}
	return web.JSON(w, http.StatusOK, out)
}

func (h *Handlers) apiOrgs(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	q := r.URL.Query()
	f := OrgFilter{Under: p.Scope(PermOrgRead), Search: strings.TrimSpace(q.Get("q"))}
	if k := q.Get("kind"); k != "" {
		if !OrgKind(k).Valid() {
			return apperr.Field("kind", "org.err_kind")
		}
		f.Kinds = []OrgKind{OrgKind(k)}
	}
	orgs, err := h.svc.Orgs(r.Context(), f)
	if err != nil {
		return err
	}
	if orgs == nil {
		orgs = []Org{}
	}
	return web.JSON(w, http.StatusOK, orgs)
}

func (h *Handlers) apiOrgCreate(w http.ResponseWriter, r *http.Request) error {
	var in OrgInput
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	o, err := h.svc.CreateOrg(r.Context(), PrincipalFrom(r.Context()), in)
	if err != nil {
		return err
	}
	Note(r.Context(), "org:"+strconv.FormatInt(o.ID, 10), "created "+o.Code+" "+o.Name)
	return web.JSON(w, http.StatusCreated, o)
}

func (h *Handlers) apiOrg(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	o, err := h.svc.VisibleOrg(r.Context(), PrincipalFrom(r.Context()), PermOrgRead, id)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, o)
}

func (h *Handlers) apiOrgUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in OrgInput
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	Note(r.Context(), "org:"+strconv.FormatInt(id, 10), "renamed to "+in.Code+" "+in.Name)
	o, err := h.svc.UpdateOrg(r.Context(), PrincipalFrom(r.Context()), id, in)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, o)
}

func (h *Handlers) apiUsers(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	off, _ := strconv.Atoi(q.Get("offset"))
	if limit < 0 || limit > 500 || off < 0 {
		return apperr.New(apperr.Invalid, "users.err_paging")
	}
	f := UserFilter{Under: p.Scope(PermUserRead), Search: strings.TrimSpace(q.Get("q")), Role: Role(q.Get("role")),
		OrgID: formInt(r, "org_id"), Limit: limit, Offset: off}
	us, total, err := h.svc.Users(r.Context(), f)
	if err != nil {
		return err
	}
	if us == nil {
		us = []User{}
	}
	return web.JSON(w, http.StatusOK, userList{Users: us, Total: total})
}

func (h *Handlers) apiUserCreate(w http.ResponseWriter, r *http.Request) error {
	var in UserInput
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	u, err := h.svc.CreateUser(r.Context(), PrincipalFrom(r.Context()), in)
	if err != nil {
		return err
	}
	Note(r.Context(), "user:"+strconv.FormatInt(u.ID, 10), "created "+u.Username)
	return web.JSON(w, http.StatusCreated, u)
}

func (h *Handlers) apiUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	u, err := h.svc.VisibleUser(r.Context(), PrincipalFrom(r.Context()), PermUserRead, id)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, u)
}

func (h *Handlers) apiUserUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in UserInput
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	Note(r.Context(), "user:"+strconv.FormatInt(id, 10), "updated")
	u, err := h.svc.UpdateUser(r.Context(), PrincipalFrom(r.Context()), id, in)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, u)
}

func (h *Handlers) apiUserReset(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in resetRequest
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	Note(r.Context(), "user:"+strconv.FormatInt(id, 10), "password reset")
	if err := h.svc.ResetPassword(r.Context(), PrincipalFrom(r.Context()), id, in.Password, true); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiAudit(w http.ResponseWriter, r *http.Request) error {
	f, err := auditFilterFrom(r, PrincipalFrom(r.Context()))
	if err != nil {
		return err
	}
	es, total, err := h.svc.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	if es == nil {
		es = []AuditEntry{}
	}
	return web.JSON(w, http.StatusOK, auditList{Entries: es, Total: total})
}

func writeAuditCSV(w http.ResponseWriter, r *http.Request, es []AuditEntry) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audit.csv"`)
	rows := make([][]string, len(es))
	for i, e := range es {
		rows[i] = []string{strconv.FormatInt(e.ID, 10), fmtCST(e.At), e.ActorName, e.IP, e.Action, e.Target, e.Detail, e.Result, e.RequestID}
	}
	return tabular.WriteCSV(w, []string{"编号", "时间", "操作人", "来源地址", "操作", "对象", "详情", "结果", "请求编号"}, rows)
}
