package share

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/web"
)

type listData struct {
	Videos []Video
	Total  int
	Q      Query
	Title  string
	Mine   bool
}

func (h *Handlers) listPage(w http.ResponseWriter, r *http.Request) error {
	q, err := queryFrom(r)
	if err != nil {
		return err
	}
	q.Mine = false
	vs, total, err := h.svc.List(r.Context(), identity.PrincipalFrom(r.Context()), q)
	if err != nil {
		return h.rd.FormError(w, r, "share/videos", web.Page{Title: "share.tile", Data: listData{Q: q}}, err)
	}
	return h.rd.Render(w, r, http.StatusOK, "share/videos", web.Page{Title: "share.tile", Data: listData{Videos: vs, Total: total, Q: q}})
}

func (h *Handlers) minePage(w http.ResponseWriter, r *http.Request) error {
	vs, total, err := h.svc.List(r.Context(), identity.PrincipalFrom(r.Context()), Query{Mine: true, Limit: MaxPage})
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "share/videos", web.Page{Title: "share.mine", Data: listData{Videos: vs, Total: total, Mine: true}})
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
	d := videoData{V: h.view(r, v), Visibility: []Visibility{Private, School, Orgs, Everyone, Link}}
	if v.Visibility == Link && d.V.CanManage {
		d.LinkURL = "/videos/" + strconv.FormatInt(v.ID, 10) + "?t=" + v.LinkToken
	}
	return h.rd.Render(w, r, http.StatusOK, "share/video", web.Page{Title: "share.tile", Data: d, Flash: flashOf(r)})
}

func flashOf(r *http.Request) string {
	switch f := r.URL.Query().Get("flash"); f {
	case "share.saved", "share.taken_down", "share.restored", "share.retried":
		return f
	}
	return ""
}

func metaFromForm(r *http.Request) Meta {
	m := Meta{Title: r.PostFormValue("title"), Description: r.PostFormValue("description"), Tags: r.PostFormValue("tags"),
		Subject: r.PostFormValue("subject"), Grade: r.PostFormValue("grade"), Visibility: Visibility(r.PostFormValue("visibility")),
		AllowDownload: r.PostFormValue("allow_download") == "on", LinkCode: r.PostFormValue("link_code")}
	m.LinkDays, _ = strconv.Atoi(r.PostFormValue("link_days"))
	for _, s := range strings.FieldsFunc(r.PostFormValue("orgs"), func(r rune) bool { return r == ',' || r == ' ' || r == '，' }) {
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
			d := videoData{V: h.view(r, v), Visibility: []Visibility{Private, School, Orgs, Everyone, Link}}
			return h.rd.FormError(w, r, "share/video", web.Page{Title: "share.tile", Data: d}, err)
		}
		return err
	}
	return web.Redirect(w, r, "/videos/"+strconv.FormatInt(id, 10)+"?flash=share.saved")
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
