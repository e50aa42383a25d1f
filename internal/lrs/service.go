// Package lrs is the learning-record store: an xAPI 1.0.3 and 2.0 LRS
// (statements, attachments, signed statements, documents, agents,
// activities, about), the credentials outside tools use with it, and the
// entry point for records the platform makes itself.
package lrs

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
)

// StoredEvent is published (through the outbox) for every statement the
// store keeps, so indicators can be computed incrementally from the stream
// instead of by scanning the records.
type StoredEvent struct {
	ID           string `json:"id"`
	Stored       int64  `json:"stored"`    // Unix ms
	Timestamp    int64  `json:"timestamp"` // Unix ms
	Actor        string `json:"actor"`     // the actor's identifier key (AgentKey)
	UserID       int64  `json:"user_id,omitempty"`
	Verb         string `json:"verb"`
	Activity     string `json:"activity,omitempty"`
	Registration string `json:"registration,omitempty"`
	OrgPath      string `json:"org_path"`
	ClientID     int64  `json:"client_id,omitempty"`
	Voids        string `json:"voids,omitempty"` // the statement this one voids
}

// TopicStored carries StoredEvent.
var TopicStored = events.NewTopic[StoredEvent]("lrs.statement.stored")

// Limits bound what one request may ask of the store.
type Limits struct {
	MaxBody        int64 // statement and document request bodies, attachments included
	MaxStatements  int   // statements in one POST
	MaxAttachment  int64 // one attachment
	MaxDocument    int64 // one document
	MaxQueryLimit  int   // statements in one page (also the default)
	MaxQueryString int   // bytes of the query string
}

// DefaultLimits are the limits when the configuration sets none.
func DefaultLimits() Limits {
	return Limits{MaxBody: 64 << 20, MaxStatements: 1000, MaxAttachment: 32 << 20, MaxDocument: 4 << 20,
		MaxQueryLimit: 500, MaxQueryString: 8 << 10}
}

// Service is the store.
type Service struct {
	db      *db.DB
	bus     *events.Bus
	log     *slog.Logger
	now     func() time.Time
	baseURL string
	secret  []byte // signs more-cursors
	lim     Limits
}

// NewService makes the store. secret signs the pagination cursors (so
// `more` links stay valid across restarts); baseURL is the platform's
// address, the home page of the accounts it names.
func NewService(d *db.DB, bus *events.Bus, log *slog.Logger, now func() time.Time, baseURL string, secret []byte, lim Limits) *Service {
	if now == nil {
		now = time.Now
	}
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret) //nolint:errcheck // never fails
	}
	def := DefaultLimits()
	if lim.MaxBody <= 0 {
		lim.MaxBody = def.MaxBody
	}
	if lim.MaxStatements <= 0 {
		lim.MaxStatements = def.MaxStatements
	}
	if lim.MaxAttachment <= 0 {
		lim.MaxAttachment = def.MaxAttachment
	}
	if lim.MaxDocument <= 0 {
		lim.MaxDocument = def.MaxDocument
	}
	if lim.MaxQueryLimit <= 0 {
		lim.MaxQueryLimit = def.MaxQueryLimit
	}
	if lim.MaxQueryString <= 0 {
		lim.MaxQueryString = def.MaxQueryString
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: d, bus: bus, log: log, now: now, baseURL: strings.TrimRight(baseURL, "/"), secret: secret, lim: lim}
}

// Limits returns the limits in force.
func (s *Service) Limits() Limits { return s.lim }

// BaseURL is the platform's address.
func (s *Service) BaseURL() string { return s.baseURL }

// Writer is who stores statements: an outside client or the platform.
type Writer struct {
	ClientID  int64
	OrgPath   string
	UserID    int64 // the platform user a record from inside is about
	Authority obj
	Version   string // the request's xAPI version
}

// Attachment is the content of one attachment part.
type Attachment struct {
	SHA2        string
	ContentType string
	Data        []byte
}

// ErrConflict is a statement id stored with other content.
var ErrConflict = errors.New("a statement with this id exists with different content")

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// Store validates nothing (the caller did) and stores the statements in one
// transaction: all or none. It returns their ids. A statement whose id is
// already stored with the same content is left alone; with other content
// the whole batch fails with ErrConflict.
func (s *Service) Store(ctx context.Context, w Writer, stmts []obj, atts map[string]Attachment) ([]string, error) {
	now := s.now()
	stored := stamp(now)
	ids := make([]string, len(stmts))
	seen := map[string]int{}
	noStamp := map[string]bool{} // timestamp set by the store, not the client
	for i, st := range stmts {
		id, _ := st["id"].(string)
		if id == "" {
			id = newUUID()
		}
		id = strings.ToLower(id)
		st["id"] = id
		if j, dup := seen[id]; dup {
			if !SameStatement(stmts[j], st) {
				return nil, invalidf("the batch holds statement %s twice with different content", id)
			}
		}
		seen[id] = i
		ids[i] = id
		arrayContextActivities(st)
		st["stored"] = stored
		if _, ok := st["timestamp"]; !ok {
			st["timestamp"] = stored
			noStamp[id] = true
		}
		if w.Authority != nil {
			st["authority"] = deepCopy(w.Authority)
		}
		if _, ok := st["version"]; !ok {
			if w.Version == V200 {
				st["version"] = "2.0.0"
			} else {
				st["version"] = "1.0.0"
			}
		}
	}
	err := s.storeTx(ctx, w, stmts, ids, noStamp, atts, now)
	if err != nil && db.IsUniqueViolation(err) {
		// Another request stored one of these ids meanwhile (PostgreSQL
		// runs writers side by side): once more, now seeing it.
		err = s.storeTx(ctx, w, stmts, ids, noStamp, atts, now)
	}
	if err != nil {
		return nil, err
	}
	return ids, nil
}

func (s *Service) storeTx(ctx context.Context, w Writer, stmts []obj, ids []string, noStamp map[string]bool, atts map[string]Attachment, now time.Time) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		existing, err := bodies(ctx, tx, ids)
		if err != nil {
			return err
		}
		done := map[string]bool{}
		for _, st := range stmts {
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
			if done[id] {
				continue
			}
			done[id] = true
			if err := s.insert(ctx, tx, w, st, now); err != nil {
				return err
			}
		}
		for sha, a := range atts {
			if _, err := tx.Exec(ctx, `INSERT INTO lrs_attachments (sha2, content_type, size, data, created_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (sha2) DO NOTHING`, sha, a.ContentType, len(a.Data), a.Data, now.UnixMilli()); err != nil {
				return fmt.Errorf("store attachment: %w", err)
			}
		}
		return nil
	})
}

func bodies(ctx context.Context, q db.Querier, ids []string) (map[string]obj, error) {
	out := map[string]obj{}
	for start := 0; start < len(ids); start += 200 {
		end := min(start+200, len(ids))
		chunk := ids[start:end]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.Query(ctx, "SELECT id, body FROM lrs_statements WHERE id IN ("+placeholders(len(chunk))+")", args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, body string
			if err := rows.Scan(&id, &body); err != nil {
				rows.Close()
				return nil, err
			}
			v, err := decodeJSON([]byte(body))
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("stored statement %s: %w", id, err)
			}
			out[id] = v.(obj)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func (s *Service) insert(ctx context.Context, tx *db.Tx, w Writer, st obj, now time.Time) error {
	ix := indexStatement(st)
	id := st["id"].(string)
	ts := now.UnixMilli()
	if t, ok := st["timestamp"].(string); ok {
		if tt, err := ParseTimestamp(t, false); err == nil {
			ts = tt.UnixMilli()
		}
	}
	voids := ""
	if ix.verb == VerbVoided {
		target := ix.objectRef
		var tverb string
		err := tx.QueryRow(ctx, "SELECT verb FROM lrs_statements WHERE id = ?", target).Scan(&tverb)
		switch {
		case err == nil && tverb == VerbVoided:
			return invalidf("a voiding statement cannot be voided")
		case err == nil:
			if _, err := tx.Exec(ctx, "UPDATE lrs_statements SET voided = TRUE WHERE id = ?", target); err != nil {
				return err
			}
			voids = target
		case !errors.Is(err, sqlNoRows):
			return err
		}
	}
	body, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO lrs_statements (id, stored, ts, actor, verb, activity, object_ref, registration,
		client_id, org_path, user_id, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, now.UnixMilli(), ts, ix.actor, ix.verb, ix.activity, ix.objectRef, ix.registration,
		w.ClientID, w.OrgPath, w.UserID, string(body)); err != nil {
		return fmt.Errorf("insert statement: %w", err)
	}
	for k, direct := range ix.agents {
		if _, err := tx.Exec(ctx, "INSERT INTO lrs_statement_agents (statement_id, agent, direct) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", id, k, direct); err != nil {
			return err
		}
	}
	for a, direct := range ix.activities {
		if _, err := tx.Exec(ctx, "INSERT INTO lrs_statement_activities (statement_id, activity, direct) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", id, a, direct); err != nil {
			return err
		}
	}
	for _, a := range ix.definitions {
		if err := s.mergeActivity(ctx, tx, a, now); err != nil {
			return err
		}
	}
	for _, p := range ix.persons {
		if err := mergePerson(ctx, tx, p, now); err != nil {
			return err
		}
	}
	if s.bus != nil {
		return events.PublishTx(ctx, tx, s.bus, TopicStored, StoredEvent{ID: id, Stored: now.UnixMilli(), Timestamp: ts,
			Actor: ix.actor, UserID: w.UserID, Verb: ix.verb, Activity: ix.activity, Registration: ix.registration,
			OrgPath: w.OrgPath, ClientID: w.ClientID, Voids: voids})
	}
	return nil
}

func (s *Service) mergeActivity(ctx context.Context, tx *db.Tx, a obj, now time.Time) error {
	id, _ := a["id"].(string)
	def, ok := a["definition"].(obj)
	if !ok {
		return nil
	}
	var old string
	err := tx.QueryRow(ctx, "SELECT definition FROM lrs_activities WHERE id = ?", id).Scan(&old)
	merged := def
	if err == nil {
		if ov, derr := decodeJSON([]byte(old)); derr == nil {
			if om, ok := ov.(obj); ok {
				merged = mergeDefinition(om, def)
			}
		}
	} else if !errors.Is(err, sqlNoRows) {
		return err
	}
	b, _ := json.Marshal(merged)
	_, err = tx.Exec(ctx, `INSERT INTO lrs_activities (id, definition, updated) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, updated = excluded.updated`, id, string(b), now.UnixMilli())
	return err
}

// mergePerson adds an agent's name and identifier to its Person object.
func mergePerson(ctx context.Context, tx *db.Tx, a obj, now time.Time) error {
	key := AgentKey(a)
	if key == "" {
		return nil
	}
	var old string
	person := obj{"objectType": "Person"}
	err := tx.QueryRow(ctx, "SELECT person FROM lrs_agents WHERE agent = ?", key).Scan(&old)
	if err == nil {
		if v, derr := decodeJSON([]byte(old)); derr == nil {
			person = v.(obj)
		}
	} else if !errors.Is(err, sqlNoRows) {
		return err
	}
	changed := err != nil
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
		changed = true
	}
	add("name", a["name"])
	add("mbox", a["mbox"])
	add("mbox_sha1sum", a["mbox_sha1sum"])
	add("openid", a["openid"])
	add("account", a["account"])
	if !changed {
		return nil
	}
	b, _ := json.Marshal(person)
	_, err = tx.Exec(ctx, `INSERT INTO lrs_agents (agent, person, updated) VALUES (?, ?, ?)
		ON CONFLICT (agent) DO UPDATE SET person = excluded.person, updated = excluded.updated`, key, string(b), now.UnixMilli())
	return err
}

func normalizeEq(a, b any) bool {
	ab, _ := json.Marshal(normalize(a))
	bb, _ := json.Marshal(normalize(b))
	return string(ab) == string(bb)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// notFound is what a missing statement, document or client is.
func notFound() error { return apperr.New(apperr.NotFound, "err.not_found") }

// Statement is an xAPI statement (or part of one) as decoded JSON.
type Statement = map[string]any

// IsInvalid reports whether err is a statement that breaks the spec.
func IsInvalid(err error) bool {
	var ie *invalidError
	return errors.As(err, &ie)
}

// StoreRecord stores a statement the platform makes itself (from an event
// of another subsystem): validated like any other, with the platform as
// authority, belonging to the organisation at orgPath and the user userID.
// Storing the same statement again changes nothing.
func (s *Service) StoreRecord(ctx context.Context, st Statement, orgPath string, userID int64) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	v, err := decodeJSON(b)
	if err != nil {
		return err
	}
	o, ok := v.(obj)
	if !ok {
		return invalidf("a record must be a statement")
	}
	if err := (&validator{ver: V103}).statement(o); err != nil {
		return err
	}
	_, err = s.Store(ctx, Writer{OrgPath: orgPath, UserID: userID, Authority: s.PlatformAuthority(), Version: V103}, []obj{o}, nil)
	return err
}
