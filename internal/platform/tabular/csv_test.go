package tabular

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// encode returns s in the given encoding, failing the test if it cannot.
func encode(t testing.TB, e encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode %q: %v", s, err)
	}
	return b
}

var (
	utf16LE = unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	utf16BE = unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
)

// readOK is a successful read's expected shape.
type readOK struct {
	header   []string
	rows     [][]string
	lines    []int
	enc      string
	sep      rune
	preamble int
}

func checkTable(t *testing.T, got *Table, want readOK) {
	t.Helper()
	if !slices.Equal(got.Header, want.header) {
		t.Errorf("header: got %q, want %q", got.Header, want.header)
	}
	var rows [][]string
	var lines []int
	for _, r := range got.Rows {
		rows = append(rows, r.Cells)
		lines = append(lines, r.Line)
		if len(r.Cells) != len(got.Header) {
			t.Errorf("row at line %d has %d cells, header %d", r.Line, len(r.Cells), len(got.Header))
		}
	}
	if !slices.EqualFunc(rows, want.rows, slices.Equal) {
		t.Errorf("rows: got %q, want %q", rows, want.rows)
	}
	if want.lines != nil && !slices.Equal(lines, want.lines) {
		t.Errorf("lines: got %v, want %v", lines, want.lines)
	}
	if want.enc != "" && got.Encoding != want.enc {
		t.Errorf("encoding: got %q, want %q", got.Encoding, want.enc)
	}
	if want.sep != 0 && got.Delimiter != want.sep {
		t.Errorf("delimiter: got %q, want %q", got.Delimiter, want.sep)
	}
	if len(got.Preamble) != want.preamble {
		t.Errorf("preamble: got %d rows %v, want %d", len(got.Preamble), got.Preamble, want.preamble)
	}
}

func TestReadCSV(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		opt  Options
		want readOK
	}{
		{
			name: "utf-8 comma",
			data: []byte("姓名,学号,班级\n张三,2024001,一班\n李四,2024002,二班\n"),
			want: readOK{header: []string{"姓名", "学号", "班级"}, rows: [][]string{{"张三", "2024001", "一班"}, {"李四", "2024002", "二班"}}, lines: []int{2, 3}, enc: "utf-8", sep: ','},
		},
		{
			name: "utf-8 BOM, CRLF, trailing empty lines, leading zeros kept",
			data: []byte("\xEF\xBB\xBF姓名,学号\r\n张三,001\r\n\r\n\r\n"),
			want: readOK{header: []string{"姓名", "学号"}, rows: [][]string{{"张三", "001"}}, lines: []int{2}, enc: "utf-8-bom"},
		},
		{
			name: "GBK as Excel saves it on Chinese Windows",
			data: encode(t, simplifiedchinese.GBK, "姓名,学校\r\n张三,济南第一中学\r\n"),
			want: readOK{header: []string{"姓名", "学校"}, rows: [][]string{{"张三", "济南第一中学"}}, enc: "gb18030"},
		},
		{
			name: "GB18030 with a name character outside GBK",
			data: encode(t, simplifiedchinese.GB18030, "姓名,性别\n王䶮,男\n"),
			want: readOK{header: []string{"姓名", "性别"}, rows: [][]string{{"王䶮", "男"}}, enc: "gb18030"},
		},
		{
			name: "UTF-16LE with BOM, tab-separated (Excel's Unicode text)",
			data: encode(t, utf16LE, "姓名\t成绩\r\n张三\t95\r\n"),
			want: readOK{header: []string{"姓名", "成绩"}, rows: [][]string{{"张三", "95"}}, enc: "utf-16le", sep: '\t'},
		},
		{
			name: "UTF-16BE with BOM",
			data: encode(t, utf16BE, "姓名,成绩\n李四,88\n"),
			want: readOK{header: []string{"姓名", "成绩"}, rows: [][]string{{"李四", "88"}}, enc: "utf-16be", sep: ','},
		},
		{
			name: "semicolon with decimal commas",
			data: []byte("姓名;成绩\n张三;90,5\n"),
			want: readOK{header: []string{"姓名", "成绩"}, rows: [][]string{{"张三", "90,5"}}, sep: ';'},
		},
		{
			name: "tab keeps empty cells",
			data: []byte("a\tb\tc\n1\t\t3\n"),
			want: readOK{header: []string{"a", "b", "c"}, rows: [][]string{{"1", "", "3"}}, sep: '\t'},
		},
		{
			name: "full-width comma is text, not a separator",
			data: []byte("姓名,备注\n张三,喜欢语文，数学\n"),
			want: readOK{header: []string{"姓名", "备注"}, rows: [][]string{{"张三", "喜欢语文，数学"}}, sep: ','},
		},
		{
			name: "only full-width commas: one column",
			data: []byte("姓名，学号\n张三，1\n"),
			want: readOK{header: []string{"姓名，学号"}, rows: [][]string{{"张三，1"}}, sep: ','},
		},
		{
			name: "quoted fields with separators, newlines and quotes",
			data: []byte("姓名,地址\r\n\"张三\",\"济南市,历下区\r\n某路1号\"\r\n\"李\"\"四\", \"x\"\r\n"),
			want: readOK{header: []string{"姓名", "地址"}, rows: [][]string{{"张三", "济南市,历下区\n某路1号"}, {"李\"四", "x"}}, lines: []int{2, 4}},
		},
		{
			name: "spaces trimmed, ideographic space too",
			data: []byte("  姓名 , 学号\n\u3000张三\u3000, 001 \n"),
			want: readOK{header: []string{"姓名", "学号"}, rows: [][]string{{"张三", "001"}}},
		},
		{
			name: "Excel sep= line",
			data: []byte("sep=;\n姓名;学号\n张三;1\n"),
			want: readOK{header: []string{"姓名", "学号"}, rows: [][]string{{"张三", "1"}}, lines: []int{3}, sep: ';'},
		},
		{
			name: "title row above the header",
			data: []byte("2025年春季学生名单,,\n姓名,学号,班级\n张三,1,一班\n"),
			want: readOK{header: []string{"姓名", "学号", "班级"}, rows: [][]string{{"张三", "1", "一班"}}, lines: []int{3}, preamble: 1},
		},
		{
			name: "single column is not mistaken for titles",
			data: []byte("姓名\n张三\n李四\n"),
			want: readOK{header: []string{"姓名"}, rows: [][]string{{"张三"}, {"李四"}}, lines: []int{2, 3}},
		},
		{
			name: "separator found below a title line",
			data: []byte("学生名单\n姓名;学号\n张三;1\n"),
			want: readOK{header: []string{"姓名", "学号"}, rows: [][]string{{"张三", "1"}}, sep: ';', preamble: 1},
		},
		{
			name: "short rows padded, empty rows skipped, trailing commas ignored",
			data: []byte("a,b,c,,\n\n,,\n1\n4,5,6,,\n"),
			want: readOK{header: []string{"a", "b", "c"}, rows: [][]string{{"1", "", ""}, {"4", "5", "6"}}, lines: []int{4, 5}},
		},
		{
			name: "explicit header line",
			data: []byte("说明：请勿修改表头\n\n姓名,学号\n张三,1\n"),
			opt:  Options{HeaderLine: 3},
			want: readOK{header: []string{"姓名", "学号"}, rows: [][]string{{"张三", "1"}}, lines: []int{4}, preamble: 1},
		},
		{
			name: "exactly at the limits",
			data: []byte("a,b\n123,x\n456,y\n"),
			opt:  Options{Limits: Limits{MaxBytes: 18, MaxRows: 2, MaxCellLen: 3, MaxCols: 2}},
			want: readOK{header: []string{"a", "b"}, rows: [][]string{{"123", "x"}, {"456", "y"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadWith(bytes.NewReader(tt.data), "名单.csv", tt.opt)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got.Format != FormatCSV {
				t.Errorf("format: got %q, want csv", got.Format)
			}
			checkTable(t, got, tt.want)
		})
	}
}

// readErr is a failed read's expected facts.
type readErr struct {
	kind   error
	line   int
	col    int
	limit  int64
	got    int64
	header string
}

func checkErr(t *testing.T, err error, want readErr) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", want.kind)
	}
	if !errors.Is(err, want.kind) {
		t.Fatalf("got error %v, want kind %v", err, want.kind)
	}
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("got %T, want *Error", err)
	}
	if te.Line != want.line || te.Column != want.col {
		t.Errorf("position: got line %d column %d, want line %d column %d (%v)", te.Line, te.Column, want.line, want.col, err)
	}
	if want.limit != 0 && te.Limit != want.limit {
		t.Errorf("limit: got %d, want %d", te.Limit, want.limit)
	}
	if want.got != 0 && te.Got != want.got {
		t.Errorf("got: got %d, want %d", te.Got, want.got)
	}
	if te.Header != want.header {
		t.Errorf("header: got %q, want %q", te.Header, want.header)
	}
}

func TestReadCSVErrors(t *testing.T) {
	small := Limits{MaxBytes: 1 << 10, MaxRows: 2, MaxCellLen: 4, MaxCols: 3}
	tests := []struct {
		name     string
		data     []byte
		filename string
		opt      Options
		want     readErr
	}{
		{name: "ragged row", data: []byte("姓名,学号\n张三,1\n李四,2,多余\n"),
			want: readErr{kind: ErrRaggedRow, line: 3, col: 3, limit: 2, got: 3}},
		{name: "too many rows", data: []byte("a\n1\n2\n\n3\n"), opt: Options{Limits: small},
			want: readErr{kind: ErrTooManyRows, line: 5, limit: 2}},
		{name: "too large", data: []byte(strings.Repeat("a,b\n", 300)), opt: Options{Limits: small},
			want: readErr{kind: ErrTooLarge, limit: 1 << 10}},
		{name: "cell too long, in characters", data: []byte("名称,b\n一二三四五,x\n"), opt: Options{Limits: small},
			want: readErr{kind: ErrCellTooLong, line: 2, col: 1, limit: 4, got: 5, header: "名称"}},
		{name: "too many columns", data: []byte("a,b,c,d\n"), opt: Options{Limits: small},
			want: readErr{kind: ErrTooManyCols, line: 1, limit: 3, got: 4}},
		{name: "a line of commas beyond Excel's width", data: []byte("a,b\n" + strings.Repeat(",", 20000) + "\n"),
			want: readErr{kind: ErrTooManyCols, line: 2, limit: DefaultMaxCols, got: maxCSVFields + 1}},
		{name: "empty file", data: nil, want: readErr{kind: ErrEmpty}},
		{name: "only empty lines and separators", data: []byte("\r\n , \n,,\n"), want: readErr{kind: ErrEmpty}},
		{name: "unterminated quote", data: []byte("a,b\n1,\"x\n"), want: readErr{kind: ErrFormat, line: 2}},
		{name: "bare quote", data: []byte("a,b\n5\"3,x\n"), want: readErr{kind: ErrFormat, line: 2}},
		{name: "damaged UTF-8", data: []byte("姓名,学号\n张三,1\n李\xff四,2\n"), want: readErr{kind: ErrEncoding, line: 3}},
		{name: "invalid UTF-8 after BOM", data: []byte("\xEF\xBB\xBFa\n\xC4\xE3\n"), want: readErr{kind: ErrEncoding, line: 2}},
		{name: "GBK cut in the middle of a character", data: append(encode(t, simplifiedchinese.GBK, "姓名,学校\n张三,济南"), 0x81),
			want: readErr{kind: ErrEncoding, line: 2}},
		{name: "GBK with an undecodable pair", data: append(encode(t, simplifiedchinese.GBK, "姓名\n张三\n"), 0x81, 0x20, '\n'),
			want: readErr{kind: ErrEncoding, line: 3}},
		{name: "NUL bytes", data: []byte("a,b\nx\x00y,1\n"), want: readErr{kind: ErrEncoding, line: 2}},
		{name: "legacy xls", data: append([]byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"), make([]byte, 64)...), filename: "a.xls",
			want: readErr{kind: ErrUnsupported}},
		{name: "HTML saved as xls", data: []byte("\n<html><body><table><tr><td>1</td></tr></table></body></html>"), filename: "a.xls",
			want: readErr{kind: ErrUnsupported}},
		{name: "text named .xlsx", data: []byte("a,b\n1,2\n"), filename: "a.xlsx", want: readErr{kind: ErrFormat}},
		{name: "header line beyond the end", data: []byte("a,b\n"), opt: Options{HeaderLine: 5}, want: readErr{kind: ErrEmpty, line: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.filename
			if name == "" {
				name = "upload.csv"
			}
			_, err := ReadWith(bytes.NewReader(tt.data), name, tt.opt)
			checkErr(t, err, tt.want)
		})
	}
}

func TestDefaultLimits(t *testing.T) {
	got := Limits{}.withDefaults()
	want := Limits{MaxBytes: 20 << 20, MaxRows: 50000, MaxCellLen: 1000, MaxCols: 100}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := (Limits{MaxRows: 7}).withDefaults().MaxRows; got != 7 {
		t.Errorf("MaxRows: got %d, want 7", got)
	}
}

func TestErrorMessage(t *testing.T) {
	e := &Error{Kind: ErrCellTooLong, Line: 12, Column: 3, Header: "备注", Limit: 1000, Got: 1200}
	want := "tabular: cell too long, line 12, column 3 (备注), limit 1000, got 1200"
	if got := e.Error(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for n, want := range map[int]string{0: "", 1: "A", 26: "Z", 27: "AA", 52: "AZ", 53: "BA", 702: "ZZ", 703: "AAA", 16384: "XFD"} {
		if got := ColumnLetters(n); got != want {
			t.Errorf("ColumnLetters(%d): got %q, want %q", n, got, want)
		}
	}
}
