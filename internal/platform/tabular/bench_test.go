package tabular

import (
	"bytes"
	"fmt"
	"testing"
)

// benchRows is a full-size import: DefaultMaxRows rows of a student roster.
func benchRows() (header []string, rows [][]string) {
	header = []string{"姓名", "性别", "身份证号", "学籍号", "学校", "年级", "班级", "手机"}
	rows = make([][]string, DefaultMaxRows)
	for i := range rows {
		rows[i] = []string{
			fmt.Sprintf("学生%05d", i), "男", fmt.Sprintf("3701022010%08d", i), fmt.Sprintf("G3701022010%07d", i),
			"济南市历下区第一实验小学", "三年级", fmt.Sprintf("%d班", i%12+1), fmt.Sprintf("138%08d", i),
		}
	}
	return header, rows
}

func benchRead(b *testing.B, data []byte, name string) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		tb, err := Read(bytes.NewReader(data), name, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if len(tb.Rows) != DefaultMaxRows {
			b.Fatalf("got %d rows", len(tb.Rows))
		}
	}
}

func BenchmarkReadCSV(b *testing.B) {
	header, rows := benchRows()
	var buf bytes.Buffer
	if err := WriteCSV(&buf, header, rows); err != nil {
		b.Fatal(err)
	}
	benchRead(b, buf.Bytes(), "roster.csv")
}

func BenchmarkReadXLSX(b *testing.B) {
	header, rows := benchRows()
	var buf bytes.Buffer
	if err := WriteXLSX(&buf, "学生", header, rows); err != nil {
		b.Fatal(err)
	}
	benchRead(b, buf.Bytes(), "roster.xlsx")
}
