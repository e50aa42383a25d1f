package lrs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
)

// writeLease bounds how long a registered write holds back the
// consistent-through time: a writer that died without removing its
// registration stops counting after it.
const writeLease = 10 * time.Minute

// beginWrite registers a write in progress (committed at once, so every
// process reading the same database sees it) and then takes the stored time
// of its statements, which is therefore never before the registration.
// done removes the registration.
// A restored write (an import) gives floor, the earliest stored time it
// writes, and registers that instead when earlier.
func (s *Service) beginWrite(ctx context.Context, floor time.Time) (done func(), stored time.Time, err error) {
	token, stored, err := s.registerWrite(ctx, floor)
	if err != nil {
		return nil, time.Time{}, err
	}
	return func() { s.unregisterWrite(ctx, token) }, stored, nil
}

// registerWrite is beginWrite returning the registration's token, for a
// writer that removes it in its own transaction (endWriteTx): the
// statements and the end of the registration then become visible at the
// same instant, and no commit is spent on the removal.
func (s *Service) registerWrite(ctx context.Context, floor time.Time) (token string, stored time.Time, err error) {
	token = newUUID()
	reg := s.now()
	at := reg
	if !floor.IsZero() && floor.Before(at) {
		at = floor
	}
	if _, err := s.db.Exec(ctx, "INSERT INTO lrs_inflight (token, stored, expires) VALUES (?, ?, ?)",
		token, at.UnixMilli(), reg.Add(writeLease).UnixMilli()); err != nil {
		return "", time.Time{}, fmt.Errorf("register write: %w", err)
	}
	stored = s.now()
	if stored.Before(reg) {
		stored = reg
	}
	return token, stored, nil
}

// endWriteTx removes the registration in the write's transaction.
func endWriteTx(ctx context.Context, tx *db.Tx, token string) error {
	if _, err := tx.Exec(ctx, "DELETE FROM lrs_inflight WHERE token = ?", token); err != nil {
		return fmt.Errorf("end write registration: %w", err)
	}
	return nil
}

// unregisterWrite removes the registration on its own (the write failed,
// or was not one transaction).
func (s *Service) unregisterWrite(ctx context.Context, token string) {
	if _, err := s.db.Exec(context.WithoutCancel(ctx), "DELETE FROM lrs_inflight WHERE token = ?", token); err != nil {
		s.log.Warn("lrs: remove write registration", "err", err)
	}
}

// ConsistentThrough is the instant up to which every statement stored is
// visible to a query that starts after this call: the current time, or
// just before the stored time of the oldest write still in progress (in
// any process on this database), whichever is earlier.
func (s *Service) ConsistentThrough(ctx context.Context) (time.Time, error) {
	// The time is read before the registrations: a write not registered
	// yet takes its stored time after registering, so after this instant.
	now := s.now().Truncate(time.Millisecond)
	var oldest *int64
	if err := s.db.QueryRow(ctx, "SELECT MIN(stored) FROM lrs_inflight WHERE expires > ?", now.UnixMilli()).Scan(&oldest); err != nil {
		return time.Time{}, fmt.Errorf("writes in progress: %w", err)
	}
	through := now.Add(-time.Millisecond)
	if oldest != nil && *oldest-1 < through.UnixMilli() {
		through = time.UnixMilli(*oldest - 1)
	}
	return through.UTC(), nil
}

// PruneInflight removes the registrations of writes whose lease ended (a
// process that stopped in the middle of one).
func (s *Service) PruneInflight(ctx context.Context) (int64, error) {
	res, err := s.db.Exec(ctx, "DELETE FROM lrs_inflight WHERE expires <= ?", s.now().UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// MonthsAhead is how many months after the current one have their
// PostgreSQL partitions made in advance.
const MonthsAhead = 2

// EnsurePartitions makes the monthly partitions (PostgreSQL) of the current
// month and the MonthsAhead after it, if missing, and returns how many
// tables it made; statements that had landed in the default partition for
// one of those months move into it. On SQLite, which keeps one table, it
// does nothing.
func (s *Service) EnsurePartitions(ctx context.Context) (int, error) {
	if s.db.Dialect() != db.Postgres {
		return 0, nil
	}
	now := s.now().UTC()
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	made := 0
	for i := 0; i <= MonthsAhead; i++ {
		n, err := s.ensureMonth(ctx, first.AddDate(0, i, 0))
		if err != nil {
			return made, err
		}
		made += n
	}
	return made, nil
}

func (s *Service) ensureMonth(ctx context.Context, t time.Time) (int, error) {
	var n int
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		return tx.QueryRow(ctx, "SELECT lrs_ensure_month(?)", t.UnixMilli()).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("partitions of %s: %w", t.Format("2006-01"), err)
	}
	return n, nil
}

// byID is the FROM clause and condition finding statement s by id: on
// PostgreSQL through lrs_statement_ids (one partition's primary key), on
// SQLite the table's own key.
func (s *Service) byID() (from, cond string) {
	if s.db.Dialect() == db.Postgres {
		return "lrs_statement_ids i JOIN lrs_statements s ON s.stored = i.stored AND s.id = i.id", "i.id"
	}
	return "lrs_statements s", "s.id"
}

func bodies(ctx context.Context, s *Service, q db.Querier, ids []string) (map[string]obj, error) {
	from, idc := s.byID()
	return loadJSON(ctx, q, "SELECT s.id, s.body FROM "+from+" WHERE "+idc, ids, "stored statement")
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// pendingRows are the rows of statements about to be written, sent as
// multi-row inserts.
type pendingRows struct {
	ids        []any // lrs_statement_ids (PostgreSQL)
	statements []any
	agents     []any
	activities []any
	events     []StoredEvent
	defs       []obj // activities with a definition, in statement order
	persons    []obj
	memo       *memoUpdates // what the batch adds to the memo when it commits (kept across flushes)
}

func (p *pendingRows) empty() bool { return len(p.statements) == 0 }

// testHookStoreBatch, when set by a test, runs before each batch is written.
var testHookStoreBatch func(*batch)

// storeBatch writes one batch in tx: all of it or, returning an error,
// nothing the caller should keep.
func (s *Service) storeBatch(ctx context.Context, tx *db.Tx, b *batch, now time.Time) error {
	if testHookStoreBatch != nil {
		testHookStoreBatch(b)
	}
	stmts, ids, noStamp, w, atts := b.stmts, b.ids, b.noStamp, b.w, b.atts
	existing, err := bodies(ctx, s, tx, ids)
	if err != nil {
		return err
	}
	p := pendingRows{memo: &b.memo}
	for i, st := range stmts {
		id := st["id"].(string)
		if old, ok := existing[id]; ok {
			cmp := st
			if noStamp[id] {
				// The client sent no timestamp: the stored one is ours.
				cmp = deepCopy(st).(obj)
				cmp["timestamp"] = old["timestamp"]
			}
			if !SameStatement(old, cmp) {
				return ErrConflict
			}
			continue
		}
		ix := indexStatement(st)
		voids := ""
		if ix.verb == VerbVoided {
			// The target may be earlier in this batch: write what is
			// pending first, then look.
			if err := s.flush(ctx, tx, &p, now); err != nil {
				return err
			}
			if voids, err = s.void(ctx, tx, ix.objectRef); err != nil {
				return err
			}
		}
		if err := s.add(&p, w, st, b.body[i], ix, voids, now); err != nil {
			return err
		}
	}
	if err := s.flush(ctx, tx, &p, now); err != nil {
		return err
	}
	for sha, a := range atts {
		if _, err := tx.Exec(ctx, `INSERT INTO lrs_attachments (sha2, content_type, size, data, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (sha2) DO NOTHING`, sha, a.ContentType, len(a.Data), a.Data, now.UnixMilli()); err != nil {
			return fmt.Errorf("store attachment: %w", err)
		}
	}
	return nil
}

// void marks the statement target voided and returns its id; a target not
// stored (yet) is left alone and "" returned.
func (s *Service) void(ctx context.Context, tx *db.Tx, target string) (string, error) {
	from, idc := s.byID()
	var tverb string
	var stored int64
	err := tx.QueryRow(ctx, "SELECT s.verb, s.stored FROM "+from+" WHERE "+idc+" = ?", target).Scan(&tverb, &stored)
	switch {
	case err == nil && tverb == VerbVoided:
		return "", invalidf("a voiding statement cannot be voided")
	case err == nil:
		if _, err := tx.Exec(ctx, "UPDATE lrs_statements SET voided = TRUE WHERE stored = ? AND id = ?", stored, target); err != nil {
			return "", err
		}
		return target, nil
	case errors.Is(err, sqlNoRows):
		return "", nil
	}
	return "", err
}

// add queues the rows of one statement.
func (s *Service) add(p *pendingRows, w Writer, st obj, body string, ix statementIndex, voids string, now time.Time) error {
	id := st["id"].(string)
	stored := now.UnixMilli()
	if t, ok := restoredTime(st); ok && w.Restore {
		stored = t.UnixMilli()
	}
	ts := stored
	if t, ok := st["timestamp"].(string); ok {
		if tt, err := ParseTimestamp(t, false); err == nil {
			ts = tt.UnixMilli()
		}
	}
	p.ids = append(p.ids, id, stored)
	p.statements = append(p.statements, id, stored, ts, ix.actor, ix.verb, ix.activity, ix.objectRef, ix.registration,
		w.ClientID, w.OrgPath, w.UserID, body)
	for k, direct := range ix.agents {
		p.agents = append(p.agents, k, stored, id, direct)
	}
	for a, direct := range ix.activities {
		p.activities = append(p.activities, a, stored, id, direct)
	}
	p.defs = append(p.defs, ix.definitions...)
	p.persons = append(p.persons, ix.persons...)
	p.events = append(p.events, StoredEvent{ID: id, Stored: stored, Timestamp: ts,
		Actor: ix.actor, UserID: w.UserID, Verb: ix.verb, Activity: ix.activity, Registration: ix.registration,
		OrgPath: w.OrgPath, ClientID: w.ClientID, Voids: voids})
	return nil
}

// insertRows writes rows of width columns as multi-row INSERTs of at most
// 500 rows each.
func insertRows(ctx context.Context, tx *db.Tx, head string, width int, vals []any) error {
	return upsertRows(ctx, tx, head, width, vals, "")
}

// flush writes the pending rows.
func (s *Service) flush(ctx context.Context, tx *db.Tx, p *pendingRows, now time.Time) error {
	if p.empty() {
		return nil
	}
	if s.db.Dialect() == db.Postgres {
		// The id's uniqueness across months: a concurrent writer of the
		// same id fails here, and Store retries seeing it.
		if err := insertRows(ctx, tx, "INSERT INTO lrs_statement_ids (id, stored)", 2, p.ids); err != nil {
			return fmt.Errorf("insert statement: %w", err)
		}
	}
	if err := insertRows(ctx, tx, `INSERT INTO lrs_statements (id, stored, ts, actor, verb, activity, object_ref, registration,
		client_id, org_path, user_id, body)`, 12, p.statements); err != nil {
		return fmt.Errorf("insert statement: %w", err)
	}
	if err := insertRows(ctx, tx, "INSERT INTO lrs_statement_agents (agent, stored, statement_id, direct)", 4, p.agents); err != nil {
		return fmt.Errorf("insert statement agents: %w", err)
	}
	if err := insertRows(ctx, tx, "INSERT INTO lrs_statement_activities (activity, stored, statement_id, direct)", 4, p.activities); err != nil {
		return fmt.Errorf("insert statement activities: %w", err)
	}
	if err := s.mergeActivities(ctx, tx, p.defs, now, p.memo); err != nil {
		return err
	}
	if err := s.mergePersons(ctx, tx, p.persons, now, p.memo); err != nil {
		return err
	}
	if s.bus != nil {
		if err := events.PublishManyTx(ctx, tx, s.bus, TopicStored, p.events); err != nil {
			return err
		}
	}
	*p = pendingRows{memo: p.memo}
	return nil
}

// loadJSON reads key → JSON object for the given keys, 200 a query; query
// selects the key and the JSON and ends with the key column, before " IN
// (...)". A value that is not a JSON object is an error naming what it is
// ("stored statement"), or skipped when what is "".
func loadJSON(ctx context.Context, q db.Querier, query string, keys []string, what string) (map[string]obj, error) {
	out := map[string]obj{}
	for start := 0; start < len(keys); start += 200 {
		chunk := keys[start:min(start+200, len(keys))]
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		rows, err := q.Query(ctx, query+" IN ("+placeholders(len(chunk))+")", args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k, js string
			if err := rows.Scan(&k, &js); err != nil {
				rows.Close()
				return nil, err
			}
			v, err := decodeJSON([]byte(js))
			o, ok := v.(obj)
			switch {
			case err == nil && ok:
				out[k] = o
			case what != "":
				rows.Close()
				if err == nil {
					err = errors.New("not a JSON object")
				}
				return nil, fmt.Errorf("%s %s: %w", what, k, err)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// mergeActivities merges the definitions the statements carry into the
// activities known, in statement order, writing only those that change.
func (s *Service) mergeActivities(ctx context.Context, tx *db.Tx, defs []obj, now time.Time, upd *memoUpdates) error {
	if len(defs) == 0 {
		return nil
	}
	var keys []string
	seen := map[string]bool{}
	last := map[string]string{} // id → its last definition in the batch, as JSON
	var todo []obj
	for _, a := range defs {
		id, _ := a["id"].(string)
		def, ok := a["definition"].(obj)
		if !ok {
			continue
		}
		var js []byte
		if s.memo.actsOn {
			js, _ = json.Marshal(def)
			if !seen[id] && s.memo.actUnchanged(id, string(js)) {
				continue
			}
			last[id] = string(js)
		}
		todo = append(todo, a)
		if !seen[id] {
			seen[id] = true
			keys = append(keys, id)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	known, err := loadJSON(ctx, tx, "SELECT id, definition FROM lrs_activities WHERE id", keys, "")
	if err != nil {
		return err
	}
	changed := map[string]bool{}
	for _, a := range todo {
		id, _ := a["id"].(string)
		def := a["definition"].(obj)
		old, had := known[id]
		merged := def
		if had {
			merged = mergeDefinition(old, def)
			if normalizeEq(old, merged) {
				continue
			}
		}
		known[id] = merged
		changed[id] = true
	}
	// Merging the last definition of each into what is now stored changes
	// nothing more.
	for id, js := range last {
		if changed[id] {
			s.memo.forgetAct(id)
		}
		if upd.acts == nil {
			upd.acts = map[string]string{}
		}
		upd.acts[id] = js
	}
	// Rows are written in key order, so concurrent batches naming the same
	// new activities lock them in the same order (no deadlock).
	sort.Strings(keys)
	var vals []any
	for _, id := range keys {
		if changed[id] {
			b, _ := json.Marshal(known[id])
			vals = append(vals, id, string(b), now.UnixMilli())
		}
	}
	return upsertRows(ctx, tx, "INSERT INTO lrs_activities (id, definition, updated)", 3, vals, upsertSuffix("id", "definition", "updated"))
}

// upsertSuffix is the ON CONFLICT clause updating cols when key exists.
func upsertSuffix(key string, cols ...string) string {
	sets := make([]string, len(cols))
	for i, c := range cols {
		sets[i] = c + " = excluded." + c
	}
	return " ON CONFLICT (" + key + ") DO UPDATE SET " + strings.Join(sets, ", ")
}

// mergePersons adds the names and identifiers of agents to their Person
// objects, writing only those that change.
func (s *Service) mergePersons(ctx context.Context, tx *db.Tx, all []obj, now time.Time, upd *memoUpdates) error {
	var keys, facts []string
	var agents []obj
	seen := map[string]bool{}
	seenFact := map[string]bool{}
	for _, a := range all {
		k := AgentKey(a)
		if k == "" {
			continue
		}
		f := personFact(k, a)
		if seenFact[f] || s.memo.hasPerson(f) {
			continue
		}
		seenFact[f] = true
		facts = append(facts, f)
		agents = append(agents, a)
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	if len(agents) == 0 {
		return nil
	}
	upd.persons = append(upd.persons, facts...)
	known, err := loadJSON(ctx, tx, "SELECT agent, person FROM lrs_agents WHERE agent", keys, "")
	if err != nil {
		return err
	}
	changed := map[string]bool{}
	for _, a := range agents {
		key := AgentKey(a)
		if key == "" {
			continue
		}
		person, had := known[key]
		if !had {
			person = obj{"objectType": "Person"}
			known[key] = person
			changed[key] = true
		}
		add := func(k string, v any) {
			if v == nil {
				return
			}
			list, _ := person[k].([]any)
			for _, x := range list {
				if normalizeEq(x, v) {
					return
				}
			}
			person[k] = append(list, v)
			changed[key] = true
		}
		add("name", a["name"])
		add("mbox", a["mbox"])
		add("mbox_sha1sum", a["mbox_sha1sum"])
		add("openid", a["openid"])
		add("account", a["account"])
	}
	sort.Strings(keys) // the same lock order in every transaction
	var vals []any
	for _, k := range keys {
		if changed[k] {
			b, _ := json.Marshal(known[k])
			vals = append(vals, k, string(b), now.UnixMilli())
		}
	}
	return upsertRows(ctx, tx, "INSERT INTO lrs_agents (agent, person, updated)", 3, vals, upsertSuffix("agent", "person", "updated"))
}

// upsertRows is insertRows with an ON CONFLICT clause.
func upsertRows(ctx context.Context, tx *db.Tx, head string, width int, vals []any, suffix string) error {
	row := "(" + placeholders(width) + ")"
	for start := 0; start < len(vals); start += 500 * width {
		end := min(start+500*width, len(vals))
		n := (end - start) / width
		q := head + " VALUES " + strings.TrimSuffix(strings.Repeat(row+",", n), ",") + suffix
		if _, err := tx.Exec(ctx, q, vals[start:end]...); err != nil {
			return err
		}
	}
	return nil
}

func normalizeEq(a, b any) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}
