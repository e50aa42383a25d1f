package speech

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Linear is a linear map from standardised features to a score.
type Linear struct {
	Intercept float64   `json:"intercept"`
	Coef      []float64 `json:"coef"`
	Lambda    float64   `json:"lambda"`
}

func (l Linear) apply(z []float64) float64 {
	y := l.Intercept
	for i, c := range l.Coef {
		y += c * z[i]
	}
	return y
}

// standardizer centres and scales features by their training statistics.
type standardizer struct {
	Mean  []float64 `json:"mean"`
	Scale []float64 `json:"scale"`
}

func newStandardizer(x [][]float64) standardizer {
	p := len(x[0])
	s := standardizer{Mean: make([]float64, p), Scale: make([]float64, p)}
	for j := 0; j < p; j++ {
		col := make([]float64, len(x))
		for i := range x {
			col[i] = x[i][j]
		}
		s.Mean[j] = mean(col)
		s.Scale[j] = stddev(col)
		if s.Scale[j] < 1e-9 {
			s.Scale[j] = 1
		}
	}
	return s
}

func (s standardizer) apply(x []float64) []float64 {
	z := make([]float64, len(x))
	for j := range x {
		z[j] = (x[j] - s.Mean[j]) / s.Scale[j]
	}
	return z
}

// ridge fits y ≈ b + w·z by least squares with an L2 penalty lambda on w
// (z standardised), solving the normal equations by Cholesky.
func ridge(z [][]float64, y []float64, lambda float64) (Linear, error) {
	n := len(z)
	if n == 0 {
		return Linear{}, errors.New("speech: no data to fit")
	}
	p := len(z[0])
	ym := mean(y)
	// Centre z by its own mean so the intercept separates.
	zm := make([]float64, p)
	for _, r := range z {
		for j, v := range r {
			zm[j] += v / float64(n)
		}
	}
	a := make([][]float64, p)
	b := make([]float64, p)
	for j := range a {
		a[j] = make([]float64, p)
	}
	for i, r := range z {
		for j := 0; j < p; j++ {
			dj := r[j] - zm[j]
			b[j] += dj * (y[i] - ym)
			for k := 0; k <= j; k++ {
				a[j][k] += dj * (r[k] - zm[k])
			}
		}
	}
	for j := 0; j < p; j++ {
		a[j][j] += lambda
		for k := 0; k < j; k++ {
			a[k][j] = a[j][k]
		}
	}
	w, err := solveSPD(a, b)
	if err != nil {
		return Linear{}, err
	}
	icpt := ym
	for j := range w {
		icpt -= w[j] * zm[j]
	}
	return Linear{Intercept: icpt, Coef: w, Lambda: lambda}, nil
}

// solveSPD solves a·x = b for a symmetric positive definite a.
func solveSPD(a [][]float64, b []float64) ([]float64, error) {
	p := len(b)
	l := make([][]float64, p)
	for i := range l {
		l[i] = make([]float64, p)
	}
	for i := 0; i < p; i++ {
		for j := 0; j <= i; j++ {
			s := a[i][j]
			for k := 0; k < j; k++ {
				s -= l[i][k] * l[j][k]
			}
			if i == j {
				if s <= 0 {
					return nil, errors.New("speech: singular system")
				}
				l[i][i] = math.Sqrt(s)
			} else {
				l[i][j] = s / l[j][j]
			}
		}
	}
	y := make([]float64, p)
	for i := 0; i < p; i++ {
		s := b[i]
		for k := 0; k < i; k++ {
			s -= l[i][k] * y[k]
		}
		y[i] = s / l[i][i]
	}
	x := make([]float64, p)
	for i := p - 1; i >= 0; i-- {
		s := y[i]
		for k := i + 1; k < p; k++ {
			s -= l[k][i] * x[k]
		}
		x[i] = s / l[i][i]
	}
	return x, nil
}

// Pearson is the Pearson correlation of a and b (0 when either is
// constant).
func Pearson(a, b []float64) float64 {
	if len(a) != len(b) || len(a) < 2 {
		return 0
	}
	ma, mb := mean(a), mean(b)
	var sab, saa, sbb float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

// speakerFolds assigns each item to one of k folds so that all of a
// speaker's items share a fold; speakers are dealt in a fixed order
// (sorted by name, then round robin over folds by size), so the folds
// are reproducible.
func speakerFolds(speakers []string, k int) []int {
	count := map[string]int{}
	for _, s := range speakers {
		count[s]++
	}
	names := make([]string, 0, len(count))
	for s := range count {
		names = append(names, s)
	}
	// Largest speakers first, each to the currently smallest fold.
	sort.Slice(names, func(i, j int) bool {
		if count[names[i]] != count[names[j]] {
			return count[names[i]] > count[names[j]]
		}
		return names[i] < names[j]
	})
	size := make([]int, k)
	fold := map[string]int{}
	for _, s := range names {
		best := 0
		for f := 1; f < k; f++ {
			if size[f] < size[best] {
				best = f
			}
		}
		fold[s] = best
		size[best] += count[s]
	}
	out := make([]int, len(speakers))
	for i, s := range speakers {
		out[i] = fold[s]
	}
	return out
}

var lambdas = []float64{0.3, 1, 3, 10, 30, 100, 300}

// fitRidgeCV picks lambda by k-fold cross-validation by speaker inside the
// given data and fits on all of it.
func fitRidgeCV(x [][]float64, y []float64, speakers []string, k int) (Linear, error) {
	folds := speakerFolds(speakers, k)
	bestL, bestErr := lambdas[0], math.Inf(1)
	for _, lam := range lambdas {
		var sse float64
		for f := 0; f < k; f++ {
			var tz [][]float64
			var ty []float64
			for i := range x {
				if folds[i] != f {
					tz, ty = append(tz, x[i]), append(ty, y[i])
				}
			}
			if len(tz) == 0 {
				continue
			}
			m, err := ridge(tz, ty, lam)
			if err != nil {
				return Linear{}, err
			}
			for i := range x {
				if folds[i] == f {
					d := m.apply(x[i]) - y[i]
					sse += d * d
				}
			}
		}
		if sse < bestErr {
			bestL, bestErr = lam, sse
		}
	}
	return ridge(x, y, bestL)
}

// Fold describes data to fit: features, targets per measure, speakers.
type fitData struct {
	X        [][]float64
	Y        map[string][]float64
	Speakers []string
}

// CVReport is the cross-validated agreement of a model with the humans.
type CVReport struct {
	Folds int                `json:"folds"`
	N     int                `json:"n"`
	PCC   map[string]float64 `json:"pcc"`
	// Pred holds each item's prediction from the model fitted without its
	// speaker's fold, per measure.
	Pred map[string][]float64 `json:"-"`
}

// crossValidate fits the model k times, each time leaving out one fold of
// speakers (lambda chosen inside the training folds), and correlates the
// held-out predictions with the human scores.
func crossValidate(d fitData, k int) (CVReport, error) {
	if len(d.X) < 2*k {
		return CVReport{}, fmt.Errorf("speech: %d items are too few for %d folds", len(d.X), k)
	}
	folds := speakerFolds(d.Speakers, k)
	rep := CVReport{Folds: k, N: len(d.X), PCC: map[string]float64{}, Pred: map[string][]float64{}}
	for _, m := range Measures {
		y, ok := d.Y[m]
		if !ok {
			continue
		}
		pred := make([]float64, len(y))
		for f := 0; f < k; f++ {
			var tx [][]float64
			var ty []float64
			var ts []string
			for i := range d.X {
				if folds[i] != f {
					tx, ty, ts = append(tx, d.X[i]), append(ty, y[i]), append(ts, d.Speakers[i])
				}
			}
			st := newStandardizer(tx)
			tz := make([][]float64, len(tx))
			for i := range tx {
				tz[i] = st.apply(tx[i])
			}
			lin, err := fitRidgeCV(tz, ty, ts, k)
			if err != nil {
				return CVReport{}, err
			}
			for i := range d.X {
				if folds[i] == f {
					pred[i] = clampScore(m, lin.apply(st.apply(d.X[i])))
				}
			}
		}
		rep.Pred[m] = pred
		rep.PCC[m] = Pearson(pred, y)
	}
	return rep, nil
}

func clampScore(measure string, v float64) float64 {
	hi := 10.0
	if measure == "completeness" {
		hi = 1
	}
	return math.Max(0, math.Min(hi, v))
}
