package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"jnedu/internal/exam/marking"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
	"jnedu/internal/speech"
)

// The speech scorer and exam marking are separate subsystems; these
// adapters connect them. Marking queues a scoring job in its intake
// transaction (speechScorer.Submit); the job's result comes back as a
// speech.answer.scored event, which recordMachineScores hands to marking.

// examRequestPrefix marks the speech requests that come from marking.
const examRequestPrefix = "exam-answer-"

type speechScorer struct{ s *speech.Service }

func (b speechScorer) Submit(ctx context.Context, tx db.Querier, r marking.ScoreRequest) error {
	kps := make([]speech.KeyPoint, len(r.KeyPoints))
	for i, k := range r.KeyPoints {
		kps[i] = speech.KeyPoint{Text: k.Text, Variants: k.Variants, Points: k.Points}
	}
	return b.s.Submit(ctx, tx, speech.Request{
		ID: examRequestPrefix + strconv.FormatInt(r.AnswerID, 10), Kind: speech.Kind(r.Kind),
		ReferenceText: r.ReferenceText, ReferenceAnswers: r.ReferenceAnswers, KeyPoints: kps,
		MaxPoints: r.MaxPoints, AudioSHA256: r.Recording,
	})
}

// speechMatcher compares recordings by the scorer's fingerprints.
type speechMatcher struct{}

func (speechMatcher) SameRecording(a, b string) (float64, bool) { return speech.SameRecording(a, b) }

// recordMachineScores subscribes marking to the scorer's results: the
// recording's fingerprint first (compared with the other candidates'
// answers to the same prompt), then the score, which a possible copy sends
// to human marking.
func recordMachineScores(bus *events.Bus, m *marking.Service) {
	m.SetMatcher(speechMatcher{})
	events.Subscribe(bus, speech.AnswerScored, "exam.marking", func(ctx context.Context, ev events.Envelope[speech.AnswerScoredEvent]) error {
		idText, ok := strings.CutPrefix(ev.Payload.RequestID, examRequestPrefix)
		if !ok {
			return nil // another subsystem's request
		}
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: request %q", events.ErrPermanent, ev.Payload.RequestID)
		}
		res := ev.Payload.Result
		flags := make([]string, len(res.Flags))
		for i, f := range res.Flags {
			flags[i] = string(f)
		}
		details, err := json.Marshal(struct {
			Accuracy     float64           `json:"accuracy"`
			Fluency      float64           `json:"fluency"`
			Prosodic     float64           `json:"prosodic"`
			Total        float64           `json:"total"`
			Completeness float64           `json:"completeness"`
			Confidence   float64           `json:"confidence"`
			KeyPoints    any               `json:"key_points,omitempty"`
			Engine       speech.EngineInfo `json:"engine"`
		}{res.Accuracy, res.Fluency, res.Prosodic, res.Total, res.Completeness, res.Confidence, res.KeyPoints, res.Engine})
		if err != nil {
			return err
		}
		err = m.RecordFingerprint(ctx, id, res.Fingerprint)
		if err == nil {
			err = m.RecordMachineScore(ctx, id, res.Points, flags, details)
		}
		if e := apperr.As(err); e != nil && (e.Code == apperr.NotFound || e.Code == apperr.Invalid) {
			return fmt.Errorf("%w: %v", events.ErrPermanent, err)
		}
		return err
	})
}
