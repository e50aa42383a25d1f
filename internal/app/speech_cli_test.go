package app

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// speak writes a 16 kHz WAV of espeak-ng saying text.
func speak(t *testing.T, dir, name, text string) string {
	t.Helper()
	raw, out := filepath.Join(dir, name+".raw.wav"), filepath.Join(dir, name+".wav")
	for _, c := range [][]string{{"espeak-ng", "-v", "en-us", "-w", raw, text}, {"sox", raw, "-r", "16000", "-c", "1", out}} {
		if b, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, b)
		}
	}
	return out
}

func TestSpeechScoreCommand(t *testing.T) {
	dir := t.TempDir()
	const ref = "Mandy has a big arm and a small dog"
	good := speak(t, dir, "good", ref)
	other := speak(t, dir, "other", "Seven green bottles hang on the wall")

	out, errOut, code := run(t, nil, "speech", "score", "--text", ref, good)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r struct {
		Words []struct {
			Text       string
			Start, End float64
		} `json:"words"`
		Flags  []string          `json:"flags"`
		Engine map[string]string `json:"engine"`
	}
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("score printed %d lines, want one JSON object", strings.Count(out, "\n"))
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	var fields map[string]any
	json.Unmarshal([]byte(out), &fields) //nolint:errcheck
	for _, k := range []string{"accuracy", "fluency", "prosodic", "total", "completeness", "words", "flags", "duration_s", "engine"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("output lacks %q: %s", k, out)
		}
	}
	if len(r.Words) != 9 || r.Engine["name"] == "" || r.Engine["scoring_model"] == "" {
		t.Errorf("words %d (want 9), engine %v", len(r.Words), r.Engine)
	}

	// A list: one line per input line, in input order.
	list := filepath.Join(dir, "list.tsv")
	body := filepath.Base(other) + "\t" + ref + "\n" + good + "\t" + ref + "\n" + filepath.Base(other) + "\t" + ref + "\n"
	if err := os.WriteFile(list, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = run(t, nil, "speech", "score", "--list", list, "--workers", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), out)
	}
	var totals []float64
	for i, want := range []string{other, good, other} {
		var l struct {
			File  string  `json:"file"`
			Total float64 `json:"total"`
			Flags []string
		}
		if err := json.Unmarshal([]byte(lines[i]), &l); err != nil {
			t.Fatal(err)
		}
		if l.File != want {
			t.Errorf("line %d is %s, want %s", i+1, l.File, want)
		}
		totals = append(totals, l.Total)
	}
	if totals[1] <= totals[0] || totals[0] != totals[2] {
		t.Errorf("totals %v: the right text should score highest, the same file the same", totals)
	}

	if _, _, code := run(t, nil, "speech", "score", "--text", ref); code == 0 {
		t.Error("score without a file succeeded")
	}
}
