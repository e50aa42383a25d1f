package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
)

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // the system's random source failing is not recoverable
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// dummyHash is checked against when a user does not exist, so a wrong user
// name takes as long as a wrong password.
var dummyHash, _ = HashPassword("no such user, no such password 0")

// LoginResult is a successful sign-in.
type LoginResult struct {
	Secret    string // the session cookie value
	Principal *Principal
	ExpiresAt time.Time
}

// Login checks a user name and password and opens a session.
func (s *Service) Login(ctx context.Context, username, password, ip, userAgent string) (*LoginResult, error) {
	if !s.ipLim.Allow(ip) {
		return nil, apperr.New(apperr.RateLimited, "login.rate_limited")
	}
	username = strings.ToLower(strings.TrimSpace(username))
	if username == "" || password == "" || len(password) > 4*MaxPasswordLen || utf8.RuneCountInString(username) > 64 {
		return nil, apperr.New(apperr.Unauthenticated, "login.failed")
	}
	u, err := getUserByName(ctx, s.db, username)
	if errors.Is(err, db.ErrNotFound) {
		s.checkPassword(ctx, dummyHash, password) //nolint:errcheck // timing only
		return nil, apperr.New(apperr.Unauthenticated, "login.failed")
	} else if err != nil {
		return nil, err
	}
	now := s.now()
	if u.LockedUntil > now.UnixMilli() {
		mins := (u.LockedUntil-now.UnixMilli())/60000 + 1
		return nil, apperr.New(apperr.Locked, "login.locked", mins)
	}
	ok, err := s.checkPassword(ctx, u.passwordHash, password)
	if err != nil {
		return nil, err
	}
	if !ok {
		fails := u.FailedLogins + 1
		var lockedUntil int64
		if fails >= s.set.LoginMaxFailures {
			lockedUntil = now.Add(s.set.LoginLockout).UnixMilli()
			fails = 0
		}
		if _, err := s.db.Exec(ctx, "UPDATE identity_users SET failed_logins = ?, locked_until = ? WHERE id = ?", fails, lockedUntil, u.ID); err != nil {
			return nil, err
		}
		if lockedUntil != 0 {
			return nil, apperr.New(apperr.Locked, "login.locked", int64(s.set.LoginLockout/time.Minute))
		}
		return nil, apperr.New(apperr.Unauthenticated, "login.failed")
	}
	if u.Disabled {
		return nil, apperr.New(apperr.Forbidden, "login.disabled")
	}
	return s.openSession(ctx, u, ip, userAgent)
}

// openSession records a successful sign-in and opens a session for u.
func (s *Service) openSession(ctx context.Context, u User, ip, userAgent string) (*LoginResult, error) {
	now := s.now()
	secret := randomString(32)
	csrf := randomString(24)
	exp := now.Add(s.set.SessionTTL)
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE identity_users SET failed_logins = 0, locked_until = 0, last_login_at = ? WHERE id = ?", now.UnixMilli(), u.ID); err != nil {
			return err
		}
		if len(userAgent) > 300 {
			userAgent = userAgent[:300]
		}
		if _, err := tx.Exec(ctx, `INSERT INTO identity_sessions (id_hash, user_id, csrf_token, ip, user_agent, created_at, last_seen_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, sha256Hex(secret), u.ID, csrf, ip, userAgent, now.UnixMilli(), now.UnixMilli(), exp.UnixMilli()); err != nil {
			return err
		}
		return publish(ctx, s, tx, TopicSignedIn, UserEvent{UserID: u.ID, Username: u.Username, OrgID: u.OrgID, At: now.UnixMilli()})
	})
	if err != nil {
		return nil, err
	}
	p, err := s.SessionPrincipal(ctx, secret)
	if err != nil {
		return nil, err
	}
	return &LoginResult{Secret: secret, Principal: p, ExpiresAt: exp}, nil
}

// LinkExternal links an account of an outside identity provider (the
// bureau's unified identity service, through OIDC) to a user.
func (s *Service) LinkExternal(ctx context.Context, provider, subject string, userID int64) error {
	if provider == "" || subject == "" || len(provider) > 64 || len(subject) > 255 {
		return apperr.New(apperr.Invalid, "err.invalid_value")
	}
	_, err := s.db.Exec(ctx, "INSERT INTO identity_external_ids (provider, subject, user_id, created_at) VALUES (?, ?, ?, ?)",
		provider, subject, userID, s.ms())
	if db.IsUniqueViolation(err) {
		return apperr.New(apperr.Conflict, "err.invalid_value")
	}
	return err
}

// LoginExternal opens a session for the user linked to an identity the
// caller has already verified (an OIDC handler, after checking the ID
// token's signature, issuer, audience and nonce). Unlinked identities are
// refused: accounts are provisioned here, not by the provider.
func (s *Service) LoginExternal(ctx context.Context, provider, subject, ip, userAgent string) (*LoginResult, error) {
	var uid int64
	err := s.db.QueryRow(ctx, "SELECT user_id FROM identity_external_ids WHERE provider = ? AND subject = ?", provider, subject).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.Unauthenticated, "login.failed")
	} else if err != nil {
		return nil, err
	}
	u, err := getUser(ctx, s.db, uid)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, apperr.New(apperr.Forbidden, "login.disabled")
	}
	return s.openSession(ctx, u, ip, userAgent)
}

// SessionPrincipal resolves a session cookie value. It extends an idle
// session (at most once a minute, to keep reads cheap) up to its absolute
// lifetime.
func (s *Service) SessionPrincipal(ctx context.Context, secret string) (*Principal, error) {
	if secret == "" || len(secret) > 100 {
		return nil, apperr.New(apperr.Unauthenticated, "err.unauthenticated")
	}
	h := sha256Hex(secret)
	var csrf string
	var created, lastSeen, expires int64
	// One query for the session, its user and the user's organisation:
	// this runs on every signed-in request.
	row := s.db.QueryRow(ctx, `SELECT s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, `+prefixCols("u.", userCols)+`,
		`+orgColsAs("o.")+` FROM identity_sessions s JOIN identity_users u ON u.id = s.user_id JOIN identity_orgs o ON o.id = u.org_id
		WHERE s.id_hash = ?`, h)
	var u User
	var org Org
	err := row.Scan(&csrf, &created, &lastSeen, &expires, &u.ID, &u.OrgID, &u.Username, &u.DisplayName, &u.Email, &u.Phone,
		&u.passwordHash, &u.MustChangePassword, &u.Demo, &u.Locale, &u.Disabled, &u.FailedLogins, &u.LockedUntil,
		&u.PasswordChangedAt, &u.LastLoginAt, &u.CreatedAt, &u.UpdatedAt,
		&org.ID, &org.ParentID, &org.Kind, &org.Code, &org.Name, &org.NameEN, &org.Path, &org.CreatedAt, &org.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.Unauthenticated, "session.expired")
	} else if err != nil {
		return nil, err
	}
	now := s.now().UnixMilli()
	if expires <= now || u.Disabled {
		s.db.Exec(ctx, "DELETE FROM identity_sessions WHERE id_hash = ?", h) //nolint:errcheck // best effort
		return nil, apperr.New(apperr.Unauthenticated, "session.expired")
	}
	if now-lastSeen > 60_000 {
		newExp := min(now+s.set.SessionTTL.Milliseconds(), created+s.set.SessionMaxAge.Milliseconds())
		if _, err := s.db.Exec(ctx, "UPDATE identity_sessions SET last_seen_at = ?, expires_at = ? WHERE id_hash = ?", now, newExp, h); err != nil {
			s.log.Warn("extend session", "err", err)
		}
	}
	p, err := s.principalFor(ctx, u, &org)
	if err != nil {
		return nil, err
	}
	p.Via, p.CSRF, p.sessionHash = "session", csrf, h
	return p, nil
}

// principalFor loads what a principal needs; org may be given when the
// caller already read it.
func (s *Service) principalFor(ctx context.Context, u User, org *Org) (*Principal, error) {
	if org == nil {
		o, err := getOrg(ctx, s.db, u.OrgID)
		if err != nil {
			return nil, err
		}
		org = &o
	}
	gs, err := grantsOf(ctx, s.db, u.ID)
	if err != nil {
		return nil, err
	}
	u.Grants = gs[u.ID]
	return &Principal{
		User: u, Org: *org, Grants: u.Grants, rbac: s.rbac,
		MustChange: u.MustChangePassword || (u.Demo && !s.set.Demo),
	}, nil
}

// Logout ends the session.
func (s *Service) Logout(ctx context.Context, secret string) error {
	_, err := s.db.Exec(ctx, "DELETE FROM identity_sessions WHERE id_hash = ?", sha256Hex(secret))
	return err
}

// PruneSessions deletes expired sessions.
func (s *Service) PruneSessions(ctx context.Context) (int64, error) {
	res, err := s.db.Exec(ctx, "DELETE FROM identity_sessions WHERE expires_at <= ?", s.ms())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// ---- API tokens ----

// Token scopes: read allows safe methods only, write allows every method.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// MaxTokenTTL bounds a token's lifetime.
const MaxTokenTTL = 366 * 24 * time.Hour

// TokenInput asks for a new token.
type TokenInput struct {
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	ExpiresIn int      `json:"expires_in_days"`
}

// CreateToken issues an API token for the principal's user. The secret is
// returned once and never stored.
func (s *Service) CreateToken(ctx context.Context, p *Principal, in TokenInput) (string, Token, error) {
	in.Name = strings.TrimSpace(in.Name)
	f := map[string]string{}
	if in.Name == "" {
		f["name"] = "err.required"
	} else if utf8.RuneCountInString(in.Name) > 60 {
		f["name"] = "token.err_name_long"
	}
	if len(in.Scopes) == 0 {
		f["scopes"] = "token.err_scopes"
	}
	for _, sc := range in.Scopes {
		if sc != ScopeRead && sc != ScopeWrite {
			f["scopes"] = "token.err_scopes"
		}
	}
	if in.ExpiresIn <= 0 || time.Duration(in.ExpiresIn)*24*time.Hour > MaxTokenTTL {
		f["expires_in_days"] = "token.err_expiry"
	}
	if len(f) > 0 {
		return "", Token{}, &apperr.Error{Code: apperr.Invalid, Message: "err.form_has_errors", Fields: f}
	}
	slices.Sort(in.Scopes)
	in.Scopes = slices.Compact(in.Scopes)
	prefix := hex.EncodeToString([]byte(randomString(6)))[:10]
	secret := "jn_" + prefix + "_" + randomString(32)
	now := s.now()
	t := Token{UserID: p.User.ID, Name: in.Name, Prefix: prefix, Scopes: in.Scopes, CreatedAt: now.UnixMilli(),
		ExpiresAt: now.Add(time.Duration(in.ExpiresIn) * 24 * time.Hour).UnixMilli()}
	id, err := db.InsertID(ctx, s.db, `INSERT INTO identity_tokens (user_id, name, prefix, hash, scopes, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, t.UserID, t.Name, t.Prefix, sha256Hex(secret), strings.Join(t.Scopes, " "), t.CreatedAt, t.ExpiresAt)
	if err != nil {
		return "", Token{}, err
	}
	t.ID = id
	return secret, t, nil
}

const tokenCols = "id, user_id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at"

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var scopes string
	err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.Prefix, &scopes, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return t, db.ErrNotFound
	}
	t.Scopes = strings.Fields(scopes)
	return t, err
}

// Tokens lists a user's tokens.
func (s *Service) Tokens(ctx context.Context, userID int64) ([]Token, error) {
	rows, err := s.db.Query(ctx, "SELECT "+tokenCols+" FROM identity_tokens WHERE user_id = ? ORDER BY id DESC", userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes one of the principal's tokens (or any token for a
// holder of token.admin).
func (s *Service) RevokeToken(ctx context.Context, p *Principal, id int64) error {
	t, err := scanToken(s.db.QueryRow(ctx, "SELECT "+tokenCols+" FROM identity_tokens WHERE id = ?", id))
	if err != nil {
		return notFound(err)
	}
	if t.UserID != p.User.ID && !p.Can(PermAdminTokens) {
		return apperr.New(apperr.NotFound, "err.not_found")
	}
	_, err = s.db.Exec(ctx, "UPDATE identity_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0", s.ms(), id)
	return err
}

// TokenPrincipal resolves a bearer token.
func (s *Service) TokenPrincipal(ctx context.Context, secret string) (*Principal, error) {
	if !strings.HasPrefix(secret, "jn_") || len(secret) > 100 {
		return nil, apperr.New(apperr.Unauthenticated, "token.invalid")
	}
	t, err := scanToken(s.db.QueryRow(ctx, "SELECT "+tokenCols+" FROM identity_tokens WHERE hash = ?", sha256Hex(secret)))
	if errors.Is(err, db.ErrNotFound) {
		return nil, apperr.New(apperr.Unauthenticated, "token.invalid")
	} else if err != nil {
		return nil, err
	}
	now := s.ms()
	if t.RevokedAt != 0 || t.ExpiresAt <= now {
		return nil, apperr.New(apperr.Unauthenticated, "token.invalid")
	}
	u, err := getUser(ctx, s.db, t.UserID)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, apperr.New(apperr.Unauthenticated, "token.invalid")
	}
	if now-t.LastUsedAt > 60_000 {
		s.db.Exec(ctx, "UPDATE identity_tokens SET last_used_at = ? WHERE id = ?", now, t.ID) //nolint:errcheck // best effort
	}
	p, err := s.principalFor(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	p.Via, p.Scopes, p.TokenID = "token", t.Scopes, t.ID
	return p, nil
}

// PrincipalOf builds the principal of a user by name, without a session:
// for trusted local tools (the command line), never for requests.
func (s *Service) PrincipalOf(ctx context.Context, username string) (*Principal, error) {
	u, err := getUserByName(ctx, s.db, username)
	if err != nil {
		return nil, notFound(err)
	}
	if u.Disabled {
		return nil, apperr.New(apperr.Forbidden, "login.disabled")
	}
	p, err := s.principalFor(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	p.Via = "cli"
	return p, nil
}
