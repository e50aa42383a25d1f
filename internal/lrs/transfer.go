package lrs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
)

// MaxImportLine bounds one line (one statement) of an import.
const MaxImportLine = 1 << 20

// ImportOptions tune Import.
type ImportOptions struct {
	OrgPath string // organisation the records belong to
	Batch   int    // statements per transaction (default 100, at most the store's batch limit)
}

// ImportLine is the outcome of one line of an import.
type ImportLine struct {
	Line   int
	ID     string // the statement id ("" when the line was not read)
	Status string // "stored", "refused" (this line is wrong), "not stored" (another line of its batch is)
	Reason string
}

// ImportSummary counts an import's lines.
type ImportSummary struct {
	Lines, Stored, Refused, NotStored, Batches, FailedBatches int
}

// Import reads statements, one JSON object a line (blank lines skipped), as
// exported: each is validated as the xAPI API validates a statement of its
// version, and stored keeping its id, stored time, authority and version.
// Lines go in batches of opt.Batch, each stored whole or not at all: a
// batch with a refused line stores none of its lines. report hears every
// line. Reading stops at the first line longer than MaxImportLine.
func (s *Service) Import(ctx context.Context, r io.Reader, opt ImportOptions, report func(ImportLine)) (ImportSummary, error) {
	var sum ImportSummary
	if opt.OrgPath == "" {
		return sum, errors.New("import: no organisation")
	}
	if opt.Batch <= 0 {
		opt.Batch = 100
	}
	opt.Batch = min(opt.Batch, s.lim.MaxStatements)
	w := Writer{OrgPath: opt.OrgPath, Authority: s.PlatformAuthority(), Version: V200, Restore: true}
	months := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxImportLine)
	type line struct {
		n  int
		st obj
		id string
	}
	var batch []line
	var refused []ImportLine
	flush := func() error {
		if len(batch) == 0 && len(refused) == 0 {
			return nil
		}
		sum.Batches++
		defer func() { batch, refused = batch[:0], refused[:0] }()
		fail := func(reason string) {
			sum.FailedBatches++
			out := append([]ImportLine{}, refused...)
			for _, l := range batch {
				out = append(out, ImportLine{Line: l.n, ID: l.id, Status: "not stored", Reason: reason})
			}
			sortLines(out)
			for _, o := range out {
				if o.Status == "refused" {
					sum.Refused++
				} else {
					sum.NotStored++
				}
				report(o)
			}
		}
		if len(refused) > 0 {
			fail("another line of its batch is refused")
			return nil
		}
		// A statement on two lines of one batch (files put together from
		// overlapping exports) is stored once; the same id with other
		// content stays in, and the store refuses the batch.
		stmts := make([]obj, 0, len(batch))
		first := map[string]obj{}
		for _, l := range batch {
			key := strings.ToLower(l.id)
			if prev, ok := first[key]; ok && SameStatement(prev, l.st) {
				continue
			}
			first[key] = l.st
			stmts = append(stmts, l.st)
			if t, ok := restoredTime(l.st); ok {
				if err := s.ensureMonthOf(ctx, t, months); err != nil {
					return err
				}
			}
		}
		if _, err := s.Store(ctx, w, stmts, nil); err != nil {
			if IsInvalid(err) || errors.Is(err, ErrConflict) {
				fail(reasonOf(err))
				return nil
			}
			return err
		}
		for _, l := range batch {
			sum.Stored++
			report(ImportLine{Line: l.n, ID: l.id, Status: "stored"})
		}
		return nil
	}
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		sum.Lines++
		st, id, err := readImportLine(text)
		if err != nil {
			refused = append(refused, ImportLine{Line: n, ID: id, Status: "refused", Reason: reasonOf(err)})
		} else {
			batch = append(batch, line{n: n, st: st, id: id})
		}
		if len(batch)+len(refused) >= opt.Batch {
			if err := flush(); err != nil {
				return sum, err
			}
		}
		if err := ctx.Err(); err != nil {
			return sum, err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return sum, fmt.Errorf("line %d is longer than %d bytes", n+1, MaxImportLine)
		}
		return sum, err
	}
	return sum, flush()
}

func sortLines(l []ImportLine) {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j].Line < l[j-1].Line; j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

// readImportLine decodes and validates one statement.
func readImportLine(text string) (obj, string, error) {
	v, err := decodeJSON([]byte(text))
	if err != nil {
		return nil, "", invalidf("not JSON: %v", err)
	}
	st, ok := v.(obj)
	if !ok {
		return nil, "", invalidf("a line holds one statement (a JSON object)")
	}
	id, _ := st["id"].(string)
	ver := V103
	if vs, _ := st["version"].(string); strings.HasPrefix(vs, "2.0") {
		ver = V200
	}
	if err := (&validator{ver: ver}).statement(st); err != nil {
		return nil, id, err
	}
	// The API takes attachments' content in the same request; an import
	// has only the statements, so only attachments by URL.
	list, _ := st["attachments"].([]any)
	for _, x := range list {
		if _, hasURL := x.(obj)["fileUrl"]; !hasURL {
			return nil, id, invalidf("attachment %v has no fileUrl and its content is not part of an import", x.(obj)["sha2"])
		}
	}
	return st, id, nil
}

func reasonOf(err error) string {
	if errors.Is(err, ErrConflict) {
		return ErrConflict.Error()
	}
	var ie *invalidError
	if errors.As(err, &ie) {
		return ie.Error()
	}
	if e := apperr.As(err); e != nil {
		return e.Error()
	}
	return err.Error()
}

// ensureMonthOf makes the partitions of t's month (PostgreSQL) once per
// import.
func (s *Service) ensureMonthOf(ctx context.Context, t time.Time, done map[string]bool) error {
	if s.db.Dialect() != db.Postgres {
		return nil
	}
	m := t.UTC().Format("2006-01")
	if done[m] {
		return nil
	}
	first := time.Date(t.UTC().Year(), t.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.ensureMonth(ctx, first); err != nil {
		return err
	}
	done[m] = true
	return nil
}

// ExportFilter selects the statements of an export. Zero values mean no
// bound.
type ExportFilter struct {
	Since, Until time.Time // stored time: Since exclusive, Until inclusive
	OrgPrefix    string
}

// Export writes the statements kept (voided ones and the statements voiding
// them included), in stored order, one JSON object a line exactly as
// stored, reading pages of 1,000 so memory stays flat. It returns the
// number written.
func (s *Service) Export(ctx context.Context, out io.Writer, f ExportFilter) (int, error) {
	bw := bufio.NewWriterSize(out, 256<<10)
	n := 0
	var after *Cursor
	for {
		where := []string{"org_path LIKE ?"}
		args := []any{f.OrgPrefix + "%"}
		if !f.Since.IsZero() {
			where = append(where, "stored > ?")
			args = append(args, f.Since.UnixMilli())
		}
		if !f.Until.IsZero() {
			where = append(where, "stored <= ?")
			args = append(args, f.Until.UnixMilli())
		}
		if after != nil {
			where = append(where, "stored >= ?", "(stored > ? OR id > ?)")
			args = append(args, after.Stored, after.Stored, after.ID)
		}
		rows, err := s.db.Query(ctx, "SELECT stored, id, body FROM lrs_statements WHERE "+strings.Join(where, " AND ")+
			" ORDER BY stored, id LIMIT "+strconv.Itoa(1000), args...)
		if err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
		page := 0
		for rows.Next() {
			var c Cursor
			var body string
			if err := rows.Scan(&c.Stored, &c.ID, &body); err != nil {
				rows.Close()
				return n, err
			}
			bw.WriteString(body) //nolint:errcheck // checked at Flush
			bw.WriteByte('\n')   //nolint:errcheck
			after = &c
			page++
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, err
		}
		if err := bw.Flush(); err != nil {
			return n, err
		}
		if page < 1000 {
			return n, nil
		}
	}
}
