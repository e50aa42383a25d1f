package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/marking"
	"jnedu/internal/exam/paper"
	"jnedu/internal/platform/db"
	"jnedu/internal/speech/sphinx"
)

// spoken makes a 16 kHz mono WAV of espeak-ng saying text.
func spoken(t *testing.T, text string) []byte { return voiced(t, "en-us", "150", text) }

// needModel fails the test when the PocketSphinx model is missing.
func needModel(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(sphinx.DefaultModelDir); err != nil {
		t.Fatalf("the PocketSphinx model is not installed (%v): run ./scripts/test as root once, or apt-get install pocketsphinx-en-us", err)
	}
}

// TestExamMachineScores takes in an answer package whose read-aloud
// recordings go through the speech scorer's queue and come back to
// marking: the candidate who read the text scores higher than the one who
// said something else, whose answer is flagged and sent to human markers.
func TestExamMachineScores(t *testing.T) {
	needModel(t)
	right, wrong := spoken(t, "Mandy has a big arm."), spoken(t, "The weather is very cold today.")
	engines(t, func(t *testing.T, d *db.DB) {
		ta := newTestApp(t, d, true)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s1, _ := ta.Identity.OrgByCode(ctx, "S-JN01")
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		ta.Marking.SetCatalog(&examCatalog{pub: pub,
			paper: paper.Paper{Code: "ZK-A", Title: "A卷", Variant: "A", Sections: []paper.Section{{Title: "朗读短文", Items: []paper.Item{
				{ID: "r1", Type: paper.ReadAloud, Points: 5, PrepSec: 10, AnswerSec: 20, Prompt: paper.Prompt{Text: "Mandy has a big arm."},
					Rubric: paper.Rubric{ReferenceText: "Mandy has a big arm."}}}}}},
			cands: map[string]marking.Candidate{
				"2027000101": {Number: "2027000101", Name: "甲", School: "济南第一中学", SchoolOrgID: s1.ID, Site: "E-LW01", Session: "S1", Variant: "A"},
				"2027000102": {Number: "2027000102", Name: "乙", School: "济南第一中学", SchoolOrgID: s1.ID, Site: "E-LW01", Session: "S1", Variant: "A"},
			}})
		site, bearer := siteNode(t, ta)
		sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
		m := bundle.AnswerManifest{Exam: "2027-ZK", Site: "E-LW01", Session: "S1", Candidates: []bundle.CandidateResult{
			{Number: "2027000101", Status: bundle.StatusFinished, Variant: "A", Room: "01", Seat: 1, Answers: []bundle.Answer{{Item: "r1", Recording: sum(right), Bytes: int64(len(right))}}},
			{Number: "2027000102", Status: bundle.StatusFinished, Variant: "A", Room: "01", Seat: 2, Answers: []bundle.Answer{{Item: "r1", Recording: sum(wrong), Bytes: int64(len(wrong))}}},
		}}
		for _, b := range [][]byte{right, wrong} {
			if resp := site.do("PUT", "/api/v1/exam/site/E-LW01/answers/S1/files/"+sum(b), "audio/wav", string(b), bearer); resp.StatusCode != 200 {
				t.Fatalf("recording: status %d", resp.StatusCode)
			}
		}
		signed, _ := bundle.Sign(priv, &m)
		body, _ := json.Marshal(signed)
		var rc marking.Receipt
		resp := site.do("POST", "/api/v1/exam/site/E-LW01/answers/S1/manifest", "application/json", string(body), bearer)
		json.NewDecoder(resp.Body).Decode(&rc)
		if resp.StatusCode != 200 || !rc.Complete {
			t.Fatalf("manifest: %d %+v", resp.StatusCode, rc)
		}

		go ta.Jobs.Run(ctx)
		go ta.Bus.Run(ctx)
		type row struct {
			score       float64
			flags, stge string
		}
		got := map[string]row{}
		deadline := time.Now().Add(3 * time.Minute)
		for len(got) < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("machine scores did not arrive: %v", got)
			}
			time.Sleep(200 * time.Millisecond)
			rows, err := d.Query(ctx, `SELECT number, machine_score, machine_flags, stage FROM exam_marking_answers
				WHERE item = 'r1' AND machine_score IS NOT NULL`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var n string
				var r row
				if err := rows.Scan(&n, &r.score, &r.flags, &r.stge); err != nil {
					t.Fatal(err)
				}
				got[n] = r
			}
			rows.Close()
		}
		a, b := got["2027000101"], got["2027000102"]
		t.Logf("read the text: %.2f %q %s; said something else: %.2f %q %s", a.score, a.flags, a.stge, b.score, b.flags, b.stge)
		if a.score <= b.score || a.score < 2.5 {
			t.Errorf("the reading scored %.2f of 5, the wrong sentence %.2f: want the reading clearly higher", a.score, b.score)
		}
		if !strings.Contains(b.flags, "wrong_text") || b.stge != marking.StageHuman {
			t.Errorf("the wrong sentence: flags %q, stage %s; want wrong_text and human marking", b.flags, b.stge)
		}
	})
}
