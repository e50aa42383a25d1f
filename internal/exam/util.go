package exam

import (
	"bytes"
	"database/sql"
	"errors"
	"image"
	_ "image/jpeg" // photos and prompt images
	_ "image/png"
	"io"
	"net/http"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
)

func notFoundOr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return notFound()
	}
	return err
}

// readImage reads a JPEG or PNG of at most max bytes and checks it decodes.
func readImage(r io.Reader, max int64) ([]byte, string, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, "", apperr.Wrap(apperr.Invalid, err, "exam.err_upload")
	}
	if int64(len(b)) > max {
		return nil, "", apperr.New(apperr.TooLarge, "exam.err_image_large", max>>10)
	}
	mime := http.DetectContentType(b)
	if mime != "image/jpeg" && mime != "image/png" {
		return nil, "", apperr.New(apperr.Invalid, "exam.err_not_image")
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > 40_000_000 {
		return nil, "", apperr.New(apperr.Invalid, "exam.err_not_image")
	}
	return b, mime, nil
}

// MaxPhotoSide bounds the width and the height of a candidate photo, in
// pixels.
const MaxPhotoSide = 4096

// checkPhoto checks a candidate photo beyond readImage: neither side over
// MaxPhotoSide, and the whole image decodes (a cut-off file does not).
func checkPhoto(b []byte) error {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return apperr.New(apperr.Invalid, "exam.err_not_image")
	}
	if cfg.Width > MaxPhotoSide || cfg.Height > MaxPhotoSide {
		return apperr.New(apperr.Invalid, "exam.err_photo_pixels", MaxPhotoSide, cfg.Width, cfg.Height)
	}
	if _, _, err := image.Decode(bytes.NewReader(b)); err != nil {
		return apperr.New(apperr.Invalid, "exam.err_photo_broken")
	}
	return nil
}

func orgByName(name string) identity.OrgFilter {
	return identity.OrgFilter{Kinds: []identity.OrgKind{identity.KindSchool}, Search: name, Limit: 1}
}
