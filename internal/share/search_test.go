package share

import (
	"slices"
	"testing"
)

func TestTerms(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"初中数学公开课", []string{"初中", "中数", "数学", "学公", "公开", "开课"}},
		{"数学", []string{"数学"}},
		{"语", []string{"语"}},
		{"Grade 7 英语 Unit3", []string{"grade", "7", "英语", "unit3"}},
		{"《物理》实验；课", []string{"物理", "实验", "课"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := Terms(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("Terms(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Every query term of a substring is among the text's terms.
	text := Terms("济南第一中学初二数学公开课：一次函数")
	for _, q := range []string{"数学", "公开课", "一次函数", "初二数学"} {
		for _, term := range Terms(q) {
			if !slices.Contains(text, term) {
				t.Errorf("query %q term %q not in the text's terms", q, term)
			}
		}
	}
}
