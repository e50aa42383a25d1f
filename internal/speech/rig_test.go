package speech_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
	"jnedu/internal/platform/jobs"
	"jnedu/internal/speech"
)

// queueRig is a speech service scoring through the job queue with backend,
// the answer's audio in a blob store, and a durable subscriber collecting
// speech.answer.scored in got.
type queueRig struct {
	svc      *speech.Service
	q        *jobs.Queue
	bus      *events.Bus
	got      chan speech.AnswerScoredEvent
	audioKey string
}

// newQueueRig migrates d and builds the rig; logs at level and above go
// to the test's output.
func newQueueRig(ctx context.Context, t *testing.T, d *db.DB, audio []byte, backend speech.Backend, level slog.Level) *queueRig {
	t.Helper()
	if _, err := d.Migrate(ctx, []db.Source{events.Migrations(), jobs.Migrations()}); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	info, err := blobs.Put(ctx, bytes.NewReader(audio))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
	r := &queueRig{got: make(chan speech.AnswerScoredEvent, 4), audioKey: info.Key}
	r.bus = events.NewBus(d, events.Options{Logger: log, PollInterval: 20 * time.Millisecond})
	events.Subscribe(r.bus, speech.AnswerScored, "test.exam", func(ctx context.Context, ev events.Envelope[speech.AnswerScoredEvent]) error {
		r.got <- ev.Payload
		return nil
	})
	r.q = jobs.New(d, jobs.Options{Logger: log, PollInterval: 20 * time.Millisecond})
	r.svc = speech.NewService(d, blobs, r.bus, r.q, func() (speech.Backend, error) { return backend, nil }, log)
	r.svc.HandleJobs(1)
	return r
}

// run starts the bus and the queue; the returned function stops them and
// waits until they have.
func (r *queueRig) run(ctx context.Context) (stop func()) {
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { r.bus.Run(runCtx); done <- struct{}{} }()
	go func() { r.q.Run(runCtx); done <- struct{}{} }()
	return func() { cancel(); <-done; <-done }
}
