package marking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
)

// importParallel is how many recordings an import stores at once: each
// waits for its own disk sync, so a few at a time keep the disk busy.
const importParallel = 4

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
	files := m.Files()
	problems := make([]string, len(files))
	err = each(ctx, len(files), importParallel, func(ctx context.Context, i int) error {
		sha := files[i]
		rf, err := fsys.Open("files/" + sha)
		if errors.Is(err, fs.ErrNotExist) {
			rf, err = fsys.Open("files/" + sha + ".wav")
		}
		if err != nil {
			problems[i] = sha + ": missing"
			return nil
		}
		_, err = s.ReceiveFile(ctx, p, m.Site, m.Session, sha, rf)
		rf.Close()
		if errors.Is(err, ErrHashMismatch) {
			problems[i] = sha + ": damaged"
			return nil
		}
		if err != nil {
			return fmt.Errorf("recording %s: %w", sha, err)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	for _, pr := range problems {
		if pr != "" {
			rep.Problems = append(rep.Problems, pr)
		} else {
			rep.Files++
		}
	}
	rep.Receipt, err = s.ReceiveManifest(ctx, p, m.Site, m.Session, signed)
	return rep, err
}

// each runs fn(ctx, 0…n-1), par at a time; the first error cancels the
// rest and is returned.
func each(ctx context.Context, n, par int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(par, max(n, 1)) {
		wg.Go(func() {
			for i := range next {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
