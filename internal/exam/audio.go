package exam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"jnedu/internal/exam/paper"
	"jnedu/internal/platform/apperr"
)

// Prompt audio is kept in one form: 16 kHz mono 16-bit WAV, whatever was
// uploaded (the upload is checked with ffprobe and converted with ffmpeg;
// the original is not kept). Synthesized audio (espeak-ng, voice en-us)
// goes through the same conversion, so the exam client plays one format.

// ErrNoSpeechTool reports that espeak-ng is not installed.
var ErrNoSpeechTool = errors.New("exam: espeak-ng is not installed")

func (s *Service) tool(name, configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("exam: %s is not installed: %w", name, err)
	}
	return p, nil
}

// SpeechAvailable reports whether espeak-ng can be run.
func (s *Service) SpeechAvailable() bool {
	_, err := s.tool("espeak-ng", s.cfg.Espeak)
	return err == nil
}

func (s *Service) workDir() (string, error) {
	base := s.cfg.WorkDir
	if base == "" {
		base = os.TempDir()
	}
	if err := os.MkdirAll(base, 0o750); err != nil {
		return "", err
	}
	return os.MkdirTemp(base, "exam-audio-")
}

// run runs a tool with the timeout, capturing at most 64 KiB of output.
func (s *Service) run(ctx context.Context, bin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ToolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb limitedBuffer
	out.max, errb.max = 64<<10, 8<<10
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: timed out after %s", filepath.Base(bin), s.cfg.ToolTimeout)
		}
		return nil, fmt.Errorf("%s: %w: %s", filepath.Base(bin), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		if len(p) > room {
			b.Buffer.Write(p[:room])
		} else {
			b.Buffer.Write(p)
		}
	}
	return len(p), nil
}

// probeAudio returns the duration (ms) of the first audio stream of a
// file, or an error when the file holds no audio.
func (s *Service) probeAudio(ctx context.Context, path string) (int64, error) {
	bin, err := s.tool("ffprobe", s.cfg.FFprobe)
	if err != nil {
		return 0, err
	}
	out, err := s.run(ctx, bin, "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=codec_type,duration:format=duration",
		"-of", "json", path)
	if err != nil {
		return 0, apperr.Wrap(apperr.Invalid, err, "exam.err_not_audio")
	}
	var pr struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			Duration  string `json:"duration"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &pr); err != nil || len(pr.Streams) == 0 || pr.Streams[0].CodecType != "audio" {
		return 0, apperr.New(apperr.Invalid, "exam.err_not_audio")
	}
	d := pr.Streams[0].Duration
	if d == "" || d == "N/A" {
		d = pr.Format.Duration
	}
	sec, err := strconv.ParseFloat(d, 64)
	if err != nil || sec <= 0 {
		return 0, apperr.New(apperr.Invalid, "exam.err_not_audio")
	}
	if sec > 30*60 {
		return 0, apperr.New(apperr.Invalid, "exam.err_audio_long", 30)
	}
	return int64(sec * 1000), nil
}

// normalize converts an audio file to 16 kHz mono 16-bit WAV.
func (s *Service) normalize(ctx context.Context, in, out string) error {
	bin, err := s.tool("ffmpeg", s.cfg.FFmpeg)
	if err != nil {
		return err
	}
	_, err = s.run(ctx, bin, "-nostdin", "-v", "error", "-y", "-i", in, "-vn", "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le",
		"-fs", strconv.FormatInt(s.cfg.MaxAudioBytes*4, 10), "-f", "wav", out)
	return err
}

// storeAudioFile probes, converts and stores an audio file; tts is the
// text it was synthesized from ("" for an upload).
func (s *Service) storeAudioFile(ctx context.Context, dir, in, tts string) (string, error) {
	if _, err := s.probeAudio(ctx, in); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "out.wav")
	if err := s.normalize(ctx, in, out); err != nil {
		return "", apperr.Wrap(apperr.Invalid, err, "exam.err_not_audio")
	}
	ms, err := s.probeAudio(ctx, out)
	if err != nil {
		return "", err
	}
	f, err := os.Open(out)
	if err != nil {
		return "", err
	}
	defer f.Close()
	info, err := s.blobs.Put(ctx, f)
	if err != nil {
		return "", err
	}
	return info.Key, s.addMedia(ctx, info.Key, "audio", "audio/wav", info.Size, ms, tts)
}

// UploadAudio stores uploaded prompt audio (any format ffmpeg reads, at
// most MaxAudioBytes) and returns its SHA-256.
func (s *Service) UploadAudio(ctx context.Context, r io.Reader) (string, error) {
	dir, err := s.workDir()
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "upload")
	f, err := os.Create(in)
	if err != nil {
		return "", err
	}
	n, err := io.Copy(f, io.LimitReader(r, s.cfg.MaxAudioBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", apperr.Wrap(apperr.Invalid, err, "exam.err_upload")
	}
	if n > s.cfg.MaxAudioBytes {
		return "", apperr.New(apperr.TooLarge, "exam.err_audio_large", s.cfg.MaxAudioBytes>>20)
	}
	if n == 0 {
		return "", apperr.New(apperr.Invalid, "exam.err_not_audio")
	}
	return s.storeAudioFile(ctx, dir, in, "")
}

// MaxSpeechText bounds the text given to espeak-ng.
const MaxSpeechText = paper.MaxText

// Synthesize speaks text with espeak-ng (voice en-us) and stores the audio;
// the same text is synthesized once.
func (s *Service) Synthesize(ctx context.Context, text string) (string, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return "", apperr.New(apperr.Invalid, "exam.err_no_audio_text")
	}
	if utf8.RuneCountInString(text) > MaxSpeechText {
		return "", apperr.New(apperr.Invalid, "exam.paper.too_long", MaxSpeechText)
	}
	var have string
	err := s.db.QueryRow(ctx, "SELECT sha256 FROM exam_media WHERE kind = 'audio' AND tts_text = ? ORDER BY created_at LIMIT 1", text).Scan(&have)
	if err == nil {
		return have, nil
	}
	bin, terr := s.tool("espeak-ng", s.cfg.Espeak)
	if terr != nil {
		return "", apperr.Wrap(apperr.Unavailable, ErrNoSpeechTool, "exam.err_no_espeak")
	}
	dir, err := s.workDir()
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	raw := filepath.Join(dir, "tts.wav")
	tf := filepath.Join(dir, "text.txt")
	if err := os.WriteFile(tf, []byte(text), 0o600); err != nil {
		return "", err
	}
	if _, err := s.run(ctx, bin, "-v", "en-us", "-s", "150", "-f", tf, "-w", raw); err != nil {
		return "", fmt.Errorf("synthesize: %w", err)
	}
	st, err := os.Stat(raw)
	if err != nil {
		return "", fmt.Errorf("synthesize: %w", err)
	}
	if st.Size() > s.cfg.MaxAudioBytes*4 {
		return "", apperr.New(apperr.TooLarge, "exam.err_audio_large", s.cfg.MaxAudioBytes>>20)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		return "", err
	}
	pcm, rate, err := parseWAV(b)
	if err != nil || len(pcm) == 0 {
		return s.storeAudioFile(ctx, dir, raw, text) // let ffmpeg read what espeak-ng wrote
	}
	out := encodeWAV(resample(pcm, rate, 16000), 16000)
	info, err := s.blobs.Put(ctx, bytes.NewReader(out))
	if err != nil {
		return "", err
	}
	return info.Key, s.addMedia(ctx, info.Key, "audio", "audio/wav", info.Size, int64(len(out)-44)/32, text)
}

func (s *Service) addMedia(ctx context.Context, sha, kind, mime string, size, ms int64, tts string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO exam_media (sha256, kind, mime, size, duration_ms, tts_text, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (sha256) DO NOTHING`, sha, kind, mime, size, ms, tts, s.ms())
	return err
}

// Media describes a file of the exam subsystem.
type Media struct {
	SHA256     string `json:"sha256"`
	Kind       string `json:"kind"`
	Mime       string `json:"mime"`
	Size       int64  `json:"size"`
	DurationMS int64  `json:"duration_ms,omitempty"`
}

// MediaInfo looks a file up; only files the subsystem stored are known.
func (s *Service) MediaInfo(ctx context.Context, sha string) (Media, error) {
	m := Media{SHA256: sha}
	err := s.db.QueryRow(ctx, "SELECT kind, mime, size, duration_ms FROM exam_media WHERE sha256 = ?", sha).Scan(&m.Kind, &m.Mime, &m.Size, &m.DurationMS)
	if err != nil {
		return m, notFoundOr(err)
	}
	return m, nil
}
