package speech

import (
	"math"
	"sort"
)

// level describes the loudness of a recording, measured on 10 ms frames.
type level struct {
	PeakDB   float64 // highest sample, dBFS
	Clipped  float64 // share of samples at full scale
	NoiseDB  float64 // 10th percentile of frame energy, dBFS
	SpeechDB float64 // 95th percentile of frame energy, dBFS
	SNR      float64 // SpeechDB − NoiseDB
	Active   float64 // seconds of frames well above the noise floor
	Frames   []float64
	DCOffset float64
	Monotone bool // the same sample value throughout (digital silence)
}

const frameLen = SampleRate / FrameRate

func measure(pcm []int16) level {
	var lv level
	if len(pcm) == 0 {
		lv.PeakDB, lv.NoiseDB, lv.SpeechDB = -120, -120, -120
		lv.Monotone = true
		return lv
	}
	var sum float64
	peak := 0
	clipped := 0
	same := true
	for i, s := range pcm {
		v := int(s)
		sum += float64(v)
		if v < 0 {
			v = -v
		}
		if v > peak {
			peak = v
		}
		if v >= 32600 {
			clipped++
		}
		if i > 0 && s != pcm[0] {
			same = false
		}
	}
	lv.Monotone = same
	lv.DCOffset = sum / float64(len(pcm))
	lv.PeakDB = dbfs(float64(peak))
	lv.Clipped = float64(clipped) / float64(len(pcm))
	n := len(pcm) / frameLen
	lv.Frames = make([]float64, n)
	for f := 0; f < n; f++ {
		var e float64
		for _, s := range pcm[f*frameLen : (f+1)*frameLen] {
			d := float64(s) - lv.DCOffset
			e += d * d
		}
		lv.Frames[f] = dbfs(math.Sqrt(e / frameLen))
	}
	if n == 0 {
		lv.NoiseDB, lv.SpeechDB = -120, -120
		return lv
	}
	sorted := append([]float64(nil), lv.Frames...)
	sort.Float64s(sorted)
	lv.NoiseDB = sorted[n/10]
	lv.SpeechDB = sorted[min(n-1, n*95/100)]
	lv.SNR = lv.SpeechDB - lv.NoiseDB
	thr := lv.NoiseDB + math.Max(6, lv.SNR/3)
	active := 0
	for _, e := range lv.Frames {
		if e > thr && e > -60 {
			active++
		}
	}
	lv.Active = float64(active) / FrameRate
	return lv
}

func dbfs(amp float64) float64 {
	if amp < 1 {
		return -120
	}
	return 20 * math.Log10(amp/32768)
}
