// Command speech measures the speed of read-aloud scoring, end to end
// (reading and decoding the file, alignment, features, model), against
// baselines measured in the same run on the same recordings: ffmpeg
// decoding alone, and the bare PocketSphinx forced alignment alone.
//
//	go run ./bench/speech [-n 100] [-dir ../shared/data/speechocean762-sample]
//
// It prints xRT (processing time ÷ audio time; lower is faster) per core,
// from the process's CPU time, and the wall-clock throughput with all cores.
//
//	go run ./bench/speech -open [-cache DIR] [-items cold,bike] [-v]
//
// measures the key points of open answers instead (internal/speech/openset),
// and
//
//	go run ./bench/speech -child [-n 40]
//
// what scoring in a child process costs per answer.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"jnedu/internal/speech"
	"jnedu/internal/speech/sphinx"
)

func cpu() time.Duration {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	return time.Duration(self.Utime.Nano() + self.Stime.Nano() + kids.Utime.Nano() + kids.Stime.Nano())
}

func main() {
	dir := flag.String("dir", "../shared/data/speechocean762-sample", "data set folder (scores.jsonl + audio/)")
	n := flag.Int("n", 100, "recordings to score")
	open := flag.Bool("open", false, "measure the key points of open answers on the openset answers instead")
	cache := flag.String("cache", "", "with -open: folder keeping the synthesized answers")
	only := flag.String("items", "", "with -open: comma-separated item IDs (default all)")
	verbose := flag.Bool("v", false, "with -open: one line per answer")
	child := flag.Bool("child", false, "measure the cost of scoring in a child process against scoring in this one")
	serve := flag.Bool("serve-child", false, "be a scoring child (used by -child)")
	afterOnly := flag.Bool("after", false, "with -open: only the key-point detection in force, not the baseline")
	flag.Parse()
	ctx := context.Background()
	if *serve {
		serveChild(ctx)
		return
	}
	if *open {
		runOpen(ctx, *cache, *only, *verbose, *afterOnly)
		return
	}
	items, err := speech.LoadDataset(*dir)
	if err != nil {
		fail(err)
	}
	if *n < len(items) {
		step := len(items) / *n
		var sub []speech.Item
		for i := 0; i < len(items) && len(sub) < *n; i += step {
			sub = append(sub, items[i])
		}
		items = sub
	}
	files := make([][]byte, len(items))
	for i, it := range items {
		if files[i], err = os.ReadFile(it.Path); err != nil {
			fail(err)
		}
	}
	if *child {
		runChild(ctx, items, files)
		return
	}
	eng, sc := newScorer(runtime.NumCPU())
	defer eng.Close()
	req := func(i int) speech.Request {
		return speech.Request{Kind: speech.ReadAloud, ReferenceText: items[i].Text}
	}
	// Warm up: one decoder per core, page cache.
	sc.Score(ctx, bytes.NewReader(files[0]), req(0)) //nolint:errcheck

	var audio time.Duration
	pcms := make([][]int16, len(items))
	for i := range files {
		a, err := speech.Decoder{}.DecodeBytes(ctx, files[i])
		if err != nil {
			fail(fmt.Errorf("%s: %w", items[i].ID, err))
		}
		pcms[i] = a.PCM
		audio += a.Duration()
	}
	xrt := func(d time.Duration) float64 { return d.Seconds() / audio.Seconds() }

	// Baseline 1: ffmpeg decoding each file to 16 kHz PCM, nothing else.
	c := cpu()
	for _, it := range items {
		cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-i", it.Path, "-ac", "1", "-ar", "16000", "-f", "s16le", "-")
		cmd.Stdout = new(bytes.Buffer)
		if err := cmd.Run(); err != nil {
			fail(err)
		}
	}
	ffmpegCPU := cpu() - c

	// Baseline 2: bare PocketSphinx forced alignment of decoded samples.
	c = cpu()
	for i := range items {
		if _, err := eng.Align(ctx, pcms[i], speech.AlignWords(items[i].Text, eng)); err != nil {
			fail(err)
		}
	}
	alignCPU := cpu() - c

	// End to end, one at a time: CPU per core.
	c = cpu()
	start := time.Now()
	for i := range files {
		if _, err := sc.Score(ctx, bytes.NewReader(files[i]), req(i)); err != nil {
			fail(err)
		}
	}
	scoreCPU, scoreWall := cpu()-c, time.Since(start)

	// End to end on all cores.
	start = time.Now()
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				sc.Score(ctx, bytes.NewReader(files[i]), req(i)) //nolint:errcheck
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	parWall := time.Since(start)

	fmt.Printf("recordings %d, audio %.1f s, %d cores, %s\n", len(items), audio.Seconds(), runtime.NumCPU(), eng.Info().Model)
	fmt.Printf("%-44s %8s %10s\n", "step (CPU time)", "xRT", "× realtime")
	row := func(name string, d time.Duration) {
		fmt.Printf("%-44s %8.4f %10.1f\n", name, xrt(d), 1/xrt(d))
	}
	row("baseline: ffmpeg decode only", ffmpegCPU)
	row("baseline: bare PocketSphinx alignment", alignCPU)
	row("read-aloud scoring, end to end, per core", scoreCPU)
	fmt.Printf("end to end ÷ bare alignment: %.2f; end to end ÷ ffmpeg decode: %.2f\n", scoreCPU.Seconds()/alignCPU.Seconds(), scoreCPU.Seconds()/ffmpegCPU.Seconds())
	fmt.Printf("wall clock: one at a time %.1f× realtime; %d at once %.1f× realtime\n",
		audio.Seconds()/scoreWall.Seconds(), runtime.NumCPU(), audio.Seconds()/parWall.Seconds())
}

// newScorer is a PocketSphinx engine with decoders decoders and the
// scorer on it.
func newScorer(decoders int) (*sphinx.Engine, *speech.Scorer) {
	eng, err := sphinx.New(sphinx.Config{Decoders: decoders})
	if err != nil {
		fail(err)
	}
	sc, err := speech.NewScorer(eng, speech.Options{})
	if err != nil {
		fail(err)
	}
	return eng, sc
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/speech:", err)
	os.Exit(1)
}
