package marking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
)

// ImportReport says what an answer-package import did.
type ImportReport struct {
	Exam     string   `json:"exam"`
	Site     string   `json:"site"`
	Session  string   `json:"session"`
	Files    int      `json:"files"` // recordings taken in
	Receipt  Receipt  `json:"receipt"`
	Problems []string `json:"problems,omitempty"` // recordings refused (missing, damaged)
}

// ImportPackage takes in an answer package exported by a site node to a
// removable disk: signed.json and files/<sha256>[.wav]. fsys is the
// package folder (os.DirFS) or an uploaded zip of it. Damaged or missing
// recordings are reported; the manifest is applied as the site API would.
func (s *Service) ImportPackage(ctx context.Context, p *identity.Principal, fsys fs.FS) (ImportReport, error) {
	var rep ImportReport
	f, err := fsys.Open("signed.json")
	if err != nil {
		return rep, apperr.New(apperr.Invalid, "marking.err_no_signed")
	}
	raw, err := io.ReadAll(io.LimitReader(f, bundle.MaxManifest+1))
	f.Close()
	if err != nil {
		return rep, err
	}
	if len(raw) > bundle.MaxManifest {
		return rep, apperr.New(apperr.TooLarge, "err.body_too_large", bundle.MaxManifest)
	}
	var signed bundle.Signed
	var m bundle.AnswerManifest
	if err := json.Unmarshal(raw, &signed); err != nil {
		return rep, apperr.Wrap(apperr.Invalid, err, "marking.err_manifest_format")
	}
	// Only to learn where the package belongs; ReceiveManifest verifies it.
	if err := json.Unmarshal(signed.Manifest, &m); err != nil {
		return rep, apperr.Wrap(apperr.Invalid, err, "marking.err_manifest_format")
	}
	rep.Exam, rep.Site, rep.Session = m.Exam, m.Site, m.Session
	if _, err := s.siteOrg(ctx, p, m.Site); err != nil {
		return rep, err
	}
	for _, sha := range m.Files() {
		rf, err := fsys.Open("files/" + sha)
		if errors.Is(err, fs.ErrNotExist) {
			rf, err = fsys.Open("files/" + sha + ".wav")
		}
		if err != nil {
			rep.Problems = append(rep.Problems, sha+": missing")
			continue
		}
		_, err = s.ReceiveFile(ctx, p, m.Site, m.Session, sha, rf)
		rf.Close()
		if err != nil {
			if errors.Is(err, ErrHashMismatch) {
				rep.Problems = append(rep.Problems, sha+": damaged")
				continue
			}
			return rep, fmt.Errorf("recording %s: %w", sha, err)
		}
		rep.Files++
	}
	rep.Receipt, err = s.ReceiveManifest(ctx, p, m.Site, m.Session, signed)
	return rep, err
}
