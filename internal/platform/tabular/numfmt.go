package tabular

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// numKind is how a numeric XLSX cell is shown, from its number format.
type numKind uint8

const (
	numGeneral  numKind = iota // as the number, never in exponent form
	numText                    // "@": the stored text
	numFixed                   // a fixed number of decimals
	numPercent                 // times 100, fixed decimals, "%"
	numDate                    // YYYY-MM-DD
	numTime                    // hh:mm[:ss]
	numDateTime                // YYYY-MM-DD hh:mm[:ss], or just the date at midnight
)

// cellFormat is what this package keeps of a number format.
type cellFormat struct {
	kind     numKind
	decimals int  // numFixed, numPercent
	seconds  bool // time kinds: the format shows seconds
}

// builtinFormat returns the format code of Excel's built-in number format
// id (as Excel shows it in a zh-CN locale for the locale-dependent ones),
// or "" for General and unknown ids.
func builtinFormat(id int) string {
	switch id {
	case 1:
		return "0"
	case 2:
		return "0.00"
	case 3:
		return "#,##0"
	case 4:
		return "#,##0.00"
	case 5, 6, 37, 38:
		return "#,##0 ;(#,##0)"
	case 7, 8, 39, 40:
		return "#,##0.00;(#,##0.00)"
	case 9:
		return "0%"
	case 10:
		return "0.00%"
	case 11, 48:
		return "0.00E+00"
	case 12, 13:
		return "# ?/?"
	case 14, 30:
		return "yyyy-mm-dd"
	case 15:
		return "d-mmm-yy"
	case 16:
		return "d-mmm"
	case 17:
		return "mmm-yy"
	case 18:
		return "h:mm AM/PM"
	case 19:
		return "h:mm:ss AM/PM"
	case 20:
		return "h:mm"
	case 21:
		return "h:mm:ss"
	case 22:
		return "yyyy-mm-dd h:mm"
	case 27, 36, 50, 52, 57:
		return `yyyy"年"m"月"`
	case 28, 29, 51, 53, 54, 58:
		return `m"月"d"日"`
	case 31:
		return `yyyy"年"m"月"d"日"`
	case 32, 55:
		return `h"时"mm"分"`
	case 33, 34, 35, 56:
		return `h"时"mm"分"ss"秒"`
	case 41, 42, 43, 44:
		return "#,##0.00"
	case 45:
		return "mm:ss"
	case 46:
		return "[h]:mm:ss"
	case 47:
		return "mm:ss.0"
	case 49:
		return "@"
	}
	return ""
}

// classifyFormat reduces a format code to what reading needs. Only the
// first section (positive numbers) counts.
func classifyFormat(code string) cellFormat {
	if code == "" || strings.EqualFold(code, "general") {
		return cellFormat{kind: numGeneral}
	}
	// Keep only the format tokens: drop quoted text, escaped characters,
	// fill/padding characters and bracketed colours and locales, but note
	// elapsed-time brackets ([h], [mm], [ss]).
	var tok strings.Builder
	elapsed := false
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch c {
		case ';':
			i = len(code)
			continue
		case '"':
			j := strings.IndexByte(code[i+1:], '"')
			if j < 0 {
				i = len(code)
			} else {
				i += j + 1
			}
			continue
		case '\\', '_', '*':
			i++ // skip the next character
			continue
		case '[':
			j := strings.IndexByte(code[i+1:], ']')
			inner := code[i+1:]
			if j >= 0 {
				inner = code[i+1 : i+1+j]
			}
			if s := strings.ToLower(inner); s != "" && strings.Trim(s, "hms") == "" {
				elapsed = true
				tok.WriteString(s)
			}
			if j < 0 {
				i = len(code)
			} else {
				i += j + 1
			}
			continue
		}
		tok.WriteByte(c)
	}
	t := strings.ToLower(tok.String())
	switch {
	case strings.Contains(t, "@"):
		return cellFormat{kind: numText}
	case strings.Contains(t, "general"):
		return cellFormat{kind: numGeneral}
	}
	hasDate := strings.ContainsAny(t, "yd") || (strings.Contains(t, "m") && !strings.ContainsAny(t, "hs0#?") && !strings.Contains(t, "am/pm"))
	hasTime := elapsed || strings.ContainsAny(t, "hs")
	switch {
	case hasDate && hasTime:
		return cellFormat{kind: numDateTime, seconds: strings.Contains(t, "s")}
	case hasDate:
		return cellFormat{kind: numDate}
	case hasTime:
		return cellFormat{kind: numTime, seconds: strings.Contains(t, "s")}
	case strings.Contains(t, "e+") || strings.Contains(t, "e-") || strings.Contains(t, "/"):
		return cellFormat{kind: numGeneral} // scientific or fraction: show plainly
	}
	dec := 0
	if i := strings.IndexByte(t, '.'); i >= 0 {
		for _, c := range t[i+1:] {
			if c == '0' || c == '#' || c == '?' {
				dec++
			} else if c != ',' {
				break
			}
		}
	}
	if strings.Contains(t, "%") {
		return cellFormat{kind: numPercent, decimals: dec}
	}
	return cellFormat{kind: numFixed, decimals: dec}
}

// renderNumber turns the stored value v of a numeric cell into text.
func renderNumber(v string, cf cellFormat, date1904 bool) string {
	switch cf.kind {
	case numText:
		return v
	case numDate, numTime, numDateTime:
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			if s, ok := serialToText(f, cf, date1904); ok {
				return s
			}
		}
	}
	if isIntLiteral(v) && (cf.kind != numPercent) && (cf.kind != numFixed || cf.decimals == 0) {
		// Keep every digit: an ID number written as a number is exact here.
		return strings.TrimPrefix(v, "+")
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return v
	}
	switch cf.kind {
	case numPercent:
		return roundDecimal(plainNumber(f*100), cf.decimals) + "%"
	case numFixed:
		return roundDecimal(plainNumber(f), cf.decimals)
	}
	return plainNumber(f)
}

// isIntLiteral reports an optionally signed run of ASCII digits.
func isIntLiteral(s string) bool {
	s = strings.TrimLeft(s, "+-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// plainNumber prints f to Excel's 15 significant digits, without exponent.
func plainNumber(f float64) string {
	return plainDecimal(strconv.FormatFloat(f, 'g', 15, 64))
}

// plainDecimal rewrites a decimal in exponent form ("1.5e+17") as plain
// digits ("150000000000000000"), exactly, without going through a float.
func plainDecimal(s string) string {
	mant, expText, ok := strings.Cut(strings.ToLower(s), "e")
	if !ok {
		return s
	}
	exp, err := strconv.Atoi(expText)
	if err != nil || exp > 400 || exp < -400 {
		return s
	}
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimLeft(mant, "+-")
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	point := len(intPart) + exp
	var out string
	switch {
	case point <= 0:
		out = "0." + strings.Repeat("0", -point) + digits
	case point >= len(digits):
		out = digits + strings.Repeat("0", point-len(digits))
	default:
		out = digits[:point] + "." + digits[point:]
	}
	if strings.Contains(out, ".") {
		out = strings.TrimRight(strings.TrimRight(out, "0"), ".")
	}
	if i := strings.IndexFunc(out, func(r rune) bool { return r != '0' }); i > 0 && out[i] != '.' {
		out = out[i:]
	} else if i < 0 {
		out = "0"
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out
}

// roundDecimal rounds a plain decimal string half away from zero to dec
// decimals, on its decimal digits (2.675 → 2.68, as Excel shows it).
func roundDecimal(s string, dec int) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	if len(frac) <= dec {
		frac += strings.Repeat("0", dec-len(frac))
	} else {
		up := frac[dec] >= '5'
		digits := []byte(intPart + frac[:dec])
		for i := len(digits) - 1; up && i >= 0; i-- {
			if digits[i] == '9' {
				digits[i] = '0'
			} else {
				digits[i]++
				up = false
			}
		}
		if up {
			digits = append([]byte{'1'}, digits...)
		}
		intPart, frac = string(digits[:len(digits)-dec]), string(digits[len(digits)-dec:])
	}
	out := intPart
	if dec > 0 {
		out += "." + frac
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out
}

// Excel's largest date serial, 9999-12-31.
const maxSerial = 2958465

// serialToText converts an Excel date serial to text.
func serialToText(f float64, cf cellFormat, date1904 bool) (string, bool) {
	if f < 0 || f >= maxSerial+1 {
		return "", false
	}
	days := math.Floor(f)
	secs := int64(math.Round((f - days) * 86400))
	if secs >= 86400 {
		days++
		secs -= 86400
	}
	base := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	switch {
	case date1904:
		base = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	case days < 60:
		// Excel counts a 29 February 1900 that never was (Lotus 1-2-3's bug).
		base = base.AddDate(0, 0, 1)
	}
	t := base.AddDate(0, 0, int(days)).Add(time.Duration(secs) * time.Second)
	clock := "15:04"
	if cf.seconds || secs%60 != 0 {
		clock = "15:04:05"
	}
	switch {
	case cf.kind == numTime:
		return t.Format(clock), true
	case cf.kind == numDateTime && secs != 0:
		return t.Format("2006-01-02 " + clock), true
	}
	return t.Format("2006-01-02"), true
}

// isoToText renders the value of a t="d" cell (ISO 8601) as a date, or a
// date and time when it has one.
func isoToText(v string) string {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		t, err := time.Parse(layout, v)
		if err != nil {
			continue
		}
		switch {
		case t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0:
			return t.Format("2006-01-02")
		case t.Second() == 0:
			return t.Format("2006-01-02 15:04")
		default:
			return t.Format("2006-01-02 15:04:05")
		}
	}
	return v
}
