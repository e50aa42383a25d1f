package speech_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"jnedu/internal/speech"
)

// EnvSampleData names a folder laid out like the speechocean762 sample
// (scores.jsonl + audio/) to use instead of the subset in testdata (for
// example the full sample: every 12th recording of it is scored).
const EnvSampleData = "JNEDU_SPEECH_SAMPLE"

func sampleDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join("testdata", "speechocean762-subset")
	if e := os.Getenv(EnvSampleData); e != "" {
		d = e
	}
	if _, err := os.Stat(filepath.Join(d, "scores.jsonl")); err != nil {
		t.Fatalf("the scored speech sample is missing at %s (%v)", d, err)
	}
	return d
}

// TestSampleAgreement scores the subset of the shared sample in testdata
// (every 12th recording) and checks that the built-in model still agrees with the human medians.
// The model was fitted on this sample, so the floors sit well below its
// cross-validated agreement: they catch a broken pipeline, they do not
// measure quality (`jnedu speech eval` does, by cross-validation).
func TestSampleAgreement(t *testing.T) {
	t.Parallel()
	items, err := speech.LoadDataset(sampleDir(t))
	if err != nil {
		t.Fatal(err)
	}
	sub := items
	if len(items) > 200 { // a full sample: every 12th, as in testdata
		sub = nil
		for i := 0; i < len(items); i += 12 {
			sub = append(sub, items[i])
		}
	}
	sc := scorer(t)
	ms := sc.MeasureAll(context.Background(), sub, runtime.GOMAXPROCS(0))
	pred := map[string][]float64{}
	human := map[string][]float64{}
	for i, m := range ms {
		if m.Err != nil {
			t.Errorf("%s: %v", sub[i].ID, m.Err)
			continue
		}
		p := sc.Predict(m.Features)
		for _, meas := range []string{"accuracy", "fluency", "total"} {
			pred[meas] = append(pred[meas], p[meas])
			human[meas] = append(human[meas], sub[i].Human[meas])
		}
	}
	floors := map[string]float64{"accuracy": 0.5, "fluency": 0.55, "total": 0.5}
	for meas, floor := range floors {
		r := speech.Pearson(pred[meas], human[meas])
		t.Logf("%s: PCC %.3f on %d recordings", meas, r, len(pred[meas]))
		if r < floor {
			t.Errorf("%s: PCC %.3f with the human medians, floor %.2f", meas, r, floor)
		}
	}
}
