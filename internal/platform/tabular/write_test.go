package tabular

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

func TestSafeCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"张三", "张三"},
		{"", ""},
		{"=1+1", "'=1+1"},
		{"=HYPERLINK(\"http://x\",\"点我\")", "'=HYPERLINK(\"http://x\",\"点我\")"},
		{"+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"  =1", "'  =1"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"-12.5", "-12.5"},
		{"+8613800000000", "+8613800000000"},
		{"-", "'-"},
		{"a=b", "a=b"},
		{"0531-88888888", "0531-88888888"},
	}
	for _, tt := range tests {
		if got := SafeCell(tt.in); got != tt.want {
			t.Errorf("SafeCell(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

var exportHeader = []string{"姓名", "身份证号", "备注"}

var exportRows = [][]string{
	{"张三", "370102201001011234", "=1+1"},
	{"李四", "37010220100307123X", "多行\n备注, 含逗号和\"引号\""},
	{"王五", "001", ""},
}

func TestWriteCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCSV(&buf, exportHeader, exportRows); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	if !bytes.HasPrefix(out, []byte("\xEF\xBB\xBF姓名,身份证号,备注\r\n")) {
		t.Errorf("got start %q, want a UTF-8 BOM, the header and CRLF", out[:min(len(out), 40)])
	}
	tb, err := Read(bytes.NewReader(out), "export.csv", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(exportRows)
	want[0] = []string{"张三", "370102201001011234", "'=1+1"}
	checkTable(t, tb, readOK{header: exportHeader, rows: want, enc: "utf-8-bom", lines: []int{2, 3, 5}})
}

func TestWriteXLSX(t *testing.T) {
	var buf bytes.Buffer
	rows := append(slices.Clone(exportRows), []string{"赵六", "ctl\x01char", "x"})
	if err := WriteXLSX(&buf, "学生/名单[2025]", exportHeader, rows); err != nil {
		t.Fatal(err)
	}
	tb, err := Read(bytes.NewReader(buf.Bytes()), "export.xlsx", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if tb.Sheet != "学生_名单_2025_" {
		t.Errorf("sheet: got %q", tb.Sheet)
	}
	want := slices.Clone(rows)
	want[3] = []string{"赵六", "ctlchar", "x"}
	checkTable(t, tb, readOK{header: exportHeader, rows: want, lines: []int{2, 3, 4, 5}})

	// Excel sees text cells, not a formula.
	f, err := excelize.OpenReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if formula, err := f.GetCellFormula(tb.Sheet, "C2"); err != nil || formula != "" {
		t.Errorf("C2 formula: got %q, %v; want none", formula, err)
	}

	err = WriteXLSX(io.Discard, "x", []string{"a"}, [][]string{{strings.Repeat("长", xlsxMaxCellChars+1)}})
	var te *Error
	if !errors.Is(err, ErrCellTooLong) || !errors.As(err, &te) || te.Line != 2 || te.Column != 1 {
		t.Errorf("over-long cell: got %v, want ErrCellTooLong at line 2 column 1", err)
	}
}

func TestSheetName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "Sheet1"},
		{"学生名单", "学生名单"},
		{"a:b\\c/d?e*f[g]h", "a_b_c_d_e_f_g_h"},
		{"'引号'", "引号"},
		{strings.Repeat("长", 40), strings.Repeat("长", 31)},
	}
	for _, tt := range tests {
		if got := SheetName(tt.in); got != tt.want {
			t.Errorf("SheetName(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}
