package speech

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestRidgeRecoversCoefficients(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	want := []float64{2, -1, 0.5}
	var x [][]float64
	var y []float64
	for i := 0; i < 400; i++ {
		r := []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		x = append(x, r)
		y = append(y, 3+want[0]*r[0]+want[1]*r[1]+want[2]*r[2]+0.1*rng.NormFloat64())
	}
	m, err := ridge(x, y, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.Intercept-3) > 0.05 {
		t.Errorf("intercept %.3f, want 3", m.Intercept)
	}
	for i, w := range want {
		if math.Abs(m.Coef[i]-w) > 0.05 {
			t.Errorf("coef %d = %.3f, want %.3f", i, m.Coef[i], w)
		}
	}
	// A large penalty shrinks the coefficients.
	s, _ := ridge(x, y, 1e5)
	if math.Abs(s.Coef[0]) > 0.1*math.Abs(m.Coef[0]) {
		t.Errorf("penalised coef %.3f, want near 0", s.Coef[0])
	}
}

func TestSpeakerFoldsKeepSpeakersTogether(t *testing.T) {
	var spk []string
	for i := 0; i < 100; i++ {
		spk = append(spk, string(rune('a'+i%23)))
	}
	folds := speakerFolds(spk, 5)
	at := map[string]int{}
	size := make([]int, 5)
	for i, s := range spk {
		if f, ok := at[s]; ok && f != folds[i] {
			t.Fatalf("speaker %s in folds %d and %d", s, f, folds[i])
		}
		at[s] = folds[i]
		size[folds[i]]++
	}
	for f, n := range size {
		if n < 12 || n > 28 {
			t.Errorf("fold %d has %d items of 100", f, n)
		}
	}
}

func TestCrossValidationHoldsOutSpeakers(t *testing.T) {
	// Each speaker has its own offset that the features cannot see: a
	// model tested on seen speakers would still look fine, one tested on
	// unseen speakers may not do better than the shared signal.
	rng := rand.New(rand.NewPCG(7, 8))
	var d fitData
	d.Y = map[string][]float64{}
	for s := 0; s < 30; s++ {
		for k := 0; k < 6; k++ {
			x := rng.NormFloat64()
			d.X = append(d.X, []float64{x})
			d.Speakers = append(d.Speakers, string(rune('A'+s)))
			for _, m := range Measures {
				d.Y[m] = append(d.Y[m], 5+x+0.3*rng.NormFloat64())
			}
		}
	}
	rep, err := crossValidate(d, 5)
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.PCC["accuracy"]; r < 0.8 {
		t.Errorf("PCC %.3f on a clean linear signal, want ≥ 0.8", r)
	}
	if len(rep.Pred["accuracy"]) != len(d.X) {
		t.Errorf("%d predictions for %d items", len(rep.Pred["accuracy"]), len(d.X))
	}
}

type lexicon map[string][]Pron

func (l lexicon) Pronounce(w string) []Pron { return l[strings.ToLower(w)] }

func TestTokenize(t *testing.T) {
	rec := fakeRec{lex: lexicon{
		"mandy": {{"M", "AE", "N", "D", "IY"}}, "dog": {{"D", "AO", "G"}}, "twenty": {{"T", "W", "EH", "N", "T", "IY"}},
		"one": {{"W", "AH", "N"}}, "well": {{"W", "EH", "L"}}, "known": {{"N", "OW", "N"}},
	}}
	got := tokenize("Mandy's dogs, 21 well-known—Zork!", rec)
	want := []struct {
		text  string
		last  string
		guess bool
	}{{"Mandy's", "Z", false}, {"dogs", "Z", false}, {"twenty", "IY", false}, {"one", "N", false},
		{"well", "L", false}, {"known", "N", false}, {"Zork", "K", true}}
	if len(got) != len(want) {
		t.Fatalf("tokens %+v, want %d", got, len(want))
	}
	for i, w := range want {
		p := got[i].Prons[0]
		if got[i].Text != w.text || p[len(p)-1] != w.last || got[i].Guess != w.guess {
			t.Errorf("token %d = %q %v guess=%v, want %q ending %s guess=%v", i, got[i].Text, p, got[i].Guess, w.text, w.last, w.guess)
		}
	}
}
