package app

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"jnedu/internal/config"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

func run(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
	return out.String(), errb.String(), code
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"JNEDU_DATA_DIR": dir}
	if out, _, code := run(t, env, "version"); code != 0 || !strings.HasPrefix(out, "jnedu ") {
		t.Errorf("version: %d %q", code, out)
	}
	if out, _, code := run(t, env, "help"); code != 0 || !strings.Contains(out, "backup") {
		t.Errorf("help: %d", code)
	}
	if _, errOut, code := run(t, env, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if out, errOut, code := run(t, env, "migrate"); code != 0 || !strings.Contains(out, "applied identity 001_init") {
		t.Fatalf("migrate: %d %q %q", code, out, errOut)
	}
	if out, _, code := run(t, env, "migrate", "-status"); code != 0 || !strings.Contains(out, "0 pending") {
		t.Errorf("migrate -status: %d %q", code, out)
	}
	if out, errOut, code := run(t, env, "demo"); code != 0 || !strings.Contains(out, "29 exam sites") || !strings.Contains(out, "Demo2026jn") {
		t.Fatalf("demo: %d %q %q", code, out, errOut)
	}
	if out, _, code := run(t, env, "demo"); code != 0 || !strings.Contains(out, "already present") {
		t.Errorf("second demo: %d %q", code, out)
	}
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("Library-card-77\n"), 0o600)
	if out, errOut, code := run(t, env, "user", "create", "-username", "ops1", "-name", "运维一号", "-org", "JN-DJG", "-roles", "security_op", "-password-file", pw); code != 0 || !strings.Contains(out, "created user ops1") {
		t.Fatalf("user create: %d %q %q", code, out, errOut)
	}
	if _, errOut, code := run(t, env, "user", "create", "-username", "ops2", "-name", "x", "-org", "NOPE", "-roles", "teacher", "-password-file", pw); code != 1 || !strings.Contains(errOut, "NOPE") {
		t.Errorf("user create in unknown org: %d %q", code, errOut)
	}
	os.WriteFile(pw, []byte("short\n"), 0o600)
	if _, errOut, code := run(t, env, "user", "passwd", "-username", "ops1", "-password-file", pw); code != 1 || !strings.Contains(errOut, "at least 8 characters") {
		t.Errorf("weak passwd: %d %q", code, errOut)
	}
	os.WriteFile(pw, []byte("Library-card-78\n"), 0o600)
	if out, _, code := run(t, env, "user", "passwd", "-username", "ops1", "-password-file", pw); code != 0 || !strings.Contains(out, "password of ops1 changed") {
		t.Errorf("passwd: %d %q", code, out)
	}
	if out, _, code := run(t, env, "user", "list", "-org", "JN-DJG"); code != 0 || !strings.Contains(out, "ops1") || !strings.Contains(out, "examiner") || strings.Contains(out, "teacher2") {
		t.Errorf("user list: %d %q", code, out)
	}
	// Bulk import of existing recordings, then the figures.
	rec := filepath.Join(dir, "晨会录像.mp4")
	os.WriteFile(rec, []byte("pretend recording bytes"), 0o600)
	empty := filepath.Join(dir, "empty.mp4")
	os.WriteFile(empty, nil, 0o600)
	if out, errOut, code := run(t, env, "share", "import", "-owner", "teacher", rec, rec, empty); code != 1 ||
		!strings.Contains(out, "queued for processing") || !strings.Contains(out, "2 imported, 1 failed") || !strings.Contains(errOut, "empty") {
		t.Errorf("share import: %d %q %q", code, out, errOut)
	}
	if _, err := os.Stat(rec); err != nil {
		t.Errorf("import moved or removed the recording it was given: %v", err)
	}
	if _, errOut, code := run(t, env, "share", "import", "-owner", "student", rec); code != 1 || !strings.Contains(errOut, "may not upload") {
		t.Errorf("share import as a student: %d %q", code, errOut)
	}
	if out, _, code := run(t, env, "share", "stats"); code != 0 || !strings.Contains(out, "videos 2") || !strings.Contains(out, "济南第一中学") {
		t.Errorf("share stats: %d %q", code, out)
	}
	// A config file with an unknown key is refused with its name.
	cf := filepath.Join(dir, "jnedu.toml")
	os.WriteFile(cf, []byte("listen = \"127.0.0.1:9999\"\ncolour = \"red\"\n"), 0o600)
	if _, errOut, code := run(t, env, "migrate", "-config", cf); code != 1 || !strings.Contains(errOut, "colour") {
		t.Errorf("bad config key: %d %q", code, errOut)
	}
}

func TestConfigPriority(t *testing.T) {
	dir := t.TempDir()
	cf := filepath.Join(dir, "c.toml")
	os.WriteFile(cf, []byte("listen = \"127.0.0.1:7000\"\naudit_retention_days = 365\nsession_ttl = \"2h\"\n"), 0o600)
	fs, f := flags("serve", &bytes.Buffer{})
	env := map[string]string{"JNEDU_CONFIG": cf, "JNEDU_LISTEN": "127.0.0.1:7001"}
	cfg, err := load(fs, f, []string{"-data", dir}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7001" || cfg.AuditRetentionDays != 365 || cfg.SessionTTL.Hours() != 2 || cfg.DataDir != dir {
		t.Errorf("config = %+v; want env over file, file over default, flag for data", cfg)
	}
	fs, f = flags("serve", &bytes.Buffer{})
	if _, err := load(fs, f, []string{"-listen", "127.0.0.1:7002"}, func(k string) string {
		return map[string]string{"JNEDU_AUDIT_RETENTION_DAYS": "30"}[k]
	}); err == nil || !strings.Contains(err.Error(), "180") {
		t.Errorf("30-day audit retention accepted: %v", err)
	}
}

// TestRefusesNewerDatabase: an older program must not run on a schema it
// does not know.
func TestRefusesNewerDatabase(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.Migrate(ctx, Sources()); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Exec(ctx, "INSERT INTO schema_migrations (subsystem, version, name, applied_at) VALUES ('identity', 99, 'future', 0)"); err != nil {
			t.Fatal(err)
		}
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		_, err := New(ctx, cfg, NewLogger(cfg), d, Options{Migrate: true})
		if !errors.Is(err, db.ErrDatabaseNewer) {
			t.Errorf("New on a newer database: %v, want ErrDatabaseNewer", err)
		}
	})
}

// TestBoundaries keeps subsystems apart: a subsystem imports platform/...
// and identity, never another subsystem.
func TestBoundaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "jnedu/internal/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	shared := func(p string) bool {
		return strings.HasPrefix(p, "jnedu/internal/platform/") || p == "jnedu/internal/identity" || p == "jnedu/internal/config"
	}
	subsystem := func(p string) string {
		rest, ok := strings.CutPrefix(p, "jnedu/internal/")
		if !ok || shared(p) {
			return ""
		}
		top, _, _ := strings.Cut(rest, "/")
		switch top {
		case "app", "demo": // the composition root and demo loader may see everything
			return ""
		}
		return top
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := f[0]
		if strings.HasPrefix(pkg, "jnedu/internal/platform/") {
			for _, dep := range f[1:] {
				if strings.HasPrefix(dep, "jnedu/internal/") && !strings.HasPrefix(dep, "jnedu/internal/platform/") {
					t.Errorf("platform package %s imports %s: platform must not depend on subsystems", pkg, dep)
				}
			}
		}
		own := subsystem(pkg)
		if own == "" {
			continue
		}
		checked++
		for _, dep := range f[1:] {
			if s := subsystem(dep); s != "" && s != own {
				t.Errorf("%s imports %s: subsystems talk through events, not imports", pkg, dep)
			}
		}
	}
	_ = checked
}
