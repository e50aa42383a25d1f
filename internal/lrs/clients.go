package lrs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf8"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
)

// Client scopes.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
	ScopeAll   = "all"
)

// Client is an outside tool's credential.
type Client struct {
	ID         int64
	Name       string
	Key        string
	Scope      string
	OrgID      int64
	OrgPath    string
	OrgName    string // filled by the pages
	CreatedBy  int64
	CreatedAt  int64
	RevokedAt  int64
	LastUsedAt int64
}

// CanRead reports whether the client may read.
func (c Client) CanRead() bool { return c.Scope == ScopeRead || c.Scope == ScopeAll }

// CanWrite reports whether the client may write.
func (c Client) CanWrite() bool { return c.Scope == ScopeWrite || c.Scope == ScopeAll }

// Authority is the agent that stands for the client in the statements it
// stores.
func (s *Service) Authority(c Client) obj {
	return obj{"objectType": "Agent", "name": c.Name, "account": obj{"homePage": s.baseURL + "/xapi/clients", "name": c.Key}}
}

// PlatformAuthority is the authority of records the platform makes itself.
func (s *Service) PlatformAuthority() obj {
	return obj{"objectType": "Agent", "name": "jnedu", "account": obj{"homePage": s.baseURL, "name": "jnedu"}}
}

// ClientInput is what a person fills in to create a client.
type ClientInput struct {
	Name    string
	Scope   string
	OrgID   int64
	OrgPath string
}

func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// CreateClient makes a credential and returns it with its secret, which is
// kept only as a hash (secrets are 256 random bits, so a plain SHA-256 is
// enough and cheap to check on every request).
func (s *Service) CreateClient(ctx context.Context, by int64, in ClientInput) (Client, string, error) {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 100 {
		return Client{}, "", apperr.Field("name", "lrs.err_client_name")
	}
	switch in.Scope {
	case ScopeRead, ScopeWrite, ScopeAll:
	default:
		return Client{}, "", apperr.Field("scope", "lrs.err_client_scope")
	}
	if in.OrgID == 0 || in.OrgPath == "" {
		return Client{}, "", apperr.Field("org_id", "lrs.err_client_org")
	}
	c := Client{Name: in.Name, Key: "k_" + randomToken(12), Scope: in.Scope, OrgID: in.OrgID, OrgPath: in.OrgPath,
		CreatedBy: by, CreatedAt: s.now().UnixMilli()}
	secret := randomToken(32)
	id, err := db.InsertID(ctx, s.db, `INSERT INTO lrs_clients (name, key, secret_hash, scope, org_id, org_path, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.Name, c.Key, hashSecret(secret), c.Scope, c.OrgID, c.OrgPath, by, c.CreatedAt)
	if err != nil {
		return Client{}, "", err
	}
	c.ID = id
	return c, secret, nil
}

const clientCols = "id, name, key, scope, org_id, org_path, created_by, created_at, revoked_at, last_used_at"

func scanClient(sc interface{ Scan(...any) error }) (Client, error) {
	var c Client
	err := sc.Scan(&c.ID, &c.Name, &c.Key, &c.Scope, &c.OrgID, &c.OrgPath, &c.CreatedBy, &c.CreatedAt, &c.RevokedAt, &c.LastUsedAt)
	return c, err
}

// Clients lists the credentials of an organisation subtree, newest first.
func (s *Service) Clients(ctx context.Context, orgPrefixes []string) ([]Client, error) {
	if len(orgPrefixes) == 0 {
		return nil, nil
	}
	var conds []string
	var args []any
	for _, p := range orgPrefixes {
		conds = append(conds, "org_path LIKE ?")
		args = append(args, p+"%")
	}
	rows, err := s.db.Query(ctx, "SELECT "+clientCols+" FROM lrs_clients WHERE "+strings.Join(conds, " OR ")+" ORDER BY id DESC LIMIT 1000", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ClientByID returns one credential.
func (s *Service) ClientByID(ctx context.Context, id int64) (Client, error) {
	c, err := scanClient(s.db.QueryRow(ctx, "SELECT "+clientCols+" FROM lrs_clients WHERE id = ?", id))
	if errors.Is(err, sqlNoRows) {
		return c, notFound()
	}
	return c, err
}

// RevokeClient stops a credential from working.
func (s *Service) RevokeClient(ctx context.Context, id int64) error {
	_, err := s.db.Exec(ctx, "UPDATE lrs_clients SET revoked_at = ? WHERE id = ? AND revoked_at = 0", s.now().UnixMilli(), id)
	return err
}

// errBadCredentials is a wrong, unknown or revoked key or secret.
var errBadCredentials = errors.New("bad credentials")

// Authenticate checks a key and secret.
func (s *Service) Authenticate(ctx context.Context, key, secret string) (Client, error) {
	var hash string
	row := s.db.QueryRow(ctx, "SELECT "+clientCols+", secret_hash FROM lrs_clients WHERE key = ?", key)
	var c Client
	err := row.Scan(&c.ID, &c.Name, &c.Key, &c.Scope, &c.OrgID, &c.OrgPath, &c.CreatedBy, &c.CreatedAt, &c.RevokedAt, &c.LastUsedAt, &hash)
	if errors.Is(err, sqlNoRows) {
		return c, errBadCredentials
	}
	if err != nil {
		return c, err
	}
	if subtle.ConstantTimeCompare([]byte(hash), []byte(hashSecret(secret))) != 1 || c.RevokedAt != 0 {
		return c, errBadCredentials
	}
	now := s.now().UnixMilli()
	if now-c.LastUsedAt > 60_000 {
		// At most once a minute, so ingest is not a stream of updates.
		if _, err := s.db.Exec(ctx, "UPDATE lrs_clients SET last_used_at = ? WHERE id = ?", now, c.ID); err != nil {
			s.log.Warn("lrs: note client use", "err", err)
		}
	}
	return c, nil
}
