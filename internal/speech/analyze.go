package speech

import (
	"context"
	"fmt"
	"math"
	"sort"
)

// phoneScore is one aligned phone.
type phoneScore struct {
	Phone    string
	Word     int
	From, To int
	GOP      float64 // log-likelihood per frame relative to the best state of each frame (≤ 0)
}

// wordScore is one reference word as aligned.
type wordScore struct {
	Text     string
	From, To int // frames; 0,0 when the alignment never reached it
	GOP      float64
	MinGOP   float64
	LogDur   float64 // mean log duration of its phones (frames)
	Phones   int
	Reached  bool
	Guess    bool
}

// span is a stretch of frames.
type span struct{ From, To int }

// analysis is what the recognizer made of one read-aloud answer.
type analysis struct {
	Level    level
	Words    []wordScore
	Phones   []phoneScore
	Inserted []span // speech heard between the words, outside any word
	Frames   int
	Features Features
}

// Features are the measurements the scoring model maps to the human scale.
// Their names (FeatureNames) are the columns of the model file.
type Features [NumFeatures]float64

// Feature indexes.
const (
	fGOPMean = iota
	fGOPFrame
	fGOPP10
	fGOPWordMin
	fGOPVowels
	fBadPhones
	fWordsOK
	fRate
	fArtic
	fPauses
	fPauseFrac
	fPauseMax
	fDurSD
	fShortPhones
	fLogWords
	fSNR
	fEnergySD
	fInserted
	NumFeatures
)

// FeatureNames names the features, in order.
var FeatureNames = [NumFeatures]string{
	"gop_mean", "gop_frame", "gop_p10", "gop_word_min", "gop_vowels", "bad_phones", "words_ok",
	"speech_rate", "articulation_rate", "pauses_per_word", "pause_share", "pause_max_s", "phone_dur_sd",
	"short_phones", "log_words", "snr_db", "energy_sd_db", "inserted_share",
}

// Thresholds of the GOP (nats per frame) used by features and word errors,
// set from the learners' word GOPs in the speechocean762 sample with the
// engine's settings (sphinx topN 1): a word below okWordGOP is rarer than
// one in thirty. They move with the acoustic model and its settings.
const (
	badPhoneGOP = -14 // a phone scoring below this is counted as mispronounced
	okWordGOP   = -12 // a word whose mean phone GOP is above this was said
	pauseMin    = 25  // frames of silence between words that count as a pause
)

// analyze aligns pcm to the words and measures it.
func analyze(ctx context.Context, rec Recognizer, pcm []int16, words []refWord) (*analysis, error) {
	a := &analysis{Level: measure(pcm), Frames: len(pcm) / frameLen}
	aw := make([]AlignWord, len(words))
	for i, w := range words {
		aw[i] = AlignWord{Text: w.Text, Prons: w.Prons}
	}
	segs, err := rec.Align(ctx, pcm, aw)
	if err != nil {
		return nil, fmt.Errorf("speech: align: %w", err)
	}
	// The recognizer's scores are relative to the best senone of each
	// frame, so a phone's score per frame is its goodness of
	// pronunciation against the best any phone could do there.
	for _, s := range segs {
		if s.Word < 0 || s.Frames() <= 0 {
			continue
		}
		a.Phones = append(a.Phones, phoneScore{Phone: s.Label, Word: s.Word, From: s.From, To: s.To,
			GOP: s.Score / float64(s.Frames())})
	}
	a.Words = make([]wordScore, len(words))
	for i, w := range words {
		a.Words[i] = wordScore{Text: w.Text, Guess: w.Guess, MinGOP: math.Inf(1)}
	}
	for _, p := range a.Phones {
		w := &a.Words[p.Word]
		if !w.Reached {
			w.From, w.Reached = p.From, true
		}
		w.To = p.To
		w.Phones++
		w.GOP += p.GOP
		w.MinGOP = math.Min(w.MinGOP, p.GOP)
		w.LogDur += math.Log(float64(p.To - p.From))
	}
	for i := range a.Words {
		w := &a.Words[i]
		if w.Phones > 0 {
			w.GOP /= float64(w.Phones)
			w.LogDur /= float64(w.Phones)
		} else {
			w.GOP, w.MinGOP = missingGOP, missingGOP
		}
	}
	a.Inserted = insertions(segs, a.Level)
	a.Features = a.features()
	return a, nil
}

// missingGOP stands for the GOP of a word the alignment never reached.
const missingGOP = -17

// insertions finds speech where the alignment put silence or noise: runs
// of at least 25 frames well above the noise floor.
func insertions(segs []Segment, lv level) []span {
	var out []span
	thr := lv.NoiseDB + math.Max(10, lv.SNR/2)
	for _, s := range segs {
		if s.Word >= 0 || s.Frames() < 25 {
			continue
		}
		run := 0
		for f := s.From; f <= s.To; f++ {
			if f < s.To && f < len(lv.Frames) && lv.Frames[f] > thr {
				run++
				continue
			}
			if run >= 25 {
				out = append(out, span{f - run, f})
			}
			run = 0
		}
	}
	return out
}

func (a *analysis) features() Features {
	var f Features
	n := len(a.Phones)
	f[fLogWords] = math.Log(float64(len(a.Words)))
	f[fSNR] = math.Min(a.Level.SNR, 60)
	// Missing words weigh as phones with missingGOP.
	missing := 0
	for _, w := range a.Words {
		if !w.Reached {
			missing++
		}
	}
	gops := make([]float64, 0, n+missing)
	var sumA, frames float64
	bad, short := 0, 0
	var vowel []float64
	var logd []float64
	for _, p := range a.Phones {
		gops = append(gops, p.GOP)
		sumA += p.GOP * float64(p.To-p.From)
		frames += float64(p.To - p.From)
		if p.GOP < badPhoneGOP {
			bad++
		}
		if isVowel(p.Phone) {
			vowel = append(vowel, p.GOP)
		}
		if p.To-p.From <= 3 {
			short++
		}
		logd = append(logd, math.Log(float64(p.To-p.From)))
	}
	for i := 0; i < missing; i++ {
		gops = append(gops, missingGOP)
		bad++
	}
	total := float64(len(gops))
	if total == 0 {
		for i := range f {
			if i != fLogWords && i != fSNR {
				f[i] = 0
			}
		}
		f[fGOPMean], f[fGOPFrame], f[fGOPP10], f[fGOPWordMin] = missingGOP, missingGOP, missingGOP, missingGOP
		f[fBadPhones] = 1
		return f
	}
	f[fGOPMean] = mean(gops)
	if frames > 0 {
		f[fGOPFrame] = (sumA + missingGOP*float64(missing)*8) / (frames + float64(missing)*8)
	} else {
		f[fGOPFrame] = missingGOP
	}
	f[fGOPP10] = quantile(gops, 0.1)
	f[fGOPWordMin] = math.Inf(1)
	ok := 0
	for _, w := range a.Words {
		f[fGOPWordMin] = math.Min(f[fGOPWordMin], w.GOP)
		if w.Reached && w.GOP > okWordGOP {
			ok++
		}
	}
	f[fGOPVowels] = missingGOP
	if len(vowel) > 0 {
		f[fGOPVowels] = mean(vowel)
	}
	f[fBadPhones] = float64(bad) / total
	f[fWordsOK] = float64(ok) / float64(len(a.Words))
	f[fShortPhones] = float64(short) / total
	f[fDurSD] = stddev(logd)

	// Timing: the speaking span runs from the first aligned phone to the
	// last; pauses are silences between words inside it.
	if n > 0 {
		first, last := a.Phones[0].From, a.Phones[n-1].To
		spanS := float64(last-first) / FrameRate
		f[fRate] = float64(n) / math.Max(spanS, 0.1)
		f[fArtic] = float64(n) / math.Max(frames/FrameRate, 0.1)
		pauses, pauseFrames, pauseMax := 0, 0, 0
		for i := 1; i < n; i++ {
			gap := a.Phones[i].From - a.Phones[i-1].To
			if gap >= pauseMin {
				pauses++
				pauseFrames += gap
				pauseMax = max(pauseMax, gap)
			}
		}
		f[fPauses] = float64(pauses) / float64(len(a.Words))
		f[fPauseFrac] = float64(pauseFrames) / math.Max(float64(last-first), 1)
		f[fPauseMax] = float64(pauseMax) / FrameRate
		var es []float64
		for fr := first; fr < last && fr < len(a.Level.Frames); fr++ {
			es = append(es, a.Level.Frames[fr])
		}
		f[fEnergySD] = stddev(es)
		ins := 0
		for _, s := range a.Inserted {
			ins += s.To - s.From
		}
		f[fInserted] = float64(ins) / math.Max(float64(last-first), 1)
	}
	return f
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func stddev(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m := mean(xs)
	var s float64
	for _, x := range xs {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(xs)-1))
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[int(q*float64(len(s)-1))]
}

func isVowel(p string) bool {
	switch p {
	case "AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW":
		return true
	}
	return false
}
