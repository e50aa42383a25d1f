package share

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tus/tusd/v2/pkg/handler"
	expslog "golang.org/x/exp/slog"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/web"
)

// UploadConfig bounds uploads.
type UploadConfig struct {
	Dir         string // where partial uploads live (DATA/uploads)
	MaxSize     int64  // one file (default 50 GiB)
	UserQuota   int64  // all of one person's videos and uploads (default 200 GiB)
	SchoolQuota int64  // all of one organisation's (default 2 TiB)
}

func (c *UploadConfig) defaults() {
	if c.MaxSize <= 0 {
		c.MaxSize = 50 << 30
	}
	if c.UserQuota <= 0 {
		c.UserQuota = 200 << 30
	}
	if c.SchoolQuota <= 0 {
		c.SchoolQuota = 2 << 40
	}
}

// Uploads serves the tus protocol for resumable uploads: authorization and
// quota are checked before the first byte is accepted, the SHA-256 is
// computed as the bytes arrive, and the finished file becomes a video.
type Uploads struct {
	svc   *Service
	cfg   UploadConfig
	store hashingStore
	tus   *handler.UnroutedHandler
	base  string
	tr    func(r *http.Request, key string, args ...any) string
}

// UploadsPath is where the tus endpoint lives.
const UploadsPath = "/api/v1/share/uploads/"

// NewUploads makes the tus endpoint.
func NewUploads(svc *Service, cfg UploadConfig, tr func(r *http.Request, key string, args ...any) string) (*Uploads, error) {
	cfg.defaults()
	st, err := newHashingStore(cfg.Dir)
	if err != nil {
		return nil, err
	}
	u := &Uploads{svc: svc, cfg: cfg, store: st, base: UploadsPath, tr: tr}
	comp := handler.NewStoreComposer()
	st.UseIn(comp)
	h, err := handler.NewUnroutedHandler(handler.Config{
		BasePath:                  UploadsPath,
		StoreComposer:             comp,
		MaxSize:                   cfg.MaxSize,
		DisableDownload:           true,
		DisableConcatenation:      true,
		RespectForwardedHeaders:   false,
		Logger:                    expslog.New(expslog.NewTextHandler(os.Stderr, &expslog.HandlerOptions{Level: expslog.LevelWarn})),
		PreUploadCreateCallback:   u.beforeCreate,
		PreFinishResponseCallback: u.beforeFinish,
	})
	if err != nil {
		return nil, err
	}
	u.tus = h
	return u, nil
}

func tusError(status int, msg string) handler.Error {
	return handler.NewError("ERR_JNEDU", msg, status)
}

// Metadata keys the page sends (tus Upload-Metadata).
const (
	metaName    = "filename"
	metaTitle   = "title"
	metaOwner   = "jnedu_owner"
	metaOrg     = "jnedu_org"
	maxNameLen  = 255
	maxTitleLen = 100
)

func (u *Uploads) beforeCreate(hook handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
	ctx := hook.Context
	p := identity.PrincipalFrom(ctx)
	r := hook.HTTPRequest
	req := &http.Request{Header: r.Header}
	req = req.WithContext(ctx)
	t := func(key string, args ...any) string { return u.tr(req, key, args...) }
	if p == nil || !p.Can(PermUpload) {
		return handler.HTTPResponse{}, handler.FileInfoChanges{}, tusError(http.StatusForbidden, t("err.forbidden"))
	}
	info := hook.Upload
	if info.SizeIsDeferred || info.Size <= 0 {
		return handler.HTTPResponse{}, handler.FileInfoChanges{}, tusError(http.StatusBadRequest, t("share.err_empty_file"))
	}
	raw := info.MetaData[metaName]
	name := cleanName(raw)
	title := strings.TrimSpace(info.MetaData[metaTitle])
	if name == "" || !utf8.ValidString(raw) || !utf8.ValidString(title) || utf8.RuneCountInString(title) > maxTitleLen {
		return handler.HTTPResponse{}, handler.FileInfoChanges{}, tusError(http.StatusBadRequest, t("share.err_bad_name"))
	}
	if err := u.checkQuota(ctx, p, info.Size); err != nil {
		e := apperr.As(err)
		if e == nil {
			return handler.HTTPResponse{}, handler.FileInfoChanges{}, err
		}
		return handler.HTTPResponse{}, handler.FileInfoChanges{}, tusError(e.Code.Status(), t(e.Message, e.Args...))
	}
	meta := handler.MetaData{metaName: name, metaTitle: title,
		metaOwner: strconv.FormatInt(p.User.ID, 10), metaOrg: strconv.FormatInt(p.Org.ID, 10)}
	return handler.HTTPResponse{}, handler.FileInfoChanges{MetaData: meta}, nil
}

// checkQuota refuses an upload that would take its owner or their school
// over quota, before any byte is sent.
func (u *Uploads) checkQuota(ctx context.Context, p *identity.Principal, size int64) error {
	if size > u.cfg.MaxSize {
		return apperr.New(apperr.TooLarge, "share.err_file_too_large", u.cfg.MaxSize>>30)
	}
	used := func(col string, id int64) (int64, error) {
		var videos, uploads sql.NullInt64
		err := u.svc.db.QueryRow(ctx, `SELECT COALESCE(SUM(m.size), 0) FROM share_media m WHERE m.sha256 IN
			(SELECT media_sha256 FROM share_videos WHERE `+col+` = ?)`, id).Scan(&videos)
		if err != nil {
			return 0, err
		}
		err = u.svc.db.QueryRow(ctx, "SELECT COALESCE(SUM(size), 0) FROM share_uploads WHERE "+col+" = ?", id).Scan(&uploads)
		return videos.Int64 + uploads.Int64, err
	}
	mine, err := used("owner_id", p.User.ID)
	if err != nil {
		return err
	}
	if mine+size > u.cfg.UserQuota {
		return apperr.New(apperr.TooLarge, "share.err_user_quota", u.cfg.UserQuota>>30, mine>>30)
	}
	school, err := used("org_id", p.Org.ID)
	if err != nil {
		return err
	}
	if school+size > u.cfg.SchoolQuota {
		return apperr.New(apperr.TooLarge, "share.err_school_quota", u.cfg.SchoolQuota>>30)
	}
	return nil
}

// beforeFinish turns the completed upload into a video; its page address
// goes back to the uploader in a header.
func (u *Uploads) beforeFinish(hook handler.HookEvent) (handler.HTTPResponse, error) {
	ctx := hook.Context
	p := identity.PrincipalFrom(ctx)
	info := hook.Upload
	if p == nil || info.MetaData[metaOwner] != strconv.FormatInt(p.User.ID, 10) {
		return handler.HTTPResponse{}, tusError(http.StatusForbidden, "forbidden")
	}
	sum, err := u.store.digest(info.ID, info.Size)
	if err != nil {
		return handler.HTTPResponse{}, fmt.Errorf("hash upload %s: %w", info.ID, err)
	}
	v, err := u.svc.AddUpload(ctx, p, Uploaded{Path: u.store.binPath(info.ID), SHA256: sum, Size: info.Size, Name: info.MetaData[metaName], Move: true},
		Meta{Title: info.MetaData[metaTitle], Visibility: Private})
	if err != nil {
		return handler.HTTPResponse{}, err
	}
	u.svc.db.Exec(ctx, "DELETE FROM share_uploads WHERE id = ?", info.ID) //nolint:errcheck // quota bookkeeping only
	u.store.remove(info.ID)
	identity.Note(ctx, "video:"+strconv.FormatInt(v.ID, 10), fmt.Sprintf("upload finished: %s, %d bytes, sha256 %s", info.MetaData[metaName], info.Size, sum))
	identity.NoteAction(ctx, "share.upload.finished")
	return handler.HTTPResponse{Header: handler.HTTPHeader{"Jnedu-Video-Id": strconv.FormatInt(v.ID, 10)}}, nil
}

// owns checks that the upload named in the path belongs to the caller;
// anyone else is told it does not exist.
func (u *Uploads) owns(r *http.Request) error {
	p := identity.PrincipalFrom(r.Context())
	id := strings.TrimPrefix(r.URL.Path, UploadsPath)
	if p == nil || id == "" || strings.ContainsAny(id, "/.\\") {
		return apperr.New(apperr.NotFound, "err.not_found")
	}
	up, err := u.store.files.GetUpload(r.Context(), id)
	if err != nil {
		return apperr.New(apperr.NotFound, "err.not_found")
	}
	info, err := up.GetInfo(r.Context())
	if err != nil || info.MetaData[metaOwner] != strconv.FormatInt(p.User.ID, 10) {
		return apperr.New(apperr.NotFound, "err.not_found")
	}
	return nil
}

// Routes are the tus endpoints, behind the platform's guard.
func (u *Uploads) Routes() []web.Route {
	wrap := func(fn http.HandlerFunc, check bool) web.HandlerFunc {
		// tusd's unrouted handlers read the upload id from a path that
		// has lost the base path.
		mw := u.tus.Middleware(http.StripPrefix(strings.TrimSuffix(UploadsPath, "/"), fn))
		return func(w http.ResponseWriter, r *http.Request) error {
			if check {
				if err := u.owns(r); err != nil {
					return err
				}
			}
			mw.ServeHTTP(w, r)
			return nil
		}
	}
	create := func(w http.ResponseWriter, r *http.Request) {
		// Record the upload for the quota once tusd has created it.
		rec := &createRecorder{ResponseWriter: w}
		u.tus.PostFile(rec, r)
		if rec.status == http.StatusCreated {
			if loc := rec.Header().Get("Location"); loc != "" {
				id := loc[strings.LastIndex(loc, "/")+1:]
				u.recordUpload(r.Context(), id)
			}
		}
	}
	return []web.Route{
		{Method: "POST", Path: "/api/v1/share/uploads/", Perm: PermUpload, Tag: "share", Summary: "Start a resumable upload (tus 1.0.0 creation; Upload-Metadata: filename, title)", Handler: wrap(create, false)},
		{Method: "HEAD", Path: "/api/v1/share/uploads/{id}", Perm: PermUpload, Tag: "share", Summary: "How much of an upload has arrived (tus)", Handler: wrap(u.tus.HeadFile, true)},
		{Method: "PATCH", Path: "/api/v1/share/uploads/{id}", Perm: PermUpload, Tag: "share", Summary: "Send the next bytes of an upload (tus)", AuditQuiet: true, Handler: wrap(u.tus.PatchFile, true)},
		{Method: "DELETE", Path: "/api/v1/share/uploads/{id}", Perm: PermUpload, Tag: "share", Summary: "Cancel an upload (tus termination)", Handler: wrap(func(w http.ResponseWriter, r *http.Request) {
			u.tus.DelFile(w, r)
			id := strings.TrimPrefix(r.URL.Path, UploadsPath)
			u.svc.db.Exec(r.Context(), "DELETE FROM share_uploads WHERE id = ?", id) //nolint:errcheck
		}, true)},
	}
}

type createRecorder struct {
	http.ResponseWriter
	status int
}

func (c *createRecorder) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *createRecorder) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (u *Uploads) recordUpload(ctx context.Context, id string) {
	up, err := u.store.files.GetUpload(ctx, id)
	if err != nil {
		return
	}
	info, err := up.GetInfo(ctx)
	if err != nil {
		return
	}
	owner, _ := strconv.ParseInt(info.MetaData[metaOwner], 10, 64)
	org, _ := strconv.ParseInt(info.MetaData[metaOrg], 10, 64)
	if _, err := u.svc.db.Exec(ctx, "INSERT INTO share_uploads (id, owner_id, org_id, size, name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
		id, owner, org, info.Size, info.MetaData[metaName], time.Now().UnixMilli()); err != nil {
		u.svc.log.Warn("record upload", "id", id, "err", err)
	}
}

// cleanName makes the name an uploader's machine gave a file into the name
// stored with it: the last element of a path ("C:\\班级\\第3课.mp4" becomes
// "第3课.mp4"), without control characters, and at most maxNameLen
// characters (a longer name is shortened, keeping its extension). Anything
// else (quotes, spaces, emoji, markup) is kept as given: pages escape it and
// downloads encode it.
func cleanName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name))
	if utf8.RuneCountInString(name) > maxNameLen {
		ext := fileExt(name)
		stem := []rune(strings.TrimSuffix(name, ext))
		name = strings.TrimSpace(string(stem[:maxNameLen-utf8.RuneCountInString(ext)])) + ext
	}
	return name
}
