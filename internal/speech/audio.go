package speech

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Audio decoding errors; a Scorer turns them into flags, not failures.
var (
	// ErrEmpty: the input has no bytes, or no samples.
	ErrEmpty = errors.New("speech: empty audio")
	// ErrUndecodable: the input is not audio ffmpeg can decode.
	ErrUndecodable = errors.New("speech: not decodable audio")
)

// Audio is decoded speech: 16 kHz mono 16-bit samples.
type Audio struct {
	PCM []int16
	// Cut is set when the input was longer than the limit and only its
	// beginning was decoded; Total is then the input's length when known.
	Cut   bool
	Total time.Duration
}

// Duration is the length of the decoded samples.
func (a Audio) Duration() time.Duration {
	return time.Duration(len(a.PCM)) * time.Second / SampleRate
}

// Decoder turns any audio file ffmpeg reads (WAV, FLAC, Opus/WebM, MP3, at
// any rate and channel count) into 16 kHz mono PCM. A 16 kHz mono 16-bit
// WAV is read in Go without starting ffmpeg.
type Decoder struct {
	FFmpeg   string        // path of ffmpeg ("" looks it up on PATH)
	MaxBytes int64         // largest input accepted (default 64 MiB)
	MaxAudio time.Duration // longest audio decoded; the rest is cut (default 120 s)
	Timeout  time.Duration // bound of one ffmpeg run (default 60 s)
}

func (d Decoder) withDefaults() Decoder {
	if d.FFmpeg == "" {
		d.FFmpeg = "ffmpeg"
	}
	if d.MaxBytes <= 0 {
		d.MaxBytes = 64 << 20
	}
	if d.MaxAudio <= 0 {
		d.MaxAudio = 120 * time.Second
	}
	if d.Timeout <= 0 {
		d.Timeout = 60 * time.Second
	}
	return d
}

// Decode reads r to its end (at most MaxBytes) and decodes it.
func (d Decoder) Decode(ctx context.Context, r io.Reader) (Audio, error) {
	d = d.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, d.MaxBytes+1))
	if err != nil {
		return Audio{}, fmt.Errorf("speech: read audio: %w", err)
	}
	if int64(len(data)) > d.MaxBytes {
		return Audio{}, fmt.Errorf("%w: input larger than %d bytes", ErrUndecodable, d.MaxBytes)
	}
	return d.DecodeBytes(ctx, data)
}

// DecodeBytes decodes an audio file held in memory.
func (d Decoder) DecodeBytes(ctx context.Context, data []byte) (Audio, error) {
	d = d.withDefaults()
	if len(data) == 0 {
		return Audio{}, ErrEmpty
	}
	maxSamples := int(d.MaxAudio.Seconds() * SampleRate)
	if a, ok, err := readPlainWAV(data, maxSamples); ok {
		return a, err
	}
	if a, ok, err := readPlainFLAC(data, maxSamples); ok {
		return a, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.FFmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
		"-i", "pipe:0", "-vn", "-sn", "-dn",
		"-t", strconv.FormatFloat(d.MaxAudio.Seconds()+0.5, 'f', 2, 64),
		"-ac", "1", "-ar", strconv.Itoa(SampleRate), "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if ctx.Err() != nil && err != nil {
		return Audio{}, fmt.Errorf("speech: decode audio: %w", context.Cause(ctx))
	}
	raw := out.Bytes()
	if err != nil && len(raw) == 0 {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = msg[:300]
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return Audio{}, fmt.Errorf("%w: %s", ErrUndecodable, msg)
		}
		return Audio{}, fmt.Errorf("speech: run ffmpeg: %w", err)
	}
	// A truncated file decodes up to the damage, with an error: keep
	// what was decoded.
	pcm := make([]int16, len(raw)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	a := Audio{PCM: pcm}
	if len(pcm) > maxSamples {
		a.Total = a.Duration()
		a.PCM, a.Cut = pcm[:maxSamples], true
	}
	if len(a.PCM) == 0 {
		return a, ErrEmpty
	}
	return a, nil
}

// readPlainWAV reads a RIFF WAV of 16 kHz mono 16-bit PCM; ok is false
// for anything else (ffmpeg then handles it).
func readPlainWAV(data []byte, maxSamples int) (a Audio, ok bool, err error) {
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return Audio{}, false, nil
	}
	p := 12
	fmtOK := false
	for p+8 <= len(data) {
		id := string(data[p : p+4])
		size := int(binary.LittleEndian.Uint32(data[p+4:]))
		body := p + 8
		switch id {
		case "fmt ":
			if size < 16 || body+16 > len(data) {
				return Audio{}, false, nil
			}
			f := data[body:]
			format := binary.LittleEndian.Uint16(f[0:])
			ch := binary.LittleEndian.Uint16(f[2:])
			rate := binary.LittleEndian.Uint32(f[4:])
			bits := binary.LittleEndian.Uint16(f[14:])
			if format != 1 || ch != 1 || rate != SampleRate || bits != 16 {
				return Audio{}, false, nil
			}
			fmtOK = true
		case "data":
			if !fmtOK {
				return Audio{}, false, nil
			}
			end := body + size
			if size == 0 || size == -1 || end > len(data) || end < body {
				end = len(data) // streamed or truncated: take what is there
			}
			n := (end - body) / 2
			cut := false
			total := time.Duration(n) * time.Second / SampleRate
			if n > maxSamples {
				n, cut = maxSamples, true
			}
			pcm := make([]int16, n)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(data[body+2*i:]))
			}
			a := Audio{PCM: pcm, Cut: cut}
			if cut {
				a.Total = total
			}
			if n == 0 {
				return a, true, ErrEmpty
			}
			return a, true, nil
		}
		p = body + size + size%2
	}
	return Audio{}, false, nil
}
