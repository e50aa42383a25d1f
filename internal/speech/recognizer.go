package speech

import "context"

// FrameRate is the recognizer's frames per second (10 ms frames).
const FrameRate = 100

// SampleRate is the rate of the PCM given to a Recognizer.
const SampleRate = 16000

// Pron is one pronunciation: ARPAbet phones without stress marks ("DH", "AH").
type Pron []string

// AlignWord is one word of a forced alignment with its pronunciations; the
// recognizer picks the one that fits the audio best.
type AlignWord struct {
	Text  string
	Prons []Pron
}

// Segment is a stretch of frames the recognizer labelled.
type Segment struct {
	// Label is a phone ("AH"), SilLabel, a filler ("+NSN+"), or for word
	// segments of Spot, the word.
	Label string
	// Word is the index of the word (of Align's words) the phone belongs
	// to, or -1 for silence and fillers. Spot sets it to -1.
	Word int
	// From and To are frames, To exclusive.
	From, To int
	// Score is the acoustic log-likelihood over the segment, in nats,
	// relative in every frame to the best-scoring state of the acoustic
	// model there: per frame, it is the goodness of pronunciation (≤ 0).
	Score float64
}

// Frames is the segment's length in frames.
func (s Segment) Frames() int { return s.To - s.From }

// SilLabel labels silence segments.
const SilLabel = "SIL"

// Recognizer is the acoustic engine under the scoring. The scoring only
// needs forced alignment with scores relative to the best the model could
// do in each frame (the goodness of pronunciation) and grammar-constrained
// spotting, so a stronger acoustic model can replace PocketSphinx behind
// this interface.
//
// Implementations are safe for concurrent use.
type Recognizer interface {
	// Align forces 16 kHz mono pcm through words in order, with optional
	// silence or noise between them, and returns phone segments (Word set)
	// plus silence and filler segments, in time order. When the search
	// cannot reach the end of the words, the phones it did reach are
	// returned and the later words have none.
	Align(ctx context.Context, pcm []int16, words []AlignWord) ([]Segment, error)
	// Spot decodes pcm with a grammar that loops over the given phrases
	// (word sequences, spelt with words Pronounce knows; a phrase's Weight
	// is its prior against the others) and a weak phone-loop garbage
	// model; it returns the phrases' word segments, in time order, each
	// Label a word of the phrases.
	Spot(ctx context.Context, pcm []int16, phrases []SpotPhrase) ([]Segment, error)
	// Detect decodes pcm with a grammar that places exactly one of the
	// alternatives (word sequences, as for Spot) once, anywhere, with a
	// free phone loop before and after it, and returns the placed
	// alternative's word segments (Word is its index in alternatives), or
	// none when the search found no path. The words' scores say how well
	// the best place in the recording fits the phrase, which is what a key
	// point's detection is decided on.
	Detect(ctx context.Context, pcm []int16, alternatives [][]string) ([]Segment, error)
	// PhoneLoop decodes pcm with a free loop of phones and returns its
	// phone, silence and filler segments (Word -1), in time order: the
	// best any phone sequence does, against which a phrase is judged.
	PhoneLoop(ctx context.Context, pcm []int16) ([]Segment, error)
	// Pronounce returns a word's pronunciations from the lexicon (nil for
	// a word it does not know). Words are matched case-insensitively.
	Pronounce(word string) []Pron
	// Info names the engine and its model, recorded with every result.
	Info() EngineInfo
}

// EngineInfo names the recognizer and the scoring model behind a result.
type EngineInfo struct {
	Name         string `json:"name"`
	Model        string `json:"model"`
	ScoringModel string `json:"scoring_model"`
}

// SpotPhrase is one alternative of a spotting grammar.
type SpotPhrase struct {
	Words  []string
	Weight float64 // relative prior (0: 1)
}
