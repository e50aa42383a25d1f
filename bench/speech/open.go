package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"jnedu/internal/speech"
	"jnedu/internal/speech/openset"
	"jnedu/internal/speech/sphinx"
)

// runOpen measures the key points of open answers on the openset answers:
// recall, precision and points against the expected, for the previous
// key-point decision (baseline) and the detection in force, in the same
// run on the same recordings.
func runOpen(ctx context.Context, cacheDir, only string, verbose, afterOnly bool) {
	items := openset.Items()
	var answers []openset.Answer
	for _, a := range openset.Answers(items) {
		if only == "" || slices.Contains(strings.Split(only, ","), items[a.Item].ID) {
			answers = append(answers, a)
		}
	}
	audio := make([][]byte, len(answers))
	var audioLen time.Duration
	for i, a := range answers {
		b, err := openset.Audio(ctx, cacheDir, a)
		if err != nil {
			fail(err)
		}
		audio[i] = b
		au, err := speech.Decoder{}.DecodeBytes(ctx, b)
		if err != nil {
			fail(err)
		}
		audioLen += au.Duration()
	}
	eng, err := sphinx.New(sphinx.Config{Decoders: runtime.NumCPU()})
	if err != nil {
		fail(err)
	}
	defer eng.Close()
	methods := []struct {
		name   string
		legacy bool
	}{{"before: loop grammar + reference alignment", true}, {"after: the same, then per-key-point detection", false}}
	if afterOnly {
		methods = methods[1:]
	}
	results := make([][]speech.Result, len(methods))
	cpus := make([]time.Duration, len(methods))
	for mi, m := range methods {
		sc, err := speech.NewScorer(eng, speech.Options{LegacyKeyPoints: m.legacy})
		if err != nil {
			fail(err)
		}
		results[mi] = make([]speech.Result, len(answers))
		next := make(chan int)
		var wg sync.WaitGroup
		c0 := cpu()
		for range runtime.NumCPU() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					r, err := sc.Score(ctx, bytes.NewReader(audio[i]), items[answers[i].Item].Request())
					if err != nil {
						fail(fmt.Errorf("%s: %w", answers[i].Name(items), err))
					}
					results[mi][i] = r
				}
			}()
		}
		for i := range answers {
			next <- i
		}
		close(next)
		wg.Wait()
		cpus[mi] = cpu() - c0
	}
	if verbose {
		for i, a := range answers {
			fmt.Printf("%-40s exp %.0f", a.Name(items), a.Expected(items))
			for mi := range methods {
				r := results[mi][i]
				var found []string
				for k, kp := range r.KeyPoints {
					if kp.Found {
						found = append(found, fmt.Sprint(k+1))
					}
				}
				fmt.Printf(" | %.1f [%s]", r.Points, strings.Join(found, ","))
			}
			fmt.Println()
			for k, kp := range results[len(methods)-1][i].KeyPoints {
				fmt.Printf("  kp %s/%d said=%v found=%v score=%.2f heard=%q\n", items[a.Item].ID, k+1, a.Expect[k], kp.Found, kp.Score, kp.Heard)
			}
		}
	}
	fmt.Printf("answers %d (%d items), audio %.0f s, %s\n", len(answers), len(items), audioLen.Seconds(), eng.Info().Model)
	for mi, m := range methods {
		fmt.Printf("\n%s (CPU %.3f xRT)\n", m.name, cpus[mi].Seconds()/audioLen.Seconds())
		tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "answers\tn\trecall\tprecision\tpoints/expected\tmean |points−expected|\texact")
		kinds := []string{openset.Full, openset.Own, openset.Paraphrase, openset.Partial, openset.OffTopic, openset.Question, openset.Silence, openset.Noise, "all"}
		for _, k := range kinds {
			var t openset.Tally
			for i, a := range answers {
				if a.Kind == k || k == "all" {
					t.Add(a, items, results[mi][i])
				}
			}
			if t.Answers == 0 {
				continue
			}
			rec, prec := "–", "–"
			if t.TP+t.FN > 0 {
				rec = fmt.Sprintf("%.2f", t.Recall())
			}
			if t.TP+t.FP > 0 {
				prec = fmt.Sprintf("%.2f", t.Precision())
			}
			pe := fmt.Sprintf("%.1f/%.0f", t.Points, t.Expected)
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%.2f\t%d\n", k, t.Answers, rec, prec, pe, t.AbsErr/float64(t.Answers), t.Exact)
		}
		tw.Flush()
	}
}
