package exam

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"jnedu/internal/exam/paper"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/tabular"
	"jnedu/internal/platform/web"
)

func flashOf(r *http.Request) string {
	f := r.URL.Query().Get("flash")
	if strings.HasPrefix(f, "exam.flash_") {
		return f
	}
	return ""
}

// ---- papers ----

type papersData struct {
	Papers []PaperDoc
	Types  []paper.ItemType
}

func (h *Handlers) papersPage(w http.ResponseWriter, r *http.Request) error {
	ps, err := h.svc.Papers(r.Context(), principal(r))
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "exam/papers", web.Page{Title: "exam.papers", Data: papersData{Papers: ps, Types: paper.ItemTypes}, Flash: flashOf(r)})
}

func (h *Handlers) paperCreateSubmit(w http.ResponseWriter, r *http.Request) error {
	code := strings.TrimSpace(r.PostFormValue("code"))
	var pp paper.Paper
	if r.PostFormValue("template") == "example" {
		pp = DemoPaper(strings.TrimSpace(r.PostFormValue("variant")))
	} else {
		pp = paper.Paper{Sections: []paper.Section{{Title: "第一节", Items: []paper.Item{{ID: "s1i1", Type: paper.ListenChoose, Plays: 2, Points: 1}}}}}
	}
	pp.Code, pp.Title, pp.Variant = code, strings.TrimSpace(r.PostFormValue("title")), strings.TrimSpace(r.PostFormValue("variant"))
	identity.Note(r.Context(), "paper:"+code, "created")
	d, err := h.svc.CreatePaper(r.Context(), principal(r), pp)
	if err != nil {
		ps, _ := h.svc.Papers(r.Context(), principal(r))
		return h.rd.FormError(w, r, "exam/papers", web.Page{Title: "exam.papers", Data: papersData{Papers: ps, Types: paper.ItemTypes}}, err)
	}
	return web.Redirect(w, r, "/exam/papers/"+strconv.FormatInt(d.ID, 10))
}

type problemView struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

type paperData struct {
	Doc      PaperDoc
	JSON     string // the document, for the editor and the fallback form
	Problems []problemView
	ProbJSON string
	Labels   string // editor labels (JSON)
	Versions []PaperDoc
	Speech   bool
}

func (h *Handlers) problems(r *http.Request, ps []paper.Problem) []problemView {
	T := h.tr(r)
	var out []problemView
	for _, p := range ps {
		msg := T(p.Key)
		if p.Arg != "" {
			msg += "（" + p.Arg + "）"
		}
		out = append(out, problemView{Path: p.Path, Message: msg})
	}
	return out
}

func (h *Handlers) paperData(r *http.Request, d PaperDoc, doc string) paperData {
	if doc == "" {
		b, _ := json.MarshalIndent(d.Paper, "", "  ")
		doc = string(b)
	}
	pd := paperData{Doc: d, JSON: doc, Problems: h.problems(r, d.Issues), Speech: h.svc.SpeechAvailable()}
	if pd.Problems == nil {
		pd.Problems = []problemView{}
	}
	b, _ := json.Marshal(pd.Problems)
	pd.ProbJSON = string(b)
	T := h.tr(r)
	labels := map[string]string{}
	for _, k := range editorLabels {
		labels[k] = T("exam.ed_" + k)
	}
	for _, t := range paper.ItemTypes {
		labels["type_"+string(t)] = T("exam.type_" + string(t))
	}
	b, _ = json.Marshal(labels)
	pd.Labels = string(b)
	return pd
}

var editorLabels = []string{"title", "variant", "intro", "section", "sections", "add_section", "remove", "no_back", "items", "add_item",
	"id", "type", "prompt", "text", "audio_text", "audio", "image", "upload", "plays", "prep_sec", "answer_sec", "points", "options",
	"answer", "rubric", "reference_text", "reference_answers", "key_points", "add_key_point", "variants", "notes", "tolerance",
	"one_per_line", "uploading", "upload_failed", "clear", "move_up", "move_down", "code"}

func (h *Handlers) paperPage(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := h.svc.PaperFor(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "exam/paper", web.Page{Title: "exam.paper", Data: h.paperData(r, d, ""), Flash: flashOf(r)})
}

func (h *Handlers) paperSaveSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	cur, err := h.svc.PaperFor(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	doc := r.PostFormValue("doc")
	pp, err := DecodePaper(strings.NewReader(doc))
	if err == nil {
		identity.Note(r.Context(), "paper:"+strconv.FormatInt(id, 10), "saved")
		var d PaperDoc
		d, err = h.svc.SavePaper(r.Context(), principal(r), id, pp)
		if err == nil {
			return web.Redirect(w, r, "/exam/papers/"+strconv.FormatInt(d.ID, 10)+"?flash=exam.flash_saved")
		}
	}
	return h.rd.FormError(w, r, "exam/paper", web.Page{Title: "exam.paper", Data: h.paperData(r, cur, doc)}, err)
}

func (h *Handlers) paperPublishSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "paper:"+strconv.FormatInt(id, 10), "published")
	if _, err := h.svc.PublishPaper(r.Context(), principal(r), id); err != nil {
		cur, cerr := h.svc.PaperFor(r.Context(), principal(r), id)
		if cerr != nil {
			return cerr
		}
		return h.rd.FormError(w, r, "exam/paper", web.Page{Title: "exam.paper", Data: h.paperData(r, cur, "")}, err)
	}
	return web.Redirect(w, r, "/exam/papers/"+strconv.FormatInt(id, 10)+"?flash=exam.flash_published")
}

func (h *Handlers) paperSynthesizeSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "paper:"+strconv.FormatInt(id, 10), "synthesized audio")
	d, _, err := h.svc.SynthesizeDraft(r.Context(), principal(r), id)
	if err != nil {
		cur, cerr := h.svc.PaperFor(r.Context(), principal(r), id)
		if cerr != nil {
			return cerr
		}
		return h.rd.FormError(w, r, "exam/paper", web.Page{Title: "exam.paper", Data: h.paperData(r, cur, "")}, err)
	}
	return web.Redirect(w, r, "/exam/papers/"+strconv.FormatInt(d.ID, 10)+"?flash=exam.flash_synthesized")
}

type previewData struct {
	Doc    PaperDoc
	JSON   string
	Labels string
}

var previewLabels = []string{"start", "next", "back", "listen", "prep", "answer", "recording", "done", "finished", "play_again",
	"your_recording", "no_mic", "item", "choose", "section_no_back", "intro", "seconds", "restart"}

func (h *Handlers) previewPage(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := h.svc.PaperFor(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	c := d.Paper.ForCandidate()
	b, _ := json.Marshal(c)
	T := h.tr(r)
	labels := map[string]string{}
	for _, k := range previewLabels {
		labels[k] = T("exam.pv_" + k)
	}
	lb, _ := json.Marshal(labels)
	return h.rd.Render(w, r, http.StatusOK, "exam/preview", web.Page{Title: "exam.preview", Data: previewData{Doc: d, JSON: string(b), Labels: string(lb)}})
}

// ---- administration ----

type examsData struct {
	Exams []ExamView
}

func (h *Handlers) examsPage(w http.ResponseWriter, r *http.Request) error {
	es, err := h.svc.Exams(r.Context(), principal(r))
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "exam/exams", web.Page{Title: "exam.exams", Data: examsData{Exams: es}, Flash: flashOf(r)})
}

func (h *Handlers) examCreateSubmit(w http.ResponseWriter, r *http.Request) error {
	in := ExamInput{Code: r.PostFormValue("code"), Title: r.PostFormValue("title")}
	in.Tolerance, _ = strconv.ParseFloat(r.PostFormValue("tolerance"), 64)
	if v := r.PostFormValue("double_share"); v != "" {
		pct, err := strconv.ParseFloat(v, 64)
		if err != nil {
			pct = -1
		}
		share := pct / 100
		in.DoubleShare = &share
	}
	identity.Note(r.Context(), "exam:"+in.Code, "created")
	e, err := h.svc.CreateExam(r.Context(), principal(r), in)
	if err != nil {
		es, _ := h.svc.Exams(r.Context(), principal(r))
		return h.rd.FormError(w, r, "exam/exams", web.Page{Title: "exam.exams", Data: examsData{Exams: es}}, err)
	}
	return web.Redirect(w, r, "/exam/exams/"+strconv.FormatInt(e.ID, 10)+"?flash=exam.flash_created")
}

type siteCount struct {
	Code, Name string
	Rooms      int
	Seats      int
	Seated     int
}

type examData struct {
	D          examDetail
	Candidates int
	Seated     int
	Sites      []siteCount
	Papers     []PaperDoc // published, for the session form
	Report     *ImportReport
	Photos     *PhotoReport
	AllSites   []identity.Org
	Slots      []string // variant fields of the session form
}

func (h *Handlers) examData(r *http.Request) (examData, error) {
	d, err := h.detail(r)
	if err != nil {
		return examData{}, err
	}
	ed := examData{D: d, Slots: []string{"A", "B", "C", "D", "S"}}
	cs, err := h.svc.Candidates(r.Context(), d.ID, CandidateFilter{})
	if err != nil {
		return ed, err
	}
	per := map[string]*siteCount{}
	for _, rm := range d.Rooms {
		sc := per[rm.SiteCode]
		if sc == nil {
			sc = &siteCount{Code: rm.SiteCode}
			if o, err := h.svc.siteOrg(r.Context(), rm.SiteCode); err == nil {
				sc.Name = o.Name
			}
			per[rm.SiteCode] = sc
			ed.Sites = append(ed.Sites, siteCount{})
		}
		sc.Rooms++
		sc.Seats += rm.Seats
	}
	for _, c := range cs {
		if !d.Manage && !d.SeesSite(c.Site) {
			continue
		}
		ed.Candidates++
		if c.Seat > 0 {
			ed.Seated++
			if sc := per[c.Site]; sc != nil {
				sc.Seated++
			}
		}
	}
	ed.Sites = ed.Sites[:0]
	for _, rm := range d.Rooms {
		if sc := per[rm.SiteCode]; sc != nil {
			ed.Sites = append(ed.Sites, *sc)
			delete(per, rm.SiteCode)
		}
	}
	if d.Manage {
		ps, err := h.svc.Papers(r.Context(), principal(r))
		if err != nil {
			return ed, err
		}
		for _, p := range ps {
			if p.State == Published {
				ed.Papers = append(ed.Papers, p)
			}
		}
		if ed.AllSites, err = h.svc.ids.Orgs(r.Context(), identity.OrgFilter{Kinds: []identity.OrgKind{identity.KindExamSite}}); err != nil {
			return ed, err
		}
	}
	return ed, nil
}

func (h *Handlers) examPage(w http.ResponseWriter, r *http.Request) error {
	ed, err := h.examData(r)
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "exam/exam", web.Page{Title: "exam.exam", Data: ed, Flash: flashOf(r)})
}

// examFormError re-renders the exam page with a form's error.
func (h *Handlers) examFormError(w http.ResponseWriter, r *http.Request, err error, fill func(*examData)) error {
	ed, derr := h.examData(r)
	if derr != nil {
		return derr
	}
	if fill != nil {
		fill(&ed)
	}
	return h.rd.FormError(w, r, "exam/exam", web.Page{Title: "exam.exam", Data: ed}, err)
}

func (h *Handlers) back(w http.ResponseWriter, r *http.Request, id int64, flash string) error {
	return web.Redirect(w, r, "/exam/exams/"+strconv.FormatInt(id, 10)+"?flash="+flash)
}

// parseCST reads a "2006-01-02T15:04" form time in China Standard Time.
func parseCST(s string) int64 {
	t, err := time.ParseInLocation("2006-01-02T15:04", strings.TrimSpace(s), time.FixedZone("CST", 8*3600))
	if err != nil {
		return 0
	}
	return t.UnixMilli()
}

func (h *Handlers) sessionSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	in := SessionInput{Code: r.PostFormValue("code"), Title: r.PostFormValue("title"), StartsAt: parseCST(r.PostFormValue("starts_at")),
		EndsAt: parseCST(r.PostFormValue("ends_at")), Papers: map[string]string{}}
	for _, v := range []string{"A", "B", "C", "D", "S"} {
		if c := strings.TrimSpace(r.PostFormValue("paper_" + v)); c != "" {
			in.Papers[v] = c
		}
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "session "+in.Code)
	if _, err := h.svc.SaveSession(r.Context(), principal(r), id, in); err != nil {
		return h.examFormError(w, r, err, nil)
	}
	return h.back(w, r, id, "exam.flash_saved")
}

func (h *Handlers) roomSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	in := RoomInput{Site: r.PostFormValue("site"), Code: r.PostFormValue("code"), Name: r.PostFormValue("name")}
	in.Seats, _ = strconv.Atoi(r.PostFormValue("seats"))
	in.Spare, _ = strconv.Atoi(r.PostFormValue("spare"))
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "room "+in.Site+"/"+in.Code)
	if _, err := h.svc.SaveRoom(r.Context(), principal(r), id, in); err != nil {
		return h.examFormError(w, r, err, nil)
	}
	return h.back(w, r, id, "exam.flash_saved")
}

func (h *Handlers) importSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rep, err := h.runImport(r, id)
	if err != nil {
		return h.examFormError(w, r, err, func(d *examData) { d.Report = rep })
	}
	if !rep.Applied {
		ed, derr := h.examData(r)
		if derr != nil {
			return derr
		}
		ed.Report = rep
		return h.rd.Render(w, r, http.StatusUnprocessableEntity, "exam/exam", web.Page{Title: "exam.exam", Data: ed, Error: h.rd.T(r, "exam.import_rejected", rep.Invalid)})
	}
	return h.back(w, r, id, "exam.flash_imported")
}

func (h *Handlers) photosSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		return h.examFormError(w, r, apperr.Field("file", "import.err_no_file"), nil)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPhotosZip+1))
	if err != nil {
		return err
	}
	if int64(len(data)) > MaxPhotosZip {
		return h.examFormError(w, r, apperr.New(apperr.TooLarge, "exam.err_zip_large", MaxPhotosZip>>20), nil)
	}
	rep, err := h.svc.ImportPhotos(r.Context(), principal(r), id, data)
	if rep != nil {
		identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "photos matched="+strconv.Itoa(rep.Matched))
	}
	if err != nil {
		return h.examFormError(w, r, err, func(d *examData) { d.Photos = rep })
	}
	ed, err := h.examData(r)
	if err != nil {
		return err
	}
	ed.Photos = rep
	return h.rd.Render(w, r, http.StatusOK, "exam/exam", web.Page{Title: "exam.exam", Data: ed, Flash: "exam.flash_photos"})
}

func (h *Handlers) seatsSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "seats assigned")
	if _, err := h.svc.AssignExamSeats(r.Context(), principal(r), id); err != nil {
		return h.examFormError(w, r, err, nil)
	}
	return h.back(w, r, id, "exam.flash_seated")
}

type candidatesData struct {
	D          ExamView
	Candidates []Candidate
	Site       string
	Session    string
	Room       string
	Title      string
	Sessions   map[string]Session
	Rooms      map[string]Room
	SiteName   string
}

func (h *Handlers) candidatesData(r *http.Request) (candidatesData, error) {
	v, cs, err := h.candidatesFor(r)
	if err != nil {
		return candidatesData{}, err
	}
	q := r.URL.Query()
	cd := candidatesData{D: v, Candidates: cs, Site: q.Get("site"), Session: q.Get("session"), Room: q.Get("room"),
		Sessions: map[string]Session{}, Rooms: map[string]Room{}}
	xs, err := h.svc.Sessions(r.Context(), v.ID)
	if err != nil {
		return cd, err
	}
	for _, x := range xs {
		cd.Sessions[x.Code] = x
	}
	rs, err := h.svc.Rooms(r.Context(), v.ID, "")
	if err != nil {
		return cd, err
	}
	for _, rm := range rs {
		cd.Rooms[rm.SiteCode+"/"+rm.Code] = rm
	}
	if o, err := h.svc.siteOrg(r.Context(), cd.Site); err == nil {
		cd.SiteName = o.Name
	}
	return cd, nil
}

func (h *Handlers) candidatesPage(w http.ResponseWriter, r *http.Request) error {
	cd, err := h.candidatesData(r)
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "exam/candidates", web.Page{Title: "exam.candidates", Data: cd})
}

func (h *Handlers) candidatesCSV(w http.ResponseWriter, r *http.Request) error {
	_, cs, err := h.candidatesFor(r)
	if err != nil {
		return err
	}
	rows := make([][]string, 0, len(cs))
	for _, c := range cs {
		seat := ""
		if c.Seat > 0 {
			seat = strconv.Itoa(c.Seat)
		}
		rows = append(rows, []string{c.Number, c.Name, c.School, c.IDMasked, c.Session, c.Site, c.Room, seat, c.Variant})
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="candidates.csv"`)
	return tabular.WriteCSV(w, []string{"准考证号", "姓名", "学校", "身份证号", "场次", "考点", "考场", "座位", "试卷"}, rows)
}

func (h *Handlers) ticketsPage(w http.ResponseWriter, r *http.Request) error {
	cd, err := h.candidatesData(r)
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "exam/tickets", web.Page{Title: "exam.tickets", Data: cd})
}

func (h *Handlers) signinPage(w http.ResponseWriter, r *http.Request) error {
	cd, err := h.candidatesData(r)
	if err != nil {
		return err
	}
	if cd.Site == "" || cd.Session == "" || cd.Room == "" {
		return apperr.New(apperr.Invalid, "exam.err_signin_filter")
	}
	return h.rd.Render(w, r, http.StatusOK, "exam/signin", web.Page{Title: "exam.signin", Data: cd})
}

type keysData struct {
	D    keysExam
	Keys []KeyRow
}

type keysExam struct {
	ExamView
	SessionCodes []string
}

func (h *Handlers) keysData(r *http.Request, codes bool) (keysData, error) {
	id, err := pathID(r)
	if err != nil {
		return keysData{}, err
	}
	v, err := h.svc.ExamFor(r.Context(), principal(r), id)
	if err != nil {
		return keysData{}, err
	}
	ks, err := h.svc.Keys(r.Context(), principal(r), id, codes)
	if err != nil {
		return keysData{}, err
	}
	if s := r.URL.Query().Get("session"); s != "" {
		var out []KeyRow
		for _, k := range ks {
			if k.Session == s {
				out = append(out, k)
			}
		}
		ks = out
	}
	kd := keysData{D: keysExam{ExamView: v}, Keys: ks}
	seen := map[string]bool{}
	for _, k := range ks {
		if !seen[k.Session] {
			seen[k.Session] = true
			kd.D.SessionCodes = append(kd.D.SessionCodes, k.Session)
		}
	}
	return kd, nil
}

func (h *Handlers) keysPage(w http.ResponseWriter, r *http.Request) error {
	kd, err := h.keysData(r, false)
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "exam/keys", web.Page{Title: "exam.keys", Data: kd, Flash: flashOf(r)})
}

func (h *Handlers) releaseSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	session, site := r.PostFormValue("session"), r.PostFormValue("site")
	if session == "" {
		return apperr.Field("session", "err.required")
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "key released: session "+session+" site "+orAll(site))
	if _, err := h.svc.ReleaseKeys(r.Context(), principal(r), id, session, site); err != nil {
		return err
	}
	return web.Redirect(w, r, "/exam/exams/"+strconv.FormatInt(id, 10)+"/keys?flash=exam.flash_released")
}

func (h *Handlers) codesPage(w http.ResponseWriter, r *http.Request) error {
	kd, err := h.keysData(r, true)
	if err != nil {
		return err
	}
	identity.NoteAction(r.Context(), "exam sealed codes viewed")
	return h.rd.Render(w, r, http.StatusOK, "exam/codes", web.Page{Title: "exam.codes", Data: kd})
}

type staffData struct {
	D        ExamView
	Site     identity.Org
	Staff    []StaffMember
	In       StaffInput
	Password string
}

func (h *Handlers) staffData(r *http.Request) (staffData, error) {
	id, err := pathID(r)
	if err != nil {
		return staffData{}, err
	}
	e, err := h.svc.MayManage(r.Context(), principal(r), id)
	if err != nil {
		return staffData{}, err
	}
	o, err := h.svc.siteOrg(r.Context(), r.PathValue("site"))
	if err != nil {
		return staffData{}, err
	}
	st, err := h.svc.Staff(r.Context(), o.Code)
	if err != nil {
		return staffData{}, err
	}
	return staffData{D: ExamView{Exam: e, Manage: true}, Site: o, Staff: st}, nil
}

func (h *Handlers) staffPage(w http.ResponseWriter, r *http.Request) error {
	sd, err := h.staffData(r)
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "exam/staff", web.Page{Title: "exam.staff", Data: sd, Flash: flashOf(r)})
}

func (h *Handlers) staffSubmit(w http.ResponseWriter, r *http.Request) error {
	sd, err := h.staffData(r)
	if err != nil {
		return err
	}
	in := StaffInput{Username: r.PostFormValue("username"), Name: r.PostFormValue("name"), Password: r.PostFormValue("password"),
		Chief: r.PostFormValue("chief") == "on"}
	identity.Note(r.Context(), "site:"+sd.Site.Code, "exam staff "+in.Username)
	if _, err := h.svc.CreateStaff(r.Context(), principal(r), sd.D.ID, sd.Site.Code, in); err != nil {
		in.Password = ""
		sd.In = in
		return h.rd.FormError(w, r, "exam/staff", web.Page{Title: "exam.staff", Data: sd}, err)
	}
	return web.Redirect(w, r, "/exam/exams/"+strconv.FormatInt(sd.D.ID, 10)+"/sites/"+sd.Site.Code+"/staff?flash=exam.flash_staff")
}

// ---- deleting, clearing seats, re-keying ----

func (h *Handlers) sessionDeleteSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	session := r.PathValue("session")
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "delete session "+session)
	if err := h.svc.DeleteSession(r.Context(), principal(r), id, session); err != nil {
		return h.examFormError(w, r, err, nil)
	}
	return h.back(w, r, id, "exam.flash_session_deleted")
}

func (h *Handlers) roomDeleteSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	site, room := r.PathValue("site"), r.PathValue("room")
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "delete room "+site+"/"+room)
	if err := h.svc.DeleteRoom(r.Context(), principal(r), id, site, room); err != nil {
		return h.examFormError(w, r, err, nil)
	}
	return h.back(w, r, id, "exam.flash_room_deleted")
}

func (h *Handlers) seatsClearSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "clear seats")
	n, err := h.svc.ClearSeats(r.Context(), principal(r), id)
	if err != nil {
		return h.examFormError(w, r, err, nil)
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "clear seats: "+strconv.Itoa(n)+" candidates")
	return h.back(w, r, id, "exam.flash_seats_cleared")
}

func (h *Handlers) rekeySubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	in := RekeyRequest{Session: r.PostFormValue("session"), Site: r.PostFormValue("site")}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "replace key: session "+in.Session+" site "+in.Site)
	k, err := h.svc.Rekey(r.Context(), principal(r), id, in)
	if err != nil {
		kd, kerr := h.keysData(r, false)
		if kerr != nil {
			return kerr
		}
		return h.rd.FormError(w, r, "exam/keys", web.Page{Title: "exam.keys", Data: kd}, err)
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "replace key: session "+k.Session+" site "+k.Site+", new key check "+k.KeyCheck)
	return web.Redirect(w, r, "/exam/exams/"+strconv.FormatInt(id, 10)+"/keys?flash=exam.flash_rekeyed")
}

// ---- one candidate ----

type candidateData struct {
	D        ExamView
	C        Candidate
	Session  Session
	Room     Room
	SiteName string
	MaxKB    int64
	MaxSide  int
}

func (h *Handlers) candidateData(r *http.Request) (candidateData, error) {
	id, err := pathID(r)
	if err != nil {
		return candidateData{}, err
	}
	v, c, err := h.svc.Candidate(r.Context(), principal(r), id, r.PathValue("number"))
	if err != nil {
		return candidateData{}, err
	}
	cd := candidateData{D: v, C: c, MaxKB: h.svc.cfg.MaxImageBytes >> 10, MaxSide: MaxPhotoSide}
	if c.Session != "" {
		if x, err := h.svc.session(r.Context(), id, c.Session); err == nil {
			cd.Session = x
		}
	}
	if c.Site != "" {
		if o, err := h.svc.siteOrg(r.Context(), c.Site); err == nil {
			cd.SiteName = o.Name
		}
		rs, err := h.svc.Rooms(r.Context(), id, c.Site)
		if err != nil {
			return cd, err
		}
		for _, rm := range rs {
			if rm.Code == c.Room {
				cd.Room = rm
			}
		}
	}
	return cd, nil
}

func (h *Handlers) candidatePage(w http.ResponseWriter, r *http.Request) error {
	cd, err := h.candidateData(r)
	if err != nil {
		return err
	}
	return h.rd.Render(w, r, http.StatusOK, "exam/candidate", web.Page{Title: "exam.candidate", Data: cd, Flash: flashOf(r)})
}

func (h *Handlers) candidatePhotoSubmit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	number := strings.ToUpper(strings.TrimSpace(r.PathValue("number")))
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "photo of "+number)
	fail := func(err error) error {
		cd, derr := h.candidateData(r)
		if derr != nil {
			if apperr.CodeOf(derr) == apperr.NotFound {
				return err // the candidate is not in this exam: say so
			}
			return derr
		}
		return h.rd.FormError(w, r, "exam/candidate", web.Page{Title: "exam.candidate", Data: cd}, err)
	}
	f, _, err := r.FormFile("photo")
	if err != nil {
		return fail(apperr.Field("photo", "import.err_no_file"))
	}
	defer f.Close()
	c, err := h.svc.SetPhoto(r.Context(), principal(r), id, number, f)
	if err != nil {
		return fail(err)
	}
	identity.Note(r.Context(), "exam:"+strconv.FormatInt(id, 10), "photo of "+c.Number+": "+c.Photo)
	return web.Redirect(w, r, "/exam/exams/"+strconv.FormatInt(id, 10)+"/candidates/"+c.Number+"?flash=exam.flash_photo")
}
