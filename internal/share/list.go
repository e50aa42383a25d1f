package share

import (
	"context"
	"strings"
	"unicode/utf8"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
)

// Query selects videos for a list or a search.
type Query struct {
	Text    string // search words (Chinese or not)
	Subject string
	Grade   string
	OrgID   int64  // a school's channel
	OwnerID int64  // one person's videos
	Sort    string // "new" (default) or "views"
	Limit   int
	Offset  int
	// Mine lists the caller's own videos whatever their state.
	Mine bool
}

// MaxPage bounds one page of results.
const MaxPage = 100

// visibleWhere is the SQL form of CanView for lists (link-only videos are
// reached through their link, not listed to others).
func visibleWhere(p *identity.Principal) (string, []any) {
	var ors []string
	var args []any
	ors = append(ors, "v.owner_id = ?")
	args = append(args, p.User.ID)
	for _, o := range p.Scope(PermManage) {
		ors = append(ors, "v.org_path LIKE ?")
		args = append(args, o.Path+"%")
	}
	if p.Can(PermView) {
		var shared []string
		shared = append(shared, "v.visibility = 'all'")
		for _, o := range p.Scope(PermView) {
			shared = append(shared, "(v.visibility IN ('school', 'orgs') AND v.org_path LIKE ?)")
			args = append(args, o.Path+"%")
		}
		if mine := ancestors(p.Org.Path); len(mine) > 0 {
			ph := strings.TrimSuffix(strings.Repeat("?,", len(mine)), ",")
			shared = append(shared, "(v.visibility IN ('school', 'orgs') AND v.org_id IN ("+ph+"))")
			for _, id := range mine {
				args = append(args, id)
			}
			shared = append(shared, "(v.visibility = 'orgs' AND EXISTS (SELECT 1 FROM share_video_orgs so WHERE so.video_id = v.id AND so.org_id IN ("+ph+")))")
			for _, id := range mine {
				args = append(args, id)
			}
		}
		ors = append(ors, "(v.taken_down_at = 0 AND ("+strings.Join(shared, " OR ")+"))")
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

// List returns the videos p may see that match q, and their total count.
func (s *Service) List(ctx context.Context, p *identity.Principal, q Query) ([]Video, int, error) {
	where, args := visibleWhere(p)
	if q.Mine {
		where, args = "v.owner_id = ?", []any{p.User.ID}
	} else {
		where += " AND m.playable"
	}
	if utf8.RuneCountInString(q.Text) > 100 {
		return nil, 0, apperr.Field("q", "share.err_query_long")
	}
	if text := strings.TrimSpace(q.Text); text != "" {
		terms := Terms(text)
		if len(terms) > MaxQueryTerms {
			terms = terms[:MaxQueryTerms]
		}
		for _, t := range terms {
			if utf8.RuneCountInString(t) == 1 && t[0] >= 0x80 {
				// A single Chinese character is not a bigram: match text.
				where += " AND (v.title LIKE ? OR v.description LIKE ? OR v.tags LIKE ?)"
				like := "%" + t + "%"
				args = append(args, like, like, like)
				continue
			}
			where += " AND EXISTS (SELECT 1 FROM share_terms st WHERE st.video_id = v.id AND st.term = ?)"
			args = append(args, t)
		}
	}
	if q.Subject != "" {
		where += " AND v.subject = ?"
		args = append(args, q.Subject)
	}
	if q.Grade != "" {
		where += " AND v.grade = ?"
		args = append(args, q.Grade)
	}
	if q.OrgID != 0 {
		where += " AND v.org_id = ?"
		args = append(args, q.OrgID)
	}
	if q.OwnerID != 0 {
		where += " AND v.owner_id = ?"
		args = append(args, q.OwnerID)
	}
	from := " FROM share_videos v JOIN share_media m ON m.sha256 = v.media_sha256 WHERE " + where
	var total int
	if err := s.db.QueryRow(ctx, "SELECT COUNT(*)"+from, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	order := " ORDER BY v.created_at DESC, v.id DESC"
	if q.Sort == "views" {
		order = " ORDER BY v.views DESC, v.id DESC"
	}
	if q.Limit <= 0 || q.Limit > MaxPage {
		q.Limit = 24
	}
	rows, err := s.db.Query(ctx, "SELECT "+videoCols+from+order+" LIMIT ? OFFSET ?", append(args, q.Limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Video
	for rows.Next() {
		v, err := scanVideo(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	return out, total, rows.Err()
}
