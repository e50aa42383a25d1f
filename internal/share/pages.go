package share

import (
	"net/http"
	"strconv"
	"time"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/web"
)

type listData struct {
	Videos  []Video
	Total   int
	Q       Query
	Mine    bool
	Channel string // the school's name on its channel page
	// Collections of the channel's school, or the caller's own on "my videos".
	Collections []Collection
	CanCreate   bool // may make a collection here
}

func (h *Handlers) listPage(w http.ResponseWriter, r *http.Request) error {
	q, err := queryFrom(r)
	if err != nil {
		return err
	}
	q.Mine = false
	d := listData{Q: q}
	if q.OrgID != 0 {
		o, err := h.ids.Org(r.Context(), q.OrgID)
		if err != nil {
			return err
		}
		d.Channel = o.Name
	}
	vs, total, err := h.svc.List(r.Context(), identity.PrincipalFrom(r.Context()), q)
	if err != nil {
		return h.rd.FormError(w, r, "share/videos", web.Page{Title: "share.tile", Data: d}, err)
	}
	d.Videos, d.Total = vs, total
	if q.OrgID != 0 {
		p := identity.PrincipalFrom(r.Context())
		if d.Collections, err = h.svc.Collections(r.Context(), p, CollectionQuery{OrgID: q.OrgID}); err != nil {
			return err
		}
		d.CanCreate = p.Can(PermUpload) && p.Org.ID == q.OrgID
	}
	return h.rd.Render(w, r, http.StatusOK, "share/videos", web.Page{Title: "share.tile", Data: d})
}

func (h *Handlers) minePage(w http.ResponseWriter, r *http.Request) error {
	p := identity.PrincipalFrom(r.Context())
	vs, total, err := h.svc.List(r.Context(), p, Query{Mine: true, Limit: MaxPage})
	if err != nil {
		return err
	}
	cs, err := h.svc.Collections(r.Context(), p, CollectionQuery{Mine: true})
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "share/videos", web.Page{Title: "share.mine", Flash: flashOf(r),
		Data: listData{Videos: vs, Total: total, Mine: true, Collections: cs, CanCreate: true}})
}

func (h *Handlers) uploadPage(w http.ResponseWriter, r *http.Request) error {
	return h.rd.Render(w, r, http.StatusOK, "share/upload", web.Page{Title: "share.tile_upload"})
}

type videoData struct {
	V          videoView
	Visibility []Visibility
	LinkURL    string
	NeedCode   bool
	Token      string
	Schools    []orgChoice // for sharing with chosen schools
	Channel    string      // the owner's school
	// Collections holding the video (for a signed-in viewer).
	Collections []Collection
	// AddTo are the collections the viewer may add this video to (it
	// is theirs to manage, and they do not hold it yet).
	AddTo []Collection
}

type orgChoice struct {
	ID      int64
	Name    string
	Checked bool
}

// schools lists the center and the schools a video can be shared with.
func (h *Handlers) schools(r *http.Request, v Video) ([]orgChoice, error) {
	orgs, err := h.ids.Orgs(r.Context(), identity.OrgFilter{Kinds: []identity.OrgKind{identity.KindCenter, identity.KindSchool}})
	if err != nil {
		return nil, err
	}
	chosen := map[int64]bool{}
	for _, o := range v.SharedOrgs {
		chosen[o] = true
	}
	out := make([]orgChoice, 0, len(orgs))
	for _, o := range orgs {
		out = append(out, orgChoice{ID: o.ID, Name: o.Name, Checked: chosen[o.ID]})
	}
	return out, nil
}

func (h *Handlers) videoData(r *http.Request, v Video) (videoData, error) {
	d := videoData{V: h.view(r, v), Visibility: []Visibility{Private, School, Orgs, Everyone, Link}}
	if o, err := h.ids.Org(r.Context(), v.OrgID); err == nil {
		d.Channel = o.Name
	}
	if p := identity.PrincipalFrom(r.Context()); p != nil && p.Can(PermView) {
		var err error
		if d.Collections, err = h.svc.Collections(r.Context(), p, CollectionQuery{VideoID: v.ID}); err != nil {
			return d, err
		}
	}
	if d.V.CanManage {
		var err error
		if d.Schools, err = h.schools(r, v); err != nil {
			return d, err
		}
		p := identity.PrincipalFrom(r.Context())
		mine, err := h.svc.Collections(r.Context(), p, CollectionQuery{Mine: true})
		if err != nil {
			return d, err
		}
		holds := map[int64]bool{}
		for _, c := range d.Collections {
			holds[c.ID] = true
		}
		for _, c := range mine {
			if c.CanEdit && !holds[c.ID] {
				d.AddTo = append(d.AddTo, c)
			}
		}
		if v.Visibility == Link {
			d.LinkURL = "/videos/" + strconv.FormatInt(v.ID, 10) + "?t=" + v.LinkToken
		}
	}
	return d, nil
}

func (h *Handlers) videoPage(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p := identity.PrincipalFrom(r.Context())
	tok, code := r.URL.Query().Get("t"), r.URL.Query().Get("code")
	if tok == "" {
		tok, code = linkCookie(r, id)
	}
	v, err := h.svc.Visible(r.Context(), p, id, tok, code)
	if apperr.CodeOf(err) == apperr.Forbidden && tok != "" {
		// A link that needs its extraction code: ask for it.
		return h.rd.Render(w, r, http.StatusOK, "share/video", web.Page{Title: "share.link_title", Data: videoData{NeedCode: true, Token: tok, V: videoView{Video: Video{ID: id}}}})
	}
	if err != nil {
		if p == nil && apperr.CodeOf(err) == apperr.NotFound {
			return apperr.New(apperr.Unauthenticated, "err.unauthenticated")
		}
		return err
	}
	if tok != "" && p == nil {
		http.SetCookie(w, &http.Cookie{Name: "jnedu_link_" + strconv.FormatInt(id, 10), Value: tok + "." + code, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: web.IsTLS(r.Context()), Expires: time.UnixMilli(v.LinkExpiresAt)})
	}
	d, err := h.videoData(r, v)
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "share/video", web.Page{Title: "share.tile", Data: d, Flash: flashOf(r)})
}

func flashOf(r *http.Request) string {
	switch f := r.URL.Query().Get("flash"); f {
	case "share.saved", "share.added_to_collection", "share.taken_down", "share.restored", "share.retried",
		"share.collection_created", "share.collection_deleted", "share.err_collection_title":
		return f
	}
	return ""
}

func metaFromForm(r *http.Request) Meta {
	m := Meta{Title: r.PostFormValue("title"), Description: r.PostFormValue("description"), Tags: r.PostFormValue("tags"),
		Subject: r.PostFormValue("subject"), Grade: r.PostFormValue("grade"), Visibility: Visibility(r.PostFormValue("visibility")),
		AllowDownload: r.PostFormValue("allow_download") == "on", LinkCode: r.PostFormValue("link_code")}
	m.LinkDays, _ = strconv.Atoi(r.PostFormValue("link_days"))
	for _, s := range r.PostForm["orgs"] {
		if id, err := strconv.ParseInt(s, 10, 64); err == nil {
			m.Orgs = append(m.Orgs, id)
		}
	}
	return m
}

func (h *Handlers) updateSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	m := metaFromForm(r)
	identity.Note(r.Context(), "video:"+strconv.FormatInt(id, 10), "visibility "+string(m.Visibility))
	if _, err := h.svc.Update(r.Context(), identity.PrincipalFrom(r.Context()), id, m); err != nil {
		if e := apperr.As(err); e != nil && e.Code == apperr.Invalid {
			v, verr := h.svc.Visible(r.Context(), identity.PrincipalFrom(r.Context()), id, "", "")
			if verr != nil {
				return verr
			}
			d, derr := h.videoData(r, v)
			if derr != nil {
				return derr
			}
			return h.rd.FormError(w, r, "share/video", web.Page{Title: "share.tile", Data: d}, err)
		}
		return err
	}
	return web.Redirect(w, r, "/videos/"+strconv.FormatInt(id, 10)+"?flash=share.saved")
}

// addToCollectionSubmit adds the video to the collection chosen on its page.
func (h *Handlers) addToCollectionSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	cid, _ := strconv.ParseInt(r.PostFormValue("collection_id"), 10, 64)
	identity.Note(r.Context(), "collection:"+strconv.FormatInt(cid, 10), "added video "+strconv.FormatInt(id, 10))
	if err := h.svc.AddToCollection(r.Context(), identity.PrincipalFrom(r.Context()), cid, id); err != nil {
		if e := apperr.As(err); e != nil && e.Fields["video_id"] != "" {
			// The message is about the video: there is no such field here.
			return apperr.New(apperr.Invalid, e.Fields["video_id"])
		}
		return err
	}
	return web.Redirect(w, r, "/videos/"+strconv.FormatInt(id, 10)+"?flash=share.added_to_collection")
}

func (h *Handlers) takedownSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "video:"+strconv.FormatInt(id, 10), "taken down: "+r.PostFormValue("reason"))
	if err := h.svc.TakeDown(r.Context(), identity.PrincipalFrom(r.Context()), id, r.PostFormValue("reason")); err != nil {
		return err
	}
	return web.Redirect(w, r, "/videos/"+strconv.FormatInt(id, 10)+"?flash=share.taken_down")
}

func (h *Handlers) restoreSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "video:"+strconv.FormatInt(id, 10), "restored")
	if err := h.svc.Restore(r.Context(), identity.PrincipalFrom(r.Context()), id); err != nil {
		return err
	}
	return web.Redirect(w, r, "/videos/"+strconv.FormatInt(id, 10)+"?flash=share.restored")
}
