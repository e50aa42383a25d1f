package identity

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
	"jnedu/internal/platform/web"
)

// Settings tune sign-in and sessions.
type Settings struct {
	SessionTTL         time.Duration // idle lifetime
	SessionMaxAge      time.Duration // absolute lifetime
	LoginMaxFailures   int           // failures before a lockout
	LoginLockout       time.Duration
	Demo               bool // demo accounts keep their passwords
	AuditRetentionDays int
}

// Service is the identity subsystem's behaviour over its store.
type Service struct {
	db    *db.DB
	rbac  *RBAC
	set   Settings
	now   func() time.Time
	log   *slog.Logger
	ipLim *web.RateLimiter
	hash  chan struct{} // bounds concurrent password hashing (memory-hard)
	bus   *events.Bus   // nil: no events
}

// SetBus makes the service publish its events on bus.
func (s *Service) SetBus(bus *events.Bus) { s.bus = bus }

// publish writes an event into the outbox in the caller's transaction.
func publish[T any](ctx context.Context, s *Service, tx db.Querier, t events.Topic[T], payload T) error {
	if s.bus == nil {
		return nil
	}
	return events.PublishTx(ctx, tx, s.bus, t, payload)
}

// NewService makes the service. now may be nil (time.Now).
func NewService(d *db.DB, rbac *RBAC, set Settings, log *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{
		db: d, rbac: rbac, set: set, now: now, log: log,
		// 20 attempts a minute per address, in bursts of 10.
		ipLim: web.NewRateLimiter(10, time.Minute/20, now),
		hash:  make(chan struct{}, 4),
	}
}

// Migrations are the identity subsystem's tables.
func Migrations() db.Source { return db.Source{Subsystem: "identity", FS: migrationsFS()} }

// RBAC returns the role model.
func (s *Service) RBAC() *RBAC { return s.rbac }

func (s *Service) ms() int64 { return s.now().UnixMilli() }

func (s *Service) hashPassword(ctx context.Context, pw string) (string, error) {
	select {
	case s.hash <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-s.hash }()
	return HashPassword(pw)
}

func (s *Service) checkPassword(ctx context.Context, encoded, pw string) (bool, error) {
	select {
	case s.hash <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-s.hash }()
	return CheckPassword(encoded, pw)
}

// ---- organisations ----

// OrgInput is what a person fills in for an organisation.
type OrgInput struct {
	ParentID int64   `json:"parent_id"`
	Kind     OrgKind `json:"kind"`
	Code     string  `json:"code"`
	Name     string  `json:"name"`
	NameEN   string  `json:"name_en"`
}

var codeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

func (in *OrgInput) validate() error {
	in.Code = strings.TrimSpace(in.Code)
	in.Name = strings.TrimSpace(in.Name)
	in.NameEN = strings.TrimSpace(in.NameEN)
	f := map[string]string{}
	if !in.Kind.Valid() {
		f["kind"] = "org.err_kind"
	}
	if !codeRE.MatchString(in.Code) {
		f["code"] = "org.err_code"
	}
	if in.Name == "" {
		f["name"] = "err.required"
	} else if utf8.RuneCountInString(in.Name) > 100 {
		f["name"] = "org.err_name_long"
	}
	if utf8.RuneCountInString(in.NameEN) > 200 {
		f["name_en"] = "org.err_name_long"
	}
	if len(f) > 0 {
		return &apperr.Error{Code: apperr.Invalid, Message: "err.form_has_errors", Fields: f}
	}
	return nil
}

// CreateOrg adds an organisation under a parent the actor may manage.
func (s *Service) CreateOrg(ctx context.Context, actor *Principal, in OrgInput) (Org, error) {
	if err := in.validate(); err != nil {
		return Org{}, err
	}
	var o Org
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var parentKind OrgKind
		if in.ParentID != 0 {
			p, err := getOrg(ctx, tx, in.ParentID)
			if errors.Is(err, db.ErrNotFound) {
				return apperr.Field("parent_id", "org.err_parent")
			} else if err != nil {
				return err
			}
			if actor != nil && !actor.CanIn(PermOrgManage, p) {
				return apperr.New(apperr.Forbidden, "err.forbidden")
			}
			parentKind = p.Kind
		} else if actor != nil && !actor.IsRootAdmin() {
			return apperr.New(apperr.Forbidden, "err.forbidden")
		}
		if !in.Kind.CanSitUnder(parentKind) {
			return apperr.Field("kind", "org.err_kind_parent")
		}
		o = Org{ParentID: in.ParentID, Kind: in.Kind, Code: in.Code, Name: in.Name, NameEN: in.NameEN}
		if err := insertOrg(ctx, tx, &o, s.ms()); err != nil {
			if db.IsUniqueViolation(err) {
				return apperr.Field("code", "org.err_code_taken")
			}
			return err
		}
		return publish(ctx, s, tx, TopicOrgCreated, OrgEvent{OrgID: o.ID, ParentID: o.ParentID, Kind: o.Kind, Code: o.Code, Name: o.Name})
	})
	return o, err
}

// UpdateOrg renames an organisation (its place in the tree is fixed).
func (s *Service) UpdateOrg(ctx context.Context, actor *Principal, id int64, in OrgInput) (Org, error) {
	var o Org
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		o, err = getOrg(ctx, tx, id)
		if err != nil {
			return notFound(err)
		}
		if actor != nil && !actor.CanIn(PermOrgRead, o) && !actor.CanIn(PermOrgManage, o) {
			return apperr.New(apperr.NotFound, "err.not_found")
		}
		if actor != nil && !actor.CanIn(PermOrgManage, o) {
			return apperr.New(apperr.Forbidden, "err.forbidden")
		}
		in.Kind = o.Kind
		if err := in.validate(); err != nil {
			return err
		}
		o.Code, o.Name, o.NameEN = in.Code, in.Name, in.NameEN
		if err := updateOrg(ctx, tx, o, s.ms()); err != nil {
			if db.IsUniqueViolation(err) {
				return apperr.Field("code", "org.err_code_taken")
			}
			return err
		}
		return nil
	})
	return o, err
}

// Org returns one organisation.
func (s *Service) Org(ctx context.Context, id int64) (Org, error) {
	o, err := getOrg(ctx, s.db, id)
	return o, notFound(err)
}

// OrgByCode returns one organisation by its code.
func (s *Service) OrgByCode(ctx context.Context, code string) (Org, error) {
	o, err := getOrgByCode(ctx, s.db, code)
	return o, notFound(err)
}

// Orgs lists organisations.
func (s *Service) Orgs(ctx context.Context, f OrgFilter) ([]Org, error) {
	return listOrgs(ctx, s.db, f)
}

// VisibleOrg returns an organisation if the actor holds perm over it;
// otherwise not found (no hint that it exists).
func (s *Service) VisibleOrg(ctx context.Context, actor *Principal, perm web.Perm, id int64) (Org, error) {
	o, err := s.Org(ctx, id)
	if err != nil {
		return o, err
	}
	if !actor.CanIn(perm, o) {
		return Org{}, apperr.New(apperr.NotFound, "err.not_found")
	}
	return o, nil
}

func notFound(err error) error {
	if errors.Is(err, db.ErrNotFound) {
		return apperr.Wrap(apperr.NotFound, err, "err.not_found")
	}
	return err
}

// ---- users ----

// UserInput is what a person fills in for a user.
type UserInput struct {
	OrgID       int64   `json:"org_id"`
	Username    string  `json:"username"`
	DisplayName string  `json:"display_name"`
	Email       string  `json:"email"`
	Phone       string  `json:"phone"`
	Password    string  `json:"password,omitempty"`
	Locale      string  `json:"locale"`
	Disabled    bool    `json:"disabled"`
	Roles       []Role  `json:"roles"`
	Grants      []Grant `json:"grants,omitempty"` // explicit grants; default: Roles over OrgID
	// MustChangePassword forces a change at the next sign-in (default for
	// accounts made by an administrator).
	MustChangePassword *bool `json:"must_change_password,omitempty"`
}

var (
	usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.@-]{1,63}$`)
	emailRE    = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	phoneRE    = regexp.MustCompile(`^[0-9+\- ]{5,20}$`)
)

func (s *Service) validateUser(in *UserInput, creating bool) error {
	in.Username = strings.ToLower(strings.TrimSpace(in.Username))
	in.DisplayName = strings.TrimSpace(in.DisplayName)
	in.Email = strings.TrimSpace(in.Email)
	in.Phone = strings.TrimSpace(in.Phone)
	if in.Locale == "" {
		in.Locale = web.LangZH
	}
	in.Locale = web.NormalizeLang(in.Locale)
	f := map[string]string{}
	if creating && !usernameRE.MatchString(in.Username) {
		f["username"] = "user.err_username"
	}
	if in.DisplayName == "" {
		f["display_name"] = "err.required"
	} else if utf8.RuneCountInString(in.DisplayName) > 50 {
		f["display_name"] = "user.err_name_long"
	}
	if in.Email != "" && (len(in.Email) > 200 || !emailRE.MatchString(in.Email)) {
		f["email"] = "user.err_email"
	}
	if in.Phone != "" && !phoneRE.MatchString(in.Phone) {
		f["phone"] = "user.err_phone"
	}
	if in.OrgID == 0 {
		f["org_id"] = "err.required"
	}
	if len(in.Roles) == 0 && len(in.Grants) == 0 {
		f["roles"] = "user.err_roles"
	}
	for _, r := range in.Roles {
		if !s.rbac.Valid(r) {
			f["roles"] = "user.err_role_unknown"
		}
	}
	for _, g := range in.Grants {
		if !s.rbac.Valid(g.Role) {
			f["roles"] = "user.err_role_unknown"
		}
	}
	if creating || in.Password != "" {
		if err := CheckPolicy(in.Password, in.Username); err != nil {
			f["password"] = apperr.As(err).Fields["password"]
		}
	}
	if len(f) > 0 {
		return &apperr.Error{Code: apperr.Invalid, Message: "err.form_has_errors", Fields: f}
	}
	return nil
}

// grantsFor turns input roles into grants and checks the actor may give
// each one: a person can only give roles over organisations they manage,
// and the platform-admin role only if they hold it there themselves.
func (s *Service) grantsFor(ctx context.Context, q db.Querier, actor *Principal, in UserInput) ([]Grant, error) {
	gs := in.Grants
	if len(gs) == 0 {
		for _, r := range in.Roles {
			gs = append(gs, Grant{Role: r, OrgID: in.OrgID})
		}
	}
	for i, g := range gs {
		o, err := getOrg(ctx, q, g.OrgID)
		if errors.Is(err, db.ErrNotFound) {
			return nil, apperr.Field("org_id", "org.err_parent")
		} else if err != nil {
			return nil, err
		}
		gs[i].orgPath, gs[i].OrgName = o.Path, o.Name
		if actor == nil {
			continue
		}
		if !actor.CanIn(PermUserManage, o) {
			return nil, apperr.New(apperr.Forbidden, "err.forbidden")
		}
		if g.Role == RolePlatformAdmin && !actor.HasRoleOver(RolePlatformAdmin, o) {
			return nil, apperr.Field("roles", "user.err_role_too_high")
		}
	}
	return gs, nil
}

// CreateUser adds a user. actor nil means the system (command line, demo).
func (s *Service) CreateUser(ctx context.Context, actor *Principal, in UserInput) (User, error) {
	if err := s.validateUser(&in, true); err != nil {
		return User{}, err
	}
	hash, err := s.hashPassword(ctx, in.Password)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		u, err = s.createUserTx(ctx, tx, actor, in, hash)
		return err
	})
	return u, err
}

func (s *Service) createUserTx(ctx context.Context, tx db.Querier, actor *Principal, in UserInput, hash string) (User, error) {
	org, err := getOrg(ctx, tx, in.OrgID)
	if errors.Is(err, db.ErrNotFound) {
		return User{}, apperr.Field("org_id", "org.err_parent")
	} else if err != nil {
		return User{}, err
	}
	if actor != nil && !actor.CanIn(PermUserManage, org) {
		return User{}, apperr.New(apperr.Forbidden, "err.forbidden")
	}
	gs, err := s.grantsFor(ctx, tx, actor, in)
	if err != nil {
		return User{}, err
	}
	must := actor != nil // accounts made by someone else change their password first
	if in.MustChangePassword != nil {
		must = *in.MustChangePassword
	}
	u := User{OrgID: in.OrgID, Username: in.Username, DisplayName: in.DisplayName, Email: in.Email, Phone: in.Phone,
		Locale: in.Locale, Disabled: in.Disabled, MustChangePassword: must, passwordHash: hash}
	now := s.ms()
	if err := insertUser(ctx, tx, &u, now); err != nil {
		if db.IsUniqueViolation(err) {
			return User{}, apperr.Field("username", "user.err_username_taken")
		}
		return User{}, err
	}
	if err := replaceGrants(ctx, tx, u.ID, gs, now); err != nil {
		return User{}, err
	}
	u.Grants = gs
	ev := UserEvent{UserID: u.ID, Username: u.Username, OrgID: u.OrgID, At: now}
	for _, g := range gs {
		ev.Roles = append(ev.Roles, g.Role)
	}
	return u, publish(ctx, s, tx, TopicUserCreated, ev)
}

// UpdateUser changes a user's profile, roles and (optionally) password.
func (s *Service) UpdateUser(ctx context.Context, actor *Principal, id int64, in UserInput) (User, error) {
	var u User
	if err := s.validateUser(&in, false); err != nil {
		return u, err
	}
	var hash string
	if in.Password != "" {
		var err error
		if hash, err = s.hashPassword(ctx, in.Password); err != nil {
			return u, err
		}
	}
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		u, err = getUser(ctx, tx, id)
		if err != nil {
			return notFound(err)
		}
		cur, err := getOrg(ctx, tx, u.OrgID)
		if err != nil {
			return err
		}
		if !actor.CanIn(PermUserManage, cur) {
			return apperr.New(apperr.NotFound, "err.not_found")
		}
		if actor.User.ID == u.ID && in.Disabled {
			return apperr.Field("disabled", "user.err_disable_self")
		}
		dest, err := getOrg(ctx, tx, in.OrgID)
		if err != nil {
			return apperr.Field("org_id", "org.err_parent")
		}
		if !actor.CanIn(PermUserManage, dest) {
			return apperr.New(apperr.Forbidden, "err.forbidden")
		}
		in.Username = u.Username
		gs, err := s.grantsFor(ctx, tx, actor, in)
		if err != nil {
			return err
		}
		// Roles the actor could not give stay as they were: a school
		// admin editing a teacher who is also an examiner at the center
		// keeps that grant intact.
		old, err := grantsOf(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		for _, g := range old[u.ID] {
			if !actor.CanIn(PermUserManage, Org{Path: g.orgPath}) {
				gs = append(gs, g)
			}
		}
		u.OrgID, u.DisplayName, u.Email, u.Phone, u.Locale, u.Disabled = in.OrgID, in.DisplayName, in.Email, in.Phone, in.Locale, in.Disabled
		now := s.ms()
		if err := updateUserProfile(ctx, tx, u, now); err != nil {
			return err
		}
		if err := replaceGrants(ctx, tx, u.ID, gs, now); err != nil {
			return err
		}
		if hash != "" {
			if err := setPassword(ctx, tx, u.ID, hash, true, now); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "DELETE FROM identity_sessions WHERE user_id = ?", u.ID); err != nil {
				return err
			}
		}
		if u.Disabled {
			if _, err := tx.Exec(ctx, "DELETE FROM identity_sessions WHERE user_id = ?", u.ID); err != nil {
				return err
			}
		}
		u.Grants = gs
		return nil
	})
	return u, err
}

// User returns a user with grants.
func (s *Service) User(ctx context.Context, id int64) (User, error) {
	u, err := getUser(ctx, s.db, id)
	if err != nil {
		return u, notFound(err)
	}
	gs, err := grantsOf(ctx, s.db, id)
	u.Grants = gs[id]
	return u, err
}

// VisibleUser returns a user the actor may manage (else not found).
func (s *Service) VisibleUser(ctx context.Context, actor *Principal, perm web.Perm, id int64) (User, error) {
	u, err := s.User(ctx, id)
	if err != nil {
		return u, err
	}
	o, err := getOrg(ctx, s.db, u.OrgID)
	if err != nil {
		return User{}, err
	}
	if !actor.CanIn(perm, o) {
		return User{}, apperr.New(apperr.NotFound, "err.not_found")
	}
	return u, nil
}

// UserByName finds a user by username.
func (s *Service) UserByName(ctx context.Context, name string) (User, error) {
	u, err := getUserByName(ctx, s.db, name)
	if err != nil {
		return u, notFound(err)
	}
	gs, err := grantsOf(ctx, s.db, u.ID)
	u.Grants = gs[u.ID]
	return u, err
}

// Users lists users.
func (s *Service) Users(ctx context.Context, f UserFilter) ([]User, int, error) {
	return listUsers(ctx, s.db, f)
}

// ResetPassword sets a new password (command line or administrator).
func (s *Service) ResetPassword(ctx context.Context, actor *Principal, id int64, pw string, mustChange bool) error {
	u, err := s.User(ctx, id)
	if err != nil {
		return err
	}
	if actor != nil {
		if _, err := s.VisibleUser(ctx, actor, PermUserManage, id); err != nil {
			return err
		}
	}
	if err := CheckPolicy(pw, u.Username); err != nil {
		return err
	}
	hash, err := s.hashPassword(ctx, pw)
	if err != nil {
		return err
	}
	return s.replacePassword(ctx, id, hash, mustChange, "")
}

// replacePassword stores a new password hash and ends the user's sessions,
// all but keepSession (a session hash, "" for none), in one transaction.
func (s *Service) replacePassword(ctx context.Context, userID int64, hash string, mustChange bool, keepSession string) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		if err := setPassword(ctx, tx, userID, hash, mustChange, s.ms()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM identity_sessions WHERE user_id = ? AND id_hash <> ?", userID, keepSession)
		return err
	})
}

// ChangePassword is a user changing their own password. The user's other
// sessions end; the one making the change stays.
func (s *Service) ChangePassword(ctx context.Context, p *Principal, old, pw string) error {
	u, err := getUser(ctx, s.db, p.User.ID)
	if err != nil {
		return err
	}
	ok, err := s.checkPassword(ctx, u.passwordHash, old)
	if err != nil {
		return err
	}
	if !ok {
		return apperr.Field("old_password", "pw.old_wrong")
	}
	if old == pw {
		return apperr.Field("password", "pw.same")
	}
	if err := CheckPolicy(pw, u.Username); err != nil {
		return err
	}
	hash, err := s.hashPassword(ctx, pw)
	if err != nil {
		return err
	}
	return s.replacePassword(ctx, u.ID, hash, false, p.sessionHash)
}

// SetLocale stores the user's language.
func (s *Service) SetLocale(ctx context.Context, userID int64, lang string) error {
	_, err := s.db.Exec(ctx, "UPDATE identity_users SET locale = ?, updated_at = ? WHERE id = ?", web.NormalizeLang(lang), s.ms(), userID)
	return err
}

// ProfileInput is what a user may change about themselves.
type ProfileInput struct {
	DisplayName string `json:"display_name"`
	Email       string `json:"email"`
	Phone       string `json:"phone"`
	Locale      string `json:"locale"`
}

// UpdateProfile changes the principal's own profile.
func (s *Service) UpdateProfile(ctx context.Context, p *Principal, in ProfileInput) (User, error) {
	u := p.User
	ui := UserInput{OrgID: u.OrgID, Username: u.Username, DisplayName: in.DisplayName, Email: in.Email, Phone: in.Phone,
		Locale: in.Locale, Roles: []Role{RoleStudent}}
	if err := s.validateUser(&ui, false); err != nil {
		return u, err
	}
	u.DisplayName, u.Email, u.Phone, u.Locale = ui.DisplayName, ui.Email, ui.Phone, ui.Locale
	return u, updateUserProfile(ctx, s.db, u, s.ms())
}

// MarkDemo flags an account as a demo account: outside demo mode it must
// change its well-known password before doing anything.
func (s *Service) MarkDemo(ctx context.Context, username string) error {
	_, err := s.db.Exec(ctx, "UPDATE identity_users SET demo = TRUE WHERE username = ?", strings.ToLower(username))
	return err
}
