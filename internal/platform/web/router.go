package web

import (
	"context"
	"net/http"
	"sort"
	"strings"
)

// Perm is a permission a route requires. The identity subsystem defines the
// concrete permissions; the router only carries them to the Guard.
type Perm string

const (
	// Public routes need no sign-in.
	Public Perm = ""
	// SignedIn routes need any signed-in user.
	SignedIn Perm = "@signed-in"
)

// HandlerFunc is a handler that returns its error instead of writing it; one
// place (Router.serveError) turns errors into responses.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Route is one endpoint. Every endpoint of the program is a Route, so tests
// can walk them all.
type Route struct {
	Method  string // GET, POST, PUT, PATCH, DELETE
	Path    string // net/http pattern path, e.g. /api/v1/orgs/{id}
	Perm    Perm   // what the caller needs; Public or SignedIn or a permission
	Summary string // one line, for the OpenAPI document
	Tag     string // OpenAPI tag (subsystem)
	// Request and Response are sample values whose JSON shapes document the
	// API route (nil for none).
	Request, Response any
	// AllowPasswordChange lets users who must change their password still
	// reach this route (sign-out, the password page).
	AllowPasswordChange bool
	// NoAudit leaves a state-changing route out of the audit log: only for
	// high-frequency reports nobody must answer for (playback progress).
	NoAudit bool
	// AuditQuiet audits a state-changing route's refusals and failures
	// but its successes only when the handler noted them (identity.Note):
	// for routes called many times in one piece of work (the chunks of an
	// upload, where only the finish is worth a record).
	AuditQuiet bool
	// OwnAuth marks a route that authenticates its callers itself (the
	// xAPI endpoint: HTTP Basic with a client credential). The guard is not
	// consulted (no session, no CSRF token) and the cross-origin check lets
	// it through, since the route answers CORS itself. Perm must be Public.
	OwnAuth bool
	Handler HandlerFunc
}

// IsAPI reports whether the route speaks JSON.
func (rt *Route) IsAPI() bool { return strings.HasPrefix(rt.Path, "/api/") }

// Pattern is the net/http pattern of the route.
func (rt *Route) Pattern() string { return rt.Method + " " + rt.Path }

// StateChanging reports whether the method changes state.
func (rt *Route) StateChanging() bool {
	switch rt.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// Guard authenticates a request and decides whether it may use a route. It
// returns the request carrying the caller (in its context), or an error
// (apperr Unauthenticated / Forbidden / PasswordChange / RateLimited).
type Guard interface {
	Authorize(r *http.Request, rt *Route) (*http.Request, error)
}

type routeKey struct{}

// CurrentRoute returns the route serving the request.
func CurrentRoute(ctx context.Context) *Route {
	rt, _ := ctx.Value(routeKey{}).(*Route)
	return rt
}

// Routes collects routes and mounts them on a ServeMux behind the guard.
type Routes struct {
	list []*Route
}

// Add registers routes.
func (rs *Routes) Add(routes ...Route) {
	for i := range routes {
		rt := routes[i]
		rs.list = append(rs.list, &rt)
	}
}

// All returns every route, sorted by path then method.
func (rs *Routes) All() []*Route {
	out := append([]*Route(nil), rs.list...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}
