package identity

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/tabular"
	"jnedu/internal/platform/web"
)

// Handlers serve the identity pages and API.
type Handlers struct {
	svc     *Service
	rd      *web.Renderer
	tiles   []Tile
	maxBody int64
	limits  tabular.Limits
	demo    bool
}

// HandlerConfig configures Handlers.
type HandlerConfig struct {
	MaxBody      int64
	ImportLimits tabular.Limits
	Demo         bool
	// Tiles of other subsystems for the portal.
	Tiles []Tile
}

// NewHandlers makes the handlers. The renderer may be set later with
// SetRenderer (it needs Chrome from these handlers first).
func NewHandlers(svc *Service, cfg HandlerConfig) *Handlers {
	return &Handlers{svc: svc, tiles: append(cfg.Tiles, identityTiles()...), maxBody: cfg.MaxBody,
		limits: cfg.ImportLimits, demo: cfg.Demo}
}

// SetRenderer gives the handlers their renderer.
func (h *Handlers) SetRenderer(rd *web.Renderer) { h.rd = rd }

// Routes lists every identity route, pages and API.
func (h *Handlers) Routes() []web.Route {
	const tag = "identity"
	return []web.Route{
		// Pages.
		{Method: "GET", Path: "/login", Perm: web.Public, Handler: h.loginPage},
		{Method: "POST", Path: "/login", Perm: web.Public, Handler: h.loginSubmit},
		{Method: "POST", Path: "/logout", Perm: web.SignedIn, AllowPasswordChange: true, Handler: h.logoutSubmit},
		{Method: "GET", Path: "/{$}", Perm: web.SignedIn, Handler: h.portalPage},
		{Method: "GET", Path: "/account", Perm: web.SignedIn, AllowPasswordChange: true, Handler: h.accountPage},
		{Method: "POST", Path: "/account", Perm: web.SignedIn, Handler: h.accountSubmit},
		{Method: "GET", Path: "/account/password", Perm: web.SignedIn, AllowPasswordChange: true, Handler: h.passwordPage},
		{Method: "POST", Path: "/account/password", Perm: web.SignedIn, AllowPasswordChange: true, Handler: h.passwordSubmit},
		{Method: "GET", Path: "/account/tokens", Perm: web.SignedIn, Handler: h.tokensPage},
		{Method: "POST", Path: "/account/tokens", Perm: web.SignedIn, Handler: h.tokenCreateSubmit},
		{Method: "POST", Path: "/account/tokens/{id}/revoke", Perm: web.SignedIn, Handler: h.tokenRevokeSubmit},
		{Method: "GET", Path: "/orgs", Perm: PermOrgRead, Handler: h.orgsPage},
		{Method: "GET", Path: "/orgs/new", Perm: PermOrgManage, Handler: h.orgNewPage},
		{Method: "POST", Path: "/orgs", Perm: PermOrgManage, Handler: h.orgCreateSubmit},
		{Method: "GET", Path: "/orgs/{id}", Perm: PermOrgRead, Handler: h.orgPage},
		{Method: "POST", Path: "/orgs/{id}", Perm: PermOrgManage, Handler: h.orgUpdateSubmit},
		{Method: "GET", Path: "/users", Perm: PermUserRead, Handler: h.usersPage},
		{Method: "GET", Path: "/users/new", Perm: PermUserManage, Handler: h.userNewPage},
		{Method: "POST", Path: "/users", Perm: PermUserManage, Handler: h.userCreateSubmit},
		{Method: "GET", Path: "/users/{id}", Perm: PermUserRead, Handler: h.userPage},
		{Method: "POST", Path: "/users/{id}", Perm: PermUserManage, Handler: h.userUpdateSubmit},
		{Method: "POST", Path: "/users/{id}/password", Perm: PermUserManage, Handler: h.userResetSubmit},
		{Method: "GET", Path: "/users/import", Perm: PermUserManage, Handler: h.importPage},
		{Method: "POST", Path: "/users/import", Perm: PermUserManage, Handler: h.importSubmit},
		{Method: "GET", Path: "/users/import/template.csv", Perm: PermUserManage, Handler: h.importTemplate},
		{Method: "GET", Path: "/audit", Perm: PermAuditRead, Handler: h.auditPage},
		{Method: "GET", Path: "/audit/export.csv", Perm: PermAuditRead, Handler: h.auditExport},

		// API.
		{Method: "POST", Path: "/api/v1/session", Perm: web.Public, Tag: tag, Summary: "Sign in; sets the session cookie and returns the CSRF token",
			Request: loginRequest{}, Response: sessionResponse{}, Handler: h.apiLogin},
		{Method: "DELETE", Path: "/api/v1/session", Perm: web.SignedIn, AllowPasswordChange: true, Tag: tag, Summary: "Sign out", Handler: h.apiLogout},
		{Method: "GET", Path: "/api/v1/me", Perm: web.SignedIn, AllowPasswordChange: true, Tag: tag, Summary: "The signed-in user, with grants and permissions",
			Response: meResponse{}, Handler: h.apiMe},
		{Method: "PATCH", Path: "/api/v1/me", Perm: web.SignedIn, Tag: tag, Summary: "Change my profile (name, email, phone, language)",
			Request: ProfileInput{}, Response: User{}, Handler: h.apiUpdateProfile},
		{Method: "PUT", Path: "/api/v1/me/password", Perm: web.SignedIn, AllowPasswordChange: true, Tag: tag, Summary: "Change my password",
			Request: passwordRequest{}, Handler: h.apiChangePassword},
		{Method: "GET", Path: "/api/v1/me/tokens", Perm: web.SignedIn, Tag: tag, Summary: "My API tokens", Response: []Token{}, Handler: h.apiTokens},
		{Method: "POST", Path: "/api/v1/me/tokens", Perm: web.SignedIn, Tag: tag, Summary: "Create an API token (the secret is returned once)",
			Request: TokenInput{}, Response: tokenCreated{}, Handler: h.apiTokenCreate},
		{Method: "DELETE", Path: "/api/v1/me/tokens/{id}", Perm: web.SignedIn, Tag: tag, Summary: "Revoke an API token", Handler: h.apiTokenRevoke},
		{Method: "GET", Path: "/api/v1/roles", Perm: web.SignedIn, Tag: tag, Summary: "Roles and their permissions", Response: []roleView{}, Handler: h.apiRoles},
		{Method: "GET", Path: "/api/v1/orgs", Perm: PermOrgRead, Tag: tag, Summary: "Organisations visible to me (?kind=&q=)", Response: []Org{}, Handler: h.apiOrgs},
		{Method: "POST", Path: "/api/v1/orgs", Perm: PermOrgManage, Tag: tag, Summary: "Create an organisation", Request: OrgInput{}, Response: Org{}, Handler: h.apiOrgCreate},
		{Method: "GET", Path: "/api/v1/orgs/{id}", Perm: PermOrgRead, Tag: tag, Summary: "One organisation", Response: Org{}, Handler: h.apiOrg},
		{Method: "PATCH", Path: "/api/v1/orgs/{id}", Perm: PermOrgManage, Tag: tag, Summary: "Rename an organisation", Request: OrgInput{}, Response: Org{}, Handler: h.apiOrgUpdate},
		{Method: "GET", Path: "/api/v1/users", Perm: PermUserRead, Tag: tag, Summary: "Users visible to me (?q=&org_id=&role=&limit=&offset=)", Response: userList{}, Handler: h.apiUsers},
		{Method: "POST", Path: "/api/v1/users", Perm: PermUserManage, Tag: tag, Summary: "Create a user", Request: UserInput{}, Response: User{}, Handler: h.apiUserCreate},
		{Method: "GET", Path: "/api/v1/users/{id}", Perm: PermUserRead, Tag: tag, Summary: "One user", Response: User{}, Handler: h.apiUser},
		{Method: "PATCH", Path: "/api/v1/users/{id}", Perm: PermUserManage, Tag: tag, Summary: "Change a user", Request: UserInput{}, Response: User{}, Handler: h.apiUserUpdate},
		{Method: "POST", Path: "/api/v1/users/{id}/password", Perm: PermUserManage, Tag: tag, Summary: "Reset a user's password (they must change it at next sign-in)",
			Request: resetRequest{}, Handler: h.apiUserReset},
		{Method: "POST", Path: "/api/v1/users/import", Perm: PermUserManage, Tag: tag, Summary: "Bulk import users from CSV or XLSX (multipart field \"file\"; ?dry_run=1). All or nothing.",
			Response: ImportReport{}, Handler: h.apiImport},
		{Method: "GET", Path: "/api/v1/audit", Perm: PermAuditRead, Tag: tag, Summary: "Audit log (?from=&to=&actor=&action=&result=&limit=&offset=)", Response: auditList{}, Handler: h.apiAudit},
		{Method: "GET", Path: "/api/v1/audit/export", Perm: PermAuditRead, Tag: tag, Summary: "Audit log as CSV (same filters)", Handler: h.auditExport},
	}
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.New(apperr.NotFound, "err.not_found")
	}
	return id, nil
}

func formInt(r *http.Request, k string) int64 {
	v, _ := strconv.ParseInt(strings.TrimSpace(r.FormValue(k)), 10, 64)
	return v
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if next == "" || err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
