package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"jnedu/internal/identity"
	"jnedu/internal/insight"
	"jnedu/internal/lrs"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/events"
	"jnedu/internal/roster"
)

// The indicators listen to the learning-record store: every stored
// statement (the platform's own and outside tools') is counted once, in
// order, through the outbox; the roster says who the platform's users are.

// insightSubscriber names the indicators' durable subscription.
const insightSubscriber = "insight.records"

func subscribeInsight(a *App) {
	events.Subscribe(a.Bus, lrs.TopicStored, insightSubscriber, func(ctx context.Context, ev events.Envelope[lrs.StoredEvent]) error {
		st, err := a.LRS.Statement(ctx, ev.Payload.ID, "")
		if apperr.CodeOf(err) == apperr.NotFound {
			return nil // gone (a restore to an earlier backup): nothing to count
		}
		if err != nil {
			return fmt.Errorf("insight: statement %s: %w", ev.Payload.ID, err)
		}
		return a.Insight.Ingest(ctx, insight.Statement{ID: st.ID, Stored: st.Stored, OrgPath: ev.Payload.OrgPath, UserID: ev.Payload.UserID, Body: st.Body})
	})
}

// subscribeInsightRoster keeps the roster counts (the denominators) in
// step with imports.
func subscribeInsightRoster(a *App) {
	events.Subscribe(a.Bus, roster.TopicImported, "insight.roster", func(ctx context.Context, ev events.Envelope[roster.ImportedEvent]) error {
		return refreshInsightRoster(ctx, a, ev.Payload.OrgIDs)
	})
}

// refreshInsightRoster counts the students of the schools again (all
// schools when ids is nil).
func refreshInsightRoster(ctx context.Context, a *App, ids []int64) error {
	var paths []string
	if ids == nil {
		schools, err := a.Identity.Orgs(ctx, identity.OrgFilter{Kinds: []identity.OrgKind{identity.KindSchool}, Limit: 100000})
		if err != nil {
			return err
		}
		for _, o := range schools {
			paths = append(paths, o.Path)
		}
	}
	for _, id := range ids {
		o, err := a.Identity.Org(ctx, id)
		if apperr.CodeOf(err) == apperr.NotFound {
			continue
		}
		if err != nil {
			return err
		}
		paths = append(paths, o.Path)
	}
	return a.Insight.RefreshRoster(ctx, paths)
}

// insightSource pages through the store for a recompute.
type insightSource struct{ lrs *lrs.Service }

func (s insightSource) Statements(ctx context.Context, after *insight.Cursor, since, until int64, limit int) ([]insight.Statement, error) {
	var c *lrs.Cursor
	if after != nil {
		c = &lrs.Cursor{Stored: after.Stored, ID: after.ID}
	}
	rows, err := s.lrs.Feed(ctx, c, since, until, limit)
	if err != nil {
		return nil, err
	}
	out := make([]insight.Statement, len(rows))
	for i, r := range rows {
		out[i] = insight.Statement{ID: r.ID, Stored: r.Stored, OrgPath: r.OrgPath, UserID: r.UserID, Body: r.Body}
	}
	return out, nil
}

// insightPeople answers who a platform user is: the roster first (a
// teacher, or a student with their class), then the user's roles.
type insightPeople struct {
	roster *roster.Service
	ids    *identity.Service
}

func (p insightPeople) Person(ctx context.Context, userID int64) (insight.Person, error) {
	if _, err := p.roster.TeacherOfUser(ctx, userID); err == nil {
		return insight.Person{Role: insight.RoleTeacher}, nil
	} else if apperr.CodeOf(err) != apperr.NotFound {
		return insight.Person{}, err
	}
	ms, err := p.roster.MembershipOf(ctx, userID)
	if err != nil {
		return insight.Person{}, err
	}
	for _, m := range ms {
		if m.Role == "student" {
			return insight.Person{Role: insight.RoleStudent, Class: m.ClassName}, nil
		}
	}
	u, err := p.ids.User(ctx, userID)
	if apperr.CodeOf(err) == apperr.NotFound {
		return insight.Person{}, nil
	}
	if err != nil {
		return insight.Person{}, err
	}
	for _, g := range u.Grants {
		switch g.Role {
		case identity.RoleTeacher:
			return insight.Person{Role: insight.RoleTeacher}, nil
		case identity.RoleStudent:
			return insight.Person{Role: insight.RoleStudent}, nil
		}
	}
	return insight.Person{}, nil
}

func (p insightPeople) StudentCount(ctx context.Context, orgID int64) (int, error) {
	return p.roster.StudentCount(ctx, orgID, "")
}

func (p insightPeople) TeacherClasses(ctx context.Context, userID int64) ([]insight.ClassRef, error) {
	ms, err := p.roster.MembershipOf(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []insight.ClassRef
	for _, m := range ms {
		if m.Kind == "teacher" {
			out = append(out, insight.ClassRef{OrgID: m.OrgID, Name: m.ClassName})
		}
	}
	return out, nil
}

// insightDemoStore stores the dashboards' demo records through the store.
type insightDemoStore struct{ lrs *lrs.Service }

func (s insightDemoStore) StoreRecord(ctx context.Context, st map[string]any, orgPath string, userID int64) error {
	err := s.lrs.StoreRecord(ctx, st, orgPath, userID)
	if errors.Is(err, lrs.ErrConflict) {
		return fmt.Errorf("%w: %v", insight.ErrExists, err)
	}
	return err
}

func (s insightDemoStore) Has(ctx context.Context, id string) (bool, error) {
	_, err := s.lrs.Statement(ctx, id, "")
	if apperr.CodeOf(err) == apperr.NotFound {
		return false, nil
	}
	return err == nil, err
}

// loadInsightDemo records the dashboards' demo activity (once).
func loadInsightDemo(ctx context.Context, a *App) {
	n, err := insight.LoadDemo(ctx, a.Identity, insightDemoStore{a.LRS}, a.LRS.BaseURL(), time.Now())
	switch {
	case err != nil:
		a.Log.Warn("demo learning records not loaded", "err", err)
	case n > 0:
		a.Log.Info("demo learning records loaded", "statements", n)
	}
}
