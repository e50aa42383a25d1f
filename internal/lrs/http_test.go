package lrs

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

func TestVersionHeader(t *testing.T) {
	s := newServer(t, dbtest.SQLite(t), Limits{})
	cases := []struct {
		ver        string
		wantStatus int
		wantVer    string
	}{
		{"2.0.0", 200, "2.0.0"},
		{"3.0.0", 400, "2.0.0"}, // answered in the version last spoken
		{"0.95", 400, "2.0.0"},
		{"1.0.3", 200, "1.0.3"},
		{"1.0.1", 200, "1.0.3"},
		{"1.0", 200, "1.0.3"},
	}
	for _, c := range cases {
		r := s.do(&s.all, s.allS, c.ver, "GET", "/xapi/statements", "", nil, nil)
		if r.status != c.wantStatus || r.header.Get("X-Experience-API-Version") != c.wantVer {
			t.Errorf("version %q: status %d, header %q; want %d, %q", c.ver, r.status, r.header.Get("X-Experience-API-Version"), c.wantStatus, c.wantVer)
		}
	}
	// No header: refused, answered in the version the client spoke last.
	s.do(&s.all, s.allS, "1.0.3", "GET", "/xapi/statements", "", nil, nil)
	r := s.do(&s.all, s.allS, "", "GET", "/xapi/statements", "", nil, nil)
	if r.status != 400 || r.header.Get("X-Experience-API-Version") != "1.0.3" {
		t.Errorf("no version header: status %d, header %q; want 400, 1.0.3", r.status, r.header.Get("X-Experience-API-Version"))
	}
	// The about resource needs neither version nor credentials.
	r = s.do(nil, "", "", "GET", "/xapi/about", "", nil, nil)
	if r.status != 200 || !contains(string(r.body), `"2.0.0"`) || !contains(string(r.body), `"1.0.3"`) {
		t.Errorf("about: %d %s", r.status, r.body)
	}
	// 2.0 has no alternate request syntax.
	r = s.do(&s.all, s.allS, "2.0.0", "POST", "/xapi/statements?method=GET", "application/x-www-form-urlencoded", nil, nil)
	if r.status != 400 {
		t.Errorf("2.0 alternate syntax: status %d, want 400", r.status)
	}
	// 1.0.3 has: a GET sent as a form POST.
	form := url.Values{"X-Experience-API-Version": {"1.0.3"}, "Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(s.all.Key+":"+s.allS))}, "limit": {"1"}}
	r = s.do(nil, "", "", "POST", "/xapi/statements?method=GET", "application/x-www-form-urlencoded", []byte(form.Encode()), nil)
	if r.status != 200 || !contains(string(r.body), `"statements"`) {
		t.Errorf("1.0.3 alternate syntax GET: %d %s", r.status, r.body)
	}
}

func TestAuthentication(t *testing.T) {
	s := newServer(t, dbtest.SQLite(t), Limits{})
	body := []byte(statementJSON("", "a", verbCompleted, "http://x.test/a"))
	cases := []struct {
		name   string
		c      *Client
		secret string
		method string
		want   int
	}{
		{"no credentials", nil, "", "GET", 401},
		{"wrong secret", &s.all, "nope", "GET", 401},
		{"read client reads", &s.read, s.readS, "GET", 200},
		{"read client writes", &s.read, s.readS, "POST", 403},
		{"write client reads", &s.write, s.wrtS, "GET", 403},
		{"write client writes", &s.write, s.wrtS, "POST", 200},
	}
	for _, c := range cases {
		r := s.do(c.c, c.secret, "2.0.0", c.method, "/xapi/statements", "application/json", body, nil)
		if r.status != c.want {
			t.Errorf("%s: status %d, want %d (%s)", c.name, r.status, c.want, r.body)
		}
		if c.want == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: WWW-Authenticate %q, want a Basic challenge", c.name, r.header.Get("WWW-Authenticate"))
		}
	}
	// A stored statement's authority is the client.
	r := s.as("GET", "/xapi/statements?limit=1", "", "", nil)
	if !contains(string(r.body), `"name":"`+s.write.Key+`"`) {
		t.Errorf("authority of the stored statement is not the writing client: %s", r.body)
	}
	// CORS preflight.
	r = s.do(nil, "", "", "OPTIONS", "/xapi/statements", "", nil, map[string]string{"Origin": "https://tool.test", "Access-Control-Request-Method": "PUT"})
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://tool.test" || !contains(r.header.Get("Access-Control-Allow-Headers"), "X-Experience-API-Version") {
		t.Errorf("preflight: %d %v", r.status, r.header)
	}
}

func TestStatementsHTTP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := newServer(t, d, Limits{})
		id := "33333333-3333-4333-8333-333333333333"
		if r := s.as("PUT", "/xapi/statements?statementId="+id, "application/json", statementJSON("", "a", verbCompleted, "http://x.test/a"), nil); r.status != 204 {
			t.Fatalf("PUT: %d %s", r.status, r.body)
		}
		if r := s.as("PUT", "/xapi/statements?statementId="+id, "application/json", statementJSON("", "a", verbCompleted, "http://x.test/a"), nil); r.status != 204 {
			t.Errorf("PUT the same again: %d %s, want 204", r.status, r.body)
		}
		if r := s.as("PUT", "/xapi/statements?statementId="+id, "application/json", statementJSON("", "a", verbAttempted, "http://x.test/a"), nil); r.status != 409 {
			t.Errorf("PUT other content: %d, want 409", r.status)
		}
		if r := s.as("POST", "/xapi/statements", "application/json", "["+statementJSON(id, "a", verbAttempted, "http://x.test/a")+"]", nil); r.status != 409 {
			t.Errorf("POST other content: %d, want 409", r.status)
		}
		r := s.as("GET", "/xapi/statements?statementId="+id, "", "", nil)
		if r.status != 200 || r.header.Get("Last-Modified") == "" || r.header.Get("X-Experience-API-Consistent-Through") == "" {
			t.Errorf("GET by id: %d, headers %v", r.status, r.header)
		}
		// Voiding through the API.
		void := `{"actor":{"mbox":"mailto:t@school.test"},"verb":{"id":"` + VerbVoided + `"},"object":{"objectType":"StatementRef","id":"` + id + `"}}`
		if r := s.as("POST", "/xapi/statements", "application/json", void, nil); r.status != 200 {
			t.Fatalf("void: %d %s", r.status, r.body)
		}
		if r := s.as("GET", "/xapi/statements?statementId="+id, "", "", nil); r.status != 404 {
			t.Errorf("GET a voided statement by statementId: %d, want 404", r.status)
		}
		if r := s.as("GET", "/xapi/statements?voidedStatementId="+id, "", "", nil); r.status != 200 {
			t.Errorf("GET it by voidedStatementId: %d, want 200", r.status)
		}
		if r := s.as("GET", "/xapi/statements?statementId="+id+"&verb="+url.QueryEscape(verbCompleted), "", "", nil); r.status != 400 {
			t.Errorf("statementId with a filter: %d, want 400", r.status)
		}
		if r := s.as("GET", "/xapi/statements?colour=red", "", "", nil); r.status != 400 {
			t.Errorf("unknown parameter: %d, want 400", r.status)
		}
		// One id twice in a batch, even the same statement: 400, and
		// nothing of the batch stored.
		twice := "44444444-4444-4444-8444-444444444444"
		one := statementJSON(twice, "b", verbCompleted, "http://x.test/b")
		for _, batch := range []string{"[" + one + "," + one + "]", "[" + one + "," + statementJSON(twice, "b", verbAttempted, "http://x.test/b") + "]"} {
			if r := s.as("POST", "/xapi/statements", "application/json", batch, nil); r.status != 400 {
				t.Errorf("a batch with one id twice: %d, want 400", r.status)
			}
		}
		if r := s.as("GET", "/xapi/statements?statementId="+twice, "", "", nil); r.status != 404 {
			t.Errorf("GET the id of a refused batch: %d, want 404", r.status)
		}
	})
}

func TestMorePagination(t *testing.T) {
	s := newServer(t, dbtest.SQLite(t), Limits{})
	var batch []string
	for i := range 7 {
		batch = append(batch, statementJSON("", fmt.Sprint("m", i), verbCompleted, "http://x.test/more"))
	}
	if r := s.as("POST", "/xapi/statements", "application/json", "["+strings.Join(batch, ",")+"]", nil); r.status != 200 {
		t.Fatalf("POST batch: %d %s", r.status, r.body)
	}
	agent := url.QueryEscape(`{"mbox":"mailto:m3@school.test"}`)
	if r := s.as("GET", "/xapi/statements?agent="+agent, "", "", nil); len(r.json(t).(obj)["statements"].([]any)) != 1 {
		t.Errorf("agent filter: %s", r.body)
	}
	seen := map[string]bool{}
	next := "/xapi/statements?limit=3&verb=" + url.QueryEscape(verbCompleted)
	pages := 0
	var lastMore string
	for next != "" && pages < 10 {
		pages++
		// A day later the link still works: it is a signed cursor, not a
		// session.
		s.clock.Add(25 * time.Hour)
		res := s.as("GET", next, "", "", nil).json(t).(obj)
		for _, st := range res["statements"].([]any) {
			id := st.(obj)["id"].(string)
			if seen[id] {
				t.Errorf("statement %s on two pages", id)
			}
			seen[id] = true
		}
		next, _ = res["more"].(string)
		if next != "" {
			lastMore = next
		}
	}
	if len(seen) != 7 || pages != 3 {
		t.Errorf("paged %d statements in %d pages, want 7 in 3", len(seen), pages)
	}
	// A tampered cursor, or one moved to another query, is refused.
	u, _ := url.Parse(lastMore)
	q := u.Query()
	q.Set("verb", verbAttempted)
	if r := s.as("GET", u.Path+"?"+q.Encode(), "", "", nil); r.status != 400 {
		t.Errorf("cursor on another query: %d, want 400", r.status)
	}
	q = u.Query()
	q.Set("cursor", "eyJzIjoxLCJpIjoiYSJ9."+q.Get("cursor")[len(q.Get("cursor"))-22:])
	if r := s.as("GET", u.Path+"?"+q.Encode(), "", "", nil); r.status != 400 {
		t.Errorf("forged cursor: %d, want 400", r.status)
	}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// multipartBody builds a statements request with attachment parts.
func multipartBody(t *testing.T, js string, parts map[string][]byte, cte string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	pw.Write([]byte(js))
	for sha, data := range parts {
		h := textproto.MIMEHeader{"Content-Type": {"text/plain"}, "X-Experience-API-Hash": {sha}}
		if cte != "" {
			h.Set("Content-Transfer-Encoding", cte)
		}
		pw, _ := mw.CreatePart(h)
		pw.Write(data)
	}
	mw.Close()
	return "multipart/mixed; boundary=" + mw.Boundary(), buf.Bytes()
}

func withAttachment(sha string, n int, fileURL string) string {
	extra := ""
	if fileURL != "" {
		extra = `,"fileUrl":"` + fileURL + `"`
	}
	return `{"actor":{"mbox":"mailto:att@school.test"},"verb":{"id":"` + verbCompleted + `"},"object":{"id":"http://x.test/att"},
		"attachments":[{"usageType":"http://x.test/usage/essay","display":{"zh-CN":"作文"},"contentType":"text/plain","length":` +
		fmt.Sprint(n) + `,"sha2":"` + sha + `"` + extra + `}]}`
}

func TestAttachments(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := newServer(t, d, Limits{MaxAttachment: 1 << 10})
		data := []byte("我的作文：春天来了。")
		sha := sha256Hex(data)
		ct, body := multipartBody(t, withAttachment(sha, len(data), ""), map[string][]byte{sha: data}, "binary")
		r := s.do(&s.all, s.allS, "2.0.0", "POST", "/xapi/statements", ct, body, nil)
		if r.status != 200 {
			t.Fatalf("POST with attachment: %d %s", r.status, r.body)
		}
		id := r.json(t).([]any)[0].(string)
		// Refusals: a part whose content is not its hash, a missing part,
		// a part no statement names, no transfer encoding, too large.
		bad := []struct {
			name string
			js   string
			p    map[string][]byte
			cte  string
			want int
		}{
			{"content does not match the hash", withAttachment(sha, len(data), ""), map[string][]byte{sha: []byte("other")}, "binary", 400},
			{"missing part", withAttachment(sha, len(data), ""), nil, "binary", 400},
			{"unclaimed part", withAttachment(sha256Hex([]byte("x")), 1, "http://files.test/x"), map[string][]byte{sha: data}, "binary", 400},
			{"no Content-Transfer-Encoding", withAttachment(sha, len(data), ""), map[string][]byte{sha: data}, "", 400},
			{"too large", withAttachment(sha256Hex(make([]byte, 2048)), 2048, ""), map[string][]byte{sha256Hex(make([]byte, 2048)): make([]byte, 2048)}, "binary", 413},
		}
		for _, b := range bad {
			ct, body := multipartBody(t, b.js, b.p, b.cte)
			if r := s.do(&s.all, s.allS, "2.0.0", "POST", "/xapi/statements", ct, body, nil); r.status != b.want {
				t.Errorf("%s: %d, want %d (%s)", b.name, r.status, b.want, r.body)
			}
		}
		// An attachment sent as JSON with only a fileUrl is fine; without
		// it, a JSON body cannot carry the content.
		if r := s.as("POST", "/xapi/statements", "application/json", withAttachment(sha, 3, "https://files.test/a.txt"), nil); r.status != 200 {
			t.Errorf("fileUrl-only attachment: %d %s", r.status, r.body)
		}
		if r := s.as("POST", "/xapi/statements", "application/json", withAttachment(sha, 3, ""), nil); r.status != 400 {
			t.Errorf("attachment without content or fileUrl: %d, want 400", r.status)
		}
		// attachments=true answers multipart with the content.
		r = s.as("GET", "/xapi/statements?attachments=true&statementId="+id, "", "", nil)
		mt, params, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
		if r.status != 200 || mt != "multipart/mixed" {
			t.Fatalf("attachments=true: %d %s", r.status, r.header.Get("Content-Type"))
		}
		mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
		first, _ := mr.NextPart()
		js, _ := io.ReadAll(first)
		second, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no attachment part: %v", err)
		}
		got, _ := io.ReadAll(second)
		if !contains(string(js), id) || !bytes.Equal(got, data) || second.Header.Get("X-Experience-API-Hash") != sha {
			t.Errorf("multipart answer: json %s, part %q hash %q", js, got, second.Header.Get("X-Experience-API-Hash"))
		}
	})
}

// signed builds a statement with a JWS signature attachment.
func signed(t *testing.T, key *rsa.PrivateKey, cert []byte, alg string, payload, statement string) (string, []byte) {
	t.Helper()
	hdr := `{"alg":"` + alg + `"`
	if cert != nil {
		hdr += `,"x5c":["` + base64.StdEncoding.EncodeToString(cert) + `"]`
	}
	hdr += "}"
	in := base64.RawURLEncoding.EncodeToString([]byte(hdr)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	h := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	jws := []byte(in + "." + base64.RawURLEncoding.EncodeToString(sig))
	sha := sha256Hex(jws)
	st := stmt(t, statement)
	st["attachments"] = []any{obj{"usageType": UsageSignature, "display": obj{"en-US": "signature"}, "contentType": "application/octet-stream",
		"length": len(jws), "sha2": sha}}
	return multipartBody(t, mustJSON(st), map[string][]byte{sha: jws}, "binary")
}

func selfSigned(t *testing.T, key *rsa.PrivateKey) []byte {
	t.Helper()
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jnedu test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestSignedStatements(t *testing.T) {
	s := newServer(t, dbtest.SQLite(t), Limits{})
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	cert := selfSigned(t, key)
	st := statementJSON("44444444-4444-4444-8444-444444444444", "sig", verbCompleted, "http://x.test/sig")
	changed := statementJSON("44444444-4444-4444-8444-444444444444", "sig", verbAttempted, "http://x.test/sig")
	cases := []struct {
		name string
		key  *rsa.PrivateKey
		alg  string
		pay  string
		want int
	}{
		{"valid RS256 with certificate", key, "RS256", st, 200},
		{"payload is another statement", key, "RS256", changed, 400},
		{"signed by another key than the certificate's", other, "RS256", st, 400},
		{"HS256 is not allowed", key, "HS256", st, 400},
	}
	for i, c := range cases {
		// A fresh id each time so the first success does not make the
		// others repeats.
		id := fmt.Sprintf("44444444-4444-4444-8444-%012d", i)
		ct, body := signed(t, c.key, cert, c.alg, strings.Replace(c.pay, "44444444-4444-4444-8444-444444444444", id, 1),
			strings.Replace(st, "44444444-4444-4444-8444-444444444444", id, 1))
		if r := s.do(&s.all, s.allS, "2.0.0", "POST", "/xapi/statements", ct, body, nil); r.status != c.want {
			t.Errorf("%s: %d, want %d (%s)", c.name, r.status, c.want, r.body)
		}
	}
}

func TestValidation(t *testing.T) {
	s := newServer(t, dbtest.SQLite(t), Limits{})
	good := `{"actor":{"mbox":"mailto:v@school.test"},"verb":{"id":"http://v.test/x"},"object":{"id":"http://o.test/1"}`
	cases := []struct {
		name string
		ver  string
		body string
		want int
	}{
		{"valid", "2.0.0", good + `}`, 200},
		{"mbox without mailto", "2.0.0", strings.Replace(good, "mailto:", "", 1) + `}`, 400},
		{"verb id not an IRI", "2.0.0", strings.Replace(good, "http://v.test/x", "x", 1) + `}`, 400},
		{"raw above max", "2.0.0", good + `,"result":{"score":{"raw":11,"min":0,"max":10}}}`, 400},
		{"scaled above 1", "2.0.0", good + `,"result":{"score":{"scaled":1.5}}}`, 400},
		{"bad duration", "2.0.0", good + `,"result":{"duration":"1 hour"}}`, 400},
		{"timestamp without zone in 2.0", "2.0.0", good + `,"timestamp":"2026-01-01T08:00:00"}`, 400},
		{"timestamp without zone in 1.0.3", "1.0.3", good + `,"timestamp":"2026-01-01T08:00:00"}`, 200},
		{"-00:00 offset", "1.0.3", good + `,"timestamp":"2026-01-01T08:00:00-00:00"}`, 400},
		{"bad language tag", "2.0.0", strings.Replace(good, `"id":"http://v.test/x"`, `"id":"http://v.test/x","display":{"not a tag":"x"}`, 1) + `}`, 400},
		{"revision with an agent object", "2.0.0", `{"actor":{"mbox":"mailto:v@school.test"},"verb":{"id":"http://v.test/x"},"object":{"objectType":"Agent","mbox":"mailto:o@school.test"},"context":{"revision":"2"}}`, 400},
		{"choices on a true-false interaction", "2.0.0", `{"actor":{"mbox":"mailto:v@school.test"},"verb":{"id":"http://v.test/x"},"object":{"id":"http://o.test/q","definition":{"interactionType":"true-false","choices":[{"id":"a"}]}}}`, 400},
		{"contextAgents only in 2.0", "1.0.3", good + `,"context":{"contextAgents":[{"objectType":"contextAgent","agent":{"mbox":"mailto:c@school.test"}}]}}`, 400},
		{"contextAgents in 2.0", "2.0.0", good + `,"context":{"contextAgents":[{"objectType":"contextAgent","agent":{"mbox":"mailto:c@school.test"}}]}}`, 200},
		{"unknown property", "2.0.0", good + `,"colour":"red"}`, 400},
		{"two identifiers", "2.0.0", strings.Replace(good, `"mbox":"mailto:v@school.test"`, `"mbox":"mailto:v@school.test","openid":"http://id.test/v"`, 1) + `}`, 400},
		{"not JSON", "2.0.0", `{"actor":`, 400},
	}
	for _, c := range cases {
		if r := s.do(&s.all, s.allS, c.ver, "POST", "/xapi/statements", "application/json", []byte(c.body), nil); r.status != c.want {
			t.Errorf("%s: %d, want %d (%s)", c.name, r.status, c.want, r.body)
		}
	}
}

func TestLimits(t *testing.T) {
	s := newServer(t, dbtest.SQLite(t), Limits{MaxStatements: 3, MaxBody: 4 << 10, MaxDocument: 64, MaxQueryString: 256})
	var four []string
	for i := range 4 {
		four = append(four, statementJSON("", fmt.Sprint("l", i), verbCompleted, "http://x.test/l"))
	}
	if r := s.as("POST", "/xapi/statements", "application/json", "["+strings.Join(four, ",")+"]", nil); r.status != 413 {
		t.Errorf("batch over the limit: %d, want 413", r.status)
	}
	if n := countRows(t, s.d, "SELECT COUNT(*) FROM lrs_statements"); n != 0 {
		t.Errorf("a refused batch left %d statements", n)
	}
	big := `{"actor":{"mbox":"mailto:b@school.test","name":"` + strings.Repeat("长", 2000) + `"},"verb":{"id":"http://v.test/x"},"object":{"id":"http://o.test/1"}}`
	if r := s.as("POST", "/xapi/statements", "application/json", big, nil); r.status != 413 {
		t.Errorf("body over the limit: %d, want 413", r.status)
	}
	if r := s.as("GET", "/xapi/statements?verb="+strings.Repeat("a", 300), "", "", nil); r.status != 414 {
		t.Errorf("query string over the limit: %d, want 414", r.status)
	}
	q := "/xapi/activities/profile?activityId=" + url.QueryEscape("http://x.test/a") + "&profileId=p"
	if r := s.as("PUT", q, "application/json", `{"x":"`+strings.Repeat("y", 100)+`"}`, map[string]string{"If-None-Match": "*"}); r.status != 413 {
		t.Errorf("document over the limit: %d, want 413", r.status)
	}
}

func TestDocumentsHTTP(t *testing.T) {
	s := newServer(t, dbtest.SQLite(t), Limits{})
	agent := url.QueryEscape(`{"mbox":"mailto:d@school.test"}`)
	q := "/xapi/activities/state?activityId=" + url.QueryEscape("http://x.test/a") + "&agent=" + agent + "&stateId=s1"
	if r := s.as("PUT", q, "application/json", `{"page":1}`, nil); r.status != 204 {
		t.Fatalf("PUT new state: %d %s", r.status, r.body)
	}
	r := s.as("GET", q, "", "", nil)
	etag := r.header.Get("ETag")
	if r.status != 200 || !strings.HasPrefix(etag, `"`) || r.header.Get("Last-Modified") == "" {
		t.Fatalf("GET state: %d etag %q", r.status, etag)
	}
	if r := s.as("PUT", q, "application/json", `{"page":2}`, nil); r.status != 409 {
		t.Errorf("2.0 PUT on an existing state without a precondition: %d, want 409", r.status)
	}
	if r := s.as("PUT", q, "application/json", `{"page":2}`, map[string]string{"If-Match": `"stale"`}); r.status != 412 {
		t.Errorf("PUT with a stale ETag: %d, want 412", r.status)
	}
	if r := s.as("POST", q, "application/json", `{"score":9}`, map[string]string{"If-Match": etag}); r.status != 204 {
		t.Errorf("POST merge with the ETag: %d %s", r.status, r.body)
	}
	if r := s.as("GET", q, "", "", nil); mustJSON(normalize(r.json(t))) != `{"page":1,"score":9}` {
		t.Errorf("merged state = %s", r.body)
	}
	list := s.as("GET", "/xapi/activities/state?activityId="+url.QueryEscape("http://x.test/a")+"&agent="+agent, "", "", nil)
	if mustJSON(normalize(list.json(t))) != `["s1"]` {
		t.Errorf("state ids = %s", list.body)
	}
	// Another organisation's client does not see the document.
	other, secret, _ := s.svc.CreateClient(t.Context(), 1, ClientInput{Name: "别校", Scope: ScopeAll, OrgID: 9, OrgPath: "/1/9/"})
	if r := s.do(&other, secret, "2.0.0", "GET", q, "", nil, nil); r.status != 404 {
		t.Errorf("another organisation's client reads the state: %d, want 404", r.status)
	}
	if r := s.as("DELETE", q, "", "", nil); r.status != 204 {
		t.Errorf("DELETE: %d", r.status)
	}
	if r := s.as("GET", q, "", "", nil); r.status != 404 {
		t.Errorf("GET after DELETE: %d, want 404", r.status)
	}
	// Activities and agents resources.
	s.as("POST", "/xapi/statements", "application/json", statementJSON("", "d", verbCompleted, "http://x.test/a"), nil)
	if r := s.as("GET", "/xapi/activities?activityId="+url.QueryEscape("http://x.test/a"), "", "", nil); !contains(string(r.body), "听说练习") {
		t.Errorf("activity definition: %s", r.body)
	}
	if r := s.as("GET", "/xapi/agents?agent="+agent, "", "", nil); r.status != 200 || !contains(string(r.body), `"Person"`) || !contains(string(r.body), "学生") {
		t.Errorf("person: %d %s", r.status, r.body)
	}
	// Another organisation learns nothing it has not recorded itself.
	if r := s.do(&other, secret, "2.0.0", "GET", "/xapi/agents?agent="+agent, "", nil, nil); r.status != 200 || contains(string(r.body), "学生") {
		t.Errorf("person seen from another organisation: %d %s", r.status, r.body)
	}
	if r := s.do(&other, secret, "2.0.0", "GET", "/xapi/activities?activityId="+url.QueryEscape("http://x.test/a"), "", nil, nil); contains(string(r.body), "听说练习") {
		t.Errorf("activity definition seen from another organisation: %s", r.body)
	}
}
