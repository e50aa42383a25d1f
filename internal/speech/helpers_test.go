package speech_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"jnedu/internal/speech"
	"jnedu/internal/speech/sphinx"
)

var (
	scorerOnce sync.Once
	testScorer *speech.Scorer
	scorerErr  error
)

// scorer returns the scorer shared by the package's tests (the model and
// dictionary load once).
func scorer(t *testing.T) *speech.Scorer {
	t.Helper()
	scorerOnce.Do(func() {
		var eng *sphinx.Engine
		eng, scorerErr = sphinx.New(sphinx.Config{Decoders: 2})
		if scorerErr == nil {
			testScorer, scorerErr = speech.NewScorer(eng, speech.Options{})
		}
	})
	if scorerErr != nil {
		t.Fatalf("scorer (install libpocketsphinx-dev pocketsphinx-en-us): %v", scorerErr)
	}
	return testScorer
}

var (
	synthMu    sync.Mutex
	synthCache = map[string][]byte{}
)

// say makes a 16 kHz mono WAV of espeak-ng speaking text with voice
// (e.g. "en-us", "en+f3"), cached per test binary.
func say(t *testing.T, voice, text string) []byte {
	t.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	key := voice + "\x00" + text
	if b, ok := synthCache[key]; ok {
		return b
	}
	dir := t.TempDir()
	raw, out := filepath.Join(dir, "raw.wav"), filepath.Join(dir, "16k.wav")
	run(t, "espeak-ng", "-v", voice, "-s", "150", "-w", raw, text)
	run(t, "sox", raw, "-r", "16000", "-c", "1", "-b", "16", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	synthCache[key] = b
	return b
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// convert runs ffmpeg to turn a WAV into another format (by extension).
func convert(t *testing.T, wav []byte, ext string, args ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.wav"), filepath.Join(dir, "out."+ext)
	if err := os.WriteFile(in, wav, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "ffmpeg", append(append([]string{"-nostdin", "-loglevel", "error", "-i", in}, args...), out)...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wav encodes 16 kHz mono samples as a WAV file.
func wav(pcm []int16) []byte {
	var b bytes.Buffer
	n := uint32(2 * len(pcm))
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, 36+n)
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(16000), uint32(32000), uint16(2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, n)
	binary.Write(&b, binary.LittleEndian, pcm)
	return b.Bytes()
}

// pcmOf decodes a WAV made by say.
func pcmOf(t *testing.T, b []byte) []int16 {
	t.Helper()
	a, err := speech.Decoder{}.DecodeBytes(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return a.PCM
}

func score(t *testing.T, audio []byte, req speech.Request) speech.Result {
	t.Helper()
	r, err := scorer(t).Score(context.Background(), bytes.NewReader(audio), req)
	if err != nil {
		t.Fatalf("Score: %v", err)
	}
	return r
}
