package site

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"jnedu/internal/exam/bundle"
)

// The center side of the contract in docs/EXAM.md: register, package,
// blobs, keys, answers; all under /api/v1/exam/site/{site}, bearer token.

// StatusError is a non-2xx answer from the center.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string { return fmt.Sprintf("center answered %d: %s", e.Status, e.Body) }

func (n *Node) centerURL(path string) string {
	return strings.TrimRight(n.opt.Center, "/") + "/api/v1/exam/site/" + url.PathEscape(n.opt.Site) + path
}

func (n *Node) call(ctx context.Context, method, path string, body io.Reader, ctype string, hdr map[string]string) (*http.Response, error) {
	if n.opt.Center == "" {
		return nil, errors.New("site: no center configured (--center)")
	}
	req, err := http.NewRequestWithContext(ctx, method, n.centerURL(path), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+n.opt.Token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return n.opt.HTTP.Do(req)
}

func statusErr(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return &StatusError{Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
}

// Register sends the node's public key to the center.
func (n *Node) Register(ctx context.Context) error {
	body, _ := json.Marshal(map[string]string{"public_key": base64.StdEncoding.EncodeToString(n.PublicKey())})
	resp, err := n.call(ctx, http.MethodPost, "/register", bytes.NewReader(body), "application/json", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return statusErr(resp)
	}
	return nil
}

// Download fetches the package and every file it lists (verifying each
// hash, resuming a partial file) and accepts the package when it is newer.
func (n *Node) Download(ctx context.Context) (*bundle.SitePackage, bool, error) {
	hdr := map[string]string{}
	if p := n.Package(); p != nil {
		hdr["If-None-Match"] = fmt.Sprintf(`"%d"`, p.Revision)
	}
	resp, err := n.call(ctx, http.MethodGet, "/package", nil, "", hdr)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		return n.Package(), false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, statusErr(resp)
	}
	doc, err := io.ReadAll(io.LimitReader(resp.Body, bundle.MaxPackageBytes+1))
	if err != nil {
		return nil, false, err
	}
	p, err := n.ParsePackage(doc)
	if err != nil {
		return nil, false, err
	}
	if cur := n.Package(); cur != nil && p.Revision <= cur.Revision {
		return cur, false, nil // keep the newest
	}
	for _, b := range p.Blobs {
		if n.haveBlob(b) {
			continue
		}
		if err := n.fetchBlob(ctx, b); err != nil {
			return nil, false, fmt.Errorf("file %s: %w", b, err)
		}
	}
	isNew, err := n.AcceptPackage(ctx, doc)
	return p, isNew, err
}

// fetchBlob downloads one file into blobs/<sha>.part, continuing a partial
// download with a Range request, then checks the hash and moves it in place.
func (n *Node) fetchBlob(ctx context.Context, sum string) error {
	part := n.blobPath(sum) + ".part"
	if err := os.MkdirAll(filepath.Dir(part), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(part, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	hdr := map[string]string{}
	if have > 0 {
		hdr["Range"] = fmt.Sprintf("bytes=%d-", have)
	}
	resp, err := n.call(ctx, http.MethodGet, "/blobs/"+sum, nil, "", hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
	case resp.StatusCode == http.StatusOK:
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
	default:
		return statusErr(resp)
	}
	if _, err := io.Copy(f, io.LimitReader(resp.Body, bundle.MaxSealedBytes)); err != nil {
		f.Sync()
		return err // the part stays: the next try resumes it
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != sum {
		os.Remove(part)
		return ErrBlobMismatch
	}
	if err := os.Rename(part, n.blobPath(sum)); err != nil {
		return err
	}
	return OSFS{}.SyncDir(filepath.Dir(part))
}

// FetchKey asks the center for a session key; it answers (false, nil)
// while the key is not released.
func (n *Node) FetchKey(ctx context.Context, session string) (bool, error) {
	resp, err := n.call(ctx, http.MethodGet, "/sessions/"+url.PathEscape(session)+"/key", nil, "", nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusConflict {
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, statusErr(resp)
	}
	var body struct {
		Key string `json:"key"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&body); err != nil {
		return false, err
	}
	k, err := bundle.DecodeKey(body.Key)
	if err != nil {
		return false, err
	}
	return true, n.SetKey(ctx, session, k, "center")
}

// UploadResult is the center's answer to a manifest.
type UploadResult struct {
	Complete bool     `json:"complete"`
	Missing  []string `json:"missing"`
}

// SendAnswers sends one session's answer package: every file, then the
// manifest, then again the files the center still misses (a file it
// refused with 422 is read from disk and sent again), until complete.
func (n *Node) SendAnswers(ctx context.Context, session string) (bool, error) {
	var doc string
	if err := n.db.QueryRow(ctx, `SELECT signed FROM examsite_uploads WHERE session = ?`, session).Scan(&doc); err != nil {
		return false, err
	}
	var signed bundle.Signed
	if err := json.Unmarshal([]byte(doc), &signed); err != nil {
		return false, err
	}
	m, err := bundle.Verify(n.PublicKey(), signed)
	if err != nil {
		return false, err
	}
	if n.opt.Center == "" {
		return false, errors.New("site: no center configured (--center)")
	}
	c := Center{URL: n.opt.Center, Site: n.opt.Site, Token: n.opt.Token, HTTP: n.opt.HTTP, Log: n.opt.Log}
	return c.SendPackage(ctx, session, []byte(doc), m.Files(), func(sum string) ([]byte, error) {
		path, err := n.recordingFile(ctx, sum)
		if err != nil {
			return nil, err
		}
		return os.ReadFile(path)
	})
}

// Center is the center's side of answer sending as a site sees it; the
// node uses it, and so can a tool that sends an exported package.
type Center struct {
	URL, Site, Token string
	HTTP             *http.Client // nil: http.DefaultClient
	Log              *slog.Logger // nil: no log
	// Parallel is how many files are sent at once (0: SendParallel).
	Parallel int
}

// SendParallel is how many recordings a site sends at once by default:
// enough to keep the center's disk busy while one request waits for its
// sync, few enough not to crowd a slow link.
const SendParallel = 4

func (c Center) do(ctx context.Context, method, path string, body io.Reader, ctype string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+"/api/v1/exam/site/"+url.PathEscape(c.Site)+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	return hc.Do(req)
}

// SendPackage sends one session's answer package: every file (read with
// open), then the signed manifest doc, then again the files the center
// still misses (a file it refused with 422 is read and sent again), until
// the center answers complete; at most three rounds.
func (c Center) SendPackage(ctx context.Context, session string, doc []byte, files []string, open func(sha string) ([]byte, error)) (bool, error) {
	todo := files
	for round := 0; round < 3; round++ {
		if err := c.putFiles(ctx, session, todo, open); err != nil {
			return false, err
		}
		resp, err := c.do(ctx, http.MethodPost, "/answers/"+url.PathEscape(session)+"/manifest", bytes.NewReader(doc), "application/json")
		if err != nil {
			return false, err
		}
		if resp.StatusCode != http.StatusOK {
			err := statusErr(resp)
			resp.Body.Close()
			return false, err
		}
		var res UploadResult
		err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&res)
		resp.Body.Close()
		if err != nil {
			return false, err
		}
		if res.Complete {
			return true, nil
		}
		todo = res.Missing
	}
	return false, fmt.Errorf("center still misses files after three rounds")
}

// putFiles sends files, Parallel at a time; a file refused as damaged
// (422) is left for the next round, any other error stops the sending.
func (c Center) putFiles(ctx context.Context, session string, files []string, open func(sha string) ([]byte, error)) error {
	par := c.Parallel
	if par <= 0 {
		par = SendParallel
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan string)
	errc := make(chan error, par)
	var wg sync.WaitGroup
	for range min(par, max(len(files), 1)) {
		wg.Go(func() {
			for sum := range next {
				if err := c.putFile(ctx, session, sum, open); err != nil {
					var se *StatusError
					if errors.As(err, &se) && se.Status == http.StatusUnprocessableEntity {
						if c.Log != nil {
							c.Log.Warn("center refused a recording as damaged; it is sent again", "sha256", sum)
						}
						continue
					}
					errc <- err
					cancel()
					return
				}
			}
		})
	}
feed:
	for _, sum := range files {
		select {
		case next <- sum:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return ctx.Err()
	}
}

func (c Center) putFile(ctx context.Context, session, sum string, open func(sha string) ([]byte, error)) error {
	b, err := open(sum)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPut, "/answers/"+url.PathEscape(session)+"/files/"+sum, bytes.NewReader(b), "audio/wav")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return statusErr(resp)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection is reused
	return nil
}

// backoff is the wait before try number tries (1, 2, …).
func (n *Node) backoff(tries int) time.Duration {
	d := n.opt.RetryMin
	for i := 1; i < tries && d < n.opt.RetryMax; i++ {
		d *= 2
	}
	return min(d, n.opt.RetryMax)
}

// uploads sends every queued answer package whose time has come; state
// (tries, next try, last error) is in the database, so a restart goes on.
func (n *Node) uploads(ctx context.Context) {
	rows, err := n.db.Query(ctx, `SELECT session, tries FROM examsite_uploads WHERE state = 'sending' AND next_at <= ?`, n.now())
	if err != nil {
		return
	}
	type due struct {
		session string
		tries   int
	}
	var list []due
	for rows.Next() {
		var d due
		if rows.Scan(&d.session, &d.tries) == nil {
			list = append(list, d)
		}
	}
	rows.Close()
	for _, d := range list {
		if n.opt.Center == "" {
			continue
		}
		done, err := n.SendAnswers(ctx, d.session)
		if done {
			n.db.Exec(ctx, `UPDATE examsite_uploads SET state = 'complete', last_error = '', updated_at = ? WHERE session = ?`, n.now(), d.session)
			n.opt.Log.Info("answer package complete at the center", "session", d.session)
			n.clear("upload")
			continue
		}
		msg := "incomplete"
		if err != nil {
			msg = err.Error()
		}
		tries := d.tries + 1
		n.db.Exec(ctx, `UPDATE examsite_uploads SET tries = ?, last_error = ?, next_at = ?, updated_at = ? WHERE session = ?`,
			tries, truncate(msg, 300), n.opt.Now().Add(n.backoff(tries)).UnixMilli(), n.now(), d.session)
		n.opt.Log.Warn("answer package not yet complete; will retry", "session", d.session, "tries", tries, "err", msg)
		if tries >= 5 {
			n.raise("upload", "exam.site.alarm_upload")
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Run does the node's background work until ctx ends: register and
// download (retrying), poll for session keys near their start, reload what
// other commands stored, end sessions whose time is up, send answers.
func (n *Node) Run(ctx context.Context) error {
	registered := n.opt.Center == ""
	var nextSync, nextKey time.Time
	syncTries, keyTries := 0, 0
	tick := time.NewTicker(min(time.Second, n.opt.KeyPoll))
	defer tick.Stop()
	for {
		now := n.opt.Now()
		if n.opt.Center != "" && !now.Before(nextSync) {
			err := error(nil)
			if !registered {
				if err = n.Register(ctx); err == nil {
					registered = true
				}
			}
			if err == nil {
				var isNew bool
				if _, isNew, err = n.Download(ctx); err == nil && isNew {
					n.opt.Log.Info("site package loaded", "revision", n.Package().Revision)
				}
			}
			if err != nil {
				syncTries++
				nextSync = now.Add(n.backoff(syncTries))
				n.opt.Log.Warn("center not reached; working offline", "err", err, "retry_in", n.backoff(syncTries))
			} else {
				syncTries = 0
				nextSync = now.Add(time.Minute)
			}
		}
		if n.opt.Center != "" && !now.Before(nextKey) {
			nextKey = now.Add(n.opt.KeyPoll)
			if p := n.Package(); p != nil {
				for _, s := range p.Sessions {
					if n.hasPapers(s.Code) || now.UnixMilli() < s.StartsAt-n.opt.KeyLead.Milliseconds() || now.UnixMilli() > s.EndsAt {
						continue
					}
					got, err := n.FetchKey(ctx, s.Code)
					if err != nil {
						keyTries++
						nextKey = now.Add(n.backoff(keyTries))
						n.opt.Log.Warn("key not fetched", "session", s.Code, "err", err)
					} else if got {
						keyTries = 0
						n.opt.Log.Info("session key released; papers opened", "session", s.Code)
					}
				}
			}
		}
		if err := n.refresh(ctx); err != nil && ctx.Err() == nil {
			n.opt.Log.Warn("reload", "err", err)
		}
		n.autoEnd(ctx)
		n.uploads(ctx)
		n.checkDisk()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// autoEnd ends a session whose end time has passed once every room with
// candidates is ended or all its candidates are done.
func (n *Node) autoEnd(ctx context.Context) {
	p := n.Package()
	if p == nil {
		return
	}
	for _, s := range p.Sessions {
		if n.opt.Now().UnixMilli() < s.EndsAt || n.sessionEnded(ctx, s.Code) {
			continue
		}
		var open int
		n.db.QueryRow(ctx, `SELECT COUNT(*) FROM examsite_attempts a WHERE a.session = ? AND a.state NOT IN ('finished', 'absent', 'abnormal')
			AND NOT EXISTS (SELECT 1 FROM examsite_rooms r WHERE r.session = a.session AND r.room = a.room AND r.state = 'ended')`, s.Code).Scan(&open)
		if open == 0 {
			if err := n.EndSession(ctx, s.Code, "auto"); err != nil {
				n.opt.Log.Error("end session", "session", s.Code, "err", err)
			} else {
				n.syncState()
			}
		}
	}
}

// Serve runs the HTTP server and the background work until ctx ends.
// ready gets the address once listening.
func (n *Node) Serve(ctx context.Context, addr string, ready func(string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	runDone := make(chan error, 1)
	go func() { runDone <- n.Run(ctx) }()
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	<-runDone
	return nil
}
