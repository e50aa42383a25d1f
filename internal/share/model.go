// Package share is campus fast video sharing (校园快速分享): resumable
// uploads, fast HLS packaging and an adaptive ladder, sharing across the
// center and the schools, search, playback and view records.
package share

import (
	"jnedu/internal/identity"
	"jnedu/internal/platform/web"
)

// Permissions of the video-sharing subsystem.
const (
	PermView   web.Perm = "share.view"   // watch what is shared with me, search
	PermUpload web.Perm = "share.upload" // upload and share my own videos
	PermManage web.Perm = "share.manage" // change or take down any video of my organisations
)

// DefinePermissions grants the subsystem's permissions to the roles.
func DefinePermissions(r *identity.RBAC) {
	r.Define(PermView, r.Roles()...)
	r.Define(PermUpload, identity.RolePlatformAdmin, identity.RoleSchoolAdmin, identity.RoleTeacher, identity.RoleEditor)
	r.Define(PermManage, identity.RolePlatformAdmin, identity.RoleSchoolAdmin)
}

// Tiles for the portal.
func Tiles() []identity.Tile {
	return []identity.Tile{
		{Key: "share.tile", DescKey: "share.tile_desc", Href: "/videos", Perm: PermView, Group: "portal.group_apps"},
		{Key: "share.tile_upload", DescKey: "share.tile_upload_desc", Href: "/videos/upload", Perm: PermUpload, Group: "portal.group_apps"},
		{Key: "share.tile_admin", DescKey: "share.tile_admin_desc", Href: "/videos/admin", Perm: PermManage, Group: "portal.group_apps"},
	}
}

// Visibility says who may watch a video.
type Visibility string

const (
	Private  Visibility = "private" // the owner (and managers)
	School   Visibility = "school"  // the owner's school, and organisations above it
	Orgs     Visibility = "orgs"    // chosen organisations (and the owner's school)
	Everyone Visibility = "all"     // every signed-in person: the center and all schools
	Link     Visibility = "link"    // anyone holding the link (with its extraction code), until it expires
)

// Valid reports whether v is known.
func (v Visibility) Valid() bool {
	switch v {
	case Private, School, Orgs, Everyone, Link:
		return true
	}
	return false
}

// Media states.
const (
	StateUploaded  = "uploaded"
	StateProbing   = "probing"
	StatePackaging = "packaging"
	StateEncoding  = "encoding"
	StateReady     = "ready"
	StateFailed    = "failed"
)

// Media is one distinct original and what was made from it.
type Media struct {
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
	State       string `json:"state"`
	StateReason string `json:"state_reason,omitempty"`
	Playable    bool   `json:"playable"`
	Progress    int    `json:"progress"`
	DurationMS  int64  `json:"duration_ms"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	VideoCodec  string `json:"video_codec,omitempty"`
	AudioCodec  string `json:"audio_codec,omitempty"`
	CreatedAt   int64  `json:"created_at"`
	UpdatedAt   int64  `json:"updated_at"`
}

// Video is a shared video: metadata and audience over a media.
type Video struct {
	ID            int64      `json:"id"`
	MediaSHA256   string     `json:"media_sha256"`
	OwnerID       int64      `json:"owner_id"`
	OrgID         int64      `json:"org_id"`
	OrgPath       string     `json:"-"`
	Title         string     `json:"title"`
	Description   string     `json:"description"`
	Tags          string     `json:"tags"`
	Subject       string     `json:"subject"`
	Grade         string     `json:"grade"`
	OriginalName  string     `json:"original_name"`
	Visibility    Visibility `json:"visibility"`
	SharedOrgs    []int64    `json:"shared_orgs,omitempty"`
	AllowDownload bool       `json:"allow_download"`
	LinkToken     string     `json:"link_token,omitempty"`
	LinkExpiresAt int64      `json:"link_expires_at,omitempty"`
	HasLinkCode   bool       `json:"has_link_code"`
	Views         int64      `json:"views"`
	TakenDownAt   int64      `json:"taken_down_at,omitempty"`
	TakenDownBy   int64      `json:"taken_down_by,omitempty"`
	TakenDownWhy  string     `json:"taken_down_reason,omitempty"`
	CreatedAt     int64      `json:"created_at"`
	UpdatedAt     int64      `json:"updated_at"`
	Media         *Media     `json:"media,omitempty"`
	linkCodeHash  string
}
