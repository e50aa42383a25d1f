package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/site/sitefixture"
)

// TestSiteCommands: load a package folder, type a wrong and then the right
// sealed code, refuse an export before the session ended, then end it and
// export the signed answer package.
func TestSiteCommands(t *testing.T) {
	fx, err := sitefixture.Build(sitefixture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pkg, data, out := t.TempDir(), t.TempDir(), t.TempDir()
	if err := fx.WriteFolder(pkg); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	if _, errOut, code := run(t, env, "site", "load", pkg, "--data", data); code != 1 || !strings.Contains(errOut, "--site") {
		t.Fatalf("load without a site code: %d %q", code, errOut)
	}
	if o, errOut, code := run(t, env, "site", "load", pkg, "--site", fx.Package.Site.Code, "--data", data); code != 0 || !strings.Contains(o, "revision 1") {
		t.Fatalf("load: %d %q %q", code, o, errOut)
	}
	wrong, _ := bundle.NewKey()
	if _, errOut, code := run(t, env, "site", "key", "--session", "S1", "--code", bundle.SealedCode(wrong), "--data", data); code != 1 || !strings.Contains(errOut, "密钥与本场次不符") {
		t.Fatalf("wrong key: %d %q", code, errOut)
	}
	if o, errOut, code := run(t, env, "site", "key", "--session", "S1", "--code", bundle.SealedCode(fx.Key), "--data", data); code != 0 || !strings.Contains(o, "key accepted") {
		t.Fatalf("key: %d %q %q", code, o, errOut)
	}
	if _, errOut, code := run(t, env, "site", "export", "--session", "S1", "--out", out, "--data", data); code != 1 || !strings.Contains(errOut, "has not ended") {
		t.Fatalf("export before the end: %d %q", code, errOut)
	}
	if o, errOut, code := run(t, env, "site", "export", "--session", "S1", "--out", out, "--end", "--data", data); code != 0 || !strings.Contains(o, "4 candidates") {
		t.Fatalf("export: %d %q %q", code, o, errOut)
	}
	if _, err := os.Stat(filepath.Join(out, "signed.json")); err != nil {
		t.Fatal(err)
	}
}
