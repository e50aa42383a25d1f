package speech

import (
	"strings"
	"unicode"
)

// refWord is one word of a reference text.
type refWord struct {
	Text  string // as written (punctuation trimmed)
	Prons []Pron
	Guess bool // pronunciation guessed from the spelling
}

// tokenize splits a reference text into words with pronunciations. Words
// the lexicon lacks get a pronunciation from their parts (possessive,
// plural, hyphenated) or, failing that, from the spelling.
func tokenize(text string, rec Recognizer) []refWord {
	var out []refWord
	for _, f := range strings.FieldsFunc(text, func(r rune) bool {
		return unicode.IsSpace(r) || r == ',' || r == '.' || r == '!' || r == '?' || r == ';' || r == ':' || r == '"' || r == '(' || r == ')' || r == '—' || r == '–'
	}) {
		w := strings.Trim(f, "'‘’`-")
		w = strings.ReplaceAll(w, "’", "'")
		if w == "" || !hasLetterOrDigit(w) {
			continue
		}
		if isDigits(w) {
			for _, nw := range strings.Fields(numberWords(w)) {
				out = append(out, refWord{Text: nw, Prons: rec.Pronounce(nw)})
			}
			continue
		}
		if p := rec.Pronounce(w); len(p) > 0 {
			out = append(out, refWord{Text: w, Prons: p})
			continue
		}
		if strings.Contains(w, "-") {
			for _, part := range strings.Split(w, "-") {
				if part != "" {
					out = append(out, wordFor(part, rec))
				}
			}
			continue
		}
		out = append(out, wordFor(w, rec))
	}
	return out
}

func wordFor(w string, rec Recognizer) refWord {
	if p := rec.Pronounce(w); len(p) > 0 {
		return refWord{Text: w, Prons: p}
	}
	lw := strings.ToLower(w)
	for _, suf := range []string{"'s", "s'", "s", "es"} {
		base := strings.TrimSuffix(lw, suf)
		if base == lw || base == "" {
			continue
		}
		if bp := rec.Pronounce(base); len(bp) > 0 {
			var ps []Pron
			for _, p := range bp {
				ps = append(ps, withS(p))
			}
			return refWord{Text: w, Prons: ps}
		}
	}
	return refWord{Text: w, Prons: []Pron{spell(lw)}, Guess: true}
}

// withS adds the plural or possessive ending to a pronunciation.
func withS(p Pron) Pron {
	q := append(Pron(nil), p...)
	last := ""
	if len(p) > 0 {
		last = p[len(p)-1]
	}
	switch last {
	case "S", "Z", "SH", "ZH", "CH", "JH":
		return append(q, "IH", "Z")
	case "P", "T", "K", "F", "TH":
		return append(q, "S")
	}
	return append(q, "Z")
}

// spell guesses a pronunciation from letters: rough, but enough to align
// names and new words the lexicon lacks.
func spell(w string) Pron {
	digraphs := map[string][]string{
		"ch": {"CH"}, "sh": {"SH"}, "th": {"TH"}, "ph": {"F"}, "ng": {"NG"}, "ck": {"K"}, "qu": {"K", "W"},
		"ee": {"IY"}, "ea": {"IY"}, "oo": {"UW"}, "ou": {"AW"}, "ow": {"OW"}, "ai": {"EY"}, "ay": {"EY"},
		"oa": {"OW"}, "oi": {"OY"}, "oy": {"OY"}, "au": {"AO"}, "aw": {"AO"}, "ie": {"IY"}, "ey": {"IY"}, "wh": {"W"},
	}
	single := map[byte][]string{
		'a': {"AE"}, 'b': {"B"}, 'c': {"K"}, 'd': {"D"}, 'e': {"EH"}, 'f': {"F"}, 'g': {"G"}, 'h': {"HH"},
		'i': {"IH"}, 'j': {"JH"}, 'k': {"K"}, 'l': {"L"}, 'm': {"M"}, 'n': {"N"}, 'o': {"AA"}, 'p': {"P"},
		'q': {"K"}, 'r': {"R"}, 's': {"S"}, 't': {"T"}, 'u': {"AH"}, 'v': {"V"}, 'w': {"W"}, 'x': {"K", "S"},
		'y': {"IY"}, 'z': {"Z"},
	}
	var p Pron
	for i := 0; i < len(w); {
		if i+1 < len(w) {
			if d, ok := digraphs[w[i:i+2]]; ok {
				p = append(p, d...)
				i += 2
				continue
			}
		}
		c := w[i]
		if c == 'e' && i == len(w)-1 && i > 0 { // silent final e
			i++
			continue
		}
		if i > 0 && w[i-1] == c { // double letters sound once
			i++
			continue
		}
		if s, ok := single[c]; ok {
			p = append(p, s...)
		}
		i++
	}
	if len(p) == 0 {
		p = Pron{"AH"}
	}
	return p
}

func hasLetterOrDigit(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

var ones = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
	"eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"}
var tens = []string{"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}

// numberWords spells a number below ten thousand; longer digit strings
// are read digit by digit.
func numberWords(s string) string {
	n := 0
	if len(s) > 4 || (len(s) > 1 && s[0] == '0') {
		var ws []string
		for _, c := range s {
			ws = append(ws, ones[c-'0'])
		}
		return strings.Join(ws, " ")
	}
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return spellInt(n)
}

func spellInt(n int) string {
	switch {
	case n < 20:
		return ones[n]
	case n < 100:
		if n%10 == 0 {
			return tens[n/10]
		}
		return tens[n/10] + " " + ones[n%10]
	case n < 1000:
		if n%100 == 0 {
			return ones[n/100] + " hundred"
		}
		return ones[n/100] + " hundred " + spellInt(n%100)
	default:
		if n%1000 == 0 {
			return spellInt(n/1000) + " thousand"
		}
		return spellInt(n/1000) + " thousand " + spellInt(n%1000)
	}
}

// AlignWords splits a reference text into the words the scorer aligns
// (numbers spelt out, punctuation dropped) with their pronunciations, for
// tools that drive a Recognizer directly.
func AlignWords(text string, rec Recognizer) []AlignWord {
	var out []AlignWord
	for _, w := range tokenize(text, rec) {
		out = append(out, AlignWord{Text: w.Text, Prons: w.Prons})
	}
	return out
}
