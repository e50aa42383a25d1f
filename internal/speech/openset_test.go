package speech_test

import (
	"context"
	"slices"
	"testing"

	"jnedu/internal/speech/openset"
)

// TestOpenKeyPointRecall scores a fixed part of the openset answers (one
// item, one voice): partial answers earn more than nothing and less than
// the full answer, an off-topic answer and the question read back earn no
// key point, and the recall of the key points said stays above a floor
// set from the measured recall on this part minus a margin (bench/speech
// -open measures the whole set: bench/speech/README.md).
func TestOpenKeyPointRecall(t *testing.T) {
	t.Parallel()
	items := openset.Items()
	var set []openset.Answer
	for _, a := range openset.Answers(items) {
		if items[a.Item].ID == "cold" && a.Kind != openset.Noise {
			a.Voice = openset.Voices[0]
			set = append(set, a)
		}
	}
	// The answers of one kind differ only in voice here: keep one each,
	// and every partial one.
	var sub []openset.Answer
	seen := map[string]bool{}
	for _, a := range set {
		if a.Kind == openset.Partial || !seen[a.Kind] {
			sub = append(sub, a)
		}
		seen[a.Kind] = true
	}
	req := items[0].Request()
	var tally openset.Tally
	var full, partialMin, partialMax, none float64
	partialMin = 1e9
	for _, a := range sub {
		b, err := openset.Audio(context.Background(), "", a)
		if err != nil {
			t.Fatal(err)
		}
		r := score(t, b, req)
		tally.Add(a, items, r)
		var found []int
		for i, k := range r.KeyPoints {
			if k.Found {
				found = append(found, i+1)
			}
		}
		t.Logf("%-36s points %.1f (expected %.0f) key points %v", a.Name(items), r.Points, a.Expected(items), found)
		switch a.Kind {
		case openset.Own:
			full = r.Points
		case openset.Partial:
			partialMin, partialMax = min(partialMin, r.Points), max(partialMax, r.Points)
		case openset.OffTopic, openset.Question, openset.Silence:
			none = max(none, r.Points)
			if len(found) > 0 {
				t.Errorf("%s: key points %v found", a.Name(items), found)
			}
		}
		if a.Kind == openset.Partial && slices.Equal(a.Expect, []bool{true, false, true, false}) && !(r.Points > none && r.Points < full) {
			defer t.Errorf("%s: points %.1f, want between nothing (%.1f) and the full answer (%.1f)", a.Name(items), r.Points, none, full)
		}
	}
	t.Logf("recall %.2f precision %.2f, points %.1f of %.0f expected; partial answers %.1f–%.1f, full %.1f, none %.1f",
		tally.Recall(), tally.Precision(), tally.Points, tally.Expected, partialMin, partialMax, full, none)
	if none != 0 || full <= none {
		t.Errorf("full answer %.1f points, answers without key points up to %.1f", full, none)
	}
	if partialMax >= full+0.01 && full < req.MaxPoints {
		t.Errorf("a partial answer earned %.1f, the full answer %.1f", partialMax, full)
	}
	if tally.Recall() < recallFloor {
		t.Errorf("key-point recall %.2f on this part of the set, floor %.2f", tally.Recall(), recallFloor)
	}
	if tally.Precision() < precisionFloor {
		t.Errorf("key-point precision %.2f on this part of the set, floor %.2f", tally.Precision(), precisionFloor)
	}
}

const (
	recallFloor    = 0.5
	precisionFloor = 0.8
)
