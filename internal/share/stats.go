package share

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"jnedu/internal/identity"
)

// Stats is the subsystem's state at a glance.
type Stats struct {
	Videos      int            `json:"videos"`
	TakenDown   int            `json:"taken_down"`
	Media       int            `json:"media"`
	MediaStates map[string]int `json:"media_states"`
	Originals   int64          `json:"original_bytes"`
	Outputs     int64          `json:"output_bytes"`
	Views       int64          `json:"views"`
	Uploading   int            `json:"uploads_in_progress"`
	PerOrg      []OrgStats     `json:"per_org"`
}

// OrgStats counts one organisation's videos and the views they had.
type OrgStats struct {
	OrgID  int64 `json:"org_id"`
	Videos int   `json:"videos"`
	Views  int64 `json:"views"`
	Bytes  int64 `json:"bytes"`
}

// Stats computes the figures.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	st := Stats{MediaStates: map[string]int{}}
	q := s.db
	if err := q.QueryRow(ctx, "SELECT COUNT(*), COALESCE(SUM(views), 0) FROM share_videos").Scan(&st.Videos, &st.Views); err != nil {
		return st, err
	}
	if err := q.QueryRow(ctx, "SELECT COUNT(*) FROM share_videos WHERE taken_down_at <> 0").Scan(&st.TakenDown); err != nil {
		return st, err
	}
	if err := q.QueryRow(ctx, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN original_kept THEN size ELSE 0 END), 0) FROM share_media").Scan(&st.Media, &st.Originals); err != nil {
		return st, err
	}
	if err := q.QueryRow(ctx, "SELECT COALESCE(SUM(size), 0) FROM share_files").Scan(&st.Outputs); err != nil {
		return st, err
	}
	if err := q.QueryRow(ctx, "SELECT COUNT(*) FROM share_uploads").Scan(&st.Uploading); err != nil {
		return st, err
	}
	rows, err := q.Query(ctx, "SELECT state, COUNT(*) FROM share_media GROUP BY state")
	if err != nil {
		return st, err
	}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			rows.Close()
			return st, err
		}
		st.MediaStates[state] = n
	}
	rows.Close()
	rows, err = q.Query(ctx, `SELECT v.org_id, COUNT(*), COALESCE(SUM(v.views), 0), COALESCE(SUM(m.size), 0)
		FROM share_videos v JOIN share_media m ON m.sha256 = v.media_sha256 GROUP BY v.org_id ORDER BY v.org_id`)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	for rows.Next() {
		var o OrgStats
		if err := rows.Scan(&o.OrgID, &o.Videos, &o.Views, &o.Bytes); err != nil {
			return st, err
		}
		st.PerOrg = append(st.PerOrg, o)
	}
	return st, rows.Err()
}

// ImportFile adds an existing recording from the server's disk as a video
// of p (bulk import of a folder of recordings). The title is the file name.
func (s *Service) ImportFile(ctx context.Context, p *identity.Principal, path string, m Meta) (Video, error) {
	f, err := os.Open(path)
	if err != nil {
		return Video{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Video{}, err
	}
	if !fi.Mode().IsRegular() {
		return Video{}, fmt.Errorf("%s is not a regular file", path)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Video{}, err
	}
	if n == 0 {
		return Video{}, fmt.Errorf("%s is empty", path)
	}
	name := filepath.Base(path)
	if m.Title == "" {
		m.Title = name[:len(name)-len(fileExt(name))]
	}
	return s.AddUpload(ctx, p, Uploaded{Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, Name: name}, m)
}
