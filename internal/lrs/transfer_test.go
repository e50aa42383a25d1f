package lrs

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

// seedMixed stores statements of several kinds over three months through
// the API's path: Chinese names, both versions, with and without a
// timestamp, an attachment by URL, a voided statement and its voider.
func seedMixed(t *testing.T, f *fixture, org string) {
	t.Helper()
	ctx := context.Background()
	f.clock.Set(time.Date(2026, 1, 31, 23, 59, 59, 999_000_000, time.UTC))
	w := writer(f, org)
	put := func(ver string, js string) string {
		t.Helper()
		st := stmt(t, js)
		if err := (&validator{ver: ver}).statement(st); err != nil {
			t.Fatalf("seed statement invalid: %v", err)
		}
		w.Version = ver
		got, err := f.svc.Store(ctx, w, []obj{st}, nil)
		if err != nil {
			t.Fatalf("seed: %v", err)
		}
		f.clock.Add(7 * time.Hour)
		return got[0]
	}
	for i := range 12 {
		ver := V200
		if i%3 == 0 {
			ver = V103
		}
		put(ver, fmt.Sprintf(`{"actor":{"objectType":"Agent","name":"学生%d号","account":{"homePage":"https://jnedu.test","name":"%d"}},
			"verb":{"id":"%s","display":{"zh-CN":"完成","en-US":"completed"}},
			"object":{"id":"http://jnedu.test/activity/%d","definition":{"name":{"zh-CN":"英语听说 第%d课"},"type":"http://adlnet.gov/expapi/activities/lesson"}},
			"result":{"score":{"scaled":0.%d},"duration":"PT%dM"},
			"context":{"contextActivities":{"grouping":{"id":"http://jnedu.test/org/1"}},"language":"zh-CN"}}`, i, 1000+i, verbCompleted, i%4, i, i, i+1))
	}
	put(V200, `{"timestamp":"2026-02-01T09:00:00+08:00","actor":{"mbox":"mailto:teacher@school.test","name":"王老师"},"verb":{"id":"`+verbAttempted+`"},
		"object":{"id":"http://jnedu.test/activity/x"},
		"attachments":[{"usageType":"http://jnedu.test/usage/report","display":{"zh-CN":"报告"},"contentType":"application/pdf","length":10,
		"sha2":"0000000000000000000000000000000000000000000000000000000000000000","fileUrl":"https://files.jnedu.test/r.pdf"}]}`)
	target := put(V200, statementJSON("", "voided", verbCompleted, "http://jnedu.test/activity/v"))
	put(V200, `{"actor":{"mbox":"mailto:teacher@school.test"},"verb":{"id":"`+VerbVoided+`"},"object":{"objectType":"StatementRef","id":"`+target+`"}}`)
}

func exportAll(t *testing.T, svc *Service, f ExportFilter) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := svc.Export(context.Background(), &b, f); err != nil {
		t.Fatalf("export: %v", err)
	}
	return b.String()
}

// TestImportExportRoundTrip exports a store, imports the export into a new
// store and exports that: the two exports are the same bytes; importing
// the file again changes nothing.
func TestImportExportRoundTrip(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		src := newFixture(t, d, Limits{})
		seedMixed(t, src, "/1/4/")
		first := exportAll(t, src.svc, ExportFilter{})
		if n := strings.Count(first, "\n"); n != 15 {
			t.Fatalf("export has %d lines, want 15", n)
		}
		var engine dbtest.Engine
		for _, e := range dbtest.Engines() {
			if db.Dialect(e.Name) == d.Dialect() {
				engine = e
			}
		}
		dst := newFixture(t, engine.Open(t), Limits{})
		dst.clock.Set(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) // later than every record
		ctx := context.Background()
		var lines []ImportLine
		sum, err := dst.svc.Import(ctx, strings.NewReader(first), ImportOptions{OrgPath: "/1/4/", Batch: 4}, func(l ImportLine) { lines = append(lines, l) })
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		if sum.Lines != 15 || sum.Stored != 15 || sum.Batches != 4 || sum.FailedBatches != 0 || len(lines) != 15 {
			t.Errorf("import summary %+v, %d report lines", sum, len(lines))
		}
		second := exportAll(t, dst.svc, ExportFilter{})
		if second != first {
			t.Errorf("the export of the import differs:\n%s\nvs\n%s", first, second)
		}
		// The voided statement stays voided (its voider came after it).
		list, _, err := dst.svc.Statements(ctx, Query{Activity: "http://jnedu.test/activity/v"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Body["verb"].(obj)["id"] != VerbVoided {
			t.Errorf("imported voided statement is visible or its voider missing: %v", ids(list))
		}
		// Again: every line is the same statement, nothing changes.
		sum, err = dst.svc.Import(ctx, strings.NewReader(first), ImportOptions{OrgPath: "/1/4/", Batch: 100}, func(ImportLine) {})
		if err != nil || sum.Stored != 15 {
			t.Errorf("import again: %+v, %v", sum, err)
		}
		if third := exportAll(t, dst.svc, ExportFilter{}); third != first {
			t.Error("importing the file twice changed the store")
		}
		// Filters: stored in February only; another organisation's.
		feb := exportAll(t, dst.svc, ExportFilter{Since: time.Date(2026, 1, 31, 23, 59, 59, 999_000_000, time.UTC), Until: time.Date(2026, 2, 28, 23, 59, 59, 999_000_000, time.UTC)})
		if n := strings.Count(feb, "\n"); n != 14 || !strings.Contains(first, feb) {
			t.Errorf("February export: %d lines", n)
		}
		if other := exportAll(t, dst.svc, ExportFilter{OrgPrefix: "/1/5/"}); other != "" {
			t.Errorf("another organisation's export: %q", other)
		}
		if d.Dialect() == db.Postgres {
			if n := countRows(t, dst.d, "SELECT COUNT(*) FROM lrs_statements_default"); n != 0 {
				t.Errorf("import left %d statements in the default partition", n)
			}
		}
	})
}

// TestImportBatches: a batch with a wrong line stores none of its lines and
// says which line is wrong; the other batches are stored.
func TestImportBatches(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, Limits{})
		ctx := context.Background()
		id := "cccccccc-0000-4000-8000-000000000001"
		if _, err := f.svc.Store(ctx, writer(f, "/1/"), []obj{stmt(t, statementJSON(id, "a", verbCompleted, "http://x.test/a"))}, nil); err != nil {
			t.Fatal(err)
		}
		one := func(actor string) string {
			return strings.Join(strings.Fields(statementJSON("", actor, verbCompleted, "http://x.test/i")), " ")
		}
		file := strings.Join([]string{
			one("b1"), // 1 batch 1
			`{"actor":{"mbox":"mailto:x@y.test"},"object":{"id":"http://x.test/i"}}`, // 2 no verb
			"",        // blank: skipped
			one("b2"), // 4 batch 2
			strings.Join(strings.Fields(statementJSON(id, "a", verbAttempted, "http://x.test/a")), " "), // 5 stored id, other content
			one("b3"), // 6 batch 3
			"[1,2]",   // 7 not a statement
			one("b4"), // 8 batch 4
			one("b5"), // 9
		}, "\n")
		var report []ImportLine
		sum, err := f.svc.Import(ctx, strings.NewReader(file), ImportOptions{OrgPath: "/1/", Batch: 2}, func(l ImportLine) { report = append(report, l) })
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		want := ImportSummary{Lines: 8, Stored: 2, Refused: 2, NotStored: 4, Batches: 4, FailedBatches: 3}
		if sum != want {
			t.Errorf("summary %+v, want %+v", sum, want)
		}
		got := map[int]string{}
		for _, l := range report {
			got[l.Line] = l.Status
			if l.Status != "stored" && l.Reason == "" {
				t.Errorf("line %d %s without a reason", l.Line, l.Status)
			}
		}
		wantLines := map[int]string{1: "not stored", 2: "refused", 4: "not stored", 5: "not stored", 6: "not stored", 7: "refused", 8: "stored", 9: "stored"}
		for n, s := range wantLines {
			if got[n] != s {
				t.Errorf("line %d: %q, want %q", n, got[n], s)
			}
		}
		for _, l := range report {
			if l.Line == 5 && !strings.Contains(l.Reason, "different content") {
				t.Errorf("line 5 reason %q, want the conflict", l.Reason)
			}
		}
		if n := countRows(t, d, "SELECT COUNT(*) FROM lrs_statements"); n != 3 {
			t.Errorf("statements after the import: %d, want 3", n)
		}
		// One statement on two lines of a batch is stored once; one id with
		// two contents in a batch refuses the batch.
		dup := strings.Join(strings.Fields(statementJSON("cccccccc-0000-4000-8000-000000000002", "d", verbCompleted, "http://x.test/d")), " ")
		other := strings.Join(strings.Fields(statementJSON("cccccccc-0000-4000-8000-000000000003", "e", verbCompleted, "http://x.test/e")), " ")
		otherBis := strings.Join(strings.Fields(statementJSON("cccccccc-0000-4000-8000-000000000003", "e", verbAttempted, "http://x.test/e")), " ")
		sum, err = f.svc.Import(ctx, strings.NewReader(dup+"\n"+dup+"\n"+other+"\n"+otherBis), ImportOptions{OrgPath: "/1/", Batch: 2}, func(ImportLine) {})
		if err != nil || sum.Stored != 2 || sum.NotStored != 2 || sum.FailedBatches != 1 {
			t.Errorf("duplicate lines: %+v, %v; want the first pair stored, the second batch refused", sum, err)
		}
		if n := countRows(t, d, "SELECT COUNT(*) FROM lrs_statements"); n != 4 {
			t.Errorf("statements after the duplicate lines: %d, want 4", n)
		}
		// A line over the limit stops the import with an error.
		long := `{"actor":{"mbox":"mailto:x@y.test","name":"` + strings.Repeat("长", MaxImportLine/3+1) + `"}}`
		if _, err := f.svc.Import(ctx, strings.NewReader(long), ImportOptions{OrgPath: "/1/"}, func(ImportLine) {}); err == nil || !strings.Contains(err.Error(), "longer than") {
			t.Errorf("overlong line: %v", err)
		}
	})
}
