package identity

import (
	"context"
	"strings"

	"jnedu/internal/platform/web"
)

// Principal is the caller of a request: a user signed in by session or API
// token, with the grants that decide what they may do.
type Principal struct {
	User   User
	Org    Org
	Grants []Grant
	rbac   *RBAC

	Via         string   // "session" or "token"
	CSRF        string   // the session's anti-forgery token
	Scopes      []string // token scopes
	TokenID     int64
	sessionHash string
	// MustChange is set when the user must change their password before
	// doing anything else.
	MustChange bool
}

// Can reports whether the principal holds perm over any organisation.
func (p *Principal) Can(perm web.Perm) bool {
	if p == nil {
		return false
	}
	for _, g := range p.Grants {
		if p.rbac.Has(g.Role, perm) {
			return true
		}
	}
	return false
}

// CanIn reports whether the principal holds perm over org (a grant on org
// or on one of its ancestors).
func (p *Principal) CanIn(perm web.Perm, org Org) bool {
	if p == nil || org.Path == "" {
		return false
	}
	for _, g := range p.Grants {
		if strings.HasPrefix(org.Path, g.orgPath) && p.rbac.Has(g.Role, perm) {
			return true
		}
	}
	return false
}

// HasRoleOver reports whether the principal holds role over org.
func (p *Principal) HasRoleOver(role Role, org Org) bool {
	for _, g := range p.Grants {
		if g.Role == role && strings.HasPrefix(org.Path, g.orgPath) {
			return true
		}
	}
	return false
}

// IsRootAdmin reports whether the principal is a platform admin over a
// root organisation (may create new roots).
func (p *Principal) IsRootAdmin() bool {
	for _, g := range p.Grants {
		if g.Role == RolePlatformAdmin && strings.Count(g.orgPath, "/") == 2 {
			return true
		}
	}
	return false
}

// Scope returns the organisations over which the principal holds perm,
// with nested ones removed (their parent already covers them).
func (p *Principal) Scope(perm web.Perm) []Org {
	out := []Org{}
	for _, g := range p.Grants {
		if !p.rbac.Has(g.Role, perm) {
			continue
		}
		covered := false
		for i := 0; i < len(out); i++ {
			if strings.HasPrefix(g.orgPath, out[i].Path) {
				covered = true
				break
			}
			if strings.HasPrefix(out[i].Path, g.orgPath) {
				out = append(out[:i], out[i+1:]...)
				i--
			}
		}
		if !covered {
			out = append(out, Org{ID: g.OrgID, Name: g.OrgName, Path: g.orgPath})
		}
	}
	return out
}

// Roles lists the distinct roles the principal holds.
func (p *Principal) Roles() []Role {
	var out []Role
	seen := map[Role]bool{}
	for _, g := range p.Grants {
		if !seen[g.Role] {
			seen[g.Role] = true
			out = append(out, g.Role)
		}
	}
	return out
}

type principalKey struct{}

// WithPrincipal stores p in ctx.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller, or nil when nobody is signed in.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
