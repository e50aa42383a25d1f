package share

import (
	"context"
	"slices"
	"testing"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

// addPlayable uploads a video for who and marks its media playable.
func (f *fixture) addPlayable(t *testing.T, who, content string, m Meta) Video {
	t.Helper()
	ctx := context.Background()
	v, err := f.svc.AddUpload(ctx, f.p[who], writeUpload(t, content), m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.d.Exec(ctx, "UPDATE share_media SET playable = TRUE, state = ? WHERE sha256 = ?", StateReady, v.MediaSHA256); err != nil {
		t.Fatal(err)
	}
	return v
}

func ids(vs []Video) []int64 {
	out := make([]int64, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return out
}

// TestCollections: a teacher puts their videos in a collection of their
// school; a teacher of another school cannot change it; each viewer sees in
// it only the videos they may watch, in the editor's order.
func TestCollections(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		school := f.addPlayable(t, "teacher", "lesson one bytes", Meta{Title: "第一课", Visibility: School})
		private := f.addPlayable(t, "teacher", "lesson two bytes", Meta{Title: "第二课（草稿）", Visibility: Private})
		all := f.addPlayable(t, "teacher", "lesson three bytes", Meta{Title: "第三课", Visibility: Everyone})
		pending, err := f.svc.AddUpload(ctx, f.p["teacher"], writeUpload(t, "lesson four, still processing"), Meta{Title: "第四课", Visibility: Everyone})
		if err != nil {
			t.Fatal(err)
		}
		others := f.addPlayable(t, "teacher2", "another school's lesson", Meta{Title: "外校课", Visibility: Everyone})

		if _, err := f.svc.CreateCollection(ctx, f.p["teacher"], CollectionMeta{Title: "  "}); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("a collection without a title: %v, want invalid", err)
		}
		c, err := f.svc.CreateCollection(ctx, f.p["teacher"], CollectionMeta{Title: " 一次函数单元 ", Description: "八年级数学"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Title != "一次函数单元" || c.OrgID != f.p["teacher"].Org.ID || !c.CanEdit {
			t.Errorf("created %+v, want the trimmed title in the teacher's school, editable", c)
		}
		for _, v := range []Video{school, private, all, pending} {
			if err := f.svc.AddToCollection(ctx, f.p["teacher"], c.ID, v.ID); err != nil {
				t.Fatalf("add %d: %v", v.ID, err)
			}
		}
		// Adding twice changes nothing.
		if err := f.svc.AddToCollection(ctx, f.p["teacher"], c.ID, all.ID); err != nil {
			t.Fatal(err)
		}
		// Someone else's video, even one the teacher may watch, cannot go in.
		if err := f.svc.AddToCollection(ctx, f.p["teacher"], c.ID, others.ID); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("adding another teacher's video: %v, want invalid", err)
		}
		if err := f.svc.AddToCollection(ctx, f.p["teacher"], c.ID, 99999); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("adding a missing video: %v, want invalid", err)
		}

		// Each viewer sees what they may watch, and the count agrees.
		for _, tc := range []struct {
			who  string
			want []int64
		}{
			{"teacher", []int64{school.ID, private.ID, all.ID, pending.ID}}, // the owner sees everything, processing or not
			{"student", []int64{school.ID, all.ID}},                         // same school: not the private one nor the unplayable one
			{"teacher2", []int64{all.ID}},                                   // another school: only what is shared with all
			{"school_admin", []int64{school.ID, private.ID, all.ID}},        // manages the school's videos
		} {
			got, vs, err := f.svc.Collection(ctx, f.p[tc.who], c.ID)
			if err != nil {
				t.Fatalf("%s opens the collection: %v", tc.who, err)
			}
			if !slices.Equal(ids(vs), tc.want) || got.VideoCount != len(tc.want) {
				t.Errorf("%s sees %v (count %d), want %v", tc.who, ids(vs), got.VideoCount, tc.want)
			}
			for _, v := range vs {
				if !CanView(f.p[tc.who], v, "", "", f.svc.ms()) {
					t.Errorf("%s is shown video %d they may not watch", tc.who, v.ID)
				}
			}
			list, err := f.svc.Collections(ctx, f.p[tc.who], CollectionQuery{OrgID: c.OrgID})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].ID != c.ID || list[0].VideoCount != len(tc.want) {
				t.Errorf("%s lists the school's collections as %+v, want one counting %d", tc.who, list, len(tc.want))
			}
		}
		if list, _ := f.svc.Collections(ctx, f.p["teacher2"], CollectionQuery{OrgID: f.p["teacher2"].Org.ID}); len(list) != 0 {
			t.Errorf("another school's channel lists %d collections, want 0", len(list))
		}
		if list, _ := f.svc.Collections(ctx, f.p["teacher2"], CollectionQuery{VideoID: all.ID}); len(list) != 1 {
			t.Errorf("collections holding video %d: %d, want 1", all.ID, len(list))
		}
		if list, _ := f.svc.Collections(ctx, f.p["teacher2"], CollectionQuery{Mine: true}); len(list) != 0 {
			t.Errorf("teacher2 may edit %d collections, want 0", len(list))
		}

		// A teacher of another school can change nothing.
		t2 := f.p["teacher2"]
		for name, err := range map[string]error{
			"update": func() error {
				_, err := f.svc.UpdateCollection(ctx, t2, c.ID, CollectionMeta{Title: "改掉"})
				return err
			}(),
			"add":     f.svc.AddToCollection(ctx, t2, c.ID, others.ID),
			"remove":  f.svc.RemoveFromCollection(ctx, t2, c.ID, all.ID),
			"reorder": f.svc.ReorderCollection(ctx, t2, c.ID, []int64{all.ID}),
			"move":    f.svc.MoveInCollection(ctx, t2, c.ID, all.ID, -1),
			"delete":  f.svc.DeleteCollection(ctx, t2, c.ID),
		} {
			if apperr.CodeOf(err) != apperr.Forbidden {
				t.Errorf("teacher2 %s: %v, want refused", name, err)
			}
		}
		if got, vs, _ := f.svc.Collection(ctx, f.p["teacher"], c.ID); got.Title != "一次函数单元" || len(vs) != 4 {
			t.Errorf("after teacher2's attempts: %q with %d videos, want unchanged", got.Title, len(vs))
		}

		// The school's admin may edit it; the order is the editor's.
		if err := f.svc.ReorderCollection(ctx, f.p["school_admin"], c.ID, []int64{all.ID, school.ID}); err != nil {
			t.Fatal(err)
		}
		if _, vs, _ := f.svc.Collection(ctx, f.p["teacher"], c.ID); !slices.Equal(ids(vs), []int64{all.ID, school.ID, private.ID, pending.ID}) {
			t.Errorf("after reorder: %v", ids(vs))
		}
		if err := f.svc.MoveInCollection(ctx, f.p["teacher"], c.ID, pending.ID, -1); err != nil {
			t.Fatal(err)
		}
		if _, vs, _ := f.svc.Collection(ctx, f.p["teacher"], c.ID); !slices.Equal(ids(vs), []int64{all.ID, school.ID, pending.ID, private.ID}) {
			t.Errorf("after moving the last one up: %v", ids(vs))
		}
		if err := f.svc.ReorderCollection(ctx, f.p["teacher"], c.ID, []int64{others.ID}); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("reorder naming a video outside the collection: %v, want invalid", err)
		}
		if err := f.svc.ReorderCollection(ctx, f.p["teacher"], c.ID, []int64{all.ID, all.ID}); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("reorder naming a video twice: %v, want invalid", err)
		}

		// A takedown hides the video inside the collection too.
		if err := f.svc.TakeDown(ctx, f.p["teacher"], all.ID, "待审"); err != nil {
			t.Fatal(err)
		}
		if _, vs, _ := f.svc.Collection(ctx, t2, c.ID); len(vs) != 0 {
			t.Errorf("after takedown teacher2 still sees %v", ids(vs))
		}

		if err := f.svc.RemoveFromCollection(ctx, f.p["teacher"], c.ID, school.ID); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RemoveFromCollection(ctx, f.p["teacher"], c.ID, school.ID); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("removing it again: %v, want not found", err)
		}
		if _, err := f.svc.UpdateCollection(ctx, f.p["school_admin"], c.ID, CollectionMeta{Title: "一次函数"}); err != nil {
			t.Errorf("school admin renames: %v", err)
		}
		if err := f.svc.DeleteCollection(ctx, f.p["teacher"], c.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.Collection(ctx, f.p["teacher"], c.ID); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("a deleted collection: %v, want not found", err)
		}
		if _, err := f.svc.Video(ctx, school.ID); err != nil {
			t.Errorf("deleting the collection deleted its video: %v", err)
		}
	})
}
