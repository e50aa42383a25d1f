package identity

import (
	"context"
	"net/http"
	"strings"
	"time"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/web"
)

// Audit results.
const (
	ResultOK     = "ok"
	ResultDenied = "denied"
	ResultFailed = "failed"
)

// auditNote lets a handler say what its action touched.
type auditNote struct {
	action, target, detail string
	actor                  *Principal
}

type noteKey struct{}

// Note records, for the audit log, what the current request acted on:
// target names the object ("user:42"), detail says what changed. Safe to
// call from any handler; a no-op outside a request.
func Note(ctx context.Context, target, detail string) {
	if n, ok := ctx.Value(noteKey{}).(*auditNote); ok {
		n.target, n.detail = target, detail
	}
}

// NoteAction overrides the action name (default: the route pattern).
func NoteAction(ctx context.Context, action string) {
	if n, ok := ctx.Value(noteKey{}).(*auditNote); ok {
		n.action = action
	}
}

// NoteActor sets the actor when the handler itself signed someone in.
func NoteActor(ctx context.Context, p *Principal) {
	if n, ok := ctx.Value(noteKey{}).(*auditNote); ok {
		n.actor = p
	}
}

// Record appends an entry to the audit log.
func (s *Service) Record(ctx context.Context, q db.Querier, e AuditEntry) error {
	if q == nil {
		q = s.db
	}
	if e.At == 0 {
		e.At = s.ms()
	}
	var actor, org any
	if e.ActorID != 0 {
		actor = e.ActorID
	}
	if e.OrgID != 0 {
		org = e.OrgID
	}
	cut := func(v string, n int) string {
		if len(v) > n {
			return v[:n]
		}
		return v
	}
	_, err := q.Exec(ctx, `INSERT INTO identity_audit (at, actor_id, actor_name, org_id, ip, action, target, detail, result, request_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.At, actor, cut(e.ActorName, 100), org, cut(e.IP, 64), cut(e.Action, 200),
		cut(e.Target, 200), cut(e.Detail, 2000), e.Result, cut(e.RequestID, 64))
	return err
}

// AuditRequest is the web.AuditFunc: it writes one audit entry for every
// finished state-changing request.
func (s *Service) AuditRequest(r *http.Request, rt *web.Route, status int, err error) {
	ctx := r.Context()
	n, _ := ctx.Value(noteKey{}).(*auditNote)
	e := AuditEntry{IP: web.RemoteIP(ctx), Action: rt.Pattern(), RequestID: web.RequestID(ctx), Result: ResultOK}
	p := PrincipalFrom(ctx)
	if n != nil {
		if n.action != "" {
			e.Action = n.action
		}
		e.Target, e.Detail = n.target, n.detail
		if n.actor != nil {
			p = n.actor
		}
	}
	if p != nil {
		e.ActorID, e.ActorName, e.OrgID = p.User.ID, p.User.Username, p.User.OrgID
		if p.Via == "token" {
			e.ActorName += " (token)"
		}
	}
	switch {
	case err != nil && (apperr.CodeOf(err) == apperr.Forbidden || apperr.CodeOf(err) == apperr.Unauthenticated ||
		apperr.CodeOf(err) == apperr.PasswordChange || apperr.CodeOf(err) == apperr.Locked || apperr.CodeOf(err) == apperr.RateLimited):
		e.Result = ResultDenied
	case err != nil || status >= 400:
		e.Result = ResultFailed
	}
	if rt.AuditQuiet && e.Result == ResultOK && (n == nil || n.action == "" && n.target == "") {
		return
	}
	if err != nil && e.Detail == "" {
		e.Detail = string(apperr.CodeOf(err))
	}
	// The request may be cancelled (client gone): the record must still
	// be written.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if werr := s.Record(wctx, nil, e); werr != nil {
		s.log.Error("write audit record", "err", werr, "action", e.Action)
	}
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	Under  []Org // entries of actors in these subtrees (nil = all)
	From   time.Time
	To     time.Time
	Actor  string
	Action string
	Result string
	Limit  int
	Offset int
}

// MaxAuditExport bounds one CSV export.
const MaxAuditExport = 100_000

// Audit lists entries, newest first, and the total count.
func (s *Service) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, int, error) {
	where, args := "1=1", []any{}
	if f.Under != nil {
		if len(f.Under) == 0 {
			return nil, 0, nil
		}
		var ors []string
		for _, o := range f.Under {
			ors = append(ors, "path LIKE ?")
			args = append(args, o.Path+"%")
		}
		where += " AND org_id IN (SELECT id FROM identity_orgs WHERE " + strings.Join(ors, " OR ") + ")"
	}
	if !f.From.IsZero() {
		where += " AND at >= ?"
		args = append(args, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		where += " AND at < ?"
		args = append(args, f.To.UnixMilli())
	}
	if f.Actor != "" {
		where += " AND actor_name LIKE ? ESCAPE '\\'"
		args = append(args, escapeLike(f.Actor)+"%")
	}
	if f.Action != "" {
		where += " AND action LIKE ? ESCAPE '\\'"
		args = append(args, "%"+escapeLike(f.Action)+"%")
	}
	if f.Result != "" {
		where += " AND result = ?"
		args = append(args, f.Result)
	}
	var total int
	if err := s.db.QueryRow(ctx, "SELECT COUNT(*) FROM identity_audit WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if f.Limit > MaxAuditExport {
		f.Limit = MaxAuditExport
	}
	rows, err := s.db.Query(ctx, `SELECT id, at, COALESCE(actor_id, 0), actor_name, COALESCE(org_id, 0), ip, action, target, detail, result, request_id
		FROM identity_audit WHERE `+where+` ORDER BY at DESC, id DESC LIMIT ? OFFSET ?`, append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, &e.At, &e.ActorID, &e.ActorName, &e.OrgID, &e.IP, &e.Action, &e.Target, &e.Detail, &e.Result, &e.RequestID); err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	return out, total, rows.Err()
}

// PruneAudit deletes audit entries older than the retention period (never
// less than 180 days; the database refuses younger deletions too).
func (s *Service) PruneAudit(ctx context.Context) (int64, error) {
	days := max(s.set.AuditRetentionDays, 180)
	cutoff := s.now().Add(-time.Duration(days) * 24 * time.Hour).UnixMilli()
	res, err := s.db.Exec(ctx, "DELETE FROM identity_audit WHERE at < ?", cutoff)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

var cst = time.FixedZone("CST", 8*3600)

func fmtCST(ms int64) string { return time.UnixMilli(ms).In(cst).Format("2006-01-02 15:04:05") }
