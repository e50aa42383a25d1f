package share

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
)

// Enqueuer starts the processing of a new media inside the caller's
// transaction (the job queue).
type Enqueuer interface {
	EnqueueProcess(ctx context.Context, tx db.Querier, sha string) error
}

// Service is the video-sharing behaviour over its tables and the blob store.
type Service struct {
	db    *db.DB
	blobs blob.Store
	bus   *events.Bus
	jobs  Enqueuer
	now   func() time.Time
	log   *slog.Logger
}

// NewService makes the service. bus and jobs may be nil (no records, no
// processing: tests of the metadata alone).
func NewService(d *db.DB, blobs blob.Store, bus *events.Bus, jobs Enqueuer, log *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: d, blobs: blobs, bus: bus, jobs: jobs, now: now, log: log}
}

// SetEnqueuer connects the processing queue.
func (s *Service) SetEnqueuer(e Enqueuer) { s.jobs = e }

func (s *Service) ms() int64 { return s.now().UnixMilli() }

// maxTitleRunes bounds a video's title.
const maxTitleRunes = 100

// Meta is what an owner says about a video.
type Meta struct {
	Title         string     `json:"title"`
	Description   string     `json:"description"`
	Tags          string     `json:"tags"`
	Subject       string     `json:"subject"`
	Grade         string     `json:"grade"`
	Visibility    Visibility `json:"visibility"`
	Orgs          []int64    `json:"orgs,omitempty"` // for visibility "orgs"
	AllowDownload bool       `json:"allow_download"`
	LinkDays      int        `json:"link_days,omitempty"` // for visibility "link": 1–365
	LinkCode      string     `json:"link_code,omitempty"` // optional 提取码, 4–8 letters or digits
}

func (m *Meta) validate(creating bool) error {
	m.Title = strings.TrimSpace(m.Title)
	m.Description = strings.TrimSpace(m.Description)
	m.Tags = strings.TrimSpace(m.Tags)
	m.Subject = strings.TrimSpace(m.Subject)
	m.Grade = strings.TrimSpace(m.Grade)
	m.LinkCode = strings.TrimSpace(m.LinkCode)
	if m.Visibility == "" {
		m.Visibility = Private
	}
	f := map[string]string{}
	if m.Title == "" {
		f["title"] = "err.required"
	} else if utf8.RuneCountInString(m.Title) > maxTitleRunes {
		f["title"] = "share.err_title_long"
	}
	if utf8.RuneCountInString(m.Description) > 5000 {
		f["description"] = "share.err_description_long"
	}
	if utf8.RuneCountInString(m.Tags) > 200 || utf8.RuneCountInString(m.Subject) > 20 || utf8.RuneCountInString(m.Grade) > 20 {
		f["tags"] = "share.err_tags_long"
	}
	if !m.Visibility.Valid() {
		f["visibility"] = "share.err_visibility"
	}
	if m.Visibility == Orgs && (len(m.Orgs) == 0 || len(m.Orgs) > 100) {
		f["orgs"] = "share.err_orgs"
	}
	if m.Visibility == Link {
		if m.LinkDays < 1 || m.LinkDays > 365 {
			f["link_days"] = "share.err_link_days"
		}
		if m.LinkCode != "" && !validCode(m.LinkCode) {
			f["link_code"] = "share.err_link_code"
		}
	}
	if len(f) > 0 {
		return &apperr.Error{Code: apperr.Invalid, Message: "err.form_has_errors", Fields: f}
	}
	return nil
}

func validCode(c string) bool {
	if len(c) < 4 || len(c) > 8 {
		return false
	}
	for _, r := range c {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// Uploaded is a finished upload waiting to become a video.
type Uploaded struct {
	Path   string // the assembled file
	SHA256 string // computed as the bytes arrived
	Size   int64
	Name   string // the name on the uploader's machine
	// Move lets the store take the file itself (a finished upload);
	// otherwise it is copied and left in place (an imported recording).
	Move bool
}

// AddUpload stores an upload's original in the blob store and creates its
// video. When the same bytes were uploaded before, the video points to the
// existing media at once and nothing is processed again.
func (s *Service) AddUpload(ctx context.Context, p *identity.Principal, up Uploaded, m Meta) (Video, error) {
	if m.Title == "" {
		// The title defaults to the file's name, shortened to what a title
		// may hold: a long name must not fail an upload already received.
		m.Title = strings.TrimSpace(strings.TrimSuffix(up.Name, fileExt(up.Name)))
		if r := []rune(m.Title); len(r) > maxTitleRunes {
			m.Title = strings.TrimSpace(string(r[:maxTitleRunes]))
		}
		if m.Title == "" {
			m.Title = up.Name
		}
	}
	if err := m.validate(true); err != nil {
		return Video{}, err
	}
	if len(up.SHA256) != 64 {
		return Video{}, fmt.Errorf("upload %s: bad hash %q", up.Path, up.SHA256)
	}
	if _, err := s.blobs.Stat(ctx, up.SHA256); errors.Is(err, blob.ErrNotFound) {
		if err := s.storeOriginal(ctx, up); err != nil {
			return Video{}, err
		}
	} else if err != nil {
		return Video{}, err
	}
	var v Video
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		now := s.ms()
		res, err := tx.Exec(ctx, `INSERT INTO share_media (sha256, size, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (sha256) DO NOTHING`, up.SHA256, up.Size, StateUploaded, now, now)
		if err != nil {
			return err
		}
		fresh, _ := res.RowsAffected()
		v = Video{MediaSHA256: up.SHA256, OwnerID: p.User.ID, OrgID: p.Org.ID, OrgPath: p.Org.Path, OriginalName: up.Name}
		applyMeta(&v, m, now)
		if err := insertVideo(ctx, tx, &v, m, now); err != nil {
			return err
		}
		if s.bus != nil {
			if err := events.PublishTx(ctx, tx, s.bus, TopicUploaded, UploadEvent{Actor: ViewActor{UserID: p.User.ID, Name: p.User.DisplayName, OrgID: p.Org.ID},
				Object: ViewObject{VideoID: v.ID, Title: v.Title, OrgID: v.OrgID}, At: now}); err != nil {
				return err
			}
		}
		if fresh == 1 && s.jobs != nil {
			return s.jobs.EnqueueProcess(ctx, tx, up.SHA256)
		}
		return nil
	})
	if err != nil {
		return Video{}, err
	}
	return s.Video(ctx, v.ID)
}

// storeOriginal puts an upload's file into the blob store: moved when the
// store can adopt it (its hash was computed as the bytes arrived), else
// copied and hashed again.
func (s *Service) storeOriginal(ctx context.Context, up Uploaded) error {
	if a, ok := s.blobs.(blob.Adopter); ok && up.Move {
		if _, err := a.Adopt(ctx, up.Path, up.SHA256); err != nil {
			return fmt.Errorf("store original: %w", err)
		}
		return nil
	}
	f, err := os.Open(up.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := s.blobs.Put(ctx, f)
	if err != nil {
		return fmt.Errorf("store original: %w", err)
	}
	if info.Key != up.SHA256 {
		return fmt.Errorf("upload %s: hash on arrival %s, stored %s", up.Path, up.SHA256, info.Key)
	}
	return nil
}

func fileExt(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 6 {
		return name[i:]
	}
	return ""
}

func applyMeta(v *Video, m Meta, now int64) {
	v.Title, v.Description, v.Tags, v.Subject, v.Grade = m.Title, m.Description, m.Tags, m.Subject, m.Grade
	v.Visibility, v.AllowDownload = m.Visibility, m.AllowDownload
	v.SharedOrgs = nil
	if m.Visibility == Orgs {
		v.SharedOrgs = m.Orgs
	}
	if m.Visibility == Link {
		if v.LinkToken == "" {
			v.LinkToken = randomToken()
		}
		v.LinkExpiresAt = now + int64(m.LinkDays)*86_400_000
		v.linkCodeHash = ""
		if m.LinkCode != "" {
			v.linkCodeHash = hashCode(v.LinkToken, m.LinkCode)
		}
	}
	v.HasLinkCode = v.linkCodeHash != ""
}

func randomToken() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashCode binds an extraction code to its link, case-insensitively.
func hashCode(token, code string) string {
	h := sha256.Sum256([]byte(token + ":" + strings.ToLower(code)))
	return hex.EncodeToString(h[:])
}

func insertVideo(ctx context.Context, tx db.Querier, v *Video, m Meta, now int64) error {
	id, err := db.InsertID(ctx, tx, `INSERT INTO share_videos (media_sha256, owner_id, org_id, org_path, title, description, tags, subject, grade,
		original_name, visibility, allow_download, link_token, link_code_hash, link_expires_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.MediaSHA256, v.OwnerID, v.OrgID, v.OrgPath, v.Title, v.Description, v.Tags, v.Subject, v.Grade, v.OriginalName,
		v.Visibility, v.AllowDownload, v.LinkToken, v.linkCodeHash, v.LinkExpiresAt, now, now)
	if err != nil {
		return err
	}
	v.ID, v.CreatedAt, v.UpdatedAt = id, now, now
	return writeAudience(ctx, tx, v)
}

// writeAudience rewrites a video's chosen organisations and search terms.
func writeAudience(ctx context.Context, tx db.Querier, v *Video) error {
	if _, err := tx.Exec(ctx, "DELETE FROM share_video_orgs WHERE video_id = ?", v.ID); err != nil {
		return err
	}
	for _, o := range v.SharedOrgs {
		if _, err := tx.Exec(ctx, "INSERT INTO share_video_orgs (video_id, org_id) VALUES (?, ?) ON CONFLICT DO NOTHING", v.ID, o); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, "DELETE FROM share_terms WHERE video_id = ?", v.ID); err != nil {
		return err
	}
	for _, t := range Terms(strings.Join([]string{v.Title, v.Description, v.Tags, v.Subject, v.Grade}, " ")) {
		if _, err := tx.Exec(ctx, "INSERT INTO share_terms (term, video_id) VALUES (?, ?) ON CONFLICT DO NOTHING", t, v.ID); err != nil {
			return err
		}
	}
	return nil
}

const videoCols = `v.id, v.media_sha256, v.owner_id, v.org_id, v.org_path, v.title, v.description, v.tags, v.subject, v.grade,
	v.original_name, v.visibility, v.allow_download, v.link_token, v.link_code_hash, v.link_expires_at, v.views,
	v.taken_down_at, v.taken_down_by, v.taken_down_reason, v.created_at, v.updated_at,
	m.size, m.state, m.state_reason, m.playable, m.progress, m.duration_ms, m.width, m.height, m.video_codec, m.audio_codec, m.created_at, m.updated_at`

func scanVideo(row interface{ Scan(...any) error }) (Video, error) {
	var v Video
	m := &Media{}
	err := row.Scan(&v.ID, &v.MediaSHA256, &v.OwnerID, &v.OrgID, &v.OrgPath, &v.Title, &v.Description, &v.Tags, &v.Subject, &v.Grade,
		&v.OriginalName, &v.Visibility, &v.AllowDownload, &v.LinkToken, &v.linkCodeHash, &v.LinkExpiresAt, &v.Views,
		&v.TakenDownAt, &v.TakenDownBy, &v.TakenDownWhy, &v.CreatedAt, &v.UpdatedAt,
		&m.Size, &m.State, &m.StateReason, &m.Playable, &m.Progress, &m.DurationMS, &m.Width, &m.Height, &m.VideoCodec, &m.AudioCodec,
		&m.CreatedAt, &m.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return v, apperr.New(apperr.NotFound, "err.not_found")
	}
	m.SHA256 = v.MediaSHA256
	v.Media = m
	v.HasLinkCode = v.linkCodeHash != ""
	return v, err
}

// Video returns a video with its media, whoever asks (callers check access).
func (s *Service) Video(ctx context.Context, id int64) (Video, error) {
	v, err := scanVideo(s.db.QueryRow(ctx, "SELECT "+videoCols+" FROM share_videos v JOIN share_media m ON m.sha256 = v.media_sha256 WHERE v.id = ?", id))
	if err != nil {
		return v, err
	}
	if v.Visibility == Orgs {
		v.SharedOrgs, err = db.Column[int64](ctx, s.db, "SELECT org_id FROM share_video_orgs WHERE video_id = ? ORDER BY org_id", id)
		return v, err
	}
	return v, nil
}

// ancestors lists the ids in a materialised path "/1/4/17/".
func ancestors(path string) []int64 {
	var out []int64
	for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
		if id, err := strconv.ParseInt(part, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out
}

// CanManage reports whether p may change or take down v: its owner, or a
// manager over the owner's organisation.
func CanManage(p *identity.Principal, v Video) bool {
	if p == nil {
		return false
	}
	return v.OwnerID == p.User.ID || p.CanIn(PermManage, identity.Org{ID: v.OrgID, Path: v.OrgPath})
}

// CanView reports whether p (nil: nobody signed in) may watch v, given a
// link token and extraction code from the request (empty when none).
func CanView(p *identity.Principal, v Video, token, code string, now int64) bool {
	if CanManage(p, v) {
		return true
	}
	if v.TakenDownAt != 0 {
		return false
	}
	if v.Visibility == Link && token != "" {
		if subtle.ConstantTimeCompare([]byte(token), []byte(v.LinkToken)) != 1 || v.LinkExpiresAt <= now {
			return false
		}
		return v.linkCodeHash == "" || subtle.ConstantTimeCompare([]byte(hashCode(v.LinkToken, code)), []byte(v.linkCodeHash)) == 1
	}
	if p == nil || !p.Can(PermView) {
		return false
	}
	switch v.Visibility {
	case Everyone:
		return true
	case School:
		return sharedWith(p, v, nil)
	case Orgs:
		return sharedWith(p, v, v.SharedOrgs)
	}
	return false
}

// sharedWith reports whether a video for the owner's school (and orgs)
// reaches the viewer: the viewer belongs to the owner's organisation or a
// chosen one (or below them), or holds a grant over the owner's
// organisation or above it (the school's leaders, the center, the bureau).
func sharedWith(p *identity.Principal, v Video, orgs []int64) bool {
	mine := map[int64]bool{}
	for _, id := range ancestors(p.Org.Path) {
		mine[id] = true
	}
	if mine[v.OrgID] {
		return true
	}
	for _, o := range orgs {
		if mine[o] {
			return true
		}
	}
	return p.CanIn(PermView, identity.Org{ID: v.OrgID, Path: v.OrgPath})
}
