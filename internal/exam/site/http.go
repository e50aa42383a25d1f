package site

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/web"
)

// Err is an error the site node answers with its own HTTP status and a
// stable code (the client acts on the code; people read the message).
type Err struct {
	Status     int
	Code       string // e.g. "exam.site.disk_full"
	Args       []any
	Cause      error
	RetryAfter time.Duration // > 0: answered with a Retry-After header
}

func (e *Err) Error() string {
	s := fmt.Sprintf("%d %s", e.Status, e.Code)
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

func (e *Err) Unwrap() error { return e.Cause }

func fail(status int, code string, args ...any) *Err {
	return &Err{Status: status, Code: code, Args: args}
}

// toErr maps any error to a status and code.
func toErr(err error) *Err {
	var e *Err
	if errors.As(err, &e) {
		return e
	}
	if ae := apperr.As(err); ae != nil {
		return &Err{Status: ae.Code.Status(), Code: ae.Message, Args: ae.Args, Cause: err}
	}
	switch {
	case errors.Is(err, ErrWrongKey), errors.Is(err, bundle.ErrKey):
		return &Err{Status: http.StatusUnprocessableEntity, Code: "exam.site.wrong_key", Cause: err}
	case errors.Is(err, bundle.ErrCode):
		return &Err{Status: http.StatusUnprocessableEntity, Code: "exam.site.code_mistyped", Cause: err}
	case errors.Is(err, ErrNoPackage):
		return &Err{Status: http.StatusConflict, Code: "exam.site.no_package", Cause: err}
	case errors.Is(err, ErrConflict):
		return &Err{Status: http.StatusConflict, Code: "exam.site.chunk_conflict", Cause: err}
	case IsDiskFull(err):
		return &Err{Status: http.StatusInsufficientStorage, Code: "exam.site.disk_full", Cause: err}
	case errors.Is(err, ErrLogClosed):
		return &Err{Status: http.StatusServiceUnavailable, Code: "exam.site.write_failed", Cause: err}
	}
	return &Err{Status: http.StatusInternalServerError, Code: "exam.site.internal", Cause: err}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handler is the node's HTTP interface: the exam client at /, its API under
// /client/api/, the proctor console under /console.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h handlerFunc) { mux.Handle(pattern, n.wrap(pattern, h, true)) }
	page := func(pattern string, h handlerFunc) { mux.Handle(pattern, n.wrap(pattern, h, false)) }
	n.clientRoutes(api, page)
	n.consoleRoutes(api, page)
	st := http.StripPrefix("/static/site/", http.FileServerFS(StaticFS()))
	mux.Handle("GET /static/site/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		st.ServeHTTP(w, r)
	}))
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(web.StaticFS())))
	mux.Handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.JSON(w, http.StatusOK, map[string]any{"ok": true})
	}))
	cop := http.NewCrossOriginProtection()
	return n.outer(cop.Handler(mux))
}

func (n *Node) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
		r = r.WithContext(web.WithLang(r.Context(), web.LangFromRequest(r)))
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				n.opt.Log.Error("panic", "panic", v, "stack", string(debug.Stack()))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// wrap turns a handler into an http.Handler: errors become answers, and a
// request that changes state is durable before its answer (durable.go).
func (n *Node) wrap(pattern string, h handlerFunc, isAPI bool) http.Handler {
	durable := changesState(pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if durable {
			w = &durableWriter{ResponseWriter: w, n: n, r: r, isAPI: isAPI}
		}
		start := time.Now()
		err := h(w, r)
		if err == nil {
			return
		}
		e := toErr(err)
		lvl := slog.LevelInfo
		if e.Status >= 500 {
			lvl = slog.LevelError
		}
		n.opt.Log.Log(r.Context(), lvl, "request refused", "method", r.Method, "path", r.URL.Path,
			"status", e.Status, "code", e.Code, "err", err, "ms", time.Since(start).Milliseconds())
		if e.RetryAfter > 0 {
			retryAfter(w, e.RetryAfter)
		}
		lang := web.Lang(r.Context())
		msg := n.tr.T(lang, e.Code, e.Args...)
		if isAPI {
			web.JSON(w, e.Status, web.ErrorBody{Error: web.ErrorDetail{Code: apperr.Code(e.Code), Message: msg}})
			return
		}
		if e.Status == http.StatusUnauthorized && r.Method == http.MethodGet {
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		}
		n.render(w, r, e.Status, "error", map[string]any{"Message": msg, "Code": e.Code})
	})
}

// call makes a JSON API handler from the parts every call has. auth says
// who is calling (the attempt in the path and its token, a proctor's
// console session, …) and comes first; then the body is decoded into In
// (JSON of at most 64 KiB; a call whose In is noBody does not read its
// body); then h does the call's own work and returns the answer: a value
// sent as JSON, nil for {"ok": true}, or a *raw answer. An error from any
// step is answered by wrap with its status and code.
func call[Who, In any](auth func(*http.Request) (Who, error), h func(*http.Request, Who, *In) (any, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		who, err := auth(r)
		if err != nil {
			return err
		}
		in := new(In)
		if _, none := any(in).(*noBody); !none {
			if err := decode(w, r, in); err != nil {
				return err
			}
		}
		out, err := h(r, who, in)
		if err != nil {
			return err
		}
		return reply(w, r, out)
	}
}

// noBody is the body of a call that takes none: it is not read.
type noBody struct{}

// okAnswer is the answer of a call with nothing else to say.
var okAnswer = struct {
	OK bool `json:"ok"`
}{true}

// raw is an answer the JSON encoder does not make: bytes as they are.
type raw struct {
	body         []byte
	contentType  string // "": sniffed from the body
	cacheControl string
	ranges       bool // served by http.ServeContent: byte ranges, conditional requests
}

func reply(w http.ResponseWriter, r *http.Request, out any) error {
	switch v := out.(type) {
	case nil:
		return jsonOut(w, http.StatusOK, okAnswer)
	case *raw:
		ct := v.contentType
		if ct == "" {
			ct = http.DetectContentType(v.body)
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Cache-Control", v.cacheControl)
		if v.ranges {
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(v.body))
			return nil
		}
		_, err := w.Write(v.body)
		return err
	}
	return jsonOut(w, http.StatusOK, out)
}

func jsonOut(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return writeJSON(w, v)
}

// decode reads a JSON body of at most 64 KiB.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	return web.DecodeJSON(w, r, 64<<10, v)
}

// pages are the console templates, parsed once.
var pages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	names, err := fs.Glob(TemplatesFS(), "*.html")
	if err != nil {
		panic(err)
	}
	for _, nm := range names {
		if nm == "layout.html" {
			continue
		}
		t := template.Must(template.New("layout.html").Funcs(template.FuncMap{
			"json": func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
		}).ParseFS(TemplatesFS(), "layout.html", nm))
		out[strings.TrimSuffix(nm, ".html")] = t
	}
	return out
}()

// pageData is what console templates get.
type pageData struct {
	Lang string
	Data map[string]any
	tr   *web.Translator
	User string
}

// T translates a message key.
func (p pageData) T(key string, args ...any) string { return p.tr.T(p.Lang, key, args...) }

func (n *Node) render(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) error {
	t := pages[name]
	if t == nil {
		return fmt.Errorf("no page %s", name)
	}
	pd := pageData{Lang: web.Lang(r.Context()), Data: data, tr: n.tr}
	if u := staffOf(r); u != nil {
		pd.User = u.Name
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return t.Execute(w, pd)
}
