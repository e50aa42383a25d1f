package speech

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
	"jnedu/internal/platform/jobs"
)

// JobKind is the queue's name for scoring one answer.
const JobKind = "speech.score"

// AnswerScored is published (through the outbox) when an answer submitted
// with Service.Submit has been scored.
var AnswerScored = events.NewTopic[AnswerScoredEvent]("speech.answer.scored")

// AnswerScoredEvent carries a submitted answer's result. A job may run
// twice after a crash, so subscribers key on RequestID.
type AnswerScoredEvent struct {
	RequestID string `json:"request_id"`
	Result    Result `json:"result"`
}

// MaxAudioBytes bounds a submitted recording.
const MaxAudioBytes = 64 << 20

// Service scores answers through the durable job queue: the exam side
// stores the recording in the blob store, calls Submit in the transaction
// that records the answer, and hears about the result from AnswerScored.
// Workers (serve, or `jnedu worker speech` on other machines) run the jobs.
type Service struct {
	blobs blob.Store
	bus   *events.Bus
	db    *db.DB
	queue *jobs.Queue
	log   *slog.Logger

	backoff   func(int) time.Duration
	newScorer func() (Backend, error)
	once      sync.Once
	scorer    Backend
	err       error
}

// NewService makes the service. newScorer is called once, when the first
// job runs (loading the acoustic model takes a moment and memory that a
// process which only submits does not need); it returns a Scorer, or a
// ChildPool to keep a crash of the recognizer out of this process.
func NewService(d *db.DB, blobs blob.Store, bus *events.Bus, q *jobs.Queue, newScorer func() (Backend, error), log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: d, blobs: blobs, bus: bus, queue: q, newScorer: newScorer, log: log}
}

type jobPayload struct {
	Request Request `json:"request"`
}

// Submit enqueues the scoring of req (ID and AudioSHA256 required) in tx,
// the caller's transaction. A second Submit of the same ID while the first
// is pending is a no-op.
func (s *Service) Submit(ctx context.Context, tx db.Querier, req Request) error {
	if req.ID == "" || len(req.ID) > 150 {
		return errors.New("speech: a submitted request needs an ID of at most 150 bytes")
	}
	if err := blob.ValidateKey(req.AudioSHA256); err != nil {
		return fmt.Errorf("speech: audio: %w", err)
	}
	if err := req.Validate(); err != nil {
		return err
	}
	_, err := s.queue.Enqueue(ctx, tx, JobKind, jobPayload{Request: req},
		jobs.EnqueueOptions{UniqueKey: "speech:" + req.ID, MaxAttempts: 3})
	return err
}

// HandleJobs registers the scoring job on the queue, concurrency jobs at
// once (0: 1).
func (s *Service) HandleJobs(concurrency int) {
	if concurrency <= 0 {
		concurrency = 1
	}
	s.queue.Handle(JobKind, s.run, jobs.HandlerOptions{Concurrency: concurrency, Timeout: 10 * time.Minute, Backoff: s.backoff})
}

// SetRetryBackoff sets the pause before another attempt at an answer whose
// scoring process crashed (default: the queue's); call before HandleJobs.
func (s *Service) SetRetryBackoff(f func(attempt int) time.Duration) { s.backoff = f }

func (s *Service) getScorer() (Backend, error) {
	s.once.Do(func() { s.scorer, s.err = s.newScorer() })
	return s.scorer, s.err
}

func (s *Service) run(ctx context.Context, j *jobs.Job) error {
	var pl jobPayload
	if err := j.Decode(&pl); err != nil {
		return fmt.Errorf("%w: %v", jobs.ErrPermanent, err)
	}
	req := pl.Request
	if err := req.Validate(); err != nil {
		return fmt.Errorf("%w: %v", jobs.ErrPermanent, err)
	}
	sc, err := s.getScorer()
	if err != nil {
		return fmt.Errorf("speech: scorer: %w", err)
	}
	rc, info, err := s.blobs.Open(ctx, req.AudioSHA256)
	if errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("%w: audio blob %s not found", jobs.ErrPermanent, req.AudioSHA256)
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	var res Result
	if info.Size > MaxAudioBytes {
		res = Result{RequestID: req.ID, Kind: req.Kind, Flags: []Flag{FlagUndecodable, FlagTooLong}, Words: []Word{},
			Engine: sc.Engine(), Note: fmt.Sprintf("the recording is larger than %d bytes", MaxAudioBytes)}
	} else if res, err = sc.Score(ctx, rc, req); err != nil {
		if ctx.Err() != nil {
			return err
		}
		if !errors.Is(err, ErrChildCrashed) {
			return fmt.Errorf("%w: %v", jobs.ErrPermanent, err)
		}
		// The recognizer crashed on this answer: try again (another
		// process, after a pause), and after the last attempt hand the
		// answer to a person with the reason, and fail the job.
		if j.Attempts < j.MaxAttempts {
			return err
		}
		s.log.Error("speech answer not scored: the scoring process crashed on every attempt", "request", req.ID, "attempts", j.Attempts, "err", err)
		failed := Result{RequestID: req.ID, Kind: req.Kind, Flags: []Flag{FlagScoringFailed}, Words: []Word{},
			MaxPoints: req.MaxPoints, Engine: sc.Engine(),
			Note: fmt.Sprintf("the scoring process crashed on this recording %d times; a person must mark it", j.Attempts)}
		if failed.MaxPoints == 0 {
			failed.MaxPoints = 10
		}
		if perr := s.publish(ctx, req, failed); perr != nil {
			return perr
		}
		return fmt.Errorf("%w: %v on each of %d attempts; handed to human marking", jobs.ErrPermanent, err, j.Attempts)
	}
	return s.publish(ctx, req, res)
}

func (s *Service) publish(ctx context.Context, req Request, res Result) error {
	res.RequestID = req.ID
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		return events.PublishTx(ctx, tx, s.bus, AnswerScored, AnswerScoredEvent{RequestID: req.ID, Result: res})
	})
	if err == nil {
		s.log.Info("speech answer scored", "request", req.ID, "total", res.Total, "flags", res.Flags)
	}
	return err
}
