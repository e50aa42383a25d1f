package lrs

import (
	"encoding/json"
	"fmt"
	"math"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// Spec versions a request can speak.
const (
	V103 = "1.0.3"
	V200 = "2.0.0"
)

// invalidError is a statement or parameter that breaks the spec's rules;
// it becomes a 400 with the message (xAPI clients read it in English).
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// validator checks one statement against the rules of one spec version.
type validator struct {
	ver string // V103 or V200
}

type obj = map[string]any

var (
	reUUID     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	reScheme   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	reSHA1     = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)
	reSHA2     = regexp.MustCompile(`^[0-9a-fA-F]{56}$|^[0-9a-fA-F]{64}$|^[0-9a-fA-F]{96}$|^[0-9a-fA-F]{128}$`)
	reDuration = regexp.MustCompile(`^P(?:(\d+(?:[.,]\d+)?)Y)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)D)?(?:T(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$|^P\d+(?:[.,]\d+)?W$`)
	reStamp    = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}(?::?\d{2})?)?$`)
	reLangTag  = regexp.MustCompile(`^(?i:(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})(?:-[a-z]{4})?(?:-(?:[a-z]{2}|[0-9]{3}))?(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*(?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*(?:-x(?:-[a-z0-9]{1,8})+)?|x(?:-[a-z0-9]{1,8})+|i-[a-z]{2,8}|en-GB-oed|zh-min-nan|zh-[a-z]{3,8})$`)
	reMIME     = regexp.MustCompile(`^[a-zA-Z0-9!#$&^_.+-]+/[a-zA-Z0-9!#$&^_.+-]+(?:\s*;.*)?$`)
)

func isUUID(s string) bool { return reUUID.MatchString(s) }

// isIRI accepts an absolute IRI: a scheme and no spaces or control
// characters.
func isIRI(s string) bool {
	if !reScheme.MatchString(s) || len(s) > maxIRI {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == '<' || r == '>' || r == '"' || r == '{' || r == '}' || r == '|' || r == '\\' || r == '^' || r == '`' || r == 0x7f {
			return false
		}
	}
	return true
}

const maxIRI = 2048

// ParseTimestamp reads an ISO 8601 timestamp. requireZone refuses one
// without an offset.
func ParseTimestamp(s string, requireZone bool) (time.Time, error) {
	m := reStamp.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, fmt.Errorf("not an ISO 8601 timestamp: %q", s)
	}
	zone := m[8]
	if zone == "" && requireZone {
		return time.Time{}, fmt.Errorf("timestamp %q has no time zone offset", s)
	}
	if zone == "-00" || zone == "-00:00" || zone == "-0000" {
		return time.Time{}, fmt.Errorf("timestamp %q uses the offset -00:00", s)
	}
	norm := m[1] + "-" + m[2] + "-" + m[3] + "T" + m[4] + ":" + m[5] + ":" + m[6] + m[7]
	switch {
	case zone == "" || zone == "z" || zone == "Z":
		norm += "Z"
	case len(zone) == 3:
		norm += zone + ":00"
	case len(zone) == 5:
		norm += zone[:3] + ":" + zone[3:]
	default:
		norm += zone
	}
	t, err := time.Parse(time.RFC3339Nano, norm)
	if err != nil {
		return time.Time{}, fmt.Errorf("not a valid timestamp: %q", s)
	}
	return t, nil
}

func (v *validator) statement(st obj) error {
	return v.statementLike(st, false)
}

var statementKeys = set("id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority", "version", "attachments")
var subStatementKeys = set("objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments")

func set(ks ...string) map[string]bool {
	m := make(map[string]bool, len(ks))
	for _, k := range ks {
		m[k] = true
	}
	return m
}

func onlyKeys(o obj, allowed map[string]bool, what string) error {
	for k := range o {
		if !allowed[k] {
			return invalidf("%s has an unknown property %q", what, k)
		}
	}
	return nil
}

func (v *validator) statementLike(st obj, sub bool) error {
	what := "statement"
	keys := statementKeys
	if sub {
		what, keys = "SubStatement", subStatementKeys
	}
	if err := onlyKeys(st, keys, what); err != nil {
		return err
	}
	if id, ok := st["id"]; ok {
		s, ok := id.(string)
		if !ok || !isUUID(s) {
			return invalidf("statement id must be a UUID")
		}
	}
	a, ok := st["actor"]
	if !ok {
		return invalidf("%s has no actor", what)
	}
	if err := v.actor(a, "actor"); err != nil {
		return err
	}
	vb, ok := st["verb"]
	if !ok {
		return invalidf("%s has no verb", what)
	}
	if err := v.verb(vb); err != nil {
		return err
	}
	o, ok := st["object"]
	if !ok {
		return invalidf("%s has no object", what)
	}
	if vo, _ := vb.(obj); !sub && vo["id"] == VerbVoided {
		if oo, _ := o.(obj); oo == nil || oo["objectType"] != "StatementRef" {
			return invalidf("a voiding statement's object must be a StatementRef")
		}
	}
	if err := v.object(o, sub); err != nil {
		return err
	}
	if r, ok := st["result"]; ok {
		if err := v.result(r); err != nil {
			return err
		}
	}
	if c, ok := st["context"]; ok {
		if err := v.context(c, o.(obj)); err != nil {
			return err
		}
	}
	for _, k := range []string{"timestamp", "stored"} {
		if ts, ok := st[k]; ok {
			s, ok := ts.(string)
			if !ok {
				return invalidf("%s must be a string", k)
			}
			if _, err := ParseTimestamp(s, v.ver == V200); err != nil {
				return invalidf("%s: %v", k, err)
			}
		}
	}
	if au, ok := st["authority"]; ok {
		if err := v.authority(au); err != nil {
			return err
		}
	}
	if ver, ok := st["version"]; ok {
		s, ok := ver.(string)
		if !ok || !validStatementVersion(s, v.ver) {
			return invalidf("statement version %v is not supported", ver)
		}
	}
	if at, ok := st["attachments"]; ok {
		if err := v.attachments(at); err != nil {
			return err
		}
	}
	return nil
}

var reVersion = regexp.MustCompile(`^(1\.0|2\.0)(?:\.\d+)?$`)

func validStatementVersion(s, reqVer string) bool {
	m := reVersion.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	return m[1] == "1.0" || reqVer == V200
}

func (v *validator) actor(a any, what string) error {
	o, ok := a.(obj)
	if !ok {
		return invalidf("%s must be an object", what)
	}
	if ot, ok := o["objectType"]; ok && ot == "Group" {
		return v.group(o, what)
	}
	return v.agent(o, what)
}

var agentProps = set("objectType", "name", "mbox", "mbox_sha1sum", "openid", "account")
var groupKeys = set("objectType", "name", "mbox", "mbox_sha1sum", "openid", "account", "member")

func (v *validator) agent(o obj, what string) error {
	if err := onlyKeys(o, agentProps, what); err != nil {
		return err
	}
	if ot, ok := o["objectType"]; ok && ot != "Agent" {
		return invalidf("%s: objectType must be \"Agent\"", what)
	}
	if n, err := v.ifis(o, what); err != nil {
		return err
	} else if n != 1 {
		return invalidf("%s must have exactly one inverse functional identifier", what)
	}
	if n, ok := o["name"]; ok {
		if _, ok := n.(string); !ok {
			return invalidf("%s: name must be a string", what)
		}
	}
	return nil
}

func (v *validator) group(o obj, what string) error {
	if err := onlyKeys(o, groupKeys, what); err != nil {
		return err
	}
	if o["objectType"] != "Group" {
		return invalidf("%s: objectType must be \"Group\"", what)
	}
	n, err := v.ifis(o, what)
	if err != nil {
		return err
	}
	if n > 1 {
		return invalidf("%s: a group has at most one inverse functional identifier", what)
	}
	if nm, ok := o["name"]; ok {
		if _, ok := nm.(string); !ok {
			return invalidf("%s: name must be a string", what)
		}
	}
	m, has := o["member"]
	if !has {
		if n == 0 {
			return invalidf("%s: an anonymous group must list its members", what)
		}
		return nil
	}
	list, ok := m.([]any)
	if !ok {
		return invalidf("%s: member must be an array", what)
	}
	if n == 0 && len(list) == 0 {
		return invalidf("%s: an anonymous group must list its members", what)
	}
	for _, x := range list {
		mo, ok := x.(obj)
		if !ok {
			return invalidf("%s: a member must be an agent", what)
		}
		if mo["objectType"] == "Group" {
			return invalidf("%s: a member of a group cannot be a group", what)
		}
		if err := v.agent(mo, what+" member"); err != nil {
			return err
		}
	}
	return nil
}

// ifis checks the inverse functional identifiers present and counts them.
func (v *validator) ifis(o obj, what string) (int, error) {
	n := 0
	if m, ok := o["mbox"]; ok {
		n++
		s, ok := m.(string)
		if !ok || !strings.HasPrefix(s, "mailto:") {
			return 0, invalidf("%s: mbox must be a mailto: IRI", what)
		}
		addr, err := mail.ParseAddress(strings.TrimPrefix(s, "mailto:"))
		if err != nil || addr.Name != "" || addr.Address != strings.TrimPrefix(s, "mailto:") {
			return 0, invalidf("%s: mbox is not a valid email address", what)
		}
	}
	if m, ok := o["mbox_sha1sum"]; ok {
		n++
		s, ok := m.(string)
		if !ok || !reSHA1.MatchString(s) {
			return 0, invalidf("%s: mbox_sha1sum must be a hex SHA-1", what)
		}
	}
	if m, ok := o["openid"]; ok {
		n++
		s, ok := m.(string)
		if !ok || !isIRI(s) {
			return 0, invalidf("%s: openid must be a URI", what)
		}
	}
	if m, ok := o["account"]; ok {
		n++
		a, ok := m.(obj)
		if !ok {
			return 0, invalidf("%s: account must be an object", what)
		}
		if err := onlyKeys(a, set("homePage", "name"), what+" account"); err != nil {
			return 0, err
		}
		hp, ok := a["homePage"].(string)
		if !ok || !isIRI(hp) {
			return 0, invalidf("%s: account homePage must be an IRL", what)
		}
		if nm, ok := a["name"].(string); !ok || nm == "" {
			return 0, invalidf("%s: account name must be a string", what)
		}
	}
	return n, nil
}

func (v *validator) verb(x any) error {
	o, ok := x.(obj)
	if !ok {
		return invalidf("verb must be an object")
	}
	if err := onlyKeys(o, set("id", "display"), "verb"); err != nil {
		return err
	}
	id, ok := o["id"].(string)
	if !ok || !isIRI(id) {
		return invalidf("verb id must be an IRI")
	}
	if d, ok := o["display"]; ok {
		if err := langMap(d, "verb display"); err != nil {
			return err
		}
	}
	if id == VerbVoided {
		return nil
	}
	return nil
}

// VerbVoided is the verb of a voiding statement.
const VerbVoided = "http://adlnet.gov/expapi/verbs/voided"

func langMap(x any, what string) error {
	o, ok := x.(obj)
	if !ok {
		return invalidf("%s must be a language map", what)
	}
	for k, val := range o {
		if !reLangTag.MatchString(k) {
			return invalidf("%s: %q is not a language tag", what, k)
		}
		if _, ok := val.(string); !ok {
			return invalidf("%s: values must be strings", what)
		}
	}
	return nil
}

func extensions(x any, what string) error {
	o, ok := x.(obj)
	if !ok {
		return invalidf("%s must be an object", what)
	}
	for k := range o {
		if !isIRI(k) {
			return invalidf("%s: key %q is not an IRI", what, k)
		}
	}
	return nil
}

func (v *validator) object(x any, inSub bool) error {
	o, ok := x.(obj)
	if !ok {
		return invalidf("object must be an object")
	}
	ot, has := o["objectType"]
	if !has {
		ot = "Activity"
	}
	switch ot {
	case "Activity":
		return v.activity(o, "object")
	case "Agent":
		return v.agent(o, "object")
	case "Group":
		return v.group(o, "object")
	case "StatementRef":
		return statementRef(o, "object")
	case "SubStatement":
		if inSub {
			return invalidf("a SubStatement cannot contain a SubStatement")
		}
		return v.statementLike(o, true)
	}
	return invalidf("object has an unknown objectType %v", ot)
}

func statementRef(o obj, what string) error {
	if err := onlyKeys(o, set("objectType", "id"), what); err != nil {
		return err
	}
	if o["objectType"] != "StatementRef" {
		return invalidf("%s: objectType must be \"StatementRef\"", what)
	}
	id, ok := o["id"].(string)
	if !ok || !isUUID(id) {
		return invalidf("%s: id must be a UUID", what)
	}
	return nil
}

var interactionTypes = set("true-false", "choice", "fill-in", "long-fill-in", "matching", "performance", "sequencing", "likert", "numeric", "other")
var componentLists = map[string][]string{
	"choice": {"choices"}, "sequencing": {"choices"}, "likert": {"scale"},
	"matching": {"source", "target"}, "performance": {"steps"},
}

func (v *validator) activity(o obj, what string) error {
	if err := onlyKeys(o, set("objectType", "id", "definition"), what); err != nil {
		return err
	}
	if ot, ok := o["objectType"]; ok && ot != "Activity" {
		return invalidf("%s: objectType must be \"Activity\"", what)
	}
	id, ok := o["id"].(string)
	if !ok || !isIRI(id) {
		return invalidf("%s: activity id must be an IRI", what)
	}
	d, ok := o["definition"]
	if !ok {
		return nil
	}
	def, ok := d.(obj)
	if !ok {
		return invalidf("%s: definition must be an object", what)
	}
	if err := onlyKeys(def, set("name", "description", "type", "moreInfo", "extensions", "interactionType",
		"correctResponsesPattern", "choices", "scale", "source", "target", "steps"), what+" definition"); err != nil {
		return err
	}
	for _, k := range []string{"name", "description"} {
		if x, ok := def[k]; ok {
			if err := langMap(x, what+" definition "+k); err != nil {
				return err
			}
		}
	}
	for _, k := range []string{"type", "moreInfo"} {
		if x, ok := def[k]; ok {
			if s, ok := x.(string); !ok || !isIRI(s) {
				return invalidf("%s: definition %s must be an IRI", what, k)
			}
		}
	}
	if x, ok := def["extensions"]; ok {
		if err := extensions(x, what+" definition extensions"); err != nil {
			return err
		}
	}
	it, hasIT := def["interactionType"]
	its, _ := it.(string)
	if hasIT && !interactionTypes[its] {
		return invalidf("%s: unknown interactionType %v", what, it)
	}
	if x, ok := def["correctResponsesPattern"]; ok {
		if !hasIT {
			return invalidf("%s: correctResponsesPattern needs an interactionType", what)
		}
		list, ok := x.([]any)
		if !ok {
			return invalidf("%s: correctResponsesPattern must be an array of strings", what)
		}
		for _, s := range list {
			if _, ok := s.(string); !ok {
				return invalidf("%s: correctResponsesPattern must be an array of strings", what)
			}
		}
	}
	allowed := map[string]bool{}
	for _, k := range componentLists[its] {
		allowed[k] = true
	}
	for _, k := range []string{"choices", "scale", "source", "target", "steps"} {
		x, ok := def[k]
		if !ok {
			continue
		}
		if !allowed[k] {
			return invalidf("%s: %s is not allowed for interactionType %q", what, k, its)
		}
		list, ok := x.([]any)
		if !ok {
			return invalidf("%s: %s must be an array", what, k)
		}
		seen := map[string]bool{}
		for _, c := range list {
			co, ok := c.(obj)
			if !ok {
				return invalidf("%s: %s entries must be objects", what, k)
			}
			if err := onlyKeys(co, set("id", "description"), what+" "+k); err != nil {
				return err
			}
			cid, ok := co["id"].(string)
			if !ok || cid == "" || strings.ContainsAny(cid, " \t\n") {
				return invalidf("%s: %s entries need a string id", what, k)
			}
			if seen[cid] {
				return invalidf("%s: %s id %q is repeated", what, k, cid)
			}
			seen[cid] = true
			if ds, ok := co["description"]; ok {
				if err := langMap(ds, what+" "+k+" description"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (v *validator) result(x any) error {
	o, ok := x.(obj)
	if !ok {
		return invalidf("result must be an object")
	}
	if err := onlyKeys(o, set("score", "success", "completion", "response", "duration", "extensions"), "result"); err != nil {
		return err
	}
	if s, ok := o["score"]; ok {
		if err := score(s); err != nil {
			return err
		}
	}
	for _, k := range []string{"success", "completion"} {
		if b, ok := o[k]; ok {
			if _, ok := b.(bool); !ok {
				return invalidf("result %s must be true or false", k)
			}
		}
	}
	if r, ok := o["response"]; ok {
		if _, ok := r.(string); !ok {
			return invalidf("result response must be a string")
		}
	}
	if d, ok := o["duration"]; ok {
		s, ok := d.(string)
		if !ok || !reDuration.MatchString(s) || s == "P" || strings.HasSuffix(s, "T") {
			return invalidf("result duration must be an ISO 8601 duration")
		}
	}
	if e, ok := o["extensions"]; ok {
		return extensions(e, "result extensions")
	}
	return nil
}

func num(x any) (float64, bool) {
	n, ok := x.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil && !math.IsInf(f, 0)
}

func score(x any) error {
	o, ok := x.(obj)
	if !ok {
		return invalidf("result score must be an object")
	}
	if err := onlyKeys(o, set("scaled", "raw", "min", "max"), "score"); err != nil {
		return err
	}
	vals := map[string]float64{}
	for k, val := range o {
		f, ok := num(val)
		if !ok {
			return invalidf("score %s must be a number", k)
		}
		vals[k] = f
	}
	if s, ok := vals["scaled"]; ok && (s < -1 || s > 1) {
		return invalidf("score scaled must be between -1 and 1")
	}
	mn, hasMin := vals["min"]
	mx, hasMax := vals["max"]
	raw, hasRaw := vals["raw"]
	if hasMin && hasMax && mn >= mx {
		return invalidf("score min must be less than max")
	}
	if hasRaw && hasMin && raw < mn {
		return invalidf("score raw must not be below min")
	}
	if hasRaw && hasMax && raw > mx {
		return invalidf("score raw must not be above max")
	}
	return nil
}

func (v *validator) context(x any, object obj) error {
	o, ok := x.(obj)
	if !ok {
		return invalidf("context must be an object")
	}
	keys := set("registration", "instructor", "team", "contextActivities", "revision", "platform", "language", "statement", "extensions")
	if v.ver == V200 {
		keys["contextAgents"] = true
		keys["contextGroups"] = true
	}
	if err := onlyKeys(o, keys, "context"); err != nil {
		return err
	}
	if r, ok := o["registration"]; ok {
		if s, ok := r.(string); !ok || !isUUID(s) {
			return invalidf("context registration must be a UUID")
		}
	}
	if i, ok := o["instructor"]; ok {
		if err := v.actor(i, "context instructor"); err != nil {
			return err
		}
	}
	if t, ok := o["team"]; ok {
		to, ok := t.(obj)
		if !ok || to["objectType"] != "Group" {
			return invalidf("context team must be a group")
		}
		if err := v.group(to, "context team"); err != nil {
			return err
		}
	}
	if ca, ok := o["contextActivities"]; ok {
		cao, ok := ca.(obj)
		if !ok {
			return invalidf("contextActivities must be an object")
		}
		if err := onlyKeys(cao, set("parent", "grouping", "category", "other"), "contextActivities"); err != nil {
			return err
		}
		for k, val := range cao {
			list, isList := val.([]any)
			if !isList {
				list = []any{val}
			}
			for _, a := range list {
				ao, ok := a.(obj)
				if !ok {
					return invalidf("contextActivities %s must hold activities", k)
				}
				if err := v.activity(ao, "contextActivities "+k); err != nil {
					return err
				}
			}
		}
	}
	isActivity := object["objectType"] == nil || object["objectType"] == "Activity"
	for _, k := range []string{"revision", "platform"} {
		if s, ok := o[k]; ok {
			if _, ok := s.(string); !ok {
				return invalidf("context %s must be a string", k)
			}
			if !isActivity {
				return invalidf("context %s is only allowed when the object is an activity", k)
			}
		}
	}
	if l, ok := o["language"]; ok {
		if s, ok := l.(string); !ok || !reLangTag.MatchString(s) {
			return invalidf("context language must be a language tag")
		}
	}
	if s, ok := o["statement"]; ok {
		so, ok := s.(obj)
		if !ok {
			return invalidf("context statement must be a StatementRef")
		}
		if err := statementRef(so, "context statement"); err != nil {
			return err
		}
	}
	if e, ok := o["extensions"]; ok {
		if err := extensions(e, "context extensions"); err != nil {
			return err
		}
	}
	for _, k := range []string{"contextAgents", "contextGroups"} {
		x, ok := o[k]
		if !ok {
			continue
		}
		list, ok := x.([]any)
		if !ok {
			return invalidf("context %s must be an array", k)
		}
		for _, e := range list {
			eo, ok := e.(obj)
			if !ok {
				return invalidf("context %s entries must be objects", k)
			}
			if k == "contextAgents" {
				if err := onlyKeys(eo, set("objectType", "agent", "relevantTypes"), k); err != nil {
					return err
				}
				if eo["objectType"] != "contextAgent" {
					return invalidf("contextAgents objectType must be \"contextAgent\"")
				}
				ag, ok := eo["agent"].(obj)
				if !ok {
					return invalidf("contextAgents entries need an agent")
				}
				if err := v.agent(ag, "contextAgents agent"); err != nil {
					return err
				}
			} else {
				if err := onlyKeys(eo, set("objectType", "group", "relevantTypes"), k); err != nil {
					return err
				}
				if eo["objectType"] != "contextGroup" {
					return invalidf("contextGroups objectType must be \"contextGroup\"")
				}
				g, ok := eo["group"].(obj)
				if !ok {
					return invalidf("contextGroups entries need a group")
				}
				if err := v.group(g, "contextGroups group"); err != nil {
					return err
				}
			}
			if rt, ok := eo["relevantTypes"]; ok {
				list, ok := rt.([]any)
				if !ok || len(list) == 0 {
					return invalidf("%s relevantTypes must be a non-empty array of IRIs", k)
				}
				for _, t := range list {
					if s, ok := t.(string); !ok || !isIRI(s) {
						return invalidf("%s relevantTypes must be IRIs", k)
					}
				}
			}
		}
	}
	return nil
}

func (v *validator) authority(x any) error {
	o, ok := x.(obj)
	if !ok {
		return invalidf("authority must be an agent or group")
	}
	if o["objectType"] == "Group" {
		if err := v.group(o, "authority"); err != nil {
			return err
		}
		if n, _ := v.ifis(o, "authority"); n != 0 {
			return invalidf("an authority group must be anonymous (an OAuth consumer and user)")
		}
		m, _ := o["member"].([]any)
		if len(m) != 2 {
			return invalidf("an authority group must have exactly two members")
		}
		return nil
	}
	return v.agent(o, "authority")
}

func (v *validator) attachments(x any) error {
	list, ok := x.([]any)
	if !ok {
		return invalidf("attachments must be an array")
	}
	for _, a := range list {
		o, ok := a.(obj)
		if !ok {
			return invalidf("an attachment must be an object")
		}
		if err := onlyKeys(o, set("usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"), "attachment"); err != nil {
			return err
		}
		if s, ok := o["usageType"].(string); !ok || !isIRI(s) {
			return invalidf("attachment usageType must be an IRI")
		}
		d, ok := o["display"]
		if !ok {
			return invalidf("attachment needs a display")
		}
		if err := langMap(d, "attachment display"); err != nil {
			return err
		}
		if ds, ok := o["description"]; ok {
			if err := langMap(ds, "attachment description"); err != nil {
				return err
			}
		}
		if s, ok := o["contentType"].(string); !ok || !reMIME.MatchString(s) {
			return invalidf("attachment contentType must be a media type")
		}
		n, ok := o["length"].(json.Number)
		if !ok {
			return invalidf("attachment length must be an integer")
		}
		if l, err := n.Int64(); err != nil || l < 0 {
			return invalidf("attachment length must be a non-negative integer")
		}
		if s, ok := o["sha2"].(string); !ok || !reSHA2.MatchString(s) {
			return invalidf("attachment sha2 must be a hex SHA-2 hash")
		}
		if f, ok := o["fileUrl"]; ok {
			if s, ok := f.(string); !ok || !isIRI(s) {
				return invalidf("attachment fileUrl must be an IRL")
			}
		}
	}
	return nil
}
