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
	group   *groupCommitter // SQLite: concurrent batches share a transaction
	memo    *mergeMemo      // agents and activity definitions already stored
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
	svc := &Service{db: d, bus: bus, log: log, now: now, baseURL: strings.TrimRight(baseURL, "/"), secret: secret, lim: lim}
	if d.Dialect() == db.SQLite {
		svc.group = &groupCommitter{maxStmts: maxGroupStatements}
	}
	svc.memo = newMergeMemo(svc.group != nil)
	return svc
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
	// Restore keeps the stored time, authority and version a statement
	// carries (an import of exported records); Authority is then only
	// for statements without one.
	Restore bool
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
	b := &batch{w: w, stmts: stmts, ids: make([]string, len(stmts)), noStamp: map[string]bool{}, atts: atts}
	b.lo, b.hi = make([][]byte, len(stmts)), make([][]byte, len(stmts))
	seen := map[string]bool{}
	for i, st := range stmts {
		id, _ := st["id"].(string)
		if id == "" {
			id = newUUID()
		}
		id = strings.ToLower(id)
		st["id"] = id
		if seen[id] {
			// xAPI 2.0 (Communication 2.1.1): a batch using one id more
			// than once is rejected, even with the same content.
			return nil, invalidf("the batch holds statement %s more than once", id)
		}
		seen[id] = true
		b.ids[i] = id
		arrayContextActivities(st)
		if _, has := st["authority"]; has && w.Restore {
			// kept
		} else if w.Authority != nil {
			st["authority"] = deepCopy(w.Authority)
		}
		if _, ok := st["version"]; !ok {
			if w.Version == V200 {
				st["version"] = "2.0.0"
			} else {
				st["version"] = "1.0.0"
			}
		}
		if t, ok := restoredTime(st); ok && w.Restore && (b.floor.IsZero() || t.Before(b.floor)) {
			// Restored statements keep stored times in the past: the
			// write holds queries back to the earliest of them.
			b.floor = t
		}
		if _, ok := st["timestamp"]; !ok {
			b.noStamp[id] = true
		}
		// The body is encoded here, beside the other requests' work, not
		// in the one writer: in two halves, the keys before "stored" and
		// those after it, between which stampTimes puts the times the
		// write gives it (json.Marshal's sorted key order, as everywhere
		// else).
		var err error
		if b.lo[i], b.hi[i], err = encodeHalves(st); err != nil {
			return nil, err
		}
	}
	if err := s.write(ctx, b); err != nil {
		return nil, err
	}
	return b.ids, nil
}

// stampTimes gives the batch's statements their stored time (now, or the
// one a restored statement carries) and, when the client sent none, their
// timestamp, in the statements and between the halves of their bodies.
func (b *batch) stampTimes(now time.Time) {
	stored := stamp(now)
	b.body = make([]string, len(b.stmts))
	for i, st := range b.stmts {
		own := stored
		if t, ok := restoredTime(st); ok && b.w.Restore {
			own = stamp(t)
		}
		st["stored"] = own
		mid := `"stored":"` + own + `"`
		if b.noStamp[b.ids[i]] {
			st["timestamp"] = own
			mid += `,"timestamp":"` + own + `"`
		}
		b.body[i] = joinHalves(b.lo[i], mid, b.hi[i])
	}
}

// encodeHalves encodes st without its "stored" in two JSON objects: the
// keys that sort before "stored" and those after.
func encodeHalves(st obj) (lo, hi []byte, err error) {
	l, h := obj{}, obj{}
	for k, v := range st {
		switch {
		case k < "stored":
			l[k] = v
		case k > "stored":
			h[k] = v
		}
	}
	if lo, err = json.Marshal(l); err != nil {
		return nil, nil, err
	}
	hi, err = json.Marshal(h)
	return lo, hi, err
}

// joinHalves puts members mid ("stored", and "timestamp" when hi has none)
// between the halves: the same bytes as json.Marshal of the whole.
func joinHalves(lo []byte, mid string, hi []byte) string {
	body := make([]byte, 0, len(lo)+len(mid)+len(hi))
	body = append(body, lo[:len(lo)-1]...) // without its "}"
	if len(lo) > 2 {
		body = append(body, ',')
	}
	body = append(body, mid...)
	if len(hi) > 2 {
		body = append(append(body, ','), hi[1:]...) // without its "{"
	} else {
		body = append(body, '}')
	}
	return string(body)
}

// restoredTime is the stored time a statement carries, if valid.
func restoredTime(st obj) (time.Time, bool) {
	v, ok := st["stored"].(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := ParseTimestamp(v, false)
	if err != nil {
		return time.Time{}, false
	}
	return t.Truncate(time.Millisecond), true
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
