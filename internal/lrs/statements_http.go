package lrs

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// UsageSignature is the usage type of a statement's JWS signature.
const UsageSignature = "http://adlnet.gov/expapi/attachments/signature"

// readStatements parses a statement body: JSON, or multipart/mixed with the
// statements first and their attachments after. It validates everything.
func (a *API) readStatements(c *call) (stmts []obj, batch bool, atts map[string]Attachment, err error) {
	ct := c.header.Get("Content-Type")
	mt, params, perr := mime.ParseMediaType(ct)
	if ct == "" {
		mt, perr = "application/json", nil
	}
	if perr != nil {
		return nil, false, nil, fail(http.StatusBadRequest, "malformed Content-Type")
	}
	var js []byte
	atts = map[string]Attachment{}
	switch mt {
	case "application/json":
		js = c.body
	case "multipart/mixed":
		js, atts, err = a.readParts(c.body, params["boundary"])
		if err != nil {
			return nil, false, nil, err
		}
	default:
		return nil, false, nil, fail(http.StatusBadRequest, "statements are sent as application/json or multipart/mixed, not %s", mt)
	}
	v, err := decodeJSON(js)
	if err != nil {
		return nil, false, nil, fail(http.StatusBadRequest, "the statements are not valid JSON: %v", err)
	}
	switch x := v.(type) {
	case obj:
		stmts = []obj{x}
	case []any:
		batch = true
		if len(x) > a.svc.lim.MaxStatements {
			return nil, false, nil, fail(http.StatusRequestEntityTooLarge, "a batch holds at most %d statements", a.svc.lim.MaxStatements)
		}
		for _, e := range x {
			o, ok := e.(obj)
			if !ok {
				return nil, false, nil, fail(http.StatusBadRequest, "a batch must be an array of statements")
			}
			stmts = append(stmts, o)
		}
	default:
		return nil, false, nil, fail(http.StatusBadRequest, "send a statement or an array of statements")
	}
	val := validator{ver: c.ver}
	used := map[string]bool{}
	for _, st := range stmts {
		if err := val.statement(st); err != nil {
			return nil, false, nil, err
		}
		list, _ := st["attachments"].([]any)
		for _, x := range list {
			at := x.(obj)
			sha := strings.ToLower(at["sha2"].(string))
			part, have := atts[sha]
			if at["usageType"] == UsageSignature {
				if !have {
					return nil, false, nil, fail(http.StatusBadRequest, "the signature attachment is missing")
				}
				if ct, _ := at["contentType"].(string); ct != "application/octet-stream" {
					return nil, false, nil, fail(http.StatusBadRequest, "a signature attachment has contentType application/octet-stream")
				}
				if err := verifySignature(st, part.Data); err != nil {
					return nil, false, nil, err
				}
			}
			if _, hasURL := at["fileUrl"]; !hasURL && !have {
				return nil, false, nil, fail(http.StatusBadRequest, "attachment %s is neither sent nor has a fileUrl", sha)
			}
			used[sha] = true
		}
	}
	for sha := range atts {
		if !used[sha] {
			return nil, false, nil, fail(http.StatusBadRequest, "part %s matches no attachment of the statements", sha)
		}
	}
	return stmts, batch, atts, nil
}

func (a *API) readParts(body []byte, boundary string) ([]byte, map[string]Attachment, error) {
	if boundary == "" {
		return nil, nil, fail(http.StatusBadRequest, "multipart/mixed needs a boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var js []byte
	atts := map[string]Attachment{}
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fail(http.StatusBadRequest, "malformed multipart body: %v", err)
		}
		data, err := io.ReadAll(io.LimitReader(p, a.svc.lim.MaxAttachment+1))
		if err != nil {
			return nil, nil, fail(http.StatusBadRequest, "malformed multipart body: %v", err)
		}
		pct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if i == 0 {
			if pct != "application/json" {
				return nil, nil, fail(http.StatusBadRequest, "the first part must be the statements as application/json")
			}
			js = data
			continue
		}
		if int64(len(data)) > a.svc.lim.MaxAttachment {
			return nil, nil, fail(http.StatusRequestEntityTooLarge, "an attachment is larger than %d bytes", a.svc.lim.MaxAttachment)
		}
		sha := strings.ToLower(strings.TrimSpace(p.Header.Get("X-Experience-API-Hash")))
		if sha == "" {
			return nil, nil, fail(http.StatusBadRequest, "an attachment part needs an X-Experience-API-Hash header")
		}
		if cte := p.Header.Get("Content-Transfer-Encoding"); !strings.EqualFold(cte, "binary") {
			return nil, nil, fail(http.StatusBadRequest, "an attachment part needs Content-Transfer-Encoding: binary")
		}
		if got, ok := sha2Hex(data, len(sha)); !ok || got != sha {
			return nil, nil, fail(http.StatusBadRequest, "attachment part content does not match its SHA-2 hash %s", sha)
		}
		atts[sha] = Attachment{SHA2: sha, ContentType: p.Header.Get("Content-Type"), Data: data}
	}
	if js == nil {
		return nil, nil, fail(http.StatusBadRequest, "the multipart body has no statement part")
	}
	return js, atts, nil
}

func sha2Hex(data []byte, hexLen int) (string, bool) {
	var h hash.Hash
	switch hexLen {
	case 56:
		h = sha256.New224()
	case 64:
		h = sha256.New()
	case 96:
		h = sha512.New384()
	case 128:
		h = sha512.New()
	default:
		return "", false
	}
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil)), true
}

// verifySignature checks a JWS signature attachment: an RS256/384/512
// compact JWS whose payload is the statement as it was before the
// signature was attached; with an x5c certificate in its header, the
// signature itself is verified too.
func verifySignature(st obj, jws []byte) error {
	parts := strings.Split(strings.TrimSpace(string(jws)), ".")
	if len(parts) != 3 {
		return fail(http.StatusBadRequest, "the signature is not a compact JWS")
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[0], "="))
	pb, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	sig, err3 := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[2], "="))
	if err1 != nil || err2 != nil || err3 != nil {
		return fail(http.StatusBadRequest, "the signature is not a compact JWS")
	}
	var hdr struct {
		Alg string   `json:"alg"`
		X5c []string `json:"x5c"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return fail(http.StatusBadRequest, "the JWS header is not JSON")
	}
	var hf crypto.Hash
	switch hdr.Alg {
	case "RS256":
		hf = crypto.SHA256
	case "RS384":
		hf = crypto.SHA384
	case "RS512":
		hf = crypto.SHA512
	default:
		return fail(http.StatusBadRequest, "JWS algorithm %q is not allowed (RS256, RS384, RS512)", hdr.Alg)
	}
	pv, err := decodeJSON(pb)
	if err != nil {
		return fail(http.StatusBadRequest, "the JWS payload is not JSON")
	}
	payload, ok := pv.(obj)
	if !ok {
		return fail(http.StatusBadRequest, "the JWS payload is not a statement")
	}
	orig := deepCopy(st).(obj)
	if list, ok := orig["attachments"].([]any); ok {
		var keep []any
		for _, x := range list {
			if x.(obj)["usageType"] != UsageSignature {
				keep = append(keep, x)
			}
		}
		if len(keep) == 0 {
			delete(orig, "attachments")
		} else {
			orig["attachments"] = keep
		}
	}
	if pl, ok := payload["attachments"].([]any); ok && len(pl) == 0 {
		delete(payload, "attachments")
	}
	for _, k := range []string{"id", "timestamp"} {
		if _, ok := payload[k]; !ok {
			delete(orig, k)
		}
	}
	if !SameStatement(orig, payload) {
		return fail(http.StatusBadRequest, "the JWS payload does not match the statement")
	}
	if len(hdr.X5c) > 0 {
		der, err := base64.StdEncoding.DecodeString(hdr.X5c[0])
		if err != nil {
			return fail(http.StatusBadRequest, "the JWS x5c certificate is not base64")
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return fail(http.StatusBadRequest, "the JWS x5c certificate cannot be read")
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return fail(http.StatusBadRequest, "the JWS certificate key is not RSA")
		}
		h := hf.New()
		h.Write([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, hf, h.Sum(nil), sig); err != nil {
			return fail(http.StatusBadRequest, "the JWS signature does not verify")
		}
	}
	return nil
}

func (a *API) putStatement(c *call) error {
	for k := range c.params {
		if k != "statementId" {
			return fail(http.StatusBadRequest, "unexpected parameter %q", k)
		}
	}
	id := c.params.Get("statementId")
	if id == "" {
		return fail(http.StatusBadRequest, "statementId is required")
	}
	if !isUUID(id) {
		return fail(http.StatusBadRequest, "statementId must be a UUID")
	}
	stmts, batch, atts, err := a.readStatements(c)
	if err != nil {
		return err
	}
	if batch || len(stmts) != 1 {
		return fail(http.StatusBadRequest, "PUT takes one statement")
	}
	if sid, ok := stmts[0]["id"].(string); ok && !strings.EqualFold(sid, id) {
		return fail(http.StatusBadRequest, "the statement id differs from statementId")
	}
	stmts[0]["id"] = strings.ToLower(id)
	if _, err := a.svc.Store(c.ctx(), c.writer(a.svc), stmts, atts); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) postStatements(c *call) error {
	if len(c.params) > 0 {
		return fail(http.StatusBadRequest, "POST /statements takes no parameters")
	}
	stmts, _, atts, err := a.readStatements(c)
	if err != nil {
		return err
	}
	ids, err := a.svc.Store(c.ctx(), c.writer(a.svc), stmts, atts)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, ids)
}

var getParams = set("statementId", "voidedStatementId", "agent", "verb", "activity", "registration", "related_activities",
	"related_agents", "since", "until", "limit", "format", "attachments", "ascending", "cursor")

func boolParam(v url.Values, k string) (bool, error) {
	s := v.Get(k)
	switch s {
	case "":
		return false, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fail(http.StatusBadRequest, "%s must be true or false", k)
}

func (a *API) getStatements(c *call) error {
	p := c.params
	for k, vs := range p {
		if !getParams[k] {
			return fail(http.StatusBadRequest, "unknown parameter %q", k)
		}
		if len(vs) > 1 {
			return fail(http.StatusBadRequest, "parameter %q is given more than once", k)
		}
	}
	format := p.Get("format")
	if format == "" {
		format = "exact"
	}
	if format != "exact" && format != "ids" && format != "canonical" {
		return fail(http.StatusBadRequest, "format must be exact, ids or canonical")
	}
	withAtts, err := boolParam(p, "attachments")
	if err != nil {
		return err
	}
	langs := acceptLanguages(c.header.Get("Accept-Language"))
	out := func(st obj) obj {
		switch format {
		case "ids":
			return idsFormat(st)
		case "canonical":
			return canonicalFormat(st, langs)
		}
		return st
	}
	sid, vid := p.Get("statementId"), p.Get("voidedStatementId")
	if p.Has("statementId") || p.Has("voidedStatementId") {
		if p.Has("statementId") && p.Has("voidedStatementId") {
			return fail(http.StatusBadRequest, "give statementId or voidedStatementId, not both")
		}
		for k := range p {
			if k != "statementId" && k != "voidedStatementId" && k != "attachments" && k != "format" {
				return fail(http.StatusBadRequest, "parameter %q cannot be used with a statement id", k)
			}
		}
		id, voided := sid, false
		if p.Has("voidedStatementId") {
			id, voided = vid, true
		}
		if !isUUID(id) {
			return fail(http.StatusBadRequest, "the statement id must be a UUID")
		}
		st, err := a.svc.Statement(c.ctx(), id, c.orgPrefix())
		if err != nil {
			return err
		}
		if st.Voided != voided {
			return fail(http.StatusNotFound, "not found")
		}
		c.w.Header().Set("Last-Modified", httpTime(st.Stored))
		body := out(st.Body)
		if withAtts {
			return a.writeWithAttachments(c, body, []obj{st.Body})
		}
		return writeJSON(c.w, http.StatusOK, body)
	}
	q := Query{OrgPrefix: c.orgPrefix()}
	if s := p.Get("agent"); p.Has("agent") {
		v, err := decodeJSON([]byte(s))
		ao, ok := v.(obj)
		if err != nil || !ok {
			return fail(http.StatusBadRequest, "agent must be a JSON agent or group")
		}
		if err := (&validator{ver: c.ver}).actor(ao, "agent"); err != nil {
			return err
		}
		q.Agent = AgentKey(ao)
		if q.Agent == "" {
			return fail(http.StatusBadRequest, "agent must have an identifier")
		}
	}
	if p.Has("verb") {
		q.Verb = p.Get("verb")
		if !isIRI(q.Verb) {
			return fail(http.StatusBadRequest, "verb must be an IRI")
		}
	}
	if p.Has("activity") {
		q.Activity = p.Get("activity")
		if !isIRI(q.Activity) {
			return fail(http.StatusBadRequest, "activity must be an IRI")
		}
	}
	if p.Has("registration") {
		q.Registration = p.Get("registration")
		if !isUUID(q.Registration) {
			return fail(http.StatusBadRequest, "registration must be a UUID")
		}
	}
	if q.RelatedActivities, err = boolParam(p, "related_activities"); err != nil {
		return err
	}
	if q.RelatedAgents, err = boolParam(p, "related_agents"); err != nil {
		return err
	}
	if q.Ascending, err = boolParam(p, "ascending"); err != nil {
		return err
	}
	for _, k := range []string{"since", "until"} {
		if !p.Has(k) {
			continue
		}
		t, err := ParseTimestamp(p.Get(k), false)
		if err != nil {
			return fail(http.StatusBadRequest, "%s must be an ISO 8601 timestamp", k)
		}
		if k == "since" {
			q.Since, q.HasSince = t.UnixMilli(), true
		} else {
			q.Until, q.HasUntil = t.UnixMilli(), true
		}
	}
	if p.Has("limit") {
		n, err := strconv.Atoi(p.Get("limit"))
		if err != nil || n < 0 {
			return fail(http.StatusBadRequest, "limit must be a non-negative integer")
		}
		q.Limit = n
	}
	rest := url.Values{}
	for k, v := range p {
		if k != "cursor" {
			rest[k] = v
		}
	}
	params := rest.Encode()
	if tok := p.Get("cursor"); tok != "" {
		cur, err := a.svc.openCursor(tok, params)
		if err != nil {
			return err
		}
		q.After = &cur
	}
	through, err := a.svc.ConsistentThrough(c.ctx())
	if err != nil {
		return err
	}
	consistent := stamp(through)
	list, more, err := a.svc.Statements(c.ctx(), q)
	if err != nil {
		return err
	}
	res := obj{"statements": []any{}, "more": ""}
	stmts := make([]any, len(list))
	raw := make([]obj, len(list))
	for i, st := range list {
		stmts[i] = out(st.Body)
		raw[i] = st.Body
	}
	res["statements"] = stmts
	if more {
		last := list[len(list)-1]
		m := url.Values{}
		for k, v := range rest {
			m[k] = v
		}
		m.Set("cursor", a.svc.signCursor(Cursor{Stored: last.Stored, ID: last.ID}, params))
		res["more"] = Prefix + "/statements?" + m.Encode()
	}
	c.w.Header().Set("X-Experience-API-Consistent-Through", consistent)
	if withAtts {
		return a.writeWithAttachments(c, res, raw)
	}
	return writeJSON(c.w, http.StatusOK, res)
}

// writeWithAttachments answers multipart/mixed: the JSON first, then the
// stored content of every attachment the statements name.
func (a *API) writeWithAttachments(c *call, body any, stmts []obj) error {
	var shas []string
	seen := map[string]bool{}
	for _, st := range stmts {
		var walk func(s obj)
		walk = func(s obj) {
			list, _ := s["attachments"].([]any)
			for _, x := range list {
				if sha, ok := x.(obj)["sha2"].(string); ok && !seen[strings.ToLower(sha)] {
					seen[strings.ToLower(sha)] = true
					shas = append(shas, strings.ToLower(sha))
				}
			}
			if o, ok := s["object"].(obj); ok && o["objectType"] == "SubStatement" {
				walk(o)
			}
		}
		walk(st)
	}
	atts, err := a.svc.Attachments(c.ctx(), shas)
	if err != nil {
		return err
	}
	js, err := marshal(body)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	if err != nil {
		return err
	}
	pw.Write(js) //nolint:errcheck // a bytes.Buffer
	for _, at := range atts {
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {at.ContentType}, "Content-Transfer-Encoding": {"binary"},
			"X-Experience-API-Hash": {at.SHA2}})
		if err != nil {
			return err
		}
		pw.Write(at.Data) //nolint:errcheck // a bytes.Buffer
	}
	if err := mw.Close(); err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	c.w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	c.w.WriteHeader(http.StatusOK)
	_, err = c.w.Write(buf.Bytes())
	if err != nil && !errors.Is(err, http.ErrBodyNotAllowed) {
		return nil
	}
	return nil
}
