package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"jnedu/internal/platform/apperr"
)

func TestClientIP(t *testing.T) {
	c := ClientIP{Trusted: ParseTrusted([]string{"10.0.0.0/8", "127.0.0.1"})}
	tests := []struct {
		remote, xff, proto string
		ip                 string
		tls                bool
	}{
		{"203.0.113.5:1234", "1.2.3.4", "https", "203.0.113.5", false}, // untrusted peer: headers ignored
		{"127.0.0.1:1234", "198.51.100.7", "https", "198.51.100.7", true},
		{"127.0.0.1:1234", "198.51.100.7, 10.1.2.3", "http", "198.51.100.7", false}, // skip trusted hops
		{"127.0.0.1:1234", "6.6.6.6, 198.51.100.7", "", "198.51.100.7", false},      // a client cannot spoof past the last untrusted hop
		{"127.0.0.1:1234", "", "", "127.0.0.1", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if tt.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		ip, tls := c.Of(r)
		if ip != tt.ip || tls != tt.tls {
			t.Errorf("Of(%s, xff %q) = %s, %v; want %s, %v", tt.remote, tt.xff, ip, tls, tt.ip, tt.tls)
		}
	}
}

func TestTranslator(t *testing.T) {
	if _, err := NewTranslator(Catalog{"a": {"甲", "A"}}, Catalog{"a": {"乙", "B"}}); err == nil {
		t.Error("a key defined twice was accepted")
	}
	if _, err := NewTranslator(Catalog{"a": {"甲", ""}}); err == nil {
		t.Error("a key without English was accepted")
	}
	tr, err := NewTranslator(Messages(), Catalog{"n": {"共 %d 条", "%d in all"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.T(LangZH, "n", 3); got != "共 3 条" {
		t.Errorf("T zh = %q", got)
	}
	if got := tr.T(LangEN, "n", 3); got != "3 in all" {
		t.Errorf("T en = %q", got)
	}
	if got := tr.T(LangZH, "plain text"); got != "plain text" {
		t.Errorf("unknown key = %q", got)
	}
}

func TestDecodeJSON(t *testing.T) {
	type in struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	tests := []struct {
		body, ctype string
		code        apperr.Code
	}{
		{`{"name":"x","n":1}`, "application/json", ""},
		{`{"name":"x","n":1}`, "application/json; charset=utf-8", ""},
		{`{"name":"x","extra":1}`, "application/json", apperr.Invalid},
		{`{"n":"one"}`, "application/json", apperr.Invalid},
		{`{"name":"x"}{"name":"y"}`, "application/json", apperr.Invalid},
		{``, "application/json", apperr.Invalid},
		{`{"name":"` + strings.Repeat("x", 200) + `"}`, "application/json", apperr.TooLarge},
		{`name=x`, "application/x-www-form-urlencoded", apperr.Unsupported},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
		r.Header.Set("Content-Type", tt.ctype)
		var v in
		err := DecodeJSON(httptest.NewRecorder(), r, 100, &v)
		if got := apperr.Code(""); err != nil {
			got = apperr.CodeOf(err)
			if got != tt.code {
				t.Errorf("DecodeJSON(%.30q) code %q, want %q", tt.body, got, tt.code)
			}
		} else if tt.code != "" {
			t.Errorf("DecodeJSON(%.30q) accepted, want %q", tt.body, tt.code)
		}
	}
}

func TestSecurityHeadersAndStatic(t *testing.T) {
	tr, _ := NewTranslator(Messages())
	rd, err := NewRenderer(tr, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := &Routes{}
	rs.Add(Route{Method: "GET", Path: "/boom", Handler: func(w http.ResponseWriter, r *http.Request) error { panic("boom") }})
	s := &Server{Routes: rs, Renderer: rd, Log: discardLogger()}
	h := s.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/static/app.css", nil))
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Type"), "text/css") {
		t.Errorf("static css: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, hd := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "X-Request-ID"} {
		if rec.Header().Get(hd) == "" {
			t.Errorf("missing %s", hd)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "goroutine") || !strings.Contains(rec.Body.String(), "系统内部错误") {
		t.Errorf("panic: status %d, body leaks a stack or lacks the Chinese message", rec.Code)
	}
}
