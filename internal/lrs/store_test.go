package lrs

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

func writer(f *fixture, org string) Writer {
	return Writer{ClientID: 7, OrgPath: org, Authority: obj{"objectType": "Agent", "account": obj{"homePage": "https://jnedu.test", "name": "k"}}, Version: V200}
}

func TestStoreImmutability(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, Limits{})
		ctx := context.Background()
		id := "6d7f8a2e-1c3b-4d5e-8f90-a1b2c3d4e5f6"
		if _, err := f.svc.Store(ctx, writer(f, "/1/"), []obj{stmt(t, statementJSON(id, "a", verbCompleted, "http://x.test/a"))}, nil); err != nil {
			t.Fatalf("store: %v", err)
		}
		first, err := f.svc.Statement(ctx, id, "")
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		// The same statement again, later, with the id in capitals: no change.
		f.clock.Add(time.Minute)
		upper := "6D7F8A2E-1C3B-4D5E-8F90-A1B2C3D4E5F6"
		if _, err := f.svc.Store(ctx, writer(f, "/1/"), []obj{stmt(t, statementJSON(upper, "a", verbCompleted, "http://x.test/a"))}, nil); err != nil {
			t.Fatalf("store the same statement again: %v", err)
		}
		again, _ := f.svc.Statement(ctx, id, "")
		if again.Stored != first.Stored {
			t.Errorf("stored changed from %d to %d on a repeated statement", first.Stored, again.Stored)
		}
		// Other content under the same id: conflict, and the batch that
		// carried it stores nothing.
		other := "0e1d2c3b-4a59-4867-8756-a4b3c2d1e0f9"
		_, err = f.svc.Store(ctx, writer(f, "/1/"), []obj{
			stmt(t, statementJSON(other, "b", verbCompleted, "http://x.test/b")),
			stmt(t, statementJSON(id, "a", verbAttempted, "http://x.test/a")),
		}, nil)
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("different content under a stored id: err %v, want ErrConflict", err)
		}
		if n := countRows(t, d, "SELECT COUNT(*) FROM lrs_statements"); n != 1 {
			t.Errorf("after the refused batch: %d statements, want 1", n)
		}
		if n := countRows(t, d, "SELECT COUNT(*) FROM events_outbox WHERE topic = ?", TopicStored.Name); n != 1 {
			t.Errorf("stored events: %d, want 1 (one per statement kept)", n)
		}
	})
}

func TestSameStatementRules(t *testing.T) {
	base := `{"id":"6d7f8a2e-1c3b-4d5e-8f90-a1b2c3d4e5f6","actor":{"mbox":"mailto:a@b.test"},"verb":{"id":"http://v.test/x"},
		"object":{"id":"http://o.test/1"},"timestamp":"2026-01-01T08:00:00+08:00","result":{"duration":"PT1.234S"},
		"context":{"contextActivities":{"parent":{"id":"http://o.test/p"}}}}`
	cases := []struct {
		name  string
		other string
		same  bool
	}{
		{"stored, authority and version ignored", `{"id":"6d7f8a2e-1c3b-4d5e-8f90-a1b2c3d4e5f6","actor":{"mbox":"mailto:a@b.test"},"verb":{"id":"http://v.test/x"},
			"object":{"id":"http://o.test/1"},"timestamp":"2026-01-01T00:00:00Z","result":{"duration":"PT1.23S"},
			"context":{"contextActivities":{"parent":[{"id":"http://o.test/p"}]}},"stored":"2026-01-02T00:00:00Z","version":"1.0.0",
			"authority":{"mbox":"mailto:x@y.test"}}`, true},
		{"another verb", `{"id":"6d7f8a2e-1c3b-4d5e-8f90-a1b2c3d4e5f6","actor":{"mbox":"mailto:a@b.test"},"verb":{"id":"http://v.test/y"},
			"object":{"id":"http://o.test/1"},"timestamp":"2026-01-01T08:00:00+08:00","result":{"duration":"PT1.234S"},
			"context":{"contextActivities":{"parent":{"id":"http://o.test/p"}}}}`, false},
		{"another instant", `{"id":"6d7f8a2e-1c3b-4d5e-8f90-a1b2c3d4e5f6","actor":{"mbox":"mailto:a@b.test"},"verb":{"id":"http://v.test/x"},
			"object":{"id":"http://o.test/1"},"timestamp":"2026-01-01T08:00:01+08:00","result":{"duration":"PT1.234S"},
			"context":{"contextActivities":{"parent":{"id":"http://o.test/p"}}}}`, false},
		{"duration differs at 0.1 s", `{"id":"6d7f8a2e-1c3b-4d5e-8f90-a1b2c3d4e5f6","actor":{"mbox":"mailto:a@b.test"},"verb":{"id":"http://v.test/x"},
			"object":{"id":"http://o.test/1"},"timestamp":"2026-01-01T08:00:00+08:00","result":{"duration":"PT1.334S"},
			"context":{"contextActivities":{"parent":{"id":"http://o.test/p"}}}}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := SameStatement(stmt(t, base), stmt(t, c.other)); got != c.same {
				t.Errorf("SameStatement = %v, want %v", got, c.same)
			}
		})
	}
}

func TestVoiding(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, Limits{})
		ctx := context.Background()
		target := "11111111-1111-4111-8111-111111111111"
		voider := "22222222-2222-4222-8222-222222222222"
		if _, err := f.svc.Store(ctx, writer(f, "/1/"), []obj{stmt(t, statementJSON(target, "a", verbCompleted, "http://x.test/a"))}, nil); err != nil {
			t.Fatal(err)
		}
		f.clock.Add(time.Second)
		void := stmt(t, `{"id":"`+voider+`","actor":{"mbox":"mailto:t@school.test"},"verb":{"id":"`+VerbVoided+`"},"object":{"objectType":"StatementRef","id":"`+target+`"}}`)
		if _, err := f.svc.Store(ctx, writer(f, "/1/"), []obj{void}, nil); err != nil {
			t.Fatalf("store voiding statement: %v", err)
		}
		st, err := f.svc.Statement(ctx, target, "")
		if err != nil || !st.Voided {
			t.Fatalf("target after voiding: voided %v, err %v; want voided", st.Voided, err)
		}
		list, _, err := f.svc.Statements(ctx, Query{Activity: "http://x.test/a"})
		if err != nil {
			t.Fatal(err)
		}
		// The voided statement is gone from queries; the voiding statement,
		// which refers to a statement that matches, is there.
		if len(list) != 1 || list[0].ID != voider {
			t.Errorf("query by the voided statement's activity = %v, want only the voiding statement", ids(list))
		}
		again := stmt(t, `{"actor":{"mbox":"mailto:t@school.test"},"verb":{"id":"`+VerbVoided+`"},"object":{"objectType":"StatementRef","id":"`+voider+`"}}`)
		if _, err := f.svc.Store(ctx, writer(f, "/1/"), []obj{again}, nil); !IsInvalid(err) {
			t.Errorf("voiding a voiding statement: err %v, want invalid", err)
		}
	})
}

func ids(list []StoredStatement) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.ID
	}
	return out
}

// TestPaginationStable pages through statements while new ones arrive: the
// pages hold exactly the statements there were, in order, once each.
func TestPaginationStable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, Limits{})
		ctx := context.Background()
		var want []string
		for i := range 23 {
			// Several statements share a stored millisecond (batches).
			if i%4 == 0 {
				f.clock.Add(time.Millisecond)
			}
			got, err := f.svc.Store(ctx, writer(f, "/1/"), []obj{stmt(t, statementJSON("", fmt.Sprint("p", i), verbCompleted, "http://x.test/page"))}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, got[0])
		}
		for _, asc := range []bool{false, true} {
			var seen []string
			var after *Cursor
			for page := 0; page < 10; page++ {
				list, more, err := f.svc.Statements(ctx, Query{Verb: verbCompleted, Limit: 5, Ascending: asc, After: after})
				if err != nil {
					t.Fatal(err)
				}
				seen = append(seen, ids(list)...)
				// A newer statement arrives between pages.
				f.clock.Add(time.Millisecond)
				if _, err := f.svc.Store(ctx, writer(f, "/1/"), []obj{stmt(t, statementJSON("", "late", verbAttempted, "http://x.test/page"))}, nil); err != nil {
					t.Fatal(err)
				}
				if !more {
					break
				}
				last := list[len(list)-1]
				after = &Cursor{Stored: last.Stored, ID: last.ID}
			}
			if len(seen) != len(want) {
				t.Fatalf("ascending %v: paged %d statements, want %d", asc, len(seen), len(want))
			}
			dup := map[string]bool{}
			for _, id := range seen {
				if dup[id] {
					t.Errorf("ascending %v: %s seen twice", asc, id)
				}
				dup[id] = true
			}
			for _, id := range want {
				if !dup[id] {
					t.Errorf("ascending %v: %s never seen", asc, id)
				}
			}
			// Order: stored never goes backwards in the asked direction.
			var prev int64 = -1
			for _, id := range seen {
				st, _ := f.svc.Statement(ctx, id, "")
				if prev >= 0 && ((asc && st.Stored < prev) || (!asc && st.Stored > prev)) {
					t.Errorf("ascending %v: out of order at %s", asc, id)
				}
				prev = st.Stored
			}
		}
	})
}

func TestOrgScope(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, Limits{})
		ctx := context.Background()
		a, _ := f.svc.Store(ctx, writer(f, "/1/4/"), []obj{stmt(t, statementJSON("", "x", verbCompleted, "http://x.test/o"))}, nil)
		b, _ := f.svc.Store(ctx, writer(f, "/1/5/"), []obj{stmt(t, statementJSON("", "y", verbCompleted, "http://x.test/o"))}, nil)
		list, _, err := f.svc.Statements(ctx, Query{OrgPrefix: "/1/4/"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != a[0] {
			t.Errorf("subtree /1/4/ sees %v, want only %s", ids(list), a[0])
		}
		if _, err := f.svc.Statement(ctx, b[0], "/1/4/"); !isNotFound(err) {
			t.Errorf("another subtree's statement by id: err %v, want not found", err)
		}
		if list, _, _ := f.svc.Statements(ctx, Query{OrgPrefix: "/1/"}); len(list) != 2 {
			t.Errorf("the root sees %d statements, want 2", len(list))
		}
	})
}

func TestDocumentConcurrency(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, Limits{})
		ctx := context.Background()
		k := DocKey{Kind: KindActivityProfile, OrgPath: "/1/", Activity: "http://x.test/a", DocID: "p"}
		d1, err := f.svc.PutDocument(ctx, k, "application/json", []byte(`{"a":1}`), false, Precondition{IfNoneMatch: "*", Required: true})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if _, err := f.svc.PutDocument(ctx, k, "application/json", []byte(`{"a":2}`), false, Precondition{IfNoneMatch: "*", Required: true}); !errors.Is(err, errPrecondition) {
			t.Errorf("If-None-Match * on an existing document: %v, want precondition failed", err)
		}
		if _, err := f.svc.PutDocument(ctx, k, "application/json", []byte(`{"a":2}`), false, Precondition{Required: true}); !errors.Is(err, errNeedPrecondition) {
			t.Errorf("PUT without a precondition on an existing document: %v, want conflict", err)
		}
		if _, err := f.svc.PutDocument(ctx, k, "application/json", []byte(`{"a":2}`), false, Precondition{IfMatch: `"0000"`, Required: true}); !errors.Is(err, errPrecondition) {
			t.Errorf("stale If-Match: %v, want precondition failed", err)
		}
		d2, err := f.svc.PutDocument(ctx, k, "application/json", []byte(`{"b":2}`), true, Precondition{IfMatch: d1.ETag})
		if err != nil {
			t.Fatalf("merge with the right ETag: %v", err)
		}
		got, _ := f.svc.GetDocument(ctx, k)
		if v := normalize(mustDecode(t, got.Body)); mustJSON(v) != `{"a":1,"b":2}` {
			t.Errorf("merged document = %s, want {\"a\":1,\"b\":2}", got.Body)
		}
		if got.ETag != d2.ETag || got.ETag == d1.ETag {
			t.Errorf("ETag after merge = %s (returned %s, before %s)", got.ETag, d2.ETag, d1.ETag)
		}
		if _, err := f.svc.PutDocument(ctx, k, "text/plain", []byte("x"), true, Precondition{}); !errors.Is(err, errMergeNotJSON) {
			t.Errorf("merging text into JSON: %v, want refused", err)
		}
		if err := f.svc.DeleteDocuments(ctx, k, false, Precondition{IfMatch: d1.ETag}); !errors.Is(err, errPrecondition) {
			t.Errorf("delete with a stale ETag: %v, want precondition failed", err)
		}
		if err := f.svc.DeleteDocuments(ctx, k, false, Precondition{IfMatch: d2.ETag}); err != nil {
			t.Errorf("delete with the right ETag: %v", err)
		}
		if _, err := f.svc.GetDocument(ctx, k); !isNotFound(err) {
			t.Errorf("after delete: %v, want not found", err)
		}
	})
}

func mustDecode(t *testing.T, b []byte) any {
	t.Helper()
	v, err := decodeJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestClients(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, Limits{})
		ctx := context.Background()
		c, secret, err := f.svc.CreateClient(ctx, 1, ClientInput{Name: "阅卷系统", Scope: ScopeRead, OrgID: 4, OrgPath: "/1/4/"})
		if err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, d, "SELECT COUNT(*) FROM lrs_clients WHERE secret_hash = ?", secret); n != 0 {
			t.Error("the secret is stored in the clear")
		}
		if got, err := f.svc.Authenticate(ctx, c.Key, secret); err != nil || got.ID != c.ID || !got.CanRead() || got.CanWrite() {
			t.Errorf("authenticate = %+v, %v", got, err)
		}
		if _, err := f.svc.Authenticate(ctx, c.Key, secret+"x"); !errors.Is(err, errBadCredentials) {
			t.Errorf("wrong secret: %v", err)
		}
		if err := f.svc.RevokeClient(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Authenticate(ctx, c.Key, secret); !errors.Is(err, errBadCredentials) {
			t.Errorf("revoked client: %v, want bad credentials", err)
		}
		if _, _, err := f.svc.CreateClient(ctx, 1, ClientInput{Name: "x", Scope: "admin", OrgID: 4, OrgPath: "/1/4/"}); err == nil {
			t.Error("unknown scope accepted")
		}
	})
}

// TestConcurrentSameStatement: tools retrying at once store one statement
// and all hear success.
func TestConcurrentSameStatement(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, Limits{})
		for round := range 20 {
			id := fmt.Sprintf("55555555-5555-4555-8555-%012d", round)
			start := make(chan struct{})
			errs := make(chan error, 6)
			for range 6 {
				go func() {
					<-start
					_, err := f.svc.Store(context.Background(), writer(f, "/1/"), []obj{stmt(t, statementJSON(id, "c", verbCompleted, "http://x.test/c"))}, nil)
					errs <- err
				}()
			}
			close(start)
			for range 6 {
				if err := <-errs; err != nil {
					t.Errorf("concurrent store: %v", err)
				}
			}
			if n := countRows(t, d, "SELECT COUNT(*) FROM lrs_statements WHERE id = ?", id); n != 1 {
				t.Errorf("rows: %d, want 1", n)
			}
		}
	})
}
