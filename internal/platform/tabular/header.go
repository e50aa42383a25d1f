package tabular

import (
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// NormalizeHeader folds a column name for matching: full-width characters
// become half-width (ＮＡＭＥ → name, （ → (), letters lower case, all white
// space goes (templates often write 姓  名 to line up with 身份证号), and
// so do the required-field marks that import templates carry: leading or
// trailing asterisks and a trailing (必填) or (选填).
func NormalizeHeader(s string) string {
	s = width.Fold.String(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	out := strings.Trim(b.String(), "*")
	for _, mark := range []string{"(必填)", "(选填)"} {
		out = strings.TrimSuffix(out, mark)
	}
	return strings.Trim(out, "*")
}

// buildIndex maps each normalised header to its 0-based columns.
func buildIndex(header []string) map[string][]int {
	idx := make(map[string][]int, len(header))
	for i, h := range header {
		if n := NormalizeHeader(h); n != "" {
			idx[n] = append(idx[n], i)
		}
	}
	return idx
}

func (t *Table) headerIndex() map[string][]int {
	if t.index != nil {
		return t.index
	}
	return buildIndex(t.Header) // a Table built by hand
}

// Index returns the 0-based column whose header matches one of names (the
// aliases of one field, e.g. "姓名", "name"), compared after
// NormalizeHeader; earlier names win, then the leftmost column. It returns
// -1 if none matches.
func (t *Table) Index(names ...string) int {
	idx := t.headerIndex()
	for _, n := range names {
		if cols := idx[NormalizeHeader(n)]; len(cols) > 0 {
			return cols[0]
		}
	}
	return -1
}

// Has reports whether a column matches one of names.
func (t *Table) Has(names ...string) bool { return t.Index(names...) >= 0 }

// Get returns the cell of row r in the column matching one of names, or
// "" when there is no such column:
//
//	name := t.Get(row, "姓名", "name")
func (t *Table) Get(r Row, names ...string) string {
	return r.Cell(t.Index(names...))
}

// Require checks that each field, given as the list of names it may go by,
// has exactly one column. It returns a *ColumnsError listing every missing
// and every ambiguous field, or nil.
//
//	err := t.Require([]string{"姓名", "name"}, []string{"身份证号", "证件号码", "id_card"})
func (t *Table) Require(fields ...[]string) error {
	idx := t.headerIndex()
	var ce ColumnsError
	for _, names := range fields {
		var cols []int
		for _, n := range names {
			for _, c := range idx[NormalizeHeader(n)] {
				if !slices.Contains(cols, c) {
					cols = append(cols, c)
				}
			}
		}
		switch {
		case len(cols) == 0:
			ce.Missing = append(ce.Missing, names)
		case len(cols) > 1:
			slices.Sort(cols)
			d := DuplicateColumn{Name: t.Header[cols[0]]}
			for _, c := range cols {
				d.Columns = append(d.Columns, c+1)
			}
			ce.Duplicate = append(ce.Duplicate, d)
		}
	}
	if len(ce.Missing) == 0 && len(ce.Duplicate) == 0 {
		return nil
	}
	return &ce
}
