package speech

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Model maps features to the human scale. It is fitted by Fit (the
// command `jnedu speech fit`) and kept as a versioned JSON file; the one
// compiled in is model/readaloud.json.
type Model struct {
	// Version names the model; results record it.
	Version  string   `json:"version"`
	Engine   string   `json:"engine"` // recognizer model the features came from
	Features []string `json:"features"`
	standardizer
	// Min and Max are the features' ranges in the training data; an answer
	// far outside them is scored with low confidence.
	Min []float64 `json:"min"`
	Max []float64 `json:"max"`
	// Targets maps each measure to its linear model over the standardised
	// features.
	Targets map[string]Linear `json:"targets"`
	// Word maps a word's features (wordFeatureNames) to its accuracy.
	Word     Linear       `json:"word"`
	WordNorm standardizer `json:"word_norm"`
	// Fitted describes the data and the cross-validation at fitting time.
	Fitted FitInfo `json:"fitted"`
}

// FitInfo records how a model was fitted.
type FitInfo struct {
	Data    string             `json:"data"`
	N       int                `json:"n"`
	Words   int                `json:"words"`
	At      string             `json:"at"`
	CV      map[string]float64 `json:"cv_pcc"` // 5-fold by speaker
	WordCV  float64            `json:"word_cv_pcc"`
	Folds   int                `json:"folds"`
	Speaker string             `json:"speaker_rule"`
}

//go:embed model/readaloud.json
var defaultModel []byte

// DefaultModel returns the model compiled into the program.
func DefaultModel() (*Model, error) {
	return ReadModel(bytes.NewReader(defaultModel))
}

// ReadModel reads a model file and checks that it fits this program's
// features.
func ReadModel(r io.Reader) (*Model, error) {
	var m Model
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("speech: model file: %w", err)
	}
	if len(m.Features) != NumFeatures {
		return nil, fmt.Errorf("speech: model %q has %d features, this program measures %d", m.Version, len(m.Features), NumFeatures)
	}
	for i, n := range m.Features {
		if n != FeatureNames[i] {
			return nil, fmt.Errorf("speech: model %q feature %d is %q, want %q", m.Version, i, n, FeatureNames[i])
		}
	}
	if len(m.Mean) != NumFeatures || len(m.Scale) != NumFeatures || len(m.Min) != NumFeatures || len(m.Max) != NumFeatures {
		return nil, fmt.Errorf("speech: model %q: feature statistics incomplete", m.Version)
	}
	for _, meas := range Measures {
		t, ok := m.Targets[meas]
		if !ok || len(t.Coef) != NumFeatures {
			return nil, fmt.Errorf("speech: model %q lacks the %s target", m.Version, meas)
		}
	}
	if len(m.Word.Coef) != numWordFeatures || len(m.WordNorm.Mean) != numWordFeatures {
		return nil, fmt.Errorf("speech: model %q lacks the word model", m.Version)
	}
	return &m, nil
}

// predict maps features to the measures; far reports whether some
// feature lies well outside the training range.
func (m *Model) predict(f Features) (scores map[string]float64, far bool) {
	z := m.standardizer.apply(f[:])
	scores = map[string]float64{}
	for _, meas := range Measures {
		scores[meas] = clampScore(meas, m.Targets[meas].apply(z))
	}
	for i, v := range f {
		w := m.Max[i] - m.Min[i]
		if v < m.Min[i]-0.25*w || v > m.Max[i]+0.25*w || math.IsNaN(v) {
			far = true
		}
	}
	return scores, far
}

// Word features: a word's mean and lowest phone GOP, its phone-loop
// mean log duration, and its length in phones.
const numWordFeatures = 4

var wordFeatureNames = [numWordFeatures]string{"gop", "gop_min", "log_phone_frames", "log_phones"}

func wordFeatures(w wordScore) []float64 {
	if !w.Reached {
		return []float64{missingGOP, missingGOP, 0, 0}
	}
	return []float64{w.GOP, w.MinGOP, w.LogDur, math.Log(float64(max(w.Phones, 1)))}
}

func (m *Model) wordAccuracy(w wordScore) float64 {
	return clampScore("accuracy", m.Word.apply(m.WordNorm.apply(wordFeatures(w))))
}

// FitSet is the data Fit learns from.
type FitSet struct {
	Items    []Item
	Measured []Measured
	// Words are per-word features and human word accuracies (optional).
	WordX [][]float64
	WordY []float64
	WordS []string // speaker of each word
	Data  string   // description recorded in the model
}

// Fit fits a model on measured items (failed items are left out) and
// cross-validates it, 5-fold by speaker. The report's predictions are the
// held-out ones.
func Fit(set FitSet, version, engine string) (*Model, CVReport, error) {
	var d fitData
	d.Y = map[string][]float64{}
	for i, it := range set.Items {
		if set.Measured[i].Err != nil {
			continue
		}
		f := set.Measured[i].Features
		d.X = append(d.X, append([]float64(nil), f[:]...))
		d.Speakers = append(d.Speakers, it.Speaker)
		for _, meas := range Measures {
			d.Y[meas] = append(d.Y[meas], it.Human[meas])
		}
	}
	if len(d.X) < 20 {
		return nil, CVReport{}, fmt.Errorf("speech: %d measured items are too few to fit", len(d.X))
	}
	const k = 5
	rep, err := crossValidate(d, k)
	if err != nil {
		return nil, CVReport{}, err
	}
	m := &Model{Version: version, Engine: engine, Features: FeatureNames[:], Targets: map[string]Linear{}}
	m.standardizer = newStandardizer(d.X)
	m.Min, m.Max = make([]float64, NumFeatures), make([]float64, NumFeatures)
	for j := 0; j < NumFeatures; j++ {
		m.Min[j], m.Max[j] = math.Inf(1), math.Inf(-1)
		for _, r := range d.X {
			m.Min[j], m.Max[j] = math.Min(m.Min[j], r[j]), math.Max(m.Max[j], r[j])
		}
	}
	z := make([][]float64, len(d.X))
	for i := range d.X {
		z[i] = m.standardizer.apply(d.X[i])
	}
	for _, meas := range Measures {
		lin, err := fitRidgeCV(z, d.Y[meas], d.Speakers, k)
		if err != nil {
			return nil, CVReport{}, err
		}
		m.Targets[meas] = lin
	}
	m.Fitted = FitInfo{Data: set.Data, N: len(d.X), At: time.Now().UTC().Format(time.DateOnly), CV: rep.PCC, Folds: k,
		Speaker: "5-fold cross-validation by speaker; lambda chosen inside the training folds"}
	if len(set.WordX) < 20 {
		return nil, CVReport{}, errors.New("speech: too few scored words to fit the word model")
	}
	m.WordNorm = newStandardizer(set.WordX)
	wz := make([][]float64, len(set.WordX))
	for i := range set.WordX {
		wz[i] = m.WordNorm.apply(set.WordX[i])
	}
	if m.Word, err = fitRidgeCV(wz, set.WordY, set.WordS, k); err != nil {
		return nil, CVReport{}, err
	}
	wrep, err := crossValidate(fitData{X: set.WordX, Y: map[string][]float64{"accuracy": set.WordY}, Speakers: set.WordS}, k)
	if err != nil {
		return nil, CVReport{}, err
	}
	m.Fitted.Words = len(set.WordX)
	m.Fitted.WordCV = wrep.PCC["accuracy"]
	return m, rep, nil
}
