// Package identity holds organisations, people, roles, sign-in, sessions,
// API tokens and the audit log: what every subsystem needs to know about
// who is asking and what they may do.
package identity

import (
	"slices"
	"strings"
)

// OrgKind is the kind of an organisation in the tree.
type OrgKind string

const (
	KindBureau   OrgKind = "bureau"   // 教育局
	KindCenter   OrgKind = "center"   // 电教馆
	KindDistrict OrgKind = "district" // 区县
	KindSchool   OrgKind = "school"   // 学校
	KindExamSite OrgKind = "examsite" // 考点
	KindRoom     OrgKind = "room"     // 教室/考场
)

// OrgKinds lists the kinds in tree order.
var OrgKinds = []OrgKind{KindBureau, KindCenter, KindDistrict, KindSchool, KindExamSite, KindRoom}

// Valid reports whether k is a known kind.
func (k OrgKind) Valid() bool { return slices.Contains(OrgKinds, k) }

// allowedParents says under which kinds a kind may sit ("" = the root).
var allowedParents = map[OrgKind][]OrgKind{
	KindBureau:   {""},
	KindCenter:   {KindBureau},
	KindDistrict: {KindBureau},
	KindSchool:   {KindBureau, KindCenter, KindDistrict},
	KindExamSite: {KindDistrict, KindSchool, KindCenter},
	KindRoom:     {KindSchool, KindExamSite},
}

// CanSitUnder reports whether an organisation of kind k may have a parent of
// kind parent ("" for none).
func (k OrgKind) CanSitUnder(parent OrgKind) bool {
	return slices.Contains(allowedParents[k], parent)
}

// Org is an organisation.
type Org struct {
	ID        int64   `json:"id"`
	ParentID  int64   `json:"parent_id,omitempty"`
	Kind      OrgKind `json:"kind"`
	Code      string  `json:"code"`
	Name      string  `json:"name"`
	NameEN    string  `json:"name_en,omitempty"`
	Path      string  `json:"-"`
	CreatedAt int64   `json:"created_at"`
	UpdatedAt int64   `json:"updated_at"`
}

// Contains reports whether other lies in o's subtree (o included).
func (o Org) Contains(other Org) bool { return strings.HasPrefix(other.Path, o.Path) }

// User is a person (or a machine account) who signs in.
type User struct {
	ID                 int64   `json:"id"`
	OrgID              int64   `json:"org_id"`
	Username           string  `json:"username"`
	DisplayName        string  `json:"display_name"`
	Email              string  `json:"email,omitempty"`
	Phone              string  `json:"phone,omitempty"`
	MustChangePassword bool    `json:"must_change_password"`
	Demo               bool    `json:"demo"`
	Locale             string  `json:"locale"`
	Disabled           bool    `json:"disabled"`
	FailedLogins       int     `json:"-"`
	LockedUntil        int64   `json:"locked_until,omitempty"`
	PasswordChangedAt  int64   `json:"password_changed_at,omitempty"`
	LastLoginAt        int64   `json:"last_login_at,omitempty"`
	CreatedAt          int64   `json:"created_at"`
	UpdatedAt          int64   `json:"updated_at"`
	Grants             []Grant `json:"grants,omitempty"`
	passwordHash       string
}

// Grant gives a role over an organisation's subtree.
type Grant struct {
	ID      int64  `json:"id,omitempty"`
	Role    Role   `json:"role"`
	OrgID   int64  `json:"org_id"`
	OrgName string `json:"org_name,omitempty"`
	orgPath string
}

// Token is an API token (the secret is shown once, at creation).
type Token struct {
	ID         int64    `json:"id"`
	UserID     int64    `json:"user_id"`
	Name       string   `json:"name"`
	Prefix     string   `json:"prefix"`
	Scopes     []string `json:"scopes"`
	CreatedAt  int64    `json:"created_at"`
	ExpiresAt  int64    `json:"expires_at"`
	LastUsedAt int64    `json:"last_used_at,omitempty"`
	RevokedAt  int64    `json:"revoked_at,omitempty"`
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID        int64  `json:"id"`
	At        int64  `json:"at"`
	ActorID   int64  `json:"actor_id,omitempty"`
	ActorName string `json:"actor_name"`
	OrgID     int64  `json:"org_id,omitempty"`
	IP        string `json:"ip"`
	Action    string `json:"action"`
	Target    string `json:"target"`
	Detail    string `json:"detail"`
	Result    string `json:"result"`
	RequestID string `json:"request_id"`
}
