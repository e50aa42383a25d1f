package exam

import (
	"encoding/binary"
	"errors"
	"math"
)

// Synthesized speech comes from espeak-ng as 16-bit mono PCM WAV at its
// own rate (22050 Hz); it is resampled here to 16 kHz rather than by
// running ffmpeg, which keeps loading a paper's audio fast.

var errWAV = errors.New("exam: not a 16-bit PCM WAV")

// parseWAV reads a 16-bit PCM WAV (any rate; channels are mixed down).
func parseWAV(b []byte) ([]int16, int, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, errWAV
	}
	var rate, channels, bits int
	for off := 12; off+8 <= len(b); {
		id := string(b[off : off+4])
		size := int(binary.LittleEndian.Uint32(b[off+4 : off+8]))
		body := b[off+8:]
		if size > len(body) || size < 0 {
			size = len(body) // espeak-ng writing to a pipe leaves sizes unset
		}
		body = body[:size]
		switch id {
		case "fmt ":
			if len(body) < 16 || binary.LittleEndian.Uint16(body[0:2]) != 1 {
				return nil, 0, errWAV
			}
			channels = int(binary.LittleEndian.Uint16(body[2:4]))
			rate = int(binary.LittleEndian.Uint32(body[4:8]))
			bits = int(binary.LittleEndian.Uint16(body[14:16]))
		case "data":
			if bits != 16 || channels < 1 || rate < 8000 || rate > 192000 {
				return nil, 0, errWAV
			}
			n := len(body) / 2 / channels
			out := make([]int16, n)
			for i := 0; i < n; i++ {
				sum := 0
				for c := 0; c < channels; c++ {
					sum += int(int16(binary.LittleEndian.Uint16(body[(i*channels+c)*2:])))
				}
				out[i] = int16(sum / channels)
			}
			return out, rate, nil
		}
		off += 8 + size + size%2
	}
	return nil, 0, errWAV
}

// resample converts x from rate from to rate to with a windowed-sinc
// filter (cut-off just below the lower Nyquist frequency).
func resample(x []int16, from, to int) []int16 {
	if from == to {
		return x
	}
	const half = 16 // taps on each side, in input samples
	ratio := float64(from) / float64(to)
	fc := 0.95 * math.Min(1, float64(to)/float64(from)) // cut-off, relative to the input rate's Nyquist
	n := int(float64(len(x)) / ratio)
	out := make([]int16, n)
	for i := 0; i < n; i++ {
		t := float64(i) * ratio
		c := int(t)
		var acc, wsum float64
		for k := c - half + 1; k <= c+half; k++ {
			if k < 0 || k >= len(x) {
				continue
			}
			u := t - float64(k)
			w := 0.5 + 0.5*math.Cos(math.Pi*u/half) // Hann
			s := fc
			if u != 0 {
				s = math.Sin(math.Pi*fc*u) / (math.Pi * u)
			}
			acc += float64(x[k]) * s * w
			wsum += s * w
		}
		if wsum != 0 {
			acc /= wsum
		}
		out[i] = int16(math.Max(-32768, math.Min(32767, math.Round(acc))))
	}
	return out
}

// encodeWAV writes mono 16-bit PCM samples as a WAV file.
func encodeWAV(x []int16, rate int) []byte {
	data := len(x) * 2
	b := make([]byte, 44+data)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+data))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(data))
	for i, v := range x {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	return b
}
