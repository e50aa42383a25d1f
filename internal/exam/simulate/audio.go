package simulate

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
)

// SampleRate is the exam recording rate: 16 kHz mono, 16-bit.
const SampleRate = 16000

// Speech makes speech-like audio: voiced syllables (a pitch with its
// harmonics shaped by two moving formants) at about four a second, with
// short pauses between phrases and a little noise, so that a level meter,
// a silence detector and a compressor see what a real voice gives them.
// The same seed gives the same samples.
type Speech struct {
	rng   *rand.Rand
	t     int     // samples produced
	phase float64 // of the fundamental
	syl   int     // samples left in the current syllable or pause
	voice bool
	f0    float64
	f1    float64
	f2    float64
}

// NewSpeech starts a generator.
func NewSpeech(seed uint64) *Speech {
	return &Speech{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), f0: 120 + float64(seed%80)}
}

// PCM returns the next n samples as little-endian 16-bit PCM bytes.
func (s *Speech) PCM(n int) []byte {
	out := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		if s.syl <= 0 {
			s.next()
		}
		s.syl--
		s.t++
		v := 0.0
		if s.voice {
			s.phase += 2 * math.Pi * s.f0 / SampleRate
			if s.phase > 2*math.Pi {
				s.phase -= 2 * math.Pi
			}
			// Harmonics weighted by two resonances (a crude vowel).
			for h := 1; h <= 12; h++ {
				f := float64(h) * s.f0
				w := 1/(1+sq((f-s.f1)/150)) + 0.6/(1+sq((f-s.f2)/200))
				v += w * math.Sin(float64(h)*s.phase) / float64(h)
			}
			// Syllable envelope.
			v *= 0.35 * envelope(s.syl)
		}
		v += (s.rng.Float64() - 0.5) * 0.004 // room noise
		x := int16(math.Max(-1, math.Min(1, v)) * 32000)
		binary.LittleEndian.PutUint16(out[2*i:], uint16(x))
	}
	return out
}

func (s *Speech) next() {
	// Mostly syllables of 150–300 ms, sometimes a 300–700 ms pause.
	if s.voice && s.rng.IntN(6) == 0 {
		s.voice = false
		s.syl = SampleRate * (300 + s.rng.IntN(400)) / 1000
		return
	}
	s.voice = true
	s.syl = SampleRate * (150 + s.rng.IntN(150)) / 1000
	s.f1 = 300 + s.rng.Float64()*500
	s.f2 = 900 + s.rng.Float64()*1400
	s.f0 = math.Max(80, math.Min(260, s.f0+(s.rng.Float64()-0.5)*20))
}

func envelope(left int) float64 {
	const ramp = SampleRate / 50 // 20 ms
	if left < ramp {
		return float64(left) / ramp
	}
	return 1
}

func sq(x float64) float64 { return x * x }
