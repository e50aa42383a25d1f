package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"jnedu/internal/platform/db"
)

const orgCols = "id, COALESCE(parent_id, 0), kind, code, name, name_en, path, created_at, updated_at"

// orgColsAs is orgCols for a table alias p ("o.").
func orgColsAs(p string) string {
	return p + "id, COALESCE(" + p + "parent_id, 0), " + p + "kind, " + p + "code, " + p + "name, " + p + "name_en, " +
		p + "path, " + p + "created_at, " + p + "updated_at"
}

func scanOrg(row interface{ Scan(...any) error }) (Org, error) {
	var o Org
	err := row.Scan(&o.ID, &o.ParentID, &o.Kind, &o.Code, &o.Name, &o.NameEN, &o.Path, &o.CreatedAt, &o.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return o, db.ErrNotFound
	}
	return o, err
}

func getOrg(ctx context.Context, q db.Querier, id int64) (Org, error) {
	o, err := scanOrg(q.QueryRow(ctx, "SELECT "+orgCols+" FROM identity_orgs WHERE id = ?", id))
	if err != nil {
		return o, fmt.Errorf("org %d: %w", id, err)
	}
	return o, nil
}

func getOrgByCode(ctx context.Context, q db.Querier, code string) (Org, error) {
	o, err := scanOrg(q.QueryRow(ctx, "SELECT "+orgCols+" FROM identity_orgs WHERE code = ?", code))
	if err != nil {
		return o, fmt.Errorf("org %q: %w", code, err)
	}
	return o, nil
}

// insertOrg adds an organisation and sets its materialised path.
func insertOrg(ctx context.Context, q db.Querier, o *Org, now int64) error {
	var parent any
	parentPath := "/"
	if o.ParentID != 0 {
		p, err := getOrg(ctx, q, o.ParentID)
		if err != nil {
			return err
		}
		parent = o.ParentID
		parentPath = p.Path
	}
	id, err := db.InsertID(ctx, q, `INSERT INTO identity_orgs (parent_id, kind, code, name, name_en, path, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, '', ?, ?)`, parent, o.Kind, o.Code, o.Name, o.NameEN, now, now)
	if err != nil {
		return err
	}
	o.ID = id
	o.Path = parentPath + strconv.FormatInt(id, 10) + "/"
	o.CreatedAt, o.UpdatedAt = now, now
	_, err = q.Exec(ctx, "UPDATE identity_orgs SET path = ? WHERE id = ?", o.Path, id)
	return err
}

func updateOrg(ctx context.Context, q db.Querier, o Org, now int64) error {
	_, err := q.Exec(ctx, "UPDATE identity_orgs SET name = ?, name_en = ?, code = ?, updated_at = ? WHERE id = ?",
		o.Name, o.NameEN, o.Code, now, o.ID)
	return err
}

// OrgFilter selects organisations.
type OrgFilter struct {
	Under  []Org     // only these subtrees (nil = all)
	Kinds  []OrgKind // only these kinds
	Search string    // in name or code
	Limit  int
}

func listOrgs(ctx context.Context, q db.Querier, f OrgFilter) ([]Org, error) {
	where, args := "1=1", []any{}
	if f.Under != nil {
		if len(f.Under) == 0 {
			return nil, nil
		}
		where += " AND ("
		for i, u := range f.Under {
			if i > 0 {
				where += " OR "
			}
			where += "path LIKE ?"
			args = append(args, u.Path+"%")
		}
		where += ")"
	}
	if len(f.Kinds) > 0 {
		where += " AND kind IN (" + placeholders(len(f.Kinds)) + ")"
		for _, k := range f.Kinds {
			args = append(args, k)
		}
	}
	if f.Search != "" {
		where += " AND (name LIKE ? ESCAPE '\\' OR code LIKE ? ESCAPE '\\' OR name_en LIKE ? ESCAPE '\\')"
		s := "%" + escapeLike(f.Search) + "%"
		args = append(args, s, s, s)
	}
	if f.Limit <= 0 || f.Limit > 5000 {
		f.Limit = 5000
	}
	rows, err := q.Query(ctx, "SELECT "+orgCols+" FROM identity_orgs WHERE "+where+" ORDER BY path LIMIT ?", append(args, f.Limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Org
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

func placeholders(n int) string {
	s := make([]byte, 0, 2*n)
	for i := 0; i < n; i++ {
		if i > 0 {
			s = append(s, ',')
		}
		s = append(s, '?')
	}
	return string(s)
}

// escapeLike escapes LIKE wildcards typed by people, for use with
// "LIKE ? ESCAPE '\\'" (the same clause on both engines).
func escapeLike(s string) string {
	return likeEscaper.Replace(s)
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
