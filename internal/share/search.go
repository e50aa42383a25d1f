package share

import (
	"strings"
	"unicode"
)

// Terms splits text into search terms: every bigram of each run of Han
// characters (Chinese has no spaces; 初中数学公开课 → 初中 中数 数学 学公 公开 开课),
// a lone Han character when a run has only one, and each Latin word or
// number, lower-cased. A query matches a video when every term of the query
// is among the video's terms, so 数学 finds 初中数学公开课.
func Terms(text string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	var han []rune
	var word []rune
	flushHan := func() {
		switch {
		case len(han) == 1:
			add(string(han))
		case len(han) > 1:
			for i := 0; i+1 < len(han); i++ {
				add(string(han[i : i+2]))
			}
		}
		han = han[:0]
	}
	flushWord := func() {
		if len(word) > 0 {
			add(strings.ToLower(string(word)))
		}
		word = word[:0]
	}
	for _, r := range text {
		switch {
		case unicode.Is(unicode.Han, r):
			flushWord()
			han = append(han, r)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			flushHan()
			word = append(word, unicode.ToLower(r))
		default:
			flushHan()
			flushWord()
		}
	}
	flushHan()
	flushWord()
	return out
}

// MaxQueryTerms bounds a search query.
const MaxQueryTerms = 32
