package site

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/site/sitefixture"
)

func TestPackageDownloadFolderAndRefusals(t *testing.T) {
	fx := buildFixture(t, sitefixture.Options{})
	c := newCenter(t, fx)
	ctx := context.Background()
	n := openNode(t, t.TempDir(), Options{Center: c.srv.URL, Site: fx.Package.Site.Code, Token: c.token})
	if err := n.Register(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.pub, n.PublicKey()) {
		t.Fatal("the center did not get the node's key")
	}
	p, isNew, err := n.Download(ctx)
	if err != nil || !isNew || p.Revision != 1 {
		t.Fatalf("download: %v new=%v", err, isNew)
	}
	for b := range fx.Blobs {
		if !n.haveBlob(b) {
			t.Fatalf("blob %s not stored", b)
		}
	}
	if _, isNew, err := n.Download(ctx); err != nil || isNew {
		t.Fatalf("second download: %v new=%v", err, isNew)
	}
	// A partial blob download resumes from where it stopped.
	n2 := openNode(t, t.TempDir(), Options{Center: c.srv.URL, Site: fx.Package.Site.Code, Token: c.token})
	sealed := fx.Package.Sessions[0].Papers[0].Blob
	os.MkdirAll(filepath.Join(n2.opt.DataDir, "blobs"), 0o750)
	os.WriteFile(n2.blobPath(sealed)+".part", fx.Blobs[sealed][:100], 0o600)
	if err := n2.fetchBlob(ctx, sealed); err != nil || !n2.haveBlob(sealed) {
		t.Fatalf("resumed blob: %v", err)
	}

	// The same package from a folder (offline path).
	dir := t.TempDir()
	if err := fx.WriteFolder(dir); err != nil {
		t.Fatal(err)
	}
	n3 := openNode(t, t.TempDir(), Options{Site: fx.Package.Site.Code})
	if _, err := n3.LoadFolder(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if n3.Package() == nil || n3.Package().Revision != 1 {
		t.Fatal("folder package not in force")
	}
	// A damaged file in the folder is refused.
	fx2 := buildFixture(t, sitefixture.Options{Revision: 2})
	dir2 := t.TempDir()
	fx2.WriteFolder(dir2)
	s2 := fx2.Package.Sessions[0].Papers[0].Blob
	os.WriteFile(filepath.Join(dir2, "blobs", s2), []byte("damaged"), 0o600)
	if _, err := n3.LoadFolder(ctx, dir2); !errors.Is(err, ErrBlobMismatch) {
		t.Fatalf("damaged file: %v, want ErrBlobMismatch", err)
	}
	// Another site's package is refused.
	other := buildFixture(t, sitefixture.Options{Site: "E-OTHER"})
	dir3 := t.TempDir()
	other.WriteFolder(dir3)
	if _, err := n3.LoadFolder(ctx, dir3); !errors.Is(err, ErrWrongSite) {
		t.Fatalf("other site's package: %v, want ErrWrongSite", err)
	}
	// An older revision is refused once a newer one is in force.
	fx3 := buildFixture(t, sitefixture.Options{Revision: 3})
	dir4 := t.TempDir()
	fx3.WriteFolder(dir4)
	if _, err := n3.LoadFolder(ctx, dir4); err != nil {
		t.Fatal(err)
	}
	if _, err := n3.LoadFolder(ctx, dir); !errors.Is(err, ErrOldRevision) {
		t.Fatalf("older package: %v, want ErrOldRevision", err)
	}
	// A data folder belongs to its site.
	n3.Close()
	if _, err := Open(ctx, Options{DataDir: n3.opt.DataDir, Site: "E-OTHER"}); err == nil {
		t.Fatal("a data folder of one site opened for another")
	}
}

func TestKeys(t *testing.T) {
	fx := buildFixture(t, sitefixture.Options{})
	c := newCenter(t, fx)
	ctx := context.Background()
	n := openNode(t, t.TempDir(), Options{Center: c.srv.URL, Site: fx.Package.Site.Code, Token: c.token})
	if _, _, err := n.Download(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := n.FetchKey(ctx, "S1"); err != nil || got {
		t.Fatalf("key before release: %v %v", got, err)
	}
	wrong, _ := bundle.NewKey()
	if err := n.SetKeyCode(ctx, "S1", bundle.SealedCode(wrong)); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong key: %v, want ErrWrongKey", err)
	}
	code := bundle.SealedCode(fx.Key)
	typo := strings.Replace(code, code[:1], map[bool]string{true: "Z", false: "Y"}[code[:1] != "Z"], 1)
	if err := n.SetKeyCode(ctx, "S1", typo); !errors.Is(err, bundle.ErrCode) {
		t.Fatalf("mistyped code: %v, want ErrCode", err)
	}
	if n.hasPapers("S1") {
		t.Fatal("papers open after refused keys")
	}
	c.set(func(c *fakeCenter) { c.released = true })
	if got, err := n.FetchKey(ctx, "S1"); err != nil || !got {
		t.Fatalf("key after release: %v %v", got, err)
	}
	if !n.hasPapers("S1") {
		t.Fatal("papers not open")
	}
	// Typed from the envelope on another node: lowercase, spaces.
	n2 := openNode(t, t.TempDir(), Options{Site: fx.Package.Site.Code})
	dir := t.TempDir()
	fx.WriteFolder(dir)
	n2.LoadFolder(ctx, dir)
	if err := n2.SetKeyCode(ctx, "S1", strings.ToLower(strings.ReplaceAll(code, "-", " "))); err != nil {
		t.Fatal(err)
	}
	op := n2.paperOf("S1", "A")
	if op == nil || op.paper.Code != fx.Paper.Code {
		t.Fatal("paper not opened from the typed code")
	}
	// Nothing decrypted is on disk: the paper's text is in no file.
	filepath.Walk(n2.opt.DataDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte("quick brown fox")) {
				t.Errorf("decrypted paper text found in %s", p)
			}
		}
		return nil
	})
}

// startedNode is a node with the fixture loaded, the key set and room 01
// running, served over HTTP.
func startedNode(t *testing.T, fx *sitefixture.Fixture, o Options) (*Node, *httptest.Server) {
	t.Helper()
	ctx := context.Background()
	o.Site = fx.Package.Site.Code
	n := openNode(t, t.TempDir(), o)
	dir := t.TempDir()
	fx.WriteFolder(dir)
	if _, err := n.LoadFolder(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if err := n.SetKey(ctx, "S1", fx.Key, "typed"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(srv.Close)
	return n, srv
}

func TestCandidateFlow(t *testing.T) {
	fx := buildFixture(t, sitefixture.Options{})
	n, srv := startedNode(t, fx, Options{})
	ctx := context.Background()
	a := &client{t: t, base: srv.URL}

	mustCode(t, a.signIn("2027999999", "devA"), 404, "exam.site.no_such_number")
	must(t, a.signIn(fx.Numbers[0], "devA"), 200)
	first := a.id
	other := &client{t: t, base: srv.URL}
	mustCode(t, other.signIn(fx.Numbers[0], "devB"), 409, "exam.site.signed_in_elsewhere")
	// The same browser signing in again (a reload) gets the same attempt.
	must(t, a.signIn(fx.Numbers[0], "devA"), 200)
	if a.id != first {
		t.Fatal("same browser got a new attempt")
	}
	must(t, a.do("POST", a.att("/confirm"), map[string]any{}, nil), 200)
	must(t, a.do("POST", a.att("/device"), map[string]any{"ok": true, "level": 0.3}, nil), 200)
	mustCode(t, a.do("GET", a.att("/paper"), nil, nil), 409, "exam.site.room_not_started")
	mustCode(t, a.do("POST", a.att("/items/s1i1/open"), map[string]any{}, nil), 409, "exam.site.room_not_started")
	if err := n.SetRoom(ctx, "S1", "01", "start"); err != nil {
		t.Fatal(err)
	}
	r := a.do("GET", a.att("/paper"), nil, nil)
	must(t, r, 200)
	if bytes.Contains(r.Body, []byte("reference_text")) || bytes.Contains(r.Body, []byte(`"answer":`)) {
		t.Fatalf("candidate paper carries answers or rubric: %s", r.Body)
	}
	audio := fx.Paper.Sections[0].Items[0].Prompt.Audio
	must(t, a.do("GET", a.att("/files/"+audio), nil, nil), 200)

	// Objective item.
	must(t, a.do("POST", a.att("/items/s1i1/open"), map[string]any{}, nil), 200)
	must(t, a.do("PUT", a.att("/items/s1i1/answer"), map[string]any{"choice": 1}, nil), 200)
	must(t, a.do("POST", a.att("/items/s1i1/close"), map[string]any{"chunks": 0}, nil), 200)
	mustCode(t, a.do("PUT", a.att("/items/s1i1/answer"), map[string]any{"choice": 2}, nil), 409, "exam.site.item_closed")

	// Spoken item: chunks, replays, conflicts, forgeries.
	must(t, a.do("POST", a.att("/items/s2i1/open"), map[string]any{}, nil), 200)
	for seq := range 3 {
		must(t, a.chunk("s2i1", seq, speech(seq)), 200)
	}
	must(t, a.chunk("s2i1", 1, speech(1)), 200) // replay: the first 200 was lost
	mustCode(t, a.chunk("s2i1", 1, speech(4)), 409, "exam.site.chunk_conflict")
	pcm := speech(3)
	r = a.do("PUT", a.att("/items/s2i1/chunks/3"), pcm, map[string]string{"X-Chunk-SHA256": strings.Repeat("0", 64)})
	mustCode(t, r, 400, "exam.site.bad_hash")
	forged := &client{t: t, base: srv.URL, id: a.id, token: "forged-token"}
	mustCode(t, forged.chunk("s2i1", 3, pcm), 403, "exam.site.not_your_attempt")
	b := &client{t: t, base: srv.URL}
	must(t, b.signIn(fx.Numbers[1], "devC"), 200)
	stolen := &client{t: t, base: srv.URL, id: a.id, token: b.token}
	mustCode(t, stolen.chunk("s2i1", 3, pcm), 403, "exam.site.not_your_attempt")
	noTok := &client{t: t, base: srv.URL, id: a.id}
	mustCode(t, noTok.chunk("s2i1", 3, pcm), 401, "exam.site.no_token")
	big := make([]byte, MaxChunkBytes+2)
	mustCode(t, a.chunk("s2i1", 3, big), 413, "exam.site.chunk_too_large")

	must(t, a.do("POST", a.att("/heartbeat"), Heartbeat{Item: "s2i1", Phase: "answer", RemainingMs: 1500}, nil), 200)
	must(t, a.do("POST", a.att("/items/s2i1/close"), map[string]any{"chunks": 3}, nil), 200)
	mustCode(t, a.chunk("s2i1", 3, pcm), 409, "exam.site.item_closed")
	recs, err := n.Recordings(ctx, a.id)
	if err != nil {
		t.Fatal(err)
	}
	rec := recs["s2i1"]
	if rec.DurationMs != 3000 || rec.Silent || rec.SpeechMs < 2500 || rec.Gaps != "" || rec.Chunks != 3 {
		t.Fatalf("recording %+v", rec)
	}
	wav, _ := os.ReadFile(n.recordingPath(a.id, "s2i1"))
	if len(wav) != 44+3*2*SampleRate || string(wav[:4]) != "RIFF" {
		t.Fatalf("wav of %d bytes", len(wav))
	}
	if !bytes.Equal(wav[44:44+2*SampleRate], speech(0)) {
		t.Fatal("wav does not hold the chunks in order")
	}

	// No going back in a no_back section.
	must(t, a.do("POST", a.att("/items/s2i2/open"), map[string]any{}, nil), 200)
	mustCode(t, a.do("POST", a.att("/items/s2i1/open"), map[string]any{}, nil), 409, "exam.site.item_closed")
	must(t, a.chunk("s2i2", 0, speech(0)), 200)
	must(t, a.do("POST", a.att("/heartbeat"), Heartbeat{Item: "s2i2", Phase: "answer", RemainingMs: 2000}, nil), 200)

	// The PC dies: the proctor moves the candidate to a spare seat; the
	// new browser continues at the same item with the remaining time.
	sp := &client{t: t, base: srv.URL}
	mustCode(t, sp.signIn(fx.Numbers[0], "devSpare"), 409, "exam.site.signed_in_elsewhere")
	if err := n.Move(ctx, "S1", fx.Numbers[0], 5, "电脑死机"); err != nil {
		t.Fatal(err)
	}
	must(t, sp.signIn(fx.Numbers[0], "devSpare"), 200)
	if sp.id != a.id {
		t.Fatal("the move started a new attempt")
	}
	mustCode(t, a.chunk("s2i2", 1, speech(1)), 403, "exam.site.not_your_attempt")
	v := sp.view()
	if v.Item != "s2i2" || v.Attempt.Phase != "answer" || v.Attempt.RemainingMs != 2000 || v.Items["s2i2"].NextSeq != 1 || v.Candidate.Seat != 5 {
		t.Fatalf("resume view: item %s phase %s remaining %d next %d seat %d", v.Item, v.Attempt.Phase, v.Attempt.RemainingMs,
			v.Items["s2i2"].NextSeq, v.Candidate.Seat)
	}
	// The remaining time does not grow back.
	must(t, sp.do("POST", sp.att("/heartbeat"), Heartbeat{Item: "s2i2", Phase: "answer", RemainingMs: 9000}, nil), 200)
	if v := sp.view(); v.Attempt.RemainingMs != 2000 {
		t.Fatalf("remaining grew to %d", v.Attempt.RemainingMs)
	}
	must(t, sp.chunk("s2i2", 1, speech(1)), 200)
	// Two seconds recorded of three: one left, though the last beat said two.
	if v := sp.view(); v.Attempt.RemainingMs != 1000 {
		t.Fatalf("remaining %d after 2 s recorded, want 1000", v.Attempt.RemainingMs)
	}
	must(t, sp.do("POST", sp.att("/items/s2i2/close"), map[string]any{"chunks": 2}, nil), 200)
	must(t, sp.do("POST", sp.att("/finish"), map[string]any{}, nil), 200)

	// The console grid and the manifest.
	rv, err := n.Room(ctx, "S1", "01")
	if err != nil {
		t.Fatal(err)
	}
	var seat5 *Seat
	for i := range rv.Seats {
		if rv.Seats[i].Seat == 5 {
			seat5 = &rv.Seats[i]
		}
	}
	if seat5 == nil || seat5.Number != fx.Numbers[0] || seat5.State != StateFinished || !seat5.Spare {
		t.Fatalf("seat 5: %+v", seat5)
	}
	if err := n.Mark(ctx, "S1", fx.Numbers[2], StateAbsent, ""); err != nil {
		t.Fatal(err)
	}
	mustCode(t, (&client{t: t, base: srv.URL}).signIn(fx.Numbers[2], "devD"), 409, "exam.site.marked_absent")
	if err := n.Mark(ctx, "S1", fx.Numbers[1], StateAbnormal, "身体不适"); err != nil {
		t.Fatal(err)
	}
	m, err := n.BuildManifest(ctx, "S1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bundle.CandidateResult{}
	for _, c := range m.Candidates {
		got[c.Number] = c
	}
	c0 := got[fx.Numbers[0]]
	if c0.Status != bundle.StatusFinished || len(c0.Moves) != 1 || c0.Moves[0].To != 5 || c0.Moves[0].Item != "s2i2" || c0.Seat != 5 {
		t.Fatalf("candidate 0: %+v", c0)
	}
	if len(c0.Answers) != 3 || c0.Answers[0].Choice == nil || *c0.Answers[0].Choice != 1 || c0.Answers[1].Recording != rec.SHA256 ||
		c0.Answers[2].DurationMs != 2000 {
		t.Fatalf("answers: %+v", c0.Answers)
	}
	if got[fx.Numbers[1]].Status != bundle.StatusAbnormal || got[fx.Numbers[1]].Reason != "身体不适" ||
		got[fx.Numbers[2]].Status != bundle.StatusAbsent || got[fx.Numbers[3]].Status != bundle.StatusAbsent {
		t.Fatalf("statuses: %+v", m.Candidates)
	}
}

func TestConsole(t *testing.T) {
	fx := buildFixture(t, sitefixture.Options{})
	_, srv := startedNode(t, fx, Options{})
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	res, err := hc.PostForm(srv.URL+"/console/login", url.Values{"username": {"proctor"}, "password": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("bad password: %d", res.StatusCode)
	}
	res, _ = hc.PostForm(srv.URL+"/console/login", url.Values{"username": {"proctor"}, "password": {"proctor-pass-1"}})
	res.Body.Close()
	if res.StatusCode != 200 || res.Request.URL.Path != "/console" {
		t.Fatalf("sign-in: %d at %s", res.StatusCode, res.Request.URL.Path)
	}
	c := &client{t: t, base: srv.URL, hc: hc}
	r := c.do("GET", "/console/api/rooms/S1/01", nil, nil)
	must(t, r, 200)
	var rv RoomView
	json.Unmarshal(r.Body, &rv)
	if len(rv.Seats) != 6 || rv.Seats[0].Number != fx.Numbers[0] || rv.Seats[0].State != "not_signed_in" || !rv.Seats[5].Spare {
		t.Fatalf("room view: %+v", rv)
	}
	// Only the chief may type a key or end the session.
	mustCode(t, c.do("POST", "/console/api/sessions/S1/key", map[string]string{"code": "x"}, nil), 403, "exam.site.chief_only")
	res, _ = hc.PostForm(srv.URL+"/console/login", url.Values{"username": {"chief"}, "password": {"proctor-pass-1"}})
	res.Body.Close()
	wrong, _ := bundle.NewKey()
	mustCode(t, c.do("POST", "/console/api/sessions/S1/key", map[string]string{"code": bundle.SealedCode(wrong)}, nil), 422, "exam.site.wrong_key")
	must(t, c.do("POST", "/console/api/rooms/S1/01/start", map[string]any{}, nil), 200)
	mustCode(t, c.do("POST", "/console/api/rooms/S1/01/start", map[string]any{}, nil), 409, "exam.site.bad_room_action")
	must(t, c.do("POST", "/console/api/rooms/S1/01/pause", map[string]any{}, nil), 200)
	cand := &client{t: t, base: srv.URL}
	must(t, cand.signIn(fx.Numbers[0], "dev1"), 200)
	r = cand.do("POST", cand.att("/heartbeat"), Heartbeat{}, nil)
	if !bytes.Contains(r.Body, []byte(`"room_state":"paused"`)) {
		t.Fatalf("client not told of the pause: %s", r.Body)
	}
	// The end-of-session check lists every candidate × spoken item.
	r = c.do("GET", "/console/api/sessions/S1/check", nil, nil)
	must(t, r, 200)
	var check struct {
		Rows []CheckRow `json:"rows"`
	}
	json.Unmarshal(r.Body, &check)
	if len(check.Rows) != 4*2 || check.Rows[0].Recorded || check.Rows[0].Item != "s2i1" {
		t.Fatalf("check rows: %+v", check.Rows)
	}
	// Pages render in Chinese.
	res, _ = hc.Get(srv.URL + "/console")
	page := new(bytes.Buffer)
	page.ReadFrom(res.Body)
	res.Body.Close()
	if !strings.Contains(page.String(), "考务监控台") || strings.Contains(page.String(), "<script>") {
		t.Fatalf("console page: %s", page.String()[:200])
	}
	// Five wrong passwords lock the name for a minute.
	for i := range 6 {
		res, _ := hc.PostForm(srv.URL+"/console/login", url.Values{"username": {"proctor"}, "password": {"nope"}})
		res.Body.Close()
		want := 401
		if i == 5 {
			want = 429
		}
		if res.StatusCode != want {
			t.Fatalf("wrong password %d: %d, want %d", i+1, res.StatusCode, want)
		}
	}
	// Unsigned console API → 401.
	anon := &client{t: t, base: srv.URL}
	mustCode(t, anon.do("GET", "/console/api/overview", nil, nil), 401, "exam.site.sign_in_first")
}

// TestDiskFull: the disk "fills up" through FaultFS (ENOSPC after a budget
// of bytes). The node answers 507, the console shows the alarm at once, no
// acknowledged chunk is lost, and writing resumes when space returns.
func TestDiskFull(t *testing.T) {
	fx := buildFixture(t, sitefixture.Options{})
	ffs := NewFaultFS(OSFS{})
	n, srv := startedNode(t, fx, Options{FS: ffs})
	ctx := context.Background()
	n.SetRoom(ctx, "S1", "01", "start")
	a := &client{t: t, base: srv.URL}
	must(t, a.signIn(fx.Numbers[0], "devA"), 200)
	must(t, a.do("POST", a.att("/items/s2i1/open"), map[string]any{}, nil), 200)
	ffs.SetBudget(int64(2*(headerLen+2*SampleRate) + 1000))
	acked := 0
	for seq := range 4 {
		r := a.chunk("s2i1", seq, speech(seq))
		if r.Status == 200 {
			acked++
			continue
		}
		mustCode(t, r, 507, "exam.site.disk_full")
	}
	if acked != 2 {
		t.Fatalf("%d chunks acknowledged, want 2", acked)
	}
	found := false
	for _, al := range n.Alarms() {
		found = found || al.Kind == "disk"
	}
	if !found {
		t.Fatalf("no disk alarm: %+v", n.Alarms())
	}
	ffs.SetBudget(-1)
	for seq := 2; seq < 4; seq++ {
		must(t, a.chunk("s2i1", seq, speech(seq)), 200) // the client's retry
	}
	if len(n.Alarms()) != 0 {
		t.Fatalf("alarm stays after recovery: %+v", n.Alarms())
	}
	must(t, a.do("POST", a.att("/items/s2i1/close"), map[string]any{"chunks": 4}, nil), 200)
	recs, _ := n.Recordings(ctx, a.id)
	if recs["s2i1"].DurationMs != 4000 || recs["s2i1"].Gaps != "" {
		t.Fatalf("recording after disk full: %+v", recs["s2i1"])
	}
}

func TestAnswerUploadRetries(t *testing.T) {
	fx := buildFixture(t, sitefixture.Options{})
	c := newCenter(t, fx)
	n, srv := startedNode(t, fx, Options{Center: c.srv.URL, Token: c.token})
	ctx := context.Background()
	if err := n.Register(ctx); err != nil {
		t.Fatal(err)
	}
	n.SetRoom(ctx, "S1", "01", "start")
	var sums []string
	for i := range 2 {
		a := &client{t: t, base: srv.URL}
		must(t, a.signIn(fx.Numbers[i], "dev"+fx.Numbers[i]), 200)
		for k, item := range []string{"s2i1", "s2i2"} {
			must(t, a.do("POST", a.att("/items/"+item+"/open"), map[string]any{}, nil), 200)
			for seq := range 2 {
				pcm := speech(seq + i)
				pcm[0], pcm[2] = byte(i), byte(k) // distinct recordings
				must(t, a.chunk(item, seq, pcm), 200)
			}
			must(t, a.do("POST", a.att("/items/"+item+"/close"), map[string]any{"chunks": 2}, nil), 200)
		}
		must(t, a.do("POST", a.att("/finish"), map[string]any{}, nil), 200)
	}
	// The center is down for a while, then damages one file once.
	c.set(func(c *fakeCenter) { c.down = 5 })
	if err := n.EndSession(ctx, "S1", "chief"); err != nil {
		t.Fatal(err)
	}
	var doc string
	n.db.QueryRow(ctx, `SELECT signed FROM examsite_uploads WHERE session = 'S1'`).Scan(&doc)
	var signed bundle.Signed
	json.Unmarshal([]byte(doc), &signed)
	m, err := bundle.Verify(n.PublicKey(), signed)
	if err != nil {
		t.Fatal(err)
	}
	sums = m.Files()
	if len(sums) != 4 {
		t.Fatalf("%d files in the manifest, want 4", len(sums))
	}
	c.set(func(c *fakeCenter) { c.corrupt[sums[1]] = true })
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { n.Run(runCtx); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var state string
		n.db.QueryRow(ctx, `SELECT state FROM examsite_uploads WHERE session = 'S1'`).Scan(&state)
		if state == "complete" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload not complete; state %q", state)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.complete || len(c.files) != 4 || c.down != 0 || c.corrupt[sums[1]] {
		t.Fatalf("center: complete=%v files=%d down=%d", c.complete, len(c.files), c.down)
	}
	for _, s := range sums {
		b := c.files[s]
		if len(b) != 44+2*2*SampleRate {
			t.Fatalf("file %s of %d bytes", s, len(b))
		}
	}
	last := c.manifests[len(c.manifests)-1]
	// They skipped the objective item: partial, though they pressed finish.
	if len(last.Candidates) != 4 || last.Candidates[0].Status != bundle.StatusPartial || last.Candidates[2].Status != bundle.StatusAbsent {
		t.Fatalf("manifest: %+v", last.Candidates)
	}
	// The export holds the same package.
	out := t.TempDir()
	em, err := n.Export(ctx, "S1", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range em.Files() {
		if _, err := os.Stat(filepath.Join(out, "files", s)); err != nil {
			t.Fatalf("export lacks %s", s)
		}
	}
	eb, _ := os.ReadFile(filepath.Join(out, "signed.json"))
	var es bundle.Signed
	json.Unmarshal(eb, &es)
	if _, err := bundle.Verify(n.PublicKey(), es); err != nil {
		t.Fatalf("exported manifest: %v", err)
	}
}

func TestVAD(t *testing.T) {
	silence := make([]byte, 2*SampleRate)
	if SpeechMs(silence) != 0 {
		t.Fatal("silence has speech")
	}
	noise := make([]byte, 2*SampleRate)
	for i := 0; i < SampleRate; i++ {
		binary.LittleEndian.PutUint16(noise[2*i:], uint16(int16(40*math.Sin(float64(i)))))
	}
	if SpeechMs(noise) != 0 {
		t.Fatal("faint noise counted as speech")
	}
	if s := SpeechMs(speech(0)); s < 900 {
		t.Fatalf("a loud second has %d ms of speech", s)
	}
	if ranges([]int{1, 3, 4, 5, 9}) != "1,3-5,9" {
		t.Fatal(ranges([]int{1, 3, 4, 5, 9}))
	}
}

// TestRepairAtStart: a closed item whose recording row was lost (a power
// cut rolls back SQLite's last commits; the chunks were fsynced) is
// assembled again when the node starts.
func TestRepairAtStart(t *testing.T) {
	fx := buildFixture(t, sitefixture.Options{})
	n, srv := startedNode(t, fx, Options{})
	ctx := context.Background()
	n.SetRoom(ctx, "S1", "01", "start")
	a := &client{t: t, base: srv.URL}
	must(t, a.signIn(fx.Numbers[0], "devA"), 200)
	must(t, a.do("POST", a.att("/items/s2i1/open"), map[string]any{}, nil), 200)
	for seq := range 2 {
		must(t, a.chunk("s2i1", seq, speech(seq)), 200)
	}
	must(t, a.do("POST", a.att("/items/s2i1/close"), map[string]any{"chunks": 2}, nil), 200)
	before, _ := n.Recordings(ctx, a.id)
	if _, err := n.db.Exec(ctx, `DELETE FROM examsite_recordings`); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	n.Close()
	n2 := openNode(t, n.opt.DataDir, Options{Site: fx.Package.Site.Code})
	after, _ := n2.Recordings(ctx, a.id)
	if after["s2i1"].SHA256 == "" || after["s2i1"].SHA256 != before["s2i1"].SHA256 {
		t.Fatalf("recording not repaired: %+v", after)
	}
}

// TestMessageKeys: every key the templates, the console script's strings
// and the handlers name exists in both languages.
func TestMessageKeys(t *testing.T) {
	cat := Messages()
	keyRE := regexp.MustCompile(`"(exam\.site\.[a-z_0-9]+)"`)
	checked := 0
	for _, dir := range []string{"templates", "."} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.*"))
		for _, f := range files {
			if !strings.HasSuffix(f, ".html") && !(strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, "_test.go")) {
				continue
			}
			b, _ := os.ReadFile(f)
			for _, m := range keyRE.FindAllStringSubmatch(string(b), -1) {
				checked++
				if m[1] == "exam.site.internal" || m[1] == "exam.site.alarm_" {
					continue
				}
				if _, ok := cat[m[1]]; !ok {
					t.Errorf("%s names %q, which the catalog lacks", f, m[1])
				}
			}
		}
	}
	if checked < 60 {
		t.Fatalf("only %d keys found", checked)
	}
}

// TestOnlineStart: a node started with a center registers, downloads the
// package and its files, asks for the session key until the center
// releases it, and opens the papers — all in its background loop.
func TestOnlineStart(t *testing.T) {
	fx := buildFixture(t, sitefixture.Options{})
	c := newCenter(t, fx)
	n := openNode(t, t.TempDir(), Options{Center: c.srv.URL, Site: fx.Package.Site.Code, Token: c.token, KeyPoll: 20 * time.Millisecond})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { stop(); <-done }()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	wait("the package", func() bool { return n.Package() != nil })
	c.mu.Lock()
	registered := bytes.Equal(c.pub, n.PublicKey())
	c.mu.Unlock()
	if !registered {
		t.Fatal("the node did not register its key")
	}
	// Key requests are answered 409 until the release.
	wait("key requests", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.requests > 6 })
	if n.hasPapers("S1") {
		t.Fatal("papers open before the key was released")
	}
	c.set(func(c *fakeCenter) { c.released = true })
	wait("the papers", func() bool { return n.hasPapers("S1") })
}
