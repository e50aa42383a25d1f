package tabular

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error returned by Read and ReadWith is an *Error
// whose Kind is one of these, so callers test with errors.Is and read the
// facts (line, column, limit) with errors.As.
var (
	// ErrTooLarge: the upload, or an XLSX file once unzipped, is over its
	// byte limit.
	ErrTooLarge = errors.New("file too large")
	// ErrTooManyRows: more data rows than Limits.MaxRows.
	ErrTooManyRows = errors.New("too many rows")
	// ErrTooManyCols: a row has more non-empty columns than Limits.MaxCols.
	ErrTooManyCols = errors.New("too many columns")
	// ErrCellTooLong: a cell is longer than Limits.MaxCellLen characters.
	ErrCellTooLong = errors.New("cell too long")
	// ErrFormat: the file is damaged or not what its name says (bad CSV
	// quoting, a broken zip, an XLSX without worksheets, a missing sheet).
	ErrFormat = errors.New("malformed file")
	// ErrEncoding: the text is in no encoding this package can read
	// reliably (damaged UTF-8, NUL bytes, undecodable GB18030).
	ErrEncoding = errors.New("unreadable text encoding")
	// ErrUnsupported: a spreadsheet format this package does not read:
	// legacy .xls (and password-protected .xlsx, which has the same
	// container), OpenDocument .ods, HTML tables saved as .xls.
	ErrUnsupported = errors.New("unsupported file format")
	// ErrEmpty: the file has no non-empty row, so no header.
	ErrEmpty = errors.New("no header row")
	// ErrRaggedRow: a data row has non-empty cells beyond the last header
	// column, so its cells cannot be matched to column names.
	ErrRaggedRow = errors.New("row longer than header")
	// ErrMissingColumn: Table.Require did not find a required column.
	ErrMissingColumn = errors.New("missing column")
	// ErrDuplicateColumn: Table.Require found a required column twice.
	ErrDuplicateColumn = errors.New("duplicate column")
)

// Error describes why a file was rejected. It carries facts, not prose, so
// that callers can write the message people see (in Chinese) themselves,
// e.g. "第 12 行第 C 列超过 1000 字".
type Error struct {
	// Kind is one of the package's sentinel errors (ErrTooManyRows, ...).
	Kind error
	// Line is the 1-based line (CSV) or row (XLSX) number in the source
	// where the problem was found, or 0 when it concerns the whole file.
	Line int
	// Column is the 1-based column number, or 0 when not tied to one. For
	// XLSX, ColumnLetters(Column) gives Excel's letters (1 → "A").
	Column int
	// Header is the header text of Column, when known.
	Header string
	// Limit is the limit in force for limit errors (bytes, rows, columns
	// or characters), or the header width for ErrRaggedRow.
	Limit int64
	// Got is the offending size or count when known, else 0.
	Got int64
	// Sheet is the XLSX sheet name, when relevant.
	Sheet string
	// Detail is an extra explanation in English, for logs.
	Detail string
	// Err is the underlying cause (a csv.ParseError, a zip error), if any.
	Err error
}

// Error implements error with an English message for logs.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("tabular: ")
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	} else {
		b.WriteString("error")
	}
	if e.Sheet != "" {
		fmt.Fprintf(&b, ", sheet %q", e.Sheet)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ", line %d", e.Line)
	}
	if e.Column > 0 {
		fmt.Fprintf(&b, ", column %d", e.Column)
		if e.Header != "" {
			fmt.Fprintf(&b, " (%s)", e.Header)
		}
	}
	if e.Limit > 0 {
		fmt.Fprintf(&b, ", limit %d", e.Limit)
	}
	if e.Got > 0 {
		fmt.Fprintf(&b, ", got %d", e.Got)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Kind and the underlying cause, so errors.Is works for both.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// ColumnsError is returned by Table.Require: which required columns are
// missing and which appear more than once. It matches ErrMissingColumn
// and/or ErrDuplicateColumn with errors.Is.
type ColumnsError struct {
	// Missing holds, for each missing column, the names it may go by
	// (the first is the preferred one to show people).
	Missing [][]string
	// Duplicate holds the header texts of required columns found in more
	// than one place, with their 1-based column numbers.
	Duplicate []DuplicateColumn
}

// DuplicateColumn is a required column that the header names twice or more.
type DuplicateColumn struct {
	Name    string // the header text as written in the file (first occurrence)
	Columns []int  // 1-based column numbers where it appears
}

// Error implements error.
func (e *ColumnsError) Error() string {
	var parts []string
	for _, m := range e.Missing {
		parts = append(parts, "missing column "+strings.Join(m, "/"))
	}
	for _, d := range e.Duplicate {
		parts = append(parts, fmt.Sprintf("duplicate column %s at %v", d.Name, d.Columns))
	}
	return "tabular: " + strings.Join(parts, "; ")
}

// Unwrap lets errors.Is match ErrMissingColumn and ErrDuplicateColumn.
func (e *ColumnsError) Unwrap() []error {
	var errs []error
	if len(e.Missing) > 0 {
		errs = append(errs, ErrMissingColumn)
	}
	if len(e.Duplicate) > 0 {
		errs = append(errs, ErrDuplicateColumn)
	}
	return errs
}

// ColumnLetters returns Excel's column letters for a 1-based column number
// (1 → "A", 27 → "AA"), or "" for n < 1.
func ColumnLetters(n int) string {
	if n < 1 {
		return ""
	}
	var buf [8]byte
	i := len(buf)
	for n > 0 {
		n--
		i--
		buf[i] = byte('A' + n%26)
		n /= 26
	}
	return string(buf[i:])
}
