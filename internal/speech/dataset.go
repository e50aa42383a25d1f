package speech

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// Measures are the human scores a model predicts, in order.
var Measures = []string{"accuracy", "fluency", "prosodic", "total", "completeness"}

// Item is one scored utterance of a data set laid out like speechocean762:
// DIR/scores.jsonl (one JSON object per line: id, text, and the human
// medians per measure) and DIR/audio/ID.flac (or .wav).
type Item struct {
	ID      string
	Speaker string // the first five digits of the ID in speechocean762
	Text    string
	Path    string
	Human   map[string]float64
	// HumanWords are the human word accuracies, in text order (may be
	// empty).
	HumanWords []float64
}

// LoadDataset reads a data set folder.
func LoadDataset(dir string) ([]Item, error) {
	f, err := os.Open(filepath.Join(dir, "scores.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("speech: data set: %w", err)
	}
	defer f.Close()
	var items []Item
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return nil, fmt.Errorf("speech: scores.jsonl line %d: %w", line, err)
		}
		id, _ := raw["id"].(string)
		text, _ := raw["text"].(string)
		if id == "" || text == "" {
			return nil, fmt.Errorf("speech: scores.jsonl line %d: id and text are required", line)
		}
		it := Item{ID: id, Text: text, Human: map[string]float64{}}
		if s, ok := raw["speaker"].(string); ok && s != "" {
			it.Speaker = s
		} else if len(id) >= 5 {
			it.Speaker = id[:5]
		} else {
			it.Speaker = id
		}
		for _, m := range Measures {
			if v, ok := raw[m].(float64); ok {
				it.Human[m] = v
			}
		}
		if ws, ok := raw["words"].([]any); ok {
			for _, w := range ws {
				if m, ok := w.(map[string]any); ok {
					if v, ok := m["accuracy"].(float64); ok {
						it.HumanWords = append(it.HumanWords, v)
					}
				}
			}
		}
		for _, ext := range []string{".flac", ".wav", ".mp3", ".ogg", ".webm", ".opus"} {
			p := filepath.Join(dir, "audio", id+ext)
			if _, err := os.Stat(p); err == nil {
				it.Path = p
				break
			}
		}
		if it.Path == "" {
			return nil, fmt.Errorf("speech: no audio for %s in %s", id, filepath.Join(dir, "audio"))
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errors.New("speech: the data set is empty")
	}
	return items, nil
}

// Measured is one item's features (Err set when it could not be measured).
type Measured struct {
	Features Features
	Words    [][]float64 // per reference word, wordFeatures
	Err      error
}

// MeasureAll extracts the features of every item, workers at a time
// (0: GOMAXPROCS), keeping the input order.
func (s *Scorer) MeasureAll(ctx context.Context, items []Item, workers int) []Measured {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	out := make([]Measured, len(items))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				a, _, err := s.readAloudFile(ctx, items[i].Path, items[i].Text)
				if err == nil && a == nil {
					err = errors.New("no speech to measure")
				}
				if err != nil {
					out[i].Err = err
					continue
				}
				out[i].Features = a.Features
				for _, w := range a.Words {
					out[i].Words = append(out[i].Words, wordFeatures(w))
				}
			}
		}()
	}
	for i := range items {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}
