package identity

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/web"
)

func (h *Handlers) page(w http.ResponseWriter, r *http.Request, name, title string, data any) error {
	return h.rd.Render(w, r, http.StatusOK, "identity/"+name, web.Page{Title: title, Data: data, Flash: h.flash(r)})
}

// flash returns the ?flash= message key, only if it is a known key: a link
// must not be able to put text of its choosing on our pages.
func (h *Handlers) flash(r *http.Request) string {
	if f := r.URL.Query().Get("flash"); h.rd.Translator().Has(f) {
		return f
	}
	return ""
}

// withFlash adds a flash message key to a redirect target.
func withFlash(path, key string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "flash=" + key
}

// ---- sign-in ----

type loginData struct {
	Username string
	Next     string
	Demo     bool
}

func (h *Handlers) loginPage(w http.ResponseWriter, r *http.Request) error {
	if p := PrincipalFrom(r.Context()); p != nil {
		return web.Redirect(w, r, safeNext(r.URL.Query().Get("next")))
	}
	return h.page(w, r, "login", "login.title", loginData{Next: r.URL.Query().Get("next"), Demo: h.demo})
}

func (h *Handlers) loginSubmit(w http.ResponseWriter, r *http.Request) error {
	d := loginData{Username: r.PostFormValue("username"), Next: r.PostFormValue("next"), Demo: h.demo}
	res, err := h.svc.Login(r.Context(), d.Username, r.PostFormValue("password"), web.RemoteIP(r.Context()), r.UserAgent())
	NoteAction(r.Context(), "login")
	Note(r.Context(), "user:"+strings.ToLower(strings.TrimSpace(d.Username)), "")
	if err != nil {
		if apperr.CodeOf(err) == apperr.Internal {
			return err
		}
		return h.rd.FormError(w, r, "identity/login", web.Page{Title: "login.title", Data: d}, err)
	}
	NoteActor(r.Context(), res.Principal)
	SetSessionCookie(w, r, res.Secret, res.ExpiresAt)
	http.SetCookie(w, &http.Cookie{Name: web.LangCookie, Value: res.Principal.User.Locale, Path: "/", MaxAge: 365 * 86400,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: web.IsTLS(r.Context())})
	if res.Principal.MustChange {
		return web.Redirect(w, r, "/account/password")
	}
	return web.Redirect(w, r, safeNext(d.Next))
}

func (h *Handlers) logoutSubmit(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := h.svc.Logout(r.Context(), c.Value); err != nil {
			return err
		}
	}
	NoteAction(r.Context(), "logout")
	ClearSessionCookie(w, r)
	return web.Redirect(w, r, withFlash("/login", "login.signed_out"))
}

// ---- portal ----

type portalGroup struct {
	Key   string
	Tiles []Tile
}

type portalData struct {
	Groups    []portalGroup
	Roles     []string
	Demo      bool
	OrgCount  int
	UserCount int
}

func (h *Handlers) portalPage(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	d := portalData{Demo: h.demo}
	for _, t := range visibleTiles(p, h.tiles) {
		if n := len(d.Groups); n > 0 && d.Groups[n-1].Key == t.Group {
			d.Groups[n-1].Tiles = append(d.Groups[n-1].Tiles, t)
		} else {
			d.Groups = append(d.Groups, portalGroup{Key: t.Group, Tiles: []Tile{t}})
		}
	}
	for _, role := range p.Roles() {
		d.Roles = append(d.Roles, h.svc.rbac.Name(role, web.Lang(r.Context())))
	}
	return h.page(w, r, "portal", "portal.title", d)
}

// ---- account ----

type accountData struct {
	User   User
	Org    Org
	Grants []grantView
}

type grantView struct {
	Role, Org string
}

func (h *Handlers) grantViews(r *http.Request, gs []Grant) []grantView {
	var out []grantView
	for _, g := range gs {
		out = append(out, grantView{Role: h.svc.rbac.Name(g.Role, web.Lang(r.Context())), Org: g.OrgName})
	}
	return out
}

func (h *Handlers) accountPage(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	return h.page(w, r, "account", "account.title", accountData{User: p.User, Org: p.Org, Grants: h.grantViews(r, p.Grants)})
}

func (h *Handlers) accountSubmit(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	u, err := h.svc.UpdateProfile(r.Context(), p, ProfileInput{
		DisplayName: r.PostFormValue("display_name"), Email: r.PostFormValue("email"),
		Phone: r.PostFormValue("phone"), Locale: r.PostFormValue("locale"),
	})
	Note(r.Context(), "user:"+strconv.FormatInt(p.User.ID, 10), "profile")
	if err != nil {
		d := accountData{User: p.User, Org: p.Org, Grants: h.grantViews(r, p.Grants)}
		return h.rd.FormError(w, r, "identity/account", web.Page{Title: "account.title", Data: d}, err)
	}
	http.SetCookie(w, &http.Cookie{Name: web.LangCookie, Value: u.Locale, Path: "/", MaxAge: 365 * 86400,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: web.IsTLS(r.Context())})
	return web.Redirect(w, r, withFlash("/account", "account.saved"))
}

func (h *Handlers) passwordPage(w http.ResponseWriter, r *http.Request) error {
	return h.page(w, r, "password", "password.title", nil)
}

func (h *Handlers) passwordSubmit(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	Note(r.Context(), "user:"+strconv.FormatInt(p.User.ID, 10), "password changed")
	NoteAction(r.Context(), "password.change")
	if r.PostFormValue("password") != r.PostFormValue("password2") {
		return h.rd.FormError(w, r, "identity/password", web.Page{Title: "password.title"}, apperr.Field("password2", "pw.mismatch"))
	}
	if err := h.svc.ChangePassword(r.Context(), p, r.PostFormValue("old_password"), r.PostFormValue("password")); err != nil {
		return h.rd.FormError(w, r, "identity/password", web.Page{Title: "password.title"}, err)
	}
	return web.Redirect(w, r, withFlash("/", "password.changed"))
}

// ---- tokens ----

type tokensData struct {
	Tokens []Token
	Secret string
	Now    int64
}

func (h *Handlers) tokensPage(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	ts, err := h.svc.Tokens(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	return h.page(w, r, "tokens", "tokens.title", tokensData{Tokens: ts, Now: time.Now().UnixMilli()})
}

func (h *Handlers) tokenCreateSubmit(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	if p.Via != "session" {
		return apperr.New(apperr.Forbidden, "token.err_session_only")
	}
	days, _ := strconv.Atoi(r.PostFormValue("expires_in_days"))
	secret, t, err := h.svc.CreateToken(r.Context(), p, TokenInput{Name: r.PostFormValue("name"), Scopes: r.PostForm["scopes"], ExpiresIn: days})
	ts, lerr := h.svc.Tokens(r.Context(), p.User.ID)
	if lerr != nil {
		return lerr
	}
	d := tokensData{Tokens: ts, Now: time.Now().UnixMilli()}
	if err != nil {
		return h.rd.FormError(w, r, "identity/tokens", web.Page{Title: "tokens.title", Data: d}, err)
	}
	Note(r.Context(), "token:"+strconv.FormatInt(t.ID, 10), "created "+t.Prefix)
	d.Secret = secret
	// The secret is shown on this response only, never again.
	return h.rd.Render(w, r, http.StatusOK, "identity/tokens", web.Page{Title: "tokens.title", Data: d, Flash: "tokens.created"})
}

func (h *Handlers) tokenRevokeSubmit(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	id, err := pathID(r)
	if err != nil {
		return err
	}
	Note(r.Context(), "token:"+strconv.FormatInt(id, 10), "revoked")
	if err := h.svc.RevokeToken(r.Context(), p, id); err != nil {
		return err
	}
	return web.Redirect(w, r, withFlash("/account/tokens", "tokens.revoked"))
}
