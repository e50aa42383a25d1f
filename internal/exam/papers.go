package exam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"jnedu/internal/exam/paper"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
)

// Paper states.
const (
	Draft     = "draft"
	Published = "published"
)

// PaperDoc is one stored version of a paper.
type PaperDoc struct {
	ID          int64           `json:"id"`
	Code        string          `json:"code"`
	Version     int             `json:"version"`
	State       string          `json:"state"`
	Title       string          `json:"title"`
	Variant     string          `json:"variant"`
	Problems    int             `json:"problems"`
	CreatedAt   int64           `json:"created_at"`
	UpdatedAt   int64           `json:"updated_at"`
	PublishedAt int64           `json:"published_at,omitempty"`
	Paper       paper.Paper     `json:"paper"`
	Issues      []paper.Problem `json:"issues,omitempty"`
}

const paperCols = "id, code, version, state, title, variant, problems, created_at, updated_at, published_at, doc"

func scanPaper(row interface{ Scan(...any) error }) (PaperDoc, error) {
	var p PaperDoc
	var doc string
	if err := row.Scan(&p.ID, &p.Code, &p.Version, &p.State, &p.Title, &p.Variant, &p.Problems, &p.CreatedAt, &p.UpdatedAt, &p.PublishedAt, &doc); err != nil {
		return p, notFoundOr(err)
	}
	if err := json.Unmarshal([]byte(doc), &p.Paper); err != nil {
		return p, fmt.Errorf("paper %d: %w", p.ID, err)
	}
	p.Issues = p.Paper.Validate()
	return p, nil
}

// MaxPaperJSON bounds a paper document.
const MaxPaperJSON = 1 << 20

func (s *Service) authorOnly(ctx context.Context, p *identity.Principal) error {
	if !s.CanAuthor(ctx, p) {
		return notFound()
	}
	return nil
}

// Paper returns one version.
func (s *Service) Paper(ctx context.Context, id int64) (PaperDoc, error) {
	return scanPaper(s.db.QueryRow(ctx, "SELECT "+paperCols+" FROM exam_papers WHERE id = ?", id))
}

// PaperFor returns a version if p may author papers.
func (s *Service) PaperFor(ctx context.Context, p *identity.Principal, id int64) (PaperDoc, error) {
	if err := s.authorOnly(ctx, p); err != nil {
		return PaperDoc{}, err
	}
	return s.Paper(ctx, id)
}

// Papers lists the newest version of every paper (and the newest
// published one when a draft is newer).
func (s *Service) Papers(ctx context.Context, p *identity.Principal) ([]PaperDoc, error) {
	if !s.CanAuthor(ctx, p) {
		return nil, nil
	}
	rows, err := s.db.Query(ctx, "SELECT "+paperCols+` FROM exam_papers e WHERE version = (SELECT MAX(version) FROM exam_papers x WHERE x.code = e.code)
		OR id = (SELECT MAX(id) FROM exam_papers y WHERE y.code = e.code AND y.state = 'published') ORDER BY code, version LIMIT 1000`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PaperDoc
	for rows.Next() {
		d, err := scanPaper(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// PublishedPaper returns the newest published version of a paper code.
func (s *Service) PublishedPaper(ctx context.Context, code string) (PaperDoc, error) {
	return scanPaper(s.db.QueryRow(ctx, "SELECT "+paperCols+" FROM exam_papers WHERE code = ? AND state = 'published' ORDER BY version DESC LIMIT 1", code))
}

func encodePaper(pp *paper.Paper) (string, error) {
	b, err := json.Marshal(pp)
	if err != nil {
		return "", err
	}
	if len(b) > MaxPaperJSON {
		return "", apperr.New(apperr.TooLarge, "exam.err_paper_large", MaxPaperJSON>>10)
	}
	return string(b), nil
}

// DecodePaper reads a paper document strictly (unknown fields refused).
func DecodePaper(r io.Reader) (paper.Paper, error) {
	var pp paper.Paper
	dec := json.NewDecoder(io.LimitReader(r, MaxPaperJSON+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pp); err != nil {
		return pp, apperr.Wrap(apperr.Invalid, err, "exam.err_paper_json", err.Error())
	}
	return pp, nil
}

// CreatePaper stores a new paper as draft version 1. The code must be new.
func (s *Service) CreatePaper(ctx context.Context, p *identity.Principal, pp paper.Paper) (PaperDoc, error) {
	if p != nil {
		if err := s.authorOnly(ctx, p); err != nil {
			return PaperDoc{}, err
		}
	}
	if !validCode(pp.Code) {
		return PaperDoc{}, apperr.Field("code", "exam.paper.bad_code")
	}
	doc, err := encodePaper(&pp)
	if err != nil {
		return PaperDoc{}, err
	}
	now := s.ms()
	var uid int64
	if p != nil {
		uid = p.User.ID
	}
	id, err := db.InsertID(ctx, s.db, `INSERT INTO exam_papers (code, version, state, title, variant, doc, problems, created_by, created_at, updated_at)
		VALUES (?, 1, 'draft', ?, ?, ?, ?, ?, ?, ?)`, pp.Code, pp.Title, pp.Variant, doc, len(pp.Validate()), uid, now, now)
	if err != nil {
		if db.IsUniqueViolation(err) {
			return PaperDoc{}, apperr.Field("code", "exam.err_paper_code_taken")
		}
		return PaperDoc{}, err
	}
	return s.Paper(ctx, id)
}

// SavePaper stores an edit of version id. A draft is changed in place; a
// published version stays as it is and the edit becomes a new draft
// version (or replaces the newer draft that already exists). The code
// cannot change. The result carries the validation problems.
func (s *Service) SavePaper(ctx context.Context, p *identity.Principal, id int64, pp paper.Paper) (PaperDoc, error) {
	if p != nil {
		if err := s.authorOnly(ctx, p); err != nil {
			return PaperDoc{}, err
		}
	}
	cur, err := s.Paper(ctx, id)
	if err != nil {
		return cur, err
	}
	if pp.Code != cur.Code {
		return cur, apperr.Field("code", "exam.err_paper_code_fixed")
	}
	doc, err := encodePaper(&pp)
	if err != nil {
		return cur, err
	}
	var out int64
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		now := s.ms()
		var latestID int64
		var latestVer int
		var latestState string
		if err := tx.QueryRow(ctx, "SELECT id, version, state FROM exam_papers WHERE code = ? ORDER BY version DESC LIMIT 1", cur.Code).
			Scan(&latestID, &latestVer, &latestState); err != nil {
			return err
		}
		if latestState == Draft && (latestID == id || cur.State == Published) {
			out = latestID
			_, err := tx.Exec(ctx, "UPDATE exam_papers SET doc = ?, title = ?, variant = ?, problems = ?, updated_at = ? WHERE id = ?",
				doc, pp.Title, pp.Variant, len(pp.Validate()), now, latestID)
			return err
		}
		if cur.State == Draft {
			return apperr.New(apperr.Conflict, "exam.err_paper_old_draft")
		}
		var uid int64
		if p != nil {
			uid = p.User.ID
		}
		out, err = db.InsertID(ctx, tx, `INSERT INTO exam_papers (code, version, state, title, variant, doc, problems, created_by, created_at, updated_at)
			VALUES (?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?)`, cur.Code, latestVer+1, pp.Title, pp.Variant, doc, len(pp.Validate()), uid, now, now)
		return err
	})
	if err != nil {
		return cur, err
	}
	return s.Paper(ctx, out)
}

// ProblemsError turns validation problems into a field error.
func ProblemsError(ps []paper.Problem) error {
	f := map[string]string{}
	for _, p := range ps {
		if _, ok := f[p.Path]; !ok {
			f[p.Path] = p.Key
		}
	}
	return &apperr.Error{Code: apperr.Invalid, Message: "exam.err_paper_problems", Args: []any{len(ps)}, Fields: f}
}

// PublishPaper makes a draft the published version: only a paper without
// problems, every file it names stored. Published versions never change.
func (s *Service) PublishPaper(ctx context.Context, p *identity.Principal, id int64) (PaperDoc, error) {
	if p != nil {
		if err := s.authorOnly(ctx, p); err != nil {
			return PaperDoc{}, err
		}
	}
	d, err := s.Paper(ctx, id)
	if err != nil {
		return d, err
	}
	if d.State != Draft {
		return d, apperr.New(apperr.Conflict, "exam.err_paper_published")
	}
	if len(d.Issues) > 0 {
		return d, ProblemsError(d.Issues)
	}
	for _, h := range d.Paper.Blobs() {
		if _, err := s.MediaInfo(ctx, h); err != nil {
			return d, apperr.New(apperr.Invalid, "exam.err_paper_missing_file", h[:12])
		}
	}
	res, err := s.db.Exec(ctx, "UPDATE exam_papers SET state = 'published', published_at = ?, updated_at = ? WHERE id = ? AND state = 'draft'", s.ms(), s.ms(), id)
	if err != nil {
		return d, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return d, apperr.New(apperr.Conflict, "exam.err_paper_published")
	}
	return s.Paper(ctx, id)
}

// SynthesizeDraft gives every prompt of a draft that has a script
// (audio_text) but no audio a synthesized recording, and saves the draft.
func (s *Service) SynthesizeDraft(ctx context.Context, p *identity.Principal, id int64) (PaperDoc, int, error) {
	d, err := s.PaperFor(ctx, p, id)
	if p == nil {
		d, err = s.Paper(ctx, id)
	}
	if err != nil {
		return d, 0, err
	}
	if d.State != Draft {
		return d, 0, apperr.New(apperr.Conflict, "exam.err_paper_published")
	}
	n := 0
	var serr error
	fill := func(pr *paper.Prompt) {
		if serr != nil || pr.Audio != "" || strings.TrimSpace(pr.AudioText) == "" {
			return
		}
		h, err := s.Synthesize(ctx, pr.AudioText)
		if err != nil {
			serr = err
			return
		}
		pr.Audio = h
		n++
	}
	pp := d.Paper
	fill(&pp.Intro)
	for si := range pp.Sections {
		fill(&pp.Sections[si].Intro)
		for ii := range pp.Sections[si].Items {
			fill(&pp.Sections[si].Items[ii].Prompt)
		}
	}
	if serr != nil {
		return d, n, serr
	}
	if n == 0 {
		return d, 0, nil
	}
	d, err = s.SavePaper(ctx, p, id, pp)
	return d, n, err
}

// UploadImage stores a prompt image (JPEG or PNG).
func (s *Service) UploadImage(ctx context.Context, r io.Reader) (string, error) {
	return s.putImage(ctx, r, "image")
}

func (s *Service) putImage(ctx context.Context, r io.Reader, kind string) (string, error) {
	b, mime, err := readImage(r, s.cfg.MaxImageBytes)
	if err != nil {
		return "", err
	}
	if kind == "photo" {
		if err := checkPhoto(b); err != nil {
			return "", err
		}
	}
	info, err := s.blobs.Put(ctx, bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	return info.Key, s.addMedia(ctx, info.Key, kind, mime, info.Size, 0, "")
}

// readBlob reads a whole stored file (bounded).
func (s *Service) readBlob(ctx context.Context, key string, max int64) ([]byte, error) {
	rc, _, err := s.blobs.Open(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, notFound()
	} else if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("blob %s larger than %d bytes", key, max)
	}
	return b, nil
}

func validCode(c string) bool {
	if len(c) < 1 || len(c) > 64 {
		return false
	}
	for _, r := range c {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
