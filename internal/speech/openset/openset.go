// Package openset is a regenerable test set for the key points of open
// answers (听后回答, 情景问答, 信息转述, 话题简述): items with reference
// answers and three to five key points, and answers spoken by espeak-ng in
// several voices and speeds — full answers, partial answers (every subset
// of the key points, each said inside other words), paraphrases, off-topic
// answers, the question read back, silence and noise — each with the key
// points it contains. bench/speech (-open) measures recall and precision
// on the whole set; the speech package's tests use a fixed part of it.
package openset

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"jnedu/internal/speech"
)

//go:embed items.json
var itemsJSON []byte

// KeyPoint is a key point with a clause that says it in other words, used
// to compose partial answers.
type KeyPoint struct {
	Text     string   `json:"text"`
	Variants []string `json:"variants"`
	Points   float64  `json:"points"`
	Clause   string   `json:"clause"`
}

// Item is one open item.
type Item struct {
	ID               string     `json:"id"`
	Task             string     `json:"task"`
	Question         string     `json:"question"`
	ReferenceAnswers []string   `json:"reference_answers"`
	KeyPoints        []KeyPoint `json:"key_points"`
	Fillers          []string   `json:"fillers"` // sentences with none of the key points
	Paraphrase       string     `json:"paraphrase"`
	OffTopic         string     `json:"off_topic"`
}

// Items returns the items of the set.
func Items() []Item {
	var items []Item
	if err := json.Unmarshal(itemsJSON, &items); err != nil {
		panic(err)
	}
	return items
}

// Request is the scoring request of an item: one point per key point.
func (it Item) Request() speech.Request {
	r := speech.Request{Kind: speech.Open, ReferenceAnswers: it.ReferenceAnswers}
	for _, k := range it.KeyPoints {
		r.KeyPoints = append(r.KeyPoints, speech.KeyPoint{Text: k.Text, Variants: k.Variants, Points: k.Points})
		r.MaxPoints += k.Points
	}
	return r
}

// Kinds of answers.
const (
	Full       = "full"       // the reference answer
	Own        = "own"        // every key point, each in a clause of other words
	Paraphrase = "paraphrase" // every key point, by its variants
	Partial    = "partial"    // a proper subset of the key points in clauses
	OffTopic   = "off_topic"  // none of the key points
	Question   = "question"   // the question read back
	Silence    = "silence"
	Noise      = "noise"
)

// Voice is an espeak-ng voice and speed (words per minute).
type Voice struct {
	Name  string
	Speed int
}

func (v Voice) String() string { return fmt.Sprintf("%s/%d", v.Name, v.Speed) }

// Voices are the speakers, taken in turn.
var Voices = []Voice{
	{"en-us", 150}, {"en-gb", 130}, {"en-us+m3", 170}, {"en-gb+f3", 150}, {"en-gb-x-rp+f2", 140}, {"en-us+f4", 160},
}

// Answer is one spoken answer with what it should earn.
type Answer struct {
	Item   int // index in Items
	Kind   string
	Text   string
	Voice  Voice
	Expect []bool // per key point: said in the answer
}

// Name identifies the answer in reports.
func (a Answer) Name(items []Item) string {
	var s []string
	for i, e := range a.Expect {
		if e {
			s = append(s, fmt.Sprint(i+1))
		}
	}
	return fmt.Sprintf("%s/%s[%s] %s", items[a.Item].ID, a.Kind, strings.Join(s, ","), a.Voice)
}

// Expected is the points the answer should earn.
func (a Answer) Expected(items []Item) float64 {
	var p float64
	for i, e := range a.Expect {
		if e {
			p += items[a.Item].KeyPoints[i].Points
		}
	}
	return p
}

// Answers builds the set: per item the full, own-words and paraphrased
// answers in three voices each, every proper subset of the key points,
// the off-topic answer and the question read back in two voices, silence
// and noise once. Voices and speeds rotate through Voices.
func Answers(items []Item) []Answer {
	var out []Answer
	v := 0
	next := func() Voice { v++; return Voices[(v-1)%len(Voices)] }
	for ii, it := range items {
		n := len(it.KeyPoints)
		all := make([]bool, n)
		for i := range all {
			all[i] = true
		}
		none := make([]bool, n)
		for range 3 {
			out = append(out, Answer{ii, Full, it.ReferenceAnswers[0], next(), all})
			out = append(out, Answer{ii, Own, compose(it, all), next(), all})
			out = append(out, Answer{ii, Paraphrase, it.Paraphrase, next(), all})
		}
		for mask := 1; mask < 1<<n-1; mask++ {
			exp := make([]bool, n)
			for i := range exp {
				exp[i] = mask&(1<<i) != 0
			}
			out = append(out, Answer{ii, Partial, compose(it, exp), next(), exp})
		}
		for range 2 {
			out = append(out, Answer{ii, OffTopic, it.OffTopic, next(), none})
			out = append(out, Answer{ii, Question, it.Question, next(), none})
		}
		out = append(out, Answer{ii, Silence, "", Voice{}, none}, Answer{ii, Noise, "", Voice{}, none})
	}
	return out
}

// compose says the chosen key points' clauses between the fillers.
func compose(it Item, exp []bool) string {
	parts := []string{it.Fillers[0]}
	for i, e := range exp {
		if e {
			parts = append(parts, it.KeyPoints[i].Clause+".")
		}
	}
	parts = append(parts, it.Fillers[len(it.Fillers)-1])
	return strings.Join(parts, " ")
}

// Audio returns the answer as a 16 kHz mono WAV, synthesized by espeak-ng
// and sox (cached in dir when dir is not empty).
func Audio(ctx context.Context, dir string, a Answer) ([]byte, error) {
	switch a.Kind {
	case Silence:
		return WAV(make([]int16, 4*speech.SampleRate)), nil
	case Noise:
		// Room noise with a hum, at a level a microphone picks up.
		r := rand.New(rand.NewPCG(uint64(a.Item), 7))
		pcm := make([]int16, 4*speech.SampleRate)
		for i := range pcm {
			pcm[i] = int16(r.NormFloat64()*1200 + 900*float64(i%320)/320)
		}
		return WAV(pcm), nil
	}
	sum := sha256.Sum256([]byte(a.Voice.String() + "\x00" + a.Text))
	key := hex.EncodeToString(sum[:8]) + ".wav"
	if dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, key)); err == nil {
			return b, nil
		}
	}
	tmp, err := os.MkdirTemp("", "openset")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	raw, out := filepath.Join(tmp, "raw.wav"), filepath.Join(tmp, "16k.wav")
	for _, c := range [][]string{
		{"espeak-ng", "-v", a.Voice.Name, "-s", fmt.Sprint(a.Voice.Speed), "-w", raw, a.Text},
		{"sox", raw, "-r", "16000", "-c", "1", "-b", "16", out},
	} {
		if b, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s: %v: %s", c[0], err, b)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err == nil {
			os.WriteFile(filepath.Join(dir, key), b, 0o644) //nolint:errcheck // a cache
		}
	}
	return b, nil
}

// WAV encodes 16 kHz mono samples.
func WAV(pcm []int16) []byte {
	var b bytes.Buffer
	n := uint32(2 * len(pcm))
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, 36+n) //nolint:errcheck
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(speech.SampleRate), uint32(2 * speech.SampleRate), uint16(2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v) //nolint:errcheck
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, n)   //nolint:errcheck
	binary.Write(&b, binary.LittleEndian, pcm) //nolint:errcheck
	return b.Bytes()
}

// Tally counts key-point decisions and points over answers.
type Tally struct {
	Answers          int
	TP, FP, FN       int
	Points, Expected float64
	AbsErr           float64
	Exact            int // answers whose found key points are exactly the expected ones
}

// Add counts one scored answer.
func (t *Tally) Add(a Answer, items []Item, r speech.Result) {
	t.Answers++
	exact := true
	for i, e := range a.Expect {
		f := i < len(r.KeyPoints) && r.KeyPoints[i].Found
		switch {
		case f && e:
			t.TP++
		case f && !e:
			t.FP++
			exact = false
		case !f && e:
			t.FN++
			exact = false
		}
	}
	if exact {
		t.Exact++
	}
	exp := a.Expected(items)
	t.Points += r.Points
	t.Expected += exp
	d := r.Points - exp
	if d < 0 {
		d = -d
	}
	t.AbsErr += d
}

// Recall is the share of the key points said that were found.
func (t Tally) Recall() float64 { return ratio(t.TP, t.TP+t.FN) }

// Precision is the share of the key points found that were said.
func (t Tally) Precision() float64 { return ratio(t.TP, t.TP+t.FP) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}
