package speech_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
	"jnedu/internal/platform/jobs"
	"jnedu/internal/speech"
	"jnedu/internal/speech/sphinx"
)

// envChild makes the test binary a scoring child (speech.ServeChild) whose
// requests with an ID starting "crash" abort the process, as a crash
// inside the C library would. The hook exists only in this test binary.
const envChild = "JNEDU_SPEECH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		os.Exit(runTestChild())
	}
	os.Exit(m.Run())
}

func runTestChild() int {
	eng, err := sphinx.New(sphinx.Config{Decoders: 1})
	if err != nil {
		os.Stderr.WriteString(err.Error())
		return 1
	}
	sc, err := speech.NewScorer(eng, speech.Options{})
	if err != nil {
		os.Stderr.WriteString(err.Error())
		return 1
	}
	err = speech.ServeChild(context.Background(), os.Stdin, os.Stdout, sc, func(r speech.Request) {
		if strings.HasPrefix(r.ID, "crash") {
			syscall.Kill(os.Getpid(), syscall.SIGABRT) //nolint:errcheck
			time.Sleep(time.Minute)
		}
	})
	if err != nil {
		os.Stderr.WriteString(err.Error())
		return 1
	}
	return 0
}

func testChildren(t *testing.T, size int) *speech.ChildPool {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := speech.NewChildPool(func() *exec.Cmd {
		c := exec.Command(exe, "-test.run=^$")
		c.Env = append(os.Environ(), envChild+"=1")
		return c
	}, size, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// TestChildCrash: a child that aborts takes down only the answer it was
// scoring; the parent gets ErrChildCrashed, and the next answer is scored
// by a new child exactly as in this process.
func TestChildCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := testChildren(t, 1)
	audio := say(t, "en-us", refText)
	req := speech.Request{ID: "a", Kind: speech.ReadAloud, ReferenceText: refText}
	in := score(t, audio, req)
	for i, id := range []string{"a", "crash-1", "b", "crash-2", "crash-3", "c"} {
		req.ID = id
		r, err := p.Score(ctx, bytes.NewReader(audio), req)
		if strings.HasPrefix(id, "crash") {
			if !errors.Is(err, speech.ErrChildCrashed) {
				t.Fatalf("answer %d (%s): %v, want ErrChildCrashed", i, id, err)
			}
			t.Logf("%s: %v", id, err)
			continue
		}
		if err != nil {
			t.Fatalf("answer %d (%s): %v", i, id, err)
		}
		if r.RequestID != id || r.Total != in.Total || len(r.Words) != len(in.Words) {
			t.Errorf("answer %d through a child: %s total %.2f, %d words; in this process total %.2f, %d words",
				i, r.RequestID, r.Total, len(r.Words), in.Total, len(in.Words))
		}
	}
	if p.Engine() != in.Engine {
		t.Errorf("engine %+v, want %+v", p.Engine(), in.Engine)
	}
	// Invalid requests are refused before a child sees them.
	if _, err := p.Score(ctx, bytes.NewReader(audio), speech.Request{Kind: speech.ReadAloud}); err == nil || errors.Is(err, speech.ErrChildCrashed) {
		t.Errorf("invalid request: %v", err)
	}
}

// TestChildCrashFailsJob: through the queue, an answer that crashes the
// scoring process is tried MaxAttempts times, then its job fails with the
// reason and the answer goes to people (a result flagged scoring_failed,
// no points); the other answer is scored.
func TestChildCrashFailsJob(t *testing.T) {
	pool := testChildren(t, 1)
	audio := say(t, "en-us", refText)
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		rig := newQueueRig(ctx, t, d, audio, pool, slog.LevelWarn+4)
		svc, q := rig.svc, rig.q
		svc.SetRetryBackoff(func(int) time.Duration { return 10 * time.Millisecond })
		ok := speech.Request{ID: "answer-1", Kind: speech.ReadAloud, ReferenceText: refText, AudioSHA256: rig.audioKey, MaxPoints: 5}
		bad := ok
		bad.ID = "crash-answer-2"
		if err := d.InTx(ctx, func(tx *db.Tx) error {
			if err := svc.Submit(ctx, tx, bad); err != nil {
				return err
			}
			return svc.Submit(ctx, tx, ok)
		}); err != nil {
			t.Fatal(err)
		}
		defer rig.run(ctx)()

		evs := map[string]speech.Result{}
		for len(evs) < 2 {
			select {
			case ev := <-rig.got:
				evs[ev.RequestID] = ev.Result
			case <-ctx.Done():
				t.Fatalf("events %v, want two", evs)
			}
		}
		if a := evs["answer-1"]; a.Points <= 0 || a.NeedsHuman() {
			t.Errorf("scored answer: points %.2f flags %v", a.Points, a.Flags)
		}
		c := evs["crash-answer-2"]
		if !c.Has(speech.FlagScoringFailed) || !c.NeedsHuman() || c.Points != 0 || c.MaxPoints != 5 || c.Note == "" {
			t.Errorf("crashed answer: flags %v points %.2f of %.0f note %q", c.Flags, c.Points, c.MaxPoints, c.Note)
		}
		js, err := q.List(ctx, jobs.Filter{Kind: speech.JobKind})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range js {
			switch j.UniqueKey {
			case "speech:answer-1":
				if j.State != jobs.Done || j.Attempts != 1 {
					t.Errorf("scored answer's job: %s after %d attempts", j.State, j.Attempts)
				}
			case "speech:crash-answer-2":
				if j.State != jobs.Failed || j.Attempts != 3 || !strings.Contains(j.LastError, "crashed") {
					t.Errorf("crashed answer's job: %s after %d attempts, error %q", j.State, j.Attempts, j.LastError)
				}
				t.Logf("crashed answer's job: %s after %d attempts: %s", j.State, j.Attempts, j.LastError)
			}
		}
	})
}
