package app

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"jnedu/internal/platform/db/dbtest"
)

// lrsCLIEngines are the databases the CLI test runs on: a data folder's
// SQLite file, and a fresh PostgreSQL schema when configured.
func lrsCLIEngines(t *testing.T) map[string]func(t *testing.T) string {
	out := map[string]func(t *testing.T) string{"sqlite": func(t *testing.T) string { return "" }}
	base := os.Getenv(dbtest.EnvPostgres)
	if base == "" {
		return out
	}
	out["postgres"] = func(t *testing.T) string {
		b := make([]byte, 6)
		rand.Read(b)
		schema := "cli_" + hex.EncodeToString(b)
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			a, _ := sql.Open("pgx", base)
			a.Exec("DROP SCHEMA " + schema + " CASCADE")
			a.Close()
		})
		u, _ := url.Parse(base)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return out
}

// TestLRSImportExportCLI runs "jnedu lrs import" and "jnedu lrs export":
// the export of an import of an export is the same file, a wrong line is
// reported with its number and fails the command.
func TestLRSImportExportCLI(t *testing.T) {
	for name, mk := range lrsCLIEngines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			run := func(dir, dbURL string, args ...string) (int, string, string) {
				env := func(k string) string {
					return map[string]string{"JNEDU_DATA_DIR": dir, "DATABASE_URL": dbURL, "LANG": "zh_CN.UTF-8"}[k]
				}
				var out, errOut strings.Builder
				code := Main(ctx, args, &out, &errOut, env)
				return code, out.String(), errOut.String()
			}
			dirA, dirB := t.TempDir(), t.TempDir()
			urlA, urlB := mk(t), mk(t)
			for _, x := range [][2]string{{dirA, urlA}, {dirB, urlB}} {
				if code, _, e := run(x[0], x[1], "demo"); code != 0 {
					t.Fatalf("demo: %s", e)
				}
			}
			in := filepath.Join(dirA, "in.jsonl")
			lines := []string{
				`{"id":"dddddddd-0000-4000-8000-000000000001","actor":{"name":"李明","account":{"homePage":"https://jnedu.test","name":"41"}},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed","display":{"zh-CN":"完成"}},"object":{"id":"http://jnedu.test/a/1","definition":{"name":{"zh-CN":"听说训练一"}}},"stored":"2026-02-03T01:02:03.004Z","timestamp":"2026-02-03T09:00:00+08:00","version":"2.0.0"}`,
				`{"id":"dddddddd-0000-4000-8000-000000000002","actor":{"name":"张华","mbox":"mailto:zh@school.test"},"verb":{"id":"http://adlnet.gov/expapi/verbs/attempted"},"object":{"id":"http://jnedu.test/a/2"},"stored":"2026-03-04T00:00:00.000Z","version":"1.0.0"}`,
				`{"actor":{"mbox":"mailto:new@school.test"},"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"http://jnedu.test/a/3"}}`,
			}
			os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
			if code, out, e := run(dirA, urlA, "lrs", "import", "-org", "JN-EDU", in); code != 0 || !strings.Contains(out, "存储 3") {
				t.Fatalf("import: code %d\n%s%s", code, out, e)
			}
			exA := filepath.Join(dirA, "export.jsonl")
			if code, _, e := run(dirA, urlA, "lrs", "export", "-o", exA); code != 0 || !strings.Contains(e, "已导出 3 条") {
				t.Fatalf("export: code %d %s", code, e)
			}
			if code, out, e := run(dirB, urlB, "lrs", "import", "-org", "JN-EDU", "-batch", "2", exA); code != 0 || !strings.Contains(out, "存储 3") {
				t.Fatalf("import of the export: code %d\n%s%s", code, out, e)
			}
			code, exB, e := run(dirB, urlB, "lrs", "export")
			if code != 0 {
				t.Fatalf("export B: %s", e)
			}
			a, _ := os.ReadFile(exA)
			if string(a) != exB || len(a) == 0 {
				t.Errorf("round trip differs:\n%s\nvs\n%s", a, exB)
			}
			if !strings.Contains(exB, `"stored":"2026-02-03T01:02:03.004Z"`) || !strings.Contains(exB, "李明") {
				t.Errorf("the export lost the stored time or the names:\n%s", exB)
			}
			code, exFeb, _ := run(dirB, urlB, "lrs", "export", "-since", "2026-02-01T00:00:00+08:00", "-until", "2026-02-28T23:59:59+08:00")
			if code != 0 || strings.Count(exFeb, "\n") != 1 || !strings.Contains(exFeb, "000000000001") {
				t.Errorf("February export: %q", exFeb)
			}
			bad := filepath.Join(dirA, "bad.jsonl")
			os.WriteFile(bad, []byte(`{"actor":{"mbox":"mailto:x@school.test"},"object":{"id":"http://jnedu.test/a/9"}}`+"\n"), 0o600)
			if code, out, _ := run(dirA, urlA, "lrs", "import", "-org", "JN-EDU", bad); code == 0 || !strings.Contains(out, "第 1 行") || !strings.Contains(out, "拒绝") || !strings.Contains(out, "has no verb") {
				t.Errorf("bad line: code %d, %s", code, out)
			}
		})
	}
}
