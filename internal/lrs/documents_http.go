package lrs

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

func (a *API) documents(c *call, kind string) error {
	p := c.params
	idParam := "profileId"
	allowed := set("profileId", "since")
	switch kind {
	case KindState:
		idParam = "stateId"
		allowed = set("activityId", "agent", "registration", "stateId", "since")
	case KindActivityProfile:
		allowed["activityId"] = true
	case KindAgentProfile:
		allowed["agent"] = true
	}
	for k, vs := range p {
		if !allowed[k] {
			return fail(http.StatusBadRequest, "unknown parameter %q", k)
		}
		if len(vs) > 1 {
			return fail(http.StatusBadRequest, "parameter %q is given more than once", k)
		}
	}
	k := DocKey{Kind: kind, OrgPath: c.client.OrgPath}
	if allowed["activityId"] {
		k.Activity = p.Get("activityId")
		if !p.Has("activityId") {
			return fail(http.StatusBadRequest, "activityId is required")
		}
		if !isIRI(k.Activity) {
			return fail(http.StatusBadRequest, "activityId must be an IRI")
		}
	}
	if allowed["agent"] {
		if !p.Has("agent") {
			return fail(http.StatusBadRequest, "agent is required")
		}
		v, err := decodeJSON([]byte(p.Get("agent")))
		ao, ok := v.(obj)
		if err != nil || !ok {
			return fail(http.StatusBadRequest, "agent must be a JSON agent")
		}
		if err := (&validator{ver: c.ver}).actor(ao, "agent"); err != nil {
			return err
		}
		k.Agent = AgentKey(ao)
		if k.Agent == "" {
			return fail(http.StatusBadRequest, "agent must have an identifier")
		}
	}
	if p.Has("registration") {
		k.Registration = strings.ToLower(p.Get("registration"))
		if !isUUID(k.Registration) {
			return fail(http.StatusBadRequest, "registration must be a UUID")
		}
	}
	single := p.Has(idParam)
	k.DocID = p.Get(idParam)
	pre := Precondition{IfMatch: c.header.Get("If-Match"), IfNoneMatch: c.header.Get("If-None-Match")}
	switch c.method {
	case "GET", "HEAD":
		if single {
			if p.Has("since") {
				return fail(http.StatusBadRequest, "since is for lists of documents")
			}
			d, err := a.svc.GetDocument(c.ctx(), k)
			if err != nil {
				return err
			}
			h := c.w.Header()
			h.Set("Content-Type", d.ContentType)
			h.Set("ETag", d.ETag)
			h.Set("Last-Modified", httpTime(d.Updated))
			h.Set("Content-Length", strconv.Itoa(len(d.Body)))
			c.w.WriteHeader(http.StatusOK)
			c.w.Write(d.Body) //nolint:errcheck // the client may have gone
			return nil
		}
		var since int64
		hasSince := p.Has("since")
		if hasSince {
			t, err := ParseTimestamp(p.Get("since"), false)
			if err != nil {
				return fail(http.StatusBadRequest, "since must be an ISO 8601 timestamp")
			}
			since = t.UnixMilli()
		}
		ids, err := a.svc.DocumentIDs(c.ctx(), k, since, hasSince)
		if err != nil {
			return err
		}
		return writeJSON(c.w, http.StatusOK, ids)
	case "PUT", "POST":
		if !single {
			return fail(http.StatusBadRequest, "%s is required", idParam)
		}
		if p.Has("since") {
			return fail(http.StatusBadRequest, "since is for lists of documents")
		}
		if int64(len(c.body)) > a.svc.lim.MaxDocument {
			return fail(http.StatusRequestEntityTooLarge, "a document is at most %d bytes", a.svc.lim.MaxDocument)
		}
		ct := c.header.Get("Content-Type")
		if ct == "" {
			ct = "application/octet-stream"
		}
		if mt, _, err := mime.ParseMediaType(ct); err != nil {
			return fail(http.StatusBadRequest, "malformed Content-Type")
		} else if mt == "application/json" {
			if _, err := decodeJSON(c.body); err != nil {
				return fail(http.StatusBadRequest, "the document is not valid JSON")
			}
		}
		pre.Required = c.method == "PUT" && (kind != KindState || c.ver == V200)
		pre.RequiredNew = c.method == "PUT" && kind != KindState && c.ver == V103
		d, err := a.svc.PutDocument(c.ctx(), k, ct, c.body, c.method == "POST", pre)
		if err != nil {
			return err
		}
		c.w.Header().Set("ETag", d.ETag)
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	case "DELETE":
		if p.Has("since") {
			return fail(http.StatusBadRequest, "since is for lists of documents")
		}
		if !single && kind != KindState {
			return fail(http.StatusBadRequest, "%s is required", idParam)
		}
		if err := a.svc.DeleteDocuments(c.ctx(), k, !single, pre); err != nil {
			return err
		}
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return fail(http.StatusMethodNotAllowed, "method %s is not allowed here", c.method)
}

func (a *API) agents(c *call) error {
	for k := range c.params {
		if k != "agent" {
			return fail(http.StatusBadRequest, "unknown parameter %q", k)
		}
	}
	if !c.params.Has("agent") {
		return fail(http.StatusBadRequest, "agent is required")
	}
	v, err := decodeJSON([]byte(c.params.Get("agent")))
	ao, ok := v.(obj)
	if err != nil || !ok {
		return fail(http.StatusBadRequest, "agent must be a JSON agent")
	}
	if err := (&validator{ver: c.ver}).actor(ao, "agent"); err != nil {
		return err
	}
	if AgentKey(ao) == "" {
		return fail(http.StatusBadRequest, "agent must have an identifier")
	}
	person, err := a.svc.Person(c.ctx(), ao, c.orgPrefix())
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, person)
}

func (a *API) activities(c *call) error {
	for k := range c.params {
		if k != "activityId" {
			return fail(http.StatusBadRequest, "unknown parameter %q", k)
		}
	}
	id := c.params.Get("activityId")
	if !c.params.Has("activityId") || !isIRI(id) {
		return fail(http.StatusBadRequest, "activityId must be an IRI")
	}
	act, err := a.svc.Activity(c.ctx(), id, c.orgPrefix())
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, act)
}
