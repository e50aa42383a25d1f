package speech

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
)

// MeasureCache measures items, reusing the features cached in path (a
// JSON file keyed by item ID and text) when the engine is the same. An
// empty path measures everything.
func (s *Scorer) MeasureCache(ctx context.Context, items []Item, workers int, path string) []Measured {
	type entry struct {
		Text     string      `json:"text"`
		Features Features    `json:"features"`
		Words    [][]float64 `json:"words"`
	}
	type cache struct {
		Engine string           `json:"engine"`
		Items  map[string]entry `json:"items"`
	}
	c := cache{Engine: s.rec.Info().Model + "/" + featureSetVersion, Items: map[string]entry{}}
	if path != "" {
		if b, err := os.ReadFile(path); err == nil {
			var old cache
			if json.Unmarshal(b, &old) == nil && old.Engine == c.Engine {
				c = old
			}
		}
	}
	out := make([]Measured, len(items))
	var todo []Item
	var idx []int
	for i, it := range items {
		if e, ok := c.Items[it.ID]; ok && e.Text == it.Text {
			out[i] = Measured{Features: e.Features, Words: e.Words}
			continue
		}
		todo = append(todo, it)
		idx = append(idx, i)
	}
	got := s.MeasureAll(ctx, todo, workers)
	for j, m := range got {
		out[idx[j]] = m
		if m.Err == nil {
			c.Items[todo[j].ID] = entry{Text: todo[j].Text, Features: m.Features, Words: m.Words}
		}
	}
	if path != "" && len(todo) > 0 {
		if b, err := json.Marshal(c); err == nil {
			os.WriteFile(path, b, 0o644) //nolint:errcheck // a cache
		}
	}
	return out
}

// featureSetVersion changes whenever the features' definitions change, so
// caches of old features are not reused.
const featureSetVersion = "f5"

// FitSetOf gathers the fitting data of measured items: utterance features
// and, where the item's human word scores line up with its words, the word
// features.
func FitSetOf(name string, items []Item, ms []Measured) FitSet {
	set := FitSet{Items: items, Measured: ms, Data: name}
	for i, it := range items {
		m := ms[i]
		if m.Err != nil || len(it.HumanWords) == 0 || len(it.HumanWords) != len(m.Words) {
			continue
		}
		for j, wf := range m.Words {
			set.WordX = append(set.WordX, wf)
			set.WordY = append(set.WordY, it.HumanWords[j])
			set.WordS = append(set.WordS, it.Speaker)
		}
	}
	return set
}

// Evaluation compares machine and human scores on a data set.
type Evaluation struct {
	N, Speakers, Words int
	Model              string
	// CV holds the correlations of held-out predictions (5-fold by speaker,
	// the model refitted on the rest each time).
	CV     map[string]float64
	WordCV float64
	// Fixed holds the correlations of the scorer's own model.
	Fixed     map[string]float64
	WordFixed float64
	// SameData is set when the scorer's model was fitted on this data set
	// (Fixed is then optimistic).
	SameData bool
}

// Evaluate correlates predictions with the human medians of measured items.
func (s *Scorer) Evaluate(dir string, items []Item, ms []Measured) (Evaluation, error) {
	set := FitSetOf(baseName(dir), items, ms)
	var d fitData
	d.Y = map[string][]float64{}
	fixed := map[string][]float64{}
	spk := map[string]bool{}
	for i, it := range items {
		if ms[i].Err != nil {
			continue
		}
		d.X = append(d.X, append([]float64(nil), ms[i].Features[:]...))
		d.Speakers = append(d.Speakers, it.Speaker)
		spk[it.Speaker] = true
		sc, _ := s.model.predict(ms[i].Features)
		for _, m := range Measures {
			d.Y[m] = append(d.Y[m], it.Human[m])
			fixed[m] = append(fixed[m], sc[m])
		}
	}
	ev := Evaluation{N: len(d.X), Speakers: len(spk), Words: len(set.WordX), Model: s.model.Version,
		Fixed: map[string]float64{}}
	rep, err := crossValidate(d, 5)
	if err != nil {
		return ev, err
	}
	ev.CV = rep.PCC
	for _, m := range Measures {
		ev.Fixed[m] = Pearson(fixed[m], d.Y[m])
	}
	if len(set.WordX) >= 10 {
		wrep, err := crossValidate(fitData{X: set.WordX, Y: map[string][]float64{"accuracy": set.WordY}, Speakers: set.WordS}, 5)
		if err != nil {
			return ev, err
		}
		ev.WordCV = wrep.PCC["accuracy"]
		var wp []float64
		for _, x := range set.WordX {
			wp = append(wp, clampScore("accuracy", s.model.Word.apply(s.model.WordNorm.apply(x))))
		}
		ev.WordFixed = Pearson(wp, set.WordY)
	}
	ev.SameData = s.model.Fitted.Data == baseName(dir) && s.model.Fitted.N == ev.N
	return ev, nil
}

func baseName(dir string) string { return filepath.Base(filepath.Clean(dir)) }

// Predict maps features to the measures with the scorer's model.
func (s *Scorer) Predict(f Features) map[string]float64 {
	p, _ := s.model.predict(f)
	return p
}
