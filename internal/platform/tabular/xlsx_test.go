package tabular

import (
	"archive/zip"
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// buildXLSX makes a workbook with excelize: fill gets the file and the name
// of its first sheet ("Sheet1").
func buildXLSX(t testing.TB, fill func(f *excelize.File, sheet string) error) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if err := fill(f, "Sheet1"); err != nil {
		t.Fatalf("build xlsx: %v", err)
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatalf("write xlsx: %v", err)
	}
	return buf.Bytes()
}

// set writes values into a sheet by cell name, stopping at the first error.
func set(f *excelize.File, sheet string, cells map[string]any) error {
	for ref, v := range cells {
		if err := f.SetCellValue(sheet, ref, v); err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
	}
	return nil
}

// style applies a number format (built-in id or custom code) to a cell.
func style(f *excelize.File, sheet, ref string, id int, custom string) error {
	s := &excelize.Style{NumFmt: id}
	if custom != "" {
		s.CustomNumFmt = &custom
	}
	sid, err := f.NewStyle(s)
	if err != nil {
		return err
	}
	return f.SetCellStyle(sheet, ref, ref, sid)
}

// rosterXLSX is a student roster as a school office would send it.
func rosterXLSX(t testing.TB) []byte {
	return buildXLSX(t, func(f *excelize.File, sh string) error {
		if err := set(f, sh, map[string]any{
			"A1": "学生名单（2025 春）", // a merged title row
			"A2": "姓名", "B2": "身份证号", "C2": "手机", "D2": "出生日期", "E2": "成绩", "F2": "出勤率", "G2": "入学时间", "H2": "生日（中文）",
			"A3": " 张三 ", "C3": 13812345678, "D3": time.Date(2010, 3, 7, 0, 0, 0, 0, time.UTC), "E3": 95.5, "F3": 0.125,
			"G3": time.Date(2024, 9, 1, 8, 30, 0, 0, time.UTC), "H3": time.Date(2010, 3, 7, 0, 0, 0, 0, time.UTC),
			"A4": "李四", "B4": int64(370102201001011234), "C4": "0531-88888888", "E4": 0.1 + 0.2, "F4": 1,
			"A6": "王五", "B6": 1.10101199003071e17, "E6": 88,
		}); err != nil {
			return err
		}
		// The ID number is text, as it must be typed in Excel to survive.
		if err := f.SetCellStr(sh, "B3", "37010220100307123X"); err != nil {
			return err
		}
		if err := f.MergeCell(sh, "A1", "H1"); err != nil {
			return err
		}
		for _, s := range []struct {
			ref    string
			id     int
			custom string
		}{
			{"D3", 14, ""}, {"F3", 10, ""}, {"F4", 9, ""}, {"G3", 22, ""},
			{"H3", 0, `yyyy"年"m"月"d"日"`}, {"B6", 1, ""}, {"E4", 2, ""},
		} {
			if err := style(f, sh, s.ref, s.id, s.custom); err != nil {
				return err
			}
		}
		return nil
	})
}

func TestReadXLSX(t *testing.T) {
	data := rosterXLSX(t)
	for _, name := range []string{"roster.xlsx", "roster.csv", ""} {
		t.Run("name "+name, func(t *testing.T) {
			got, err := Read(bytes.NewReader(data), name, Limits{})
			if err != nil {
				t.Fatalf("got error %v", err)
			}
			if got.Format != FormatXLSX || got.Sheet != "Sheet1" || got.HeaderLine != 2 {
				t.Errorf("got format %q sheet %q header line %d, want xlsx Sheet1 2", got.Format, got.Sheet, got.HeaderLine)
			}
			checkTable(t, got, readOK{
				header: []string{"姓名", "身份证号", "手机", "出生日期", "成绩", "出勤率", "入学时间", "生日（中文）"},
				rows: [][]string{
					{"张三", "37010220100307123X", "13812345678", "2010-03-07", "95.5", "12.50%", "2024-09-01 08:30", "2010-03-07"},
					{"李四", "370102201001011234", "0531-88888888", "", "0.30", "100%", "", ""},
					{"王五", "110101199003071000", "", "", "88", "", "", ""},
				},
				lines:    []int{3, 4, 6},
				preamble: 1,
			})
		})
	}
}

// minimalXLSX assembles an XLSX package by hand around the given sheet XML
// (the <sheetData> content), with optional shared strings and styles, to
// test what excelize never writes.
func minimalXLSX(t testing.TB, sheetData, sst, styles, workbookPr string) []byte {
	t.Helper()
	const ns = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	const rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
	parts := map[string]string{
		"_rels/.rels": `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="` + rel + `officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml": `<?xml version="1.0" encoding="UTF-8"?><workbook ` + ns + `>` + workbookPr +
			`<sheets><sheet name="数据" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels": `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="` + rel + `worksheet" Target="worksheets/sheet1.xml"/>` +
			`<Relationship Id="rId2" Type="` + rel + `sharedStrings" Target="/xl/sharedStrings.xml"/>` +
			`<Relationship Id="rId3" Type="` + rel + `styles" Target="styles.xml"/></Relationships>`,
		"xl/worksheets/sheet1.xml": `<?xml version="1.0" encoding="UTF-8"?><x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>` +
			sheetData + `</x:sheetData></x:worksheet>`,
	}
	if sst != "" {
		parts["xl/sharedStrings.xml"] = `<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">` + sst + `</sst>`
	}
	if styles != "" {
		parts["xl/styles.xml"] = `<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">` + styles + `</styleSheet>`
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet1.xml", "xl/sharedStrings.xml", "xl/styles.xml"} {
		body, ok := parts[name]
		if !ok {
			continue
		}
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadXLSXByHand(t *testing.T) {
	styles := `<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy/m/d;@"/><numFmt numFmtId="165" formatCode="[$-804]hh&quot;时&quot;mm&quot;分&quot;"/></numFmts>` +
		`<cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs>` +
		`<cellXfs count="5"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="165"/><xf numFmtId="49"/><xf numFmtId="11"/></cellXfs>`
	sst := `<si><t>姓名</t></si><si><r><t>备</t></r><r><rPr><b/></rPr><t>注</t></r></si>` +
		`<si><t>张三</t><rPh sb="0" eb="2"><t>zhang san</t></rPh></si><si><t>第一行_x000D_
第二行</t></si><si><t xml:space="preserve"> 有空格 </t></si>`
	tests := []struct {
		name       string
		sheet      string
		workbookPr string
		want       readOK
	}{
		{
			name: "shared strings, rich text, phonetic runs, escapes, inline strings",
			sheet: `<x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="B1" t="s"><x:v>1</x:v></x:c></x:row>` +
				`<x:row r="2"><x:c r="A2" t="s"><x:v>2</x:v></x:c><x:c r="B2" t="s"><x:v>3</x:v></x:c></x:row>` +
				`<x:row r="3"><x:c r="A3" t="inlineStr"><x:is><x:t>李四</x:t></x:is></x:c><x:c r="B3" t="s"><x:v>4</x:v></x:c></x:row>`,
			want: readOK{header: []string{"姓名", "备注"}, rows: [][]string{{"张三", "第一行\r\n第二行"}, {"李四", "有空格"}}, lines: []int{2, 3}},
		},
		{
			name: "rows and cells without references, booleans, errors, formulas, ISO dates",
			sheet: `<x:row><x:c t="inlineStr"><x:is><x:t>a</x:t></x:is></x:c><x:c t="inlineStr"><x:is><x:t>b</x:t></x:is></x:c><x:c t="inlineStr"><x:is><x:t>c</x:t></x:is></x:c><x:c t="inlineStr"><x:is><x:t>d</x:t></x:is></x:c></x:row>` +
				`<x:row><x:c t="b"><x:v>1</x:v></x:c><x:c t="e"><x:v>#N/A</x:v></x:c><x:c t="str"><x:f>A1&amp;"x"</x:f><x:v>TRUEx</x:v></x:c><x:c t="d"><x:v>2024-09-01T00:00:00</x:v></x:c></x:row>`,
			want: readOK{header: []string{"a", "b", "c", "d"}, rows: [][]string{{"TRUE", "#N/A", "TRUEx", "2024-09-01"}}, lines: []int{2}},
		},
		{
			name: "custom date and time formats, text format, scientific shown plainly",
			sheet: `<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>日期</x:t></x:is></x:c><x:c r="B1" t="inlineStr"><x:is><x:t>时间</x:t></x:is></x:c><x:c r="C1" t="inlineStr"><x:is><x:t>文本</x:t></x:is></x:c><x:c r="D1" t="inlineStr"><x:is><x:t>科学</x:t></x:is></x:c></x:row>` +
				`<x:row r="2"><x:c r="A2" s="1"><x:v>45536</x:v></x:c><x:c r="B2" s="2"><x:v>0.5</x:v></x:c><x:c r="C2" s="3"><x:v>00123</x:v></x:c><x:c r="D2" s="4"><x:v>1.5E-7</x:v></x:c></x:row>`,
			want: readOK{header: []string{"日期", "时间", "文本", "科学"}, rows: [][]string{{"2024-09-01", "12:00", "00123", "0.00000015"}}},
		},
		{
			name:       "1904 date system",
			workbookPr: `<workbookPr date1904="1"/>`,
			sheet: `<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>日期</x:t></x:is></x:c></x:row>` +
				`<x:row r="2"><x:c r="A2" s="1"><x:v>44074</x:v></x:c></x:row>`,
			want: readOK{header: []string{"日期"}, rows: [][]string{{"2024-09-01"}}},
		},
		{
			name: "styled empty cells far to the right do not count",
			sheet: `<x:row r="1" spans="1:16384"><x:c r="A1" t="inlineStr"><x:is><x:t>a</x:t></x:is></x:c><x:c r="XFD1" s="1"/></x:row>` +
				`<x:row r="7"><x:c r="A7"><x:v>1</x:v></x:c><x:c r="XFC7" t="inlineStr"><x:is><x:t> </x:t></x:is></x:c></x:row>`,
			want: readOK{header: []string{"a"}, rows: [][]string{{"1"}}, lines: []int{7}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := minimalXLSX(t, tt.sheet, sst, styles, tt.workbookPr)
			got, err := Read(bytes.NewReader(data), "x.xlsx", Limits{})
			if err != nil {
				t.Fatalf("got error %v", err)
			}
			if got.Sheet != "数据" {
				t.Errorf("sheet: got %q, want 数据", got.Sheet)
			}
			checkTable(t, got, tt.want)
		})
	}
}

func TestReadXLSXSheets(t *testing.T) {
	data := buildXLSX(t, func(f *excelize.File, sh string) error {
		if err := f.SetSheetName(sh, "下拉选项"); err != nil {
			return err
		}
		for _, name := range []string{"学生", "教师"} {
			if _, err := f.NewSheet(name); err != nil {
				return err
			}
			if err := set(f, name, map[string]any{"A1": "姓名", "A2": name + "甲"}); err != nil {
				return err
			}
		}
		if err := f.SetCellValue("下拉选项", "A1", "男"); err != nil {
			return err
		}
		f.SetActiveSheet(1) // excelize will not hide the active sheet
		return f.SetSheetVisible("下拉选项", false)
	})
	tests := []struct {
		sheet, wantSheet, wantCell string
	}{
		{"", "学生", "学生甲"}, // the first visible sheet
		{"教师", "教师", "教师甲"},
		{"下拉选项", "下拉选项", ""},
	}
	for _, tt := range tests {
		got, err := ReadWith(bytes.NewReader(data), "a.xlsx", Options{Sheet: tt.sheet})
		if err != nil {
			t.Fatalf("sheet %q: got error %v", tt.sheet, err)
		}
		if got.Sheet != tt.wantSheet {
			t.Errorf("sheet %q: got sheet %q, want %q", tt.sheet, got.Sheet, tt.wantSheet)
		}
		if cell := got.Get(Row{Cells: firstCells(got)}, "姓名"); tt.wantCell != "" && cell != tt.wantCell {
			t.Errorf("sheet %q: got %q, want %q", tt.sheet, cell, tt.wantCell)
		}
	}
	_, err := ReadWith(bytes.NewReader(data), "a.xlsx", Options{Sheet: "家长"})
	checkErr(t, err, readErr{kind: ErrFormat})
}

func firstCells(t *Table) []string {
	if len(t.Rows) == 0 {
		return nil
	}
	return t.Rows[0].Cells
}

func TestReadXLSXErrors(t *testing.T) {
	wide := buildXLSX(t, func(f *excelize.File, sh string) error {
		return set(f, sh, map[string]any{"A1": "a", "B1": "b", "A2": 1, "E2": "x"})
	})
	long := buildXLSX(t, func(f *excelize.File, sh string) error {
		return set(f, sh, map[string]any{"A1": "a", "B1": "备注", "B3": strings.Repeat("长", 11)})
	})
	many := buildXLSX(t, func(f *excelize.File, sh string) error {
		cells := map[string]any{"A1": "n"}
		for i := 2; i <= 12; i++ {
			cells[fmt.Sprintf("A%d", i)] = i
		}
		return set(f, sh, cells)
	})
	wideHeader := buildXLSX(t, func(f *excelize.File, sh string) error {
		return set(f, sh, map[string]any{"A1": "a", "CW1": "far"})
	})
	// A sheet that unzips to far more than the file: a zip bomb in miniature.
	bomb := minimalXLSX(t, `<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>a</x:t></x:is></x:c></x:row>`+strings.Repeat(" ", 4<<20), "", "", "")
	broken := rosterXLSX(t)
	broken = broken[:len(broken)/2]

	lim := Limits{MaxRows: 10, MaxCellLen: 10, MaxCols: 3}
	tests := []struct {
		name string
		data []byte
		lim  Limits
		want readErr
	}{
		{"data right of the header", wide, Limits{}, readErr{kind: ErrRaggedRow, line: 2, col: 3, limit: 2, got: 5}},
		{"cell too long", long, lim, readErr{kind: ErrCellTooLong, line: 3, col: 2, limit: 10, got: 11, header: "备注"}},
		{"too many rows", many, lim, readErr{kind: ErrTooManyRows, line: 12, limit: 10}},
		{"too many columns", wideHeader, Limits{MaxCols: 100}, readErr{kind: ErrTooManyCols, line: 1, col: 101, limit: 100, got: 101}},
		{"unzips too large", bomb, Limits{MaxBytes: 64 << 10}, readErr{kind: ErrTooLarge, limit: 640 << 10}},
		{"truncated zip", broken, Limits{}, readErr{kind: ErrFormat}},
		{"zip that is not a workbook", zipOf(t, map[string]string{"hello.txt": "hi"}), Limits{}, readErr{kind: ErrFormat}},
		{"OpenDocument", zipOf(t, map[string]string{"mimetype": "application/vnd.oasis.opendocument.spreadsheet"}), Limits{}, readErr{kind: ErrUnsupported}},
		{"empty sheet", buildXLSX(t, func(*excelize.File, string) error { return nil }), Limits{}, readErr{kind: ErrEmpty}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tt.data), "upload.xlsx", tt.lim)
			checkErr(t, err, tt.want)
		})
	}
}

func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRenderNumber(t *testing.T) {
	tests := []struct {
		v, code string
		want    string
	}{
		{"370102201001011234", "", "370102201001011234"},
		{"1.10101199003071E+17", "", "110101199003071000"},
		{"1.10101199003071E+17", "0", "110101199003071000"},
		{"13812345678", "General", "13812345678"},
		{"0.30000000000000004", "", "0.3"},
		{"2.675", "0.00", "2.68"},
		{"-2.675", "#,##0.00", "-2.68"},
		{"-0.001", "0.00", "0.00"},
		{"9.995", "0.00", "10.00"},
		{"85", "0.0", "85.0"},
		{"0.5", "0%", "50%"},
		{"1.5", "0", "2"},
		{"1234567.891", `#,##0.00 "元"`, "1234567.89"},
		{"45536", "yyyy-mm-dd", "2024-09-01"},
		{"45536.75", "yyyy-mm-dd hh:mm:ss", "2024-09-01 18:00:00"},
		{"45536", "yyyy-mm-dd hh:mm", "2024-09-01"},
		{"45536", `[$-F800]dddd, mmmm dd, yyyy`, "2024-09-01"},
		{"45536", "mmm", "2024-09-01"},
		{"0.75", "h:mm AM/PM", "18:00"},
		{"0.0000115740740740741", "mm:ss", "00:00:01"},
		{"1", "yyyy-mm-dd", "1900-01-01"},
		{"61", "yyyy-mm-dd", "1900-03-01"},
		{"-1", "yyyy-mm-dd", "-1"},
		{"abc", "0.00", "abc"},
		{"007", "@", "007"},
		{"1.5", "# ?/?", "1.5"},
		{"12", `0"分"`, "12"},
		{"0.125", "0.00%;[Red]-0.00%", "12.50%"},
	}
	for _, tt := range tests {
		if got := renderNumber(tt.v, classifyFormat(tt.code), false); got != tt.want {
			t.Errorf("renderNumber(%q, %q): got %q, want %q", tt.v, tt.code, got, tt.want)
		}
	}
}
