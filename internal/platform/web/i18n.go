package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// Languages the pages speak. Simplified Chinese is the default.
const (
	LangZH = "zh-CN"
	LangEN = "en"
)

// Msg is one message: Simplified Chinese first, then English.
type Msg [2]string

// Catalog maps message keys to messages. Each subsystem owns one and adds it
// to the Translator at start-up.
type Catalog map[string]Msg

// Translator looks messages up. It is filled once at start-up and only read
// afterwards.
type Translator struct{ msgs Catalog }

// NewTranslator merges catalogs; a key defined twice is a programming error.
func NewTranslator(cats ...Catalog) (*Translator, error) {
	t := &Translator{msgs: Catalog{}}
	for _, c := range cats {
		for k, m := range c {
			if _, dup := t.msgs[k]; dup {
				return nil, fmt.Errorf("message key %q defined twice", k)
			}
			if m[0] == "" || m[1] == "" {
				return nil, fmt.Errorf("message key %q lacks a translation", k)
			}
			t.msgs[k] = m
		}
	}
	return t, nil
}

// T translates key into lang, formatting args with fmt verbs in the
// message. An unknown key is returned as it is (so plain text passes).
func (t *Translator) T(lang, key string, args ...any) string {
	m, ok := t.msgs[key]
	s := key
	if ok {
		s = m[0]
		if lang == LangEN {
			s = m[1]
		}
	}
	if len(args) > 0 && strings.Contains(s, "%") {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Has reports whether key is known.
func (t *Translator) Has(key string) bool { _, ok := t.msgs[key]; return ok }

// Keys lists every key (for tests).
func (t *Translator) Keys() []string {
	out := make([]string, 0, len(t.msgs))
	for k := range t.msgs {
		out = append(out, k)
	}
	return out
}

type langKey struct{}

// LangCookie remembers the language for visitors who are not signed in.
const LangCookie = "jnedu_lang"

// WithLang stores the request's language in ctx.
func WithLang(ctx context.Context, lang string) context.Context {
	return context.WithValue(ctx, langKey{}, NormalizeLang(lang))
}

// Lang returns the request's language (zh-CN unless chosen otherwise).
func Lang(ctx context.Context) string {
	if l, ok := ctx.Value(langKey{}).(string); ok {
		return l
	}
	return LangZH
}

// NormalizeLang maps anything but English to Simplified Chinese.
func NormalizeLang(l string) string {
	if strings.HasPrefix(strings.ToLower(l), "en") {
		return LangEN
	}
	return LangZH
}

// LangFromRequest reads ?lang= and the language cookie.
func LangFromRequest(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l != "" {
		return NormalizeLang(l)
	}
	if c, err := r.Cookie(LangCookie); err == nil {
		return NormalizeLang(c.Value)
	}
	return LangZH
}
