package share

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
)

// Signer makes and checks expiring signatures for media URLs, so a
// playlist's segment links work only for a while and only for that video.
type Signer struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewSigner makes a signer with a server secret.
func NewSigner(key []byte, ttl time.Duration, now func() time.Time) *Signer {
	if now == nil {
		now = time.Now
	}
	return &Signer{key: key, ttl: ttl, now: now}
}

func (s *Signer) mac(videoID int64, exp int64) string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%d|%d", videoID, exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// Query returns the signature query string for a video's files.
func (s *Signer) Query(videoID int64) string {
	exp := s.now().Add(s.ttl).Unix()
	return "e=" + strconv.FormatInt(exp, 10) + "&s=" + s.mac(videoID, exp)
}

// Check verifies a signature query.
func (s *Signer) Check(videoID int64, q url.Values) bool {
	exp, err := strconv.ParseInt(q.Get("e"), 10, 64)
	if err != nil || exp < s.now().Unix() {
		return false
	}
	return hmac.Equal([]byte(q.Get("s")), []byte(s.mac(videoID, exp)))
}

// file is one stored output of a media.
type file struct {
	key  string
	size int64
}

func (s *Service) mediaFile(ctx context.Context, sha, p string) (file, error) {
	var f file
	err := s.db.QueryRow(ctx, "SELECT blob_key, size FROM share_files WHERE media_sha256 = ? AND path = ?", sha, p).Scan(&f.key, &f.size)
	if err != nil {
		return f, apperr.New(apperr.NotFound, "err.not_found")
	}
	return f, nil
}

// PutFile stores one output file of a media (processing calls it).
func (s *Service) PutFile(ctx context.Context, q db.Querier, sha, p string, r io.Reader) error {
	info, err := s.blobs.Put(ctx, r)
	if err != nil {
		return err
	}
	if q == nil {
		q = s.db
	}
	_, err = q.Exec(ctx, `INSERT INTO share_files (media_sha256, path, blob_key, size) VALUES (?, ?, ?, ?)
		ON CONFLICT (media_sha256, path) DO UPDATE SET blob_key = excluded.blob_key, size = excluded.size`, sha, p, info.Key, info.Size)
	return err
}

// contentType of HLS and image files.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".m4s":
		return "video/iso.segment"
	case ".mp4":
		return "video/mp4"
	case ".vtt":
		return "text/vtt; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// signPlaylist appends the signature to every URI line of a playlist
// (segments, init sections and variant playlists).
func signPlaylist(pl []byte, sig string) []byte {
	var out bytes.Buffer
	for _, line := range strings.Split(string(pl), "\n") {
		trim := strings.TrimSpace(line)
		switch {
		case trim == "":
		case strings.HasPrefix(trim, "#EXT-X-MAP:"):
			if i := strings.Index(trim, `URI="`); i >= 0 {
				j := strings.Index(trim[i+5:], `"`)
				if j >= 0 {
					line = trim[:i+5+j] + sep(trim[i+5:i+5+j]) + sig + trim[i+5+j:]
				}
			}
		case !strings.HasPrefix(trim, "#"):
			line = trim + sep(trim) + sig
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return bytes.TrimRight(out.Bytes(), "\n")
}

func sep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}

// MediaHandler serves a video's playlists, segments and images:
// GET /media/{id}/{file...}. The master playlist and images need the viewer
// to be allowed (session or link); everything else needs the signature that
// the playlists carry.
func (h *Handlers) mediaFile(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return apperr.New(apperr.NotFound, "err.not_found")
	}
	name := path.Clean("/" + r.PathValue("file"))[1:]
	if name == "" || strings.Contains(name, "..") {
		return apperr.New(apperr.NotFound, "err.not_found")
	}
	ctx := r.Context()
	v, err := h.svc.Video(ctx, id)
	if err != nil {
		return err
	}
	signed := h.signer.Check(id, r.URL.Query())
	if !signed {
		p := identity.PrincipalFrom(ctx)
		tok, code := linkCookie(r, id)
		if !CanView(p, v, tok, code, h.svc.ms()) {
			return apperr.New(apperr.NotFound, "err.not_found")
		}
	} else if v.TakenDownAt != 0 {
		return apperr.New(apperr.NotFound, "err.not_found") // a takedown beats a signature
	}
	if name == "original" {
		p := identity.PrincipalFrom(ctx)
		if !v.AllowDownload && !CanManage(p, v) {
			return apperr.New(apperr.Forbidden, "share.err_no_download")
		}
		return h.serveBlob(w, r, v.MediaSHA256, v.Media.Size, v.OriginalName, true)
	}
	f, err := h.svc.mediaFile(ctx, v.MediaSHA256, name)
	if err != nil {
		return err
	}
	if strings.HasSuffix(name, ".m3u8") {
		rc, _, err := h.svc.blobs.Open(ctx, f.key)
		if err != nil {
			return err
		}
		defer rc.Close()
		pl, err := io.ReadAll(io.LimitReader(rc, 4<<20))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", contentType(name))
		w.Header().Set("Cache-Control", "private, no-store")
		_, err = w.Write(signPlaylist(pl, h.signer.Query(id)))
		return err
	}
	return h.serveBlob(w, r, f.key, f.size, path.Base(name), false)
}

// serveBlob sends a stored file with range support.
func (h *Handlers) serveBlob(w http.ResponseWriter, r *http.Request, key string, size int64, name string, download bool) error {
	rc, _, err := h.svc.blobs.Open(r.Context(), key)
	if errors.Is(err, blob.ErrNotFound) {
		return apperr.New(apperr.NotFound, "err.not_found")
	} else if err != nil {
		return err
	}
	defer rc.Close()
	hd := w.Header()
	hd.Set("Content-Type", contentType(name))
	// Content-addressed: the bytes behind a key never change.
	hd.Set("Cache-Control", "private, max-age=86400, immutable")
	hd.Set("ETag", `"`+key[:32]+`"`)
	if download {
		hd.Set("Content-Disposition", "attachment; filename*=UTF-8''"+extValue(name))
	}
	http.ServeContent(w, r, "", time.Time{}, rc)
	return nil
}

// extValue encodes a file name for a Content-Disposition filename*
// parameter (RFC 5987/8187): the attr-chars stay, every other byte is
// percent-encoded (url.PathEscape would leave "(", ")", "=" and "'", which
// break the header for names such as "录像(1).mp4").
func extValue(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// linkCookie returns a link token and code remembered for a video.
func linkCookie(r *http.Request, id int64) (string, string) {
	c, err := r.Cookie("jnedu_link_" + strconv.FormatInt(id, 10))
	if err != nil {
		return "", ""
	}
	tok, code, _ := strings.Cut(c.Value, ".")
	return tok, code
}
