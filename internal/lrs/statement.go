package lrs

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"
)

// decodeJSON reads JSON keeping numbers exact.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, invalidf("trailing data after the JSON value")
	}
	if _, err := dec.Token(); err == nil {
		return nil, invalidf("trailing data after the JSON value")
	}
	return v, nil
}

// AgentKey is the inverse functional identifier of an agent or identified
// group as one string ("" for an anonymous group).
func AgentKey(o obj) string {
	if s, ok := o["mbox"].(string); ok {
		return "mbox:" + strings.ToLower(strings.TrimPrefix(s, "mailto:"))
	}
	if s, ok := o["mbox_sha1sum"].(string); ok {
		return "sha1:" + strings.ToLower(s)
	}
	if s, ok := o["openid"].(string); ok {
		return "openid:" + s
	}
	if a, ok := o["account"].(obj); ok {
		hp, _ := a["homePage"].(string)
		n, _ := a["name"].(string)
		return "account:" + hp + "|" + n
	}
	return ""
}

// agentKeys lists the keys of an actor: the agent, or the group and its
// members.
func agentKeys(x any) []string {
	o, ok := x.(obj)
	if !ok {
		return nil
	}
	var out []string
	if k := AgentKey(o); k != "" {
		out = append(out, k)
	}
	if m, ok := o["member"].([]any); ok {
		for _, a := range m {
			if ao, ok := a.(obj); ok {
				if k := AgentKey(ao); k != "" {
					out = append(out, k)
				}
			}
		}
	}
	return out
}

// statementIndex is what a statement is found by.
type statementIndex struct {
	actor, verb, activity, objectRef, registration string
	agents                                         map[string]bool // key → direct
	activities                                     map[string]bool
	definitions                                    []obj // activities with a definition
	persons                                        []obj // agents with their names
}

func indexStatement(st obj) statementIndex {
	ix := statementIndex{agents: map[string]bool{}, activities: map[string]bool{}}
	addAgents := func(x any, direct bool) {
		for _, k := range agentKeys(x) {
			ix.agents[k] = ix.agents[k] || direct
		}
		if o, ok := x.(obj); ok {
			if AgentKey(o) != "" {
				ix.persons = append(ix.persons, o)
			}
			if m, ok := o["member"].([]any); ok {
				for _, a := range m {
					if ao, ok := a.(obj); ok {
						ix.persons = append(ix.persons, ao)
					}
				}
			}
		}
	}
	addActivity := func(a obj, direct bool) {
		id, _ := a["id"].(string)
		if id == "" {
			return
		}
		ix.activities[id] = ix.activities[id] || direct
		if _, ok := a["definition"]; ok {
			ix.definitions = append(ix.definitions, a)
		}
	}
	var walk func(s obj, top bool)
	walk = func(s obj, top bool) {
		addAgents(s["actor"], top)
		if o, ok := s["object"].(obj); ok {
			switch o["objectType"] {
			case nil, "Activity":
				addActivity(o, top)
			case "Agent", "Group":
				addAgents(o, top)
			case "SubStatement":
				walk(o, false)
			}
		}
		if c, ok := s["context"].(obj); ok {
			addAgents(c["instructor"], false)
			addAgents(c["team"], false)
			if ca, ok := c["contextActivities"].(obj); ok {
				for _, v := range ca {
					list, isList := v.([]any)
					if !isList {
						list = []any{v}
					}
					for _, a := range list {
						if ao, ok := a.(obj); ok {
							addActivity(ao, false)
						}
					}
				}
			}
			for _, k := range []string{"contextAgents", "contextGroups"} {
				if list, ok := c[k].([]any); ok {
					for _, e := range list {
						if eo, ok := e.(obj); ok {
							addAgents(eo["agent"], false)
							addAgents(eo["group"], false)
						}
					}
				}
			}
		}
		if top {
			addAgents(s["authority"], false)
		}
	}
	walk(st, true)
	if a, ok := st["actor"].(obj); ok {
		ix.actor = AgentKey(a)
	}
	if v, ok := st["verb"].(obj); ok {
		ix.verb, _ = v["id"].(string)
	}
	if o, ok := st["object"].(obj); ok {
		switch o["objectType"] {
		case nil, "Activity":
			ix.activity, _ = o["id"].(string)
		case "StatementRef":
			s, _ := o["id"].(string)
			ix.objectRef = strings.ToLower(s)
		}
	}
	if c, ok := st["context"].(obj); ok {
		s, _ := c["registration"].(string)
		ix.registration = strings.ToLower(s)
	}
	return ix
}

// comparable returns the statement reduced to what the spec's statement
// comparison looks at: without stored, authority and version, ids and
// registrations in lower case, timestamps as instants, context activities
// always arrays, numbers as numbers.
func comparable(st obj) any {
	c := normalize(st).(obj)
	delete(c, "stored")
	delete(c, "authority")
	delete(c, "version")
	lowerField(c, "id")
	if ts, ok := c["timestamp"].(string); ok {
		if t, err := ParseTimestamp(ts, false); err == nil {
			c["timestamp"] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	var fix func(s obj)
	fix = func(s obj) {
		if r, ok := s["result"].(obj); ok {
			if d, ok := r["duration"].(string); ok {
				r["duration"] = truncateDuration(d)
			}
		}
		if ctx, ok := s["context"].(obj); ok {
			lowerField(ctx, "registration")
			if ca, ok := ctx["contextActivities"].(obj); ok {
				for k, v := range ca {
					if _, isList := v.([]any); !isList {
						ca[k] = []any{v}
					}
				}
			}
			if r, ok := ctx["statement"].(obj); ok {
				lowerField(r, "id")
			}
		}
		if o, ok := s["object"].(obj); ok {
			switch o["objectType"] {
			case "StatementRef":
				lowerField(o, "id")
			case "SubStatement":
				if ts, ok := o["timestamp"].(string); ok {
					if t, err := ParseTimestamp(ts, false); err == nil {
						o["timestamp"] = t.UTC().Format(time.RFC3339Nano)
					}
				}
				fix(o)
			}
		}
	}
	fix(c)
	return c
}

func lowerField(o obj, k string) {
	if s, ok := o[k].(string); ok {
		o[k] = strings.ToLower(s)
	}
}

// normalize deep-copies a JSON value, turning numbers into float64.
func normalize(v any) any {
	switch x := v.(type) {
	case obj:
		m := make(obj, len(x))
		for k, e := range x {
			m[k] = normalize(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = normalize(e)
		}
		return l
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	}
	return v
}

// SameStatement reports whether two statements are the same by the spec's
// comparison rules.
func SameStatement(a, b obj) bool {
	return reflect.DeepEqual(comparable(a), comparable(b))
}

// deepCopy copies a JSON value keeping json.Number.
func deepCopy(v any) any {
	switch x := v.(type) {
	case obj:
		m := make(obj, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// idsFormat reduces a statement to identifiers: agents and groups to their
// identifier (anonymous groups keep their members, so reduced), activities
// to their id, verbs to their id.
func idsFormat(st obj) obj {
	out := deepCopy(st).(obj)
	var agent func(x any) any
	agent = func(x any) any {
		o, ok := x.(obj)
		if !ok {
			return x
		}
		r := obj{}
		if ot, ok := o["objectType"]; ok {
			r["objectType"] = ot
		}
		for _, k := range []string{"mbox", "mbox_sha1sum", "openid", "account"} {
			if v, ok := o[k]; ok {
				r[k] = v
			}
		}
		if m, ok := o["member"].([]any); ok && AgentKey(o) == "" {
			l := make([]any, len(m))
			for i, a := range m {
				l[i] = agent(a)
			}
			r["member"] = l
		}
		return r
	}
	activity := func(x any) any {
		o, ok := x.(obj)
		if !ok {
			return x
		}
		return obj{"id": o["id"]}
	}
	var walk func(s obj)
	walk = func(s obj) {
		s["actor"] = agent(s["actor"])
		if v, ok := s["verb"].(obj); ok {
			s["verb"] = obj{"id": v["id"]}
		}
		if o, ok := s["object"].(obj); ok {
			switch o["objectType"] {
			case nil, "Activity":
				s["object"] = activity(o)
			case "Agent", "Group":
				s["object"] = agent(o)
			case "SubStatement":
				walk(o)
			}
		}
		if c, ok := s["context"].(obj); ok {
			for _, k := range []string{"instructor", "team"} {
				if v, ok := c[k]; ok {
					c[k] = agent(v)
				}
			}
			if ca, ok := c["contextActivities"].(obj); ok {
				for k, v := range ca {
					list, isList := v.([]any)
					if !isList {
						list = []any{v}
					}
					l := make([]any, len(list))
					for i, a := range list {
						l[i] = activity(a)
					}
					ca[k] = l
				}
			}
		}
		if a, ok := s["authority"]; ok {
			s["authority"] = agent(a)
		}
	}
	walk(out)
	return out
}

// canonicalFormat keeps one language in every language map: the best
// match for the Accept-Language list, or the first key.
func canonicalFormat(st obj, langs []string) obj {
	out := deepCopy(st).(obj)
	var walk func(v any, key string) any
	walk = func(v any, key string) any {
		switch x := v.(type) {
		case obj:
			if isLangMapKey(key) {
				return pickLang(x, langs)
			}
			if key == "extensions" {
				return x
			}
			for k, e := range x {
				x[k] = walk(e, k)
			}
			return x
		case []any:
			for i, e := range x {
				x[i] = walk(e, key)
			}
		}
		return v
	}
	return walk(out, "").(obj)
}

func isLangMapKey(k string) bool {
	return k == "display" || k == "name" || k == "description"
}

func pickLang(m obj, langs []string) any {
	if len(m) <= 1 {
		return m
	}
	// The name of an agent is a string, never a map; only maps reach here.
	for _, l := range langs {
		for k, v := range m {
			if strings.EqualFold(k, l) {
				return obj{k: v}
			}
		}
		for k, v := range m {
			if strings.HasPrefix(strings.ToLower(k), strings.ToLower(l)+"-") || strings.HasPrefix(strings.ToLower(l), strings.ToLower(k)+"-") {
				return obj{k: v}
			}
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return obj{keys[0]: m[keys[0]]}
}

// acceptLanguages lists the languages of an Accept-Language header, most
// wanted first.
func acceptLanguages(h string) []string {
	type lq struct {
		l string
		q float64
	}
	var ls []lq
	for _, part := range strings.Split(h, ",") {
		p := strings.TrimSpace(part)
		if p == "" {
			continue
		}
		q := 1.0
		if i := strings.Index(p, ";"); i >= 0 {
			if qs, ok := strings.CutPrefix(strings.TrimSpace(p[i+1:]), "q="); ok {
				if f, err := json.Number(qs).Float64(); err == nil {
					q = f
				}
			}
			p = strings.TrimSpace(p[:i])
		}
		if p != "*" {
			ls = append(ls, lq{p, q})
		}
	}
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].q > ls[j].q })
	out := make([]string, len(ls))
	for i, x := range ls {
		out[i] = x.l
	}
	return out
}

// mergeDefinition merges a new activity definition into a known one:
// language maps gain entries, other properties take the new value.
func mergeDefinition(old, nw obj) obj {
	out := deepCopy(old).(obj)
	for k, v := range nw {
		if isLangMapKey(k) || k == "extensions" {
			if om, ok := out[k].(obj); ok {
				if nm, ok := v.(obj); ok {
					for lk, lv := range nm {
						om[lk] = lv
					}
					continue
				}
			}
		}
		out[k] = deepCopy(v)
	}
	return out
}

func mustRe(s string) *regexp.Regexp { return regexp.MustCompile(s) }

var reSeconds = regexp.MustCompile(`(\d+)(?:[.,](\d+))?S$`)

// truncateDuration cuts the seconds of an ISO 8601 duration to hundredths:
// the spec compares durations to 0.01 s.
func truncateDuration(d string) string {
	return reSeconds.ReplaceAllStringFunc(d, func(m string) string {
		sm := reSeconds.FindStringSubmatch(m)
		frac := sm[2]
		if len(frac) > 2 {
			frac = frac[:2]
		}
		frac = strings.TrimRight(frac, "0")
		if frac == "" {
			return sm[1] + "S"
		}
		return sm[1] + "." + frac + "S"
	})
}

// arrayContextActivities stores context activities always as arrays, as
// the spec wants them returned.
func arrayContextActivities(s obj) {
	if c, ok := s["context"].(obj); ok {
		if ca, ok := c["contextActivities"].(obj); ok {
			for k, v := range ca {
				if _, isList := v.([]any); !isList {
					ca[k] = []any{v}
				}
			}
		}
	}
	if o, ok := s["object"].(obj); ok && o["objectType"] == "SubStatement" {
		arrayContextActivities(o)
	}
}
