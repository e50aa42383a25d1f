package marking

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
)

// Directory finds organisations and people (the identity service).
type Directory interface {
	OrgByCode(ctx context.Context, code string) (identity.Org, error)
	UserByName(ctx context.Context, name string) (identity.User, error)
	User(ctx context.Context, id int64) (identity.User, error)
	Org(ctx context.Context, id int64) (identity.Org, error)
}

// Config tunes the service.
type Config struct {
	// BaseURL is the public address that learning-record ids start with.
	BaseURL string
	// Lease is how long an examiner holds a task (default 10 minutes).
	Lease time.Duration
	// MaxRecording bounds one received recording (default 32 MiB).
	MaxRecording int64
	// MaxCopyCompare bounds the stored fingerprints one arriving
	// fingerprint is compared with (default 2000; about 1.5 ms each for
	// 30-second answers).
	MaxCopyCompare int
}

// Service is marking's behaviour over its tables and the blob store.
type Service struct {
	db    *db.DB
	blobs blob.Store
	bus   *events.Bus
	orgs  Directory
	cfg   Config
	now   func() time.Time
	log   *slog.Logger

	mu     sync.RWMutex
	cat    Catalog
	scorer MachineScorer
	match  RecordingMatcher
}

// NewService makes the service. The catalogue and the machine scorer are
// connected later (SetCatalog, SetScorer); until a catalogue is set, what
// needs it answers "not configured". bus may be nil (no learning records).
func NewService(d *db.DB, blobs blob.Store, bus *events.Bus, orgs Directory, cfg Config, log *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://jnedu.local"
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 10 * time.Minute
	}
	if cfg.MaxRecording <= 0 {
		cfg.MaxRecording = 32 << 20
	}
	if cfg.MaxCopyCompare <= 0 {
		cfg.MaxCopyCompare = 2000
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: d, blobs: blobs, bus: bus, orgs: orgs, cfg: cfg, now: now, log: log}
}

// SetCatalog connects the center's catalogue.
func (s *Service) SetCatalog(c Catalog) { s.mu.Lock(); s.cat = c; s.mu.Unlock() }

// SetScorer connects the machine scorer (nil: humans only).
func (s *Service) SetScorer(m MachineScorer) { s.mu.Lock(); s.scorer = m; s.mu.Unlock() }

func (s *Service) catalog() (Catalog, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.cat == nil {
		return nil, apperr.Wrap(apperr.Unavailable, ErrNotConfigured, "marking.err_not_configured")
	}
	return s.cat, nil
}

func (s *Service) machine() MachineScorer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.scorer
}

func (s *Service) ms() int64 { return s.now().UnixMilli() }

func newTaskID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// notFound tells whether a catalogue error means "no such thing".
func notFound(err error) bool {
	return errors.Is(err, db.ErrNotFound) || apperr.CodeOf(err) == apperr.NotFound
}

// siteOrg finds the site organisation by its code and checks that p holds
// the intake permission over it; a site p may not see is "not found".
func (s *Service) siteOrg(ctx context.Context, p *identity.Principal, site string) (identity.Org, error) {
	site = strings.TrimSpace(site)
	org, err := s.orgs.OrgByCode(ctx, site)
	if err != nil {
		if notFound(err) {
			return org, apperr.New(apperr.NotFound, "marking.err_site_unknown", site)
		}
		return org, err
	}
	if !p.CanIn(PermIntake, org) {
		return org, apperr.New(apperr.NotFound, "marking.err_site_unknown", site)
	}
	return org, nil
}

// isStaff reports whether p sees every exam's marking data (exam staff and
// platform admins).
func isStaff(p *identity.Principal) bool { return p.Can(PermIntake) }
