package share

import (
	"net/http"
	"strconv"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/jobs"
	"jnedu/internal/platform/web"
)

type adminData struct {
	Stats  Stats
	Counts jobs.Counts
	Jobs   []jobs.Job
}

// adminPage shows processing jobs and storage use (managers).
func (h *Handlers) adminPage(w http.ResponseWriter, r *http.Request) error {
	if h.proc == nil {
		return apperr.New(apperr.Unavailable, "share.err_no_processing")
	}
	ctx := r.Context()
	st, err := h.svc.Stats(ctx)
	if err != nil {
		return err
	}
	counts, err := h.proc.queue.Counts(ctx, JobKind)
	if err != nil {
		return err
	}
	js, err := h.proc.queue.List(ctx, jobs.Filter{Kind: JobKind, Limit: 50})
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "share/admin", web.Page{Title: "share.admin", Data: adminData{Stats: st, Counts: counts, Jobs: js},
		Flash: flashOf(r)})
}

// retrySubmit puts a failed processing job back in the queue.
func (h *Handlers) retrySubmit(w http.ResponseWriter, r *http.Request) error {
	if h.proc == nil {
		return apperr.New(apperr.Unavailable, "share.err_no_processing")
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "job:"+strconv.FormatInt(id, 10), "retry")
	j, err := h.proc.queue.Get(r.Context(), id)
	if err != nil || j.Kind != JobKind {
		return apperr.New(apperr.NotFound, "err.not_found")
	}
	if err := h.proc.queue.Retry(r.Context(), id); err != nil {
		return apperr.Wrap(apperr.Conflict, err, "share.err_retry")
	}
	var pl processPayload
	if j.Decode(&pl) == nil && len(pl.SHA256) == 64 {
		h.svc.SetMediaState(r.Context(), nil, pl.SHA256, StateUploaded, "", 0) //nolint:errcheck
	}
	return web.Redirect(w, r, "/videos/admin?flash=share.retried")
}
