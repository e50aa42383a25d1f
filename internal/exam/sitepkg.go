package exam

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/paper"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
)

// ---- session keys ----

func keyAD(sessionID int64, site string) string {
	return fmt.Sprintf("exam-key|%d|%s", sessionID, site)
}

// sessionKey returns the key of a session at a site, made on first use.
func (s *Service) sessionKey(ctx context.Context, sessionID int64, site string) (bundle.Key, int64, error) {
	var k bundle.Key
	var enc string
	var released int64
	err := s.db.QueryRow(ctx, "SELECT key_enc, released_at FROM exam_keys WHERE session_id = ? AND site_code = ?", sessionID, site).Scan(&enc, &released)
	if err != nil {
		if nf := notFoundOr(err); apperr.CodeOf(nf) != apperr.NotFound {
			return k, 0, err
		}
		nk, err := bundle.NewKey()
		if err != nil {
			return k, 0, err
		}
		e, err := s.protect(nk[:], keyAD(sessionID, site))
		if err != nil {
			return k, 0, err
		}
		if _, err := s.db.Exec(ctx, `INSERT INTO exam_keys (session_id, site_code, key_enc, key_check, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (session_id, site_code) DO NOTHING`, sessionID, site, e, bundle.KeyCheck(nk), s.ms()); err != nil {
			return k, 0, err
		}
		if err := s.db.QueryRow(ctx, "SELECT key_enc, released_at FROM exam_keys WHERE session_id = ? AND site_code = ?", sessionID, site).
			Scan(&enc, &released); err != nil {
			return k, 0, err
		}
	}
	raw, err := s.unprotect(enc, keyAD(sessionID, site))
	if err != nil || len(raw) != len(k) {
		return k, 0, fmt.Errorf("session key %d/%s: %v", sessionID, site, err)
	}
	copy(k[:], raw)
	return k, released, nil
}

// sealed returns the sealed paper of a variant for a session at a site
// under the key k (the session × site key the caller read once, so that a
// package's key check and its papers always go together). It seals the
// first time, and again when the session's paper or the key changed.
func (s *Service) sealed(ctx context.Context, e Exam, x Session, site, variant string, k bundle.Key) (bundle.SealedPaper, error) {
	pid := x.Papers[variant]
	check := bundle.KeyCheck(k)
	out := bundle.SealedPaper{Variant: variant, Code: x.Codes[variant]}
	var have int64
	var haveCheck string
	err := s.db.QueryRow(ctx, "SELECT paper_id, key_check, blob, size FROM exam_sealed WHERE session_id = ? AND site_code = ? AND variant = ?",
		x.ID, site, variant).Scan(&have, &haveCheck, &out.Blob, &out.Size)
	if err == nil && have == pid && haveCheck == check {
		return out, nil
	}
	d, err := s.Paper(ctx, pid)
	if err != nil {
		return out, err
	}
	pf, err := s.paperFile(ctx, d.Paper)
	if err != nil {
		return out, err
	}
	sealed, err := bundle.Seal(k, pf, bundle.PaperAD(e.Code, x.Code, variant))
	if err != nil {
		return out, err
	}
	info, err := s.blobs.Put(ctx, bytes.NewReader(sealed))
	if err != nil {
		return out, err
	}
	if err := s.addMedia(ctx, info.Key, "sealed", "application/octet-stream", info.Size, 0, ""); err != nil {
		return out, err
	}
	out.Blob, out.Size = info.Key, info.Size
	// Stored only while k is still the session's key: a seal made with a
	// key replaced meanwhile is not kept (the next call seals again).
	_, err = s.db.Exec(ctx, `INSERT INTO exam_sealed (session_id, site_code, variant, paper_id, key_check, blob, size)
		SELECT ?, ?, ?, ?, ?, ?, ? FROM exam_keys WHERE session_id = ? AND site_code = ? AND key_check = ?
		ON CONFLICT (session_id, site_code, variant) DO UPDATE SET paper_id = excluded.paper_id, key_check = excluded.key_check,
			blob = excluded.blob, size = excluded.size`,
		x.ID, site, variant, pid, check, out.Blob, out.Size, x.ID, site, check)
	return out, err
}

// paperFile is the plaintext of a sealed paper: what the candidate sees
// (no answers, no rubric) and its prompt files.
func (s *Service) paperFile(ctx context.Context, pp paper.Paper) ([]byte, error) {
	c := pp.ForCandidate()
	doc, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	pf := bundle.PaperFile{Paper: doc, Files: map[string][]byte{}}
	var total int64
	for _, h := range c.Blobs() {
		b, err := s.readBlob(ctx, h, bundle.MaxSealedBytes)
		if err != nil {
			return nil, fmt.Errorf("paper %s file %s: %w", pp.Code, h, err)
		}
		total += int64(len(b))
		if total > bundle.MaxSealedBytes/2 {
			return nil, apperr.New(apperr.TooLarge, "exam.err_paper_large", bundle.MaxSealedBytes>>20)
		}
		pf.Files[h] = b
	}
	return json.Marshal(pf)
}

// ---- site packages ----

// siteFor checks that p is exam staff of the site (the site API).
func (s *Service) siteFor(ctx context.Context, p *identity.Principal, site string) (identity.Org, error) {
	o, err := s.siteOrg(ctx, site)
	if err != nil {
		return o, err
	}
	if p != nil && !p.CanIn(PermSite, o) {
		return o, notFound()
	}
	return o, nil
}

// siteExam is the exam a site currently serves: the newest exam with rooms
// at the site.
func (s *Service) siteExam(ctx context.Context, site string) (Exam, error) {
	var id int64
	if err := s.db.QueryRow(ctx, "SELECT MAX(exam_id) FROM exam_rooms WHERE site_code = ?", site).Scan(&id); err != nil || id == 0 {
		return Exam{}, apperr.New(apperr.NotFound, "exam.err_site_no_exam")
	}
	return s.exam(ctx, id)
}

// Package builds the site's package (sealing what is not sealed yet).
// p nil means the system (tests, tools).
func (s *Service) Package(ctx context.Context, p *identity.Principal, site string) (bundle.SitePackage, error) {
	o, err := s.siteFor(ctx, p, site)
	if err != nil {
		return bundle.SitePackage{}, err
	}
	e, err := s.siteExam(ctx, o.Code)
	if err != nil {
		return bundle.SitePackage{}, err
	}
	pkg := bundle.SitePackage{Format: bundle.Format, Exam: bundle.Exam{Code: e.Code, Title: e.Title}, Site: bundle.Site{Code: o.Code, Name: o.Name},
		Sessions: []bundle.Session{}, Rooms: []bundle.Room{}, Candidates: []bundle.Candidate{}, Staff: []bundle.Staff{}, Blobs: []string{}}
	sessions, err := s.Sessions(ctx, e.ID)
	if err != nil {
		return pkg, err
	}
	for _, x := range sessions {
		k, _, err := s.sessionKey(ctx, x.ID, o.Code)
		if err != nil {
			return pkg, err
		}
		bs := bundle.Session{Code: x.Code, Title: x.Title, StartsAt: x.StartsAt, EndsAt: x.EndsAt, KeyCheck: bundle.KeyCheck(k)}
		for _, v := range x.Variants() {
			sp, err := s.sealed(ctx, e, x, o.Code, v, k)
			if err != nil {
				return pkg, err
			}
			bs.Papers = append(bs.Papers, sp)
			pkg.Blobs = append(pkg.Blobs, sp.Blob)
		}
		pkg.Sessions = append(pkg.Sessions, bs)
	}
	rooms, err := s.Rooms(ctx, e.ID, o.Code)
	if err != nil {
		return pkg, err
	}
	for _, r := range rooms {
		pkg.Rooms = append(pkg.Rooms, bundle.Room{Code: r.Code, Name: r.Name, Seats: r.Seats, Spare: r.Spare})
	}
	cands, err := s.Candidates(ctx, e.ID, CandidateFilter{Site: o.Code})
	if err != nil {
		return pkg, err
	}
	ids, err := s.idNumbers(ctx, e.ID, o.Code)
	if err != nil {
		return pkg, err
	}
	for _, c := range cands {
		id, ok := ids[c.Number]
		if !ok {
			return pkg, fmt.Errorf("candidate %s: no ID number", c.Number)
		}
		pkg.Candidates = append(pkg.Candidates, bundle.Candidate{Number: c.Number, Name: c.Name, School: c.School, IDMasked: c.IDMasked,
			IDCheck: idCheck(e.Code, c.Number, id), Photo: c.Photo, Session: c.Session, Room: c.Room, Seat: c.Seat, Variant: c.Variant})
		if c.Photo != "" {
			pkg.Blobs = append(pkg.Blobs, c.Photo)
		}
	}
	staff, err := s.Staff(ctx, o.Code)
	if err != nil {
		return pkg, err
	}
	for _, st := range staff {
		pkg.Staff = append(pkg.Staff, bundle.Staff{Username: st.Username, Name: st.Name, PasswordHash: st.hash, Chief: st.Chief})
	}
	sort.Strings(pkg.Blobs)
	pkg.Blobs = compact(pkg.Blobs)
	return pkg, s.revise(ctx, e.ID, &pkg)
}

func compact(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// revise gives the package its revision: unchanged content keeps its
// revision, a change increases it.
func (s *Service) revise(ctx context.Context, examID int64, pkg *bundle.SitePackage) error {
	b, err := json.Marshal(pkg)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	digest := hex.EncodeToString(sum[:])
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		var have string
		var rev, at int64
		err := tx.QueryRow(ctx, "SELECT digest, revision, created_at FROM exam_site_revisions WHERE exam_id = ? AND site_code = ?", examID, pkg.Site.Code).
			Scan(&have, &rev, &at)
		switch {
		case err == nil && have == digest:
		case err == nil:
			rev, at = rev+1, s.ms()
			_, err = tx.Exec(ctx, "UPDATE exam_site_revisions SET digest = ?, revision = ?, created_at = ? WHERE exam_id = ? AND site_code = ?",
				digest, rev, at, examID, pkg.Site.Code)
		default:
			if apperr.CodeOf(notFoundOr(err)) != apperr.NotFound {
				return err
			}
			rev, at = 1, s.ms()
			_, err = tx.Exec(ctx, "INSERT INTO exam_site_revisions (exam_id, site_code, digest, revision, created_at) VALUES (?, ?, ?, ?, ?)",
				examID, pkg.Site.Code, digest, rev, at)
		}
		pkg.Revision, pkg.CreatedAt = rev, at
		return err
	})
}

// idNumbers decrypts the ID-card numbers of the candidates seated at a site.
func (s *Service) idNumbers(ctx context.Context, examID int64, site string) (map[string]string, error) {
	rows, err := s.db.Query(ctx, "SELECT number, id_enc FROM exam_candidates WHERE exam_id = ? AND site_code = ?", examID, site)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var number, enc string
		if err := rows.Scan(&number, &enc); err != nil {
			return nil, err
		}
		b, err := s.unprotect(enc, fmt.Sprintf("exam-id|%d|%s", examID, number))
		if err != nil {
			return nil, err
		}
		out[number] = string(b)
	}
	return out, rows.Err()
}

// MaxBlobBytes bounds a blob served to a site.
const MaxBlobBytes = bundle.MaxSealedBytes

// SiteBlob opens a blob of the site's package (a sealed paper of one of
// its sessions, a photo of a candidate seated there); any other is not
// found.
func (s *Service) SiteBlob(ctx context.Context, p *identity.Principal, site, sha string) (io.ReadSeekCloser, Media, error) {
	o, err := s.siteFor(ctx, p, site)
	if err != nil {
		return nil, Media{}, err
	}
	e, err := s.siteExam(ctx, o.Code)
	if err != nil {
		return nil, Media{}, err
	}
	var n int
	if err := s.db.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM exam_sealed x JOIN exam_sessions ss ON ss.id = x.session_id
			WHERE ss.exam_id = ? AND x.site_code = ? AND x.blob = ?)
		+ (SELECT COUNT(*) FROM exam_candidates WHERE exam_id = ? AND site_code = ? AND photo = ?)`,
		e.ID, o.Code, sha, e.ID, o.Code, sha).Scan(&n); err != nil {
		return nil, Media{}, err
	}
	if n == 0 {
		return nil, Media{}, notFound()
	}
	m, err := s.MediaInfo(ctx, sha)
	if err != nil {
		return nil, m, err
	}
	rc, _, err := s.blobs.Open(ctx, sha)
	return rc, m, err
}

// RegisterInput is a site node's registration.
type RegisterInput struct {
	PublicKey string `json:"public_key"` // base64 (standard) Ed25519 public key
}

// Register records the site node's signing key. A new key replaces the old
// one only while no answer package was received with it.
func (s *Service) Register(ctx context.Context, p *identity.Principal, site string, in RegisterInput) (string, error) {
	o, err := s.siteFor(ctx, p, site)
	if err != nil {
		return "", err
	}
	pub, err := base64.StdEncoding.DecodeString(strings.TrimSpace(in.PublicKey))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return "", apperr.Field("public_key", "exam.err_public_key")
	}
	kid := bundle.KeyID(pub)
	var uid int64
	if p != nil {
		uid = p.User.ID
	}
	return kid, s.db.InTx(ctx, func(tx *db.Tx) error {
		var have string
		var locked int64
		err := tx.QueryRow(ctx, "SELECT key_id, locked_at FROM exam_site_nodes WHERE site_code = ?", o.Code).Scan(&have, &locked)
		if err == nil {
			if have == kid {
				return nil
			}
			if locked > 0 {
				return apperr.New(apperr.Conflict, "exam.err_key_locked")
			}
			_, err = tx.Exec(ctx, "UPDATE exam_site_nodes SET public_key = ?, key_id = ?, registered_at = ?, registered_by = ? WHERE site_code = ?",
				base64.StdEncoding.EncodeToString(pub), kid, s.ms(), uid, o.Code)
			return err
		}
		if apperr.CodeOf(notFoundOr(err)) != apperr.NotFound {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO exam_site_nodes (site_code, public_key, key_id, registered_at, registered_by) VALUES (?, ?, ?, ?, ?)",
			o.Code, base64.StdEncoding.EncodeToString(pub), kid, s.ms(), uid)
		return err
	})
}

// SessionKeyFor returns a session's key to the site once released
// (Conflict exam.key_not_released before).
func (s *Service) SessionKeyFor(ctx context.Context, p *identity.Principal, site, session string) (bundle.Key, error) {
	o, err := s.siteFor(ctx, p, site)
	if err != nil {
		return bundle.Key{}, err
	}
	e, err := s.siteExam(ctx, o.Code)
	if err != nil {
		return bundle.Key{}, err
	}
	x, err := s.session(ctx, e.ID, session)
	if err != nil {
		return bundle.Key{}, err
	}
	k, released, err := s.sessionKey(ctx, x.ID, o.Code)
	if err != nil {
		return k, err
	}
	if released == 0 {
		return bundle.Key{}, apperr.New(apperr.Conflict, "exam.key_not_released")
	}
	return k, nil
}

// KeyRow is the state of one session × site key.
type KeyRow struct {
	Session    string `json:"session"`
	Site       string `json:"site"`
	SiteName   string `json:"site_name"`
	KeyCheck   string `json:"key_check"`
	ReleasedAt int64  `json:"released_at,omitempty"`
	// Rekeys counts the times the key was replaced (RekeyedAt the last);
	// DownloadedAt and AnswersAt say when the site first downloaded a
	// package listing the session and first sent answers for it.
	Rekeys       int    `json:"rekeys"`
	RekeyedAt    int64  `json:"rekeyed_at,omitempty"`
	DownloadedAt int64  `json:"downloaded_at,omitempty"`
	AnswersAt    int64  `json:"answers_at,omitempty"`
	SealedCode   string `json:"-"`
}

// CanRekey reports whether the key may still be replaced: not released,
// no answers received.
func (k KeyRow) CanRekey() bool { return k.ReleasedAt == 0 && k.AnswersAt == 0 }

// Keys prepares (makes keys, seals papers) and lists every session × site
// of an exam; withCodes adds the sealed codes for printing.
func (s *Service) Keys(ctx context.Context, p *identity.Principal, examID int64, withCodes bool) ([]KeyRow, error) {
	e, err := s.MayManage(ctx, p, examID)
	if err != nil {
		return nil, err
	}
	sessions, err := s.Sessions(ctx, examID)
	if err != nil {
		return nil, err
	}
	sites, err := s.examSites(ctx, examID)
	if err != nil {
		return nil, err
	}
	states, err := s.keyStates(ctx, examID)
	if err != nil {
		return nil, err
	}
	var out []KeyRow
	for _, x := range sessions {
		for _, site := range sites {
			o, err := s.siteOrg(ctx, site)
			if err != nil {
				return nil, err
			}
			k, rel, err := s.sessionKey(ctx, x.ID, site)
			if err != nil {
				return nil, err
			}
			for _, v := range x.Variants() {
				if _, err := s.sealed(ctx, e, x, site, v, k); err != nil {
					return nil, err
				}
			}
			st := states[sessionSite{x.ID, site}]
			row := KeyRow{Session: x.Code, Site: site, SiteName: o.Name, KeyCheck: bundle.KeyCheck(k), ReleasedAt: rel,
				Rekeys: st.rekeys, RekeyedAt: st.rekeyedAt, DownloadedAt: st.downloadedAt, AnswersAt: st.answersAt}
			if withCodes {
				row.SealedCode = bundle.SealedCode(k)
			}
			out = append(out, row)
		}
	}
	return out, nil
}

// ReleaseKeys releases a session's key to every site ("" site) or one.
func (s *Service) ReleaseKeys(ctx context.Context, p *identity.Principal, examID int64, session, site string) (int, error) {
	if _, err := s.Keys(ctx, p, examID, false); err != nil {
		return 0, err
	}
	x, err := s.session(ctx, examID, session)
	if err != nil {
		return 0, err
	}
	q := "UPDATE exam_keys SET released_at = ?, released_by = ? WHERE session_id = ? AND released_at = 0"
	var uid int64
	if p != nil {
		uid = p.User.ID
	}
	args := []any{s.ms(), uid, x.ID}
	if site != "" {
		q += " AND site_code = ?"
		args = append(args, site)
	}
	res, err := s.db.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// ---- for marking (through an adapter in internal/app) ----

// SitePublicKey returns the signing key a site node registered.
func (s *Service) SitePublicKey(ctx context.Context, site string) (ed25519.PublicKey, error) {
	var enc string
	if err := s.db.QueryRow(ctx, "SELECT public_key FROM exam_site_nodes WHERE site_code = ?", site).Scan(&enc); err != nil {
		return nil, notFoundOr(err)
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("site %s: damaged public key", site)
	}
	return ed25519.PublicKey(b), nil
}

// LockSiteKey records that an answer package was received with the site's
// key: from then on a registration cannot replace it.
func (s *Service) LockSiteKey(ctx context.Context, site string) error {
	_, err := s.db.Exec(ctx, "UPDATE exam_site_nodes SET locked_at = ? WHERE site_code = ? AND locked_at = 0", s.ms(), site)
	return err
}

// SessionPaper returns the full paper (answers and rubric included) a
// session used for a variant.
func (s *Service) SessionPaper(ctx context.Context, exam, session, variant string) (paper.Paper, error) {
	e, err := s.ExamByCode(ctx, exam)
	if err != nil {
		return paper.Paper{}, err
	}
	x, err := s.session(ctx, e.ID, session)
	if err != nil {
		return paper.Paper{}, err
	}
	id, ok := x.Papers[variant]
	if !ok {
		return paper.Paper{}, notFound()
	}
	d, err := s.Paper(ctx, id)
	return d.Paper, err
}

// CandidateInfo is what marking and results need about a candidate.
type CandidateInfo struct {
	Number      string
	Name        string
	School      string
	SchoolOrgID int64
	Site        string
	Session     string
	Room        string
	Seat        int
	Variant     string
}

// CandidateInfo looks a candidate up by admission number.
func (s *Service) CandidateInfo(ctx context.Context, exam, number string) (CandidateInfo, error) {
	e, err := s.ExamByCode(ctx, exam)
	if err != nil {
		return CandidateInfo{}, err
	}
	c, err := scanCandidate(s.db.QueryRow(ctx, "SELECT "+candCols+" FROM exam_candidates WHERE exam_id = ? AND number = ?", e.ID, number))
	if err != nil {
		return CandidateInfo{}, err
	}
	return CandidateInfo{Number: c.Number, Name: c.Name, School: c.School, SchoolOrgID: c.SchoolOrgID, Site: c.Site, Session: c.Session,
		Room: c.Room, Seat: c.Seat, Variant: c.Variant}, nil
}

// SessionRoster lists the admission numbers expected at a site in a session.
func (s *Service) SessionRoster(ctx context.Context, exam, site, session string) ([]string, error) {
	e, err := s.ExamByCode(ctx, exam)
	if err != nil {
		return nil, err
	}
	cs, err := s.Candidates(ctx, e.ID, CandidateFilter{Site: site, Session: session})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Number)
	}
	sort.Strings(out)
	return out, nil
}

// CheckCandidateID reports whether idNumber is the candidate's ID-card
// number (for candidates looking up their own result).
func (s *Service) CheckCandidateID(ctx context.Context, exam, number, idNumber string) (bool, error) {
	e, err := s.ExamByCode(ctx, exam)
	if err != nil {
		return false, err
	}
	var h string
	err = s.db.QueryRow(ctx, "SELECT id_hash FROM exam_candidates WHERE exam_id = ? AND number = ?", e.ID, strings.ToUpper(strings.TrimSpace(number))).Scan(&h)
	if err != nil {
		if apperr.CodeOf(notFoundOr(err)) == apperr.NotFound {
			return false, nil
		}
		return false, err
	}
	want := s.idHash(e.ID, strings.ReplaceAll(idNumber, " ", ""))
	return subtleEq(h, want), nil
}
