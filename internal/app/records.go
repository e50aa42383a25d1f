package app

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"jnedu/internal/exam/marking"
	"jnedu/internal/identity"
	"jnedu/internal/insight"
	"jnedu/internal/lrs"
	"jnedu/internal/platform/events"
	"jnedu/internal/share"
)

// Records from inside: what subsystems publish as learning records becomes
// xAPI statements in the store. Each bridge is a durable subscriber, so a
// crash between an action and its record loses neither, and the statement id
// is derived from the event's id, so a redelivered event is stored once.

// recordsSubscriber names the durable subscriber of every record bridge.
const recordsSubscriber = "lrs.records"

// record is one statement to store with what it belongs to.
type record struct {
	Statement lrs.Statement
	OrgID     int64
	UserID    int64
}

// bridge subscribes build to topic: every event becomes one statement.
func bridge[T any](a *App, topic events.Topic[T], build func(ctx context.Context, ev events.Envelope[T]) (record, error)) {
	events.Subscribe(a.Bus, topic, recordsSubscriber, func(ctx context.Context, ev events.Envelope[T]) error {
		rec, err := build(ctx, ev)
		if err != nil {
			return err
		}
		rec.Statement["id"] = statementID(ev.Topic, ev.ID)
		org, err := a.Identity.Org(ctx, rec.OrgID)
		if err != nil {
			return fmt.Errorf("record %s: organisation %d: %w", ev.ID, rec.OrgID, err)
		}
		err = a.LRS.StoreRecord(ctx, rec.Statement, org.Path, rec.UserID)
		if errors.Is(err, lrs.ErrConflict) || lrs.IsInvalid(err) {
			return fmt.Errorf("%w: record %s: %v", events.ErrPermanent, ev.ID, err)
		}
		return err
	})
}

// statementID is a name-based (version 5 layout) UUID of an event: the same
// event always gives the same statement id.
func statementID(topic, eventID string) string {
	h := sha1.Sum([]byte("jnedu-record:" + topic + ":" + eventID))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// subscribeRecords registers every record bridge. A new source (an exam
// answer scored, a lesson held) is one more bridge call with its builder.
func subscribeRecords(a *App) {
	base := a.LRS.BaseURL()
	bridge(a, share.TopicViewed, func(ctx context.Context, ev events.Envelope[share.ViewEvent]) (record, error) {
		return videoRecord(base, ev.Payload), nil
	})
	bridge(a, share.TopicUploaded, func(ctx context.Context, ev events.Envelope[share.UploadEvent]) (record, error) {
		return uploadRecord(base, ev.Payload), nil
	})
	bridge(a, marking.TopicScored, func(ctx context.Context, ev events.Envelope[marking.ScoredEvent]) (record, error) {
		orgID := ev.Payload.Actor.OrgID
		if orgID == 0 {
			// A candidate of no known school is filed under the site, or
			// else the root organisation.
			o, err := a.Identity.OrgByCode(ctx, ev.Payload.Context.Site)
			if err != nil {
				roots, rerr := a.Identity.Orgs(ctx, identity.OrgFilter{Kinds: []identity.OrgKind{identity.KindBureau}, Limit: 1})
				if rerr != nil || len(roots) == 0 {
					return record{}, fmt.Errorf("exam record %s: no organisation: %v", ev.ID, err)
				}
				o = roots[0]
			}
			orgID = o.ID
		}
		return scoredRecord(base, ev.Payload, orgID), nil
	})
}

// scoredRecord turns a final answer score into a statement: the candidate
// (an account of the exam) scored on the item, within the paper and the
// exam, with where and how it was scored.
func scoredRecord(base string, ev marking.ScoredEvent, orgID int64) record {
	exam := ev.Actor.HomePage
	ext := lrs.Statement{
		orgExtension(base):                      orgID,
		insight.Ext(base, insight.ExtItemType):  ev.Object.ItemType,
		insight.Ext(base, "scoring-rule"):       ev.Result.Rule,
		insight.Ext(base, insight.ExtTolerance): ev.Context.Tolerance,
	}
	if ev.Context.Site != "" {
		ext[insight.Ext(base, insight.ExtSite)] = ev.Context.Site
	}
	if ev.Context.Machine != nil {
		ext[insight.Ext(base, insight.ExtMachineScore)] = *ev.Context.Machine
	}
	if ev.Context.Human != nil {
		ext[insight.Ext(base, insight.ExtHumanScore)] = *ev.Context.Human
	}
	st := lrs.Statement{
		"actor": lrs.Statement{"objectType": "Agent", "account": lrs.Statement{"homePage": exam, "name": ev.Actor.Name}},
		"verb":  lrs.Statement{"id": ev.Verb, "display": lrs.Statement{"zh-CN": "得分", "en-US": "scored"}},
		"object": lrs.Statement{"objectType": "Activity", "id": ev.Object.ID, "definition": lrs.Statement{
			"type": "http://adlnet.gov/expapi/activities/cmi.interaction",
			"name": lrs.Statement{"zh-CN": "第 " + ev.Object.Item + " 题", "en-US": "Item " + ev.Object.Item}}},
		"result": lrs.Statement{
			"score":   lrs.Statement{"raw": ev.Result.Raw, "min": ev.Result.Min, "max": ev.Result.Max, "scaled": ev.Result.Scaled},
			"success": ev.Result.Success,
		},
		"context": lrs.Statement{
			"platform": "jnedu",
			"contextActivities": lrs.Statement{
				"parent": []any{lrs.Statement{"objectType": "Activity", "id": exam + "/papers/" + ev.Object.Paper,
					"definition": lrs.Statement{"type": "http://adlnet.gov/expapi/activities/assessment"}}},
				"grouping": []any{
					lrs.Statement{"objectType": "Activity", "id": exam, "definition": lrs.Statement{"type": "http://adlnet.gov/expapi/activities/assessment"}},
					lrs.Statement{"objectType": "Activity", "id": orgActivity(base, orgID), "definition": lrs.Statement{"type": "http://id.tincanapi.com/activitytype/school"}},
				},
			},
			"extensions": ext,
		},
		"timestamp": time.UnixMilli(ev.At).UTC().Format("2006-01-02T15:04:05.000Z"),
	}
	return record{Statement: st, OrgID: orgID}
}

// Extension IRIs of the platform.
func orgExtension(base string) string { return base + "/xapi/extensions/organisation" }

func platformActor(base string, userID int64, name string) lrs.Statement {
	a := lrs.Statement{"objectType": "Agent", "account": lrs.Statement{"homePage": base, "name": strconv.FormatInt(userID, 10)}}
	if name != "" {
		a["name"] = name
	}
	return a
}

var videoVerbs = map[string]lrs.Statement{
	share.VerbPlayed:    {"zh-CN": "播放", "en-US": "played"},
	share.VerbProgressd: {"zh-CN": "观看进度", "en-US": "progressed"},
	share.VerbCompleted: {"zh-CN": "看完", "en-US": "completed"},
}

// videoRecord turns a watching record into a statement in the xAPI video
// profile's terms.
func videoRecord(base string, ev share.ViewEvent) record {
	verb := lrs.Statement{"id": ev.Verb}
	if d, ok := videoVerbs[ev.Verb]; ok {
		verb["display"] = d
	}
	def := lrs.Statement{"type": "https://w3id.org/xapi/video/activity-type/video"}
	if ev.Object.Title != "" {
		def["name"] = lrs.Statement{"zh-CN": ev.Object.Title}
	}
	if ev.Object.Duration > 0 {
		def["extensions"] = lrs.Statement{"https://w3id.org/xapi/video/extensions/length": float64(ev.Object.Duration) / 1000}
	}
	result := lrs.Statement{
		"extensions": lrs.Statement{
			"https://w3id.org/xapi/video/extensions/time":     float64(ev.Result.PositionMS) / 1000,
			"https://w3id.org/xapi/video/extensions/progress": roundTo(ev.Result.Progress, 3),
		},
		"duration": fmt.Sprintf("PT%.3fS", float64(ev.Result.WatchedMS)/1000),
	}
	if ev.Result.Completed {
		result["completion"] = true
	}
	st := lrs.Statement{
		"actor":     platformActor(base, ev.Actor.UserID, ev.Actor.Name),
		"verb":      verb,
		"object":    lrs.Statement{"objectType": "Activity", "id": ev.Object.ID, "definition": def},
		"result":    result,
		"context":   videoContext(base, ev.Actor.OrgID),
		"timestamp": time.UnixMilli(ev.At).UTC().Format("2006-01-02T15:04:05.000Z"),
	}
	return record{Statement: st, OrgID: ev.Actor.OrgID, UserID: ev.Actor.UserID}
}

// uploadRecord turns a video added into a statement: the person shared
// the video (ADL verb shared).
func uploadRecord(base string, ev share.UploadEvent) record {
	def := lrs.Statement{"type": "https://w3id.org/xapi/video/activity-type/video"}
	if ev.Object.Title != "" {
		def["name"] = lrs.Statement{"zh-CN": ev.Object.Title}
	}
	st := lrs.Statement{
		"actor":     platformActor(base, ev.Actor.UserID, ev.Actor.Name),
		"verb":      lrs.Statement{"id": "http://adlnet.gov/expapi/verbs/shared", "display": lrs.Statement{"zh-CN": "分享", "en-US": "shared"}},
		"object":    lrs.Statement{"objectType": "Activity", "id": share.ActivityID(base, ev.Object.VideoID), "definition": def},
		"context":   videoContext(base, ev.Actor.OrgID),
		"timestamp": time.UnixMilli(ev.At).UTC().Format("2006-01-02T15:04:05.000Z"),
	}
	return record{Statement: st, OrgID: ev.Actor.OrgID, UserID: ev.Actor.UserID}
}

// videoContext is the context of a video record: the person's school as
// grouping, the xAPI Video Profile as category.
func videoContext(base string, orgID int64) lrs.Statement {
	return lrs.Statement{
		"platform": "jnedu",
		"contextActivities": lrs.Statement{
			"grouping": []any{lrs.Statement{"objectType": "Activity", "id": orgActivity(base, orgID),
				"definition": lrs.Statement{"type": "http://id.tincanapi.com/activitytype/school"}}},
			"category": []any{lrs.Statement{"objectType": "Activity", "id": "https://w3id.org/xapi/video"}},
		},
		"extensions": lrs.Statement{orgExtension(base): orgID},
	}
}

func orgActivity(base string, orgID int64) string {
	return strings.TrimRight(base, "/") + "/orgs/" + strconv.FormatInt(orgID, 10)
}

func roundTo(f float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(f*p+0.5)) / p
}
