package exam

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/paper"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/tabular"
	"jnedu/internal/platform/web"
)

// Handlers serve the exam pages, the JSON API and the site-node API.
type Handlers struct {
	svc     *Service
	rd      *web.Renderer
	maxBody int64
	limits  tabular.Limits
}

// NewHandlers makes the handlers.
func NewHandlers(svc *Service, rd *web.Renderer, maxBody int64, limits tabular.Limits) *Handlers {
	return &Handlers{svc: svc, rd: rd, maxBody: maxBody, limits: limits}
}

// Routes lists the subsystem's routes.
func (h *Handlers) Routes() []web.Route {
	const tag = "exam"
	const site = "/api/v1/exam/site/{site}"
	return []web.Route{
		// papers
		{Method: "GET", Path: "/exam/papers", Perm: PermAuthor, Handler: h.papersPage},
		{Method: "POST", Path: "/exam/papers", Perm: PermAuthor, Handler: h.paperCreateSubmit},
		{Method: "GET", Path: "/exam/papers/{id}", Perm: PermAuthor, Handler: h.paperPage},
		{Method: "POST", Path: "/exam/papers/{id}", Perm: PermAuthor, Handler: h.paperSaveSubmit},
		{Method: "POST", Path: "/exam/papers/{id}/publish", Perm: PermAuthor, Handler: h.paperPublishSubmit},
		{Method: "POST", Path: "/exam/papers/{id}/synthesize", Perm: PermAuthor, Handler: h.paperSynthesizeSubmit},
		{Method: "GET", Path: "/exam/papers/{id}/preview", Perm: PermAuthor, Handler: h.previewPage},
		{Method: "GET", Path: "/exam/media/{sha}", Perm: PermAdmin, Handler: h.mediaFile},
		{Method: "GET", Path: "/api/v1/exam/papers", Perm: PermAuthor, Tag: tag, Summary: "Papers: the newest version of each (and its newest published one)", Response: []PaperDoc{}, Handler: h.apiPapers},
		{Method: "POST", Path: "/api/v1/exam/papers", Perm: PermAuthor, Tag: tag, Summary: "Create a paper (draft version 1)", Request: paper.Paper{}, Response: PaperDoc{}, Handler: h.apiPaperCreate},
		{Method: "GET", Path: "/api/v1/exam/papers/{id}", Perm: PermAuthor, Tag: tag, Summary: "One paper version with its validation problems", Response: PaperDoc{}, Handler: h.apiPaper},
		{Method: "PUT", Path: "/api/v1/exam/papers/{id}", Perm: PermAuthor, Tag: tag, Summary: "Save a paper: a draft in place, a published version as a new draft version", Request: paper.Paper{}, Response: PaperDoc{}, Handler: h.apiPaperSave},
		{Method: "POST", Path: "/api/v1/exam/papers/{id}/publish", Perm: PermAuthor, Tag: tag, Summary: "Publish a draft without problems (then immutable)", Response: PaperDoc{}, Handler: h.apiPaperPublish},
		{Method: "POST", Path: "/api/v1/exam/papers/{id}/synthesize", Perm: PermAuthor, Tag: tag, Summary: "Synthesize (espeak-ng, en-us) the audio of every prompt with a script and no audio", Response: PaperDoc{}, Handler: h.apiPaperSynthesize},
		{Method: "POST", Path: "/api/v1/exam/media/audio", Perm: PermAuthor, Tag: tag, Summary: "Upload prompt audio (raw body; stored as 16 kHz mono WAV)", Response: Media{}, Handler: h.apiAudio},
		{Method: "POST", Path: "/api/v1/exam/media/images", Perm: PermAuthor, Tag: tag, Summary: "Upload a prompt image (raw JPEG or PNG body)", Response: Media{}, Handler: h.apiImage},

		// administration
		{Method: "GET", Path: "/exam/exams", Perm: PermAdmin, Handler: h.examsPage},
		{Method: "POST", Path: "/exam/exams", Perm: PermAdmin, Handler: h.examCreateSubmit},
		{Method: "GET", Path: "/exam/exams/{id}", Perm: PermAdmin, Handler: h.examPage},
		{Method: "POST", Path: "/exam/exams/{id}/sessions", Perm: PermAdmin, Handler: h.sessionSubmit},
		{Method: "POST", Path: "/exam/exams/{id}/rooms", Perm: PermAdmin, Handler: h.roomSubmit},
		{Method: "POST", Path: "/exam/exams/{id}/candidates/import", Perm: PermAdmin, Handler: h.importSubmit},
		{Method: "POST", Path: "/exam/exams/{id}/candidates/photos", Perm: PermAdmin, Handler: h.photosSubmit},
		{Method: "POST", Path: "/exam/exams/{id}/seats", Perm: PermAdmin, Handler: h.seatsSubmit},
		{Method: "GET", Path: "/exam/exams/{id}/candidates", Perm: PermAdmin, Handler: h.candidatesPage},
		{Method: "GET", Path: "/exam/exams/{id}/candidates.csv", Perm: PermAdmin, Handler: h.candidatesCSV},
		{Method: "GET", Path: "/exam/exams/{id}/tickets", Perm: PermAdmin, Handler: h.ticketsPage},
		{Method: "GET", Path: "/exam/exams/{id}/signin", Perm: PermAdmin, Handler: h.signinPage},
		{Method: "GET", Path: "/exam/exams/{id}/keys", Perm: PermAdmin, Handler: h.keysPage},
		{Method: "POST", Path: "/exam/exams/{id}/keys/release", Perm: PermAdmin, Handler: h.releaseSubmit},
		{Method: "GET", Path: "/exam/exams/{id}/keys/codes", Perm: PermAdmin, Handler: h.codesPage},
		{Method: "POST", Path: "/exam/exams/{id}/sessions/{session}/delete", Perm: PermAdmin, Handler: h.sessionDeleteSubmit},
		{Method: "POST", Path: "/exam/exams/{id}/sites/{site}/rooms/{room}/delete", Perm: PermAdmin, Handler: h.roomDeleteSubmit},
		{Method: "POST", Path: "/exam/exams/{id}/seats/clear", Perm: PermAdmin, Handler: h.seatsClearSubmit},
		{Method: "GET", Path: "/exam/exams/{id}/candidates/{number}", Perm: PermAdmin, Handler: h.candidatePage},
		{Method: "POST", Path: "/exam/exams/{id}/candidates/{number}/photo", Perm: PermAdmin, Handler: h.candidatePhotoSubmit},
		{Method: "POST", Path: "/exam/exams/{id}/keys/rekey", Perm: PermAdmin, Handler: h.rekeySubmit},
		{Method: "GET", Path: "/exam/exams/{id}/sites/{site}/staff", Perm: PermAdmin, Handler: h.staffPage},
		{Method: "POST", Path: "/exam/exams/{id}/sites/{site}/staff", Perm: PermAdmin, Handler: h.staffSubmit},
		{Method: "GET", Path: "/api/v1/exam/exams", Perm: PermAdmin, Tag: tag, Summary: "Exams I may see", Response: []ExamView{}, Handler: h.apiExams},
		{Method: "POST", Path: "/api/v1/exam/exams", Perm: PermAdmin, Tag: tag, Summary: "Create an exam (owned by a center I administer)", Request: ExamInput{}, Response: Exam{}, Handler: h.apiExamCreate},
		{Method: "GET", Path: "/api/v1/exam/exams/{id}", Perm: PermAdmin, Tag: tag, Summary: "An exam with its sessions and rooms", Response: examDetail{}, Handler: h.apiExam},
		{Method: "POST", Path: "/api/v1/exam/exams/{id}/sessions", Perm: PermAdmin, Tag: tag, Summary: "Add or replace a session (by code) with its paper variants", Request: SessionInput{}, Response: Session{}, Handler: h.apiSession},
		{Method: "POST", Path: "/api/v1/exam/exams/{id}/rooms", Perm: PermAdmin, Tag: tag, Summary: "Add or change a room of a site", Request: RoomInput{}, Response: Room{}, Handler: h.apiRoom},
		{Method: "POST", Path: "/api/v1/exam/exams/{id}/candidates/import", Perm: PermAdmin, Tag: tag, Summary: "Import candidates from CSV/XLSX (multipart field file): all rows or none", Response: ImportReport{}, Handler: h.apiImport},
		{Method: "PUT", Path: "/api/v1/exam/exams/{id}/candidates/{number}/photo", Perm: PermAdmin, Tag: tag, Summary: "Set one candidate's photo (raw JPEG or PNG body)", Handler: h.apiPhoto},
		{Method: "GET", Path: "/api/v1/exam/exams/{id}/candidates", Perm: PermAdmin, Tag: tag, Summary: "Candidates (?site=&session=&room=), ID numbers masked", Response: []Candidate{}, Handler: h.apiCandidates},
		{Method: "POST", Path: "/api/v1/exam/exams/{id}/seats", Perm: PermAdmin, Tag: tag, Summary: "Seat every candidate (session → site → room → seat)", Response: SeatReport{}, Handler: h.apiSeats},
		{Method: "GET", Path: "/api/v1/exam/exams/{id}/keys", Perm: PermAdmin, Tag: tag, Summary: "Session × site keys (made and papers sealed on first call) and their release state", Response: []KeyRow{}, Handler: h.apiKeys},
		{Method: "POST", Path: "/api/v1/exam/exams/{id}/keys/release", Perm: PermAdmin, Tag: tag, Summary: "Release a session's key to all sites or one", Request: releaseRequest{}, Handler: h.apiRelease},
		{Method: "POST", Path: "/api/v1/exam/exams/{id}/keys/rekey", Perm: PermAdmin, Tag: tag, Summary: "Replace a session's key at one site before release (new key, papers sealed again, new sealed code; refused once released or answers arrived)", Request: RekeyRequest{}, Response: KeyRow{}, Handler: h.apiRekey},
		{Method: "DELETE", Path: "/api/v1/exam/exams/{id}/sessions/{session}", Perm: PermAdmin, Tag: tag, Summary: "Delete a session (refused once its key was released, a site downloaded it or sent answers, or candidates are seated in it)", Handler: h.apiSessionDelete},
		{Method: "DELETE", Path: "/api/v1/exam/exams/{id}/sites/{site}/rooms/{room}", Perm: PermAdmin, Tag: tag, Summary: "Delete a room (refused while candidates are seated in it or once the site's key was released)", Handler: h.apiRoomDelete},
		{Method: "DELETE", Path: "/api/v1/exam/exams/{id}/seats", Perm: PermAdmin, Tag: tag, Summary: "Take every candidate out of their seat (refused once a key was released or answers arrived)", Response: clearResponse{}, Handler: h.apiSeatsClear},

		// the site node
		{Method: "POST", Path: site + "/register", Perm: PermSite, Tag: tag, Summary: "Register the site node's Ed25519 public key", Request: RegisterInput{}, Handler: h.apiRegister},
		{Method: "GET", Path: site + "/package", Perm: PermSite, Tag: tag, Summary: "The site package (ETag = revision); the center records the download", Response: bundle.SitePackage{}, Handler: h.apiPackage},
		{Method: "GET", Path: site + "/blobs/{sha256}", Perm: PermSite, Tag: tag, Summary: "A file the site package lists", Handler: h.apiBlob},
		{Method: "GET", Path: site + "/sessions/{session}/key", Perm: PermSite, Tag: tag, Summary: "The session key once released (409 exam.key_not_released before)", Response: keyResponse{}, Handler: h.apiKey},
	}
}

type examDetail struct {
	ExamView
	Sessions []Session `json:"sessions"`
	Rooms    []Room    `json:"rooms"`
}

type releaseRequest struct {
	Session string `json:"session"`
	Site    string `json:"site,omitempty"`
}

type keyResponse struct {
	Key string `json:"key"`
}

type clearResponse struct {
	Cleared int `json:"cleared"`
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound()
	}
	return id, nil
}

func principal(r *http.Request) *identity.Principal { return identity.PrincipalFrom(r.Context()) }

func (h *Handlers) tr(r *http.Request) func(string, ...any) string {
	lang := web.Lang(r.Context())
	return func(k string, a ...any) string { return h.rd.Translator().T(lang, k, a...) }
}

// ---- papers API ----

func (h *Handlers) apiPapers(w http.ResponseWriter, r *http.Request) error {
	ps, err := h.svc.Papers(r.Context(), principal(r))
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []PaperDoc{}
	}
	return web.JSON(w, http.StatusOK, ps)
}

func (h *Handlers) decodePaper(w http.ResponseWriter, r *http.Request) (paper.Paper, error) {
	var pp paper.Paper
	err := web.DecodeJSON(w, r, MaxPaperJSON, &pp)
	return pp, err
}

func (h *Handlers) apiPaperCreate(w http.ResponseWriter, r *http.Request) error {
	pp, err := h.decodePaper(w, r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "paper:"+pp.Code, "created")
	d, err := h.svc.CreatePaper(r.Context(), principal(r), pp)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusCreated, d)
}

func (h *Handlers) apiPaper(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := h.svc.PaperFor(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, d)
}

func (h *Handlers) apiPaperSave(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	pp, err := h.decodePaper(w, r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "paper:"+strconv.FormatInt(id, 10), "saved")
	d, err := h.svc.SavePaper(r.Context(), principal(r), id, pp)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, d)
}

func (h *Handlers) apiPaperPublish(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "paper:"+strconv.FormatInt(id, 10), "published")
	d, err := h.svc.PublishPaper(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, d)
}

func (h *Handlers) apiPaperSynthesize(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "paper:"+strconv.FormatInt(id, 10), "synthesized audio")
	d, _, err := h.svc.SynthesizeDraft(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, d)
}

func (h *Handlers) apiAudio(w http.ResponseWriter, r *http.Request) error {
	if !h.svc.CanAuthor(r.Context(), principal(r)) {
		return notFound()
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.svc.cfg.MaxAudioBytes+1)
	sha, err := h.svc.UploadAudio(r.Context(), r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apperr.New(apperr.TooLarge, "exam.err_audio_large", h.svc.cfg.MaxAudioBytes>>20)
		}
		return err
	}
	identity.Note(r.Context(), "media:"+sha, "audio uploaded")
	m, err := h.svc.MediaInfo(r.Context(), sha)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusCreated, m)
}

func (h *Handlers) apiImage(w http.ResponseWriter, r *http.Request) error {
	if !h.svc.CanAuthor(r.Context(), principal(r)) {
		return notFound()
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.svc.cfg.MaxImageBytes+1)
	sha, err := h.svc.UploadImage(r.Context(), r.Body)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "media:"+sha, "image uploaded")
	m, err := h.svc.MediaInfo(r.Context(), sha)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusCreated, m)
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// mediaFile serves prompt audio and images to authors and photos to those
// who may see the candidate; sealed papers never.
func (h *Handlers) mediaFile(w http.ResponseWriter, r *http.Request) error {
	sha := r.PathValue("sha")
	if !shaRE.MatchString(sha) {
		return notFound()
	}
	ctx := r.Context()
	m, err := h.svc.MediaInfo(ctx, sha)
	if err != nil {
		return err
	}
	p := principal(r)
	switch m.Kind {
	case "audio", "image":
		if !h.svc.CanAuthor(ctx, p) {
			return notFound()
		}
	case "photo":
		if !h.svc.MaySeePhoto(ctx, p, sha) {
			return notFound()
		}
	default:
		return notFound()
	}
	rc, _, err := h.svc.blobs.Open(ctx, sha)
	if err != nil {
		return notFound()
	}
	defer rc.Close()
	w.Header().Set("Content-Type", m.Mime)
	w.Header().Set("Cache-Control", "private, max-age=86400")
	w.Header().Set("ETag", `"`+sha+`"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, rc)
	return nil
}

// ---- administration API ----

func (h *Handlers) apiExams(w http.ResponseWriter, r *http.Request) error {
	es, err := h.svc.Exams(r.Context(), principal(r))
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, es)
}

func (h *Handlers) apiExamCreate(w http.ResponseWriter, r *http.Request) error {
	var in ExamInput
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	identity.Note(r.Context(), "exam:"+in.Code, "created")
	e, err := h.svc.CreateExam(r.Context(), principal(r), in)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusCreated, e)
}

func (h *Handlers) detail(r *http.Request) (examDetail, error) {
	id, err := pathID(r)
	if err != nil {
		return examDetail{}, err
	}
	v, err := h.svc.ExamFor(r.Context(), principal(r), id)
	if err != nil {
		return examDetail{}, err
	}
	d := examDetail{ExamView: v}
	if d.Sessions, err = h.svc.Sessions(r.Context(), id); err != nil {
		return d, err
	}
	all, err := h.svc.Rooms(r.Context(), id, "")
	if err != nil {
		return d, err
	}
	for _, rm := range all {
		if v.SeesSite(rm.SiteCode) {
			d.Rooms = append(d.Rooms, rm)
		}
	}
	if d.Sessions == nil {
		d.Sessions = []Session{}
	}
	if d.Rooms == nil {
		d.Rooms = []Room{}
	}
	return d, nil
}

func (h *Handlers) apiExam(w http.ResponseWriter, r *http.Request) error {
	d, err := h.detail(r)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, d)
}

func (h *Handlers) apiSession(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in SessionInput
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "session "+in.Code)
	x, err := h.svc.SaveSession(r.Context(), principal(r), id, in)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, x)
}

func (h *Handlers) apiRoom(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in RoomInput
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "room "+in.Site+"/"+in.Code)
	rm, err := h.svc.SaveRoom(r.Context(), principal(r), id, in)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, rm)
}

func (h *Handlers) runImport(r *http.Request, id int64) (*ImportReport, error) {
	f, fh, err := r.FormFile("file")
	if err != nil {
		return nil, apperr.Field("file", "import.err_no_file")
	}
	defer f.Close()
	rep, err := h.svc.ImportCandidates(r.Context(), principal(r), id, f, fh.Filename, h.limits, h.tr(r))
	if rep != nil {
		identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), fmt.Sprintf("candidates import %s rows=%d invalid=%d applied=%v",
			fh.Filename, rep.Total, rep.Invalid, rep.Applied))
	}
	return rep, err
}

func (h *Handlers) apiImport(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := web.ParseForm(w, r, h.limits.MaxBytes+1<<20); err != nil {
		return err
	}
	rep, err := h.runImport(r, id)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if !rep.Applied {
		status = http.StatusUnprocessableEntity
	}
	return web.JSON(w, status, rep)
}

// candidatesFor lists candidates p may see, filtered by the query.
func (h *Handlers) candidatesFor(r *http.Request) (ExamView, []Candidate, error) {
	id, err := pathID(r)
	if err != nil {
		return ExamView{}, nil, err
	}
	v, err := h.svc.ExamFor(r.Context(), principal(r), id)
	if err != nil {
		return v, nil, err
	}
	q := r.URL.Query()
	f := CandidateFilter{Site: q.Get("site"), Session: q.Get("session"), Room: q.Get("room")}
	if f.Site != "" && !v.SeesSite(f.Site) {
		return v, nil, notFound()
	}
	cs, err := h.svc.Candidates(r.Context(), id, f)
	if err != nil {
		return v, nil, err
	}
	out := []Candidate{}
	for _, c := range cs {
		if v.Manage || (c.Site != "" && v.SeesSite(c.Site)) {
			out = append(out, c)
		}
	}
	return v, out, nil
}

func (h *Handlers) apiCandidates(w http.ResponseWriter, r *http.Request) error {
	_, cs, err := h.candidatesFor(r)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, cs)
}

func (h *Handlers) apiSeats(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "seats assigned")
	rep, err := h.svc.AssignExamSeats(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, rep)
}

func (h *Handlers) apiKeys(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ks, err := h.svc.Keys(r.Context(), principal(r), id, false)
	if err != nil {
		return err
	}
	if ks == nil {
		ks = []KeyRow{}
	}
	return web.JSON(w, http.StatusOK, ks)
}

func (h *Handlers) apiRelease(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in releaseRequest
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	if in.Session == "" {
		return apperr.Field("session", "err.required")
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "key released: session "+in.Session+" site "+orAll(in.Site))
	n, err := h.svc.ReleaseKeys(r.Context(), principal(r), id, in.Session, in.Site)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, map[string]int{"released": n})
}

func orAll(s string) string {
	if s == "" {
		return "(all)"
	}
	return s
}

// ---- site API ----

func (h *Handlers) apiRegister(w http.ResponseWriter, r *http.Request) error {
	var in RegisterInput
	if err := web.DecodeJSON(w, r, 4<<10, &in); err != nil {
		return err
	}
	site := r.PathValue("site")
	kid, err := h.svc.Register(r.Context(), principal(r), site, in)
	identity.Note(r.Context(), "site:"+site, "registered key "+kid)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, map[string]string{"key_id": kid})
}

func (h *Handlers) apiPackage(w http.ResponseWriter, r *http.Request) error {
	pkg, err := h.svc.DownloadPackage(r.Context(), principal(r), r.PathValue("site"))
	if err != nil {
		return err
	}
	etag := `"` + strconv.FormatInt(pkg.Revision, 10) + `"`
	w.Header().Set("ETag", etag)
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return web.JSON(w, http.StatusOK, pkg)
}

func (h *Handlers) apiBlob(w http.ResponseWriter, r *http.Request) error {
	sha := r.PathValue("sha256")
	if !shaRE.MatchString(sha) {
		return notFound()
	}
	rc, m, err := h.svc.SiteBlob(r.Context(), principal(r), r.PathValue("site"), sha)
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", m.Mime)
	w.Header().Set("ETag", `"`+sha+`"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, rc)
	return nil
}

func (h *Handlers) apiKey(w http.ResponseWriter, r *http.Request) error {
	k, err := h.svc.SessionKeyFor(r.Context(), principal(r), r.PathValue("site"), r.PathValue("session"))
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, keyResponse{Key: bundle.EncodeKey(k)})
}

func (h *Handlers) apiPhoto(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	number := strings.ToUpper(r.PathValue("number"))
	r.Body = http.MaxBytesReader(w, r.Body, h.svc.cfg.MaxImageBytes+2) // readImage reports what is over the limit
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "photo of "+number)
	c, err := h.svc.SetPhoto(r.Context(), principal(r), id, number, r.Body)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "photo of "+c.Number+": "+c.Photo)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiRekey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in RekeyRequest
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	if in.Session == "" || in.Site == "" {
		return &apperr.Error{Code: apperr.Invalid, Message: "err.form_has_errors", Fields: map[string]string{"session": "err.required", "site": "err.required"}}
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "replace key: session "+in.Session+" site "+in.Site)
	k, err := h.svc.Rekey(r.Context(), principal(r), id, in)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "replace key: session "+k.Session+" site "+k.Site+", new key check "+k.KeyCheck)
	return web.JSON(w, http.StatusOK, k)
}

func (h *Handlers) apiSessionDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	session := r.PathValue("session")
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "delete session "+session)
	if err := h.svc.DeleteSession(r.Context(), principal(r), id, session); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiRoomDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	site, room := r.PathValue("site"), r.PathValue("room")
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "delete room "+site+"/"+room)
	if err := h.svc.DeleteRoom(r.Context(), principal(r), id, site, room); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiSeatsClear(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "clear seats")
	n, err := h.svc.ClearSeats(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "clear seats: "+strconv.Itoa(n)+" candidates")
	return web.JSON(w, http.StatusOK, clearResponse{Cleared: n})
}
