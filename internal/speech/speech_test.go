package speech_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"jnedu/internal/speech"
)

const (
	refText   = "The quick brown fox jumps over the lazy dog near the river bank"
	otherText = "My grandmother bakes delicious apple pies every Sunday afternoon"
)

func TestReadAloudRightTextBeatsWrongText(t *testing.T) {
	t.Parallel()
	req := speech.Request{Kind: speech.ReadAloud, ReferenceText: refText}
	right := score(t, say(t, "en-us", refText), req)
	wrong := score(t, say(t, "en-us", otherText), req)
	t.Logf("right: total %.1f acc %.1f flu %.1f compl %.2f flags %v", right.Total, right.Accuracy, right.Fluency, right.Completeness, right.Flags)
	t.Logf("wrong: total %.1f acc %.1f flu %.1f compl %.2f flags %v", wrong.Total, wrong.Accuracy, wrong.Fluency, wrong.Completeness, wrong.Flags)
	if right.Total < wrong.Total+3 {
		t.Errorf("total: reference read %.1f, other sentence %.1f; want at least 3 points apart", right.Total, wrong.Total)
	}
	if right.Accuracy <= wrong.Accuracy {
		t.Errorf("accuracy: reference read %.1f, other sentence %.1f", right.Accuracy, wrong.Accuracy)
	}
	if right.Completeness < 0.8 {
		t.Errorf("completeness of the reference read = %.2f, want ≥ 0.8", right.Completeness)
	}
	if wrong.Completeness >= 0.5 {
		t.Errorf("completeness of another sentence = %.2f, want < 0.5", wrong.Completeness)
	}
	if !wrong.Has(speech.FlagWrongText) {
		t.Errorf("another sentence: flags %v, want wrong_text", wrong.Flags)
	}
	for _, f := range []speech.Flag{speech.FlagWrongText, speech.FlagNoSpeech, speech.FlagTooShort} {
		if right.Has(f) {
			t.Errorf("reference read flagged %s (%v)", f, right.Flags)
		}
	}
	if got := len(right.Words); got < 13 {
		t.Fatalf("reference read: %d words, want the 13 of the text", got)
	}
	var prevEnd float64
	for _, w := range right.Words {
		if w.Error == speech.ErrOmitted {
			continue
		}
		if w.End <= w.Start || w.Start < prevEnd-0.001 {
			t.Errorf("word %q: %.2f–%.2f after a word ending %.2f", w.Text, w.Start, w.End, prevEnd)
		}
		prevEnd = w.End
	}
	if right.Engine.Name == "" || right.Engine.ScoringModel == "" {
		t.Errorf("engine = %+v, want names", right.Engine)
	}
	if right.Timing == nil || right.Timing.SpeechRate <= 0 {
		t.Errorf("timing = %+v", right.Timing)
	}
}

func TestOmittedWords(t *testing.T) {
	t.Parallel()
	// Reading only the first half of the text.
	req := speech.Request{Kind: speech.ReadAloud, ReferenceText: refText}
	half := score(t, say(t, "en-us", "The quick brown fox jumps over"), req)
	full := score(t, say(t, "en-us", refText), req)
	omitted := 0
	for _, w := range half.Words {
		if w.Error == speech.ErrOmitted {
			omitted++
		}
	}
	if omitted < 3 {
		t.Errorf("half read: %d words omitted (%+v), want at least 3", omitted, half.Words)
	}
	if half.Completeness >= full.Completeness || half.Total >= full.Total {
		t.Errorf("half read: completeness %.2f total %.1f; full read %.2f %.1f", half.Completeness, half.Total, full.Completeness, full.Total)
	}
}

func TestNoSpeech(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]int16, 3*16000)
	for i := range noise {
		noise[i] = int16(rng.NormFloat64() * 3000)
	}
	hum := make([]int16, 3*16000)
	for i := range hum {
		hum[i] = int16(2000 * (float64(i%320)/160 - 1)) // 50 Hz sawtooth
	}
	for _, tt := range []struct {
		name string
		pcm  []int16
	}{
		{"silence", make([]int16, 3*16000)},
		{"faint hiss", func() []int16 {
			p := make([]int16, 3*16000)
			for i := range p {
				p[i] = int16(rng.NormFloat64() * 3)
			}
			return p
		}()},
		{"white noise", noise},
		{"hum", hum},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := score(t, wav(tt.pcm), speech.Request{Kind: speech.ReadAloud, ReferenceText: refText})
			if !r.Has(speech.FlagNoSpeech) {
				t.Errorf("flags %v, want no_speech", r.Flags)
			}
			if r.Total != 0 || r.Points != 0 {
				t.Errorf("total %.1f points %.1f, want 0", r.Total, r.Points)
			}
			if r.Note == "" {
				t.Error("no note explains the result")
			}
		})
	}
}

func TestBadFiles(t *testing.T) {
	t.Parallel()
	good := say(t, "en-us", refText)
	flac := convert(t, good, "flac")
	req := speech.Request{Kind: speech.ReadAloud, ReferenceText: refText}
	full := score(t, flac, req)

	t.Run("empty", func(t *testing.T) {
		r := score(t, nil, req)
		if !r.Has(speech.FlagNoSpeech) || r.Note == "" {
			t.Errorf("flags %v note %q, want no_speech and a note", r.Flags, r.Note)
		}
	})
	t.Run("not audio", func(t *testing.T) {
		r := score(t, []byte("this is a text file, not a recording\n"), req)
		if !r.Has(speech.FlagUndecodable) || r.Note == "" {
			t.Errorf("flags %v note %q, want undecodable and a note", r.Flags, r.Note)
		}
	})
	t.Run("header only", func(t *testing.T) {
		r := score(t, flac[:60], req)
		if !r.Has(speech.FlagUndecodable) && !r.Has(speech.FlagNoSpeech) {
			t.Errorf("flags %v, want undecodable or no_speech", r.Flags)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		for _, b := range [][]byte{flac[:len(flac)*45/100], good[:len(good)*45/100]} {
			r := score(t, b, req)
			if r.DurationS <= 0.5 || r.DurationS >= full.DurationS {
				t.Errorf("duration %.2f s, want part of the full %.2f s", r.DurationS, full.DurationS)
			}
			if r.Completeness >= full.Completeness {
				t.Errorf("completeness %.2f, want below the full file's %.2f", r.Completeness, full.Completeness)
			}
			var omitted int
			for _, w := range r.Words {
				if w.Error == speech.ErrOmitted {
					omitted++
				}
			}
			if omitted == 0 {
				t.Errorf("no word omitted in a recording cut short: %+v", r.Words)
			}
		}
	})
	t.Run("ten minutes for a five-second item", func(t *testing.T) {
		pcm := pcmOf(t, good)
		var long []int16
		for len(long) < 10*60*16000 {
			long = append(long, pcm...)
			long = append(long, make([]int16, 8000)...)
		}
		r := score(t, wav(long), speech.Request{Kind: speech.ReadAloud, ReferenceText: refText, ExpectedSeconds: 5})
		if !r.Has(speech.FlagTooLong) {
			t.Errorf("flags %v, want too_long", r.Flags)
		}
		if r.DurationS > 26 {
			t.Errorf("scored %.1f s, want at most 3×5+10", r.DurationS)
		}
	})
}

func TestFormats(t *testing.T) {
	t.Parallel()
	good := say(t, "en-us", refText)
	req := speech.Request{Kind: speech.ReadAloud, ReferenceText: refText}
	base := score(t, good, req)
	for _, tt := range []struct {
		ext  string
		args []string
	}{
		{"flac", []string{"-ar", "44100", "-ac", "2"}},
		{"mp3", []string{"-ar", "22050"}},
		{"webm", []string{"-c:a", "libopus", "-b:a", "32k"}},
		{"wav", []string{"-ar", "8000"}},
	} {
		t.Run(tt.ext, func(t *testing.T) {
			r := score(t, convert(t, good, tt.ext, tt.args...), req)
			if d := r.DurationS - base.DurationS; d < -0.1 || d > 0.2 {
				t.Errorf("duration %.2f s, the WAV's %.2f s", r.DurationS, base.DurationS)
			}
			if d := r.Total - base.Total; d < -2 || d > 2 || r.Has(speech.FlagWrongText) {
				t.Errorf("total %.1f (flags %v), the WAV's %.1f", r.Total, r.Flags, base.Total)
			}
		})
	}
}

func TestOpenAnswerKeyPoints(t *testing.T) {
	t.Parallel()
	req := speech.Request{
		Kind:             speech.Open,
		ReferenceAnswers: []string{"I went to the park with my sister on Sunday"},
		KeyPoints: []speech.KeyPoint{
			{Text: "park", Variants: []string{"the park"}, Points: 1},
			{Text: "my sister", Variants: []string{"sister"}, Points: 1},
			{Text: "Sunday", Variants: []string{"on Sunday"}, Points: 1},
		},
		MaxPoints: 3,
	}
	good := score(t, say(t, "en-us", "Last weekend I went to the park with my sister on Sunday"), req)
	off := score(t, say(t, "en-us", "The weather is cold and rainy today"), req)
	t.Logf("good: points %.1f key points %+v flags %v", good.Points, good.KeyPoints, good.Flags)
	t.Logf("off: points %.1f key points %+v flags %v", off.Points, off.KeyPoints, off.Flags)
	found := 0
	for _, k := range good.KeyPoints {
		if k.Found {
			found++
		}
	}
	if found < 2 {
		t.Errorf("answer with all key points: %d found, want at least 2", found)
	}
	if good.Points < off.Points+1.5 {
		t.Errorf("points: answer %.1f, off-topic %.1f; want 1.5 apart", good.Points, off.Points)
	}
	// One key point only: the others must not be found on the strength of
	// the reference answer alone.
	part := score(t, say(t, "en-us", "Yesterday I stayed at home and played chess with my sister"), req)
	t.Logf("part: points %.1f key points %+v", part.Points, part.KeyPoints)
	if part.KeyPoints[0].Found || part.KeyPoints[2].Found {
		t.Errorf("answer without the park and Sunday: key points %+v", part.KeyPoints)
	}
	if part.Points >= good.Points {
		t.Errorf("points: partial answer %.1f, full answer %.1f", part.Points, good.Points)
	}
	if good.Points > req.MaxPoints {
		t.Errorf("points %.1f above the full mark", good.Points)
	}
}

func TestPossibleCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := pcmOf(t, say(t, "en-us", refText))
	// The same recording, quieter, with a little noise and cut at the start.
	rng := rand.New(rand.NewPCG(3, 4))
	copied := make([]int16, 0, len(a))
	for _, s := range a[1600:] {
		copied = append(copied, int16(float64(s)*0.7+rng.NormFloat64()*30))
	}
	// Re-encoded through Opus.
	opus := pcmOf(t, convert(t, wav(a), "ogg", "-c:a", "libopus", "-b:a", "24k"))
	other := pcmOf(t, say(t, "en+f3", refText)) // same text, another voice
	otherText := pcmOf(t, say(t, "en-us", otherText))
	fa := speech.Fingerprint(a)
	for _, tt := range []struct {
		name string
		pcm  []int16
		copy bool
	}{
		{"same recording, quieter, noisy, cut", copied, true},
		{"same recording through opus", opus, true},
		{"same text, another voice", other, false},
		{"another text", otherText, false},
	} {
		s := speech.Similarity(fa, speech.Fingerprint(tt.pcm))
		t.Logf("%s: similarity %.2f", tt.name, s)
		if (s >= speech.CopyThreshold) != tt.copy {
			t.Errorf("%s: similarity %.2f, copy threshold %.2f, want copy=%v", tt.name, s, speech.CopyThreshold, tt.copy)
		}
	}
	sc := scorer(t)
	req := speech.Request{Kind: speech.ReadAloud, ReferenceText: refText}
	var rs []speech.Result
	for _, p := range [][]int16{a, other, copied} {
		r, err := sc.ScorePCM(ctx, p, req)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	pairs := speech.FlagCopies(rs)
	if !slices.Equal(pairs, [][2]int{{0, 2}}) {
		t.Errorf("copies %v, want [[0 2]]", pairs)
	}
	if !rs[0].Has(speech.FlagPossibleCopy) || rs[1].Has(speech.FlagPossibleCopy) || !rs[2].Has(speech.FlagPossibleCopy) {
		t.Errorf("flags %v / %v / %v", rs[0].Flags, rs[1].Flags, rs[2].Flags)
	}
}

func TestRequestValidation(t *testing.T) {
	t.Parallel()
	for _, r := range []speech.Request{
		{Kind: "sing", ReferenceText: "x"},
		{Kind: speech.ReadAloud},
		{Kind: speech.ReadAloud, ReferenceText: "   "},
		{Kind: speech.Open},
		{Kind: speech.Open, KeyPoints: []speech.KeyPoint{{Text: "", Points: 1}}},
		{Kind: speech.Open, KeyPoints: []speech.KeyPoint{{Text: "park", Points: -1}}},
		{Kind: speech.ReadAloud, ReferenceText: "hello", MaxPoints: -2},
		{Kind: speech.ReadAloud, ReferenceText: "hello", ExpectedSeconds: 9999},
	} {
		if err := r.Validate(); err == nil {
			t.Errorf("%+v: valid, want an error", r)
		}
	}
	if err := (speech.Request{Kind: speech.ReadAloud, ReferenceText: "Hello, world."}).Validate(); err != nil {
		t.Errorf("plain request: %v", err)
	}
}
