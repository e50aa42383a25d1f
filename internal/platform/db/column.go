package db

import "context"

// Column runs a query that selects one column and returns its values in
// row order: ids, codes, hashes. It closes the rows before it returns, so
// the next statement of a SQLite transaction can run, and reports a scan
// or iteration error instead of a partial list. No rows give a nil slice.
//
//	ids, err := db.Column[int64](ctx, q, "SELECT id FROM t WHERE exam = ? ORDER BY id", exam)
func Column[T any](ctx context.Context, q Querier, query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
