package share

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"jnedu/internal/demo"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
	"jnedu/internal/platform/events"
)

type fakeJobs struct{ enqueued []string }

func (f *fakeJobs) EnqueueProcess(ctx context.Context, tx db.Querier, sha string) error {
	f.enqueued = append(f.enqueued, sha)
	return nil
}

type fixture struct {
	svc   *Service
	id    *identity.Service
	jobs  *fakeJobs
	d     *db.DB
	clock *time.Time
	p     map[string]*identity.Principal
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	if _, err := d.Migrate(ctx, []db.Source{events.Migrations(), identity.Migrations(), Migrations()}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	rbac := identity.NewRBAC()
	DefinePermissions(rbac)
	ids := identity.NewService(d, rbac, identity.Settings{SessionTTL: time.Hour, SessionMaxAge: 2 * time.Hour, LoginMaxFailures: 5,
		LoginLockout: time.Minute, Demo: true, AuditRetentionDays: 180}, log, nil)
	if _, err := demo.Load(ctx, ids); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	jobs := &fakeJobs{}
	bus := events.NewBus(d, events.Options{Logger: log})
	f := &fixture{svc: NewService(d, blobs, bus, jobs, log, clock), id: ids, jobs: jobs, d: d, clock: &now, p: map[string]*identity.Principal{}}
	for i, u := range []string{"teacher", "teacher2", "student", "exam_staff", "school_admin", "admin"} {
		res, err := ids.Login(ctx, u, demo.Password, "10.0.0."+string(rune('1'+i)), "test")
		if err != nil {
			t.Fatalf("login %s: %v", u, err)
		}
		f.p[u] = res.Principal
	}
	return f
}

func writeUpload(t *testing.T, content string) Uploaded {
	path := filepath.Join(t.TempDir(), "upload.bin")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(content))
	return Uploaded{Path: path, SHA256: hex.EncodeToString(h[:]), Size: int64(len(content)), Name: "一次函数.mp4"}
}

// TestShareAcrossSchools is the subsystem's promise: a teacher at one
// school uploads a lesson, a teacher at another school it is shared with
// finds it by a Chinese search and may watch it, a person outside the
// share list is refused, and a takedown hides it everywhere at once.
func TestShareAcrossSchools(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		other, err := f.id.OrgByCode(ctx, "S-JN09")
		if err != nil {
			t.Fatal(err)
		}
		up := writeUpload(t, "pretend these are the bytes of a lesson recording")
		v, err := f.svc.AddUpload(ctx, f.p["teacher"], up, Meta{Title: "初中数学公开课：一次函数", Subject: "数学", Grade: "八年级",
			Visibility: Orgs, Orgs: []int64{other.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if len(f.jobs.enqueued) != 1 || f.jobs.enqueued[0] != up.SHA256 {
			t.Fatalf("processing jobs = %v, want one for the new media", f.jobs.enqueued)
		}
		// Not listed to others until it plays.
		if _, n, _ := f.svc.List(ctx, f.p["teacher2"], Query{Text: "数学"}); n != 0 {
			t.Errorf("an unprocessed video is listed (%d)", n)
		}
		if _, err := d.Exec(ctx, "UPDATE share_media SET playable = TRUE, state = ? WHERE sha256 = ?", StateReady, up.SHA256); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			who  string
			q    string
			want int
		}{
			{"teacher2", "数学", 1}, // the school it was shared with, by a Chinese word inside the title
			{"teacher2", "一次函数", 1},
			{"teacher2", "公开课 八年级", 1},
			{"teacher2", "物理", 0},
			{"student", "数学", 1},    // the owner's own school
			{"exam_staff", "数学", 0}, // outside the share list
			{"admin", "数学", 1},      // the bureau's platform admin
			{"teacher2", "函", 1},    // a single character
		} {
			vs, n, err := f.svc.List(ctx, f.p[tc.who], Query{Text: tc.q})
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.want || len(vs) != tc.want {
				t.Errorf("%s searching %q: %d results, want %d", tc.who, tc.q, n, tc.want)
			}
		}
		if _, err := f.svc.Visible(ctx, f.p["teacher2"], v.ID, "", ""); err != nil {
			t.Errorf("teacher2 may not watch: %v", err)
		}
		if _, err := f.svc.Visible(ctx, f.p["exam_staff"], v.ID, "", ""); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("exam staff outside the list: %v, want not found", err)
		}
		if _, err := f.svc.Update(ctx, f.p["teacher2"], v.ID, Meta{Title: "改名", Visibility: Everyone}); apperr.CodeOf(err) != apperr.Forbidden {
			t.Errorf("a viewer changing the video: %v, want forbidden", err)
		}

		// The same bytes again: no second processing, the same media.
		v2, err := f.svc.AddUpload(ctx, f.p["teacher2"], writeUpload(t, "pretend these are the bytes of a lesson recording"), Meta{Title: "再传一次"})
		if err != nil {
			t.Fatal(err)
		}
		if v2.MediaSHA256 != v.MediaSHA256 || len(f.jobs.enqueued) != 1 || !v2.Media.Playable {
			t.Errorf("duplicate upload: media %s (playable %v), %d jobs; want the same playable media and no new job", v2.MediaSHA256, v2.Media.Playable, len(f.jobs.enqueued))
		}

		// Views: counted once per person, resumable.
		if err := f.svc.RecordView(ctx, f.p["teacher2"], v, ViewReport{PositionMS: 30_000, WatchedMS: 30_000}, "https://jnedu.example"); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RecordView(ctx, f.p["teacher2"], v, ViewReport{PositionMS: 60_000, WatchedMS: 30_000}, "https://jnedu.example"); err != nil {
			t.Fatal(err)
		}
		if pos, _ := f.svc.Resume(ctx, f.p["teacher2"], v.ID); pos != 60_000 {
			t.Errorf("resume at %d, want 60000", pos)
		}
		got, _ := f.svc.Video(ctx, v.ID)
		if got.Views != 1 {
			t.Errorf("views = %d, want 1 (one person)", got.Views)
		}
		if err := f.svc.RecordView(ctx, f.p["teacher2"], v, ViewReport{PositionMS: -5}, ""); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("negative position: %v", err)
		}
		var recs int
		d.QueryRow(ctx, "SELECT COUNT(*) FROM events_outbox WHERE topic = ?", TopicViewed.Name).Scan(&recs)
		if recs != 2 {
			t.Errorf("%d view records in the outbox, want 2", recs)
		}

		// A school admin of the owner's school takes it down: gone for everyone.
		if err := f.svc.TakeDown(ctx, f.p["school_admin"], v.ID, "内容待审"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Visible(ctx, f.p["teacher2"], v.ID, "", ""); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("after takedown teacher2: %v", err)
		}
		if _, n, _ := f.svc.List(ctx, f.p["student"], Query{Text: "数学"}); n != 0 {
			t.Errorf("after takedown the search still finds it")
		}
		if err := f.svc.Restore(ctx, f.p["teacher"], v.ID); err != nil {
			t.Fatal(err)
		}

		// A public link with an extraction code and an expiry.
		lv, err := f.svc.Update(ctx, f.p["teacher"], v.ID, Meta{Title: v.Title, Visibility: Link, LinkDays: 7, LinkCode: "ab12"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Visible(ctx, nil, v.ID, lv.LinkToken, "AB12"); err != nil {
			t.Errorf("link with the right code: %v", err)
		}
		if _, err := f.svc.Visible(ctx, nil, v.ID, lv.LinkToken, "zz99"); err == nil {
			t.Error("link with a wrong code was accepted")
		}
		if _, err := f.svc.Visible(ctx, nil, v.ID, lv.LinkToken, ""); apperr.CodeOf(err) != apperr.Forbidden {
			t.Errorf("link without its code: %v, want forbidden (code needed)", err)
		}
		if _, err := f.svc.Visible(ctx, nil, v.ID, "not-the-token", "ab12"); err == nil {
			t.Error("a wrong link token was accepted")
		}
		*f.clock = f.clock.Add(8 * 24 * time.Hour)
		if _, err := f.svc.Visible(ctx, nil, v.ID, lv.LinkToken, "ab12"); err == nil {
			t.Error("an expired link was accepted")
		}
	})
}

func TestMetaValidation(t *testing.T) {
	tests := []struct {
		m     Meta
		field string
	}{
		{Meta{Title: ""}, "title"},
		{Meta{Title: "x", Visibility: "friends"}, "visibility"},
		{Meta{Title: "x", Visibility: Orgs}, "orgs"},
		{Meta{Title: "x", Visibility: Link, LinkDays: 0}, "link_days"},
		{Meta{Title: "x", Visibility: Link, LinkDays: 3, LinkCode: "一二三四"}, "link_code"},
		{Meta{Title: "x", Visibility: Link, LinkDays: 3, LinkCode: "ab1"}, "link_code"},
	}
	for _, tt := range tests {
		err := tt.m.validate(true)
		if e := apperr.As(err); e == nil || e.Fields[tt.field] == "" {
			t.Errorf("validate(%+v) = %v, want an error on %s", tt.m, err, tt.field)
		}
	}
	ok := Meta{Title: "  公开课  ", Visibility: Link, LinkDays: 3, LinkCode: "Ab12"}
	if err := ok.validate(true); err != nil || ok.Title != "公开课" {
		t.Errorf("valid meta: %v, title %q", err, ok.Title)
	}
}
