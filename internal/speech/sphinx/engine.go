// Package sphinx implements speech.Recognizer on CMU PocketSphinx
// (5prealpha, through cgo) with its US-English acoustic model and the CMU
// pronouncing dictionary.
//
// Forced alignment uses phones as words: every ARPAbet phone is a
// dictionary word ("p_ah"), and a reference text becomes a JSGF grammar of
// its words' pronunciations spelt in those phone words, so the best path
// gives each phone's frames and acoustic score. Every senone is scored in
// every frame, and the decoder normalises each frame by its best senone,
// so a phone's score is its distance from the best any phone could do:
// the goodness of pronunciation, without a second (phone-loop) decoding.
package sphinx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"jnedu/internal/speech"
)

// Default model locations of the Debian package pocketsphinx-en-us.
const (
	DefaultModelDir = "/usr/share/pocketsphinx/model/en-us/en-us"
	DefaultDict     = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"
)

// topN is how many Gaussians of each codebook score a frame: the
// decoder's main cost, as every senone is scored in every frame.
const topN = 1

// Config locates the model.
type Config struct {
	ModelDir string // acoustic model folder (DefaultModelDir)
	Dict     string // pronouncing dictionary (DefaultDict)
	// Decoders bounds the decoders kept (one per concurrent decode; each
	// holds the model, tens of MB). 0: 2.
	Decoders int
}

// Engine is a pool of decoders; it implements speech.Recognizer.
type Engine struct {
	cfg    Config
	lex    map[string][]speech.Pron
	phones []string
	model  string

	slots chan struct{}
	mu    sync.Mutex
	idle  []*decoder
	all   []*decoder
}

var _ speech.Recognizer = (*Engine)(nil)

// New loads the dictionary and checks that a decoder starts.
func New(cfg Config) (*Engine, error) {
	if cfg.ModelDir == "" {
		cfg.ModelDir = DefaultModelDir
	}
	if cfg.Dict == "" {
		cfg.Dict = DefaultDict
	}
	if cfg.Decoders <= 0 {
		cfg.Decoders = 2
	}
	for _, p := range []string{filepath.Join(cfg.ModelDir, "mdef"), cfg.Dict} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("sphinx: model file missing (install pocketsphinx-en-us): %w", err)
		}
	}
	lex, phones, err := readDict(cfg.Dict)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, lex: lex, phones: phones, slots: make(chan struct{}, cfg.Decoders),
		model: fmt.Sprintf("cmusphinx-en-us-ptm-5.2+%s/topn%d", filepath.Base(cfg.Dict), topN)}
	d, err := e.newDecoder()
	if err != nil {
		return nil, err
	}
	e.idle = append(e.idle, d)
	return e, nil
}

// Info implements speech.Recognizer.
func (e *Engine) Info() speech.EngineInfo {
	return speech.EngineInfo{Name: "pocketsphinx-5prealpha", Model: e.model}
}

// Close frees the decoders; the engine must not be used afterwards.
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range e.all {
		d.close()
	}
	e.all, e.idle = nil, nil
}

func (e *Engine) newDecoder() (*decoder, error) {
	d, err := newDecoder([]string{
		"-hmm", e.cfg.ModelDir, "-dict", e.cfg.Dict,
		"-logfn", "/dev/null",
		"-remove_silence", "no", // keep every frame: pauses are measured
		"-beam", "1e-60", "-pbeam", "1e-60", "-wbeam", "1e-40",
		"-bestpath", "no",
		// Score every senone in every frame: the decoder normalises frame
		// scores by the best senone scored, so only then is a phone's
		// acoustic score its distance from the best any phone could do
		// (the goodness of pronunciation).
		"-compallsen", "yes", "-topn", strconv.Itoa(topN), // best Gaussians per codebook (see bench/speech)
	})
	if err != nil {
		return nil, err
	}
	for _, p := range e.phones {
		if err := d.addWord(phoneWord(p), p); err != nil {
			d.close()
			return nil, err
		}
	}
	e.mu.Lock()
	e.all = append(e.all, d)
	e.mu.Unlock()
	return d, nil
}

// with runs fn on a decoder of the pool.
func (e *Engine) with(ctx context.Context, fn func(*decoder) error) error {
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-e.slots }()
	e.mu.Lock()
	var d *decoder
	if n := len(e.idle); n > 0 {
		d, e.idle = e.idle[n-1], e.idle[:n-1]
	}
	e.mu.Unlock()
	if d == nil {
		var err error
		if d, err = e.newDecoder(); err != nil {
			return err
		}
	}
	defer func() {
		e.mu.Lock()
		e.idle = append(e.idle, d)
		e.mu.Unlock()
	}()
	return fn(d)
}

func phoneWord(p string) string { return "p_" + strings.ToLower(p) }

// Pronounce implements speech.Recognizer.
func (e *Engine) Pronounce(word string) []speech.Pron {
	return e.lex[strings.ToLower(word)]
}

// Align implements speech.Recognizer.
func (e *Engine) Align(ctx context.Context, pcm []int16, words []speech.AlignWord) ([]speech.Segment, error) {
	if len(words) == 0 {
		return nil, errors.New("sphinx: nothing to align")
	}
	var b strings.Builder
	b.WriteString("#JSGF V1.0;\ngrammar align;\npublic <s> =")
	for i, w := range words {
		if len(w.Prons) == 0 {
			return nil, fmt.Errorf("sphinx: word %d (%q) has no pronunciation", i, w.Text)
		}
		b.WriteString(" (")
		for j, p := range w.Prons {
			if j > 0 {
				b.WriteString(" |")
			}
			for _, ph := range p {
				if !e.knownPhone(ph) {
					return nil, fmt.Errorf("sphinx: unknown phone %q in %q", ph, w.Text)
				}
				b.WriteString(" " + phoneWord(ph))
			}
		}
		b.WriteString(" )")
	}
	b.WriteString(";\n")
	segs, err := e.decodeGrammar(ctx, "align", b.String(), 0, pcm)
	if err != nil {
		return nil, err
	}
	return assignWords(segs, words), nil
}

// Spot implements speech.Recognizer.
func (e *Engine) Spot(ctx context.Context, pcm []int16, phrases []speech.SpotPhrase) ([]speech.Segment, error) {
	var b strings.Builder
	b.WriteString("#JSGF V1.0;\ngrammar spot;\npublic <s> = <item>* ;\n<item> =")
	n := 0
	for _, ph := range phrases {
		ws := e.grammarWords(ph.Words)
		if len(ws) == 0 {
			continue
		}
		if n > 0 {
			b.WriteString(" |")
		}
		wt := ph.Weight
		if wt <= 0 || math.IsNaN(wt) || math.IsInf(wt, 0) {
			wt = 1
		}
		b.WriteString(" /" + strconv.FormatFloat(wt, 'g', 4, 64) + "/ ( " + strings.Join(ws, " ") + " )")
		n++
	}
	if n == 0 {
		return nil, errors.New("sphinx: no phrase to spot")
	}
	// Garbage: any phone, far less likely than a phrase, so that speech
	// which is none of the phrases has somewhere to go but a phrase said
	// however clumsily still wins.
	for _, p := range e.phones {
		b.WriteString(" | /1e-4/ " + phoneWord(p))
	}
	b.WriteString(";\n")
	segs, err := e.decodeGrammar(ctx, "spot", b.String(), 0, pcm)
	if err != nil {
		return nil, err
	}
	return spokenWords(segs, -1), nil
}

// Detect implements speech.Recognizer: the grammar places exactly one
// of the alternatives once, anywhere, with a free phone loop (and the
// decoder's silence and noise) before and after it.
func (e *Engine) Detect(ctx context.Context, pcm []int16, alternatives [][]string) ([]speech.Segment, error) {
	var b strings.Builder
	b.WriteString("#JSGF V1.0;\ngrammar detect;\npublic <s> = <g>* (")
	alts := make([][]string, 0, len(alternatives))
	n := 0
	for _, a := range alternatives {
		ws := e.grammarWords(a)
		if len(ws) == 0 {
			alts = append(alts, nil) // keeps the indexes
			continue
		}
		if n > 0 {
			b.WriteString(" |")
		}
		b.WriteString(" " + strings.Join(ws, " "))
		alts = append(alts, ws)
		n++
	}
	if n == 0 {
		return nil, errors.New("sphinx: no phrase to detect")
	}
	b.WriteString(" ) <g>* ;\n<g> =")
	e.writePhones(&b)
	b.WriteString(";\n")
	segs, err := e.decodeGrammar(ctx, "detect", b.String(), detectBeam, pcm)
	if err != nil {
		return nil, err
	}
	words := spokenWords(segs, 0)
	// Which alternative the words spell (the longest that does).
	best := -1
	for i, a := range alts {
		if len(a) == len(words) && (best < 0 || len(a) > len(alts[best])) {
			ok := true
			for j, w := range a {
				if words[j].Label != w {
					ok = false
					break
				}
			}
			if ok {
				best = i
			}
		}
	}
	if best < 0 {
		return nil, nil // the search did not reach the end of the grammar
	}
	for i := range words {
		words[i].Word = best
	}
	return words, nil
}

// PhoneLoop implements speech.Recognizer.
func (e *Engine) PhoneLoop(ctx context.Context, pcm []int16) ([]speech.Segment, error) {
	var b strings.Builder
	b.WriteString("#JSGF V1.0;\ngrammar loop;\npublic <s> = <g>* ;\n<g> =")
	e.writePhones(&b)
	b.WriteString(";\n")
	segs, err := e.decodeGrammar(ctx, "loop", b.String(), 0, pcm)
	if err != nil {
		return nil, err
	}
	return assignWords(segs, nil), nil
}

// decodeGrammar decodes pcm with a JSGF grammar set for this search
// only; beam 0 keeps the decoder's beams, another widens them (detectBeam).
func (e *Engine) decodeGrammar(ctx context.Context, name, grammar string, beam float64, pcm []int16) ([]seg, error) {
	var segs []seg
	err := e.with(ctx, func(d *decoder) error {
		var err error
		if beam != 0 {
			err = d.setJSGFWide(name, grammar, beam)
		} else {
			err = d.setJSGF(name, grammar)
		}
		if err != nil {
			return err
		}
		defer d.unset(name)
		segs, _, err = d.decode(name, pcm)
		return err
	})
	return segs, err
}

// writePhones writes every phone of the model as alternatives of a
// grammar rule: a free phone loop.
func (e *Engine) writePhones(b *strings.Builder) {
	for i, p := range e.phones {
		if i > 0 {
			b.WriteString(" |")
		}
		b.WriteString(" " + phoneWord(p))
	}
}

// detectBeam keeps every path of a Detect grammar: with the decoder's
// beams, the phrase's path is pruned wherever a free phone loop fits
// better, which is nearly everywhere, and the search ends without it.
var detectBeam = 1e-300

// grammarWords is a phrase's words in lower case for a grammar, or nil when
// one of them is not in the dictionary or not a plain token.
func (e *Engine) grammarWords(words []string) []string {
	ws := make([]string, 0, len(words))
	for _, w := range words {
		w = strings.ToLower(w)
		if _, ok := e.lex[w]; !ok || !plainToken(w) {
			return nil
		}
		ws = append(ws, w)
	}
	return ws
}

func plainToken(w string) bool {
	for _, r := range w {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '\'' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return w != ""
}

func (e *Engine) knownPhone(p string) bool {
	for _, q := range e.phones {
		if q == p {
			return true
		}
	}
	return false
}

// assignWords turns the best path of an alignment grammar into segments:
// phone words become phones tagged with the word they spell.
func assignWords(segs []seg, words []speech.AlignWord) []speech.Segment {
	var out []speech.Segment
	var phones []int // indexes into out of the phone segments
	for _, s := range segs {
		lab := s.Word
		switch {
		case strings.HasPrefix(lab, "p_"):
			lab = strings.ToUpper(strings.TrimPrefix(lab, "p_"))
			if i := strings.IndexByte(lab, '('); i > 0 {
				lab = lab[:i]
			}
			phones = append(phones, len(out))
		case lab == "(NULL)":
			continue
		case lab == "<s>" || lab == "</s>" || lab == "<sil>":
			lab = speech.SilLabel
		}
		out = append(out, speech.Segment{Label: lab, Word: -1, From: s.From, To: s.To + 1, Score: s.Ascr})
	}
	// Walk the words in order, matching the pronunciation that spells the
	// next phones (longest first, so a prefix pronunciation does not win
	// wrongly); the grammar guarantees one of them does, unless the
	// search stopped early.
	k := 0
	for wi, w := range words {
		best := -1
		for _, p := range w.Prons {
			if k+len(p) > len(phones) || len(p) <= best {
				continue
			}
			ok := true
			for j, ph := range p {
				if out[phones[k+j]].Label != ph {
					ok = false
					break
				}
			}
			if ok {
				best = len(p)
			}
		}
		if best < 0 {
			break
		}
		for j := 0; j < best; j++ {
			out[phones[k+j]].Word = wi
		}
		k += best
	}
	return out
}

// readDict reads a CMU-format dictionary: "word(2) PH PH ...".
func readDict(path string) (map[string][]speech.Pron, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	lex := make(map[string][]speech.Pron, 140000)
	seen := map[string]bool{}
	var phones []string
	intern := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 || strings.HasPrefix(fs[0], ";;") {
			continue
		}
		w := fs[0]
		if i := strings.IndexByte(w, '('); i > 0 {
			w = w[:i]
		}
		p := make(speech.Pron, 0, len(fs)-1)
		for _, ph := range fs[1:] {
			if fs[1] == "#" {
				break
			}
			if ph == "#" {
				break
			}
			s, ok := intern[ph]
			if !ok {
				intern[ph] = ph
				s = ph
			}
			p = append(p, s)
			if !seen[ph] {
				seen[ph] = true
				phones = append(phones, ph)
			}
		}
		lex[w] = append(lex[w], p)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if len(lex) == 0 {
		return nil, nil, fmt.Errorf("sphinx: empty dictionary %s", path)
	}
	return lex, phones, nil
}

// spokenWords keeps the dictionary words of a decoding (not phones of the
// filler loop, silences, fillers or null transitions), each labelled without
// its pronunciation variant and marked with word; To is made exclusive.
func spokenWords(segs []seg, word int) []speech.Segment {
	var out []speech.Segment
	for _, s := range segs {
		if strings.HasPrefix(s.Word, "p_") || strings.HasPrefix(s.Word, "<") || strings.HasPrefix(s.Word, "[") || s.Word == "(NULL)" {
			continue
		}
		w := s.Word
		if i := strings.IndexByte(w, '('); i > 0 {
			w = w[:i]
		}
		out = append(out, speech.Segment{Label: w, Word: word, From: s.From, To: s.To + 1, Score: s.Ascr})
	}
	return out
}
