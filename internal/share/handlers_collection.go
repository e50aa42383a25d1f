package share

import (
	"net/http"
	"strconv"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/web"
)

// collectionRoutes are the pages and API of collections (合集).
func (h *Handlers) collectionRoutes() []web.Route {
	const tag = "share"
	return []web.Route{
		{Method: "GET", Path: "/collections/{id}", Perm: PermView, Handler: h.collectionPage},
		{Method: "POST", Path: "/collections", Perm: PermUpload, Handler: h.collectionCreateSubmit},
		{Method: "POST", Path: "/collections/{id}", Perm: PermUpload, Handler: h.collectionUpdateSubmit},
		{Method: "POST", Path: "/collections/{id}/delete", Perm: PermUpload, Handler: h.collectionDeleteSubmit},
		{Method: "POST", Path: "/collections/{id}/videos", Perm: PermUpload, Handler: h.collectionAddSubmit},
		{Method: "POST", Path: "/collections/{id}/videos/{vid}", Perm: PermUpload, Handler: h.collectionItemSubmit},

		{Method: "GET", Path: "/api/v1/share/collections", Perm: PermView, Tag: tag, Summary: "Collections (?org_id= a school's, ?video_id= those holding a video, ?mine=1 those I may edit), each counting the videos I may watch", Response: collectionList{}, Handler: h.apiCollections},
		{Method: "POST", Path: "/api/v1/share/collections", Perm: PermUpload, Tag: tag, Summary: "Create a collection in my school", Request: CollectionMeta{}, Response: Collection{}, Handler: h.apiCollectionCreate},
		{Method: "GET", Path: "/api/v1/share/collections/{id}", Perm: PermView, Tag: tag, Summary: "One collection and, in order, the videos in it that I may watch", Response: collectionView{}, Handler: h.apiCollection},
		{Method: "PATCH", Path: "/api/v1/share/collections/{id}", Perm: PermUpload, Tag: tag, Summary: "Change a collection's title and description (owner or school manager)", Request: CollectionMeta{}, Response: Collection{}, Handler: h.apiCollectionUpdate},
		{Method: "DELETE", Path: "/api/v1/share/collections/{id}", Perm: PermUpload, Tag: tag, Summary: "Delete a collection (its videos stay)", Handler: h.apiCollectionDelete},
		{Method: "POST", Path: "/api/v1/share/collections/{id}/videos", Perm: PermUpload, Tag: tag, Summary: "Add a video I manage to the end of a collection", Request: collectionAdd{}, Handler: h.apiCollectionAdd},
		{Method: "PUT", Path: "/api/v1/share/collections/{id}/videos", Perm: PermUpload, Tag: tag, Summary: "Reorder: the videos given come first in that order, the others keep theirs after them", Request: collectionOrder{}, Handler: h.apiCollectionOrder},
		{Method: "DELETE", Path: "/api/v1/share/collections/{id}/videos/{vid}", Perm: PermUpload, Tag: tag, Summary: "Take a video out of a collection", Handler: h.apiCollectionRemove},
	}
}

type collectionList struct {
	Collections []Collection `json:"collections"`
}

type collectionView struct {
	Collection
	Videos []Video `json:"videos"`
}

type collectionAdd struct {
	VideoID int64 `json:"video_id"`
}

type collectionOrder struct {
	VideoIDs []int64 `json:"video_ids"`
}

func pathVid(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("vid"), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.New(apperr.NotFound, "err.not_found")
	}
	return id, nil
}

func collectionQueryFrom(r *http.Request) (CollectionQuery, error) {
	q := r.URL.Query()
	out := CollectionQuery{Mine: q.Get("mine") == "1"}
	var err error
	if v := q.Get("org_id"); v != "" {
		if out.OrgID, err = strconv.ParseInt(v, 10, 64); err != nil {
			return out, apperr.Field("org_id", "err.invalid_value")
		}
	}
	if v := q.Get("video_id"); v != "" {
		if out.VideoID, err = strconv.ParseInt(v, 10, 64); err != nil {
			return out, apperr.Field("video_id", "err.invalid_value")
		}
	}
	return out, nil
}

func (h *Handlers) apiCollections(w http.ResponseWriter, r *http.Request) error {
	q, err := collectionQueryFrom(r)
	if err != nil {
		return err
	}
	cs, err := h.svc.Collections(r.Context(), identity.PrincipalFrom(r.Context()), q)
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []Collection{}
	}
	return web.JSON(w, http.StatusOK, collectionList{Collections: cs})
}

func (h *Handlers) apiCollectionCreate(w http.ResponseWriter, r *http.Request) error {
	var m CollectionMeta
	if err := web.DecodeJSON(w, r, h.maxBody, &m); err != nil {
		return err
	}
	c, err := h.svc.CreateCollection(r.Context(), identity.PrincipalFrom(r.Context()), m)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "collection:"+strconv.FormatInt(c.ID, 10), "created")
	return web.JSON(w, http.StatusCreated, c)
}

func (h *Handlers) apiCollection(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	c, vs, err := h.svc.Collection(r.Context(), identity.PrincipalFrom(r.Context()), id)
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []Video{}
	}
	for i := range vs {
		if !CanManage(identity.PrincipalFrom(r.Context()), vs[i]) {
			vs[i].LinkToken = ""
		}
	}
	return web.JSON(w, http.StatusOK, collectionView{Collection: c, Videos: vs})
}

func (h *Handlers) apiCollectionUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var m CollectionMeta
	if err := web.DecodeJSON(w, r, h.maxBody, &m); err != nil {
		return err
	}
	identity.Note(r.Context(), "collection:"+strconv.FormatInt(id, 10), "updated")
	c, err := h.svc.UpdateCollection(r.Context(), identity.PrincipalFrom(r.Context()), id, m)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, c)
}

func (h *Handlers) apiCollectionDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "collection:"+strconv.FormatInt(id, 10), "deleted")
	if err := h.svc.DeleteCollection(r.Context(), identity.PrincipalFrom(r.Context()), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiCollectionAdd(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in collectionAdd
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	identity.Note(r.Context(), "collection:"+strconv.FormatInt(id, 10), "added video "+strconv.FormatInt(in.VideoID, 10))
	if err := h.svc.AddToCollection(r.Context(), identity.PrincipalFrom(r.Context()), id, in.VideoID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiCollectionOrder(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in collectionOrder
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	identity.Note(r.Context(), "collection:"+strconv.FormatInt(id, 10), "reordered")
	if err := h.svc.ReorderCollection(r.Context(), identity.PrincipalFrom(r.Context()), id, in.VideoIDs); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiCollectionRemove(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	vid, err := pathVid(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "collection:"+strconv.FormatInt(id, 10), "removed video "+strconv.FormatInt(vid, 10))
	if err := h.svc.RemoveFromCollection(r.Context(), identity.PrincipalFrom(r.Context()), id, vid); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Pages.

type collectionData struct {
	C       Collection
	Videos  []Video
	Channel string
	Mine    []Video // the editor's own videos not yet in it, to add
}

func (h *Handlers) collectionData(r *http.Request, id int64) (collectionData, error) {
	p := identity.PrincipalFrom(r.Context())
	c, vs, err := h.svc.Collection(r.Context(), p, id)
	if err != nil {
		return collectionData{}, err
	}
	d := collectionData{C: c, Videos: vs}
	if o, err := h.ids.Org(r.Context(), c.OrgID); err == nil {
		d.Channel = o.Name
	}
	if c.CanEdit {
		in := map[int64]bool{}
		for _, v := range vs {
			in[v.ID] = true
		}
		mine, _, err := h.svc.List(r.Context(), p, Query{Mine: true, Limit: MaxPage})
		if err != nil {
			return d, err
		}
		for _, v := range mine {
			if !in[v.ID] {
				d.Mine = append(d.Mine, v)
			}
		}
	}
	return d, nil
}

func (h *Handlers) collectionPage(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := h.collectionData(r, id)
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "share/collection", web.Page{Title: "share.collection", Data: d, Flash: flashOf(r)})
}

// collectionFormError shows the collection page again with a form's error.
func (h *Handlers) collectionFormError(w http.ResponseWriter, r *http.Request, id int64, err error) error {
	if e := apperr.As(err); e == nil || e.Code != apperr.Invalid {
		return err
	}
	d, derr := h.collectionData(r, id)
	if derr != nil {
		return derr
	}
	return h.rd.FormError(w, r, "share/collection", web.Page{Title: "share.collection", Data: d}, err)
}

func collectionURL(id int64, flash string) string {
	return "/collections/" + strconv.FormatInt(id, 10) + "?flash=" + flash
}

func (h *Handlers) collectionCreateSubmit(w http.ResponseWriter, r *http.Request) error {
	c, err := h.svc.CreateCollection(r.Context(), identity.PrincipalFrom(r.Context()),
		CollectionMeta{Title: r.PostFormValue("title"), Description: r.PostFormValue("description")})
	if err != nil {
		if e := apperr.As(err); e != nil && e.Code == apperr.Invalid {
			return web.Redirect(w, r, "/videos/mine?flash=share.err_collection_title")
		}
		return err
	}
	identity.Note(r.Context(), "collection:"+strconv.FormatInt(c.ID, 10), "created")
	return web.Redirect(w, r, collectionURL(c.ID, "share.collection_created"))
}

func (h *Handlers) collectionUpdateSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "collection:"+strconv.FormatInt(id, 10), "updated")
	_, err = h.svc.UpdateCollection(r.Context(), identity.PrincipalFrom(r.Context()), id,
		CollectionMeta{Title: r.PostFormValue("title"), Description: r.PostFormValue("description")})
	if err != nil {
		return h.collectionFormError(w, r, id, err)
	}
	return web.Redirect(w, r, collectionURL(id, "share.saved"))
}

func (h *Handlers) collectionDeleteSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "collection:"+strconv.FormatInt(id, 10), "deleted")
	if err := h.svc.DeleteCollection(r.Context(), identity.PrincipalFrom(r.Context()), id); err != nil {
		return err
	}
	return web.Redirect(w, r, "/videos/mine?flash=share.collection_deleted")
}

func (h *Handlers) collectionAddSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	vid, _ := strconv.ParseInt(r.PostFormValue("video_id"), 10, 64)
	identity.Note(r.Context(), "collection:"+strconv.FormatInt(id, 10), "added video "+strconv.FormatInt(vid, 10))
	if err := h.svc.AddToCollection(r.Context(), identity.PrincipalFrom(r.Context()), id, vid); err != nil {
		return h.collectionFormError(w, r, id, err)
	}
	return web.Redirect(w, r, collectionURL(id, "share.saved"))
}

// collectionItemSubmit removes a video or moves it up or down (action).
func (h *Handlers) collectionItemSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	vid, err := pathVid(r)
	if err != nil {
		return err
	}
	p := identity.PrincipalFrom(r.Context())
	action := r.PostFormValue("action")
	identity.Note(r.Context(), "collection:"+strconv.FormatInt(id, 10), action+" video "+strconv.FormatInt(vid, 10))
	switch action {
	case "remove":
		err = h.svc.RemoveFromCollection(r.Context(), p, id, vid)
	case "up":
		err = h.svc.MoveInCollection(r.Context(), p, id, vid, -1)
	case "down":
		err = h.svc.MoveInCollection(r.Context(), p, id, vid, +1)
	default:
		err = apperr.Field("action", "err.invalid_value")
	}
	if err != nil {
		return h.collectionFormError(w, r, id, err)
	}
	return web.Redirect(w, r, collectionURL(id, "share.saved"))
}
