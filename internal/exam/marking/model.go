// Package marking is what happens at the exam center after each session:
// answer intake from the site nodes (signed manifests and recordings) with
// completeness per site, scoring of objective items, machine scores for
// spoken ones when a scorer is present, blind human double marking with
// third marks and the leader's decision, quality control, results, review
// requests (复核) and the learning records of final scores.
package marking

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"math"
	"sort"

	"jnedu/internal/exam/paper"
	"jnedu/internal/identity"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
	"jnedu/internal/platform/web"
)

// Permissions of marking.
const (
	PermMark    web.Perm = "exam.mark"      // examiners: mark anonymised tasks
	PermLead    web.Perm = "exam.mark.lead" // leaders of an exam (listed per exam) and platform admins
	PermIntake  web.Perm = "exam.intake"    // exam staff: the site API, completeness, settings, release
	PermResults web.Perm = "exam.results"   // results: schools their own, staff all
)

// DefinePermissions grants the permissions to the roles. Who leads which
// exam is decided per exam (the leaders list) on top of PermLead.
func DefinePermissions(r *identity.RBAC) {
	r.Define(PermMark, identity.RoleExaminer)
	r.Define(PermLead, identity.RolePlatformAdmin, identity.RoleExaminer)
	r.Define(PermIntake, identity.RolePlatformAdmin, identity.RoleExamStaff)
	r.Define(PermResults, identity.RolePlatformAdmin, identity.RoleExamStaff, identity.RoleSchoolAdmin, identity.RoleTeacher)
}

// Tiles for the portal.
func Tiles() []identity.Tile {
	return []identity.Tile{
		{Key: "marking.tile_mark", DescKey: "marking.tile_mark_desc", Href: "/exam/marking", Perm: PermMark, Group: "portal.group_apps"},
		{Key: "marking.tile_intake", DescKey: "marking.tile_intake_desc", Href: "/exam/marking/admin", Perm: PermIntake, Group: "portal.group_apps"},
		{Key: "marking.tile_results", DescKey: "marking.tile_results_desc", Href: "/exam/results", Perm: PermResults, Group: "portal.group_apps"},
	}
}

// Candidate is what the center's catalogue knows about a candidate.
type Candidate struct {
	Number      string `json:"number"`
	Name        string `json:"name"`
	School      string `json:"school"`
	SchoolOrgID int64  `json:"school_org_id"`
	Site        string `json:"site"`
	Session     string `json:"session"`
	Room        string `json:"room"`
	Seat        int    `json:"seat"`
	Variant     string `json:"variant"`
}

// Catalog is the center's catalogue of exams, papers, candidates and site
// keys, as marking needs it. Errors wrapping db.ErrNotFound mean "no such
// thing".
type Catalog interface {
	SitePublicKey(ctx context.Context, site string) (ed25519.PublicKey, error)
	SessionPaper(ctx context.Context, exam, session, variant string) (paper.Paper, error)
	CandidateInfo(ctx context.Context, exam, number string) (Candidate, error)
	SessionRoster(ctx context.Context, exam, site, session string) ([]string, error)
	CheckCandidateID(ctx context.Context, exam, number, idNumber string) (bool, error)
}

// Machine scoring kinds.
const (
	KindReadAloud = "read_aloud"
	KindOpen      = "open"
)

// ScoreRequest asks the speech scorer for a machine score of one recording.
type ScoreRequest struct {
	AnswerID         int64            `json:"answer_id"`
	Recording        string           `json:"recording"` // SHA-256 of the WAV in the blob store
	Kind             string           `json:"kind"`      // read_aloud | open
	ReferenceText    string           `json:"reference_text,omitempty"`
	ReferenceAnswers []string         `json:"reference_answers,omitempty"`
	KeyPoints        []paper.KeyPoint `json:"key_points,omitempty"`
	MaxPoints        float64          `json:"max_points"`
}

// MachineScorer takes scoring requests inside the caller's transaction (it
// queues the work); the score comes back through Service.RecordMachineScore.
type MachineScorer interface {
	Submit(ctx context.Context, tx db.Querier, req ScoreRequest) error
}

// Answer stages.
const (
	StageWaiting = "waiting" // the package is not complete yet
	StageMachine = "machine" // waiting for the machine score
	StageHuman   = "human"   // in human marking
	StageLeader  = "leader"  // the leader decides
	StageFinal   = "final"
)

// Mark rounds.
const (
	RoundFirst       = 1
	RoundSecond      = 2
	RoundThird       = 3
	RoundCalibration = 4
)

// Final-score rules (exam_marking_answers.final_rule).
const (
	RuleKey      = "key" // objective: the answer key
	RuleNoAnswer = "no_answer"
	RuleMachine  = "machine"
	RuleSingle   = "single" // one human mark
	RuleAgree    = "agree"  // mean of two marks within tolerance
	RuleThird    = "third"  // mean of the two closest of three
	RuleLeader   = "leader" // the leader's decision
	RuleReview   = "review" // changed in a review (复核)
)

// Decision is what the marks so far decide for an answer.
type Decision struct {
	Final bool    // a final score is decided
	Score float64 // when Final
	Rule  string
	Next  int // when not Final: the round needed next (RoundSecond, RoundThird), or 0 for the leader
}

// Decide applies the double-marking rules to the human marks of an answer
// (in round order) with the item's tolerance. needed is 1 for answers
// marked once, 2 for double marking. Two marks within tolerance: their
// mean; apart: a third mark; with three: the mean of the two closest when
// those are within tolerance, else the leader.
func Decide(marks []float64, needed int, tol float64) Decision {
	const eps = 1e-9
	switch {
	case len(marks) == 0:
		return Decision{Next: RoundFirst}
	case len(marks) == 1 && needed <= 1:
		return Decision{Final: true, Score: marks[0], Rule: RuleSingle}
	case len(marks) == 1:
		return Decision{Next: RoundSecond}
	case len(marks) == 2:
		if math.Abs(marks[0]-marks[1]) <= tol+eps {
			return Decision{Final: true, Score: RoundScore((marks[0] + marks[1]) / 2), Rule: RuleAgree}
		}
		return Decision{Next: RoundThird}
	default:
		m := append([]float64(nil), marks[:3]...)
		sort.Float64s(m)
		lo, hi := m[0], m[1]
		if m[2]-m[1] < m[1]-m[0] {
			lo, hi = m[1], m[2]
		}
		if hi-lo <= tol+eps {
			return Decision{Final: true, Score: RoundScore((lo + hi) / 2), Rule: RuleThird}
		}
		return Decision{Next: 0}
	}
}

// RoundScore is the rounding rule of item scores: two decimals, half away
// from zero. A paper's total is the sum of its rounded item scores,
// rounded to one decimal, half away from zero (RoundTotal).
func RoundScore(v float64) float64 { return math.Round(v*100) / 100 }

// RoundTotal rounds a paper total to one decimal.
func RoundTotal(v float64) float64 { return math.Round(v*10) / 10 }

// ErrNotConfigured is returned while no catalogue is connected.
var ErrNotConfigured = errors.New("marking: the exam catalogue is not configured")

// ScoredEvent is the learning record of one final answer score, xAPI-shaped
// (actor, verb, object, result) like share's viewing records.
type ScoredEvent struct {
	Actor  ScoredActor  `json:"actor"`
	Verb   string       `json:"verb"`
	Object ScoredObject `json:"object"`
	Result ScoredResult `json:"result"`
	At     int64        `json:"timestamp"`
	// Context is where and how the answer was scored.
	Context ScoredContext `json:"context"`
}

// ScoredContext is where and how an answer was scored.
type ScoredContext struct {
	Site      string   `json:"site,omitempty"`      // exam site code
	Machine   *float64 `json:"machine,omitempty"`   // the machine's raw score, when it scored the answer
	Human     *float64 `json:"human,omitempty"`     // the mean of the human marks (not calibration re-marks), when people marked it
	Tolerance float64  `json:"tolerance,omitempty"` // the points within which two marks agree
}

// ScoredActor is the candidate: an account named by the admission number
// within the exam's home page.
type ScoredActor struct {
	HomePage string `json:"home_page"`
	Name     string `json:"name"` // 准考证号
	OrgID    int64  `json:"org_id,omitempty"`
}

// ScoredObject is the item as an activity.
type ScoredObject struct {
	ID       string `json:"id"`
	Exam     string `json:"exam"`
	Paper    string `json:"paper"`
	Item     string `json:"item"`
	ItemType string `json:"item_type"`
}

// ScoredResult is the score.
type ScoredResult struct {
	Raw     float64 `json:"raw"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	Scaled  float64 `json:"scaled"`
	Success bool    `json:"success"`
	Rule    string  `json:"rule"`
}

// TopicScored carries final answer scores.
var TopicScored = events.NewTopic[ScoredEvent]("exam.answer.scored")

// VerbScored is the ADL verb of a score.
const VerbScored = "http://adlnet.gov/expapi/verbs/scored"

// SuccessShare is the scaled score from which an answer counts as a success.
const SuccessShare = 0.6

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
