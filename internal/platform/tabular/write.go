package tabular

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// WriteCSV writes an export as CSV that Excel opens correctly: UTF-8 with
// a BOM (without it, Excel on Chinese Windows reads the file as GBK),
// CRLF line ends, and every cell passed through SafeCell.
func WriteCSV(w io.Writer, header []string, rows [][]string) error {
	return WriteCSVSeq(w, header, slices.Values(rows))
}

// WriteCSVSeq is WriteCSV for rows produced one at a time, so that large
// exports need not be held in memory.
func WriteCSVSeq(w io.Writer, header []string, rows iter.Seq[[]string]) error {
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString("\uFEFF"); err != nil {
		return fmt.Errorf("tabular: write csv: %w", err)
	}
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	var rec []string
	write := func(cells []string) error {
		rec = rec[:0]
		for _, c := range cells {
			rec = append(rec, SafeCell(c))
		}
		return cw.Write(rec)
	}
	if err := write(header); err != nil {
		return fmt.Errorf("tabular: write csv: %w", err)
	}
	for r := range rows {
		if err := write(r); err != nil {
			return fmt.Errorf("tabular: write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("tabular: write csv: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("tabular: write csv: %w", err)
	}
	return nil
}

// SafeCell defuses CSV injection: a cell that starts (after spaces) with
// = + - @, a tab or a carriage return would be evaluated as a formula by
// Excel or WPS, so it gets a leading single quote, which they show as
// text. Plain numbers such as -12.5 or +86 are left alone.
func SafeCell(s string) string {
	t := strings.TrimLeft(s, " ")
	if t == "" {
		return s
	}
	switch t[0] {
	case '=', '@', '\t', '\r':
		return "'" + s
	case '+', '-':
		if isPlainNumber(t[1:]) {
			return s
		}
		return "'" + s
	}
	return s
}

// isPlainNumber reports digits with at most one decimal point.
func isPlainNumber(s string) bool {
	if s == "" {
		return false
	}
	point := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && !point && i > 0 && i < len(s)-1:
			point = true
		default:
			return false
		}
	}
	return true
}

// Excel's limits for what WriteXLSX writes.
const (
	xlsxMaxCellChars = 32767 // UTF-16 code units per cell
	xlsxSheetNameLen = 31
)

// WriteXLSX writes an export as an XLSX workbook with one sheet: a bold,
// frozen header row and every cell stored as text, so that ID and phone
// numbers keep all their digits. Characters XML cannot carry (C0 controls
// other than tab, LF and CR) are dropped; a cell over Excel's 32,767
// characters, a row past Excel's 1,048,576 or a column past 16,384 is an
// *Error. sheetName is made acceptable to Excel by SheetName.
func WriteXLSX(w io.Writer, sheetName string, header []string, rows [][]string) error {
	// Column widths from the header and the first rows.
	sample := rows[:min(len(rows), 200)]
	return writeXLSX(w, sheetName, header, slices.Values(rows), sample)
}

// WriteXLSXSeq is WriteXLSX for rows produced one at a time. Column widths
// are taken from the header only.
func WriteXLSXSeq(w io.Writer, sheetName string, header []string, rows iter.Seq[[]string]) error {
	return writeXLSX(w, sheetName, header, rows, nil)
}

func writeXLSX(w io.Writer, sheetName string, header []string, rows iter.Seq[[]string], sample [][]string) (err error) {
	f := excelize.NewFile()
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("tabular: write xlsx: %w", cerr)
		}
	}()
	name := SheetName(sheetName)
	if err := f.SetSheetName("Sheet1", name); err != nil {
		return fmt.Errorf("tabular: write xlsx: %w", err)
	}
	sw, err := f.NewStreamWriter(name)
	if err != nil {
		return fmt.Errorf("tabular: write xlsx: %w", err)
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return fmt.Errorf("tabular: write xlsx: %w", err)
	}
	if len(header) > maxSheetCols {
		return &Error{Kind: ErrTooManyCols, Line: 1, Limit: maxSheetCols, Got: int64(len(header))}
	}
	for i, wd := range columnWidths(header, sample) {
		if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
			return fmt.Errorf("tabular: write xlsx: %w", err)
		}
	}
	if len(header) > 0 {
		if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return fmt.Errorf("tabular: write xlsx: %w", err)
		}
	}

	line := 0
	put := func(cells []string, style int) error {
		line++
		if line > maxSheetRows {
			return &Error{Kind: ErrTooManyRows, Line: line, Limit: maxSheetRows}
		}
		if len(cells) > maxSheetCols {
			return &Error{Kind: ErrTooManyCols, Line: line, Limit: maxSheetCols, Got: int64(len(cells))}
		}
		vals := make([]any, len(cells))
		for i, c := range cells {
			c = xmlSafe(c)
			if n := utf16Len(c); n > xlsxMaxCellChars {
				return &Error{Kind: ErrCellTooLong, Line: line, Column: i + 1, Limit: xlsxMaxCellChars, Got: int64(n)}
			}
			vals[i] = excelize.Cell{StyleID: style, Value: c}
		}
		if err := sw.SetRow(fmt.Sprintf("A%d", line), vals); err != nil {
			return fmt.Errorf("tabular: write xlsx row %d: %w", line, err)
		}
		return nil
	}
	if err := put(header, bold); err != nil {
		return err
	}
	for r := range rows {
		if err := put(r, 0); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("tabular: write xlsx: %w", err)
	}
	if err := f.Write(w); err != nil {
		return fmt.Errorf("tabular: write xlsx: %w", err)
	}
	return nil
}

// SheetName makes s a valid Excel sheet name: the characters : \ / ? * [ ]
// become _, surrounding apostrophes and spaces go, it is cut to 31
// characters, and an empty name becomes "Sheet1".
func SheetName(s string) string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`:\/?*[]`, r) || r < 0x20 {
			return '_'
		}
		return r
	}, s)
	s = strings.Trim(s, "' ")
	if utf8.RuneCountInString(s) > xlsxSheetNameLen {
		s = string([]rune(s)[:xlsxSheetNameLen])
		s = strings.TrimRight(s, "' ")
	}
	if s == "" {
		return "Sheet1"
	}
	return s
}

// columnWidths estimates column widths in Excel's units (about one Latin
// character; a Chinese character counts two), between 8 and 60.
func columnWidths(header []string, sample [][]string) []float64 {
	widths := make([]float64, len(header))
	measure := func(i int, s string) {
		if i >= len(widths) {
			return
		}
		w := 0.0
		for _, r := range s {
			if r >= 0x1100 {
				w += 2
			} else {
				w++
			}
		}
		widths[i] = max(widths[i], w+2)
	}
	for i, h := range header {
		measure(i, h)
	}
	for _, row := range sample {
		for i, c := range row {
			measure(i, c)
		}
	}
	for i := range widths {
		widths[i] = min(max(widths[i], 8), 60)
	}
	return widths
}

// xmlSafe drops the characters XML 1.0 cannot represent.
func xmlSafe(s string) string {
	ok := true
	for _, r := range s {
		if !isXMLChar(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isXMLChar(r) {
			return r
		}
		return -1
	}, s)
}

func isXMLChar(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r < 0x20, r == 0xFFFE, r == 0xFFFF:
		return false
	case r >= 0xD800 && r <= 0xDFFF:
		return false
	}
	return true
}

// utf16Len counts UTF-16 code units, the unit of Excel's cell limit.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
