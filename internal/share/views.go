package share

import (
	"context"
	"database/sql"
	"errors"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
)

// ViewReport is what the player sends while someone watches.
type ViewReport struct {
	PositionMS int64 `json:"position_ms"` // where the viewer is now
	WatchedMS  int64 `json:"watched_ms"`  // played time since the last report
	Ended      bool  `json:"ended"`
}

// Resume returns where p left v (0 for the start).
func (s *Service) Resume(ctx context.Context, p *identity.Principal, videoID int64) (int64, error) {
	var pos int64
	err := s.db.QueryRow(ctx, "SELECT position_ms FROM share_views WHERE video_id = ? AND user_id = ?", videoID, p.User.ID).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return pos, err
}

// RecordView stores a viewer's progress, counts the first view of each
// person, and publishes learning records (played, progressed, completed)
// through the outbox. The caller has checked that p may watch v.
func (s *Service) RecordView(ctx context.Context, p *identity.Principal, v Video, r ViewReport, activityBase string) error {
	dur := int64(0)
	if v.Media != nil {
		dur = v.Media.DurationMS
	}
	if r.PositionMS < 0 || r.WatchedMS < 0 || r.WatchedMS > 10*60_000 || (dur > 0 && r.PositionMS > dur+5_000) {
		return apperr.New(apperr.Invalid, "share.err_view_report")
	}
	now := s.ms()
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		var watched int64
		var completed bool
		err := tx.QueryRow(ctx, "SELECT watched_ms, completed FROM share_views WHERE video_id = ? AND user_id = ?", v.ID, p.User.ID).Scan(&watched, &completed)
		first := errors.Is(err, sql.ErrNoRows)
		if err != nil && !first {
			return err
		}
		watched += r.WatchedMS
		done := completed || r.Ended || (dur > 0 && r.PositionMS >= dur*95/100)
		verb := VerbProgressd
		switch {
		case first:
			verb = VerbPlayed
			if _, err := tx.Exec(ctx, `INSERT INTO share_views (video_id, user_id, org_id, position_ms, watched_ms, completed, started_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, v.ID, p.User.ID, p.Org.ID, r.PositionMS, watched, done, now, now); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "UPDATE share_videos SET views = views + 1 WHERE id = ?", v.ID); err != nil {
				return err
			}
		default:
			if _, err := tx.Exec(ctx, "UPDATE share_views SET position_ms = ?, watched_ms = ?, completed = ?, updated_at = ? WHERE video_id = ? AND user_id = ?",
				r.PositionMS, watched, done, now, v.ID, p.User.ID); err != nil {
				return err
			}
		}
		if done && !completed {
			verb = VerbCompleted
		}
		if s.bus == nil {
			return nil
		}
		progress := 0.0
		if dur > 0 {
			progress = min(1, float64(r.PositionMS)/float64(dur))
		}
		return events.PublishTx(ctx, tx, s.bus, TopicViewed, ViewEvent{
			Actor:  ViewActor{UserID: p.User.ID, Name: p.User.DisplayName, OrgID: p.Org.ID},
			Verb:   verb,
			Object: ViewObject{ID: ActivityID(activityBase, v.ID), VideoID: v.ID, Title: v.Title, OrgID: v.OrgID, Duration: dur},
			Result: ViewResult{PositionMS: r.PositionMS, WatchedMS: watched, Progress: progress, Completed: done},
			At:     now,
		})
	})
}

// OrgViews counts distinct viewers per organisation of the viewers.
func (s *Service) OrgViews(ctx context.Context, videoID int64) (map[int64]int, error) {
	rows, err := s.db.Query(ctx, "SELECT org_id, COUNT(*) FROM share_views WHERE video_id = ? GROUP BY org_id", videoID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var org int64
		var n int
		if err := rows.Scan(&org, &n); err != nil {
			return nil, err
		}
		out[org] = n
	}
	return out, rows.Err()
}
