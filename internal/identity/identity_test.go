package identity

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("Lesson-plan-2027")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q does not record argon2id parameters", h)
	}
	h2, _ := HashPassword("Lesson-plan-2027")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"Lesson-plan-2027", true}, {"lesson-plan-2027", false}, {"", false}, {"Lesson-plan-2027 ", false}} {
		ok, err := CheckPassword(h, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
	if _, err := CheckPassword("$2a$10$whatever", "x"); err == nil {
		t.Error("a malformed hash was accepted")
	}
}

func TestPasswordPolicy(t *testing.T) {
	tests := []struct {
		pw, user string
		field    string // "" = accepted
	}{
		{"Teach2026", "zhangsan", ""},
		{"教学计划2026年", "zhangsan", ""},
		{"abc123", "zhangsan", "pw.too_short"},
		{"abcdefghij", "zhangsan", "pw.classes"},
		{"1234567890", "zhangsan", "pw.classes"},
		{"zhangsan2026", "zhangsan", "pw.contains_username"},
		{"Password1", "x", "pw.common"},
		{strings.Repeat("a1", 65), "x", "pw.too_long"},
	}
	for _, tc := range tests {
		err := CheckPolicy(tc.pw, tc.user)
		got := ""
		if e := apperr.As(err); e != nil {
			got = e.Fields["password"]
		}
		if got != tc.field {
			t.Errorf("CheckPolicy(%q) = %q, want %q", tc.pw, got, tc.field)
		}
	}
}

// fixture is a service on a real database with a small tree:
// bureau → school A → room, bureau → school B.
type fixture struct {
	svc          *Service
	now          *time.Time
	mu           *sync.Mutex
	bureau, a, b Org
	room         Org
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	if _, err := d.Migrate(ctx, []db.Source{Migrations()}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)
	mu := &sync.Mutex{}
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	svc := NewService(d, NewRBAC(), Settings{SessionTTL: time.Hour, SessionMaxAge: 3 * time.Hour, LoginMaxFailures: 3,
		LoginLockout: 10 * time.Minute, AuditRetentionDays: 180}, slog.New(slog.NewTextHandler(io.Discard, nil)), clock)
	f := &fixture{svc: svc, now: &now, mu: mu}
	mk := func(parent int64, kind OrgKind, code, name string) Org {
		o, err := svc.CreateOrg(ctx, nil, OrgInput{ParentID: parent, Kind: kind, Code: code, Name: name})
		if err != nil {
			t.Fatalf("create %s: %v", code, err)
		}
		return o
	}
	f.bureau = mk(0, KindBureau, "B", "教育局")
	f.a = mk(f.bureau.ID, KindSchool, "A", "甲校")
	f.b = mk(f.bureau.ID, KindSchool, "BB", "乙校")
	f.room = mk(f.a.ID, KindRoom, "A-R1", "甲校教室")
	return f
}

func (f *fixture) advance(d time.Duration) { f.mu.Lock(); *f.now = f.now.Add(d); f.mu.Unlock() }

func (f *fixture) user(t *testing.T, name string, org Org, roles ...Role) User {
	t.Helper()
	no := false
	u, err := f.svc.CreateUser(context.Background(), nil, UserInput{OrgID: org.ID, Username: name, DisplayName: name,
		Password: "Secret-2026x", Roles: roles, MustChangePassword: &no})
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return u
}

func TestOrgTreeAndScopes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		if !f.bureau.Contains(f.room) || f.b.Contains(f.room) || !f.a.Contains(f.a) {
			t.Errorf("Contains: bureau⊇room %v, B⊇room %v", f.bureau.Contains(f.room), f.b.Contains(f.room))
		}
		f.user(t, "heada", f.a, RoleSchoolAdmin)
		res, err := f.svc.Login(ctx, "heada", "Secret-2026x", "10.0.0.1", "test")
		if err != nil {
			t.Fatal(err)
		}
		p := res.Principal
		checks := []struct {
			perm string
			org  Org
			want bool
		}{
			{"user.manage", f.a, true}, {"user.manage", f.room, true}, {"user.manage", f.b, false},
			{"user.manage", f.bureau, false}, {"audit.read", f.a, false},
		}
		for _, c := range checks {
			if got := p.CanIn(webPerm(c.perm), c.org); got != c.want {
				t.Errorf("school admin of A: CanIn(%s, %s) = %v, want %v", c.perm, c.org.Code, got, c.want)
			}
		}
		scope := p.Scope(PermUserManage)
		if len(scope) != 1 || scope[0].ID != f.a.ID {
			t.Errorf("scope = %+v, want just school A", scope)
		}
		orgs, err := f.svc.Orgs(ctx, OrgFilter{Under: scope})
		if err != nil || len(orgs) != 2 {
			t.Errorf("orgs under A = %d (%v), want A and its room", len(orgs), err)
		}
		// A school admin cannot create a school beside theirs.
		if _, err := f.svc.CreateOrg(ctx, p, OrgInput{ParentID: f.bureau.ID, Kind: KindSchool, Code: "C", Name: "丙校"}); apperr.CodeOf(err) != apperr.Forbidden {
			t.Errorf("school admin creating a sibling school: %v, want forbidden", err)
		}
		if _, err := f.svc.CreateOrg(ctx, p, OrgInput{ParentID: f.a.ID, Kind: KindRoom, Code: "A-R2", Name: "二号教室"}); err != nil {
			t.Errorf("school admin creating a room in A: %v", err)
		}
		if _, err := f.svc.CreateOrg(ctx, nil, OrgInput{ParentID: f.a.ID, Kind: KindRoom, Code: "a-r1", Name: "重复"}); err != nil {
			// codes are case-sensitive identifiers; a different case is a different code
			t.Errorf("code differing in case: %v", err)
		}
		if _, err := f.svc.CreateOrg(ctx, nil, OrgInput{ParentID: f.a.ID, Kind: KindRoom, Code: "A-R1", Name: "重复"}); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("duplicate code: %v, want invalid", err)
		}
	})
}

func TestSessionLifetime(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		f.user(t, "teacher1", f.a, RoleTeacher)
		res, err := f.svc.Login(ctx, "teacher1", "Secret-2026x", "10.0.0.2", "test")
		if err != nil {
			t.Fatal(err)
		}
		var stored int
		d.QueryRow(ctx, "SELECT COUNT(*) FROM identity_sessions WHERE id_hash = ?", res.Secret).Scan(&stored)
		if stored != 0 {
			t.Error("the session secret is stored in clear")
		}
		// Active use keeps the session alive past the idle TTL...
		for i := 0; i < 3; i++ {
			f.advance(50 * time.Minute)
			if _, err := f.svc.SessionPrincipal(ctx, res.Secret); err != nil {
				t.Fatalf("after %d×50min of activity: %v", i+1, err)
			}
		}
		// ...but never past the absolute maximum (3h).
		f.advance(50 * time.Minute)
		if _, err := f.svc.SessionPrincipal(ctx, res.Secret); apperr.CodeOf(err) != apperr.Unauthenticated {
			t.Errorf("past the maximum age: %v, want unauthenticated", err)
		}
		// Idle past the TTL ends a session.
		res2, _ := f.svc.Login(ctx, "teacher1", "Secret-2026x", "10.0.0.2", "test")
		f.advance(61 * time.Minute)
		if _, err := f.svc.SessionPrincipal(ctx, res2.Secret); apperr.CodeOf(err) != apperr.Unauthenticated {
			t.Errorf("idle past the TTL: %v, want unauthenticated", err)
		}
		// Lockout lifts after its period.
		for i := 0; i < 3; i++ {
			f.svc.Login(ctx, "teacher1", "wrong", "10.0.0.3", "t")
		}
		if _, err := f.svc.Login(ctx, "teacher1", "Secret-2026x", "10.0.0.3", "t"); apperr.CodeOf(err) != apperr.Locked {
			t.Errorf("while locked: %v, want locked", err)
		}
		f.advance(11 * time.Minute)
		if _, err := f.svc.Login(ctx, "teacher1", "Secret-2026x", "10.0.0.3", "t"); err != nil {
			t.Errorf("after the lockout: %v", err)
		}
		// Disabling a user ends their sessions at once.
		admin := f.user(t, "root", f.bureau, RolePlatformAdmin)
		ar, _ := f.svc.Login(ctx, "root", "Secret-2026x", "10.0.0.4", "t")
		res3, _ := f.svc.Login(ctx, "teacher1", "Secret-2026x", "10.0.0.3", "t")
		u, _ := f.svc.UserByName(ctx, "teacher1")
		if _, err := f.svc.UpdateUser(ctx, ar.Principal, u.ID, UserInput{OrgID: u.OrgID, DisplayName: u.DisplayName, Roles: []Role{RoleTeacher}, Disabled: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.SessionPrincipal(ctx, res3.Secret); err == nil {
			t.Error("a disabled user's session still works")
		}
		if _, err := f.svc.Login(ctx, "teacher1", "Secret-2026x", "10.0.0.3", "t"); apperr.CodeOf(err) != apperr.Forbidden {
			t.Errorf("disabled user login: %v, want forbidden", err)
		}
		_ = admin
	})
}

func TestUpdateKeepsGrantsOutsideActorScope(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		u := f.user(t, "both", f.a, RoleTeacher)
		// The user is also an examiner over school B, granted by the system.
		if err := replaceGrants(ctx, d, u.ID, []Grant{{Role: RoleTeacher, OrgID: f.a.ID}, {Role: RoleExaminer, OrgID: f.b.ID}}, 1); err != nil {
			t.Fatal(err)
		}
		f.user(t, "heada", f.a, RoleSchoolAdmin)
		res, _ := f.svc.Login(ctx, "heada", "Secret-2026x", "10.0.0.9", "t")
		got, err := f.svc.UpdateUser(ctx, res.Principal, u.ID, UserInput{OrgID: f.a.ID, DisplayName: "改名", Roles: []Role{RoleTeacher, RoleStudent}})
		if err != nil {
			t.Fatal(err)
		}
		roles := map[Role]int64{}
		for _, g := range got.Grants {
			roles[g.Role] = g.OrgID
		}
		if roles[RoleExaminer] != f.b.ID || roles[RoleStudent] != f.a.ID || len(roles) != 3 {
			t.Errorf("grants after a school admin's edit = %v; the examiner grant over B must survive", roles)
		}
	})
}

func TestExternalLogin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		u := f.user(t, "sso1", f.a, RoleTeacher)
		if _, err := f.svc.LoginExternal(ctx, "jnedu-ids", "sub-1", "ip", "ua"); apperr.CodeOf(err) != apperr.Unauthenticated {
			t.Errorf("unlinked identity: %v, want unauthenticated", err)
		}
		if err := f.svc.LinkExternal(ctx, "jnedu-ids", "sub-1", u.ID); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.LinkExternal(ctx, "jnedu-ids", "sub-1", u.ID); apperr.CodeOf(err) != apperr.Conflict {
			t.Errorf("second link: %v, want conflict", err)
		}
		res, err := f.svc.LoginExternal(ctx, "jnedu-ids", "sub-1", "ip", "ua")
		if err != nil || res.Principal.User.ID != u.ID {
			t.Fatalf("linked login: %v", err)
		}
	})
}
