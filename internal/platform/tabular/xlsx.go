package tabular

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
)

// The XLSX reader is written against the file format (ECMA-376) rather
// than a spreadsheet library so that it streams the sheet (stopping at the
// first limit exceeded), bounds every byte it unzips, and keeps numbers as
// their stored digits.

// maxSheetCols and maxSheetRows are Excel's own limits.
const (
	maxSheetCols = 16384
	maxSheetRows = 1 << 20
)

// errBudget is returned by budget readers once the unzip budget is spent.
var errBudget = errors.New("unzip budget exceeded")

// xlsxFile is an open workbook: its zip entries and what is left of the
// unzip budget.
type xlsxFile struct {
	files  map[string]*zip.File // by lower-cased name without leading "/"
	budget int64                // bytes that may still be unzipped
	limit  int64                // the whole budget, for error reports
}

// budgetReader counts unzipped bytes against the file's budget.
type budgetReader struct {
	r io.Reader
	x *xlsxFile
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.x.budget -= int64(n)
	if b.x.budget < 0 {
		return n, errBudget
	}
	return n, err
}

// open opens a part by name; ok is false when there is no such part.
func (x *xlsxFile) open(name string) (rc io.ReadCloser, ok bool, err error) {
	f := x.files[strings.ToLower(strings.TrimPrefix(name, "/"))]
	if f == nil {
		return nil, false, nil
	}
	r, err := f.Open()
	if err != nil {
		return nil, true, err
	}
	return struct {
		io.Reader
		io.Closer
	}{&budgetReader{r: r, x: x}, r}, true, nil
}

// decodePart unmarshals a small XML part into v; ok is false when absent.
func (x *xlsxFile) decodePart(name string, v any) (ok bool, err error) {
	rc, ok, err := x.open(name)
	if !ok || err != nil {
		return ok, err
	}
	defer rc.Close()
	return true, newXMLDecoder(rc).Decode(v)
}

// wrap turns an error met while reading part into an *Error.
func (x *xlsxFile) wrap(part string, err error) error {
	var te *Error
	switch {
	case errors.As(err, &te):
		return err
	case errors.Is(err, errBudget) || x.budget < 0:
		return &Error{Kind: ErrTooLarge, Limit: x.limit, Detail: "unzipped size of the workbook"}
	default:
		return &Error{Kind: ErrFormat, Detail: "reading " + part, Err: err}
	}
}

func newXMLDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(r)
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		enc, err := htmlindex.Get(label)
		if err != nil {
			return nil, fmt.Errorf("xml encoding %q: %w", label, err)
		}
		return enc.NewDecoder().Reader(in), nil
	}
	return d
}

// Parts of the package, as far as reading needs them.
type (
	xRels struct {
		Rels []struct {
			ID         string `xml:"Id,attr"`
			Type       string `xml:"Type,attr"`
			Target     string `xml:"Target,attr"`
			TargetMode string `xml:"TargetMode,attr"`
		} `xml:"Relationship"`
	}
	xWorkbook struct {
		Pr struct {
			Date1904 string `xml:"date1904,attr"`
		} `xml:"workbookPr"`
		Sheets []struct {
			Name  string `xml:"name,attr"`
			State string `xml:"state,attr"`
			RID   string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
			RIDs  string `xml:"http://purl.oclc.org/ooxml/officeDocument/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	xStyles struct {
		NumFmts []struct {
			ID   string `xml:"numFmtId,attr"`
			Code string `xml:"formatCode,attr"`
		} `xml:"numFmts>numFmt"`
		CellXfs []struct {
			NumFmtID string `xml:"numFmtId,attr"`
		} `xml:"cellXfs>xf"`
	}
)

// relTarget resolves a relationship target against the part it is from.
func relTarget(from, target string) string {
	target = strings.ReplaceAll(target, `\`, "/")
	if strings.HasPrefix(target, "/") {
		return path.Clean(target)[1:]
	}
	return strings.TrimPrefix(path.Join(path.Dir(from), target), "/")
}

// relsOf reads the relationships of part ("" for the package itself);
// a missing rels part is empty.
func (x *xlsxFile) relsOf(part string) (map[string][2]string, error) {
	name := "_rels/.rels" // the package's own relationships
	if part != "" {
		name = path.Join(path.Dir(part), "_rels", path.Base(part)+".rels")
	}
	var r xRels
	if _, err := x.decodePart(name, &r); err != nil {
		return nil, x.wrap(name, err)
	}
	out := make(map[string][2]string, len(r.Rels))
	for _, rel := range r.Rels {
		if strings.EqualFold(rel.TargetMode, "External") {
			continue
		}
		out[rel.ID] = [2]string{rel.Type, relTarget(part, rel.Target)}
	}
	return out, nil
}

// byType finds the first relationship whose type ends in /suffix.
func byType(rels map[string][2]string, suffix string) string {
	best := ""
	for _, r := range rels {
		if strings.HasSuffix(r[0], "/"+suffix) && (best == "" || r[1] < best) {
			best = r[1]
		}
	}
	return best
}

// readXLSX reads the chosen sheet of an XLSX file into b.
func readXLSX(data []byte, b *builder) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return &Error{Kind: ErrFormat, Detail: "not a valid zip (XLSX) file", Err: err}
	}
	limit := b.opt.Limits.MaxBytes * XLSXExpansion
	x := &xlsxFile{files: make(map[string]*zip.File, len(zr.File)), budget: limit, limit: limit}
	for _, f := range zr.File {
		name := strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(f.Name, `\`, "/"), "/"))
		if _, dup := x.files[name]; !dup {
			x.files[name] = f
		}
	}

	// Package → workbook → sheets, shared strings, styles.
	rootRels, err := x.relsOf("")
	if err != nil {
		return err
	}
	wbPart := byType(rootRels, "officeDocument")
	if wbPart == "" {
		wbPart = "xl/workbook.xml"
	}
	var wb xWorkbook
	if ok, err := x.decodePart(wbPart, &wb); err != nil {
		return x.wrap(wbPart, err)
	} else if !ok {
		return &Error{Kind: ErrFormat, Detail: "no workbook part: not an XLSX file"}
	}
	rels, err := x.relsOf(wbPart)
	if err != nil {
		return err
	}
	sheetName, sheetPart, err := chooseSheet(wb, rels, b.opt.Sheet)
	if err != nil {
		return err
	}
	b.t.Sheet, b.sheet = sheetName, sheetName

	var sst *sharedStrings
	sstPart := byType(rels, "sharedStrings")
	if sstPart == "" {
		sstPart = path.Join(path.Dir(wbPart), "sharedStrings.xml")
	}
	if sst, err = x.readSharedStrings(sstPart); err != nil {
		return x.wrap(sstPart, err)
	}
	stylesPart := byType(rels, "styles")
	if stylesPart == "" {
		stylesPart = path.Join(path.Dir(wbPart), "styles.xml")
	}
	formats, err := x.readStyles(stylesPart)
	if err != nil {
		return x.wrap(stylesPart, err)
	}

	rc, ok, err := x.open(sheetPart)
	if err != nil {
		return x.wrap(sheetPart, err)
	}
	if !ok {
		return &Error{Kind: ErrFormat, Sheet: sheetName, Detail: "worksheet part " + sheetPart + " is missing"}
	}
	defer rc.Close()
	sr := &sheetReader{
		d: newXMLDecoder(rc), b: b, sst: sst, formats: formats,
		date1904: wb.Pr.Date1904 == "1" || strings.EqualFold(wb.Pr.Date1904, "true"),
	}
	if err := sr.read(); err != nil {
		return x.wrap(sheetPart, err)
	}
	return nil
}

// chooseSheet picks the named sheet, or the first visible worksheet.
func chooseSheet(wb xWorkbook, rels map[string][2]string, want string) (name, part string, err error) {
	type cand struct{ name, part, state string }
	var sheets []cand
	for _, s := range wb.Sheets {
		id := s.RID
		if id == "" {
			id = s.RIDs
		}
		rel, ok := rels[id]
		if !ok || !strings.HasSuffix(rel[0], "/worksheet") {
			continue // chart sheets, dialog sheets, broken references
		}
		sheets = append(sheets, cand{s.Name, rel[1], s.State})
	}
	if len(sheets) == 0 {
		return "", "", &Error{Kind: ErrFormat, Detail: "the workbook has no worksheet"}
	}
	if want != "" {
		for _, exact := range []bool{true, false} {
			for _, s := range sheets {
				if (exact && s.name == want) || (!exact && NormalizeHeader(s.name) == NormalizeHeader(want)) {
					return s.name, s.part, nil
				}
			}
		}
		return "", "", &Error{Kind: ErrFormat, Sheet: want, Detail: "no worksheet by this name"}
	}
	for _, s := range sheets {
		if s.state == "" || s.state == "visible" {
			return s.name, s.part, nil
		}
	}
	return sheets[0].name, sheets[0].part, nil
}

// sharedStrings is the shared string table, stored compactly (one buffer
// and end offsets) so that a table of millions of tiny strings costs little
// more memory than its XML.
type sharedStrings struct {
	data []byte
	ends []uint32
}

// get returns string i.
func (s *sharedStrings) get(i int) (string, bool) {
	if s == nil || i < 0 || i >= len(s.ends) {
		return "", false
	}
	start := uint32(0)
	if i > 0 {
		start = s.ends[i-1]
	}
	return string(s.data[start:s.ends[i]]), true
}

// readSharedStrings reads the shared string table (absent: none). Phonetic
// runs (<rPh>, pinyin or furigana guides) are not part of the text.
func (x *xlsxFile) readSharedStrings(part string) (*sharedStrings, error) {
	rc, ok, err := x.open(part)
	if !ok || err != nil {
		return nil, err
	}
	defer rc.Close()
	d := newXMLDecoder(rc)
	var (
		sst       sharedStrings
		si        []byte
		inSI, inT bool
		phonetic  int
	)
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return &sst, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "si":
				inSI = true
				si = si[:0]
			case "rPh":
				phonetic++
			case "t":
				inT = inSI && phonetic == 0
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "si":
				sst.data = append(sst.data, decodeXString(string(si))...)
				if uint64(len(sst.data)) > math.MaxUint32 {
					return nil, errBudget
				}
				sst.ends = append(sst.ends, uint32(len(sst.data)))
				inSI = false
			case "rPh":
				phonetic--
			case "t":
				inT = false
			}
		case xml.CharData:
			if inT {
				si = append(si, t...)
			}
		}
	}
}

// readStyles returns, by cell style index, the number format of each.
func (x *xlsxFile) readStyles(part string) ([]cellFormat, error) {
	var st xStyles
	if _, err := x.decodePart(part, &st); err != nil {
		return nil, err
	}
	custom := make(map[int]string, len(st.NumFmts))
	for _, f := range st.NumFmts {
		if id, err := strconv.Atoi(strings.TrimSpace(f.ID)); err == nil {
			custom[id] = f.Code
		}
	}
	out := make([]cellFormat, len(st.CellXfs))
	for i, xf := range st.CellXfs {
		id, _ := strconv.Atoi(strings.TrimSpace(xf.NumFmtID))
		code, ok := custom[id]
		if !ok {
			code = builtinFormat(id)
		}
		out[i] = classifyFormat(code)
	}
	return out, nil
}

// sheetReader streams one worksheet's <sheetData> into a builder.
type sheetReader struct {
	d        *xml.Decoder
	b        *builder
	sst      *sharedStrings
	formats  []cellFormat
	date1904 bool
}

func (s *sheetReader) read() error {
	var (
		rowNum, col int
		cells       []string
		inRow       bool
	)
	for {
		tok, err := s.d.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "row":
				n, err := rowNumber(attr(t, "r"), rowNum)
				if err != nil {
					return &Error{Kind: ErrFormat, Line: rowNum + 1, Sheet: s.b.sheet, Detail: "bad row number", Err: err}
				}
				rowNum, col, cells, inRow = n, 0, nil, true
			case "c":
				if !inRow {
					if err := skip(s.d); err != nil {
						return err
					}
					continue
				}
				next, err := colNumber(attr(t, "r"), col)
				if err != nil {
					return &Error{Kind: ErrFormat, Line: rowNum, Column: col + 1, Sheet: s.b.sheet, Detail: "bad cell reference", Err: err}
				}
				col = next
				v, err := s.cell(t, rowNum, col)
				if err != nil {
					return err
				}
				if trimCell(v) == "" {
					continue
				}
				if col > s.b.opt.Limits.MaxCols {
					return s.b.errAt(ErrTooManyCols, rowNum, col, int64(s.b.opt.Limits.MaxCols), int64(col))
				}
				for len(cells) < col {
					cells = append(cells, "")
				}
				cells[col-1] = v
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "row":
				if inRow {
					if err := s.b.add(rowNum, cells); err != nil {
						return err
					}
				}
				inRow = false
			case "sheetData":
				return nil
			}
		}
	}
}

// cell reads one <c> element (the decoder is just past its start) and
// returns its text.
func (s *sheetReader) cell(start xml.StartElement, row, col int) (string, error) {
	var v, inline strings.Builder
	var path []string // open elements below <c>
	phonetic := 0
	for {
		tok, err := s.d.RawToken()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
			if t.Name.Local == "rPh" {
				phonetic++
			}
		case xml.EndElement:
			if len(path) == 0 {
				return s.render(attr(start, "t"), attr(start, "s"), v.String(), inline.String(), row, col)
			}
			if path[len(path)-1] == "rPh" {
				phonetic--
			}
			path = path[:len(path)-1]
		case xml.CharData:
			switch {
			case len(path) == 1 && path[0] == "v":
				v.Write(t)
			case len(path) >= 2 && path[0] == "is" && path[len(path)-1] == "t" && phonetic == 0:
				inline.Write(t)
			}
		}
	}
}

// render gives the text of a cell of type typ and style index style.
func (s *sheetReader) render(typ, style, v, inline string, row, col int) (string, error) {
	switch typ {
	case "s":
		i, err := strconv.Atoi(strings.TrimSpace(v))
		str, ok := s.sst.get(i)
		if err != nil || !ok {
			return "", &Error{Kind: ErrFormat, Line: row, Column: col, Sheet: s.b.sheet, Detail: fmt.Sprintf("shared string %q does not exist", v)}
		}
		return str, nil
	case "inlineStr":
		return decodeXString(inline), nil
	case "str":
		return decodeXString(v), nil
	case "b":
		switch strings.TrimSpace(v) {
		case "1", "true":
			return "TRUE", nil
		case "0", "false":
			return "FALSE", nil
		}
		return v, nil
	case "e":
		return v, nil
	case "d":
		return isoToText(strings.TrimSpace(v)), nil
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	var cf cellFormat
	if i, err := strconv.Atoi(style); err == nil && i >= 0 && i < len(s.formats) {
		cf = s.formats[i]
	}
	return renderNumber(v, cf, s.date1904), nil
}

// skip consumes the rest of the element whose start was just read.
func skip(d *xml.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := d.RawToken()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

func attr(e xml.StartElement, local string) string {
	for _, a := range e.Attr {
		if a.Name.Local == local && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// rowNumber parses a row's r attribute; absent, it follows prev.
func rowNumber(r string, prev int) (int, error) {
	if r == "" {
		if prev >= maxSheetRows {
			return 0, errors.New("too many rows")
		}
		return prev + 1, nil
	}
	n, err := strconv.Atoi(r)
	if err != nil {
		return 0, err
	}
	if n < 1 || n > maxSheetRows {
		return 0, fmt.Errorf("row %d out of range", n)
	}
	return n, nil
}

// colNumber parses the column of a cell reference ("AB12" → 28); absent,
// it follows prev.
func colNumber(ref string, prev int) (int, error) {
	if ref == "" {
		if prev >= maxSheetCols {
			return 0, errors.New("too many columns")
		}
		return prev + 1, nil
	}
	n, i := 0, 0
	for ; i < len(ref) && i < 4; i++ {
		c := ref[i] | 0x20 // lower case
		if c < 'a' || c > 'z' {
			break
		}
		n = n*26 + int(c-'a'+1)
	}
	if i == 0 || n > maxSheetCols {
		return 0, fmt.Errorf("cell reference %q", ref)
	}
	return n, nil
}

// decodeXString undoes OOXML's escaping of characters in strings:
// "_x000D_" is a carriage return and "_x005F_" an underscore.
func decodeXString(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if i+7 <= len(s) && s[i] == '_' && s[i+1] == 'x' && s[i+6] == '_' {
			if n, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
				b.WriteRune(rune(n))
				i += 7
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}
