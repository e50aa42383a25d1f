package lrs

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

// TestMergeMemo: what the store remembers of definitions and persons
// never hides a change. A definition that returns after another replaced
// it is merged again; what a refused batch carried is not taken as stored.
func TestMergeMemo(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, Limits{})
		ctx := context.Background()
		w := writer(f, "/1/")
		const act = "http://x.test/lesson"
		taken := "6d7f8a2e-1c3b-4d5e-8f90-a1b2c3d4e5f6"
		n := 0
		withName := func(actor, name, title string) obj {
			n++
			return stmt(t, fmt.Sprintf(`{"id":"00000000-0000-4000-8000-%012d","actor":{"objectType":"Agent","name":%q,"mbox":"mailto:%s@school.test"},
				"verb":{"id":%q},"object":{"id":%q,"definition":{"name":{"zh-CN":%q}}}}`, n, name, actor, verbCompleted, act, title))
		}
		store := func(sts ...obj) error {
			_, err := f.svc.Store(ctx, w, sts, nil)
			return err
		}
		title := func() string {
			a, err := f.svc.Activity(ctx, act, "")
			if err != nil {
				t.Fatal(err)
			}
			return a["definition"].(obj)["name"].(obj)["zh-CN"].(string)
		}
		names := func(actor string) []any {
			p, err := f.svc.Person(ctx, obj{"mbox": "mailto:" + actor + "@school.test"}, "")
			if err != nil {
				t.Fatal(err)
			}
			list, _ := p["name"].([]any)
			return list
		}
		for _, step := range []string{"听力一", "听力一", "听力二", "听力一"} {
			if err := store(withName("a", "张三", step)); err != nil {
				t.Fatal(err)
			}
			if got := title(); got != step {
				t.Errorf("after a statement naming the lesson %s: %s", step, got)
			}
		}
		// A refused batch: its new title and its student's new name are
		// not stored, so the same again later is merged.
		if err := store(stmt(t, statementJSON(taken, "b", verbCompleted, "http://x.test/other"))); err != nil {
			t.Fatal(err)
		}
		// It shares its transaction with a good batch (on SQLite).
		var err, errC, errD error
		c, a, conflict, dd := withName("c", "李四", "听力一"), withName("a", "张三丰", "听力三"),
			stmt(t, statementJSON(taken, "b", verbAttempted, "http://x.test/other")), withName("d", "王五", "听力二")
		// A voiding statement between them makes the store write a's rows
		// (and merge its name and title) before it meets the conflict.
		voids := stmt(t, fmt.Sprintf(`{"actor":{"mbox":"mailto:t@school.test"},"verb":{"id":%q},"object":{"objectType":"StatementRef","id":"00000000-0000-4000-8000-000000000001"}}`, VerbVoided))
		together(t, f, func() { errC = store(c) }, func() { err = store(a, voids, conflict) }, func() { errD = store(dd) })
		if !errors.Is(err, ErrConflict) || errC != nil || errD != nil {
			t.Fatalf("conflicting batch: %v; good batches: %v, %v", err, errC, errD)
		}
		// On SQLite the first batch goes alone and the others after it; on
		// PostgreSQL the good two race.
		if got := title(); got == "听力三" || (d.Dialect() == db.SQLite && got != "听力二") {
			t.Errorf("after the refused batch and the ones beside it: %s", got)
		}
		if got := names("a"); len(got) != 1 {
			t.Errorf("names after the refused batch: %v", got)
		}
		if err := store(withName("a", "张三丰", "听力三")); err != nil {
			t.Fatal(err)
		}
		if got := title(); got != "听力三" {
			t.Errorf("the refused title stored again: %s", got)
		}
		if got := names("a"); len(got) != 2 {
			t.Errorf("names after the refused name is stored again: %v, want both", got)
		}
	})
}
