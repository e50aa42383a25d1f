package lrs

import (
	"context"
	"fmt"
)

// FeedRow is a stored statement with where it belongs: what a consumer
// that rebuilds its own figures from the store (the indicators) needs
// beyond the statement itself.
type FeedRow struct {
	ID      string
	Stored  int64
	OrgPath string
	UserID  int64
	Body    map[string]any
}

// Feed pages through the statements that are not voided in stored order:
// those stored in (since, until] (until 0: no bound) and after the cursor
// (nil: from the start), at most limit (bounded by the page size).
func (s *Service) Feed(ctx context.Context, after *Cursor, since, until int64, limit int) ([]FeedRow, error) {
	if limit <= 0 || limit > s.lim.MaxQueryLimit {
		limit = s.lim.MaxQueryLimit
	}
	q := "SELECT id, stored, org_path, user_id, body FROM lrs_statements WHERE voided = FALSE AND stored > ?"
	args := []any{since}
	if until > 0 {
		q += " AND stored <= ?"
		args = append(args, until)
	}
	if after != nil {
		q += " AND (stored > ? OR (stored = ? AND id > ?))"
		args = append(args, after.Stored, after.Stored, after.ID)
	}
	q += fmt.Sprintf(" ORDER BY stored, id LIMIT %d", limit)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("statement feed: %w", err)
	}
	defer rows.Close()
	var out []FeedRow
	for rows.Next() {
		var r FeedRow
		var body string
		if err := rows.Scan(&r.ID, &r.Stored, &r.OrgPath, &r.UserID, &body); err != nil {
			return nil, err
		}
		v, err := decodeJSON([]byte(body))
		if err != nil {
			return nil, fmt.Errorf("stored statement %s: %w", r.ID, err)
		}
		r.Body = v.(obj)
		out = append(out, r)
	}
	return out, rows.Err()
}
