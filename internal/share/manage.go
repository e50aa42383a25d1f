package share

import (
	"context"
	"strconv"
	"strings"
	"unicode/utf8"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
)

// Visible returns a video if p may watch it (token and code for links),
// and not found otherwise: a refused person learns nothing about it.
func (s *Service) Visible(ctx context.Context, p *identity.Principal, id int64, token, code string) (Video, error) {
	v, err := s.Video(ctx, id)
	if err != nil {
		return v, err
	}
	if !CanView(p, v, token, code, s.ms()) {
		if v.Visibility == Link && token != "" && v.linkCodeHash != "" && code == "" && v.TakenDownAt == 0 && token == v.LinkToken {
			return Video{}, apperr.New(apperr.Forbidden, "share.err_code_needed")
		}
		return Video{}, apperr.New(apperr.NotFound, "err.not_found")
	}
	return v, nil
}

// ByLink finds the video of a public link.
func (s *Service) ByLink(ctx context.Context, token string) (int64, error) {
	if token == "" || len(token) > 64 {
		return 0, apperr.New(apperr.NotFound, "err.not_found")
	}
	var id int64
	if err := s.db.QueryRow(ctx, "SELECT id FROM share_videos WHERE link_token = ?", token).Scan(&id); err != nil {
		return 0, apperr.New(apperr.NotFound, "err.not_found")
	}
	return id, nil
}

// Update changes a video's metadata and audience (owner or manager).
func (s *Service) Update(ctx context.Context, p *identity.Principal, id int64, m Meta) (Video, error) {
	if err := m.validate(false); err != nil {
		return Video{}, err
	}
	v, err := s.Video(ctx, id)
	if err != nil {
		return v, err
	}
	if !CanManage(p, v) {
		if CanView(p, v, "", "", s.ms()) {
			return Video{}, apperr.New(apperr.Forbidden, "err.forbidden")
		}
		return Video{}, apperr.New(apperr.NotFound, "err.not_found")
	}
	now := s.ms()
	keepCode := v.linkCodeHash
	applyMeta(&v, m, now)
	// A link keeps its extraction code unless a new one is given.
	if m.Visibility == Link && m.LinkCode == "" && keepCode != "" {
		v.linkCodeHash = keepCode
		v.HasLinkCode = true
	}
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE share_videos SET title = ?, description = ?, tags = ?, subject = ?, grade = ?, visibility = ?,
			allow_download = ?, link_token = ?, link_code_hash = ?, link_expires_at = ?, updated_at = ? WHERE id = ?`,
			v.Title, v.Description, v.Tags, v.Subject, v.Grade, v.Visibility, v.AllowDownload, v.LinkToken, v.linkCodeHash,
			v.LinkExpiresAt, now, v.ID); err != nil {
			return err
		}
		return writeAudience(ctx, tx, &v)
	})
	if err != nil {
		return Video{}, err
	}
	return s.Video(ctx, id)
}

// TakeDown hides a video everywhere at once (owner or manager); Restore
// undoes it.
func (s *Service) TakeDown(ctx context.Context, p *identity.Principal, id int64, reason string) error {
	reason = strings.TrimSpace(reason)
	if utf8.RuneCountInString(reason) > 500 {
		return apperr.Field("reason", "share.err_reason_long")
	}
	return s.setTakenDown(ctx, p, id, s.ms(), reason)
}

// Restore brings a taken-down video back.
func (s *Service) Restore(ctx context.Context, p *identity.Principal, id int64) error {
	return s.setTakenDown(ctx, p, id, 0, "")
}

func (s *Service) setTakenDown(ctx context.Context, p *identity.Principal, id int64, at int64, reason string) error {
	v, err := s.Video(ctx, id)
	if err != nil {
		return err
	}
	if !CanManage(p, v) {
		return apperr.New(apperr.NotFound, "err.not_found")
	}
	by := int64(0)
	if at != 0 {
		by = p.User.ID
	}
	_, err = s.db.Exec(ctx, "UPDATE share_videos SET taken_down_at = ?, taken_down_by = ?, taken_down_reason = ?, updated_at = ? WHERE id = ?",
		at, by, reason, s.ms(), id)
	return err
}

// SetMediaState records a media's processing state. reason is a message
// key people see when the state is failed.
func (s *Service) SetMediaState(ctx context.Context, q db.Querier, sha, state, reason string, progress int) error {
	if q == nil {
		q = s.db
	}
	_, err := q.Exec(ctx, "UPDATE share_media SET state = ?, state_reason = ?, progress = ?, updated_at = ? WHERE sha256 = ?",
		state, reason, progress, s.ms(), sha)
	return err
}

// ViewEvent is a learning record of watching: xAPI-shaped (actor, verb,
// object, result) so the data platform can store it as a statement.
type ViewEvent struct {
	Actor  ViewActor  `json:"actor"`
	Verb   string     `json:"verb"` // an ADL verb IRI
	Object ViewObject `json:"object"`
	Result ViewResult `json:"result"`
	At     int64      `json:"timestamp"`
}

// ViewActor identifies the viewer.
type ViewActor struct {
	UserID int64  `json:"user_id"`
	Name   string `json:"name"`
	OrgID  int64  `json:"org_id"`
}

// ViewObject identifies the video.
type ViewObject struct {
	ID       string `json:"id"` // stable activity id
	VideoID  int64  `json:"video_id"`
	Title    string `json:"title"`
	OrgID    int64  `json:"org_id"`
	Duration int64  `json:"duration_ms"`
}

// ViewResult says how far the viewer got.
type ViewResult struct {
	PositionMS int64   `json:"position_ms"`
	WatchedMS  int64   `json:"watched_ms"`
	Progress   float64 `json:"progress"`
	Completed  bool    `json:"completion"`
}

// TopicViewed carries watching records (started, progressed, completed).
var TopicViewed = events.NewTopic[ViewEvent]("share.video.viewed")

// UploadEvent is published (through the outbox) when a person adds a
// video: the learning record of sharing it. Object.ID is empty (the
// record's builder names the activity from VideoID).
type UploadEvent struct {
	Actor  ViewActor  `json:"actor"`
	Object ViewObject `json:"object"`
	At     int64      `json:"timestamp"`
}

// TopicUploaded carries UploadEvent.
var TopicUploaded = events.NewTopic[UploadEvent]("share.video.uploaded")

// ADL video verbs (xAPI video profile).
const (
	VerbPlayed    = "https://w3id.org/xapi/video/verbs/played"
	VerbProgressd = "https://w3id.org/xapi/video/verbs/progressed"
	VerbCompleted = "http://adlnet.gov/expapi/verbs/completed"
)

// ActivityID is a video's stable xAPI activity id.
func ActivityID(base string, id int64) string {
	return strings.TrimRight(base, "/") + "/videos/" + strconv.FormatInt(id, 10)
}
