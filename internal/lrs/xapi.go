package lrs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/web"
)

// API serves the xAPI resources under /xapi/. It authenticates its callers
// itself (HTTP Basic with a client key and secret): its routes are
// web.Route.OwnAuth, outside the session guard.
type API struct {
	svc *Service
	// lastVersion is the xAPI version each client last spoke (client id →
	// V103 or V200), for answering a request that names none.
	lastVersion sync.Map
}

// NewAPI makes the xAPI endpoint.
func NewAPI(svc *Service) *API { return &API{svc: svc} }

// Prefix is where the endpoint is mounted.
const Prefix = "/xapi"

// resources and the methods each accepts.
var resources = []struct {
	path    string
	methods []string
}{
	{"/statements", []string{"GET", "PUT", "POST"}},
	{"/activities/state", []string{"GET", "PUT", "POST", "DELETE"}},
	{"/activities/profile", []string{"GET", "PUT", "POST", "DELETE"}},
	{"/agents/profile", []string{"GET", "PUT", "POST", "DELETE"}},
	{"/agents", []string{"GET"}},
	{"/activities", []string{"GET"}},
	{"/about", []string{"GET"}},
}

// Routes are the endpoint's routes. Every one is OwnAuth (HTTP Basic with
// a client credential, checked here) and left out of the audit log: the
// stored statements carry their authority and stored time.
func (a *API) Routes() []web.Route {
	var out []web.Route
	h := func(w http.ResponseWriter, r *http.Request) error {
		a.ServeHTTP(w, r)
		return nil
	}
	for _, res := range resources {
		for _, m := range res.methods {
			out = append(out, web.Route{Method: m, Path: Prefix + res.path, Perm: web.Public, OwnAuth: true, NoAudit: true,
				Tag: "xapi", Summary: "xAPI " + m + " " + res.path, Handler: h})
		}
	}
	out = append(out, web.Route{Method: "OPTIONS", Path: Prefix + "/{rest...}", Perm: web.Public, OwnAuth: true, NoAudit: true,
		Tag: "xapi", Summary: "xAPI CORS preflight", Handler: h})
	return out
}

// xerr is an error response: status and a message for the client.
type xerr struct {
	status int
	msg    string
}

func (e *xerr) Error() string { return e.msg }

func fail(status int, format string, args ...any) error {
	return &xerr{status: status, msg: fmt.Sprintf(format, args...)}
}

// call is one request, after the alternate request syntax is unfolded.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	method string
	params url.Values
	header http.Header
	body   []byte
	ver    string
	client Client
}

const corsHeaders = "Authorization, Content-Type, X-Experience-API-Version, If-Match, If-None-Match, Accept-Language, X-Experience-API-Hash"
const exposeHeaders = "ETag, Last-Modified, X-Experience-API-Version, X-Experience-API-Consistent-Through, Content-Type"

// ServeHTTP serves every xAPI request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if o := r.Header.Get("Origin"); o != "" {
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Vary", "Origin")
	} else {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	h.Set("Access-Control-Expose-Headers", exposeHeaders)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, POST, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", corsHeaders)
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	c := &call{w: w, r: r, method: r.Method, header: r.Header.Clone()}
	err := a.serve(c)
	if err != nil {
		a.writeError(c, err)
	}
}

func (a *API) writeError(c *call, err error) {
	status, msg := http.StatusInternalServerError, "internal error"
	var xe *xerr
	var ie *invalidError
	switch {
	case errors.As(err, &xe):
		status, msg = xe.status, xe.msg
	case errors.As(err, &ie):
		status, msg = http.StatusBadRequest, ie.msg
	case errors.Is(err, ErrConflict):
		status, msg = http.StatusConflict, err.Error()
	case errors.Is(err, errPrecondition):
		status, msg = http.StatusPreconditionFailed, "the document's ETag does not match the precondition"
	case errors.Is(err, errNeedPrecondition):
		status, msg = http.StatusConflict, err.Error()
	case errors.Is(err, errMergeNotJSON), errors.Is(err, errNeedPreconditionNew):
		status, msg = http.StatusBadRequest, err.Error()
	case isNotFound(err):
		status, msg = http.StatusNotFound, "not found"
	default:
		if e := apperr.As(err); e != nil && e.Code != apperr.Internal {
			status, msg = e.Code.Status(), e.Message
		} else {
			a.svc.log.Error("xapi", "request_id", web.RequestID(c.r.Context()), "path", c.r.URL.Path, "err", err)
			msg = "internal error (request " + web.RequestID(c.r.Context()) + ")"
		}
	}
	if status == http.StatusUnauthorized {
		c.w.Header().Set("WWW-Authenticate", `Basic realm="xAPI", charset="UTF-8"`)
	}
	c.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	c.w.Header().Set("Cache-Control", "no-store")
	c.w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": true, "message": msg, "code": status})
	c.w.Write(b) //nolint:errcheck // the client may have gone
}

func (a *API) serve(c *call) error {
	r := c.r
	lim := a.svc.lim
	if len(r.URL.RawQuery) > lim.MaxQueryString {
		return fail(http.StatusRequestURITooLong, "the query string is longer than %d bytes", lim.MaxQueryString)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return fail(http.StatusBadRequest, "malformed query string")
	}
	c.params = q
	res := strings.TrimPrefix(r.URL.Path, Prefix)
	if res == "/statements" {
		// On every answer to a statement request, errors included.
		c.w.Header().Set("X-Experience-API-Consistent-Through", stamp(a.svc.now()))
	}
	if res == "/about" {
		return a.about(c)
	}
	// The version decides the alternate request syntax.
	ver, verErr := version(r.Header.Get("X-Experience-API-Version"))
	if _, alt := q["method"]; alt {
		if verErr == nil && ver == V200 {
			return fail(http.StatusBadRequest, "xAPI 2.0 has no alternate request syntax")
		}
		if err := a.unfold(c); err != nil {
			return err
		}
		ver, verErr = version(c.header.Get("X-Experience-API-Version"))
	} else {
		body, err := readBody(c.w, r, lim.MaxBody)
		if err != nil {
			return err
		}
		c.body = body
	}
	if verErr != nil {
		// Answer in the version this client spoke last (2.0.0 for one
		// never seen): a client that forgot the header is told in terms
		// it knows.
		said := V200
		if cl, err := a.authenticate(c); err == nil {
			if v, ok := a.lastVersion.Load(cl.ID); ok {
				said = v.(string)
			}
		}
		c.w.Header().Set("X-Experience-API-Version", said)
		return verErr
	}
	c.ver = ver
	c.w.Header().Set("X-Experience-API-Version", ver)
	client, err := a.authenticate(c)
	if err != nil {
		return err
	}
	c.client = client
	if v, ok := a.lastVersion.Load(client.ID); !ok || v.(string) != ver {
		a.lastVersion.Store(client.ID, ver)
	}
	write := c.method == "PUT" || c.method == "POST" || c.method == "DELETE"
	if write && !client.CanWrite() {
		return fail(http.StatusForbidden, "this credential may not write")
	}
	if !write && !client.CanRead() {
		return fail(http.StatusForbidden, "this credential may not read")
	}
	switch res {
	case "/statements":
		switch c.method {
		case "GET", "HEAD":
			return a.getStatements(c)
		case "PUT":
			return a.putStatement(c)
		case "POST":
			return a.postStatements(c)
		}
	case "/activities/state":
		return a.documents(c, KindState)
	case "/activities/profile":
		return a.documents(c, KindActivityProfile)
	case "/agents/profile":
		return a.documents(c, KindAgentProfile)
	case "/agents":
		if c.method == "GET" || c.method == "HEAD" {
			return a.agents(c)
		}
	case "/activities":
		if c.method == "GET" || c.method == "HEAD" {
			return a.activities(c)
		}
	default:
		return fail(http.StatusNotFound, "no such xAPI resource")
	}
	return fail(http.StatusMethodNotAllowed, "method %s is not allowed here", c.method)
}

func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, fail(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", max)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fail(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", max)
		}
		return nil, fail(http.StatusBadRequest, "could not read the body")
	}
	return b, nil
}

// version reads the X-Experience-API-Version header.
func version(h string) (string, error) {
	h = strings.TrimSpace(h)
	switch {
	case h == "":
		return "", fail(http.StatusBadRequest, "the X-Experience-API-Version header is required")
	case h == "2.0" || reVersionHeader2.MatchString(h):
		return V200, nil
	case h == "1.0" || reVersionHeader1.MatchString(h):
		return V103, nil
	}
	return "", fail(http.StatusBadRequest, "xAPI version %q is not supported (use 1.0.3 or 2.0.0)", h)
}

var (
	reVersionHeader1 = mustRe(`^1\.0\.[0-9]+$`)
	reVersionHeader2 = mustRe(`^2\.0\.[0-9]+$`)
)

// unfold turns a 1.0.3 alternate-syntax request (POST with ?method=X and
// the headers, parameters and content in a form body) into a plain one.
func (a *API) unfold(c *call) error {
	r := c.r
	if r.Method != http.MethodPost {
		return fail(http.StatusBadRequest, "the alternate request syntax must be a POST")
	}
	if len(c.params) != 1 {
		return fail(http.StatusBadRequest, "the alternate request syntax takes only the method parameter in the query")
	}
	m := strings.ToUpper(c.params.Get("method"))
	switch m {
	case "GET", "PUT", "POST", "DELETE", "HEAD":
	default:
		return fail(http.StatusBadRequest, "method %q is not allowed", m)
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := readBody(c.w, r, a.svc.lim.MaxBody)
	if err != nil {
		return err
	}
	if ct != "application/x-www-form-urlencoded" {
		return fail(http.StatusBadRequest, "the alternate request syntax needs a form-encoded body")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return fail(http.StatusBadRequest, "malformed form body")
	}
	c.method = m
	c.params = url.Values{}
	c.header.Del("Content-Type")
	for k, vs := range form {
		switch strings.ToLower(k) {
		case "authorization", "x-experience-api-version", "content-type", "content-length", "if-match", "if-none-match":
			c.header.Set(k, vs[0])
		case "content":
			c.body = []byte(vs[0])
		default:
			c.params[k] = vs
		}
	}
	if (m == "PUT" || m == "POST") && c.body == nil {
		return fail(http.StatusBadRequest, "the alternate request syntax needs a content parameter")
	}
	if c.header.Get("Content-Type") == "" && c.body != nil {
		c.header.Set("Content-Type", "application/json")
	}
	return nil
}

func (a *API) authenticate(c *call) (Client, error) {
	h := c.header.Get("Authorization")
	if h == "" {
		return Client{}, fail(http.StatusUnauthorized, "credentials are required (HTTP Basic)")
	}
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return Client{}, fail(http.StatusUnauthorized, "use HTTP Basic authentication")
	}
	r := &http.Request{Header: http.Header{"Authorization": {"Basic " + strings.TrimSpace(cred)}}}
	key, secret, ok := r.BasicAuth()
	if !ok {
		return Client{}, fail(http.StatusUnauthorized, "malformed credentials")
	}
	cl, err := a.svc.Authenticate(c.r.Context(), key, secret)
	if errors.Is(err, errBadCredentials) {
		return Client{}, fail(http.StatusUnauthorized, "unknown key or wrong secret")
	}
	return cl, err
}

func (a *API) about(c *call) error {
	if c.r.Method != "GET" && c.r.Method != "HEAD" {
		return fail(http.StatusMethodNotAllowed, "the about resource is read-only")
	}
	ver, err := version(c.r.Header.Get("X-Experience-API-Version"))
	if err != nil {
		ver = V200
	}
	c.w.Header().Set("X-Experience-API-Version", ver)
	return writeJSON(c.w, http.StatusOK, obj{"version": []string{"1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0"}, "extensions": obj{}})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// orgPrefix is what the caller may read: its organisation's subtree.
func (c *call) orgPrefix() string { return c.client.OrgPath }

func (c *call) ctx() context.Context { return c.r.Context() }

func (c *call) writer(svc *Service) Writer {
	return Writer{ClientID: c.client.ID, OrgPath: c.client.OrgPath, Authority: svc.Authority(c.client), Version: c.ver}
}

func httpTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(http.TimeFormat) }
