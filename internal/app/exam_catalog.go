package app

import (
	"context"
	"crypto/ed25519"

	"jnedu/internal/exam"
	"jnedu/internal/exam/marking"
	"jnedu/internal/exam/paper"
)

// centerCatalog lets marking reach the exam center's catalogue.
type centerCatalog struct{ svc *exam.Service }

var _ marking.Catalog = centerCatalog{}

func (c centerCatalog) SitePublicKey(ctx context.Context, site string) (ed25519.PublicKey, error) {
	return c.svc.SitePublicKey(ctx, site)
}

func (c centerCatalog) SessionPaper(ctx context.Context, examCode, session, variant string) (paper.Paper, error) {
	return c.svc.SessionPaper(ctx, examCode, session, variant)
}

func (c centerCatalog) CandidateInfo(ctx context.Context, examCode, number string) (marking.Candidate, error) {
	ci, err := c.svc.CandidateInfo(ctx, examCode, number)
	return marking.Candidate{Number: ci.Number, Name: ci.Name, School: ci.School, SchoolOrgID: ci.SchoolOrgID, Site: ci.Site,
		Session: ci.Session, Room: ci.Room, Seat: ci.Seat, Variant: ci.Variant}, err
}

// SessionRoster is asked for once a site's signed manifest has verified:
// from then on the site's registered key may no longer be replaced, nor
// the session's key at the site.
func (c centerCatalog) SessionRoster(ctx context.Context, examCode, site, session string) ([]string, error) {
	r, err := c.svc.SessionRoster(ctx, examCode, site, session)
	if err != nil {
		return nil, err
	}
	if err := c.svc.NoteAnswersReceived(ctx, examCode, site, session); err != nil {
		return nil, err
	}
	return r, c.svc.LockSiteKey(ctx, site)
}

func (c centerCatalog) CheckCandidateID(ctx context.Context, examCode, number, idNumber string) (bool, error) {
	return c.svc.CheckCandidateID(ctx, examCode, number, idNumber)
}
