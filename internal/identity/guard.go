package identity

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/web"
)

// SessionCookie names the session cookie.
const SessionCookie = "jnedu_session"

// CSRFHeader carries the anti-forgery token on script requests.
const CSRFHeader = "X-CSRF-Token"

// Guard is the one authorization check every route passes through: it
// authenticates the caller (session cookie or bearer token), checks the
// anti-forgery token of state-changing browser requests, and the route's
// permission.
type Guard struct {
	svc          *Service
	maxBody      int64
	maxMultipart int64
}

// NewGuard makes the guard. maxBody bounds form bodies, maxMultipart file
// uploads sent as forms.
func NewGuard(svc *Service, maxBody, maxMultipart int64) *Guard {
	return &Guard{svc: svc, maxBody: maxBody, maxMultipart: maxMultipart}
}

var _ web.Guard = (*Guard)(nil)

// Authorize implements web.Guard.
func (g *Guard) Authorize(r *http.Request, rt *web.Route) (*http.Request, error) {
	ctx := context.WithValue(r.Context(), noteKey{}, &auditNote{})
	r = r.WithContext(ctx)
	p, err := g.authenticate(r)
	if p != nil {
		ctx = WithPrincipal(ctx, p)
		if _, cerr := r.Cookie(web.LangCookie); cerr != nil && r.URL.Query().Get("lang") == "" {
			ctx = web.WithLang(ctx, p.User.Locale)
		}
		r = r.WithContext(ctx)
	}
	if rt.Perm == web.Public {
		// A public route works for everyone; a broken cookie is ignored.
		return r, g.parseForm(r, rt)
	}
	if err != nil {
		return r, err
	}
	if p == nil {
		return r, apperr.New(apperr.Unauthenticated, "err.unauthenticated")
	}
	if rt.StateChanging() {
		switch p.Via {
		case "session":
			if err := g.parseForm(r, rt); err != nil {
				return r, err
			}
			tok := r.Header.Get(CSRFHeader)
			if tok == "" && !rt.IsAPI() {
				tok = r.PostFormValue("_csrf")
			}
			if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(p.CSRF)) != 1 {
				return r, apperr.New(apperr.Forbidden, "err.csrf")
			}
		case "token":
			if !hasScope(p.Scopes, ScopeWrite) {
				return r, apperr.New(apperr.Forbidden, "token.err_read_only")
			}
		}
	}
	if p.MustChange && !rt.AllowPasswordChange {
		return r, apperr.New(apperr.PasswordChange, "err.password_change")
	}
	if rt.Perm == web.SignedIn {
		return r, nil
	}
	if !p.Can(rt.Perm) {
		return r, apperr.New(apperr.Forbidden, "err.forbidden")
	}
	return r, nil
}

func hasScope(scopes []string, s string) bool {
	for _, x := range scopes {
		if x == s {
			return true
		}
	}
	return false
}

// parseForm reads urlencoded and multipart bodies of page routes within
// their limits, before the CSRF check needs the _csrf field.
func (g *Guard) parseForm(r *http.Request, rt *web.Route) error {
	if !rt.StateChanging() || rt.IsAPI() {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "multipart/form-data"):
		return web.ParseForm(nil, r, g.maxMultipart)
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		return web.ParseForm(nil, r, g.maxBody)
	}
	return nil
}

// authenticate finds the caller. A bearer token that is wrong is an error;
// a session cookie that is stale is simply no session.
func (g *Guard) authenticate(r *http.Request) (*Principal, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, apperr.New(apperr.Unauthenticated, "token.invalid")
		}
		return g.svc.TokenPrincipal(ctx, strings.TrimSpace(tok))
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	p, err := g.svc.SessionPrincipal(ctx, c.Value)
	if err != nil {
		if apperr.CodeOf(err) == apperr.Unauthenticated {
			return nil, apperr.New(apperr.Unauthenticated, "session.expired")
		}
		return nil, err
	}
	return p, nil
}

// SetSessionCookie writes the session cookie: HttpOnly, SameSite=Lax, and
// Secure when the request came over TLS.
func SetSessionCookie(w http.ResponseWriter, r *http.Request, secret string, exp time.Time) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: secret, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: web.IsTLS(r.Context()), Expires: exp})
}

// ClearSessionCookie removes the session cookie.
func ClearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: web.IsTLS(r.Context()), MaxAge: -1})
}
