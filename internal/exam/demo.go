package exam

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"jnedu/internal/exam/paper"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
)

// DemoExamCode is the code of the demonstration exam.
const DemoExamCode = "2027-ZK-DEMO"

// DemoPaper is a paper with one item of each type (scripts for
// synthesized audio; no audio yet).
func DemoPaper(variant string) paper.Paper {
	ans := 1
	who := map[string]string{"A": "Tom", "B": "Lucy", "S": "Jack"}[variant]
	if who == "" {
		who = "Amy"
	}
	return paper.Paper{
		Code: "2027-ZK-DEMO-" + variant, Title: "2027年济南市初中英语听说考试（演示）" + variant + "卷", Variant: variant,
		Intro: paper.Prompt{Text: "考试开始，请戴好耳机，听清指令后作答。", AudioText: "Welcome to the listening and speaking test. Please listen carefully."},
		Sections: []paper.Section{
			{Title: "第一节 听后选择", Intro: paper.Prompt{Text: "听对话，选择正确答案。"}, Items: []paper.Item{{
				ID: "s1i1", Type: paper.ListenChoose, Plays: 2, PrepSec: 5, Points: 2,
				Prompt:  paper.Prompt{Text: "Where is " + who + " going this weekend?", AudioText: who + " is going to visit the science museum with his friends this weekend."},
				Options: []string{"To the park.", "To the science museum.", "To the library."}, Answer: &ans}}},
			{Title: "第二节 听后回答", NoBack: true, Items: []paper.Item{{
				ID: "s2i1", Type: paper.ListenAnswer, Plays: 2, PrepSec: 10, AnswerSec: 10, Points: 2,
				Prompt: paper.Prompt{Text: "Answer the question.", AudioText: "How does " + who + " usually go to school?"},
				Rubric: paper.Rubric{ReferenceAnswers: []string{who + " usually goes to school by bike."},
					KeyPoints: []paper.KeyPoint{{Text: "by bike", Variants: []string{"rides a bike", "cycles"}, Points: 2}}}}}},
			{Title: "第三节 模仿朗读", NoBack: true, Items: []paper.Item{{
				ID: "s3i1", Type: paper.Imitate, Plays: 1, PrepSec: 20, AnswerSec: 20, Points: 4,
				Prompt: paper.Prompt{Text: "Reading is a good way to learn. It opens a window to the world.", AudioText: "Reading is a good way to learn. It opens a window to the world."},
				Rubric: paper.Rubric{ReferenceText: "Reading is a good way to learn. It opens a window to the world."}}}},
			{Title: "第四节 朗读短文", NoBack: true, Items: []paper.Item{{
				ID: "s4i1", Type: paper.ReadAloud, PrepSec: 30, AnswerSec: 40, Points: 4,
				Prompt: paper.Prompt{Text: "Every spring our class plants trees near the river. We dig holes, water the young trees and take photos. It is hard work, but we feel proud."},
				Rubric: paper.Rubric{ReferenceText: "Every spring our class plants trees near the river. We dig holes, water the young trees and take photos. It is hard work, but we feel proud."}}}},
			{Title: "第五节 情景问答", NoBack: true, Items: []paper.Item{{
				ID: "s5i1", Type: paper.Situational, Plays: 1, PrepSec: 10, AnswerSec: 15, Points: 3,
				Prompt: paper.Prompt{Text: "你的朋友想知道你周末的计划。", AudioText: "What are you going to do this weekend?"},
				Rubric: paper.Rubric{ReferenceAnswers: []string{"I am going to visit my grandparents."},
					KeyPoints: []paper.KeyPoint{{Text: "going to", Points: 1}, {Text: "a weekend activity", Variants: []string{"visit", "play", "read"}, Points: 2}}}}}},
			{Title: "第六节 信息转述", NoBack: true, Items: []paper.Item{{
				ID: "s6i1", Type: paper.Retell, Plays: 2, PrepSec: 60, AnswerSec: 60, Points: 5,
				Prompt: paper.Prompt{Text: "听短文，然后转述主要内容。", AudioText: who + " joined the school music club last year. He practises the guitar every day and played in a concert in May."},
				Rubric: paper.Rubric{KeyPoints: []paper.KeyPoint{{Text: "music club", Points: 2}, {Text: "guitar every day", Variants: []string{"practises the guitar"}, Points: 2}, {Text: "concert in May", Points: 1}},
					Notes: "语言流畅、要点完整者得满分。"}}}},
			{Title: "第七节 话题简述", NoBack: true, Items: []paper.Item{{
				ID: "s7i1", Type: paper.Topic, PrepSec: 60, AnswerSec: 60, Points: 5,
				Prompt: paper.Prompt{Text: "Talk about your favourite sport: what it is, when you play it, and why you like it."},
				Rubric: paper.Rubric{KeyPoints: []paper.KeyPoint{{Text: "what", Points: 1}, {Text: "when", Points: 2}, {Text: "why", Points: 2}}, Tolerance: 1}}}},
		},
	}
}

// DemoSites are the two sites of the demonstration exam: the first exam
// site of Laiwu and the first of Gangcheng (E-LW01 and E-GC18 in the demo
// organisation tree).
func (s *Service) DemoSites(ctx context.Context) ([]string, error) {
	orgs, err := s.ids.Orgs(ctx, identity.OrgFilter{Kinds: []identity.OrgKind{identity.KindExamSite}})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, prefix := range []string{"E-LW", "E-GC"} {
		best := ""
		for _, o := range orgs {
			if strings.HasPrefix(o.Code, prefix) && (best == "" || o.Code < best) {
				best = o.Code
			}
		}
		if best == "" {
			return nil, fmt.Errorf("demo exam: no %s* exam site (load the identity demo first)", prefix)
		}
		out = append(out, best)
	}
	return out, nil
}

// DemoResult says what LoadDemo did.
type DemoResult struct {
	Created bool
	Speech  bool // false: espeak-ng missing, papers have no prompt audio
}

// LoadDemo creates the demonstration exam unless it exists: papers A, B
// and the spare S (one item of each type, synthesized audio), two sessions,
// rooms at two sites (DemoSites), 60 candidates, seated.
func (s *Service) LoadDemo(ctx context.Context) (DemoResult, error) {
	res := DemoResult{Speech: s.SpeechAvailable()}
	if _, err := s.ExamByCode(ctx, DemoExamCode); err == nil {
		return res, nil
	} else if apperr.CodeOf(err) != apperr.NotFound {
		return res, err
	}
	sites, err := s.DemoSites(ctx)
	if err != nil {
		return res, err
	}
	papers := map[string]string{}
	for _, v := range []string{"A", "B", "S"} {
		pp := DemoPaper(v)
		d, err := s.PublishedPaper(ctx, pp.Code)
		if err == nil {
			papers[v] = d.Code
			continue
		}
		d, err = s.CreatePaper(ctx, nil, pp)
		if err != nil {
			return res, fmt.Errorf("demo paper %s: %w", v, err)
		}
		if res.Speech {
			if d, _, err = s.SynthesizeDraft(ctx, nil, d.ID); err != nil {
				if errors.Is(err, ErrNoSpeechTool) {
					res.Speech = false
				} else {
					return res, fmt.Errorf("demo paper %s audio: %w", v, err)
				}
			}
		}
		if _, err := s.PublishPaper(ctx, nil, d.ID); err != nil {
			return res, fmt.Errorf("publish demo paper %s: %w", v, err)
		}
		papers[v] = pp.Code
	}
	e, err := s.CreateExam(ctx, nil, ExamInput{Code: DemoExamCode, Title: "2027年济南市初中英语听说考试（演示）", Tolerance: 1})
	if err != nil {
		return res, err
	}
	day := time.Date(2027, 5, 15, 8, 30, 0, 0, time.FixedZone("CST", 8*3600))
	for i, code := range []string{"S1", "S2"} {
		start := day.Add(time.Duration(i) * 90 * time.Minute)
		if _, err := s.SaveSession(ctx, nil, e.ID, SessionInput{Code: code, Title: fmt.Sprintf("第%d场", i+1), StartsAt: start.UnixMilli(),
			EndsAt: start.Add(60 * time.Minute).UnixMilli(), Papers: papers}); err != nil {
			return res, fmt.Errorf("demo session %s: %w", code, err)
		}
	}
	for _, site := range sites {
		for _, r := range []string{"01", "02"} {
			if _, err := s.SaveRoom(ctx, nil, e.ID, RoomInput{Site: site, Code: r, Seats: 10, Spare: 2}); err != nil {
				return res, err
			}
		}
	}
	if err := s.demoCandidates(ctx, e.ID, 60); err != nil {
		return res, err
	}
	if _, err := s.AssignExamSeats(ctx, nil, e.ID); err != nil {
		return res, err
	}
	res.Created = true
	return res, nil
}

var demoSurnames = []rune("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗")
var demoGiven = []string{"子涵", "欣怡", "浩然", "梓萱", "宇轩", "雨桐", "俊杰", "思琪", "一诺", "明轩", "佳怡", "博文"}

// demoCandidates adds n made-up candidates with valid-looking ID numbers.
func (s *Service) demoCandidates(ctx context.Context, examID int64, n int) error {
	e, err := s.exam(ctx, examID)
	if err != nil {
		return err
	}
	schools := []string{"济南第一中学", "济南第二中学", "济南第三中学", "济南第七中学"}
	now := s.ms()
	ids := map[string]int64{}
	for _, name := range schools {
		if os, err := s.ids.Orgs(ctx, orgByName(name)); err == nil && len(os) > 0 {
			ids[name] = os[0].ID
		}
	}
	for i := 0; i < n; i++ {
		number := fmt.Sprintf("2027%06d", 100001+i)
		id := DemoIDNumber(i)
		enc, err := s.protect([]byte(id), fmt.Sprintf("exam-id|%d|%s", examID, number))
		if err != nil {
			return err
		}
		school := schools[i%len(schools)]
		name := string(demoSurnames[i%len(demoSurnames)]) + demoGiven[(i*7)%len(demoGiven)]
		if _, err := s.db.Exec(ctx, `INSERT INTO exam_candidates (exam_id, number, name, school, school_org_id, id_enc, id_hash, id_masked, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, number, name, school, ids[school], enc, s.idHash(e.ID, id), MaskID(id), now); err != nil {
			return err
		}
	}
	return nil
}

// DemoIDNumber makes the i-th made-up ID-card number (Laiwu prefix, born
// 2012, valid check character).
func DemoIDNumber(i int) string {
	body := fmt.Sprintf("371202%04d%02d%02d%03d", 2012, 1+i%12, 1+i%28, 100+i%900)
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for k := 0; k < 17; k++ {
		sum += int(body[k]-'0') * weights[k]
	}
	return body + string("10X98765432"[sum%11])
}
