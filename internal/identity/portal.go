package identity

import (
	"net/http"
	"strings"

	"jnedu/internal/platform/web"
)

// Tile is one entry of the home portal and the navigation: a subsystem or
// tool, shown to those who hold its permission.
type Tile struct {
	Key     string // message key of the title
	DescKey string // message key of the one-line description
	Href    string
	Perm    web.Perm // web.SignedIn for everyone
	Group   string   // message key of the group heading
}

// Tiles of the identity subsystem itself.
func identityTiles() []Tile {
	return []Tile{
		{Key: "tile.orgs", DescKey: "tile.orgs_desc", Href: "/orgs", Perm: PermOrgRead, Group: "portal.group_admin"},
		{Key: "tile.users", DescKey: "tile.users_desc", Href: "/users", Perm: PermUserRead, Group: "portal.group_admin"},
		{Key: "tile.import", DescKey: "tile.import_desc", Href: "/users/import", Perm: PermUserManage, Group: "portal.group_admin"},
		{Key: "tile.audit", DescKey: "tile.audit_desc", Href: "/audit", Perm: PermAuditRead, Group: "portal.group_admin"},
		{Key: "tile.account", DescKey: "tile.account_desc", Href: "/account", Perm: web.SignedIn, Group: "portal.group_me"},
		{Key: "tile.tokens", DescKey: "tile.tokens_desc", Href: "/account/tokens", Perm: web.SignedIn, Group: "portal.group_me"},
	}
}

// visibleTiles returns the tiles the principal may use.
func visibleTiles(p *Principal, tiles []Tile) []Tile {
	var out []Tile
	for _, t := range tiles {
		if t.Perm == web.SignedIn || p.Can(t.Perm) {
			out = append(out, t)
		}
	}
	return out
}

// Chrome builds the layout's frame for a request: user, navigation, token.
func (h *Handlers) Chrome(r *http.Request) web.Chrome {
	p := PrincipalFrom(r.Context())
	if p == nil {
		return web.Chrome{}
	}
	lang := web.Lang(r.Context())
	c := web.Chrome{SignedIn: true, UserName: p.User.DisplayName, OrgName: p.Org.Name, CSRF: p.CSRF, MustChange: p.MustChange}
	if lang == web.LangEN && p.Org.NameEN != "" {
		c.OrgName = p.Org.NameEN
	}
	for _, role := range p.Roles() {
		c.RoleNames = append(c.RoleNames, h.svc.rbac.Name(role, lang))
	}
	if p.MustChange {
		return c
	}
	c.Nav = append(c.Nav, web.NavItem{Key: "nav.home", Href: "/", Active: r.URL.Path == "/"})
	for _, t := range visibleTiles(p, h.tiles) {
		active := r.URL.Path == t.Href || (t.Href != "/" && strings.HasPrefix(r.URL.Path, t.Href+"/") && !h.hasTile(r.URL.Path))
		c.Nav = append(c.Nav, web.NavItem{Key: t.Key, Href: t.Href, Active: active})
	}
	return c
}

func (h *Handlers) hasTile(path string) bool {
	for _, t := range h.tiles {
		if t.Href == path {
			return true
		}
	}
	return false
}
