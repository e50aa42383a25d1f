package speech

import (
	"context"
	"errors"
	"math"
)

func (s *Scorer) scoreReadAloud(ctx context.Context, au Audio, lv level, req Request, res Result) (Result, error) {
	words := tokenize(req.ReferenceText, s.rec)
	if len(words) == 0 {
		return Result{}, errors.New("speech: the reference text has no words")
	}
	a, err := analyze(ctx, s.rec, au.PCM, words)
	if err != nil {
		return Result{}, err
	}
	scores, far := s.model.predict(a.Features)
	res.Words, res.Completeness = s.wordResults(ctx, au.PCM, a)
	// What was not said cannot earn marks: accuracy and total are capped
	// by the share of the text that was read.
	res.Accuracy = math.Min(scores["accuracy"], 10*res.Completeness)
	res.Fluency = scores["fluency"]
	res.Prosodic = scores["prosodic"]
	res.Total = math.Min(scores["total"], 10*res.Completeness)
	res.Timing = timing(a)
	guessed := 0
	for _, w := range words {
		if w.Guess {
			guessed++
		}
	}
	s.judge(&res, lv, a, far, float64(guessed)/float64(len(words)), len(a.Phones))
	if res.Has(FlagNoSpeech) {
		return s.noSpeech(res, "no speech: nothing in the recording sounds like speech"), nil
	}
	res.Points = res.Total / 10 * res.MaxPoints
	roundResult(&res)
	return res, nil
}

// wordResults scores each reference word and marks the omitted ones, and
// adds the speech heard between words as inserted (or repeated, when it
// aligns well to the word before it). It returns the words in time order
// and the completeness.
func (s *Scorer) wordResults(ctx context.Context, pcm []int16, a *analysis) ([]Word, float64) {
	out := make([]Word, 0, len(a.Words)+len(a.Inserted))
	said := 0
	for _, w := range a.Words {
		acc := s.model.wordAccuracy(w)
		wr := Word{Text: w.Text, Accuracy: round(acc, 1), Start: round(float64(w.From)/FrameRate, 2), End: round(float64(w.To)/FrameRate, 2)}
		switch {
		case !w.Reached || w.GOP < okWordGOP:
			// Not reached, or fitting so badly that what is there is not
			// this word.
			wr.Error, wr.Accuracy = ErrOmitted, 0
		case acc < 5:
			wr.Error = ErrMispronounced
			said++
		default:
			said++
		}
		out = append(out, wr)
	}
	for _, sp := range a.Inserted {
		wr := Word{Accuracy: 0, Start: round(float64(sp.From)/FrameRate, 2), End: round(float64(sp.To)/FrameRate, 2), Error: ErrInserted}
		// The word just before the insertion: is the insertion that word
		// again?
		prev := -1
		for i, w := range a.Words {
			if w.Reached && w.To <= sp.From {
				prev = i
			}
		}
		if prev >= 0 && sp.To*frameLen <= len(pcm) {
			w := a.Words[prev]
			from := max(0, sp.From-5) * frameLen
			to := min(len(pcm), (sp.To+5)*frameLen)
			prons := s.rec.Pronounce(w.Text)
			if len(prons) > 0 {
				if segs, err := s.rec.Align(ctx, pcm[from:to], []AlignWord{{Text: w.Text, Prons: prons}}); err == nil {
					var sc float64
					var n int
					for _, sg := range segs {
						if sg.Word == 0 {
							sc += sg.Score
							n += sg.Frames()
						}
					}
					if n > 0 && sc/float64(n) > okWordGOP {
						wr.Error, wr.Text = ErrRepeated, w.Text
					}
				}
			}
		}
		out = append(out, wr)
	}
	sortWords(out)
	return out, float64(said) / float64(len(a.Words))
}

func sortWords(ws []Word) {
	// Insertion sort by start: few words, mostly in order. Omitted words
	// (start 0) keep their place after the word before them.
	for i := 1; i < len(ws); i++ {
		if ws[i].Error == ErrOmitted {
			continue
		}
		for j := i; j > 0 && ws[j-1].Error != ErrOmitted && ws[j-1].Start > ws[j].Start; j-- {
			ws[j-1], ws[j] = ws[j], ws[j-1]
		}
	}
}

func timing(a *analysis) *Timing {
	f := a.Features
	t := &Timing{SpeechRate: round(f[fRate], 2), ArticulationRate: round(f[fArtic], 2), LongestPause: round(f[fPauseMax], 2)}
	for i := 1; i < len(a.Phones); i++ {
		if gap := a.Phones[i].From - a.Phones[i-1].To; gap >= pauseMin {
			t.Pauses++
			t.PauseSeconds += float64(gap) / FrameRate
		}
	}
	t.PauseSeconds = round(t.PauseSeconds, 2)
	return t
}

// judge sets the flags and the confidence of a scored answer.
func (s *Scorer) judge(res *Result, lv level, a *analysis, far bool, guessed float64, phones int) {
	if lv.SNR < 8 {
		// Steady sound without the rise and fall of speech: noise or hum.
		res.flag(FlagNoSpeech)
		res.flag(FlagTooNoisy)
		return
	}
	if lv.SNR < 20 {
		res.flag(FlagTooNoisy)
	}
	if res.Completeness < 0.5 {
		res.flag(FlagWrongText)
	}
	if res.Completeness == 0 && lv.Active < 0.5 {
		res.flag(FlagNoSpeech)
	}
	// Less than 40 ms of sound per phone of the text: far too little speech.
	if lv.Active < 0.04*float64(phones) {
		res.flag(FlagTooShort)
	}
	c := 1.0
	if far {
		c *= 0.5
	}
	c *= math.Max(0, math.Min(1, (lv.SNR-10)/15))
	c *= 1 - guessed
	if res.Completeness < 0.8 {
		c *= res.Completeness
	}
	if res.Has(FlagTooLong) || res.Has(FlagClipped) {
		c *= 0.7
	}
	res.Confidence = round(c, 2)
	if c < 0.5 {
		res.flag(FlagLowConfidence)
	}
}

func roundResult(r *Result) {
	r.Accuracy, r.Fluency, r.Prosodic, r.Total = round(r.Accuracy, 1), round(r.Fluency, 1), round(r.Prosodic, 1), round(r.Total, 1)
	r.Completeness = round(r.Completeness, 2)
	r.Points = round(r.Points, 2)
}
