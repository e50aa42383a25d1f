// Package exam is the center side of the English listening-and-speaking
// exams: papers (versioned documents, prompt audio uploaded or synthesized,
// a preview that plays a paper as a candidate takes it), exam
// administration (exams, sessions, rooms, candidates, seats, admission
// tickets, sign-in sheets, site staff), and what the center gives the site
// nodes (site packages, sealed papers, session keys). See docs/EXAM.md.
package exam

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/web"
)

// Permissions of the exam subsystem.
const (
	// PermAuthor: write and publish papers (center staff).
	PermAuthor web.Perm = "exam.author"
	// PermAdmin: exam administration; object checks by organisation
	// subtree (the center sees every exam it owns, a site's staff their
	// site's rooms and candidates).
	PermAdmin web.Perm = "exam.admin"
	// PermSite: the site-node API, for exam staff of that site.
	PermSite web.Perm = "exam.site"
)

// DefinePermissions declares the exam permissions.
func DefinePermissions(r *identity.RBAC) {
	r.Define(PermAuthor, identity.RolePlatformAdmin, identity.RoleExamStaff)
	r.Define(PermAdmin, identity.RolePlatformAdmin, identity.RoleExamStaff)
	r.Define(PermSite, identity.RoleExamStaff)
}

// Tiles are the portal entries.
func Tiles() []identity.Tile {
	return []identity.Tile{
		{Key: "exam.tile_papers", DescKey: "exam.tile_papers_desc", Href: "/exam/papers", Perm: PermAuthor, Group: "portal.group_exam"},
		{Key: "exam.tile_exams", DescKey: "exam.tile_exams_desc", Href: "/exam/exams", Perm: PermAdmin, Group: "portal.group_exam"},
	}
}

// Config is what the service is given.
type Config struct {
	// Secret protects ID-card numbers and session keys at rest (at least
	// 32 bytes; the program's data/secret.key).
	Secret []byte
	// WorkDir holds temporary files of the audio tools.
	WorkDir string
	// MaxAudioBytes bounds an uploaded prompt audio (default 20 MiB).
	MaxAudioBytes int64
	// MaxImageBytes bounds an image or photo (default 2 MiB).
	MaxImageBytes int64
	// Tools: paths of espeak-ng, ffmpeg and ffprobe ("" = look them up).
	Espeak, FFmpeg, FFprobe string
	// ToolTimeout bounds one run of a tool (default 60 s).
	ToolTimeout time.Duration
}

// Service is the exam center's behaviour over its tables and the blob store.
type Service struct {
	db    *db.DB
	blobs blob.Store
	ids   *identity.Service
	cfg   Config
	now   func() time.Time
	log   *slog.Logger
	aead  cipher.AEAD
	hkey  []byte // keyed hash of ID-card numbers
}

// NewService makes the service.
func NewService(d *db.DB, blobs blob.Store, ids *identity.Service, cfg Config, log *slog.Logger, now func() time.Time) (*Service, error) {
	if len(cfg.Secret) < 32 {
		return nil, errors.New("exam: the secret must be at least 32 bytes")
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxAudioBytes <= 0 {
		cfg.MaxAudioBytes = 20 << 20
	}
	if cfg.MaxImageBytes <= 0 {
		cfg.MaxImageBytes = 2 << 20
	}
	if cfg.ToolTimeout <= 0 {
		cfg.ToolTimeout = 60 * time.Second
	}
	block, err := aes.NewCipher(derive(cfg.Secret, "jnedu exam protect v1"))
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Service{db: d, blobs: blobs, ids: ids, cfg: cfg, now: now, log: log, aead: g,
		hkey: derive(cfg.Secret, "jnedu exam id hash v1")}, nil
}

func (s *Service) ms() int64 { return s.now().UnixMilli() }

func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// protect encrypts a small secret (an ID-card number, a session key) for
// storage; ad binds it to its row.
func (s *Service) protect(plain []byte, ad string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(ad))), nil
}

func (s *Service) unprotect(enc, ad string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(b) < s.aead.NonceSize() {
		return nil, errors.New("exam: damaged protected value")
	}
	out, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte(ad))
	if err != nil {
		return nil, fmt.Errorf("exam: protected value does not open: %w", err)
	}
	return out, nil
}

// idHash is the keyed hash of an ID-card number, for lookups.
func (s *Service) idHash(exam int64, id string) string {
	m := hmac.New(sha256.New, s.hkey)
	fmt.Fprintf(m, "%d|%s", exam, strings.ToUpper(strings.TrimSpace(id)))
	return hex.EncodeToString(m.Sum(nil))
}

func notFound() error { return apperr.New(apperr.NotFound, "err.not_found") }

// centers are the organisations of kind center: exam authors work there.
func (s *Service) isCenterStaff(ctx context.Context, p *identity.Principal, perm web.Perm) bool {
	if p == nil {
		return false
	}
	orgs, err := s.ids.Orgs(ctx, identity.OrgFilter{Kinds: []identity.OrgKind{identity.KindCenter}})
	if err != nil {
		return false
	}
	for _, o := range orgs {
		if p.CanIn(perm, o) {
			return true
		}
	}
	return false
}

// CanAuthor reports whether p may write papers: an author over a center.
func (s *Service) CanAuthor(ctx context.Context, p *identity.Principal) bool {
	return s.isCenterStaff(ctx, p, PermAuthor)
}
