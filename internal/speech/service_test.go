package speech_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
	"jnedu/internal/platform/jobs"
	"jnedu/internal/speech"
)

// TestSubmitScoresThroughQueue: Submit in a transaction → the job runs →
// speech.answer.scored reaches a durable subscriber with the result.
func TestSubmitScoresThroughQueue(t *testing.T) {
	audio := say(t, "en-us", refText)
	sc := scorer(t)
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		rig := newQueueRig(ctx, t, d, audio, sc, slog.LevelWarn)
		svc, q := rig.svc, rig.q

		req := speech.Request{ID: "answer-17", Kind: speech.ReadAloud, ReferenceText: refText, AudioSHA256: rig.audioKey, MaxPoints: 5}
		missing := req
		missing.ID, missing.AudioSHA256 = "answer-18", "0000000000000000000000000000000000000000000000000000000000000000"
		err := d.InTx(ctx, func(tx *db.Tx) error {
			if err := svc.Submit(ctx, tx, req); err != nil {
				return err
			}
			return svc.Submit(ctx, tx, missing)
		})
		if err != nil {
			t.Fatalf("Submit: %v", err)
		}
		if err := svc.Submit(ctx, d, speech.Request{ID: "x", Kind: speech.ReadAloud, ReferenceText: "hi", AudioSHA256: "nothex"}); err == nil {
			t.Error("Submit with a bad blob key: no error")
		}

		defer rig.run(ctx)()

		select {
		case ev := <-rig.got:
			if ev.RequestID != req.ID || ev.Result.RequestID != req.ID {
				t.Errorf("event for %q (result %q), want %q", ev.RequestID, ev.Result.RequestID, req.ID)
			}
			r := ev.Result
			if len(r.Words) < 13 || r.Total <= 0 || r.MaxPoints != 5 || r.Points <= 0 || r.Points > 5 {
				t.Errorf("result: %d words, total %.1f, points %.2f of %.0f", len(r.Words), r.Total, r.Points, r.MaxPoints)
			}
		case <-ctx.Done():
			t.Fatal("no speech.answer.scored event")
		}
		// The job with a missing blob fails for good, without an event.
		deadline := time.Now().Add(20 * time.Second)
		for {
			js, err := q.List(ctx, jobs.Filter{Kind: speech.JobKind})
			if err != nil {
				t.Fatal(err)
			}
			states := map[string]jobs.State{}
			for _, j := range js {
				states[j.UniqueKey] = j.State
			}
			if states["speech:answer-17"] == jobs.Done && states["speech:answer-18"] == jobs.Failed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job states %v, want answer-17 done and answer-18 failed", states)
			}
			time.Sleep(50 * time.Millisecond)
		}
		select {
		case ev := <-rig.got:
			t.Errorf("unexpected second event for %q", ev.RequestID)
		case <-time.After(200 * time.Millisecond):
		}
	})
}
