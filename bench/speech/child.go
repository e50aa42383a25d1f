package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"jnedu/internal/speech"
)

// serveChild makes this program a scoring child (for -child).
func serveChild(ctx context.Context) {
	_, sc := newScorer(1)
	if err := speech.ServeChild(ctx, os.Stdin, os.Stdout, sc, nil); err != nil {
		fail(err)
	}
}

// runChild measures what scoring in a child process adds per answer: the
// same recordings, one at a time, scored in this process and through a
// ChildPool of one child, alternately, by the wall clock.
func runChild(ctx context.Context, items []speech.Item, files [][]byte) {
	eng, sc := newScorer(1)
	defer eng.Close()
	exe, err := os.Executable()
	if err != nil {
		fail(err)
	}
	startAt := time.Now()
	pool, err := speech.NewChildPool(func() *exec.Cmd { return exec.Command(exe, "-serve-child") }, 1, nil)
	if err != nil {
		fail(err)
	}
	start := time.Since(startAt)
	defer pool.Close()
	var backends = []speech.Backend{sc, pool}
	var wall [2]time.Duration
	var audio time.Duration
	for i := range files {
		req := speech.Request{Kind: speech.ReadAloud, ReferenceText: items[i].Text}
		var totals [2]float64
		for k := range 2 {
			b := backends[(i+k)%2] // alternate which goes first
			t0 := time.Now()
			r, err := b.Score(ctx, bytes.NewReader(files[i]), req)
			if err != nil {
				fail(err)
			}
			wall[(i+k)%2] += time.Since(t0)
			totals[(i+k)%2] = r.Total
			if k == 0 {
				audio += time.Duration(r.DurationS * float64(time.Second))
			}
		}
		if totals[0] != totals[1] {
			fail(fmt.Errorf("%s: total %.2f in this process, %.2f in a child", items[i].ID, totals[0], totals[1]))
		}
	}
	n := time.Duration(len(files))
	fmt.Printf("recordings %d, audio %.1f s, one at a time; a child starts (model loaded) in %s\n", len(files), audio.Seconds(), start.Round(time.Millisecond))
	fmt.Printf("in this process   %7.1f ms per answer\n", float64(wall[0]/n)/1e6)
	fmt.Printf("in a child        %7.1f ms per answer\n", float64(wall[1]/n)/1e6)
	fmt.Printf("child ÷ in-process %.3f; added %.1f ms per answer\n", float64(wall[1])/float64(wall[0]), float64((wall[1]-wall[0])/n)/1e6)
}
