// Command examfixture writes a small exam site package folder (a generated
// paper sealed with a fresh key, candidates, proctors) for the browser
// walk-through of the site node, and prints what the test needs (the sealed
// code, admission numbers, the proctors' password) as JSON.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/site/sitefixture"
)

func main() {
	out := flag.String("out", "", "folder to write")
	siteCode := flag.String("site", "E-T01", "site code")
	cands := flag.Int("candidates", 4, "candidates")
	answer := flag.Int("answer-sec", 4, "answer time of each spoken item")
	prep := flag.Int("prep-sec", 1, "preparation time of each spoken item")
	spoken := flag.Int("spoken", 2, "spoken items")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: examfixture -out DIR")
		os.Exit(2)
	}
	fx, err := sitefixture.Build(sitefixture.Options{Site: *siteCode, Candidates: *cands, AnswerSec: *answer, PrepSec: *prep, Spoken: *spoken})
	if err == nil {
		err = fx.WriteFolder(*out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"site": *siteCode, "session": fx.Package.Sessions[0].Code, "room": "01",
		"code": bundle.SealedCode(fx.Key), "numbers": fx.Numbers, "password": "proctor-pass-1",
		"items": len(fx.Paper.Items()),
	})
}
