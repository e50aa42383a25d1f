package share

import (
	"net/http"
	"strconv"
	"strings"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/web"
)

// Handlers serve the video pages, API and media files.
type Handlers struct {
	svc     *Service
	ids     *identity.Service
	rd      *web.Renderer
	signer  *Signer
	maxBody int64
	base    string // public address for activity ids
	proc    *Processor
}

// SetProcessor gives the admin page the processing queue.
func (h *Handlers) SetProcessor(p *Processor) { h.proc = p }

// NewHandlers makes the handlers.
func NewHandlers(svc *Service, ids *identity.Service, rd *web.Renderer, signer *Signer, maxBody int64, baseURL string) *Handlers {
	if baseURL == "" {
		baseURL = "https://jnedu.local"
	}
	return &Handlers{svc: svc, ids: ids, rd: rd, signer: signer, maxBody: maxBody, base: baseURL}
}

// Routes lists the subsystem's routes.
func (h *Handlers) Routes() []web.Route {
	const tag = "share"
	return append([]web.Route{
		{Method: "GET", Path: "/videos", Perm: PermView, Handler: h.listPage},
		{Method: "GET", Path: "/videos/mine", Perm: PermUpload, Handler: h.minePage},
		{Method: "GET", Path: "/videos/upload", Perm: PermUpload, Handler: h.uploadPage},
		{Method: "GET", Path: "/videos/admin", Perm: PermManage, Handler: h.adminPage},
		{Method: "POST", Path: "/videos/admin/jobs/{id}/retry", Perm: PermManage, Handler: h.retrySubmit},
		{Method: "GET", Path: "/videos/{id}", Perm: web.Public, Handler: h.videoPage},
		{Method: "POST", Path: "/videos/{id}", Perm: PermUpload, Handler: h.updateSubmit},
		{Method: "POST", Path: "/videos/{id}/collections", Perm: PermUpload, Handler: h.addToCollectionSubmit},
		{Method: "POST", Path: "/videos/{id}/takedown", Perm: PermUpload, Handler: h.takedownSubmit},
		{Method: "POST", Path: "/videos/{id}/restore", Perm: PermUpload, Handler: h.restoreSubmit},
		{Method: "GET", Path: "/media/{id}/{file...}", Perm: web.Public, Handler: h.mediaFile},

		{Method: "GET", Path: "/api/v1/share/videos", Perm: PermView, Tag: tag, Summary: "Search videos I may watch (?q=&subject=&grade=&org_id=&sort=new|views&limit=&offset=&mine=1)", Response: videoList{}, Handler: h.apiList},
		{Method: "GET", Path: "/api/v1/share/videos/{id}", Perm: PermView, Tag: tag, Summary: "One video, with its processing state and playback address", Response: videoView{}, Handler: h.apiVideo},
		{Method: "PATCH", Path: "/api/v1/share/videos/{id}", Perm: PermUpload, Tag: tag, Summary: "Change a video's details and audience (owner or manager)", Request: Meta{}, Response: Video{}, Handler: h.apiUpdate},
		{Method: "POST", Path: "/api/v1/share/videos/{id}/takedown", Perm: PermUpload, Tag: tag, Summary: "Take a video down everywhere (owner or manager)", Request: takedownRequest{}, Handler: h.apiTakedown},
		{Method: "POST", Path: "/api/v1/share/videos/{id}/restore", Perm: PermUpload, Tag: tag, Summary: "Bring a taken-down video back", Handler: h.apiRestore},
		{Method: "POST", Path: "/api/v1/share/videos/{id}/views", Perm: PermView, Tag: tag, Summary: "Report playback progress (recorded, and published as a learning record)", Request: ViewReport{}, NoAudit: true, Handler: h.apiView},
	}, h.collectionRoutes()...)
}

type videoList struct {
	Videos []Video `json:"videos"`
	Total  int     `json:"total"`
}

type videoView struct {
	Video
	Playlist  string `json:"playlist,omitempty"`
	ResumeMS  int64  `json:"resume_ms"`
	CanManage bool   `json:"can_manage"`
	Poster    string `json:"poster,omitempty"`
	// Sprite is the seek-preview WebVTT (thumbnails over time), once made.
	Sprite string `json:"sprite,omitempty"`
}

type takedownRequest struct {
	Reason string `json:"reason"`
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.New(apperr.NotFound, "err.not_found")
	}
	return id, nil
}

func queryFrom(r *http.Request) (Query, error) {
	q := r.URL.Query()
	out := Query{Text: q.Get("q"), Subject: strings.TrimSpace(q.Get("subject")), Grade: strings.TrimSpace(q.Get("grade")),
		Sort: q.Get("sort"), Mine: q.Get("mine") == "1"}
	var err error
	for k, dst := range map[string]*int{"limit": &out.Limit, "offset": &out.Offset} {
		if v := q.Get(k); v != "" {
			if *dst, err = strconv.Atoi(v); err != nil || *dst < 0 {
				return out, apperr.Field(k, "err.invalid_value")
			}
		}
	}
	if v := q.Get("org_id"); v != "" {
		if out.OrgID, err = strconv.ParseInt(v, 10, 64); err != nil {
			return out, apperr.Field("org_id", "err.invalid_value")
		}
	}
	if out.Sort != "" && out.Sort != "new" && out.Sort != "views" {
		return out, apperr.Field("sort", "err.invalid_value")
	}
	return out, nil
}

func (h *Handlers) apiList(w http.ResponseWriter, r *http.Request) error {
	q, err := queryFrom(r)
	if err != nil {
		return err
	}
	vs, total, err := h.svc.List(r.Context(), identity.PrincipalFrom(r.Context()), q)
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []Video{}
	}
	return web.JSON(w, http.StatusOK, videoList{Videos: vs, Total: total})
}

func (h *Handlers) view(r *http.Request, v Video) videoView {
	p := identity.PrincipalFrom(r.Context())
	out := videoView{Video: v, CanManage: CanManage(p, v)}
	if !out.CanManage {
		out.LinkToken = ""
	}
	if v.Media != nil && v.Media.Playable {
		out.Playlist = "/media/" + strconv.FormatInt(v.ID, 10) + "/master.m3u8?" + h.signer.Query(v.ID)
		// The poster is made after the first rendition: link it once it exists.
		if _, err := h.svc.mediaFile(r.Context(), v.MediaSHA256, "poster.jpg"); err == nil {
			out.Poster = "/media/" + strconv.FormatInt(v.ID, 10) + "/poster.jpg?" + h.signer.Query(v.ID)
		}
		if _, err := h.svc.mediaFile(r.Context(), v.MediaSHA256, "sprite/sprite.vtt"); err == nil {
			out.Sprite = "/media/" + strconv.FormatInt(v.ID, 10) + "/sprite/sprite.vtt?" + h.signer.Query(v.ID)
		}
	}
	if p != nil {
		out.ResumeMS, _ = h.svc.Resume(r.Context(), p, v.ID)
	}
	return out
}

func (h *Handlers) apiVideo(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := h.svc.Visible(r.Context(), identity.PrincipalFrom(r.Context()), id, "", "")
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, h.view(r, v))
}

func (h *Handlers) apiUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var m Meta
	if err := web.DecodeJSON(w, r, h.maxBody, &m); err != nil {
		return err
	}
	identity.Note(r.Context(), "video:"+strconv.FormatInt(id, 10), "visibility "+string(m.Visibility))
	v, err := h.svc.Update(r.Context(), identity.PrincipalFrom(r.Context()), id, m)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, v)
}

func (h *Handlers) apiTakedown(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in takedownRequest
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	identity.Note(r.Context(), "video:"+strconv.FormatInt(id, 10), "taken down: "+in.Reason)
	if err := h.svc.TakeDown(r.Context(), identity.PrincipalFrom(r.Context()), id, in.Reason); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiRestore(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "video:"+strconv.FormatInt(id, 10), "restored")
	if err := h.svc.Restore(r.Context(), identity.PrincipalFrom(r.Context()), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiView(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in ViewReport
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	p := identity.PrincipalFrom(r.Context())
	v, err := h.svc.Visible(r.Context(), p, id, "", "")
	if err != nil {
		return err
	}
	if err := h.svc.RecordView(r.Context(), p, v, in, h.base); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
