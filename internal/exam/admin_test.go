package exam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/paper"
	"jnedu/internal/exam/site"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
	"jnedu/internal/platform/tabular"
)

// wantErr checks an error's code and message key.
func wantErr(t *testing.T, what string, err error, code apperr.Code, key string) {
	t.Helper()
	e := apperr.As(err)
	if e == nil || e.Code != code || e.Message != key {
		t.Errorf("%s: %v, want %s %s", what, err, code, key)
	}
}

func importCSV(t *testing.T, f *fixture, examID int64, file string) {
	t.Helper()
	rep, err := f.svc.ImportCandidates(context.Background(), f.p["admin"], examID, strings.NewReader(file), "c.csv", tabular.Limits{}, T)
	if err != nil || !rep.Applied {
		t.Fatalf("import: %v %+v", err, rep)
	}
}

func imageBytes(t *testing.T, w, h int, asJPEG bool, noise bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{uint8(x), uint8(y), 128, 255}
			if noise {
				c = color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	var err error
	if asJPEG {
		err = jpeg.Encode(&b, img, nil)
	} else {
		err = png.Encode(&b, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pkgCandidate(pkg bundle.SitePackage, number string) (bundle.Candidate, bool) {
	for _, c := range pkg.Candidates {
		if c.Number == number {
			return c, true
		}
	}
	return bundle.Candidate{}, false
}

func hasBlob(pkg bundle.SitePackage, sha string) bool {
	for _, b := range pkg.Blobs {
		if b == sha {
			return true
		}
	}
	return false
}

// TestCandidatePhoto: one candidate's photo is set and replaced; each
// change is in the site's next package (a new revision, the file listed
// and served). A non-image, a file over the size limit, an image over the
// pixel limit, a cut-off file, a candidate of another exam and site staff
// are refused with their own messages, and change nothing.
func TestCandidatePhoto(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		e := setupExam(t, f)
		admin := f.p["admin"]
		importCSV(t, f, e.ID, csvOf("20270001,张三,济南第一中学,"+DemoIDNumber(0), "20270002,李四,济南第一中学,"+DemoIDNumber(1)))
		if _, err := f.svc.AssignExamSeats(ctx, admin, e.ID); err != nil {
			t.Fatal(err)
		}
		_, c, err := f.svc.Candidate(ctx, admin, e.ID, "20270001")
		if err != nil || c.Photo != "" || c.Site == "" {
			t.Fatalf("candidate before: %+v %v", c, err)
		}
		pkg0, err := f.svc.DownloadPackage(ctx, nil, c.Site)
		if err != nil {
			t.Fatal(err)
		}

		good := imageBytes(t, 120, 160, false, false)
		got, err := f.svc.SetPhoto(ctx, admin, e.ID, "20270001", bytes.NewReader(good))
		if err != nil || got.Photo == "" {
			t.Fatalf("a good PNG: %v %+v", err, got)
		}
		pkg1, err := f.svc.DownloadPackage(ctx, nil, c.Site)
		if err != nil {
			t.Fatal(err)
		}
		pc, ok := pkgCandidate(pkg1, "20270001")
		if pkg1.Revision != pkg0.Revision+1 || !ok || pc.Photo != got.Photo || !hasBlob(pkg1, got.Photo) {
			t.Fatalf("package after the photo: revision %d (was %d), candidate photo %q, listed %v; want %s",
				pkg1.Revision, pkg0.Revision, pc.Photo, hasBlob(pkg1, got.Photo), got.Photo)
		}
		rc, m, err := f.svc.SiteBlob(ctx, nil, c.Site, got.Photo)
		if err != nil {
			t.Fatal(err)
		}
		served, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(served, good) || m.Kind != "photo" || m.Mime != "image/png" {
			t.Errorf("served photo: %d bytes (want %d), kind %s, type %s", len(served), len(good), m.Kind, m.Mime)
		}

		// A JPEG replaces it: the next package lists the new file, not the old.
		jp := imageBytes(t, 90, 120, true, false)
		repl, err := f.svc.SetPhoto(ctx, admin, e.ID, " 20270001 ", bytes.NewReader(jp))
		if err != nil || repl.Photo == got.Photo {
			t.Fatalf("replacing with a JPEG: %v %+v", err, repl)
		}
		pkg2, _ := f.svc.DownloadPackage(ctx, nil, c.Site)
		if pc, _ := pkgCandidate(pkg2, "20270001"); pkg2.Revision != pkg1.Revision+1 || pc.Photo != repl.Photo || hasBlob(pkg2, got.Photo) {
			t.Errorf("package after the replacement: revision %d (was %d), photo %q, old still listed %v", pkg2.Revision, pkg1.Revision, pc.Photo, hasBlob(pkg2, got.Photo))
		}
		if _, _, err := f.svc.SiteBlob(ctx, nil, c.Site, got.Photo); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("the replaced photo is still served to the site: %v", err)
		}

		// Refusals.
		big := imageBytes(t, 900, 900, false, true) // noise does not compress: over 2 MB
		if len(big) <= 2<<20 {
			t.Fatalf("test image of %d bytes is not over the limit", len(big))
		}
		cut := good[:len(good)-40]
		second, err := f.svc.CreateExam(ctx, admin, ExamInput{Code: "T-EXAM2", Title: "另一场考试"})
		if err != nil {
			t.Fatal(err)
		}
		importCSV(t, f, second.ID, csvOf("20279999,王五,济南第一中学,"+DemoIDNumber(5)))
		for _, c := range []struct {
			what   string
			exam   int64
			number string
			body   []byte
			code   apperr.Code
			key    string
		}{
			{"a text file", e.ID, "20270002", []byte(strings.Repeat("not a photo ", 50)), apperr.Invalid, "exam.err_not_image"},
			{"a GIF", e.ID, "20270002", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), apperr.Invalid, "exam.err_not_image"},
			{"a file over 2 MB", e.ID, "20270002", big, apperr.TooLarge, "exam.err_image_large"},
			{"an image over the pixel limit", e.ID, "20270002", imageBytes(t, MaxPhotoSide+1, 8, false, false), apperr.Invalid, "exam.err_photo_pixels"},
			{"a cut-off PNG", e.ID, "20270002", cut, apperr.Invalid, "exam.err_photo_broken"},
			{"a candidate of another exam", e.ID, "20279999", good, apperr.NotFound, "exam.err_no_candidate"},
			{"no such number", e.ID, "20270404", good, apperr.NotFound, "exam.err_no_candidate"},
		} {
			_, err := f.svc.SetPhoto(ctx, admin, c.exam, c.number, bytes.NewReader(c.body))
			wantErr(t, c.what, err, c.code, c.key)
		}
		if _, err := f.svc.SetPhoto(ctx, f.p["exam_staff"], e.ID, "20270002", bytes.NewReader(good)); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("site staff setting a photo: %v, want not found", err)
		}
		cs, _ := f.svc.Candidates(ctx, e.ID, CandidateFilter{})
		for _, x := range cs {
			if x.Number == "20270002" && x.Photo != "" {
				t.Errorf("a refused photo was attached to %s", x.Number)
			}
		}
		other, _ := f.svc.Candidates(ctx, second.ID, CandidateFilter{})
		if len(other) != 1 || other[0].Photo != "" {
			t.Errorf("the other exam's candidate got a photo: %+v", other)
		}
		pkg3, _ := f.svc.DownloadPackage(ctx, nil, c.Site)
		if pkg3.Revision != pkg2.Revision {
			t.Errorf("refused photos moved the revision: %d → %d", pkg2.Revision, pkg3.Revision)
		}
		// The same checks hold for the photos of a zip.
		rep, err := f.svc.ImportPhotos(ctx, admin, e.ID, zipOf(t, map[string][]byte{"20270002.png": imageBytes(t, MaxPhotoSide+1, 8, false, false)}))
		if apperr.CodeOf(err) != apperr.Invalid || rep == nil || len(rep.Bad) != 1 {
			t.Errorf("a zip with an over-size image: %v %+v", err, rep)
		}
	})
}

// TestDeleteSessionsAndRooms: a session or room is deleted only while that
// loses nothing; each refusal names its reason.
func TestDeleteSessionsAndRooms(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		e := setupExam(t, f)
		admin := f.p["admin"]
		sites, _ := f.svc.DemoSites(ctx)
		s0, s1 := sites[0], sites[1]
		count := func(q string, args ...any) int {
			t.Helper()
			var n int
			if err := d.QueryRow(ctx, q, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		// A session nobody has: deleted with its papers, keys and seals.
		papers := map[string]string{"A": "2027-ZK-DEMO-A", "S": "2027-ZK-DEMO-S"}
		x3, err := f.svc.SaveSession(ctx, admin, e.ID, SessionInput{Code: "S3", Title: "S3", StartsAt: 1_900_000_000_000, EndsAt: 1_900_003_600_000, Papers: papers})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Keys(ctx, admin, e.ID, false); err != nil {
			t.Fatal(err)
		}
		if n := count("SELECT COUNT(*) FROM exam_sealed WHERE session_id = ?", x3.ID); n != 4 {
			t.Fatalf("%d sealed papers of S3, want 4 (2 variants × 2 sites)", n)
		}
		if err := f.svc.DeleteSession(ctx, f.p["exam_staff"], e.ID, "S3"); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("site staff deleting a session: %v, want not found", err)
		}
		if err := f.svc.DeleteSession(ctx, admin, e.ID, "S3"); err != nil {
			t.Fatalf("deleting an unused session: %v", err)
		}
		xs, _ := f.svc.Sessions(ctx, e.ID)
		if len(xs) != 2 {
			t.Errorf("%d sessions after the delete, want 2", len(xs))
		}
		for _, tb := range []string{"exam_sealed", "exam_keys", "exam_session_papers"} {
			if n := count("SELECT COUNT(*) FROM "+tb+" WHERE session_id = ?", x3.ID); n != 0 {
				t.Errorf("%d rows of the deleted session left in %s", n, tb)
			}
		}
		wantErr(t, "deleting a session that is not there", f.svc.DeleteSession(ctx, admin, e.ID, "S3"), apperr.NotFound, "exam.err_no_session")
		wantErr(t, "deleting a room that is not there", f.svc.DeleteRoom(ctx, admin, e.ID, s0, "77"), apperr.NotFound, "exam.err_no_room")

		// Seated candidates hold their session and room.
		importCSV(t, f, e.ID, "准考证号,姓名,学校,身份证号,考点代码,场次\r\n"+
			"20270001,甲,济南第一中学,"+DemoIDNumber(0)+",,\r\n20270002,乙,济南第一中学,"+DemoIDNumber(1)+",,\r\n"+
			"20270003,丙,济南第一中学,"+DemoIDNumber(2)+",,\r\n20270004,丁,济南第一中学,"+DemoIDNumber(3)+",,\r\n"+
			"20270005,戊,济南第一中学,"+DemoIDNumber(4)+","+s1+",S2\r\n")
		if _, err := f.svc.AssignExamSeats(ctx, admin, e.ID); err != nil {
			t.Fatal(err)
		}
		cs, _ := f.svc.Candidates(ctx, e.ID, CandidateFilter{})
		c := cs[0]
		wantErr(t, "a room with a candidate", f.svc.DeleteRoom(ctx, admin, e.ID, c.Site, c.Room), apperr.Conflict, "exam.err_room_seated")
		wantErr(t, "a session with candidates", f.svc.DeleteSession(ctx, admin, e.ID, c.Session), apperr.Conflict, "exam.err_delete_seated")
		if n, err := f.svc.ClearSeats(ctx, admin, e.ID); err != nil || n != 5 {
			t.Fatalf("clearing seats: %d %v, want 5", n, err)
		}
		if n := count("SELECT COUNT(*) FROM exam_candidates WHERE exam_id = ? AND (seat > 0 OR room_code <> '' OR session_code <> '')", e.ID); n != 0 {
			t.Errorf("%d candidates still seated after clearing", n)
		}
		wantErr(t, "a session candidates asked for", f.svc.DeleteSession(ctx, admin, e.ID, "S2"), apperr.Conflict, "exam.err_delete_wished")

		// Rooms: any but a site's last; the last not while candidates asked
		// for the site, nor once the site downloaded the exam.
		if err := f.svc.DeleteRoom(ctx, admin, e.ID, s1, "02"); err != nil {
			t.Fatalf("deleting an empty room: %v", err)
		}
		wantErr(t, "the last room of a site candidates asked for", f.svc.DeleteRoom(ctx, admin, e.ID, s1, "01"), apperr.Conflict, "exam.err_room_last_wished")
		if err := f.svc.DeleteRoom(ctx, admin, e.ID, s0, "02"); err != nil {
			t.Fatal(err)
		}
		pkg, err := f.svc.DownloadPackage(ctx, f.p["exam_staff"], s0)
		if err != nil {
			t.Fatal(err)
		}
		if len(pkg.Rooms) != 1 || pkg.Rooms[0].Code != "01" || len(pkg.Sessions) != 2 {
			t.Errorf("package after deletes: rooms %+v, %d sessions", pkg.Rooms, len(pkg.Sessions))
		}
		wantErr(t, "the last room of a site that downloaded the exam", f.svc.DeleteRoom(ctx, admin, e.ID, s0, "01"), apperr.Conflict, "exam.err_room_last_downloaded")
		// Its papers are sealed at the site now: other papers are refused,
		// a new title is not.
		x1, err := f.svc.session(ctx, e.ID, "S1")
		if err != nil {
			t.Fatal(err)
		}
		in := SessionInput{Code: "S1", Title: "S1 改名", StartsAt: x1.StartsAt, EndsAt: x1.EndsAt, Papers: x1.Codes}
		if _, err := f.svc.SaveSession(ctx, admin, e.ID, in); err != nil {
			t.Errorf("a new title for a downloaded session: %v", err)
		}
		other := map[string]string{}
		for v := range x1.Codes {
			other[v] = "2027-ZK-DEMO-A"
		}
		other["S"] = "2027-ZK-DEMO-S"
		in.Papers = other
		_, err = f.svc.SaveSession(ctx, admin, e.ID, in)
		wantErr(t, "other papers for a downloaded session", err, apperr.Conflict, "exam.err_papers_downloaded")
		err = f.svc.DeleteSession(ctx, admin, e.ID, "S1")
		wantErr(t, "a session a site downloaded", err, apperr.Conflict, "exam.err_delete_downloaded")
		if e := apperr.As(err); e == nil || len(e.Args) < 1 || e.Args[0] != s0 {
			t.Errorf("the refusal names %v, want the site %s", err, s0)
		}

		// Once a key is released at a site: no room there, no session, no seating change.
		for _, r := range []string{"02", "03"} {
			if _, err := f.svc.SaveRoom(ctx, admin, e.ID, RoomInput{Site: s0, Code: r, Seats: 4}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.svc.SaveRoom(ctx, admin, e.ID, RoomInput{Site: s1, Code: "02", Seats: 4}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AssignExamSeats(ctx, admin, e.ID); err != nil {
			t.Fatal(err)
		}
		if n, err := f.svc.ReleaseKeys(ctx, admin, e.ID, "S1", s0); err != nil || n != 1 {
			t.Fatalf("release: %d %v", n, err)
		}
		if _, err := f.svc.SaveRoom(ctx, admin, e.ID, RoomInput{Site: s0, Code: "09", Seats: 4}); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "an empty room at a site with a released key", f.svc.DeleteRoom(ctx, admin, e.ID, s0, "09"), apperr.Conflict, "exam.err_room_released")
		wantErr(t, "a session with a released key", f.svc.DeleteSession(ctx, admin, e.ID, "S1"), apperr.Conflict, "exam.err_delete_released")
		if _, err := f.svc.ClearSeats(ctx, admin, e.ID); apperr.CodeOf(err) != apperr.Conflict {
			t.Errorf("clearing seats after a release: %v, want conflict", err)
		}
		if _, err := f.svc.SaveRoom(ctx, admin, e.ID, RoomInput{Site: s1, Code: "09", Seats: 4}); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.DeleteRoom(ctx, admin, e.ID, s1, "09"); err != nil {
			t.Errorf("an empty room at a site with no key released: %v", err)
		}
		rs, _ := f.svc.Rooms(ctx, e.ID, "")
		if len(rs) != 6 {
			t.Errorf("%d rooms at the end, want 6", len(rs))
		}
	})
}

// sealedPapers reads a package's sealed papers of a session.
func sealedPapers(t *testing.T, f *fixture, site string, pkg bundle.SitePackage, session string) (bundle.Session, map[string][]byte) {
	t.Helper()
	out := map[string][]byte{}
	for _, x := range pkg.Sessions {
		if x.Code != session {
			continue
		}
		for _, sp := range x.Papers {
			rc, _, err := f.svc.SiteBlob(context.Background(), nil, site, sp.Blob)
			if err != nil {
				t.Fatalf("sealed paper %s/%s: %v", session, sp.Variant, err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			out[sp.Variant] = b
		}
		return x, out
	}
	t.Fatalf("no session %s in the package", session)
	return bundle.Session{}, nil
}

func codeOf(t *testing.T, f *fixture, examID int64, session, site string) string {
	t.Helper()
	ks, err := f.svc.Keys(context.Background(), f.p["admin"], examID, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.Session == session && k.Site == site {
			return k.SealedCode
		}
	}
	t.Fatalf("no key row %s/%s", session, site)
	return ""
}

// writeFolder writes a package as `jnedu site load` reads it.
func writeFolder(t *testing.T, f *fixture, pkg bundle.SitePackage) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(pkg)
	if err := os.WriteFile(filepath.Join(dir, "package.json"), doc, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, b := range pkg.Blobs {
		data, err := f.svc.readBlob(context.Background(), b, MaxBlobBytes)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "blobs", b), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRekey: replacing a session's key at a site seals its papers again
// under a new key; the site's next package carries them with the new key
// check, the old key opens none of them and a site node refuses the old
// sealed code, while the new one opens them. Other sessions and sites keep
// their keys. Refused once released or once answers arrived.
func TestRekey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		e := setupExam(t, f)
		admin := f.p["admin"]
		sites, _ := f.svc.DemoSites(ctx)
		s0, s1 := sites[0], sites[1]
		importCSV(t, f, e.ID, csvOf("20270001,甲,济南第一中学,"+DemoIDNumber(0), "20270002,乙,济南第一中学,"+DemoIDNumber(1)))
		if _, err := f.svc.AssignExamSeats(ctx, admin, e.ID); err != nil {
			t.Fatal(err)
		}
		pkg1, err := f.svc.DownloadPackage(ctx, nil, s0)
		if err != nil {
			t.Fatal(err)
		}
		other1, _ := f.svc.DownloadPackage(ctx, nil, s1)
		oldCode := codeOf(t, f, e.ID, "S1", s0)
		oldKey, err := bundle.ParseSealedCode(oldCode)
		if err != nil {
			t.Fatal(err)
		}
		old1, oldSealed := sealedPapers(t, f, s0, pkg1, "S1")
		old2, _ := sealedPapers(t, f, s0, pkg1, "S2")
		if bundle.KeyCheck(oldKey) != old1.KeyCheck {
			t.Fatal("the printed code does not match the package's key check")
		}
		node, err := site.Open(ctx, site.Options{DataDir: t.TempDir(), Site: s0, Tool: true})
		if err != nil {
			t.Fatal(err)
		}
		defer node.Close()
		if _, err := node.LoadFolder(ctx, writeFolder(t, f, pkg1)); err != nil {
			t.Fatal(err)
		}

		if _, err := f.svc.Rekey(ctx, f.p["exam_staff"], e.ID, RekeyRequest{Session: "S1", Site: s0}); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("site staff re-keying: %v, want not found", err)
		}
		row, err := f.svc.Rekey(ctx, admin, e.ID, RekeyRequest{Session: "S1", Site: s0})
		if err != nil {
			t.Fatal(err)
		}
		if row.KeyCheck == old1.KeyCheck || row.Rekeys != 1 || row.RekeyedAt == 0 || !row.CanRekey() {
			t.Fatalf("re-keyed row %+v (old check %s)", row, old1.KeyCheck)
		}
		newCode := codeOf(t, f, e.ID, "S1", s0)
		newKey, err := bundle.ParseSealedCode(newCode)
		if err != nil || newCode == oldCode || bundle.KeyCheck(newKey) != row.KeyCheck {
			t.Fatalf("new sealed code %q (old %q): %v", newCode, oldCode, err)
		}
		// A seal made meanwhile with the old key is not kept.
		x1, _ := f.svc.session(ctx, e.ID, "S1")
		if _, err := f.svc.sealed(ctx, e, x1, s0, "A", oldKey); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := d.QueryRow(ctx, "SELECT key_check FROM exam_sealed WHERE session_id = ? AND site_code = ? AND variant = 'A'", x1.ID, s0).Scan(&stored); err != nil || stored != row.KeyCheck {
			t.Errorf("stored seal of S1/A is under key %s (%v), want the new %s", stored, err, row.KeyCheck)
		}

		pkg2, err := f.svc.DownloadPackage(ctx, nil, s0)
		if err != nil {
			t.Fatal(err)
		}
		if pkg2.Revision != pkg1.Revision+1 {
			t.Errorf("revision %d after re-keying, want %d", pkg2.Revision, pkg1.Revision+1)
		}
		new1, newSealed := sealedPapers(t, f, s0, pkg2, "S1")
		new2, _ := sealedPapers(t, f, s0, pkg2, "S2")
		if new1.KeyCheck != row.KeyCheck || len(newSealed) != 3 {
			t.Fatalf("package S1: key check %s (want %s), %d papers", new1.KeyCheck, row.KeyCheck, len(newSealed))
		}
		for v, sealed := range newSealed {
			ad := bundle.PaperAD(e.Code, "S1", v)
			if _, err := bundle.Open(oldKey, sealed, ad); !errors.Is(err, bundle.ErrSealed) {
				t.Errorf("paper %s opens with the old key: %v", v, err)
			}
			pt, err := bundle.Open(newKey, sealed, ad)
			if err != nil {
				t.Errorf("paper %s with the new key: %v", v, err)
				continue
			}
			var pf bundle.PaperFile
			var pp paper.Paper
			if err := json.Unmarshal(pt, &pf); err != nil || json.Unmarshal(pf.Paper, &pp) != nil || pp.Variant != v || len(pp.Sections) == 0 {
				t.Errorf("paper %s opened to variant %q, %d sections (%v)", v, pp.Variant, len(pp.Sections), err)
			}
			if bytes.Equal(sealed, oldSealed[v]) {
				t.Errorf("paper %s was not sealed again", v)
			}
		}
		for _, sp := range old1.Papers {
			if _, _, err := f.svc.SiteBlob(ctx, nil, s0, sp.Blob); apperr.CodeOf(err) != apperr.NotFound {
				t.Errorf("an old sealed paper is still served: %v", err)
			}
		}
		// Other sessions and sites keep their keys and papers.
		if new2.KeyCheck != old2.KeyCheck || new2.Papers[0].Blob != old2.Papers[0].Blob {
			t.Errorf("session S2 changed with S1's key")
		}
		if other2, _ := f.svc.DownloadPackage(ctx, nil, s1); other2.Revision != other1.Revision || other2.Sessions[0].KeyCheck != other1.Sessions[0].KeyCheck {
			t.Errorf("the other site's package changed: revision %d → %d", other1.Revision, other2.Revision)
		}

		// The site node, given the new package, refuses the old sealed code
		// and opens the papers with the new one.
		if _, err := node.LoadFolder(ctx, writeFolder(t, f, pkg2)); err != nil {
			t.Fatal(err)
		}
		if err := node.SetKeyCode(ctx, "S1", oldCode); !errors.Is(err, site.ErrWrongKey) {
			t.Errorf("the site node took the old sealed code: %v", err)
		}
		if err := node.SetKeyCode(ctx, "S1", newCode); err != nil {
			t.Errorf("the site node refused the new sealed code: %v", err)
		}

		// Released: the released key is the new one, and it stays.
		if _, err := f.svc.ReleaseKeys(ctx, admin, e.ID, "S1", s0); err != nil {
			t.Fatal(err)
		}
		if k, err := f.svc.SessionKeyFor(ctx, nil, s0, "S1"); err != nil || k != newKey {
			t.Errorf("released key: %v, want the new one", err)
		}
		_, err = f.svc.Rekey(ctx, admin, e.ID, RekeyRequest{Session: "S1", Site: s0})
		wantErr(t, "re-keying a released key", err, apperr.Conflict, "exam.err_rekey_released")
		// Answers from the other site for S2: its key there stays.
		if err := f.svc.NoteAnswersReceived(ctx, e.Code, s1, "S2"); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.Rekey(ctx, admin, e.ID, RekeyRequest{Session: "S2", Site: s1})
		wantErr(t, "re-keying after answers", err, apperr.Conflict, "exam.err_rekey_answers")
		ks, _ := f.svc.Keys(ctx, admin, e.ID, false)
		for _, k := range ks {
			want := !(k.Session == "S1" && k.Site == s0) && !(k.Session == "S2" && k.Site == s1)
			if k.CanRekey() != want {
				t.Errorf("key %s/%s: may re-key %v, want %v", k.Session, k.Site, k.CanRekey(), want)
			}
		}
		if _, err := f.svc.AssignExamSeats(ctx, admin, e.ID); apperr.CodeOf(err) != apperr.Conflict {
			t.Errorf("seating again after answers and a release: %v, want conflict", err)
		}
		_, err = f.svc.Rekey(ctx, admin, e.ID, RekeyRequest{Session: "S9", Site: s0})
		wantErr(t, "re-keying an unknown session", err, apperr.NotFound, "exam.err_no_session")
		_, err = f.svc.Rekey(ctx, admin, e.ID, RekeyRequest{Session: "S2", Site: "E-NOWHERE"})
		wantErr(t, "re-keying at a site without rooms", err, apperr.NotFound, "exam.err_no_exam_site")
		// S2 at the first site may still be re-keyed.
		if r2, err := f.svc.Rekey(ctx, admin, e.ID, RekeyRequest{Session: "S2", Site: s0}); err != nil || r2.KeyCheck == old2.KeyCheck {
			t.Errorf("re-keying S2 at %s: %v", s0, err)
		}
	})
}
