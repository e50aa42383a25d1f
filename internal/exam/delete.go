package exam

import (
	"context"
	"strings"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
)

// Deleting sessions and rooms, and clearing seats, is allowed only while it
// cannot lose anything; a refusal names the reason.

// firstSite runs a query selecting site codes and returns the first ("" for
// none).
func firstSite(ctx context.Context, q db.Querier, query string, args ...any) (string, error) {
	var site string
	err := q.QueryRow(ctx, query+" ORDER BY site_code LIMIT 1", args...).Scan(&site)
	if err != nil && apperr.CodeOf(notFoundOr(err)) == apperr.NotFound {
		return "", nil
	}
	return site, err
}

// DeleteSession deletes a session with its paper variants, keys and sealed
// papers. It is refused when the session's key was released to a site, a
// site sent answers for it, a site downloaded a package listing it (the
// site may be preparing it), or candidates are seated in it or asked for
// it at import.
func (s *Service) DeleteSession(ctx context.Context, p *identity.Principal, examID int64, code string) error {
	if _, err := s.MayManage(ctx, p, examID); err != nil {
		return err
	}
	code = strings.TrimSpace(code)
	x, err := s.session(ctx, examID, code)
	if err != nil {
		return apperr.New(apperr.NotFound, "exam.err_no_session", code)
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		site, err := firstSite(ctx, tx, "SELECT site_code FROM exam_keys WHERE session_id = ? AND released_at > 0", x.ID)
		if err != nil {
			return err
		}
		if site != "" {
			return apperr.New(apperr.Conflict, "exam.err_delete_released", code, site)
		}
		if site, err = firstSite(ctx, tx, "SELECT site_code FROM exam_session_sites WHERE session_id = ? AND answers_at > 0", x.ID); err != nil {
			return err
		}
		if site != "" {
			return apperr.New(apperr.Conflict, "exam.err_delete_answers", site, code)
		}
		if site, err = firstSite(ctx, tx, "SELECT site_code FROM exam_session_sites WHERE session_id = ? AND downloaded_at > 0", x.ID); err != nil {
			return err
		}
		if site != "" {
			return apperr.New(apperr.Conflict, "exam.err_delete_downloaded", site, code)
		}
		var seated, wished int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM exam_candidates WHERE exam_id = ? AND session_code = ?", examID, code).Scan(&seated); err != nil {
			return err
		}
		if seated > 0 {
			return apperr.New(apperr.Conflict, "exam.err_delete_seated", seated, code)
		}
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM exam_candidates WHERE exam_id = ? AND want_session = ?", examID, code).Scan(&wished); err != nil {
			return err
		}
		if wished > 0 {
			return apperr.New(apperr.Conflict, "exam.err_delete_wished", wished, code)
		}
		for _, q := range []string{
			"DELETE FROM exam_sealed WHERE session_id = ?",
			"DELETE FROM exam_keys WHERE session_id = ?",
			"DELETE FROM exam_session_sites WHERE session_id = ?",
			"DELETE FROM exam_session_papers WHERE session_id = ?",
			"DELETE FROM exam_sessions WHERE id = ?",
		} {
			if _, err := tx.Exec(ctx, q, x.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteRoom deletes a room of a site. It is refused while candidates are
// seated in it, once a session key was released to the site (the exam is
// under way there), and — for the site's last room, which takes the exam
// away from the site — once the site downloaded the exam's package or
// while candidates asked for the site at import.
func (s *Service) DeleteRoom(ctx context.Context, p *identity.Principal, examID int64, site, code string) error {
	if _, err := s.MayManage(ctx, p, examID); err != nil {
		return err
	}
	site, code = strings.TrimSpace(site), strings.TrimSpace(code)
	var id int64
	if err := s.db.QueryRow(ctx, "SELECT id FROM exam_rooms WHERE exam_id = ? AND site_code = ? AND code = ?", examID, site, code).Scan(&id); err != nil {
		if apperr.CodeOf(notFoundOr(err)) == apperr.NotFound {
			return apperr.New(apperr.NotFound, "exam.err_no_room", site, code)
		}
		return err
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM exam_candidates WHERE exam_id = ? AND site_code = ? AND room_code = ?",
			examID, site, code).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return apperr.New(apperr.Conflict, "exam.err_room_seated", site, code, n)
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM exam_keys k JOIN exam_sessions x ON x.id = k.session_id
			WHERE x.exam_id = ? AND k.site_code = ? AND k.released_at > 0`, examID, site).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return apperr.New(apperr.Conflict, "exam.err_room_released", site)
		}
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM exam_rooms WHERE exam_id = ? AND site_code = ?", examID, site).Scan(&n); err != nil {
			return err
		}
		if n == 1 {
			var downloaded int64
			err := tx.QueryRow(ctx, "SELECT downloaded_at FROM exam_site_revisions WHERE exam_id = ? AND site_code = ?", examID, site).Scan(&downloaded)
			if err != nil && apperr.CodeOf(notFoundOr(err)) != apperr.NotFound {
				return err
			}
			if downloaded > 0 {
				return apperr.New(apperr.Conflict, "exam.err_room_last_downloaded", site)
			}
			if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM exam_candidates WHERE exam_id = ? AND want_site = ?", examID, site).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return apperr.New(apperr.Conflict, "exam.err_room_last_wished", site, n)
			}
		}
		_, err := tx.Exec(ctx, "DELETE FROM exam_rooms WHERE id = ?", id)
		return err
	})
}

// seatsFrozen refuses a change of the seating once a session key was
// released or a site sent answers: the seating is then the roster the
// sites run and marking checks against.
func seatsFrozen(ctx context.Context, q db.Querier, examID int64) error {
	var released, answers int
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM exam_keys k JOIN exam_sessions x ON x.id = k.session_id
		WHERE x.exam_id = ? AND k.released_at > 0`, examID).Scan(&released); err != nil {
		return err
	}
	if released > 0 {
		return apperr.New(apperr.Conflict, "exam.err_seats_released")
	}
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM exam_session_sites e JOIN exam_sessions x ON x.id = e.session_id
		WHERE x.exam_id = ? AND e.answers_at > 0`, examID).Scan(&answers); err != nil {
		return err
	}
	if answers > 0 {
		return apperr.New(apperr.Conflict, "exam.err_seats_answers")
	}
	return nil
}

// ClearSeats takes every candidate of an exam out of their seat (before a
// room or session with candidates in it can be deleted; seats are assigned
// again afterwards). Refused, as assigning is, once the seating is frozen.
func (s *Service) ClearSeats(ctx context.Context, p *identity.Principal, examID int64) (int, error) {
	if _, err := s.MayManage(ctx, p, examID); err != nil {
		return 0, err
	}
	var n int64
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		if err := seatsFrozen(ctx, tx, examID); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE exam_candidates SET site_code = '', session_code = '', room_code = '', seat = 0, variant = ''
			WHERE exam_id = ? AND seat > 0`, examID)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}
