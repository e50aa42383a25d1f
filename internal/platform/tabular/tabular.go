// Package tabular reads the spreadsheets that school offices upload (CSV in
// whatever encoding Excel or WPS saved it, or XLSX) into a Table of strings,
// for bulk imports that are accepted whole or not at all; and writes
// exports (CSV that Excel opens correctly, XLSX).
//
// Reading is bounded by Limits: whatever exceeds one is rejected with an
// *Error that names the limit, the line and the column, so the caller can
// tell the person exactly what to fix. Nothing is truncated silently.
//
// A Table is text only: numbers come back as the digits stored (an 18-digit
// ID number stays 18 digits, never 1.10101E+17), dates as YYYY-MM-DD.
// Interpreting the text (parsing numbers, validating ID numbers) is the
// caller's job.
package tabular

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Format is the kind of file a Table was read from.
type Format string

// The formats Read understands.
const (
	FormatCSV  Format = "csv"
	FormatXLSX Format = "xlsx"
)

// Table is a spreadsheet read as text: one header row and the data rows
// below it. Fully empty rows are left out. Every data row has exactly
// len(Header) cells.
type Table struct {
	Header []string
	Rows   []Row

	// Preamble holds the title rows found above the header (see ReadWith),
	// so that nothing in the file is dropped unseen.
	Preamble []Row
	// HeaderLine is the source line (CSV) or row (XLSX) of the header.
	HeaderLine int

	Format    Format
	Encoding  string // CSV: "utf-8", "utf-8-bom", "utf-16le", "utf-16be" or "gb18030"
	Delimiter rune   // CSV: ',', '\t' or ';'
	Sheet     string // XLSX: the sheet that was read

	index map[string][]int // normalised header → 0-based columns; built by Read
}

// Row is one data row.
type Row struct {
	// Line is the 1-based line (CSV; the first line of a multi-line
	// record) or row number (XLSX) in the source, for error reports.
	Line int
	// Cells are the cell texts, trimmed of surrounding white space.
	Cells []string
}

// Cell returns the i-th (0-based) cell, or "" when i is out of range.
func (r Row) Cell(i int) string {
	if i < 0 || i >= len(r.Cells) {
		return ""
	}
	return r.Cells[i]
}

// Limits bound what Read accepts. A zero or negative field takes its default.
type Limits struct {
	// MaxBytes is the largest file accepted, in bytes. An XLSX file may
	// additionally unzip to at most XLSXExpansion times this.
	MaxBytes int64
	// MaxRows is the largest number of data rows (header and empty rows
	// not counted).
	MaxRows int
	// MaxCellLen is the longest cell, in characters (runes), after trimming.
	MaxCellLen int
	// MaxCols is the largest number of columns up to the last non-empty one.
	MaxCols int
}

// Defaults used for the zero fields of Limits.
const (
	DefaultMaxBytes   = 20 << 20
	DefaultMaxRows    = 50_000
	DefaultMaxCellLen = 1_000
	DefaultMaxCols    = 100

	// XLSXExpansion bounds the unzipped size of an XLSX file as a multiple
	// of MaxBytes (a guard against zip bombs).
	XLSXExpansion = 10

	// maxCSVFields is the most fields a CSV record may have before it is
	// even looked at (Excel's own column limit); it bounds memory.
	maxCSVFields = 16384
	// maxTitleRows is how many single-cell rows above the header are
	// taken as titles.
	maxTitleRows = 5
)

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{MaxBytes: DefaultMaxBytes, MaxRows: DefaultMaxRows, MaxCellLen: DefaultMaxCellLen, MaxCols: DefaultMaxCols}
}

// withDefaults fills the zero fields.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxRows <= 0 {
		l.MaxRows = d.MaxRows
	}
	if l.MaxCellLen <= 0 {
		l.MaxCellLen = d.MaxCellLen
	}
	if l.MaxCols <= 0 {
		l.MaxCols = d.MaxCols
	}
	return l
}

// Options refine ReadWith.
type Options struct {
	Limits Limits
	// Sheet names the XLSX sheet to read; "" means the first visible one.
	Sheet string
	// HeaderLine is the 1-based line (CSV) or row (XLSX) of the header;
	// rows above it go to Table.Preamble. 0 means automatic: the first
	// non-empty row, except that up to five leading rows with a single
	// non-empty cell (titles such as "2025 年春季学生名单") are moved to
	// the Preamble when a row with two or more non-empty cells follows.
	HeaderLine int
}

// Read reads a CSV or XLSX file with the given limits. See ReadWith.
func Read(r io.Reader, filename string, lim Limits) (*Table, error) {
	return ReadWith(r, filename, Options{Limits: lim})
}

// ReadWith reads a CSV or XLSX file.
//
// The format comes from the content: a zip ("PK\x03\x04") or a name ending
// in .xlsx is read as XLSX, legacy .xls, .ods and HTML tables are refused
// with ErrUnsupported, and anything else is read as CSV. filename is used
// only for that hint.
//
// CSV text may be UTF-8 (with or without BOM), UTF-16 with a BOM, or
// GB18030/GBK (what Excel on Chinese Windows saves). The separator is the
// one among comma, tab and semicolon that occurs most in the first line
// (outside quotes); a first line "sep=;" as Excel writes it is honoured.
// Fields may be quoted as in RFC 4180.
//
// Cells are trimmed of white space (including U+3000). Rows shorter than
// the header are padded with ""; a row with non-empty cells beyond the
// header is refused with ErrRaggedRow.
func ReadWith(r io.Reader, filename string, opt Options) (*Table, error) {
	opt.Limits = opt.Limits.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, opt.Limits.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tabular: read upload: %w", err)
	}
	if int64(len(data)) > opt.Limits.MaxBytes {
		return nil, &Error{Kind: ErrTooLarge, Limit: opt.Limits.MaxBytes}
	}
	b := &builder{opt: opt, t: &Table{}}
	switch detect(data, filename) {
	case FormatXLSX:
		b.t.Format = FormatXLSX
		err = readXLSX(data, b)
	case FormatCSV:
		b.t.Format = FormatCSV
		err = readCSV(data, b)
	default:
		return nil, &Error{Kind: ErrUnsupported, Detail: unsupportedDetail(data)}
	}
	if err != nil {
		return nil, err
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	b.t.index = buildIndex(b.t.Header)
	return b.t, nil
}

var (
	zipMagic = []byte("PK\x03\x04")
	oleMagic = []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")
)

// detect returns the format of data, or "" when it is one we refuse.
func detect(data []byte, filename string) Format {
	ext := strings.ToLower(path.Ext(strings.ReplaceAll(filename, `\`, "/")))
	switch {
	case bytes.HasPrefix(data, oleMagic):
		return ""
	case bytes.HasPrefix(data, zipMagic), bytes.HasPrefix(data, []byte("PK\x05\x06")):
		if isODS(data) {
			return ""
		}
		return FormatXLSX
	case ext == ".xlsx" || ext == ".xlsm":
		return FormatXLSX
	case looksLikeHTML(data):
		return ""
	}
	return FormatCSV
}

func unsupportedDetail(data []byte) string {
	switch {
	case bytes.HasPrefix(data, oleMagic):
		return "legacy .xls or encrypted workbook (OLE container); save as .xlsx or CSV"
	case isODS(data):
		return "OpenDocument spreadsheet; save as .xlsx or CSV"
	default:
		return "HTML or XML document (web page or XML spreadsheet); save as .xlsx or CSV"
	}
}

// isODS reports an OpenDocument zip, whose first entry is "mimetype".
func isODS(data []byte) bool {
	head := data[:min(len(data), 128)]
	return bytes.HasPrefix(data, zipMagic) && bytes.Contains(head, []byte("application/vnd.oasis.opendocument"))
}

// looksLikeHTML reports text that starts like an HTML page or table, as
// some systems export under an .xls name.
func looksLikeHTML(data []byte) bool {
	head := bytes.TrimPrefix(data[:min(len(data), 512)], []byte("\xEF\xBB\xBF"))
	head = bytes.ToLower(bytes.TrimLeftFunc(head, unicode.IsSpace))
	for _, p := range []string{"<!doctype html", "<html", "<table", "<?xml"} {
		if bytes.HasPrefix(head, []byte(p)) {
			return true
		}
	}
	return false
}

// builder turns a stream of source rows into a Table, applying the limits,
// the header choice and the ragged-row rule.
type builder struct {
	opt     Options
	t       *Table
	pending []Row // single-cell rows that may be titles (automatic header)
	sheet   string
}

// add takes one source row. cells may be modified.
func (b *builder) add(line int, cells []string) error {
	last := -1
	for i, c := range cells {
		c = trimCell(c)
		cells[i] = c
		if c == "" {
			continue
		}
		last = i
		if n := utf8.RuneCountInString(c); n > b.opt.Limits.MaxCellLen {
			return b.errAt(ErrCellTooLong, line, i+1, int64(b.opt.Limits.MaxCellLen), int64(n))
		}
	}
	if last < 0 {
		return nil // fully empty row
	}
	cells = cells[:last+1]
	if len(cells) > b.opt.Limits.MaxCols {
		return b.errAt(ErrTooManyCols, line, 0, int64(b.opt.Limits.MaxCols), int64(len(cells)))
	}
	row := Row{Line: line, Cells: cells}
	if b.t.Header != nil {
		return b.addData(row)
	}
	if h := b.opt.HeaderLine; h > 0 {
		switch {
		case line < h:
			b.t.Preamble = append(b.t.Preamble, row)
			return nil
		case line == h:
			b.setHeader(row)
			return nil
		default:
			return &Error{Kind: ErrEmpty, Line: h, Sheet: b.sheet, Detail: "the header line is empty"}
		}
	}
	if nonEmpty(cells) == 1 && len(b.pending) < maxTitleRows {
		b.pending = append(b.pending, row)
		return nil
	}
	if nonEmpty(cells) >= 2 {
		b.t.Preamble = append(b.t.Preamble, b.pending...)
		b.pending = nil
		b.setHeader(row)
		return nil
	}
	// More single-cell rows than titles would have: a one-column table.
	if err := b.flushPending(); err != nil {
		return err
	}
	return b.addData(row)
}

// flushPending makes the first pending row the header and the rest data.
func (b *builder) flushPending() error {
	pending := b.pending
	b.pending = nil
	if len(pending) == 0 {
		return nil
	}
	b.setHeader(pending[0])
	for _, r := range pending[1:] {
		if err := b.addData(r); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) setHeader(r Row) {
	b.t.Header = r.Cells
	b.t.HeaderLine = r.Line
}

func (b *builder) addData(r Row) error {
	h := len(b.t.Header)
	if len(r.Cells) > h {
		return &Error{Kind: ErrRaggedRow, Line: r.Line, Column: h + 1, Sheet: b.sheet,
			Limit: int64(h), Got: int64(len(r.Cells)), Detail: "non-empty cell right of the last header column"}
	}
	if len(b.t.Rows) >= b.opt.Limits.MaxRows {
		return &Error{Kind: ErrTooManyRows, Line: r.Line, Sheet: b.sheet, Limit: int64(b.opt.Limits.MaxRows)}
	}
	if len(r.Cells) < h {
		cells := make([]string, h)
		copy(cells, r.Cells)
		r.Cells = cells
	}
	b.t.Rows = append(b.t.Rows, r)
	return nil
}

// finish completes the table at the end of the source.
func (b *builder) finish() error {
	if err := b.flushPending(); err != nil {
		return err
	}
	if b.t.Header == nil {
		e := &Error{Kind: ErrEmpty, Sheet: b.sheet}
		if b.opt.HeaderLine > 0 {
			e.Line = b.opt.HeaderLine
			e.Detail = "the header line is empty or beyond the end"
		}
		return e
	}
	return nil
}

func (b *builder) errAt(kind error, line, col int, limit, got int64) *Error {
	e := &Error{Kind: kind, Line: line, Column: col, Limit: limit, Got: got, Sheet: b.sheet}
	if col > 0 && col <= len(b.t.Header) {
		e.Header = b.t.Header[col-1]
	}
	return e
}

func nonEmpty(cells []string) int {
	n := 0
	for _, c := range cells {
		if c != "" {
			n++
		}
	}
	return n
}

// trimCell trims white space, including U+3000 and zero-width spaces and
// stray BOMs that editors leave around cells.
func trimCell(s string) string {
	return strings.TrimFunc(s, isTrimmable)
}

func isTrimmable(r rune) bool {
	return unicode.IsSpace(r) || r == '\uFEFF' || r == '\u200B'
}
