package roster

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"jnedu/internal/demo"
	"jnedu/internal/identity"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
)

type fixture struct {
	svc *Service
	ids *identity.Service
	d   *db.DB
	p   map[string]*identity.Principal
	org map[string]identity.Org
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	if _, err := d.Migrate(ctx, []db.Source{events.Migrations(), identity.Migrations(), Migrations()}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rbac := identity.NewRBAC()
	DefinePermissions(rbac)
	ids := identity.NewService(d, rbac, identity.Settings{SessionTTL: time.Hour, SessionMaxAge: 2 * time.Hour, LoginMaxFailures: 5,
		LoginLockout: time.Minute, Demo: true, AuditRetentionDays: 180}, log, nil)
	if _, err := demo.Load(ctx, ids); err != nil {
		t.Fatal(err)
	}
	f := &fixture{ids: ids, d: d, p: map[string]*identity.Principal{}, org: map[string]identity.Org{}}
	for _, code := range []string{"JN-EDU", "S-JN01", "S-JN09"} {
		o, err := ids.OrgByCode(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		f.org[code] = o
	}
	no := false
	if _, err := ids.CreateUser(ctx, nil, identity.UserInput{OrgID: f.org["S-JN09"].ID, Username: "admin09", DisplayName: "钱校长",
		Password: demo.Password, Roles: []identity.Role{identity.RoleSchoolAdmin}, MustChangePassword: &no}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"admin", "school_admin", "admin09", "teacher", "teacher2", "student"} {
		p, err := ids.PrincipalOf(ctx, u)
		if err != nil {
			t.Fatalf("principal %s: %v", u, err)
		}
		f.p[u] = p
	}
	prot, err := NewProtector(bytes.Repeat([]byte{42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	bus := events.NewBus(d, events.Options{Logger: log})
	now := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	f.svc = NewService(d, ids, bus, prot, log, func() time.Time { return now })
	return f
}

// validID makes an ID number with its GB 11643 check character
// (IDCheckChar is checked against the standard's examples in
// TestIDChecksum).
func validID(addr, birth, seq string) string {
	s := addr + birth + seq
	return s + string(IDCheckChar(s))
}

func csvText(header string, rows ...string) string {
	return header + "\r\n" + strings.Join(rows, "\r\n") + "\r\n"
}

func (f *fixture) imp(t *testing.T, who string, data []byte, name string, opt ImportOptions) *Report {
	t.Helper()
	rep, err := f.svc.Import(context.Background(), f.p[who], bytes.NewReader(data), name, opt)
	if err != nil {
		t.Fatalf("import %s as %s: %v", name, who, err)
	}
	return rep
}

func (f *fixture) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.d.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) rows(t *testing.T) (people, classes, enrolments int) {
	return f.count(t, "SELECT COUNT(*) FROM roster_people"), f.count(t, "SELECT COUNT(*) FROM roster_classes"),
		f.count(t, "SELECT COUNT(*) FROM roster_enrolments")
}

// classByName finds an active class of a school by name.
func (f *fixture) classByName(t *testing.T, school, name string) Class {
	t.Helper()
	cs, err := f.svc.ClassesOf(context.Background(), f.org[school].ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no class %s at %s (have %v)", name, school, cs)
	return Class{}
}

func names(ps []Person) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return strings.Join(out, ",")
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func problemKeys(rep *Report) map[string]bool {
	out := map[string]bool{}
	for _, p := range rep.Problems {
		out[p.Key] = true
	}
	return out
}
