package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"jnedu/internal/platform/jobs"
	"jnedu/internal/speech"
	"jnedu/internal/speech/sphinx"
)

const speechUsage = `usage:
  jnedu speech score --text "REFERENCE TEXT" FILE    score one read-aloud recording (one JSON object)
  jnedu speech score --list LIST.tsv                 score FILE<TAB>TEXT lines (one JSON object per line, in order)
  jnedu speech eval DIR                              Pearson correlation with the human scores of a data set
  jnedu speech fit DIR -o FILE                       fit the scoring model on a data set (5-fold CV by speaker)
  jnedu speech child                                 score framed requests from stdin (started by serve and worker speech)`

// newSpeechScorer starts the recognizer and the scorer; the caller closes
// the engine.
func newSpeechScorer(modelFile string, decoders int) (*speech.Scorer, *sphinx.Engine, error) {
	return newSpeechScorerOpt(modelFile, decoders, false)
}

func newSpeechScorerOpt(modelFile string, decoders int, measureOnly bool) (*speech.Scorer, *sphinx.Engine, error) {
	eng, err := sphinx.New(sphinx.Config{Decoders: decoders})
	if err != nil {
		return nil, nil, err
	}
	var m *speech.Model
	if modelFile != "" {
		f, err := os.Open(modelFile)
		if err != nil {
			eng.Close()
			return nil, nil, err
		}
		m, err = speech.ReadModel(f)
		f.Close()
		if err != nil {
			eng.Close()
			return nil, nil, err
		}
	}
	sc, err := speech.NewScorer(eng, speech.Options{Model: m, MeasureOnly: measureOnly})
	if err != nil {
		eng.Close()
		return nil, nil, err
	}
	return sc, eng, nil
}

func cmdSpeech(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return errors.New(speechUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("jnedu speech "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelFile := fs.String("model", "", "scoring model file (default: the one built in)")
	workers := fs.Int("workers", runtime.NumCPU(), "recordings scored at once")
	switch sub {
	case "score":
		text := fs.String("text", "", "reference text of a read-aloud item")
		list := fs.String("list", "", "file of FILE<TAB>TEXT lines")
		expected := fs.Float64("expected", 0, "expected answer length in seconds (longer audio is cut and flagged)")
		fp := fs.Bool("fingerprint", false, "include each recording's audio fingerprint (for finding copies)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		return speechScore(ctx, *text, *list, *expected, *fp, fs.Args(), *modelFile, *workers, stdout, stderr)
	case "eval":
		cache := fs.String("cache", "", "feature cache file (reused when the engine is the same)")
		if err := parseInterleaved(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return errors.New(speechUsage)
		}
		return speechEval(ctx, fs.Arg(0), *modelFile, *cache, *workers, stdout, stderr)
	case "fit":
		out := fs.String("o", "", "model file to write (required)")
		version := fs.String("version", "", "model version (default readaloud-YYYYMMDD)")
		cache := fs.String("cache", "", "feature cache file (reused when the engine is the same)")
		if err := parseInterleaved(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 || *out == "" {
			return errors.New(speechUsage)
		}
		return speechFit(ctx, fs.Arg(0), *out, *version, *cache, *workers, stdout, stderr)
	case "child":
		if err := fs.Parse(args); err != nil {
			return err
		}
		sc, eng, err := newSpeechScorer(*modelFile, 1)
		if err != nil {
			return err
		}
		defer eng.Close()
		return speech.ServeChild(ctx, os.Stdin, stdout, sc, nil)
	default:
		return errors.New(speechUsage)
	}
}

// newSpeechBackend is the scoring of serve and `worker speech`: in child
// processes of this executable (`jnedu speech child`, size at once), so
// that a crash inside the C recognizer ends a child and fails one answer,
// not the center. A test binary is not jnedu and cannot be started as a
// child: it scores in its own process.
func newSpeechBackend(size int, log *slog.Logger) (speech.Backend, error) {
	if testing.Testing() {
		sc, _, err := newSpeechScorer("", size)
		return sc, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return speech.NewChildPool(func() *exec.Cmd { return exec.Command(exe, "speech", "child") }, size, log)
}

// parseInterleaved parses flags that may come after the positional
// argument ("fit DIR -o FILE").
func parseInterleaved(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(pos)
}

func speechScore(ctx context.Context, text, list string, expected float64, withFP bool, files []string, modelFile string, workers int, stdout, stderr io.Writer) error {
	type job struct{ file, text string }
	var todo []job
	switch {
	case list != "" && text == "" && len(files) == 0:
		f, err := os.Open(list)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		n := 0
		for sc.Scan() {
			n++
			line := strings.TrimRight(sc.Text(), "\r")
			if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
				continue
			}
			file, txt, ok := strings.Cut(line, "\t")
			if !ok {
				f.Close()
				return fmt.Errorf("%s line %d: want FILE<TAB>TEXT", list, n)
			}
			if !filepath.IsAbs(file) {
				file = filepath.Join(filepath.Dir(list), file)
			}
			todo = append(todo, job{file, txt})
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return err
		}
	case list == "" && text != "" && len(files) == 1:
		todo = []job{{files[0], text}}
	default:
		return errors.New(speechUsage)
	}
	workers = max(1, min(workers, len(todo)))
	sc, eng, err := newSpeechScorer(modelFile, workers)
	if err != nil {
		return err
	}
	defer eng.Close()
	// Workers score in any order; lines are printed in input order.
	type done struct {
		line []byte
		err  error
	}
	results := make([]chan done, len(todo))
	for i := range results {
		results[i] = make(chan done, 1)
	}
	next := make(chan int)
	for w := 0; w < workers; w++ {
		go func() {
			for i := range next {
				r, err := sc.ScoreFile(ctx, todo[i].file, speech.Request{Kind: speech.ReadAloud, ReferenceText: todo[i].text, ExpectedSeconds: expected})
				if err != nil {
					results[i] <- done{err: fmt.Errorf("%s: %w", todo[i].file, err)}
					continue
				}
				if !withFP {
					r.Fingerprint = ""
				}
				b, err := json.Marshal(speechLine{File: todo[i].file, Result: r})
				results[i] <- done{line: b, err: err}
			}
		}()
	}
	go func() {
		defer close(next)
		for i := range todo {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	failed := 0
	for i := range todo {
		var d done
		select {
		case d = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if d.err != nil {
			failed++
			fmt.Fprintln(stderr, d.err)
			// Keep one line per input line.
			b, _ := json.Marshal(map[string]string{"file": todo[i].file, "error": d.err.Error()})
			d.line = b
		}
		stdout.Write(append(d.line, '\n')) //nolint:errcheck
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d recordings could not be scored", failed, len(todo))
	}
	return nil
}

// speechLine is one output line: the file and its result's fields.
type speechLine struct {
	File string `json:"file"`
	speech.Result
}

func loadMeasured(ctx context.Context, dir, modelFile, cache string, workers int, measureOnly bool, stderr io.Writer) (*speech.Scorer, *sphinx.Engine, []speech.Item, []speech.Measured, error) {
	items, err := speech.LoadDataset(dir)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	sc, eng, err := newSpeechScorerOpt(modelFile, workers, measureOnly)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	start := time.Now()
	ms := sc.MeasureCache(ctx, items, workers, cache)
	failed := 0
	for i, m := range ms {
		if m.Err != nil {
			failed++
			fmt.Fprintf(stderr, "%s: %v\n", items[i].ID, m.Err)
		}
	}
	fmt.Fprintf(stderr, "measured %d recordings in %s (%d failed)\n", len(items), time.Since(start).Round(time.Second), failed)
	return sc, eng, items, ms, ctx.Err()
}

func speechEval(ctx context.Context, dir, modelFile, cache string, workers int, stdout, stderr io.Writer) error {
	sc, eng, items, ms, err := loadMeasured(ctx, dir, modelFile, cache, workers, false, stderr)
	if err != nil {
		return err
	}
	defer eng.Close()
	ev, err := sc.Evaluate(dir, items, ms)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "data: %s (%d recordings, %d speakers)\nengine: %s, scoring model %s\n", dir, ev.N, ev.Speakers, eng.Info().Model, ev.Model)
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASURE\tPCC 5-FOLD CV BY SPEAKER\tPCC FIXED MODEL")
	for _, m := range speech.Measures {
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\n", m, ev.CV[m], ev.Fixed[m])
	}
	tw.Flush()
	fmt.Fprintf(stdout, "word accuracy: CV %.3f, fixed model %.3f (%d words)\n", ev.WordCV, ev.WordFixed, ev.Words)
	fmt.Fprintln(stdout, "CV: a model refitted on this data 5 times, each time predicting the speakers it did not see.")
	if ev.SameData {
		fmt.Fprintln(stdout, "fixed model: WAS FITTED ON THIS DATA, so its column is optimistic; quote the CV column.")
	} else {
		fmt.Fprintln(stdout, "fixed model: not fitted on this data, so its column is a fair test of it.")
	}
	return nil
}

func speechFit(ctx context.Context, dir, out, version, cache string, workers int, stdout, stderr io.Writer) error {
	_, eng, items, ms, err := loadMeasured(ctx, dir, "", cache, workers, true, stderr)
	if err != nil {
		return err
	}
	defer eng.Close()
	if version == "" {
		version = "readaloud-" + time.Now().UTC().Format("20060102")
	}
	m, rep, err := speech.Fit(speech.FitSetOf(filepath.Base(filepath.Clean(dir)), items, ms), version, eng.Info().Model)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (model %s, %d recordings, %d words)\n", out, version, m.Fitted.N, m.Fitted.Words)
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASURE\tPCC 5-FOLD CV BY SPEAKER")
	for _, meas := range speech.Measures {
		fmt.Fprintf(tw, "%s\t%.3f\n", meas, rep.PCC[meas])
	}
	fmt.Fprintf(tw, "word accuracy\t%.3f\n", m.Fitted.WordCV)
	tw.Flush()
	return nil
}

// cmdWorker runs background workers against the configured database
// without the web server: `jnedu worker speech`.
func cmdWorker(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const usage = "usage: jnedu worker speech [-concurrency N]"
	if len(args) == 0 || args[0] != "speech" {
		return errors.New(usage)
	}
	fs, cf := flags("worker speech", stderr)
	conc := fs.Int("concurrency", runtime.NumCPU(), "answers scored at once")
	a, err := loadApp(ctx, fs, cf, args[1:], getenv, false)
	if err != nil {
		return err
	}
	defer a.DB.Close()
	q := jobs.New(a.DB, jobs.Options{Logger: a.Log})
	svc := speech.NewService(a.DB, a.Blobs, a.Bus, q, func() (speech.Backend, error) {
		return newSpeechBackend(*conc, a.Log)
	}, a.Log)
	svc.HandleJobs(*conc)
	fmt.Fprintf(stdout, "jnedu %s speech worker: %d at once on %s\n", Version, *conc, a.DB)
	err = q.Run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
