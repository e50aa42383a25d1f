package backup

import (
	"os"
	"slices"
	"testing"
)

func TestParsePgURL(t *testing.T) {
	tests := []struct {
		in         string
		url        string
		password   string // "" for none
		searchPath []string
	}{
		{
			in:         "postgres://postgres@127.0.0.1:5432/jnedu?sslmode=disable&search_path=t_abc",
			url:        "postgres://postgres@127.0.0.1:5432/jnedu?sslmode=disable",
			searchPath: []string{"t_abc"},
		},
		{
			in:       "postgresql://app:p%40ss%2Fw@db.example:6432/jnedu?pool_max_conns=10&application_name=jnedu&statement_cache_capacity=0",
			url:      "postgresql://app@db.example:6432/jnedu?application_name=jnedu",
			password: "p@ss/w",
		},
		{
			in:       "postgres:///jnedu?host=/var/run/postgresql&user=app&password=secret",
			url:      "postgres:///jnedu?host=%2Fvar%2Frun%2Fpostgresql&user=app",
			password: "secret",
		},
		{
			in:         `postgres://u@h/d?search_path=%22%24user%22,+Public,%22My%22%22Schema%22`,
			url:        "postgres://u@h/d",
			searchPath: []string{"public", `My"Schema`},
		},
	}
	base := len(os.Environ())
	for _, tt := range tests {
		c, err := parsePgURL(tt.in)
		if err != nil {
			t.Errorf("parsePgURL(%s): %v", tt.in, err)
			continue
		}
		if c.url != tt.url {
			t.Errorf("parsePgURL(%s).url = %s, want %s", tt.in, c.url, tt.url)
		}
		var added []string
		if tt.password != "" {
			added = []string{"PGPASSWORD=" + tt.password}
		}
		if got := c.env[base:]; !slices.Equal(got, added) {
			t.Errorf("parsePgURL(%s) adds %q to the environment, want %q", tt.in, got, added)
		}
		if !slices.Equal(c.searchPath, tt.searchPath) {
			t.Errorf("parsePgURL(%s).searchPath = %q, want %q", tt.in, c.searchPath, tt.searchPath)
		}
	}
	for _, bad := range []string{"mysql://u@h/d", "postgres://h:port:bad/d", ""} {
		if _, err := parsePgURL(bad); err == nil {
			t.Errorf("parsePgURL(%q) succeeded", bad)
		}
	}
}

func TestQuoteIdent(t *testing.T) {
	for in, want := range map[string]string{`t_abc`: `"t_abc"`, `My"S`: `"My""S"`, `a*b.c`: `"a*b.c"`} {
		if got := quoteIdent(in); got != want {
			t.Errorf("quoteIdent(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestCheckTargetSchemas(t *testing.T) {
	tests := []struct {
		dsn     string
		schemas []string
		ok      bool
	}{
		{"postgres://u@h/d", []string{"anything"}, true},
		{"postgres://u@h/d?search_path=t_abc", []string{"t_abc"}, true},
		{"postgres://u@h/d?search_path=app,public", []string{"public", "app"}, true},
		{"postgres://u@h/d?search_path=t_new", []string{"t_abc"}, false},
		{"postgres://u@h/d?search_path=app", []string{"app", "public"}, false},
	}
	for _, tt := range tests {
		if err := checkTargetSchemas(tt.dsn, tt.schemas); (err == nil) != tt.ok {
			t.Errorf("checkTargetSchemas(%s, %v) = %v, want ok=%v", tt.dsn, tt.schemas, err, tt.ok)
		}
	}
}
