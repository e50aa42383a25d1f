package simulate

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
)

func rms(pcm []byte) float64 {
	var s float64
	n := len(pcm) / 2
	for i := 0; i < n; i++ {
		x := float64(int16(binary.LittleEndian.Uint16(pcm[2*i:]))) / 32768
		s += x * x
	}
	return math.Sqrt(s / float64(n))
}

func TestSpeechLooksLikeSpeech(t *testing.T) {
	g := NewSpeech(7)
	var loud, quiet int
	for i := 0; i < 200; i++ { // 200 × 50 ms = 10 s
		r := rms(g.PCM(SampleRate / 20))
		switch {
		case r > 0.02:
			loud++
		case r < 0.005:
			quiet++
		}
	}
	// Mostly voiced, with some pauses: a silence detector sees both.
	if loud < 100 || quiet < 5 {
		t.Errorf("10 s of speech: %d loud and %d quiet 50 ms frames; want ≥100 and ≥5", loud, quiet)
	}
	a, b := NewSpeech(1).PCM(1600), NewSpeech(1).PCM(1600)
	if string(a) != string(b) {
		t.Error("the same seed gave different audio")
	}
	if string(a) == string(NewSpeech(2).PCM(1600)) {
		t.Error("different seeds gave the same audio")
	}
}

func TestLatencies(t *testing.T) {
	var l Latencies
	for i := 1; i <= 100; i++ {
		l.Add(time.Duration(i) * time.Millisecond)
	}
	s := l.Summary()
	if s.Count != 100 || s.P50 != 50 || s.P99 != 99 || s.Max != 100 || s.Mean != 50.5 {
		t.Errorf("Summary = %+v", s)
	}
	if (&Latencies{}).Summary().Count != 0 {
		t.Error("empty summary")
	}
}
