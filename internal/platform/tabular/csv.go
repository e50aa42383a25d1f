package tabular

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// readCSV decodes data, finds its separator and feeds its records to b.
func readCSV(data []byte, b *builder) error {
	text, enc, err := decodeText(data)
	if err != nil {
		return err
	}
	b.t.Encoding = enc
	sep, sepLine := detectSeparator(text)
	b.t.Delimiter = sep
	if line, n := tooManyFields(text, byte(sep), maxCSVFields); line > 0 {
		return &Error{Kind: ErrTooManyCols, Line: line, Limit: int64(b.opt.Limits.MaxCols), Got: int64(n)}
	}

	cr := csv.NewReader(bytes.NewReader(text))
	cr.Comma = sep
	cr.FieldsPerRecord = -1
	// Leading spaces before a quote (`a, "b,c"`) are common in hand-made
	// files; a tab separator must not be eaten as space, though.
	cr.TrimLeadingSpace = sep != '\t'
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			e := &Error{Kind: ErrFormat, Err: err}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				e.Line = pe.StartLine
				e.Err = pe.Err
				e.Detail = fmt.Sprintf("at line %d, byte %d of the line", pe.Line, pe.Column)
			}
			return e
		}
		line, _ := cr.FieldPos(0)
		if line == sepLine {
			continue
		}
		if err := b.add(line, rec); err != nil {
			return err
		}
	}
}

// decodeText returns data as UTF-8 without BOM, and the encoding it was in.
func decodeText(data []byte) (text []byte, enc string, err error) {
	switch {
	case bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")):
		text, enc = data[3:], "utf-8-bom"
		if !utf8.Valid(text) {
			_, _, bad := utf8Stats(text)
			return nil, enc, &Error{Kind: ErrEncoding, Line: lineAt(text, bad), Detail: "invalid UTF-8 after a UTF-8 BOM"}
		}
	case bytes.HasPrefix(data, []byte("\xFF\xFE")):
		text, enc, err = decodeWith(unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM), data, "utf-16le")
	case bytes.HasPrefix(data, []byte("\xFE\xFF")):
		text, enc, err = decodeWith(unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM), data, "utf-16be")
	case utf8.Valid(data):
		text, enc = data, "utf-8"
	default:
		multi, invalid, bad := utf8Stats(data)
		if multi > invalid {
			// Mostly good UTF-8 with a few broken bytes: a damaged file,
			// not GBK. Guessing would import garbled names.
			return nil, "utf-8", &Error{Kind: ErrEncoding, Line: lineAt(data, bad), Detail: "damaged UTF-8"}
		}
		text, enc, err = decodeWith(simplifiedchinese.GB18030, data, "gb18030")
	}
	if err != nil {
		return nil, enc, err
	}
	if i := bytes.IndexByte(text, 0); i >= 0 {
		return nil, enc, &Error{Kind: ErrEncoding, Line: lineAt(text, i), Detail: "NUL byte: a binary file, or UTF-16 without a BOM"}
	}
	return text, enc, nil
}

// decodeWith decodes data and refuses the result if the decoder had to
// replace anything it could not decode.
func decodeWith(e encoding.Encoding, data []byte, name string) ([]byte, string, error) {
	text, err := e.NewDecoder().Bytes(data)
	if err != nil {
		return nil, name, &Error{Kind: ErrEncoding, Detail: "cannot decode as " + name, Err: err}
	}
	if i := bytes.IndexRune(text, utf8.RuneError); i >= 0 {
		return nil, name, &Error{Kind: ErrEncoding, Line: lineAt(text, i), Detail: "bytes that are not valid " + name}
	}
	text = bytes.TrimPrefix(text, []byte("\xEF\xBB\xBF"))
	return text, name, nil
}

// utf8Stats counts the valid multi-byte UTF-8 sequences and the invalid
// bytes in data, and gives the offset of the first invalid byte (-1 if none).
func utf8Stats(data []byte) (multi, invalid, firstBad int) {
	firstBad = -1
	for i := 0; i < len(data); {
		if data[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			invalid++
			if firstBad < 0 {
				firstBad = i
			}
			i++
			continue
		}
		multi++
		i += n
	}
	return multi, invalid, firstBad
}

// lineAt gives the 1-based line of byte offset off in text.
func lineAt(text []byte, off int) int {
	if off < 0 {
		return 0
	}
	return bytes.Count(text[:min(off, len(text))], []byte{'\n'}) + 1
}

// detectSeparator picks the separator: an Excel "sep=X" first line (whose
// line number is returned so it can be skipped, else 0), or whichever of
// comma, tab and semicolon occurs most, outside quotes, in the first of the
// first five non-empty lines that has any.
func detectSeparator(text []byte) (sep rune, sepLine int) {
	first, _, _ := bytes.Cut(text, []byte{'\n'})
	if s := strings.TrimRight(string(first), "\r"); len(s) == 5 && strings.EqualFold(s[:4], "sep=") && strings.IndexByte(",;\t|", s[4]) >= 0 {
		return rune(s[4]), 1
	}
	candidates := []byte{',', '\t', ';'} // in order of preference on a tie
	rest := text
	for seen := 0; seen < 5 && len(rest) > 0; {
		var counts [3]int
		var line []byte
		line, rest = nextRecord(rest)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		seen++
		inQuote := false
		for _, c := range line {
			if c == '"' {
				inQuote = !inQuote
				continue
			}
			if inQuote {
				continue
			}
			if i := bytes.IndexByte(candidates, c); i >= 0 {
				counts[i]++
			}
		}
		best := 0
		for i := range counts {
			if counts[i] > counts[best] {
				best = i
			}
		}
		if counts[best] > 0 {
			return rune(candidates[best]), 0
		}
	}
	return ',', 0
}

// nextRecord splits off the first record (up to a newline outside quotes).
func nextRecord(text []byte) (rec, rest []byte) {
	inQuote := false
	for i, c := range text {
		switch c {
		case '"':
			inQuote = !inQuote
		case '\n':
			if !inQuote {
				return text[:i], text[i+1:]
			}
		}
	}
	return text, nil
}

// tooManyFields finds the first record with more than max fields, the way
// encoding/csv would split it, and returns its line and field count (0, 0
// if none). It runs before parsing so that a line of a million commas is
// refused without allocating a million strings.
func tooManyFields(text []byte, sep byte, max int) (line, fields int) {
	lineNo, recLine, n := 1, 1, 1
	atStart, inQuote := true, false
	for i := 0; i < len(text); i++ {
		c := text[i]
		if inQuote {
			switch {
			case c == '"' && i+1 < len(text) && text[i+1] == '"':
				i++
			case c == '"':
				inQuote = false
			case c == '\n':
				lineNo++
			}
			continue
		}
		switch {
		case c == sep:
			n++
			if n > max {
				return recLine, n
			}
			atStart = true
		case c == '\n':
			lineNo++
			recLine, n, atStart = lineNo, 1, true
		case c == '"' && atStart:
			inQuote, atStart = true, false
		case c == ' ' && atStart:
			// leading space before a quote is trimmed by the parser
		default:
			atStart = false
		}
	}
	return 0, 0
}
