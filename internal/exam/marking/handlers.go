package marking

import (
	"archive/zip"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/tabular"
	"jnedu/internal/platform/web"
)

// Recorder writes audit entries (the identity service).
type Recorder interface {
	Record(ctx context.Context, q db.Querier, e identity.AuditEntry) error
}

// Handlers serve marking's pages and API.
type Handlers struct {
	svc     *Service
	rd      *web.Renderer
	audit   Recorder
	maxBody int64
	lookups *web.RateLimiter
}

// NewHandlers makes the handlers.
func NewHandlers(svc *Service, rd *web.Renderer, audit Recorder, maxBody int64) *Handlers {
	return &Handlers{svc: svc, rd: rd, audit: audit, maxBody: maxBody, lookups: web.NewRateLimiter(5, 12*time.Second, svc.now)}
}

// Routes lists marking's routes.
func (h *Handlers) Routes() []web.Route {
	const tag = "exam"
	return []web.Route{
		// Center ↔ site (docs/EXAM.md).
		{Method: "PUT", Path: "/api/v1/exam/site/{site}/answers/{session}/files/{sha256}", Perm: PermIntake, Tag: tag,
			Summary: "One recording of a session's answer package; 422 hash_mismatch when the bytes do not match the name (send it again)", Response: FileReceipt{}, Handler: h.apiFile},
		{Method: "POST", Path: "/api/v1/exam/site/{site}/answers/{session}/manifest", Perm: PermIntake, Tag: tag,
			Summary: "The signed answer manifest of a session; answers whether every recording is there", Request: bundle.Signed{}, Response: Receipt{}, Handler: h.apiManifest},

		// Marking API (the examiner workspace speaks it).
		{Method: "POST", Path: "/api/v1/exam/marking/{exam}/tasks/next", Perm: PermMark, Tag: tag, NoAudit: true,
			Summary: "Lease the next anonymised marking task (404 no_task when none)", Response: Task{}, Handler: h.apiNext},
		{Method: "GET", Path: "/api/v1/exam/marking/{exam}/tasks/waiting", Perm: PermMark, Tag: tag,
			Summary: "Whether a task is waiting for me (reads only: the workspace polls it while idle, then leases with tasks/next)", Response: waitingResponse{}, Handler: h.apiWaiting},
		{Method: "POST", Path: "/api/v1/exam/marking/tasks/{task}/mark", Perm: PermMark, Tag: tag,
			Summary: "Submit the mark of a task I hold", Request: markRequest{}, Handler: h.apiMark},
		{Method: "POST", Path: "/api/v1/exam/marking/tasks/{task}/problem", Perm: PermMark, Tag: tag,
			Summary: "Send a task to the leader (no audio, wrong item, …)", Request: problemRequest{}, Handler: h.apiProblem},
		{Method: "GET", Path: "/api/v1/exam/marking/tasks/{task}/audio", Perm: PermMark, Tag: tag,
			Summary: "The recording of a task I hold (WAV, range requests)", Handler: h.taskAudio},
		{Method: "GET", Path: "/api/v1/exam/marking/{exam}/leader/cases", Perm: PermLead, Tag: tag,
			Summary: "Answers waiting for the leader's decision", Response: []Case{}, Handler: h.apiCases},
		{Method: "POST", Path: "/api/v1/exam/marking/{exam}/leader/cases/{id}", Perm: PermLead, Tag: tag,
			Summary: "The leader's score for an answer", Request: decideRequest{}, Handler: h.apiDecide},
		{Method: "GET", Path: "/api/v1/exam/marking/{exam}/answers/{id}/audio", Perm: PermLead, Tag: tag,
			Summary: "The recording of an answer, for the exam's leader", Handler: h.answerAudio},
		{Method: "GET", Path: "/api/v1/exam/marking/{exam}/copies", Perm: PermLead, Tag: tag,
			Summary: "Possible copies (疑似雷同): pairs of answers with identical or nearly identical recordings, open first", Response: []CopyPair{}, Handler: h.apiCopies},
		{Method: "POST", Path: "/api/v1/exam/marking/{exam}/copies/{id}/decision", Perm: PermLead, Tag: tag,
			Summary: "The leader confirms or dismisses a possible copy (decision: confirm | dismiss)", Request: copyRequest{}, Handler: h.apiCopyDecide},
		{Method: "GET", Path: "/api/v1/exam/marking/{exam}/completeness", Perm: PermIntake, Tag: tag,
			Summary: "Per site and session: candidates received and expected, missing, empty and silent answers, abnormal candidates", Response: []SiteProgress{}, Handler: h.apiCompleteness},
		{Method: "GET", Path: "/api/v1/exam/marking/{exam}/qc", Perm: PermIntake, Tag: tag,
			Summary: "Each examiner's count, speed and agreement", Response: []ExaminerQC{}, Handler: h.apiQC},
		{Method: "GET", Path: "/api/v1/exam/results/{exam}", Perm: PermResults, Tag: tag,
			Summary: "Results I may see (staff: all; schools: their candidates once released)", Response: []Result{}, Handler: h.apiResults},
		{Method: "POST", Path: "/api/v1/exam/results/{exam}/reviews", Perm: PermResults, Tag: tag,
			Summary: "Request a score review (复核) for a candidate of my school", Request: reviewRequest{}, Response: Review{}, Handler: h.apiRequestReview},
		{Method: "POST", Path: "/api/v1/exam/score", Perm: web.Public, Tag: tag,
			Summary: "A candidate's own score by admission number and ID-card number (rate-limited)", Request: lookupRequest{}, Response: Result{}, Handler: h.apiLookup},

		// Pages.
		{Method: "GET", Path: "/exam/marking", Perm: PermMark, Handler: h.indexPage},
		{Method: "GET", Path: "/exam/marking/{exam}/mark", Perm: PermMark, Handler: h.markPage},
		{Method: "GET", Path: "/exam/marking/{exam}/lead", Perm: PermLead, Handler: h.leadPage},
		{Method: "POST", Path: "/exam/marking/{exam}/lead/{id}", Perm: PermLead, Handler: h.leadSubmit},
		{Method: "GET", Path: "/exam/marking/{exam}/reviews", Perm: PermLead, Handler: h.leaderReviewsPage},
		{Method: "GET", Path: "/exam/marking/{exam}/copies", Perm: PermLead, Handler: h.copiesPage},
		{Method: "POST", Path: "/exam/marking/{exam}/copies/{id}", Perm: PermLead, Handler: h.copySubmit},
		{Method: "GET", Path: "/exam/marking/admin", Perm: PermIntake, Handler: h.adminPage},
		{Method: "POST", Path: "/exam/marking/admin/import", Perm: PermIntake, Handler: h.importSubmit},
		{Method: "GET", Path: "/exam/marking/{exam}/intake", Perm: PermIntake, Handler: h.intakePage},
		{Method: "GET", Path: "/exam/marking/{exam}/intake.xlsx", Perm: PermIntake, Handler: h.intakeExport},
		{Method: "POST", Path: "/exam/marking/{exam}/settings", Perm: PermIntake, Handler: h.settingsSubmit},
		{Method: "POST", Path: "/exam/marking/{exam}/leaders", Perm: PermIntake, Handler: h.leaderAdd},
		{Method: "POST", Path: "/exam/marking/{exam}/leaders/{id}/remove", Perm: PermIntake, Handler: h.leaderRemove},
		{Method: "POST", Path: "/exam/marking/{exam}/release", Perm: PermIntake, Handler: h.releaseSubmit},
		{Method: "POST", Path: "/exam/marking/{exam}/calibrate", Perm: PermIntake, Handler: h.calibrateSubmit},
		{Method: "POST", Path: "/exam/marking/{exam}/packages/{site}/{session}/reopen", Perm: PermIntake, Handler: h.reopenSubmit},
		{Method: "GET", Path: "/exam/marking/{exam}/qc", Perm: PermIntake, Handler: h.qcPage},
		{Method: "GET", Path: "/exam/marking/{exam}/qc.xlsx", Perm: PermIntake, Handler: h.qcExport},
		{Method: "GET", Path: "/exam/results", Perm: PermResults, Handler: h.resultsIndex},
		{Method: "GET", Path: "/exam/results/{exam}", Perm: PermResults, Handler: h.resultsPage},
		{Method: "GET", Path: "/exam/results/{exam}/results.xlsx", Perm: PermResults, Handler: h.resultsExport},
		{Method: "GET", Path: "/exam/results/{exam}/reviews", Perm: PermResults, Handler: h.reviewsPage},
		{Method: "POST", Path: "/exam/results/{exam}/reviews", Perm: PermResults, Handler: h.reviewRequestSubmit},
		{Method: "POST", Path: "/exam/results/{exam}/reviews/{id}/accept", Perm: PermIntake, Handler: h.reviewAccept},
		{Method: "POST", Path: "/exam/results/{exam}/reviews/{id}/answer", Perm: PermIntake, Handler: h.reviewAnswer},
		{Method: "POST", Path: "/exam/results/{exam}/reviews/{id}/remark", Perm: PermLead, Handler: h.reviewRemark},
		{Method: "GET", Path: "/exam/score", Perm: web.Public, Handler: h.scorePage},
		{Method: "POST", Path: "/exam/score", Perm: web.Public, Handler: h.scoreSubmit},
	}
}

type waitingResponse struct {
	Waiting bool `json:"waiting"`
}

type markRequest struct {
	Score float64 `json:"score"`
}

type problemRequest struct {
	Note string `json:"note"`
}

type decideRequest struct {
	Score  float64 `json:"score"`
	Reason string  `json:"reason"`
}

type copyRequest struct {
	Decision string `json:"decision"` // confirm | dismiss
	Note     string `json:"note"`
}

// copyDecision reads a decision on a possible copy.
func copyDecision(d string) (bool, error) {
	switch strings.TrimSpace(d) {
	case "confirm":
		return true, nil
	case "dismiss":
		return false, nil
	}
	return false, apperr.Field("decision", "marking.err_copy_decision")
}

type reviewRequest struct {
	Number string `json:"number"`
	Reason string `json:"reason"`
}

type lookupRequest struct {
	Exam     string `json:"exam"`
	Number   string `json:"number"`
	IDNumber string `json:"id_number"`
}

func principal(r *http.Request) *identity.Principal { return identity.PrincipalFrom(r.Context()) }

func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.New(apperr.NotFound, "err.not_found")
	}
	return id, nil
}

func (h *Handlers) apiFile(w http.ResponseWriter, r *http.Request) error {
	site, session, sha := r.PathValue("site"), r.PathValue("session"), r.PathValue("sha256")
	identity.Note(r.Context(), "exam-site:"+site, "recording "+session+" "+sha)
	rec, err := h.svc.ReceiveFile(r.Context(), principal(r), site, session, sha, r.Body)
	if errors.Is(err, ErrHashMismatch) {
		msg := h.rd.T(r, "marking.err_hash_mismatch")
		return web.JSON(w, http.StatusUnprocessableEntity, web.ErrorBody{Error: web.ErrorDetail{Code: CodeHashMismatch, Message: msg, RequestID: web.RequestID(r.Context())}})
	}
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, rec)
}

func (h *Handlers) apiManifest(w http.ResponseWriter, r *http.Request) error {
	site, session := r.PathValue("site"), r.PathValue("session")
	if _, err := h.svc.siteOrg(r.Context(), principal(r), site); err != nil {
		return err
	}
	var signed bundle.Signed
	if err := web.DecodeJSON(w, r, bundle.MaxManifest+4096, &signed); err != nil {
		return err
	}
	rc, err := h.svc.ReceiveManifest(r.Context(), principal(r), site, session, signed)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam-site:"+site, "manifest "+session+" complete="+strconv.FormatBool(rc.Complete)+" missing="+strconv.Itoa(len(rc.Missing)))
	return web.JSON(w, http.StatusOK, rc)
}

func (h *Handlers) apiNext(w http.ResponseWriter, r *http.Request) error {
	t, err := h.svc.NextTask(r.Context(), principal(r), r.PathValue("exam"))
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, t)
}

func (h *Handlers) apiWaiting(w http.ResponseWriter, r *http.Request) error {
	ok, err := h.svc.TaskWaiting(r.Context(), principal(r), r.PathValue("exam"))
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, waitingResponse{Waiting: ok})
}

func (h *Handlers) apiMark(w http.ResponseWriter, r *http.Request) error {
	var in markRequest
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	identity.Note(r.Context(), "mark-task:"+r.PathValue("task"), "score "+strconv.FormatFloat(in.Score, 'f', -1, 64))
	if err := h.svc.SubmitMark(r.Context(), principal(r), r.PathValue("task"), in.Score); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiProblem(w http.ResponseWriter, r *http.Request) error {
	var in problemRequest
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	identity.Note(r.Context(), "mark-task:"+r.PathValue("task"), "problem: "+in.Note)
	if err := h.svc.FlagProblem(r.Context(), principal(r), r.PathValue("task"), in.Note); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// serveRecording sends a recording with range support, never cached.
func (h *Handlers) serveRecording(w http.ResponseWriter, r *http.Request, key string) error {
	rc, _, err := h.svc.blobs.Open(r.Context(), key)
	if err != nil {
		return apperr.Wrap(apperr.NotFound, err, "marking.err_no_recording")
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, "", time.Time{}, rc)
	return nil
}

func (h *Handlers) taskAudio(w http.ResponseWriter, r *http.Request) error {
	key, err := h.svc.TaskRecording(r.Context(), principal(r), r.PathValue("task"))
	if err != nil {
		return err
	}
	return h.serveRecording(w, r, key)
}

func (h *Handlers) answerAudio(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	key, err := h.svc.AnswerRecording(r.Context(), principal(r), r.PathValue("exam"), id)
	if err != nil {
		return err
	}
	return h.serveRecording(w, r, key)
}

func (h *Handlers) apiCases(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.svc.LeaderQueue(r.Context(), principal(r), r.PathValue("exam"))
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, cs)
}

func (h *Handlers) apiDecide(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in decideRequest
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	identity.Note(r.Context(), "exam-answer:"+strconv.FormatInt(id, 10), "leader score "+strconv.FormatFloat(in.Score, 'f', -1, 64)+": "+in.Reason)
	if err := h.svc.LeaderDecide(r.Context(), principal(r), r.PathValue("exam"), id, in.Score, in.Reason); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiCopies(w http.ResponseWriter, r *http.Request) error {
	out, err := h.svc.Copies(r.Context(), principal(r), r.PathValue("exam"))
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, out)
}

func (h *Handlers) apiCopyDecide(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in copyRequest
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	confirm, err := copyDecision(in.Decision)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam-copy:"+strconv.FormatInt(id, 10), in.Decision+": "+in.Note)
	if err := h.svc.DecideCopy(r.Context(), principal(r), r.PathValue("exam"), id, confirm, in.Note); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handlers) apiCompleteness(w http.ResponseWriter, r *http.Request) error {
	out, err := h.svc.Completeness(r.Context(), r.PathValue("exam"))
	if err != nil {
		return err
	}
	if out == nil {
		out = []SiteProgress{}
	}
	return web.JSON(w, http.StatusOK, out)
}

func (h *Handlers) apiQC(w http.ResponseWriter, r *http.Request) error {
	out, err := h.svc.QC(r.Context(), r.PathValue("exam"))
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, out)
}

func (h *Handlers) apiResults(w http.ResponseWriter, r *http.Request) error {
	out, err := h.svc.Results(r.Context(), principal(r), r.PathValue("exam"), 0)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, out)
}

func (h *Handlers) apiRequestReview(w http.ResponseWriter, r *http.Request) error {
	var in reviewRequest
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	identity.Note(r.Context(), "exam-candidate:"+r.PathValue("exam")+"/"+in.Number, "review requested")
	rv, err := h.svc.RequestReview(r.Context(), principal(r), r.PathValue("exam"), in.Number, in.Reason)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusCreated, rv)
}

func (h *Handlers) allowLookup(r *http.Request) error {
	if !h.lookups.Allow(web.RemoteIP(r.Context())) {
		return apperr.New(apperr.RateLimited, "marking.err_rate_limited")
	}
	return nil
}

func (h *Handlers) apiLookup(w http.ResponseWriter, r *http.Request) error {
	if err := h.allowLookup(r); err != nil {
		return err
	}
	var in lookupRequest
	if err := web.DecodeJSON(w, r, h.maxBody, &in); err != nil {
		return err
	}
	res, err := h.svc.Lookup(r.Context(), in.Exam, in.Number, in.IDNumber)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, res)
}

// exported records a download in the audit log (GET requests are not
// audited by the server).
func (h *Handlers) exported(r *http.Request, target, detail string) {
	if h.audit == nil {
		return
	}
	p := principal(r)
	e := identity.AuditEntry{IP: web.RemoteIP(r.Context()), Action: "GET " + web.CurrentRoute(r.Context()).Path, Target: target, Detail: detail,
		Result: identity.ResultOK, RequestID: web.RequestID(r.Context())}
	if p != nil {
		e.ActorID, e.ActorName, e.OrgID = p.User.ID, p.User.Username, p.User.OrgID
	}
	if err := h.audit.Record(r.Context(), nil, e); err != nil {
		h.svc.log.Error("audit export", "err", err)
	}
}

func writeXLSX(w http.ResponseWriter, name, sheet string, header []string, rows [][]string) error {
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	return tabular.WriteXLSX(w, sheet, header, rows)
}

func fmtScore(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

// zipFS opens an uploaded zip of a package folder. A zip whose entries
// sit in one top folder is read from inside it.
func zipFS(f io.ReaderAt, size int64) (*zip.Reader, string, error) {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return nil, "", apperr.Wrap(apperr.Invalid, err, "marking.err_zip")
	}
	for _, zf := range zr.File {
		if zf.Name == "signed.json" {
			return zr, "", nil
		}
		if strings.HasSuffix(zf.Name, "/signed.json") && strings.Count(zf.Name, "/") == 1 {
			return zr, strings.TrimSuffix(zf.Name, "signed.json"), nil
		}
	}
	return nil, "", apperr.New(apperr.Invalid, "marking.err_no_signed")
}

type fsDir = fs.FS

func subFS(f fs.FS, dir string) (fs.FS, error) {
	s, err := fs.Sub(f, dir)
	if err != nil {
		return nil, apperr.Wrap(apperr.Invalid, err, "marking.err_zip")
	}
	return s, nil
}
