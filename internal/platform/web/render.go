package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"jnedu/internal/platform/apperr"
)

// Chrome is what the layout shows around every page: who is signed in, the
// navigation, the anti-forgery token. The identity subsystem provides it.
type Chrome struct {
	UserName   string
	OrgName    string
	RoleNames  []string
	Nav        []NavItem
	CSRF       string
	SignedIn   bool
	MustChange bool
}

// NavItem is one entry of the navigation.
type NavItem struct {
	Key    string // message key of the label
	Href   string
	Icon   string
	Active bool
}

// Page is handed to every page template as its data.
type Page struct {
	Lang      string
	Title     string // message key or text
	Chrome    Chrome
	Flash     string // message key or text, shown once
	Error     string // message shown at the top of a form
	Fields    map[string]string
	Data      any
	RequestID string
	Now       time.Time
	Path      string
	Query     string

	tr *Translator
}

// T translates key into the page's language; templates call it as
// {{.T "key"}} (or {{$.T "key"}} inside range and with).
func (p Page) T(key string, args ...any) string {
	if p.tr == nil {
		return key
	}
	return p.tr.T(p.Lang, key, args...)
}

// IsEN reports whether the page is in English.
func (p Page) IsEN() bool { return p.Lang == LangEN }

// Renderer renders server-side pages from embedded templates.
type Renderer struct {
	tr     *Translator
	pages  map[string]*template.Template
	chrome func(r *http.Request) Chrome
	log    *slog.Logger
	dev    bool
}

// TemplateSet is one subsystem's page templates: files NAME.html at the
// root of FS, each defining "content" (and optionally "title", "head").
// Pages are addressed as "<Prefix>/<NAME>".
type TemplateSet struct {
	Prefix string
	FS     fs.FS
}

// NewRenderer parses the layout and every page once at start-up; a broken
// template stops the program before it serves anything.
func NewRenderer(tr *Translator, log *slog.Logger, chrome func(*http.Request) Chrome, sets ...TemplateSet) (*Renderer, error) {
	rd := &Renderer{tr: tr, pages: map[string]*template.Template{}, chrome: chrome, log: log}
	base := template.New("layout").Funcs(rd.funcs())
	base, err := base.ParseFS(layoutFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	sets = append([]TemplateSet{{Prefix: "web", FS: mustSub(layoutFS, "templates/pages")}}, sets...)
	for _, set := range sets {
		names, err := fs.Glob(set.FS, "*.html")
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			t, err := base.Clone()
			if err != nil {
				return nil, err
			}
			if _, err := t.ParseFS(set.FS, n); err != nil {
				return nil, fmt.Errorf("parse %s/%s: %w", set.Prefix, n, err)
			}
			rd.pages[set.Prefix+"/"+strings.TrimSuffix(path.Base(n), ".html")] = t
		}
	}
	return rd, nil
}

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

func (rd *Renderer) funcs() template.FuncMap {
	return template.FuncMap{
		"dict": dict,
		"fmtTime": func(ms int64) string {
			if ms == 0 {
				return "—"
			}
			return time.UnixMilli(ms).In(chinaTime).Format("2006-01-02 15:04:05")
		},
		"fmtDate": func(ms int64) string {
			if ms == 0 {
				return "—"
			}
			return time.UnixMilli(ms).In(chinaTime).Format("2006-01-02")
		},
		"join": strings.Join,
		"bytes": func(n int64) string {
			const unit = 1024
			if n < unit {
				return fmt.Sprintf("%d B", n)
			}
			div, exp := int64(unit), 0
			for m := n / unit; m >= unit; m /= unit {
				div *= unit
				exp++
			}
			return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "KMGTPE"[exp])
		},
		"add": func(a, b int) int { return a + b },
	}
}

// chinaTime is China Standard Time (UTC+8, no daylight saving). A fixed zone
// keeps the program independent of the machine's tzdata.
var chinaTime = time.FixedZone("CST", 8*3600)

func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// Has reports whether a page exists.
func (rd *Renderer) Has(name string) bool { _, ok := rd.pages[name]; return ok }

// Render writes page name with status. p.Chrome and p.Lang are filled here.
func (rd *Renderer) Render(w http.ResponseWriter, r *http.Request, status int, name string, p Page) error {
	t, ok := rd.pages[name]
	if !ok {
		return internalError(fmt.Errorf("no page template %q", name))
	}
	p.Lang = Lang(r.Context())
	if rd.chrome != nil {
		p.Chrome = rd.chrome(r)
	}
	p.RequestID = RequestID(r.Context())
	p.Now = time.Now()
	p.Path = r.URL.Path
	p.Query = r.URL.RawQuery
	p.tr = rd.tr
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return internalError(fmt.Errorf("render %s: %w", name, err))
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", p.Lang)
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// T translates for the request's language.
func (rd *Renderer) T(r *http.Request, key string, args ...any) string {
	return rd.tr.T(Lang(r.Context()), key, args...)
}

// Translator returns the translator.
func (rd *Renderer) Translator() *Translator { return rd.tr }

// FormError re-renders a form page with the error and field messages.
func (rd *Renderer) FormError(w http.ResponseWriter, r *http.Request, name string, p Page, err error) error {
	e := apperr.As(err)
	if e == nil || e.Code == apperr.Internal {
		return err
	}
	p.Error, p.Fields = messageOf(rd.tr, Lang(r.Context()), e)
	return rd.Render(w, r, e.Code.Status(), name, p)
}
