package lrs

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"jnedu/internal/platform/db"
)

// Document kinds.
const (
	KindState           = "state"
	KindActivityProfile = "activity_profile"
	KindAgentProfile    = "agent_profile"
)

// DocKey addresses one document (or, without DocID, a set of them).
type DocKey struct {
	Kind         string
	OrgPath      string
	Activity     string
	Agent        string // AgentKey
	Registration string
	DocID        string
}

// Document is a stored document.
type Document struct {
	ContentType string
	Body        []byte
	ETag        string // quoted
	Updated     int64
}

func etagOf(b []byte) string {
	h := sha1.Sum(b)
	return `"` + hex.EncodeToString(h[:]) + `"`
}

// GetDocument returns one document.
func (s *Service) GetDocument(ctx context.Context, k DocKey) (Document, error) {
	return getDoc(ctx, s.db, k)
}

func getDoc(ctx context.Context, q db.Querier, k DocKey) (Document, error) {
	var d Document
	err := q.QueryRow(ctx, `SELECT content_type, body, etag, updated FROM lrs_documents
		WHERE kind = ? AND org_path = ? AND activity = ? AND agent = ? AND registration = ? AND doc_id = ?`,
		k.Kind, k.OrgPath, k.Activity, k.Agent, k.Registration, k.DocID).Scan(&d.ContentType, &d.Body, &d.ETag, &d.Updated)
	if errors.Is(err, sqlNoRows) {
		return d, notFound()
	}
	return d, err
}

// DocumentIDs lists the ids of a set of documents, those updated after
// since (Unix ms) when hasSince.
func (s *Service) DocumentIDs(ctx context.Context, k DocKey, since int64, hasSince bool) ([]string, error) {
	q := `SELECT doc_id FROM lrs_documents WHERE kind = ? AND org_path = ? AND activity = ? AND agent = ? AND registration = ?`
	args := []any{k.Kind, k.OrgPath, k.Activity, k.Agent, k.Registration}
	if hasSince {
		q += " AND updated > ?"
		args = append(args, since)
	}
	ids, err := db.Column[string](ctx, s.db, q+" ORDER BY doc_id LIMIT 10000", args...)
	if ids == nil && err == nil {
		ids = []string{} // an empty JSON array, never null
	}
	return ids, err
}

// Precondition is an If-Match / If-None-Match pair from a request.
type Precondition struct {
	IfMatch     string // "" when absent
	IfNoneMatch string
	// Required makes a write to an existing document without either header
	// a conflict.
	Required bool
	// RequiredNew also refuses (400) a write to a new document without
	// either header (xAPI 1.0.3 profile resources).
	RequiredNew bool
}

// errPrecondition is a failed If-Match / If-None-Match (412).
var errPrecondition = errors.New("precondition failed")

// errNeedPrecondition is a write to an existing document without a
// precondition where one is required (409).
var errNeedPrecondition = errors.New("the document exists: send If-Match or If-None-Match")

// errNeedPreconditionNew is a 1.0.3 profile PUT without a precondition (400).
var errNeedPreconditionNew = errors.New("send If-None-Match: * to create a profile document, If-Match to replace one")

// errMergeNotJSON is a POST merge where a side is not a JSON object.
var errMergeNotJSON = errors.New("a document can be merged only when both it and the new content are JSON objects")

func matches(header, etag string, exists bool) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" && exists {
			return true
		}
		t = strings.TrimPrefix(t, "W/")
		if exists && (t == etag || `"`+strings.Trim(t, `"`)+`"` == etag) {
			return true
		}
	}
	return false
}

func checkPrecondition(p Precondition, d Document, exists bool) error {
	if p.IfMatch != "" && !matches(p.IfMatch, d.ETag, exists) {
		return errPrecondition
	}
	if p.IfNoneMatch != "" && matches(p.IfNoneMatch, d.ETag, exists) {
		return errPrecondition
	}
	if p.Required && exists && p.IfMatch == "" && p.IfNoneMatch == "" {
		return errNeedPrecondition
	}
	if p.RequiredNew && !exists && p.IfMatch == "" && p.IfNoneMatch == "" {
		return errNeedPreconditionNew
	}
	return nil
}

// PutDocument replaces (merge false) or merges into (merge true) a
// document.
func (s *Service) PutDocument(ctx context.Context, k DocKey, ctype string, body []byte, merge bool, p Precondition) (Document, error) {
	now := s.now().UnixMilli()
	var out Document
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		old, err := getDoc(ctx, tx, k)
		exists := err == nil
		if err != nil && !isNotFound(err) {
			return err
		}
		if err := checkPrecondition(p, old, exists); err != nil {
			return err
		}
		if merge && exists {
			body, ctype, err = mergeJSON(old, ctype, body)
			if err != nil {
				return err
			}
		} else if merge && isJSONType(ctype) {
			if _, err := jsonObject(body); err != nil {
				return errMergeNotJSON
			}
		}
		out = Document{ContentType: ctype, Body: body, ETag: etagOf(body), Updated: now}
		_, err = tx.Exec(ctx, `INSERT INTO lrs_documents (kind, org_path, activity, agent, registration, doc_id, content_type, body, etag, updated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (kind, org_path, activity, agent, registration, doc_id) DO UPDATE SET
			content_type = excluded.content_type, body = excluded.body, etag = excluded.etag, updated = excluded.updated`,
			k.Kind, k.OrgPath, k.Activity, k.Agent, k.Registration, k.DocID, ctype, body, out.ETag, now)
		if err != nil {
			return fmt.Errorf("store document: %w", err)
		}
		return nil
	})
	return out, err
}

// DeleteDocuments deletes one document (k.DocID set) or a set of them.
func (s *Service) DeleteDocuments(ctx context.Context, k DocKey, all bool, p Precondition) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		q := `DELETE FROM lrs_documents WHERE kind = ? AND org_path = ? AND activity = ? AND agent = ? AND registration = ?`
		args := []any{k.Kind, k.OrgPath, k.Activity, k.Agent, k.Registration}
		if !all {
			old, err := getDoc(ctx, tx, k)
			exists := err == nil
			if err != nil && !isNotFound(err) {
				return err
			}
			p.Required = false
			if err := checkPrecondition(p, old, exists); err != nil {
				return err
			}
			q += " AND doc_id = ?"
			args = append(args, k.DocID)
		}
		_, err := tx.Exec(ctx, q, args...)
		return err
	})
}

func isJSONType(ct string) bool {
	ct = strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	return ct == "application/json"
}

func jsonObject(b []byte) (obj, error) {
	v, err := decodeJSON(b)
	if err != nil {
		return nil, err
	}
	o, ok := v.(obj)
	if !ok {
		return nil, errMergeNotJSON
	}
	return o, nil
}

func mergeJSON(old Document, ctype string, body []byte) ([]byte, string, error) {
	if !isJSONType(old.ContentType) || !isJSONType(ctype) {
		return nil, "", errMergeNotJSON
	}
	o, err := jsonObject(old.Body)
	if err != nil {
		return nil, "", errMergeNotJSON
	}
	n, err := jsonObject(body)
	if err != nil {
		return nil, "", errMergeNotJSON
	}
	for k, v := range n {
		o[k] = v
	}
	b, err := marshal(o)
	return b, "application/json", err
}
