package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"strings"
	"time"

	"jnedu/internal/exam/simulate"
)

// cmdExamSimulate plays candidates against a site node and prints the
// report as JSON (answers expected and stored, chunk acknowledgement
// latency, errors).
func cmdExamSimulate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("jnedu exam simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := simulate.Options{Finish: true}
	fs.StringVar(&o.URL, "site", "", "site node URL, e.g. http://127.0.0.1:8090 (required)")
	fs.StringVar(&o.Session, "session", "", "session code (default: the site's first session)")
	fs.StringVar(&o.Proctor, "proctor", "", "proctor user name: lists the candidates, starts waiting rooms, reads back what was stored")
	pwEnv := fs.String("password-env", "JNEDU_PROCTOR_PASSWORD", "environment variable holding the proctor's password")
	numbers := fs.String("numbers", "", "admission numbers to play, comma-separated (default: every candidate of the session)")
	fs.IntVar(&o.Candidates, "candidates", 0, "play at most this many candidates (0: all)")
	fs.IntVar(&o.ChunkMs, "chunk-ms", 1000, "audio per chunk in milliseconds (the client sends about 1000)")
	fs.Float64Var(&o.Speed, "speed", 1, "send chunks this many times faster than real time")
	fs.IntVar(&o.AnswerSec, "answer-sec", 0, "cap each spoken answer at this many seconds (0: the paper's answer time)")
	noStart := fs.Bool("no-start", false, "do not start waiting rooms (a proctor starts them)")
	noFinish := fs.Bool("no-finish", false, "leave the attempts open at the end")
	seed := fs.Uint64("seed", 1, "seed of the generated speech and choices")
	deadline := fs.Duration("deadline", 2*time.Hour, "stop after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.URL == "" || fs.NArg() != 0 {
		fs.Usage()
		return errors.New("usage: jnedu exam simulate -site URL [-proctor USER] [-candidates N] [-speed X] ...")
	}
	if o.Proctor != "" {
		o.Password = getenv(*pwEnv)
		if o.Password == "" {
			return errors.New("set the proctor's password in $" + *pwEnv)
		}
	}
	if *numbers != "" {
		for _, n := range strings.Split(*numbers, ",") {
			if n = strings.TrimSpace(n); n != "" {
				o.Numbers = append(o.Numbers, n)
			}
		}
	}
	o.StartRooms, o.Finish, o.Seed, o.Deadline = !*noStart, !*noFinish, *seed, *deadline
	rep, err := simulate.Run(ctx, o)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	if rep.Verified && (rep.AnswersStored != rep.AnswersExpected || rep.ChunksLost > 0) {
		return errors.New("answers were lost: see answers_expected, answers_stored and chunks_lost")
	}
	return nil
}
