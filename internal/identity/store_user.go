package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"jnedu/internal/platform/db"
)

const userCols = `id, org_id, username, display_name, email, phone, password_hash, must_change_password, demo,
	locale, disabled, failed_logins, locked_until, password_changed_at, last_login_at, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.OrgID, &u.Username, &u.DisplayName, &u.Email, &u.Phone, &u.passwordHash,
		&u.MustChangePassword, &u.Demo, &u.Locale, &u.Disabled, &u.FailedLogins, &u.LockedUntil,
		&u.PasswordChangedAt, &u.LastLoginAt, &u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return u, db.ErrNotFound
	}
	return u, err
}

func getUser(ctx context.Context, q db.Querier, id int64) (User, error) {
	u, err := scanUser(q.QueryRow(ctx, "SELECT "+userCols+" FROM identity_users WHERE id = ?", id))
	if err != nil {
		return u, fmt.Errorf("user %d: %w", id, err)
	}
	return u, nil
}

func getUserByName(ctx context.Context, q db.Querier, username string) (User, error) {
	u, err := scanUser(q.QueryRow(ctx, "SELECT "+userCols+" FROM identity_users WHERE username = ?", strings.ToLower(username)))
	if err != nil {
		return u, fmt.Errorf("user %q: %w", username, err)
	}
	return u, nil
}

func insertUser(ctx context.Context, q db.Querier, u *User, now int64) error {
	id, err := db.InsertID(ctx, q, `INSERT INTO identity_users (org_id, username, display_name, email, phone, password_hash,
		must_change_password, demo, locale, disabled, password_changed_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.OrgID, u.Username, u.DisplayName, u.Email, u.Phone, u.passwordHash, u.MustChangePassword, u.Demo,
		u.Locale, u.Disabled, now, now, now)
	if err != nil {
		return err
	}
	u.ID, u.CreatedAt, u.UpdatedAt, u.PasswordChangedAt = id, now, now, now
	return nil
}

func updateUserProfile(ctx context.Context, q db.Querier, u User, now int64) error {
	_, err := q.Exec(ctx, `UPDATE identity_users SET org_id = ?, display_name = ?, email = ?, phone = ?, locale = ?,
		disabled = ?, updated_at = ? WHERE id = ?`, u.OrgID, u.DisplayName, u.Email, u.Phone, u.Locale, u.Disabled, now, u.ID)
	return err
}

func setPassword(ctx context.Context, q db.Querier, id int64, hash string, mustChange bool, now int64) error {
	_, err := q.Exec(ctx, `UPDATE identity_users SET password_hash = ?, must_change_password = ?, demo = FALSE,
		password_changed_at = ?, failed_logins = 0, locked_until = 0, updated_at = ? WHERE id = ?`, hash, mustChange, now, now, id)
	return err
}

func grantsOf(ctx context.Context, q db.Querier, userIDs ...int64) (map[int64][]Grant, error) {
	out := map[int64][]Grant{}
	if len(userIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(userIDs))
	for i, id := range userIDs {
		args[i] = id
	}
	rows, err := q.Query(ctx, `SELECT g.id, g.user_id, g.role, g.org_id, o.name, o.path FROM identity_grants g
		JOIN identity_orgs o ON o.id = g.org_id WHERE g.user_id IN (`+placeholders(len(userIDs))+`) ORDER BY g.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var g Grant
		var uid int64
		if err := rows.Scan(&g.ID, &uid, &g.Role, &g.OrgID, &g.OrgName, &g.orgPath); err != nil {
			return nil, err
		}
		out[uid] = append(out[uid], g)
	}
	return out, rows.Err()
}

func replaceGrants(ctx context.Context, q db.Querier, userID int64, gs []Grant, now int64) error {
	if _, err := q.Exec(ctx, "DELETE FROM identity_grants WHERE user_id = ?", userID); err != nil {
		return err
	}
	for _, g := range gs {
		if _, err := q.Exec(ctx, "INSERT INTO identity_grants (user_id, role, org_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
			userID, g.Role, g.OrgID, now); err != nil {
			return err
		}
	}
	return nil
}

// UserFilter selects users.
type UserFilter struct {
	Under  []Org  // only users whose organisation lies in these subtrees (nil = all)
	OrgID  int64  // only this organisation (exact)
	Role   Role   // only users holding this role
	Search string // in username, display name, email or phone
	Limit  int
	Offset int
}

func listUsers(ctx context.Context, q db.Querier, f UserFilter) ([]User, int, error) {
	where, args := "1=1", []any{}
	if f.Under != nil {
		if len(f.Under) == 0 {
			return nil, 0, nil
		}
		where += " AND u.org_id IN (SELECT id FROM identity_orgs WHERE "
		for i, o := range f.Under {
			if i > 0 {
				where += " OR "
			}
			where += "path LIKE ?"
			args = append(args, o.Path+"%")
		}
		where += ")"
	}
	if f.OrgID != 0 {
		where += " AND u.org_id = ?"
		args = append(args, f.OrgID)
	}
	if f.Role != "" {
		where += " AND u.id IN (SELECT user_id FROM identity_grants WHERE role = ?)"
		args = append(args, f.Role)
	}
	if f.Search != "" {
		s := "%" + escapeLike(f.Search) + "%"
		where += " AND (u.username LIKE ? ESCAPE '\\' OR u.display_name LIKE ? ESCAPE '\\' OR u.email LIKE ? ESCAPE '\\' OR u.phone LIKE ? ESCAPE '\\')"
		args = append(args, s, s, s, s)
	}
	var total int
	if err := q.QueryRow(ctx, "SELECT COUNT(*) FROM identity_users u WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	rows, err := q.Query(ctx, "SELECT "+prefixCols("u.", userCols)+" FROM identity_users u WHERE "+where+
		" ORDER BY u.id LIMIT ? OFFSET ?", append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []User
	var ids []int64
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, u)
		ids = append(ids, u.ID)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	gs, err := grantsOf(ctx, q, ids...)
	if err != nil {
		return nil, 0, err
	}
	for i := range out {
		out[i].Grants = gs[out[i].ID]
	}
	return out, total, nil
}

func prefixCols(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// Verifier is a user's password verifier, for a node that signs people in
// without reaching this service (an exam site node).
type Verifier struct {
	UserID       int64
	Username     string
	DisplayName  string
	PasswordHash string
}

// RoleVerifiers lists the enabled users holding role on org or on an
// organisation inside its subtree, with their password verifiers.
func (s *Service) RoleVerifiers(ctx context.Context, role Role, orgID int64) ([]Verifier, error) {
	o, err := getOrg(ctx, s.db, orgID)
	if err != nil {
		return nil, notFound(err)
	}
	rows, err := s.db.Query(ctx, `SELECT DISTINCT u.id, u.username, u.display_name, u.password_hash FROM identity_users u
		JOIN identity_grants g ON g.user_id = u.id JOIN identity_orgs o ON o.id = g.org_id
		WHERE g.role = ? AND o.path LIKE ? AND u.disabled = FALSE ORDER BY u.username LIMIT 1000`, role, o.Path+"%")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Verifier
	for rows.Next() {
		var v Verifier
		if err := rows.Scan(&v.UserID, &v.Username, &v.DisplayName, &v.PasswordHash); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
