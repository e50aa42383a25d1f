package exam

import (
	"context"
	"fmt"
	"strings"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
)

// ---- what the sites did with a session ----

type sessionSite struct {
	session int64
	site    string
}

type keyState struct {
	rekeys                  int
	rekeyedAt               int64
	downloadedAt, answersAt int64
}

// keyStates reads, for every session × site of an exam, the re-keying
// count and what the site did (downloaded, sent answers).
func (s *Service) keyStates(ctx context.Context, examID int64) (map[sessionSite]keyState, error) {
	out := map[sessionSite]keyState{}
	rows, err := s.db.Query(ctx, `SELECT k.session_id, k.site_code, k.rekeys, k.rekeyed_at FROM exam_keys k
		JOIN exam_sessions x ON x.id = k.session_id WHERE x.exam_id = ?`, examID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var k sessionSite
		var st keyState
		if err := rows.Scan(&k.session, &k.site, &st.rekeys, &st.rekeyedAt); err != nil {
			rows.Close()
			return nil, err
		}
		out[k] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.Query(ctx, `SELECT e.session_id, e.site_code, e.downloaded_at, e.answers_at FROM exam_session_sites e
		JOIN exam_sessions x ON x.id = e.session_id WHERE x.exam_id = ?`, examID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k sessionSite
		var dl, ans int64
		if err := rows.Scan(&k.session, &k.site, &dl, &ans); err != nil {
			return nil, err
		}
		st := out[k]
		st.downloadedAt, st.answersAt = dl, ans
		out[k] = st
	}
	return out, rows.Err()
}

// DownloadPackage is Package for the site node that downloads it: it also
// records that the site holds the exam's package and each session in it
// (from then on a session cannot be deleted, nor the site's last room).
func (s *Service) DownloadPackage(ctx context.Context, p *identity.Principal, site string) (bundle.SitePackage, error) {
	pkg, err := s.Package(ctx, p, site)
	if err != nil {
		return pkg, err
	}
	e, err := s.ExamByCode(ctx, pkg.Exam.Code)
	if err != nil {
		return pkg, err
	}
	now := s.ms()
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE exam_site_revisions SET downloaded_at = ? WHERE exam_id = ? AND site_code = ? AND downloaded_at = 0",
			now, e.ID, pkg.Site.Code); err != nil {
			return err
		}
		for _, x := range pkg.Sessions {
			// A session deleted meanwhile is not recorded (the site's next
			// download drops it).
			if _, err := tx.Exec(ctx, `INSERT INTO exam_session_sites (session_id, site_code, downloaded_at)
				SELECT id, ?, ? FROM exam_sessions WHERE exam_id = ? AND code = ?
				ON CONFLICT (session_id, site_code) DO UPDATE SET downloaded_at = excluded.downloaded_at
				WHERE exam_session_sites.downloaded_at = 0`, pkg.Site.Code, now, e.ID, x.Code); err != nil {
				return err
			}
		}
		return nil
	})
	return pkg, err
}

// NoteAnswersReceived records that a site sent a signed answer package for
// a session (marking asks for the session's roster once the signature
// verified): from then on the session's key there cannot be replaced.
func (s *Service) NoteAnswersReceived(ctx context.Context, exam, site, session string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO exam_session_sites (session_id, site_code, answers_at)
		SELECT x.id, ?, ? FROM exam_sessions x JOIN exam_exams e ON e.id = x.exam_id WHERE e.code = ? AND x.code = ?
		ON CONFLICT (session_id, site_code) DO UPDATE SET answers_at = excluded.answers_at
		WHERE exam_session_sites.answers_at = 0`, site, s.ms(), exam, session)
	return err
}

// ---- re-keying ----

// RekeyRequest names the session × site whose key is replaced.
type RekeyRequest struct {
	Session string `json:"session"`
	Site    string `json:"site"`
}

// Rekey replaces the key of a session at one site (a sealed-code envelope
// lost, a code leaked) with a new random key: the papers are sealed again
// with it, the site package gets a new revision with the new key check, and
// the old key and its sealed code open nothing any more. It is refused once
// the key was released or the site sent answers for the session. The new
// sealed code is printed from the keys page (the old envelope is void).
func (s *Service) Rekey(ctx context.Context, p *identity.Principal, examID int64, in RekeyRequest) (KeyRow, error) {
	e, err := s.MayManage(ctx, p, examID)
	if err != nil {
		return KeyRow{}, err
	}
	in.Session, in.Site = strings.TrimSpace(in.Session), strings.TrimSpace(in.Site)
	x, err := s.session(ctx, examID, in.Session)
	if err != nil {
		return KeyRow{}, apperr.New(apperr.NotFound, "exam.err_no_session", in.Session)
	}
	sites, err := s.examSites(ctx, examID)
	if err != nil {
		return KeyRow{}, err
	}
	found := false
	for _, st := range sites {
		found = found || st == in.Site
	}
	if !found {
		return KeyRow{}, apperr.New(apperr.NotFound, "exam.err_no_exam_site", in.Site)
	}
	o, err := s.siteOrg(ctx, in.Site)
	if err != nil {
		return KeyRow{}, err
	}
	// The key row exists from here on (made on first use).
	if _, _, err := s.sessionKey(ctx, x.ID, in.Site); err != nil {
		return KeyRow{}, err
	}
	nk, err := bundle.NewKey()
	if err != nil {
		return KeyRow{}, err
	}
	enc, err := s.protect(nk[:], keyAD(x.ID, in.Site))
	if err != nil {
		return KeyRow{}, err
	}
	now := s.ms()
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		var released, answers int64
		if err := tx.QueryRow(ctx, "SELECT released_at FROM exam_keys WHERE session_id = ? AND site_code = ?", x.ID, in.Site).Scan(&released); err != nil {
			return err
		}
		if released > 0 {
			return apperr.New(apperr.Conflict, "exam.err_rekey_released", in.Session, in.Site)
		}
		err := tx.QueryRow(ctx, "SELECT answers_at FROM exam_session_sites WHERE session_id = ? AND site_code = ?", x.ID, in.Site).Scan(&answers)
		if err != nil && apperr.CodeOf(notFoundOr(err)) != apperr.NotFound {
			return err
		}
		if answers > 0 {
			return apperr.New(apperr.Conflict, "exam.err_rekey_answers", in.Site, in.Session)
		}
		res, err := tx.Exec(ctx, `UPDATE exam_keys SET key_enc = ?, key_check = ?, rekeys = rekeys + 1, rekeyed_at = ?
			WHERE session_id = ? AND site_code = ? AND released_at = 0`, enc, bundle.KeyCheck(nk), now, x.ID, in.Site)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.New(apperr.Conflict, "exam.err_rekey_released", in.Session, in.Site)
		}
		_, err = tx.Exec(ctx, "DELETE FROM exam_sealed WHERE session_id = ? AND site_code = ?", x.ID, in.Site)
		return err
	})
	if err != nil {
		return KeyRow{}, err
	}
	// Seal the papers now, so the keys page and the next download are ready.
	k, rel, err := s.sessionKey(ctx, x.ID, in.Site)
	if err != nil {
		return KeyRow{}, err
	}
	for _, v := range x.Variants() {
		if _, err := s.sealed(ctx, e, x, in.Site, v, k); err != nil {
			return KeyRow{}, fmt.Errorf("sealing %s/%s/%s again: %w", in.Session, in.Site, v, err)
		}
	}
	states, err := s.keyStates(ctx, examID)
	if err != nil {
		return KeyRow{}, err
	}
	st := states[sessionSite{x.ID, in.Site}]
	return KeyRow{Session: x.Code, Site: in.Site, SiteName: o.Name, KeyCheck: bundle.KeyCheck(k), ReleasedAt: rel,
		Rekeys: st.rekeys, RekeyedAt: st.rekeyedAt, DownloadedAt: st.downloadedAt, AnswersAt: st.answersAt}, nil
}
