package insight

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
)

// DemoStore keeps the demo's learning records: the learning-record store,
// through its Go API (so the records reach the indicators the way every
// record does: stored, published, counted).
type DemoStore interface {
	StoreRecord(ctx context.Context, st map[string]any, orgPath string, userID int64) error
	Has(ctx context.Context, id string) (bool, error)
}

// DemoOrgs is what the demo needs of the organisation tree.
type DemoOrgs interface {
	Orgs(ctx context.Context, f identity.OrgFilter) ([]identity.Org, error)
	OrgByCode(ctx context.Context, code string) (identity.Org, error)
	CreateOrg(ctx context.Context, actor *identity.Principal, in identity.OrgInput) (identity.Org, error)
}

// ErrExists is what a DemoStore returns for an id stored with other
// content.
var ErrExists = errors.New("insight: a record with this id exists with other content")

func demoID(parts ...any) string {
	h := sha1.Sum([]byte("jnedu-insight-demo:" + fmt.Sprint(parts...)))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

var (
	demoSurnames = []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗"}
	demoGiven    = []string{"子涵", "雨萱", "浩然", "梓轩", "欣怡", "宇航", "思远", "佳怡", "俊杰", "诗涵", "博文", "可馨", "一诺", "明轩", "语桐", "天佑", "若曦", "泽宇", "晨阳", "书瑶"}
	demoVideos   = []string{"初一英语听说训练：问路", "初二物理：浮力", "数学微课：一元二次方程", "语文名篇朗读：背影", "化学实验：氧气的制取", "地理：济南的泉水",
		"生物：细胞的结构", "历史：齐鲁文化", "英语听说考试指导", "信息科技：编程入门"}
)

// LoadDemo records a modest, made-up term of activity for the dashboards:
// for each school (and one demo school per district, created if missing),
// students in two classes watching videos, teachers using videos and
// lesson resources in class, and an English listening-and-speaking exam
// scored by machine and people at the Laiwu sites, over the last eight
// weeks. It does nothing when the demo records are already there. Every
// person is fictitious.
func LoadDemo(ctx context.Context, orgs DemoOrgs, store DemoStore, base string, now time.Time) (int, error) {
	base = strings.TrimRight(base, "/")
	done := demoID("exam", 239, 4) // the last record of a complete run
	if ok, err := store.Has(ctx, done); err != nil || ok {
		return 0, err
	}
	root, err := orgs.OrgByCode(ctx, "JN-EDU")
	if err != nil {
		return 0, err
	}
	districts, err := orgs.Orgs(ctx, identity.OrgFilter{Under: []identity.Org{root}, Kinds: []identity.OrgKind{identity.KindDistrict}, Limit: 100})
	if err != nil {
		return 0, err
	}
	for _, d := range districts {
		code := "S-" + strings.TrimPrefix(d.Code, "D-") + "01"
		if _, err := orgs.OrgByCode(ctx, code); apperr.CodeOf(err) == apperr.NotFound {
			name := strings.TrimSuffix(strings.TrimSuffix(d.Name, "区"), "县") + "实验学校"
			if _, err := orgs.CreateOrg(ctx, nil, identity.OrgInput{ParentID: d.ID, Kind: identity.KindSchool, Code: code, Name: name}); err != nil {
				return 0, fmt.Errorf("demo school %s: %w", code, err)
			}
		} else if err != nil {
			return 0, err
		}
	}
	schools, err := orgs.Orgs(ctx, identity.OrgFilter{Under: []identity.Org{root}, Kinds: []identity.OrgKind{identity.KindSchool}, Limit: 500})
	if err != nil {
		return 0, err
	}
	sites, err := orgs.Orgs(ctx, identity.OrgFilter{Under: []identity.Org{root}, Kinds: []identity.OrgKind{identity.KindExamSite}, Limit: 100})
	if err != nil {
		return 0, err
	}
	rng := rand.New(rand.NewPCG(2026, 9))
	thisWeek := WeekOf(now.UnixMilli())
	n := 0
	put := func(st map[string]any, orgPath string, key ...any) error {
		st["id"] = demoID(key...)
		err := store.StoreRecord(ctx, st, orgPath, 0)
		if errors.Is(err, ErrExists) {
			return nil // left by an interrupted earlier run
		}
		if err == nil {
			n++
		}
		return err
	}
	ext := func(name string) string { return Ext(base, name) }
	ts := func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") }
	account := func(name, label string) map[string]any {
		return map[string]any{"objectType": "Agent", "name": label, "account": map[string]any{"homePage": base, "name": name}}
	}
	video := func(i int) map[string]any {
		return map[string]any{"objectType": "Activity", "id": fmt.Sprintf("%s/xapi/activities/demo-video/%d", base, i+1),
			"definition": map[string]any{"type": typeVideo, "name": map[string]any{"zh-CN": demoVideos[i]},
				"extensions": map[string]any{"https://w3id.org/xapi/video/extensions/length": 600}}}
	}
	for si, school := range schools {
		level := 0.45 + 0.5*rng.Float64() // how active the school is
		classes := []string{"七年级(1)班", "七年级(2)班"}
		for week := 7; week >= 0; week-- {
			monday := thisWeek - int64(week)*7*24*3600*1000
			for ci, class := range classes {
				for k := 0; k < 7; k++ {
					if rng.Float64() > level {
						continue
					}
					who := fmt.Sprintf("demo-%s-%d-%d", school.Code, ci, k)
					label := demoSurnames[(si*7+ci*3+k)%len(demoSurnames)] + demoGiven[(si+ci*5+k*3)%len(demoGiven)]
					v := rng.IntN(len(demoVideos))
					at := monday + int64(rng.IntN(5))*24*3600*1000 + int64(8+rng.IntN(10))*3600*1000
					if at > now.UnixMilli() {
						continue
					}
					watched := 60 + rng.IntN(540)
					context := map[string]any{"platform": "jnedu",
						"contextActivities": map[string]any{"category": []any{map[string]any{"objectType": "Activity", "id": profileVideo}}},
						"extensions":        map[string]any{ext(ExtRole): RoleStudent, ext(ExtClass): class, ext(ExtOrganisation): school.ID}}
					st := map[string]any{"actor": account(who, label), "verb": map[string]any{"id": verbPlayed, "display": map[string]any{"zh-CN": "播放"}},
						"object": video(v), "context": context, "timestamp": ts(at),
						"result": map[string]any{"duration": fmt.Sprintf("PT%dS", watched/3)}}
					if err := put(st, school.Path, "play", school.Code, week, ci, k); err != nil {
						return n, err
					}
					verb := "https://w3id.org/xapi/video/verbs/progressed"
					res := map[string]any{"duration": fmt.Sprintf("PT%dS", watched)}
					if watched > 400 {
						verb = verbCompleted
						res["completion"] = true
					}
					st = map[string]any{"actor": account(who, label), "verb": map[string]any{"id": verb}, "object": video(v), "context": context,
						"timestamp": ts(at + int64(watched)*1000), "result": res}
					if err := put(st, school.Path, "more", school.Code, week, ci, k); err != nil {
						return n, err
					}
				}
			}
			for t := 0; t < 6; t++ {
				who := fmt.Sprintf("demo-%s-t%d", school.Code, t)
				label := demoSurnames[(si+t*7)%len(demoSurnames)] + "老师"
				if rng.Float64() < 0.4*level {
					at := monday + int64(rng.IntN(5))*24*3600*1000 + 16*3600*1000
					if at < now.UnixMilli() {
						v := fmt.Sprintf("%s/videos/demo-%s-%d-%d", base, school.Code, week, t)
						st := map[string]any{"actor": account(who, label), "verb": map[string]any{"id": verbShared, "display": map[string]any{"zh-CN": "分享"}},
							"object": map[string]any{"objectType": "Activity", "id": v, "definition": map[string]any{"type": typeVideo,
								"name": map[string]any{"zh-CN": demoVideos[rng.IntN(len(demoVideos))] + "（校本资源）"}}},
							"timestamp": ts(at),
							"context":   map[string]any{"platform": "jnedu", "extensions": map[string]any{ext(ExtRole): RoleTeacher, ext(ExtOrganisation): school.ID}}}
						if err := put(st, school.Path, "upload", school.Code, week, t); err != nil {
							return n, err
						}
					}
				}
				lessons := rng.IntN(int(1 + 4*level))
				for l := 0; l < lessons; l++ {
					at := monday + int64(l%5)*24*3600*1000 + int64(8+l)*3600*1000
					if at > now.UnixMilli() {
						continue
					}
					class := classes[rng.IntN(len(classes))]
					object := map[string]any{"objectType": "Activity", "id": fmt.Sprintf("%s/xapi/activities/demo-lesson/%s/%d/%d/%d", base, school.Code, week, t, l),
						"definition": map[string]any{"type": typeLesson, "name": map[string]any{"zh-CN": "课堂教学（使用数字资源）"}}}
					st := map[string]any{"actor": account(who, label), "verb": map[string]any{"id": "http://adlnet.gov/expapi/verbs/experienced"},
						"object": object, "timestamp": ts(at),
						"context": map[string]any{"platform": "jnedu", "extensions": map[string]any{ext(ExtRole): RoleTeacher, ext(ExtClass): class, ext(ExtOrganisation): school.ID}}}
					if err := put(st, school.Path, "lesson", school.Code, week, t, l); err != nil {
						return n, err
					}
				}
			}
		}
	}
	// An English listening-and-speaking exam, three weeks ago.
	if len(sites) > 8 {
		sites = sites[:8]
	}
	examAt := thisWeek - 3*7*24*3600*1000 + 5*24*3600*1000 + 9*3600*1000
	exam := base + "/exams/DEMO-2026-TERM"
	for c := 0; c < 240 && len(sites) > 0 && len(schools) > 0; c++ {
		school := schools[c%len(schools)]
		site := sites[c%len(sites)]
		number := fmt.Sprintf("2026%06d", c+1)
		ability := 0.35 + 0.6*rng.Float64()
		for item := 1; item <= 4; item++ {
			maxPts := 10.0
			machine := math.Round(maxPts*math.Min(1, math.Max(0, ability+0.15*(rng.Float64()-0.5)))*2) / 2
			human := math.Round(maxPts*math.Min(1, math.Max(0, ability+0.15*(rng.Float64()-0.5)))*2) / 2
			final := human
			if rng.Float64() < 0.5 {
				final = math.Round((machine+human)/2*2) / 2
			}
			st := map[string]any{
				"actor":  map[string]any{"objectType": "Agent", "account": map[string]any{"homePage": exam, "name": number}},
				"verb":   map[string]any{"id": verbScored, "display": map[string]any{"zh-CN": "得分"}},
				"object": map[string]any{"objectType": "Activity", "id": fmt.Sprintf("%s/papers/A/items/%d", exam, item), "definition": map[string]any{"type": "http://adlnet.gov/expapi/activities/cmi.interaction"}},
				"result": map[string]any{"score": map[string]any{"raw": final, "min": 0, "max": maxPts, "scaled": final / maxPts}},
				"context": map[string]any{"platform": "jnedu", "extensions": map[string]any{ext(ExtOrganisation): school.ID, ext(ExtSite): site.Code,
					ext(ExtMachineScore): machine, ext(ExtHumanScore): human, ext(ExtTolerance): 1.0, ext(ExtItemType): "read_aloud"}},
				"timestamp": ts(examAt + int64(item)*60000),
			}
			if err := put(st, school.Path, "exam", c, item); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}
