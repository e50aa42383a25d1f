package marking

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/web"
)

func (h *Handlers) render(w http.ResponseWriter, r *http.Request, name, title string, data map[string]any) error {
	return h.rd.Render(w, r, http.StatusOK, "marking/"+name, web.Page{Title: title, Flash: r.URL.Query().Get("flash"), Data: data})
}

func back(w http.ResponseWriter, r *http.Request, path, flash string) error {
	return web.Redirect(w, r, path+"?flash="+url.QueryEscape(flash))
}

func formFloat(r *http.Request, name string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(r.PostFormValue(name)), 64)
	if err != nil {
		return 0, apperr.Field(name, "err.invalid_value")
	}
	return v, nil
}

func examPath(r *http.Request) string { return url.PathEscape(r.PathValue("exam")) }

// indexPage lists exams with work for examiners (and leaders).
func (h *Handlers) indexPage(w http.ResponseWriter, r *http.Request) error {
	exams, err := h.svc.Exams(r.Context())
	if err != nil {
		return err
	}
	type row struct {
		Exam     string
		Progress map[string]int
		Lead     bool
	}
	var rows []row
	for _, e := range exams {
		pr, err := h.svc.Progress(r.Context(), e)
		if err != nil {
			return err
		}
		lead, err := h.svc.IsLeader(r.Context(), principal(r), e)
		if err != nil {
			return err
		}
		rows = append(rows, row{Exam: e, Progress: pr, Lead: lead})
	}
	return h.render(w, r, "index", "marking.title", map[string]any{"Exams": rows})
}

func (h *Handlers) markPage(w http.ResponseWriter, r *http.Request) error {
	return h.render(w, r, "mark", "marking.workspace", map[string]any{"Exam": r.PathValue("exam")})
}

func (h *Handlers) leadPage(w http.ResponseWriter, r *http.Request) error {
	exam := r.PathValue("exam")
	cases, err := h.svc.LeaderQueue(r.Context(), principal(r), exam)
	if err != nil {
		return err
	}
	return h.render(w, r, "lead", "marking.lead_title", map[string]any{"Exam": exam, "Cases": cases})
}

func (h *Handlers) leadSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	score, err := formFloat(r, "score")
	if err != nil {
		return err
	}
	reason := r.PostFormValue("reason")
	identity.Note(r.Context(), "exam-answer:"+strconv.FormatInt(id, 10), fmt.Sprintf("leader score %g: %s", score, reason))
	if err := h.svc.LeaderDecide(r.Context(), principal(r), r.PathValue("exam"), id, score, reason); err != nil {
		return err
	}
	return back(w, r, "/exam/marking/"+examPath(r)+"/lead", "marking.decided")
}

// copiesPage is the leader's list of possible copies, with both
// recordings and the decision.
func (h *Handlers) copiesPage(w http.ResponseWriter, r *http.Request) error {
	exam := r.PathValue("exam")
	p := principal(r)
	if err := h.svc.mustLead(r.Context(), p, exam); err != nil {
		return err
	}
	pairs, err := h.svc.Copies(r.Context(), p, exam)
	if err != nil {
		return err
	}
	return h.render(w, r, "copies", "marking.copies_title", map[string]any{"Exam": exam, "Pairs": pairs, "Reveal": isStaff(p), "Lead": true})
}

func (h *Handlers) copySubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	d, note := r.PostFormValue("decision"), r.PostFormValue("note")
	confirm, err := copyDecision(d)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam-copy:"+strconv.FormatInt(id, 10), d+": "+note)
	if err := h.svc.DecideCopy(r.Context(), principal(r), r.PathValue("exam"), id, confirm, note); err != nil {
		return err
	}
	flash := "marking.copy_dismissed"
	if confirm {
		flash = "marking.copy_confirmed"
	}
	return back(w, r, "/exam/marking/"+examPath(r)+"/copies", flash)
}

func (h *Handlers) adminPage(w http.ResponseWriter, r *http.Request) error {
	exams, err := h.svc.Exams(r.Context())
	if err != nil {
		return err
	}
	return h.render(w, r, "admin", "marking.admin_title", map[string]any{"Exams": exams})
}

func (h *Handlers) importSubmit(w http.ResponseWriter, r *http.Request) error {
	if r.MultipartForm == nil || len(r.MultipartForm.File["package"]) == 0 {
		return apperr.Field("package", "marking.err_no_signed")
	}
	fh := r.MultipartForm.File["package"][0]
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	zr, dir, err := zipFS(f, fh.Size)
	if err != nil {
		return err
	}
	var fsys fsDir = zr
	if dir != "" {
		if fsys, err = subFS(zr, strings.TrimSuffix(dir, "/")); err != nil {
			return err
		}
	}
	rep, err := h.svc.ImportPackage(r.Context(), principal(r), fsys)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam-site:"+rep.Site, fmt.Sprintf("import %s %s: %d files, complete=%v", rep.Exam, rep.Session, rep.Files, rep.Receipt.Complete))
	return h.rd.Render(w, r, http.StatusOK, "marking/imported", web.Page{Title: "marking.import_title", Data: map[string]any{"Report": rep}})
}

func (h *Handlers) intakePage(w http.ResponseWriter, r *http.Request) error {
	exam := r.PathValue("exam")
	prog, err := h.svc.Completeness(r.Context(), exam)
	if err != nil {
		return err
	}
	set, err := h.svc.Settings(r.Context(), exam)
	if err != nil {
		return err
	}
	leaders, err := h.svc.Leaders(r.Context(), exam)
	if err != nil {
		return err
	}
	stages, err := h.svc.Progress(r.Context(), exam)
	if err != nil {
		return err
	}
	return h.render(w, r, "intake", "marking.intake_title", map[string]any{"Exam": exam, "Sites": prog, "Settings": set,
		"SharePct": set.DoubleShare * 100, "Leaders": leaders, "Stages": stages})
}

func (h *Handlers) intakeExport(w http.ResponseWriter, r *http.Request) error {
	exam := r.PathValue("exam")
	prog, err := h.svc.Completeness(r.Context(), exam)
	if err != nil {
		return err
	}
	T := func(k string) string { return h.rd.T(r, k) }
	header := []string{T("marking.col_session"), T("marking.col_site"), T("marking.col_expected"), T("marking.col_received"), T("marking.col_finished"),
		T("marking.col_absent"), T("marking.col_complete"), T("marking.col_missing_files"), T("marking.col_empty"), T("marking.col_silent"), T("marking.col_abnormal")}
	var rows [][]string
	flags := func(fs []Flag) string {
		var b []string
		for _, f := range fs {
			b = append(b, strings.TrimSpace(f.Number+" "+f.Item+" "+f.Note))
		}
		return strings.Join(b, "; ")
	}
	for _, sp := range prog {
		rows = append(rows, []string{sp.Session, sp.Site, strconv.Itoa(sp.Expected), strconv.Itoa(sp.Received), strconv.Itoa(sp.Finished),
			strconv.Itoa(sp.Absent), strconv.FormatBool(sp.Complete), strings.Join(sp.MissingFiles, " "), flags(sp.Empty), flags(sp.Silent), flags(sp.Abnormal)})
	}
	h.exported(r, "exam:"+exam, fmt.Sprintf("site completeness export, %d rows", len(rows)))
	return writeXLSX(w, "completeness-"+exam+".xlsx", T("marking.intake_title"), header, rows)
}

func (h *Handlers) settingsSubmit(w http.ResponseWriter, r *http.Request) error {
	pct, err := formFloat(r, "double_share")
	if err != nil {
		return err
	}
	tol, err := formFloat(r, "tolerance")
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam:"+r.PathValue("exam"), fmt.Sprintf("double share %g%%, tolerance %g", pct, tol))
	if err := h.svc.SaveSettings(r.Context(), r.PathValue("exam"), pct/100, tol); err != nil {
		return err
	}
	return back(w, r, "/exam/marking/"+examPath(r)+"/intake", "marking.saved")
}

func (h *Handlers) leaderAdd(w http.ResponseWriter, r *http.Request) error {
	u := r.PostFormValue("username")
	identity.Note(r.Context(), "exam:"+r.PathValue("exam"), "leader added: "+u)
	if err := h.svc.AddLeader(r.Context(), principal(r), r.PathValue("exam"), u); err != nil {
		return err
	}
	return back(w, r, "/exam/marking/"+examPath(r)+"/intake", "marking.saved")
}

func (h *Handlers) leaderRemove(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam:"+r.PathValue("exam"), "leader removed: user "+strconv.FormatInt(id, 10))
	if err := h.svc.RemoveLeader(r.Context(), r.PathValue("exam"), id); err != nil {
		return err
	}
	return back(w, r, "/exam/marking/"+examPath(r)+"/intake", "marking.saved")
}

func (h *Handlers) releaseSubmit(w http.ResponseWriter, r *http.Request) error {
	rel := r.PostFormValue("release") == "1"
	identity.Note(r.Context(), "exam:"+r.PathValue("exam"), "results released="+strconv.FormatBool(rel))
	if err := h.svc.Release(r.Context(), principal(r), r.PathValue("exam"), rel); err != nil {
		return err
	}
	return back(w, r, "/exam/marking/"+examPath(r)+"/intake", "marking.saved")
}

func (h *Handlers) calibrateSubmit(w http.ResponseWriter, r *http.Request) error {
	n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("count")))
	if err != nil {
		return apperr.Field("count", "marking.err_calibrate_count")
	}
	made, err := h.svc.Calibrate(r.Context(), r.PathValue("exam"), n)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam:"+r.PathValue("exam"), fmt.Sprintf("calibration sample of %d", made))
	return back(w, r, "/exam/marking/"+examPath(r)+"/qc", "marking.calibration_opened")
}

func (h *Handlers) reopenSubmit(w http.ResponseWriter, r *http.Request) error {
	exam, site, session := r.PathValue("exam"), r.PathValue("site"), r.PathValue("session")
	if _, err := h.svc.siteOrg(r.Context(), principal(r), site); err != nil {
		return err
	}
	identity.Note(r.Context(), "exam-site:"+site, "package re-opened: "+exam+" "+session)
	if err := h.svc.ReopenPackage(r.Context(), exam, site, session); err != nil {
		return err
	}
	return back(w, r, "/exam/marking/"+examPath(r)+"/intake", "marking.reopened")
}

func (h *Handlers) qcPage(w http.ResponseWriter, r *http.Request) error {
	exam := r.PathValue("exam")
	qc, err := h.svc.QC(r.Context(), exam)
	if err != nil {
		return err
	}
	pairs, err := h.svc.Copies(r.Context(), principal(r), exam)
	if err != nil {
		return err
	}
	return h.render(w, r, "qc", "marking.qc_title", map[string]any{"Exam": exam, "QC": qc, "Pairs": pairs, "Reveal": true})
}

func pct(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }

func (h *Handlers) qcExport(w http.ResponseWriter, r *http.Request) error {
	exam := r.PathValue("exam")
	qc, err := h.svc.QC(r.Context(), exam)
	if err != nil {
		return err
	}
	T := func(k string) string { return h.rd.T(r, k) }
	header := []string{T("marking.col_examiner"), T("marking.col_marks"), T("marking.col_problems"), T("marking.col_median"), T("marking.col_paired"),
		T("marking.col_agreement"), T("marking.col_mad"), T("marking.col_machine_agreement"), T("marking.col_machine_mad"), T("marking.col_calibration")}
	var rows [][]string
	for _, q := range qc {
		rows = append(rows, []string{q.Name, strconv.Itoa(q.Marks), strconv.Itoa(q.Problems), fmt.Sprint(q.MedianSeconds), strconv.Itoa(q.Paired),
			pct(q.Agreement), fmt.Sprint(q.MeanAbsDiff), pct(q.MachineAgree), fmt.Sprint(q.MachineMAD), fmt.Sprintf("%d (%s)", q.Calibration, pct(q.CalibAgree))})
	}
	h.exported(r, "exam:"+exam, fmt.Sprintf("examiner QC export, %d rows", len(rows)))
	return writeXLSX(w, "examiners-"+exam+".xlsx", T("marking.qc_title"), header, rows)
}

func (h *Handlers) resultsIndex(w http.ResponseWriter, r *http.Request) error {
	exams, err := h.svc.Exams(r.Context())
	if err != nil {
		return err
	}
	type row struct {
		Exam     string
		Released int64
	}
	var rows []row
	staff := isStaff(principal(r))
	for _, e := range exams {
		set, err := h.svc.Settings(r.Context(), e)
		if err != nil {
			return err
		}
		if staff || set.ReleasedAt > 0 {
			rows = append(rows, row{Exam: e, Released: set.ReleasedAt})
		}
	}
	return h.render(w, r, "results_index", "marking.results_title", map[string]any{"Exams": rows})
}

func (h *Handlers) resultsPage(w http.ResponseWriter, r *http.Request) error {
	exam := r.PathValue("exam")
	res, err := h.svc.Results(r.Context(), principal(r), exam, 5000)
	if err != nil {
		return err
	}
	set, err := h.svc.Settings(r.Context(), exam)
	if err != nil {
		return err
	}
	var detail *Result
	if n := r.URL.Query().Get("number"); n != "" {
		d, err := h.svc.CandidateResult(r.Context(), principal(r), exam, n)
		if err != nil {
			return err
		}
		detail = &d
	}
	return h.render(w, r, "results", "marking.results_title", map[string]any{"Exam": exam, "Results": res, "Released": set.ReleasedAt,
		"Staff": isStaff(principal(r)), "Detail": detail})
}

func (h *Handlers) resultsExport(w http.ResponseWriter, r *http.Request) error {
	exam := r.PathValue("exam")
	res, err := h.svc.Results(r.Context(), principal(r), exam, 0)
	if err != nil {
		return err
	}
	T := func(k string) string { return h.rd.T(r, k) }
	header := []string{T("marking.col_number"), T("marking.col_name"), T("marking.col_school"), T("marking.col_session"), T("marking.col_site"),
		T("marking.col_status"), T("marking.col_total"), T("marking.col_max"), T("marking.col_copies")}
	var rows [][]string
	for _, x := range res {
		rows = append(rows, []string{x.Number, x.Name, x.School, x.Session, x.Site, T("marking.status_" + x.Status), fmtScore(x.Total), fmt.Sprint(x.Max),
			strings.Join(x.Copies, " ")})
	}
	h.exported(r, "exam:"+exam, fmt.Sprintf("results export, %d rows", len(rows)))
	return writeXLSX(w, "results-"+exam+".xlsx", T("marking.results_title"), header, rows)
}

func (h *Handlers) reviewsPage(w http.ResponseWriter, r *http.Request) error {
	exam := r.PathValue("exam")
	p := principal(r)
	rv, err := h.svc.Reviews(r.Context(), p, exam)
	if err != nil {
		return err
	}
	lead, err := h.svc.IsLeader(r.Context(), p, exam)
	if err != nil {
		return err
	}
	type row struct {
		Review
		Items []ItemScore
	}
	var rows []row
	for _, x := range rv {
		rw := row{Review: x}
		if lead && x.State == ReviewAccepted {
			if res, err := h.svc.result(r.Context(), h.svc.db, exam, x.Number); err == nil {
				rw.Items = res.Items
			}
		}
		rows = append(rows, rw)
	}
	return h.render(w, r, "reviews", "marking.reviews_title", map[string]any{"Exam": exam, "Reviews": rows, "Staff": isStaff(p), "Lead": lead,
		"CanRequest": !isStaff(p) && p.Can(PermResults)})
}

// leaderReviewsPage is the review list for the exam's leaders (who need
// not hold the results permission).
func (h *Handlers) leaderReviewsPage(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.mustLead(r.Context(), principal(r), r.PathValue("exam")); err != nil {
		return err
	}
	return h.reviewsPage(w, r)
}

func (h *Handlers) reviewRequestSubmit(w http.ResponseWriter, r *http.Request) error {
	n := strings.TrimSpace(r.PostFormValue("number"))
	identity.Note(r.Context(), "exam-candidate:"+r.PathValue("exam")+"/"+n, "review requested")
	if _, err := h.svc.RequestReview(r.Context(), principal(r), r.PathValue("exam"), n, r.PostFormValue("reason")); err != nil {
		return err
	}
	return back(w, r, "/exam/results/"+examPath(r)+"/reviews", "marking.review_requested")
}

func (h *Handlers) reviewAccept(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam-review:"+strconv.FormatInt(id, 10), "accepted")
	if err := h.svc.AcceptReview(r.Context(), principal(r), r.PathValue("exam"), id); err != nil {
		return err
	}
	return back(w, r, "/exam/results/"+examPath(r)+"/reviews", "marking.saved")
}

func (h *Handlers) reviewAnswer(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	reject := r.PostFormValue("reject") == "1"
	identity.Note(r.Context(), "exam-review:"+strconv.FormatInt(id, 10), "answered (rejected="+strconv.FormatBool(reject)+")")
	if err := h.svc.AnswerReview(r.Context(), principal(r), r.PathValue("exam"), id, r.PostFormValue("answer"), reject); err != nil {
		return err
	}
	return back(w, r, "/exam/results/"+examPath(r)+"/reviews", "marking.saved")
}

func (h *Handlers) reviewRemark(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	scores := map[string]float64{}
	for k, v := range r.PostForm {
		if item, ok := strings.CutPrefix(k, "score_"); ok && len(v) > 0 && strings.TrimSpace(v[0]) != "" {
			f, err := strconv.ParseFloat(strings.TrimSpace(v[0]), 64)
			if err != nil {
				return apperr.Field(k, "err.invalid_value")
			}
			scores[item] = f
		}
	}
	if len(scores) > 200 {
		return apperr.New(apperr.Invalid, "err.invalid_value")
	}
	reason := r.PostFormValue("reason")
	identity.Note(r.Context(), "exam-review:"+strconv.FormatInt(id, 10), fmt.Sprintf("re-marked %v: %s", scores, reason))
	if err := h.svc.RemarkReview(r.Context(), principal(r), r.PathValue("exam"), id, scores, reason); err != nil {
		return err
	}
	return back(w, r, "/exam/marking/"+examPath(r)+"/reviews", "marking.saved")
}

func (h *Handlers) scorePage(w http.ResponseWriter, r *http.Request) error {
	return h.render(w, r, "score", "marking.score_title", map[string]any{"Exam": r.URL.Query().Get("exam")})
}

// scoreSubmit is the candidate's lookup, and their review request when the
// form carries a reason.
func (h *Handlers) scoreSubmit(w http.ResponseWriter, r *http.Request) error {
	exam, number, idn := r.PostFormValue("exam"), r.PostFormValue("number"), r.PostFormValue("id_number")
	page := web.Page{Title: "marking.score_title", Data: map[string]any{"Exam": exam, "Number": number}}
	if err := h.allowLookup(r); err != nil {
		return h.rd.FormError(w, r, "marking/score", page, err)
	}
	res, err := h.svc.Lookup(r.Context(), exam, number, idn)
	if err != nil {
		return h.rd.FormError(w, r, "marking/score", page, err)
	}
	data := map[string]any{"Exam": exam, "Number": number, "Result": res}
	if reason := strings.TrimSpace(r.PostFormValue("reason")); reason != "" {
		if _, err := h.svc.RequestReview(r.Context(), nil, strings.TrimSpace(exam), res.Number, reason); err != nil {
			page.Data = data
			return h.rd.FormError(w, r, "marking/score", page, err)
		}
		identity.Note(r.Context(), "exam-candidate:"+exam+"/"+res.Number, "review requested by the candidate")
		page.Flash = "marking.review_requested"
	}
	if data["Reviews"], err = h.svc.ReviewStatus(r.Context(), strings.TrimSpace(exam), res.Number); err != nil {
		return err
	}
	page.Data = data
	return h.rd.Render(w, r, http.StatusOK, "marking/score", page)
}

// OpenDir is the import of a package folder on this machine (the CLI).
func OpenDir(dir string) (fsDir, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a folder", dir)
	}
	return os.DirFS(dir), nil
}
