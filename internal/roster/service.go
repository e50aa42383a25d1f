package roster

import (
	"context"
	"log/slog"
	"time"

	"jnedu/internal/identity"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
)

// Directory is what the roster needs from identity: organisations by code
// or name, users by name. *identity.Service implements it.
type Directory interface {
	Org(ctx context.Context, id int64) (identity.Org, error)
	OrgByCode(ctx context.Context, code string) (identity.Org, error)
	Orgs(ctx context.Context, f identity.OrgFilter) ([]identity.Org, error)
	UserByName(ctx context.Context, name string) (identity.User, error)
}

var _ Directory = (*identity.Service)(nil)

// Service is the roster's behaviour over its tables.
type Service struct {
	db   *db.DB
	dir  Directory
	bus  *events.Bus
	prot *Protector
	now  func() time.Time
	log  *slog.Logger
}

// NewService makes the service. bus may be nil (no events: tests of the
// store alone); now nil means time.Now.
func NewService(d *db.DB, dir Directory, bus *events.Bus, prot *Protector, log *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: d, dir: dir, bus: bus, prot: prot, now: now, log: log}
}

func (s *Service) ms() int64 { return s.now().UnixMilli() }

// currentSchoolYear is the school year (学年) on the service's clock: a
// year starts in August (China Standard Time).
func (s *Service) currentSchoolYear() string {
	t := s.now().In(time.FixedZone("CST", 8*3600))
	y := t.Year()
	if t.Month() < time.August {
		y--
	}
	return schoolYearOf(y)
}
