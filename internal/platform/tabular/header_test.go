package tabular

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestNormalizeHeader(t *testing.T) {
	tests := []struct{ in, want string }{
		{"姓名", "姓名"},
		{"  姓  名 ", "姓名"},
		{"姓\u3000名", "姓名"},
		{"ＮＡＭＥ", "name"},
		{"Name", "name"},
		{"*姓名", "姓名"},
		{"姓名＊", "姓名"},
		{"姓名（必填）", "姓名"},
		{"*手机号(选填)", "手机号"},
		{"成绩（分）", "成绩(分)"},
		{"\uFEFF学号", "学号"},
		{"ID_Card", "id_card"},
	}
	for _, tt := range tests {
		if got := NormalizeHeader(tt.in); got != tt.want {
			t.Errorf("NormalizeHeader(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHeaderLookup(t *testing.T) {
	data := "*姓  名,ＩＤ Card,手机号（选填）,备注,备注\n张三,370102201001011234,13800000000,a,b\n"
	tb, err := Read(bytes.NewReader([]byte(data)), "t.csv", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	row := tb.Rows[0]
	tests := []struct {
		names []string
		col   int
		cell  string
	}{
		{[]string{"姓名", "name"}, 0, "张三"},
		{[]string{"name", "姓名"}, 0, "张三"},
		{[]string{"身份证号", "id card"}, 1, "370102201001011234"},
		{[]string{"手机号"}, 2, "13800000000"},
		{[]string{"备注"}, 3, "a"},
		{[]string{"班级", "class"}, -1, ""},
		{nil, -1, ""},
	}
	for _, tt := range tests {
		if got := tb.Index(tt.names...); got != tt.col {
			t.Errorf("Index(%q): got %d, want %d", tt.names, got, tt.col)
		}
		if got := tb.Get(row, tt.names...); got != tt.cell {
			t.Errorf("Get(%q): got %q, want %q", tt.names, got, tt.cell)
		}
		if got := tb.Has(tt.names...); got != (tt.col >= 0) {
			t.Errorf("Has(%q): got %v", tt.names, got)
		}
	}

	if err := tb.Require([]string{"姓名", "name"}, []string{"身份证号", "ID card"}); err != nil {
		t.Errorf("Require present columns: got %v, want nil", err)
	}
	err = tb.Require([]string{"姓名"}, []string{"班级", "class"}, []string{"备注"}, []string{"学号"})
	var ce *ColumnsError
	if !errors.As(err, &ce) || !errors.Is(err, ErrMissingColumn) || !errors.Is(err, ErrDuplicateColumn) {
		t.Fatalf("Require: got %v, want a ColumnsError with missing and duplicate", err)
	}
	if want := [][]string{{"班级", "class"}, {"学号"}}; !reflect.DeepEqual(ce.Missing, want) {
		t.Errorf("missing: got %q, want %q", ce.Missing, want)
	}
	if want := []DuplicateColumn{{Name: "备注", Columns: []int{4, 5}}}; !reflect.DeepEqual(ce.Duplicate, want) {
		t.Errorf("duplicate: got %+v, want %+v", ce.Duplicate, want)
	}
	// Two aliases of one field both present is ambiguous too.
	if err := tb.Require([]string{"姓名", "手机号"}); !errors.Is(err, ErrDuplicateColumn) {
		t.Errorf("Require two aliases present: got %v, want ErrDuplicateColumn", err)
	}

	// A Table built by hand works without an index.
	hand := &Table{Header: []string{"Name", "Age"}}
	if got := hand.Get(Row{Cells: []string{"x", "9"}}, "age"); got != "9" {
		t.Errorf("hand-built table: got %q, want 9", got)
	}
}
