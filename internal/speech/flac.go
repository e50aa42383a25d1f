package speech

import (
	"bytes"
	"errors"
	"io"
	"time"

	"github.com/mewkiz/flac"
)

// readPlainFLAC decodes a FLAC file of 16 kHz mono 16-bit samples in Go;
// ok is false for anything else (ffmpeg then handles it). A stream that
// breaks off keeps the samples decoded before the damage.
func readPlainFLAC(data []byte, maxSamples int) (a Audio, ok bool, err error) {
	if len(data) < 4 || string(data[:4]) != "fLaC" {
		return Audio{}, false, nil
	}
	st, err := flac.New(bytes.NewReader(data))
	if err != nil {
		return Audio{}, false, nil
	}
	if st.Info.SampleRate != SampleRate || st.Info.NChannels != 1 || st.Info.BitsPerSample != 16 {
		return Audio{}, false, nil
	}
	pcm := make([]int16, 0, min(int(st.Info.NSamples), maxSamples)+4096)
	total := int(st.Info.NSamples)
	cut := false
	for len(pcm) < maxSamples {
		fr, err := st.ParseNext()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if len(pcm) == 0 {
				return Audio{}, false, nil // let ffmpeg try
			}
			break // truncated: keep what was read
		}
		for _, s := range fr.Subframes[0].Samples {
			pcm = append(pcm, int16(s))
		}
	}
	if len(pcm) >= maxSamples {
		cut = total > maxSamples || total == 0
		pcm = pcm[:maxSamples]
	}
	a = Audio{PCM: pcm, Cut: cut}
	if cut {
		a.Total = time.Duration(total) * time.Second / SampleRate
	}
	if len(pcm) == 0 {
		return a, true, ErrEmpty
	}
	return a, true, nil
}
