package share

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"unicode/utf8"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
)

// Collection is an ordered list of videos (合集) that belongs to a school:
// its owner (a teacher) or a manager of the school edits it. Anyone who may
// watch videos can open it, and sees only the videos they may watch.
type Collection struct {
	ID          int64  `json:"id"`
	OwnerID     int64  `json:"owner_id"`
	OrgID       int64  `json:"org_id"`
	OrgPath     string `json:"-"`
	Title       string `json:"title"`
	Description string `json:"description"`
	// VideoCount counts the videos the caller may watch, not all of them.
	VideoCount int   `json:"video_count"`
	CanEdit    bool  `json:"can_edit"`
	CreatedAt  int64 `json:"created_at"`
	UpdatedAt  int64 `json:"updated_at"`
}

// CollectionMeta is what an editor says about a collection.
type CollectionMeta struct {
	Title       string `json:"title"`
	Description string `json:"description"`
}

// Bounds of collections.
const (
	MaxCollectionVideos = 500
	MaxCollectionsList  = 200
)

func (m *CollectionMeta) validate() error {
	m.Title = strings.TrimSpace(m.Title)
	m.Description = strings.TrimSpace(m.Description)
	f := map[string]string{}
	if m.Title == "" {
		f["title"] = "err.required"
	} else if utf8.RuneCountInString(m.Title) > 100 {
		f["title"] = "share.err_title_long"
	}
	if utf8.RuneCountInString(m.Description) > 2000 {
		f["description"] = "share.err_collection_description_long"
	}
	if len(f) > 0 {
		return &apperr.Error{Code: apperr.Invalid, Message: "err.form_has_errors", Fields: f}
	}
	return nil
}

// CanEditCollection reports whether p may change c: its owner, or a
// manager over its organisation.
func CanEditCollection(p *identity.Principal, c Collection) bool {
	if p == nil {
		return false
	}
	return c.OwnerID == p.User.ID || p.CanIn(PermManage, identity.Org{ID: c.OrgID, Path: c.OrgPath})
}

// CreateCollection makes a collection in the caller's organisation.
func (s *Service) CreateCollection(ctx context.Context, p *identity.Principal, m CollectionMeta) (Collection, error) {
	if err := m.validate(); err != nil {
		return Collection{}, err
	}
	now := s.ms()
	id, err := db.InsertID(ctx, s.db, `INSERT INTO share_collections (owner_id, org_id, org_path, title, description, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, p.User.ID, p.Org.ID, p.Org.Path, m.Title, m.Description, now, now)
	if err != nil {
		return Collection{}, err
	}
	c, _, err := s.Collection(ctx, p, id)
	return c, err
}

const collectionCols = "c.id, c.owner_id, c.org_id, c.org_path, c.title, c.description, c.created_at, c.updated_at"

// collection reads one collection, whoever asks.
func (s *Service) collection(ctx context.Context, q db.Querier, id int64) (Collection, error) {
	if q == nil {
		q = s.db
	}
	var c Collection
	err := q.QueryRow(ctx, "SELECT "+collectionCols+" FROM share_collections c WHERE c.id = ?", id).
		Scan(&c.ID, &c.OwnerID, &c.OrgID, &c.OrgPath, &c.Title, &c.Description, &c.CreatedAt, &c.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return c, apperr.New(apperr.NotFound, "err.not_found")
	}
	return c, err
}

// memberWhere selects the videos of a collection that p may see: what
// visibleWhere allows, and playable unless p owns it.
func memberWhere(p *identity.Principal) (string, []any) {
	where, args := visibleWhere(p)
	return where + " AND (m.playable OR v.owner_id = ?)", append(args, p.User.ID)
}

// Collection returns a collection and, in order, the videos in it that p
// may watch.
func (s *Service) Collection(ctx context.Context, p *identity.Principal, id int64) (Collection, []Video, error) {
	c, err := s.collection(ctx, nil, id)
	if err != nil {
		return c, nil, err
	}
	c.CanEdit = CanEditCollection(p, c)
	where, args := memberWhere(p)
	rows, err := s.db.Query(ctx, "SELECT "+videoCols+` FROM share_collection_videos cv
		JOIN share_videos v ON v.id = cv.video_id JOIN share_media m ON m.sha256 = v.media_sha256
		WHERE cv.collection_id = ? AND `+where+" ORDER BY cv.position, cv.video_id",
		append([]any{id}, args...)...)
	if err != nil {
		return c, nil, err
	}
	defer rows.Close()
	var vs []Video
	for rows.Next() {
		v, err := scanVideo(rows)
		if err != nil {
			return c, nil, err
		}
		vs = append(vs, v)
	}
	c.VideoCount = len(vs)
	return c, vs, rows.Err()
}

// CollectionQuery selects collections.
type CollectionQuery struct {
	OrgID   int64 // a school's collections
	VideoID int64 // the collections holding a video
	Mine    bool  // the ones the caller may edit
}

// Collections lists collections, newest first, each with the number of its
// videos p may watch.
func (s *Service) Collections(ctx context.Context, p *identity.Principal, q CollectionQuery) ([]Collection, error) {
	mw, margs := memberWhere(p)
	var where []string
	var args []any
	args = append(args, margs...)
	if q.OrgID != 0 {
		where = append(where, "c.org_id = ?")
		args = append(args, q.OrgID)
	}
	if q.VideoID != 0 {
		where = append(where, "EXISTS (SELECT 1 FROM share_collection_videos x WHERE x.collection_id = c.id AND x.video_id = ?)")
		args = append(args, q.VideoID)
	}
	if q.Mine {
		ors := []string{"c.owner_id = ?"}
		args = append(args, p.User.ID)
		for _, o := range p.Scope(PermManage) {
			ors = append(ors, "c.org_path LIKE ?")
			args = append(args, o.Path+"%")
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db.Query(ctx, "SELECT "+collectionCols+`, (SELECT COUNT(*) FROM share_collection_videos cv
		JOIN share_videos v ON v.id = cv.video_id JOIN share_media m ON m.sha256 = v.media_sha256
		WHERE cv.collection_id = c.id AND `+mw+`) FROM share_collections c`+cond+" ORDER BY c.created_at DESC, c.id DESC LIMIT ?",
		append(args, MaxCollectionsList)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Collection
	for rows.Next() {
		var c Collection
		if err := rows.Scan(&c.ID, &c.OwnerID, &c.OrgID, &c.OrgPath, &c.Title, &c.Description, &c.CreatedAt, &c.UpdatedAt, &c.VideoCount); err != nil {
			return nil, err
		}
		c.CanEdit = CanEditCollection(p, c)
		out = append(out, c)
	}
	return out, rows.Err()
}

// editable returns a collection p may change: not found when p may not
// (collections are seen by every viewer, so forbidden would say no more).
func (s *Service) editable(ctx context.Context, q db.Querier, p *identity.Principal, id int64) (Collection, error) {
	c, err := s.collection(ctx, q, id)
	if err != nil {
		return c, err
	}
	if !CanEditCollection(p, c) {
		return c, apperr.New(apperr.Forbidden, "share.err_collection_forbidden")
	}
	return c, nil
}

// UpdateCollection changes a collection's title and description.
func (s *Service) UpdateCollection(ctx context.Context, p *identity.Principal, id int64, m CollectionMeta) (Collection, error) {
	if err := m.validate(); err != nil {
		return Collection{}, err
	}
	if _, err := s.editable(ctx, nil, p, id); err != nil {
		return Collection{}, err
	}
	if _, err := s.db.Exec(ctx, "UPDATE share_collections SET title = ?, description = ?, updated_at = ? WHERE id = ?",
		m.Title, m.Description, s.ms(), id); err != nil {
		return Collection{}, err
	}
	c, _, err := s.Collection(ctx, p, id)
	return c, err
}

// DeleteCollection removes a collection (its videos stay).
func (s *Service) DeleteCollection(ctx context.Context, p *identity.Principal, id int64) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := s.editable(ctx, tx, p, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM share_collection_videos WHERE collection_id = ?", id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM share_collections WHERE id = ?", id)
		return err
	})
}

// AddToCollection appends a video to a collection. The editor must be
// allowed to manage the video (their own, or one of a school they manage).
func (s *Service) AddToCollection(ctx context.Context, p *identity.Principal, id, videoID int64) error {
	if _, err := s.editable(ctx, nil, p, id); err != nil {
		return err
	}
	v, err := s.Video(ctx, videoID)
	if err != nil {
		return apperr.Field("video_id", "share.err_collection_video")
	}
	if !CanManage(p, v) {
		if CanView(p, v, "", "", s.ms()) {
			return apperr.Field("video_id", "share.err_collection_not_yours")
		}
		return apperr.Field("video_id", "share.err_collection_video")
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := s.editable(ctx, tx, p, id); err != nil {
			return err
		}
		var n, last int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*), COALESCE(MAX(position), 0) FROM share_collection_videos WHERE collection_id = ?", id).Scan(&n, &last); err != nil {
			return err
		}
		if n >= MaxCollectionVideos {
			return apperr.New(apperr.Invalid, "share.err_collection_full", MaxCollectionVideos)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO share_collection_videos (collection_id, video_id, position, added_by, added_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (collection_id, video_id) DO NOTHING`, id, videoID, last+1, p.User.ID, s.ms()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE share_collections SET updated_at = ? WHERE id = ?", s.ms(), id)
		return err
	})
}

// RemoveFromCollection takes a video out of a collection.
func (s *Service) RemoveFromCollection(ctx context.Context, p *identity.Principal, id, videoID int64) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := s.editable(ctx, tx, p, id); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, "DELETE FROM share_collection_videos WHERE collection_id = ? AND video_id = ?", id, videoID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.New(apperr.NotFound, "err.not_found")
		}
		_, err = tx.Exec(ctx, "UPDATE share_collections SET updated_at = ? WHERE id = ?", s.ms(), id)
		return err
	})
}

// ReorderCollection puts the given videos first, in the given order; the
// others keep their order after them (an editor need not see every video to
// reorder the ones they see). Every id given must be in the collection.
func (s *Service) ReorderCollection(ctx context.Context, p *identity.Principal, id int64, order []int64) error {
	if len(order) > MaxCollectionVideos {
		return apperr.Field("video_ids", "err.invalid_value")
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := s.editable(ctx, tx, p, id); err != nil {
			return err
		}
		current, err := memberIDs(ctx, tx, id)
		if err != nil {
			return err
		}
		in := map[int64]bool{}
		for _, v := range current {
			in[v] = true
		}
		seen := map[int64]bool{}
		next := make([]int64, 0, len(current))
		for _, v := range order {
			if !in[v] || seen[v] {
				return apperr.Field("video_ids", "share.err_collection_order")
			}
			seen[v] = true
			next = append(next, v)
		}
		for _, v := range current {
			if !seen[v] {
				next = append(next, v)
			}
		}
		for i, v := range next {
			if _, err := tx.Exec(ctx, "UPDATE share_collection_videos SET position = ? WHERE collection_id = ? AND video_id = ?", i+1, id, v); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, "UPDATE share_collections SET updated_at = ? WHERE id = ?", s.ms(), id)
		return err
	})
}

// MoveInCollection moves a video one place up (delta -1) or down (+1)
// among the videos p sees in the collection.
func (s *Service) MoveInCollection(ctx context.Context, p *identity.Principal, id, videoID int64, delta int) error {
	c, vs, err := s.Collection(ctx, p, id)
	if err != nil {
		return err
	}
	if !c.CanEdit {
		return apperr.New(apperr.Forbidden, "share.err_collection_forbidden")
	}
	order := make([]int64, len(vs))
	at := -1
	for i, v := range vs {
		order[i] = v.ID
		if v.ID == videoID {
			at = i
		}
	}
	if at < 0 {
		return apperr.New(apperr.NotFound, "err.not_found")
	}
	to := at + delta
	if to < 0 || to >= len(order) {
		return nil // already first or last
	}
	order[at], order[to] = order[to], order[at]
	return s.ReorderCollection(ctx, p, id, order)
}

func memberIDs(ctx context.Context, q db.Querier, id int64) ([]int64, error) {
	return db.Column[int64](ctx, q, "SELECT video_id FROM share_collection_videos WHERE collection_id = ? ORDER BY position, video_id", id)
}
