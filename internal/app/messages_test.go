package app

import (
	"io/fs"
	"regexp"
	"testing"

	"jnedu/internal/exam"
	"jnedu/internal/exam/marking"
	"jnedu/internal/identity"
	"jnedu/internal/insight"
	"jnedu/internal/platform/web"
	"jnedu/internal/roster"
	"jnedu/internal/share"
)

// TestTemplateKeysTranslated: every message key a template names literally
// exists in both languages (an unknown key would show as itself).
func TestTemplateKeysTranslated(t *testing.T) {
	tr, err := web.NewTranslator(web.Messages(), identity.Messages(), share.Messages(), marking.Messages(), roster.Messages(), exam.Messages(), insight.Messages(), systemMessages())
	if err != nil {
		t.Fatal(err)
	}
	keyRE := regexp.MustCompile(`\.T "([a-z_]+\.[a-z_0-9.]+)"`)
	checked := 0
	for name, fsys := range map[string]fs.FS{"identity": identity.TemplatesFS(), "share": share.TemplatesFS(), "exam": exam.TemplatesFS(), "marking": marking.TemplatesFS(), "roster": roster.TemplatesFS(), "insight": insight.TemplatesFS()} {
		err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, path)
			if err != nil {
				return err
			}
			for _, m := range keyRE.FindAllStringSubmatch(string(b), -1) {
				checked++
				if !tr.Has(m[1]) {
					t.Errorf("%s/%s uses message key %q, which no catalog defines", name, path, m[1])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 100 {
		t.Errorf("only %d keys found: the pattern no longer matches the templates", checked)
	}
}
