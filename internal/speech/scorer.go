package speech

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind is the kind of spoken item.
type Kind string

const (
	// ReadAloud items (模仿朗读, 朗读短文) are scored against a reference text.
	ReadAloud Kind = "read_aloud"
	// Open items (听后回答, 情景问答, 信息转述, 话题简述) are scored against
	// reference answers and key points.
	Open Kind = "open"
)

// KeyPoint is one scoring point (采分点) of an open item: the phrase, the
// other ways to say it, and what it is worth.
type KeyPoint struct {
	Text     string   `json:"text"`
	Variants []string `json:"variants,omitempty"`
	Points   float64  `json:"points"`
}

// Request says how to score one answer.
type Request struct {
	// ID identifies the answer for the caller (Submit requires it).
	ID   string `json:"id,omitempty"`
	Kind Kind   `json:"kind"`
	// ReferenceText is the text to read (read-aloud items).
	ReferenceText string `json:"reference_text,omitempty"`
	// ReferenceAnswers and KeyPoints describe an open item.
	ReferenceAnswers []string   `json:"reference_answers,omitempty"`
	KeyPoints        []KeyPoint `json:"key_points,omitempty"`
	// MaxPoints is the item's full mark (Result.Points is on this scale);
	// 0 means 10.
	MaxPoints float64 `json:"max_points,omitempty"`
	// AudioSHA256 is the blob holding the recording (Submit).
	AudioSHA256 string `json:"audio_sha256,omitempty"`
	// ExpectedSeconds, when set, is how long the answer should take; an
	// answer far longer is cut and flagged.
	ExpectedSeconds float64 `json:"expected_seconds,omitempty"`
}

// Limits of a request.
const (
	MaxReferenceWords = 400
	MaxKeyPoints      = 40
	MaxAnswers        = 20
	maxTextBytes      = 8000
)

// Validate checks a request before any audio is touched.
func (r Request) Validate() error {
	switch r.Kind {
	case ReadAloud:
		if strings.TrimSpace(r.ReferenceText) == "" {
			return errors.New("speech: a read-aloud request needs the reference text")
		}
	case Open:
		if len(r.KeyPoints) == 0 && len(r.ReferenceAnswers) == 0 {
			return errors.New("speech: an open request needs key points or reference answers")
		}
		if len(r.KeyPoints) > MaxKeyPoints || len(r.ReferenceAnswers) > MaxAnswers {
			return fmt.Errorf("speech: at most %d key points and %d reference answers", MaxKeyPoints, MaxAnswers)
		}
		for _, k := range r.KeyPoints {
			if strings.TrimSpace(k.Text) == "" || k.Points < 0 || math.IsNaN(k.Points) || math.IsInf(k.Points, 0) {
				return errors.New("speech: a key point needs text and points ≥ 0")
			}
		}
	default:
		return fmt.Errorf("speech: unknown kind %q (read_aloud or open)", r.Kind)
	}
	if r.MaxPoints < 0 || math.IsNaN(r.MaxPoints) || math.IsInf(r.MaxPoints, 0) || r.MaxPoints > 1000 {
		return errors.New("speech: max points must be between 0 and 1000")
	}
	if r.ExpectedSeconds < 0 || r.ExpectedSeconds > 600 || math.IsNaN(r.ExpectedSeconds) {
		return errors.New("speech: expected seconds must be between 0 and 600")
	}
	n := len(r.ReferenceText)
	for _, a := range r.ReferenceAnswers {
		n += len(a)
	}
	for _, k := range r.KeyPoints {
		n += len(k.Text)
		for _, v := range k.Variants {
			n += len(v)
		}
	}
	if n > maxTextBytes || !utf8.ValidString(r.ReferenceText) {
		return fmt.Errorf("speech: reference texts longer than %d bytes or not UTF-8", maxTextBytes)
	}
	if len(strings.Fields(r.ReferenceText)) > MaxReferenceWords {
		return fmt.Errorf("speech: reference text longer than %d words", MaxReferenceWords)
	}
	return nil
}

// Flag marks an answer for a person to look at first.
type Flag string

const (
	FlagNoSpeech      Flag = "no_speech"      // silence, noise or nothing decodable
	FlagTooShort      Flag = "too_short"      // under a second of audio, or far less speech than the text needs
	FlagTooLong       Flag = "too_long"       // longer than the item allows: only the beginning was scored
	FlagClipped       Flag = "clipped"        // too loud: samples at full scale
	FlagTooNoisy      Flag = "too_noisy"      // little difference between speech and background
	FlagWrongText     Flag = "wrong_text"     // does not sound like the reference text
	FlagPossibleCopy  Flag = "possible_copy"  // nearly identical to another candidate's recording
	FlagLowConfidence Flag = "low_confidence" // the machine's score is unreliable here
	FlagUndecodable   Flag = "undecodable"    // not an audio file, or damaged beyond reading
	FlagScoringFailed Flag = "scoring_failed" // the recognizer crashed on it on every attempt: no machine score
)

// Word is one word of the answer as scored.
type Word struct {
	Text     string  `json:"text"`
	Accuracy float64 `json:"accuracy"` // 0–10
	Start    float64 `json:"start"`    // seconds
	End      float64 `json:"end"`
	// Error is "" for a word said, or mispronounced, omitted, inserted or
	// repeated.
	Error string `json:"error,omitempty"`
}

// Word error types.
const (
	ErrMispronounced = "mispronounced"
	ErrOmitted       = "omitted"
	ErrInserted      = "inserted"
	ErrRepeated      = "repeated"
)

// KeyPointResult says whether a key point was heard.
type KeyPointResult struct {
	Text   string  `json:"text"`
	Found  bool    `json:"found"`
	Heard  string  `json:"heard,omitempty"` // the variant recognised
	Start  float64 `json:"start,omitempty"`
	Points float64 `json:"points"`
	// Score, for a key point decided by detection, is by how much (nats
	// per frame) the phrase at its best place in the recording beat a
	// free phone loop over the same frames; the detection threshold
	// depends on the phrase's length (0 when not measured).
	Score float64 `json:"score,omitempty"`
}

// Timing summarises the delivery.
type Timing struct {
	SpeechRate       float64 `json:"speech_rate"`       // phones per second over the speaking span
	ArticulationRate float64 `json:"articulation_rate"` // phones per second of phonation (pauses left out)
	Pauses           int     `json:"pauses"`            // silences of 0.25 s or more between words
	PauseSeconds     float64 `json:"pause_s"`
	LongestPause     float64 `json:"longest_pause_s"`
}

// Result is a scored answer. Scores are 0–10 (Completeness 0–1); Points is
// on the item's scale.
type Result struct {
	RequestID    string           `json:"request_id,omitempty"`
	Kind         Kind             `json:"kind"`
	Accuracy     float64          `json:"accuracy"`
	Fluency      float64          `json:"fluency"`
	Prosodic     float64          `json:"prosodic"`
	Total        float64          `json:"total"`
	Completeness float64          `json:"completeness"`
	Points       float64          `json:"points"`
	MaxPoints    float64          `json:"max_points"`
	Words        []Word           `json:"words"`
	KeyPoints    []KeyPointResult `json:"key_points,omitempty"`
	Timing       *Timing          `json:"timing,omitempty"`
	Flags        []Flag           `json:"flags"`
	Confidence   float64          `json:"confidence"`
	// Note explains a result without scores (undecodable, no speech).
	Note        string     `json:"note,omitempty"`
	DurationS   float64    `json:"duration_s"`
	Fingerprint string     `json:"fingerprint,omitempty"`
	Engine      EngineInfo `json:"engine"`
}

// Has reports whether r carries flag f.
func (r Result) Has(f Flag) bool {
	for _, g := range r.Flags {
		if g == f {
			return true
		}
	}
	return false
}

// NeedsHuman reports whether a person should mark the answer first.
func (r Result) NeedsHuman() bool { return len(r.Flags) > 0 }

func (r *Result) flag(f Flag) {
	if !r.Has(f) {
		r.Flags = append(r.Flags, f)
	}
}

// Options configure a Scorer.
type Options struct {
	Decoder Decoder // audio decoding (zero value: ffmpeg on PATH, 120 s at most)
	Model   *Model  // nil: the embedded model
	// MeasureOnly makes a scorer that only measures features (for fitting
	// a model), so it works without a valid model.
	MeasureOnly bool
	// MaxAudio bounds the audio scored (default 120 s; an item's
	// ExpectedSeconds lowers it to 3× the expected length plus 10 s).
	MaxAudio time.Duration
	// LegacyKeyPoints decides open answers' key points as the previous
	// version did (a loop grammar over every phrase, then alignments of the
	// reference answers), kept to measure against (bench/speech -open).
	LegacyKeyPoints bool
}

// Scorer scores spoken answers. It is safe for concurrent use.
type Scorer struct {
	rec   Recognizer
	dec   Decoder
	model *Model
	max   time.Duration

	legacyKeyPoints bool
}

// NewScorer makes a scorer on a recognizer.
func NewScorer(rec Recognizer, opt Options) (*Scorer, error) {
	if rec == nil {
		return nil, errors.New("speech: no recognizer")
	}
	m := opt.Model
	if m == nil && opt.MeasureOnly {
		m = &Model{Version: "none"}
	}
	if m == nil {
		var err error
		if m, err = DefaultModel(); err != nil {
			return nil, err
		}
	}
	if opt.MaxAudio <= 0 {
		opt.MaxAudio = 120 * time.Second
	}
	opt.Decoder.MaxAudio = opt.MaxAudio
	return &Scorer{rec: rec, dec: opt.Decoder, model: m, max: opt.MaxAudio, legacyKeyPoints: opt.LegacyKeyPoints}, nil
}

// Engine describes the recognizer and model behind results.
func (s *Scorer) Engine() EngineInfo {
	e := s.rec.Info()
	e.ScoringModel = s.model.Version
	return e
}

// ScoreFile scores the recording at path.
func (s *Scorer) ScoreFile(ctx context.Context, path string, req Request) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	return s.Score(ctx, f, req)
}

// Score decodes and scores one answer. Bad audio (empty, undecodable,
// silent, noisy, too long) gives a Result with flags and a note, not an
// error; errors are for invalid requests and failures of the machinery.
func (s *Scorer) Score(ctx context.Context, audio io.Reader, req Request) (res Result, err error) {
	if err := req.Validate(); err != nil {
		return Result{}, err
	}
	dec := s.dec
	if req.ExpectedSeconds > 0 {
		dec.MaxAudio = min(s.max, time.Duration((3*req.ExpectedSeconds+10)*float64(time.Second)))
	}
	au, derr := dec.Decode(ctx, audio)
	return s.scoreAudio(ctx, au, derr, req)
}

// ScorePCM scores 16 kHz mono samples.
func (s *Scorer) ScorePCM(ctx context.Context, pcm []int16, req Request) (Result, error) {
	if err := req.Validate(); err != nil {
		return Result{}, err
	}
	au := Audio{PCM: pcm}
	maxN := int(s.max.Seconds() * SampleRate)
	if len(pcm) > maxN {
		au = Audio{PCM: pcm[:maxN], Cut: true, Total: au.Duration()}
	}
	var derr error
	if len(pcm) == 0 {
		derr = ErrEmpty
	}
	return s.scoreAudio(ctx, au, derr, req)
}

func (s *Scorer) scoreAudio(ctx context.Context, au Audio, derr error, req Request) (res Result, err error) {
	res = Result{RequestID: req.ID, Kind: req.Kind, Engine: s.Engine(), Flags: []Flag{}, Words: []Word{},
		MaxPoints: req.MaxPoints}
	if res.MaxPoints == 0 {
		res.MaxPoints = 10
	}
	res.DurationS = round(au.Duration().Seconds(), 2)
	switch {
	case errors.Is(derr, ErrEmpty):
		res.flag(FlagNoSpeech)
		res.flag(FlagTooShort)
		res.Note = "the recording is empty"
		return res, nil
	case errors.Is(derr, ErrUndecodable):
		res.flag(FlagUndecodable)
		res.flag(FlagNoSpeech)
		res.Note = "the file is not audio that can be decoded: " + derr.Error()
		return res, nil
	case derr != nil:
		return Result{}, derr
	}
	if au.Cut {
		res.flag(FlagTooLong)
		res.Note = fmt.Sprintf("only the first %.0f s were scored", au.Duration().Seconds())
	}
	// recover() catches panics of the Go side; a crash inside the C
	// library cannot be caught, which is why it only ever sees validated
	// input: bounded length, non-empty 16 kHz samples, grammars made of
	// its own dictionary's words and phones.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("speech: scoring failed: %v", p)
		}
	}()
	res.Fingerprint = EncodeFingerprint(Fingerprint(au.PCM))
	lv := measure(au.PCM)
	if lv.Clipped > 0.001 || lv.PeakDB > -0.1 && lv.Clipped > 0.0002 {
		res.flag(FlagClipped)
	}
	if au.Duration() < time.Second {
		res.flag(FlagTooShort)
	}
	if lv.Monotone || lv.SpeechDB < -55 || lv.Active < 0.2 {
		return s.noSpeech(res, "no speech: the recording is silent"), nil
	}
	switch req.Kind {
	case Open:
		return s.scoreOpen(ctx, au, lv, req, res)
	default:
		return s.scoreReadAloud(ctx, au, lv, req, res)
	}
}

func (s *Scorer) noSpeech(res Result, note string) Result {
	res.flag(FlagNoSpeech)
	if res.Note == "" {
		res.Note = note
	}
	res.Accuracy, res.Fluency, res.Prosodic, res.Total, res.Completeness, res.Points = 0, 0, 0, 0, 0, 0
	res.Confidence = 0
	return res
}

// readAloudFile measures one recording against a text (for data sets).
func (s *Scorer) readAloudFile(ctx context.Context, path, text string) (*analysis, Audio, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Audio{}, err
	}
	defer f.Close()
	au, err := s.dec.Decode(ctx, f)
	if err != nil {
		return nil, au, err
	}
	words := tokenize(text, s.rec)
	if len(words) == 0 {
		return nil, au, errors.New("speech: the text has no words")
	}
	a, err := analyze(ctx, s.rec, au.PCM, words)
	return a, au, err
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
