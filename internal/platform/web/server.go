package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"jnedu/internal/platform/apperr"
)

//go:embed templates
var layoutFS embed.FS

//go:embed static
var staticFS embed.FS

// StaticFS is the embedded static files (CSS, scripts, images).
func StaticFS() fs.FS { return mustSub(staticFS, "static") }

// AuditFunc records a finished state-changing request: err is what the
// handler (or the guard) returned, status what was sent.
type AuditFunc func(r *http.Request, rt *Route, status int, err error)

// Server turns Routes into an http.Handler with the shared middleware.
type Server struct {
	Routes   *Routes
	Guard    Guard
	Renderer *Renderer
	Log      *slog.Logger
	Metrics  *Metrics
	ClientIP ClientIP
	Audit    AuditFunc
	// LoginPath is where unauthenticated page requests are sent.
	LoginPath string
	// PasswordPath is where users who must change their password are sent.
	PasswordPath string
	// Static holds subsystems' own static files, served under
	// /static/<name>/ (e.g. "share" → /static/share/player.js).
	Static map[string]fs.FS
}

// Handler builds the handler. Call once.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.Routes.All() {
		mux.Handle(rt.Pattern(), s.wrap(rt))
	}
	static := http.StripPrefix("/static/", http.FileServerFS(StaticFS()))
	mux.Handle("GET /static/", cacheForever(static))
	for name, fsys := range s.Static {
		mux.Handle("GET /static/"+name+"/", cacheForever(http.StripPrefix("/static/"+name+"/", http.FileServerFS(fsys))))
	}
	mux.Handle("/", s.wrap(&Route{Method: "GET", Path: "/", Handler: func(w http.ResponseWriter, r *http.Request) error {
		return NotFoundError()
	}}))
	cop := http.NewCrossOriginProtection()
	for _, rt := range s.Routes.All() {
		if rt.OwnAuth {
			if rt.Perm != Public {
				panic("web: route " + rt.Pattern() + " authenticates itself (OwnAuth) yet names a permission")
			}
			// Browsers call it from other sites with credentials in a
			// header, never a cookie: there is nothing to forge.
			cop.AddInsecureBypassPattern(rt.Pattern())
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serveError(w, r, &Route{Path: r.URL.Path}, apperr.New(apperr.Forbidden, "err.cross_origin"))
	}))
	return s.outer(cop.Handler(mux))
}

func cacheForever(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Static files are embedded in the binary; a new version is a new
		// binary, and their URLs carry ?v=<version>.
		w.Header().Set("Cache-Control", "public, max-age=86400")
		h.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	size   int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.size += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ReadFrom passes io.Copy through to the connection, so files are sent
// with sendfile(2) (http.ServeContent of an *os.File) instead of being
// copied through user space.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, r)
	}
	w.size += n
	return n, err
}

// writerOnly hides every method but Write (so io.Copy cannot loop back).
type writerOnly struct{ io.Writer }

// outer is the middleware every request passes: request ID, client
// address, language, security headers, recovery, metrics and the access log.
func (s *Server) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if id == "" || len(id) > 64 || strings.ContainsAny(id, " \r\n\t") {
			id = newRequestID()
		}
		ip, tls := s.ClientIP.Of(r)
		ctx := context.WithValue(r.Context(), reqIDKey{}, id)
		ctx = context.WithValue(ctx, clientKey{}, clientInfo{ip: ip, tls: tls})
		ctx = WithLang(ctx, LangFromRequest(r))
		r = r.WithContext(ctx)
		if l := r.URL.Query().Get("lang"); l != "" {
			http.SetCookie(w, &http.Cookie{Name: LangCookie, Value: NormalizeLang(l), Path: "/",
				MaxAge: 365 * 86400, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: tls})
		}

		h := w.Header()
		h.Set("X-Request-ID", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
		if tls {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Log.Error("panic", "request_id", id, "panic", v, "stack", string(debug.Stack()))
				if sw.status == 0 {
					s.serveError(sw, r, CurrentRoute(r.Context()), internalError(fmt.Errorf("panic: %v", v)))
				}
			}
			d := time.Since(start)
			route := "unmatched"
			if p := r.Pattern; p != "" {
				route = p
			}
			if strings.HasPrefix(route, "GET /static/") {
				route = "GET /static/"
			}
			if s.Metrics != nil {
				s.Metrics.observe(route, sw.status, d)
			}
			lvl := slog.LevelInfo
			if sw.status >= 500 {
				lvl = slog.LevelError
			} else if strings.HasPrefix(route, "GET /static/") || r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
				lvl = slog.LevelDebug
			}
			s.Log.Log(r.Context(), lvl, "http", "method", r.Method, "path", r.URL.Path, "status", sw.status,
				"bytes", sw.size, "ms", d.Milliseconds(), "ip", ip, "request_id", id)
		}()
		next.ServeHTTP(sw, r)
	})
}

// wrap runs one route: authorization, the handler, error responses, audit.
func (s *Server) wrap(rt *Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, rt))
		sw, ok := w.(*statusWriter)
		if !ok {
			sw = &statusWriter{ResponseWriter: w}
		}
		var err error
		if s.Guard != nil && !rt.OwnAuth {
			var r2 *http.Request
			r2, err = s.Guard.Authorize(r, rt)
			if r2 != nil {
				r = r2 // carries the caller even when refused, for the audit
			}
		}
		if err == nil {
			err = rt.Handler(sw, r)
		}
		if err != nil {
			if sw.status != 0 {
				// Headers are out; all we can do is log.
				s.Log.Error("error after response started", "request_id", RequestID(r.Context()), "err", err)
			} else {
				s.serveError(sw, r, rt, err)
			}
		}
		if s.Audit != nil && rt.StateChanging() && !rt.NoAudit {
			st := sw.status
			if st == 0 {
				st = http.StatusOK
			}
			s.Audit(r, rt, st, err)
		}
	})
}

// ServeError writes err as the right response for the route kind.
func (s *Server) serveError(w http.ResponseWriter, r *http.Request, rt *Route, err error) {
	e := apperr.As(err)
	if e == nil {
		e = internalError(err)
	}
	if e.Code == apperr.Internal {
		s.Log.Error("internal error", "request_id", RequestID(r.Context()), "path", r.URL.Path, "err", err)
	}
	lang := Lang(r.Context())
	msg, fields := messageOf(s.Renderer.tr, lang, e)
	isAPI := strings.HasPrefix(r.URL.Path, "/api/") || (rt != nil && rt.IsAPI())
	if isAPI {
		if e.Code == apperr.Unauthenticated {
			w.Header().Set("WWW-Authenticate", `Bearer realm="jnedu"`)
		}
		JSON(w, e.Code.Status(), ErrorBody{Error: ErrorDetail{Code: e.Code, Message: msg, Fields: fields, RequestID: RequestID(r.Context())}})
		return
	}
	switch e.Code {
	case apperr.Unauthenticated:
		if r.Method == http.MethodGet && s.LoginPath != "" {
			target := s.LoginPath + "?next=" + url.QueryEscape(r.URL.RequestURI())
			if e.Message != "err.unauthenticated" {
				target += "&flash=" + url.QueryEscape(e.Message) // e.g. the session expired
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
	case apperr.PasswordChange:
		if r.Method == http.MethodGet && s.PasswordPath != "" {
			http.Redirect(w, r, s.PasswordPath, http.StatusSeeOther)
			return
		}
	}
	p := Page{Title: "err.title", Data: map[string]any{"Status": e.Code.Status(), "Code": string(e.Code), "Message": msg}}
	if rerr := s.Renderer.Render(w, r, e.Code.Status(), "web/error", p); rerr != nil {
		s.Log.Error("render error page", "err", rerr)
		http.Error(w, msg, e.Code.Status())
	}
}

// IsClientGone reports whether err is the client hanging up.
func IsClientGone(err error) bool {
	return errors.Is(err, context.Canceled)
}
