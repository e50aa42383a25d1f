package speech

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"math/cmplx"
)

// Fingerprints find recordings that are nearly the same audio (one
// candidate's answer played or copied as another's). A fingerprint is one
// 32-bit word per 16 ms: 31 bits are the signs of the changes, across
// time, of the energy differences between neighbouring bands of
// 300–3400 Hz (Haitsma and Kalker's scheme), and the top bit marks the
// frames loud enough to compare (in pauses the bits are only noise). Two takes of the same text by different
// people differ in about half their bits; the same recording, re-encoded
// or slightly cut, in few.

const (
	fpWindow = 1024 // 64 ms
	fpHop    = 256  // 16 ms
	fpBands  = 32
	fpLoud   = 1 << 31
	fpBits   = 31
)

// Fingerprint computes the fingerprint of 16 kHz mono samples.
func Fingerprint(pcm []int16) []uint32 {
	if len(pcm) < fpWindow {
		return nil
	}
	edges := make([]int, fpBands+1)
	for b := 0; b <= fpBands; b++ {
		hz := 300 * math.Pow(3400.0/300.0, float64(b)/fpBands)
		edges[b] = int(hz * fpWindow / SampleRate)
	}
	win := make([]float64, fpWindow)
	for i := range win {
		win[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/fpWindow)
	}
	buf := make([]complex128, fpWindow)
	var prev []float64
	var out []uint32
	var level []float64
	for start := 0; start+fpWindow <= len(pcm); start += fpHop {
		for i := 0; i < fpWindow; i++ {
			buf[i] = complex(float64(pcm[start+i])*win[i], 0)
		}
		fft(buf)
		e := make([]float64, fpBands)
		for b := 0; b < fpBands; b++ {
			var s float64
			for k := edges[b]; k < max(edges[b+1], edges[b]+1); k++ {
				re, im := real(buf[k]), imag(buf[k])
				s += re*re + im*im
			}
			e[b] = math.Log(s + 1)
		}
		if prev != nil {
			var w uint32
			var tot float64
			for _, v := range e {
				tot += v
			}
			level = append(level, tot)
			for b := 0; b < fpBits; b++ {
				if (e[b]-e[b+1])-(prev[b]-prev[b+1]) > 0 {
					w |= 1 << b
				}
			}
			out = append(out, w)
		}
		prev = e
	}
	// Loud: above the midpoint of the recording's quiet and loud frames.
	if len(level) > 0 {
		thr := (quantile(level, 0.1) + quantile(level, 0.9)) / 2
		for i, l := range level {
			if l > thr {
				out[i] |= fpLoud
			}
		}
	}
	return out
}

// Similarity compares two fingerprints: 1 − the lowest bit error rate over
// shifts of up to 2 s, counting only shifts where they overlap by at least
// half of the shorter one (0 when they cannot be compared).
func Similarity(a, b []uint32) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	short := min(len(a), len(b))
	need := max(short/2, 20)
	best := 1.0
	const maxShift = 125 // 2 s of 16 ms
	for sh := -maxShift; sh <= maxShift; sh++ {
		var diff, n, overlap int
		for i := max(0, -sh); i < len(a) && i+sh < len(b); i++ {
			overlap++
			x, y := a[i], b[i+sh]
			if x&y&fpLoud == 0 {
				continue
			}
			diff += bits.OnesCount32((x ^ y) &^ fpLoud)
			n++
		}
		if overlap < need || n < need/4 {
			continue
		}
		if ber := float64(diff) / float64(fpBits*n); ber < best {
			best = ber
		}
	}
	if best >= 1 {
		return 0
	}
	return 1 - best
}

// CopyThreshold is the Similarity above which two recordings are flagged
// as possible copies.
const CopyThreshold = 0.75

// EncodeFingerprint packs a fingerprint for a Result (base64).
func EncodeFingerprint(f []uint32) string {
	b := make([]byte, 4*len(f))
	for i, w := range f {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

// DecodeFingerprint unpacks a Result's fingerprint.
func DecodeFingerprint(s string) ([]uint32, error) {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil || len(b)%4 != 0 {
		return nil, errors.New("speech: bad fingerprint")
	}
	f := make([]uint32, len(b)/4)
	for i := range f {
		f[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return f, nil
}

// SameRecording compares the fingerprints of two results (as the exam
// side holds them) and reports their similarity and whether it is high
// enough to flag both answers as possible copies.
func SameRecording(a, b string) (float64, bool) {
	fa, err1 := DecodeFingerprint(a)
	fb, err2 := DecodeFingerprint(b)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	s := Similarity(fa, fb)
	return s, s >= CopyThreshold
}

// FlagCopies compares every pair of results (one item's answers) and adds
// FlagPossibleCopy to both of each pair that SameRecording matches. It
// returns the pairs found, by index.
func FlagCopies(rs []Result) [][2]int {
	var pairs [][2]int
	fps := make([][]uint32, len(rs))
	for i, r := range rs {
		fps[i], _ = DecodeFingerprint(r.Fingerprint)
	}
	for i := range rs {
		for j := i + 1; j < len(rs); j++ {
			if len(fps[i]) == 0 || len(fps[j]) == 0 {
				continue
			}
			// Lengths that differ by more than half cannot be one recording.
			if 2*min(len(fps[i]), len(fps[j])) < max(len(fps[i]), len(fps[j])) {
				continue
			}
			if Similarity(fps[i], fps[j]) >= CopyThreshold {
				rs[i].flag(FlagPossibleCopy)
				rs[j].flag(FlagPossibleCopy)
				pairs = append(pairs, [2]int{i, j})
			}
		}
	}
	return pairs
}

// fft is an in-place radix-2 FFT; len(x) must be a power of two.
func fft(x []complex128) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		w := cmplx.Exp(complex(0, -2*math.Pi/float64(size)))
		for start := 0; start < n; start += size {
			wk := complex(1, 0)
			for k := 0; k < size/2; k++ {
				u, v := x[start+k], x[start+k+size/2]*wk
				x[start+k], x[start+k+size/2] = u+v, u-v
				wk *= w
			}
		}
	}
}
