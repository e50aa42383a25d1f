// Package paper is the vocabulary of an English listening-and-speaking exam
// paper (试卷): sections, items of the common types, prompts, timings,
// points and rubrics. It is pure data with validation: the center authors
// papers with it, the site node plays them to candidates, marking scores
// against it. A paper travels between them as JSON.
package paper

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// ItemType is the kind of an exam item.
type ItemType string

const (
	// ListenChoose is 听后选择: listen, then choose an option (objective, auto-scored).
	ListenChoose ItemType = "listen_choose"
	// ListenAnswer is 听后回答: listen, then answer aloud.
	ListenAnswer ItemType = "listen_answer"
	// Imitate is 模仿朗读: listen to a model reading, then read it aloud.
	Imitate ItemType = "imitate"
	// ReadAloud is 朗读短文: read a passage aloud after preparation.
	ReadAloud ItemType = "read_aloud"
	// Situational is 情景问答: answer questions in a described situation.
	Situational ItemType = "situational"
	// Retell is 信息转述: retell what was heard.
	Retell ItemType = "retell"
	// Topic is 话题简述: a short talk on a topic.
	Topic ItemType = "topic"
)

// ItemTypes lists the types in the order papers usually present them.
var ItemTypes = []ItemType{ListenChoose, ListenAnswer, Imitate, ReadAloud, Situational, Retell, Topic}

// Valid reports whether t is known.
func (t ItemType) Valid() bool {
	for _, k := range ItemTypes {
		if k == t {
			return true
		}
	}
	return false
}

// Spoken reports whether the candidate answers by speaking (and a
// recording is kept), as opposed to choosing an option.
func (t ItemType) Spoken() bool { return t != ListenChoose }

// ReadsText reports whether the answer is a reading of a known text, scored
// as read-aloud; the other spoken types are open answers scored against
// reference answers and key points.
func (t ItemType) ReadsText() bool { return t == Imitate || t == ReadAloud }

// Paper is one exam paper (one version of it: A, B, … or the spare).
type Paper struct {
	Code     string    `json:"code"`     // stable code, e.g. "2027-ZK-A"
	Title    string    `json:"title"`    // 2027年济南市初中英语听说考试 A卷
	Variant  string    `json:"variant"`  // "A", "B", …; "S" for the spare (备用卷)
	Intro    Prompt    `json:"intro"`    // instructions played before the first section
	Sections []Section `json:"sections"` // in order
}

// Section groups items of one type with shared instructions.
type Section struct {
	Title string `json:"title"` // 第一节 听后选择
	Intro Prompt `json:"intro"` // section instructions
	Items []Item `json:"items"`
	// NoBack forbids going back to an earlier item of this section (the
	// usual rule for timed spoken items). Objective sections may allow it.
	NoBack bool `json:"no_back"`
}

// Item is one question.
type Item struct {
	ID     string   `json:"id"`     // unique in the paper, stable across edits: "s2i3"
	Type   ItemType `json:"type"`   //
	Prompt Prompt   `json:"prompt"` // what the candidate hears, reads and sees
	// Plays is how many times the prompt audio is played (usually 1 or 2).
	Plays     int     `json:"plays"`
	PrepSec   int     `json:"prep_sec"`   // preparation time (seconds) before answering
	AnswerSec int     `json:"answer_sec"` // answer (recording) time in seconds
	Points    float64 `json:"points"`     // full marks of the item
	// Options and Answer are for ListenChoose: the options shown and the
	// index of the correct one.
	Options []string `json:"options,omitempty"`
	Answer  *int     `json:"answer,omitempty"`
	Rubric  Rubric   `json:"rubric"`
}

// Prompt is what is presented: audio, text and an image, each optional.
type Prompt struct {
	Text  string `json:"text,omitempty"`
	Audio string `json:"audio,omitempty"` // SHA-256 of the audio in the blob store
	// AudioText is the script of the audio (what the speaker says); drafts
	// without uploaded audio are synthesized from it.
	AudioText string `json:"audio_text,omitempty"`
	Image     string `json:"image,omitempty"` // SHA-256 of the image in the blob store
}

// Rubric says how a spoken answer is scored.
type Rubric struct {
	// ReferenceText is the text to be read (Imitate, ReadAloud).
	ReferenceText string `json:"reference_text,omitempty"`
	// ReferenceAnswers are model answers (open types).
	ReferenceAnswers []string `json:"reference_answers,omitempty"`
	// KeyPoints (采分点) are the points an answer must make.
	KeyPoints []KeyPoint `json:"key_points,omitempty"`
	// Notes guide human markers (评分细则).
	Notes string `json:"notes,omitempty"`
	// Tolerance is how far two human marks may differ before a third mark
	// is needed; 0 means the exam's default.
	Tolerance float64 `json:"tolerance,omitempty"`
}

// KeyPoint is one 采分点: a phrase (with accepted variants) worth points.
type KeyPoint struct {
	Text     string   `json:"text"`
	Variants []string `json:"variants,omitempty"`
	Points   float64  `json:"points"`
}

// Limits bound what a paper may hold.
const (
	MaxSections    = 20
	MaxItems       = 200
	MaxText        = 4000 // characters in one text field
	MaxOptions     = 8
	MaxKeyPoints   = 20
	MaxPrepSec     = 600
	MaxAnswerSec   = 600
	MaxPlays       = 3
	MaxItemPoints  = 100
	MaxPaperPoints = 1000
)

var (
	idRe   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	codeRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	hashRe = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Problem is one thing wrong with a paper, with where it is.
type Problem struct {
	Path string `json:"path"` // "sections[1].items[2].answer_sec"
	Key  string `json:"key"`  // message key (exam.paper.*) for people
	Arg  string `json:"arg,omitempty"`
}

func (p Problem) Error() string { return fmt.Sprintf("%s: %s %s", p.Path, p.Key, p.Arg) }

// Validate lists every problem of the paper (nil when there is none).
// A paper with problems can be saved as a draft but not published.
func (p *Paper) Validate() []Problem {
	var out []Problem
	add := func(path, key, arg string) { out = append(out, Problem{Path: path, Key: key, Arg: arg}) }
	text := func(path, s string) {
		if utf8.RuneCountInString(s) > MaxText {
			add(path, "exam.paper.too_long", fmt.Sprint(MaxText))
		}
	}
	prompt := func(path string, pr Prompt) {
		text(path+".text", pr.Text)
		text(path+".audio_text", pr.AudioText)
		if pr.Audio != "" && !hashRe.MatchString(pr.Audio) {
			add(path+".audio", "exam.paper.bad_hash", "")
		}
		if pr.Image != "" && !hashRe.MatchString(pr.Image) {
			add(path+".image", "exam.paper.bad_hash", "")
		}
	}
	if !codeRe.MatchString(p.Code) {
		add("code", "exam.paper.bad_code", "")
	}
	if strings.TrimSpace(p.Title) == "" {
		add("title", "exam.paper.required", "")
	}
	text("title", p.Title)
	prompt("intro", p.Intro)
	if len(p.Sections) == 0 {
		add("sections", "exam.paper.no_sections", "")
	}
	if len(p.Sections) > MaxSections {
		add("sections", "exam.paper.too_many", fmt.Sprint(MaxSections))
	}
	seen := map[string]bool{}
	items := 0
	total := 0.0
	for si, s := range p.Sections {
		sp := fmt.Sprintf("sections[%d]", si)
		if strings.TrimSpace(s.Title) == "" {
			add(sp+".title", "exam.paper.required", "")
		}
		text(sp+".title", s.Title)
		prompt(sp+".intro", s.Intro)
		if len(s.Items) == 0 {
			add(sp+".items", "exam.paper.no_items", "")
		}
		for ii, it := range s.Items {
			items++
			ip := fmt.Sprintf("%s.items[%d]", sp, ii)
			if !idRe.MatchString(it.ID) {
				add(ip+".id", "exam.paper.bad_id", "")
			} else if seen[it.ID] {
				add(ip+".id", "exam.paper.duplicate_id", it.ID)
			}
			seen[it.ID] = true
			if !it.Type.Valid() {
				add(ip+".type", "exam.paper.bad_type", string(it.Type))
				continue
			}
			prompt(ip+".prompt", it.Prompt)
			if it.Plays < 0 || it.Plays > MaxPlays {
				add(ip+".plays", "exam.paper.out_of_range", fmt.Sprintf("0–%d", MaxPlays))
			}
			if it.PrepSec < 0 || it.PrepSec > MaxPrepSec {
				add(ip+".prep_sec", "exam.paper.out_of_range", fmt.Sprintf("0–%d", MaxPrepSec))
			}
			if it.Points <= 0 || it.Points > MaxItemPoints {
				add(ip+".points", "exam.paper.out_of_range", fmt.Sprintf("0–%d", MaxItemPoints))
			}
			total += it.Points
			if it.Type == ListenChoose {
				if len(it.Options) < 2 || len(it.Options) > MaxOptions {
					add(ip+".options", "exam.paper.out_of_range", fmt.Sprintf("2–%d", MaxOptions))
				}
				for oi, o := range it.Options {
					if strings.TrimSpace(o) == "" {
						add(fmt.Sprintf("%s.options[%d]", ip, oi), "exam.paper.required", "")
					}
					text(fmt.Sprintf("%s.options[%d]", ip, oi), o)
				}
				if it.Answer == nil || *it.Answer < 0 || *it.Answer >= len(it.Options) {
					add(ip+".answer", "exam.paper.bad_answer", "")
				}
				continue
			}
			if it.AnswerSec <= 0 || it.AnswerSec > MaxAnswerSec {
				add(ip+".answer_sec", "exam.paper.out_of_range", fmt.Sprintf("1–%d", MaxAnswerSec))
			}
			r := it.Rubric
			text(ip+".rubric.reference_text", r.ReferenceText)
			text(ip+".rubric.notes", r.Notes)
			if it.Type.ReadsText() && strings.TrimSpace(r.ReferenceText) == "" {
				add(ip+".rubric.reference_text", "exam.paper.required", "")
			}
			if !it.Type.ReadsText() && len(r.ReferenceAnswers) == 0 && len(r.KeyPoints) == 0 {
				add(ip+".rubric", "exam.paper.no_reference", "")
			}
			for ai, a := range r.ReferenceAnswers {
				text(fmt.Sprintf("%s.rubric.reference_answers[%d]", ip, ai), a)
			}
			if len(r.KeyPoints) > MaxKeyPoints {
				add(ip+".rubric.key_points", "exam.paper.too_many", fmt.Sprint(MaxKeyPoints))
			}
			kp := 0.0
			for ki, k := range r.KeyPoints {
				kpath := fmt.Sprintf("%s.rubric.key_points[%d]", ip, ki)
				if strings.TrimSpace(k.Text) == "" {
					add(kpath+".text", "exam.paper.required", "")
				}
				if k.Points <= 0 {
					add(kpath+".points", "exam.paper.out_of_range", "> 0")
				}
				kp += k.Points
			}
			if kp > it.Points+1e-9 {
				add(ip+".rubric.key_points", "exam.paper.key_points_exceed", fmt.Sprint(it.Points))
			}
			if r.Tolerance < 0 || r.Tolerance > it.Points {
				add(ip+".rubric.tolerance", "exam.paper.out_of_range", fmt.Sprintf("0–%g", it.Points))
			}
		}
	}
	if items > MaxItems {
		add("sections", "exam.paper.too_many", fmt.Sprint(MaxItems))
	}
	if total > MaxPaperPoints {
		add("sections", "exam.paper.too_many_points", fmt.Sprint(MaxPaperPoints))
	}
	return out
}

// Items returns every item in paper order.
func (p *Paper) Items() []Item {
	var out []Item
	for _, s := range p.Sections {
		out = append(out, s.Items...)
	}
	return out
}

// Item finds an item by ID.
func (p *Paper) Item(id string) (Item, bool) {
	for _, s := range p.Sections {
		for _, it := range s.Items {
			if it.ID == id {
				return it, true
			}
		}
	}
	return Item{}, false
}

// Points is the paper's full marks.
func (p *Paper) Points() float64 {
	t := 0.0
	for _, it := range p.Items() {
		t += it.Points
	}
	return t
}

// Blobs lists the SHA-256 of every audio and image the paper refers to,
// each once, in paper order.
func (p *Paper) Blobs() []string {
	var out []string
	seen := map[string]bool{}
	add := func(pr Prompt) {
		for _, h := range []string{pr.Audio, pr.Image} {
			if h != "" && !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	add(p.Intro)
	for _, s := range p.Sections {
		add(s.Intro)
		for _, it := range s.Items {
			add(it.Prompt)
		}
	}
	return out
}

// ForCandidate returns a copy without what a candidate must not see: the
// objective answers and the rubric (reference answers, key points, notes).
// The reference text of a read-aloud item stays when it is shown as the
// passage to read (it is then the prompt text too).
func (p *Paper) ForCandidate() Paper {
	c := *p
	c.Sections = make([]Section, len(p.Sections))
	for si, s := range p.Sections {
		cs := s
		cs.Items = make([]Item, len(s.Items))
		for ii, it := range s.Items {
			it.Answer = nil
			it.Rubric = Rubric{}
			cs.Items[ii] = it
		}
		c.Sections[si] = cs
	}
	return c
}

// Duration estimates the paper's running time in seconds (prompt audio
// not counted: it is added by the player from the audio's length).
func (p *Paper) Duration() int {
	t := 0
	for _, it := range p.Items() {
		t += it.PrepSec + it.AnswerSec
	}
	return t
}
