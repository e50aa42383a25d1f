package tabular

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// FuzzRead checks that no input makes Read panic, and that what it accepts
// keeps the Table's promises. `go test` runs only the seeds; run the
// fuzzer with (short minimisation keeps it busy with new inputs):
//
//	go test -run '^$' -fuzz FuzzRead -fuzzminimizetime 3s ./internal/platform/tabular
func FuzzRead(f *testing.F) {
	seeds := [][]byte{
		nil,
		[]byte("姓名,学号\n张三,1\n"),
		[]byte("\xEF\xBB\xBFa;b\r\n\"x;\"\"y\";2\r\n\r\n"),
		[]byte("sep=\t\na\tb\n1\t2\t\n"),
		[]byte("标题\n\n姓名,学号,班级\n张三,,\n李四,2,3,4\n"),
		[]byte("a,\"b\nc\",d\n\"unterminated"),
		encode(f, simplifiedchinese.GBK, "姓名,学校\r\n张三,济南第一中学\r\n"),
		encode(f, utf16LE, "姓名\t成绩\r\n张三\t95\r\n"),
		encode(f, utf16BE, "a,b\n1,2\n"),
		rosterXLSX(f),
		minimalXLSX(f, `<x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="B1" t="inlineStr"><x:is><x:t>b</x:t></x:is></x:c></x:row>`+
			`<x:row><x:c s="1"><x:v>45536.5</x:v></x:c><x:c t="s"><x:v>7</x:v></x:c></x:row>`,
			`<si><t>a_x000D_</t></si>`, `<cellXfs><xf numFmtId="0"/><xf numFmtId="22"/></cellXfs>`, ""),
	}
	for _, s := range seeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	lim := Limits{MaxBytes: 1 << 20, MaxRows: 50, MaxCellLen: 40, MaxCols: 12}
	f.Fuzz(func(t *testing.T, data []byte, xlsxName bool) {
		name := "upload.csv"
		if xlsxName {
			name = "upload.xlsx"
		}
		tb, err := ReadWith(bytes.NewReader(data), name, Options{Limits: lim})
		if err != nil {
			var te *Error
			if !errors.As(err, &te) || te.Kind == nil {
				t.Fatalf("got error %T %v, want an *Error with a Kind", err, err)
			}
			return
		}
		if len(tb.Header) == 0 || len(tb.Header) > lim.MaxCols {
			t.Fatalf("header has %d cells", len(tb.Header))
		}
		if len(tb.Rows) > lim.MaxRows {
			t.Fatalf("got %d rows, limit %d", len(tb.Rows), lim.MaxRows)
		}
		for _, r := range append(tb.Rows, Row{Line: tb.HeaderLine, Cells: tb.Header}) {
			if r.Line < 1 {
				t.Fatalf("row line %d", r.Line)
			}
			if r.Line != tb.HeaderLine && len(r.Cells) != len(tb.Header) {
				t.Fatalf("line %d has %d cells, header %d", r.Line, len(r.Cells), len(tb.Header))
			}
			for _, c := range r.Cells {
				if utf8.RuneCountInString(c) > lim.MaxCellLen || !utf8.ValidString(c) || c != trimCell(c) {
					t.Fatalf("line %d: bad cell %q", r.Line, c)
				}
			}
		}
	})
}
