package app

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"jnedu/internal/platform/db"
)

// TestBackupRestoreRoundTrip: back up a live program's data through the
// command line, change everything, restore, and get exactly what was there.
func TestBackupRestoreRoundTrip(t *testing.T) {
	engines(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		ta := newTestApp(t, d, true)
		env := map[string]string{"JNEDU_DATA_DIR": ta.Cfg.DataDir}
		if d.Dialect() == db.Postgres {
			env["DATABASE_URL"] = d.PostgresDSN()
		} else {
			env["DATABASE_URL"] = d.SQLitePath()
		}
		c := ta.client(t)
		c.login("admin", "Demo2026jn")
		if resp := c.do("POST", "/api/v1/orgs", "application/json", `{"kind":"school","code":"BK-1","name":"备份前的学校","parent_id":1}`, nil); resp.StatusCode != 201 {
			t.Fatalf("create org: %d", resp.StatusCode)
		}
		info, err := ta.Blobs.Put(ctx, strings.NewReader("一段课堂录像的字节"))
		if err != nil {
			t.Fatal(err)
		}
		snapshot := func() string {
			var b bytes.Buffer
			for _, q := range []string{
				"SELECT id, code, name, path FROM identity_orgs ORDER BY id",
				"SELECT id, username, password_hash, org_id FROM identity_users ORDER BY id",
				"SELECT user_id, role, org_id FROM identity_grants ORDER BY id",
				"SELECT COUNT(*) FROM identity_audit",
			} {
				rows, err := d.Query(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				cols, _ := rows.Columns()
				for rows.Next() {
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					rows.Scan(ptrs...)
					for _, v := range vals {
						if bs, ok := v.([]byte); ok {
							v = string(bs)
						}
						fmt.Fprintf(&b, "%v|", v)
					}
					b.WriteString("\n")
				}
				rows.Close()
			}
			return b.String()
		}
		before := snapshot()
		out := filepath.Join(t.TempDir(), "b.tar.gz")
		if o, e, code := run(t, env, "backup", "-out", out); code != 0 || !strings.Contains(o, "1 blobs") {
			t.Fatalf("backup: %d %q %q", code, o, e)
		}
		// Change things after the backup.
		c.do("POST", "/api/v1/orgs", "application/json", `{"kind":"school","code":"BK-2","name":"备份后的学校","parent_id":1}`, nil)
		if _, err := ta.Blobs.Put(ctx, strings.NewReader("later")); err != nil {
			t.Fatal(err)
		}
		if err := ta.Blobs.Delete(ctx, info.Key); err != nil {
			t.Fatal(err)
		}
		if snapshot() == before {
			t.Fatal("nothing changed after the backup; the test proves nothing")
		}
		if o, _, code := run(t, env, "restore", "-verify", out); code != 0 || !strings.Contains(o, "intact") {
			t.Fatalf("verify: %d %q", code, o)
		}
		if o, _, code := run(t, env, "restore", out); code != 0 || !strings.Contains(o, "--yes") {
			t.Fatalf("restore without --yes must only verify: %d %q", code, o)
		}
		ta.srv.Close()
		if d.Dialect() == db.SQLite {
			d.Close() // serve is stopped before a restore
		}
		if o, e, code := run(t, env, "restore", "-yes", out); code != 0 {
			t.Fatalf("restore: %d %q %q", code, o, e)
		}
		if d.Dialect() == db.SQLite {
			cfg := ta.Cfg
			cfg.DatabaseURL = env["DATABASE_URL"]
			d2, err := Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d2.Close() })
			*d = *d2
		}
		if after := snapshot(); after != before {
			t.Errorf("restored data differs from the backup:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		rc, _, err := ta.Blobs.Open(ctx, info.Key)
		if err != nil {
			t.Fatalf("blob deleted after the backup is not back: %v", err)
		}
		rc.Close()
		if entries, _ := os.ReadDir(ta.Cfg.DataDir); len(entries) == 0 {
			t.Error("data folder empty after restore")
		}
		// A damaged backup is refused.
		raw, _ := os.ReadFile(out)
		raw[len(raw)/2] ^= 0xff
		bad := out + ".bad"
		os.WriteFile(bad, raw, 0o600)
		if _, _, code := run(t, env, "restore", "-yes", bad); code == 0 {
			t.Error("a damaged backup was restored")
		}
	})
}
