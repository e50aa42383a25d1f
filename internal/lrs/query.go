package lrs

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Query selects statements. Zero values mean "no filter".
type Query struct {
	Agent             string // AgentKey
	Verb              string
	Activity          string
	Registration      string
	RelatedActivities bool
	RelatedAgents     bool
	Since, Until      int64 // Unix ms; Since exclusive, Until inclusive; 0: none
	HasSince          bool
	HasUntil          bool
	Limit             int
	Ascending         bool
	// OrgPrefix limits the statements to an organisation subtree.
	OrgPrefix string
	// After continues a previous page: statements strictly beyond this
	// (stored, id) in the query's order.
	After *Cursor
}

// Cursor is a position in the (stored, id) order.
type Cursor struct {
	Stored int64  `json:"s"`
	ID     string `json:"i"`
}

// StoredStatement is one statement as stored.
type StoredStatement struct {
	ID     string
	Stored int64
	Body   obj
	Voided bool
}

// matchSQL is the condition that statement alias matches the query's
// agent, verb, activity and registration.
func (s *Service) matchSQL(alias string, q Query) (string, []any) {
	var conds []string
	var args []any
	if q.Agent != "" {
		c := "EXISTS (SELECT 1 FROM lrs_statement_agents ag WHERE ag.agent = ? AND ag.stored = " + alias + ".stored AND ag.statement_id = " + alias + ".id"
		if !q.RelatedAgents {
			c += " AND ag.direct = TRUE"
		}
		conds = append(conds, c+")")
		args = append(args, q.Agent)
	}
	if q.Verb != "" {
		conds = append(conds, alias+".verb = ?")
		args = append(args, q.Verb)
	}
	if q.Activity != "" {
		// The activity index table answers both: the object is its direct
		// row (the statements table keeps no index on its activity column).
		c := "EXISTS (SELECT 1 FROM lrs_statement_activities ac WHERE ac.activity = ? AND ac.stored = " + alias + ".stored AND ac.statement_id = " + alias + ".id"
		if !q.RelatedActivities {
			c += " AND ac.direct = TRUE"
		}
		conds = append(conds, c+")")
		args = append(args, q.Activity)
	}
	if q.Registration != "" {
		// The second term lets both engines use the partial index, which
		// leaves out statements without a registration.
		conds = append(conds, alias+".registration = ?", alias+".registration <> ''")
		args = append(args, strings.ToLower(q.Registration))
	}
	return strings.Join(conds, " AND "), args
}

// driveSQL is the FROM clause of the statements matching the query (as
// alias), driven from the most selective index: the agent or activity
// index table (which keeps the stored time, so it is
// walked in the query's order), or the statements themselves. key is the
// alias whose stored column gives the order, idCol the id column there;
// conds and args are the match.
func (s *Service) driveSQL(q Query, alias string) (from, key, idCol string, conds []string, args []any) {
	rest := q
	d := alias + "d"
	join := " " + d + " JOIN lrs_statements " + alias + " ON " + alias + ".stored = " + d + ".stored AND " + alias + ".id = " + d + ".statement_id"
	switch {
	case q.Agent != "":
		from, key, idCol = "lrs_statement_agents"+join, d, d+".statement_id"
		conds = append(conds, d+".agent = ?")
		args = append(args, q.Agent)
		if !q.RelatedAgents {
			conds = append(conds, d+".direct = TRUE")
		}
		rest.Agent = ""
	case q.Activity != "":
		from, key, idCol = "lrs_statement_activities"+join, d, d+".statement_id"
		conds = append(conds, d+".activity = ?")
		args = append(args, q.Activity)
		if !q.RelatedActivities {
			conds = append(conds, d+".direct = TRUE")
		}
		rest.Activity = ""
	default:
		from, key, idCol = "lrs_statements "+alias, alias, alias+".id"
	}
	if m, margs := s.matchSQL(alias, rest); m != "" {
		conds = append(conds, m)
		args = append(args, margs...)
	}
	return from, key, idCol, conds, args
}

// Statements runs a query; more is true when another page follows. A
// statement matches when it matches the filters itself, or when it refers
// (StatementRef) to a statement that does.
func (s *Service) Statements(ctx context.Context, q Query) (out []StoredStatement, more bool, err error) {
	limit := q.Limit
	if limit <= 0 || limit > s.lim.MaxQueryLimit {
		limit = s.lim.MaxQueryLimit
	}
	order := "DESC"
	cmp := "<"
	if q.Ascending {
		order, cmp = "ASC", ">"
	}
	// common are the conditions on every statement returned (alias s),
	// with the time bounds also on key, the alias walked in order.
	common := func(key, idCol string) ([]string, []any) {
		where := []string{"s.voided = FALSE"}
		var args []any
		if q.OrgPrefix != "" {
			where = append(where, "s.org_path LIKE ?")
			args = append(args, q.OrgPrefix+"%")
		}
		aliases := []string{key}
		if key != "s" {
			// The same bounds on the statements let PostgreSQL skip the
			// months outside them.
			aliases = append(aliases, "s")
		}
		for _, a := range aliases {
			if q.HasSince {
				where = append(where, a+".stored > ?")
				args = append(args, q.Since)
			}
			if q.HasUntil {
				where = append(where, a+".stored <= ?")
				args = append(args, q.Until)
			}
			if q.After != nil {
				where = append(where, a+".stored "+cmp+"= ?")
				args = append(args, q.After.Stored)
			}
		}
		if q.After != nil {
			where = append(where, "("+key+".stored "+cmp+" ? OR "+idCol+" "+cmp+" ?)")
			args = append(args, q.After.Stored, q.After.ID)
		}
		return where, args
	}
	lim := " LIMIT " + strconv.Itoa(limit+1)
	from, key, idCol, conds, margs := s.driveSQL(q, "s")
	where, args := common(key, idCol)
	where = append(where, conds...)
	args = append(args, margs...)
	direct := "SELECT " + key + ".stored AS stored, " + idCol + " AS id FROM " + from + " WHERE " + strings.Join(where, " AND ") +
		" ORDER BY " + key + ".stored " + order + ", " + idCol + " " + order + lim
	keys := "SELECT stored, id FROM (" + direct + ") a"
	if q.Agent != "" || q.Verb != "" || q.Activity != "" || q.Registration != "" {
		// Statements referring to a matching statement.
		tfrom, _, tid, tconds, targs := s.driveSQL(q, "t")
		rwhere, rargs := common("s", "s.id")
		rwhere = append(rwhere, "s.object_ref <> ''", "s.object_ref IN (SELECT "+tid+" FROM "+tfrom+" WHERE "+strings.Join(tconds, " AND ")+")")
		refs := "SELECT s.stored AS stored, s.id AS id FROM lrs_statements s WHERE " + strings.Join(rwhere, " AND ") +
			" ORDER BY s.stored " + order + ", s.id " + order + lim
		keys += " UNION SELECT stored, id FROM (" + refs + ") b"
		args = append(args, rargs...)
		args = append(args, targs...)
	}
	sqlq := "SELECT s.id, s.stored, s.body FROM (SELECT stored, id FROM (" + keys + ") u ORDER BY stored " + order + ", id " + order + lim +
		") k JOIN lrs_statements s ON s.stored = k.stored AND s.id = k.id ORDER BY s.stored " + order + ", s.id " + order
	rows, err := s.db.Query(ctx, sqlq, args...)
	if err != nil {
		return nil, false, fmt.Errorf("query statements: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st StoredStatement
		var body string
		if err := rows.Scan(&st.ID, &st.Stored, &body); err != nil {
			return nil, false, err
		}
		v, err := decodeJSON([]byte(body))
		if err != nil {
			return nil, false, fmt.Errorf("stored statement %s: %w", st.ID, err)
		}
		st.Body = v.(obj)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// Statement returns one statement by id (voided ones too; the caller
// decides). orgPrefix limits it to a subtree.
func (s *Service) Statement(ctx context.Context, id, orgPrefix string) (StoredStatement, error) {
	var st StoredStatement
	var body string
	from, idc := s.byID()
	err := s.db.QueryRow(ctx, "SELECT s.id, s.stored, s.voided, s.body FROM "+from+" WHERE "+idc+" = ? AND s.org_path LIKE ?",
		strings.ToLower(id), orgPrefix+"%").Scan(&st.ID, &st.Stored, &st.Voided, &body)
	if errors.Is(err, sqlNoRows) {
		return st, notFound()
	}
	if err != nil {
		return st, err
	}
	v, err := decodeJSON([]byte(body))
	if err != nil {
		return st, err
	}
	st.Body = v.(obj)
	return st, nil
}

// Attachments returns the stored content of the given hashes (those known).
func (s *Service) Attachments(ctx context.Context, shas []string) ([]Attachment, error) {
	var out []Attachment
	for _, sha := range shas {
		var a Attachment
		err := s.db.QueryRow(ctx, "SELECT sha2, content_type, data FROM lrs_attachments WHERE sha2 = ?", sha).Scan(&a.SHA2, &a.ContentType, &a.Data)
		if errors.Is(err, sqlNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Activity returns the activity with its definition merged from the
// statements of the subtree orgPrefix (none seen there: just the id).
func (s *Service) Activity(ctx context.Context, id, orgPrefix string) (obj, error) {
	a := obj{"objectType": "Activity", "id": id}
	var def string
	err := s.db.QueryRow(ctx, `SELECT definition FROM lrs_activities WHERE id = ? AND EXISTS (SELECT 1 FROM lrs_statement_activities sa
		JOIN lrs_statements st ON st.stored = sa.stored AND st.id = sa.statement_id WHERE sa.activity = ? AND st.org_path LIKE ?)`, id, id, orgPrefix+"%").Scan(&def)
	if errors.Is(err, sqlNoRows) {
		return a, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := decodeJSON([]byte(def))
	if err != nil {
		return nil, err
	}
	a["definition"] = v
	return a, nil
}

// Person returns the Person object of an agent: what the statements of the
// subtree orgPrefix say of it (nothing seen there: what the caller gave).
func (s *Service) Person(ctx context.Context, agent obj, orgPrefix string) (obj, error) {
	var p string
	key := AgentKey(agent)
	err := s.db.QueryRow(ctx, `SELECT person FROM lrs_agents WHERE agent = ? AND EXISTS (SELECT 1 FROM lrs_statement_agents sa
		JOIN lrs_statements st ON st.stored = sa.stored AND st.id = sa.statement_id WHERE sa.agent = ? AND st.org_path LIKE ?)`, key, key, orgPrefix+"%").Scan(&p)
	if errors.Is(err, sqlNoRows) {
		person := obj{"objectType": "Person"}
		for _, k := range []string{"name", "mbox", "mbox_sha1sum", "openid", "account"} {
			if v, ok := agent[k]; ok {
				person[k] = []any{v}
			}
		}
		return person, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := decodeJSON([]byte(p))
	if err != nil {
		return nil, err
	}
	return v.(obj), nil
}

// signCursor makes the opaque token of a more link; it binds the position
// to the query's parameters.
func (s *Service) signCursor(c Cursor, params string) string {
	b, _ := json.Marshal(c)
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + s.mac(p+"|"+params)
}

func (s *Service) openCursor(tok, params string) (Cursor, error) {
	var c Cursor
	p, sig, ok := strings.Cut(tok, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.mac(p+"|"+params))) {
		return c, invalidf("the more link is not valid")
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(b, &c) != nil {
		return c, invalidf("the more link is not valid")
	}
	return c, nil
}

func (s *Service) mac(msg string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}
