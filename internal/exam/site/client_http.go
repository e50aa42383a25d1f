package site

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func (n *Node) clientRoutes(api, page func(string, handlerFunc)) {
	page("GET /{$}", n.clientPage)
	api("POST /client/api/signin", call(n.signInAddr, n.hSignIn))
	api("GET /client/api/attempts/{attempt}", call(n.authAttempt, n.hAttempt))
	api("GET /client/api/attempts/{attempt}/photo", call(n.authAttempt, n.hPhoto))
	api("POST /client/api/attempts/{attempt}/confirm", call(n.authAttempt, n.hConfirm))
	api("POST /client/api/attempts/{attempt}/device", call(n.authAttempt, n.hDevice))
	api("GET /client/api/attempts/{attempt}/paper", call(n.authAttempt, n.hPaper))
	api("GET /client/api/attempts/{attempt}/files/{sha}", call(n.authAttempt, n.hFile))
	api("POST /client/api/attempts/{attempt}/heartbeat", call(n.authAttempt, n.hHeartbeat))
	api("POST /client/api/attempts/{attempt}/items/{item}/open", call(n.authAttempt, n.hOpen))
	api("PUT /client/api/attempts/{attempt}/items/{item}/answer", call(n.authAttempt, n.hAnswer))
	// The hot path, on its own: a raw body and no allocation it can do without.
	api("PUT /client/api/attempts/{attempt}/items/{item}/chunks/{seq}", n.hChunk)
	api("POST /client/api/attempts/{attempt}/items/{item}/close", call(n.authAttempt, n.hClose))
	api("POST /client/api/attempts/{attempt}/finish", call(n.authAttempt, n.hFinish))
}

func (n *Node) clientPage(w http.ResponseWriter, r *http.Request) error {
	b, err := fs.ReadFile(StaticFS(), "client.html")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, err = w.Write(b)
	return err
}

// signInAddr is who signs in: the client's address, unless it is waiting
// after too many wrong admission numbers (guard.go).
func (n *Node) signInAddr(r *http.Request) (string, error) {
	addr := clientAddr(r)
	if d := n.candidateGuard.wait(addr); d > 0 {
		return "", tooManyNumbers(d)
	}
	return addr, nil
}

func tooManyNumbers(wait time.Duration) *Err {
	e := fail(http.StatusTooManyRequests, "exam.site.too_many_numbers")
	e.RetryAfter = wait
	return e
}

func (n *Node) hSignIn(r *http.Request, addr string, in *SignIn) (any, error) {
	out, err := n.SignIn(r.Context(), *in)
	if err != nil && toErr(err).Code == "exam.site.no_such_number" && !n.candidateGuard.refused(addr) {
		return nil, tooManyNumbers(candidateFailEvery)
	}
	return out, err
}

func (n *Node) hAttempt(r *http.Request, a *Attempt, _ *noBody) (any, error) {
	return n.view(r.Context(), a)
}

func (n *Node) hPhoto(r *http.Request, a *Attempt, _ *noBody) (any, error) {
	c := n.candidateIn(a.Session, a.Number)
	if c == nil || c.Photo == "" {
		return nil, fail(http.StatusNotFound, "exam.site.no_photo")
	}
	b, err := n.readBlob(c.Photo)
	if err != nil {
		return nil, fail(http.StatusNotFound, "exam.site.no_photo")
	}
	return &raw{body: b, cacheControl: "private, no-store"}, nil
}

func (n *Node) hConfirm(r *http.Request, a *Attempt, _ *noBody) (any, error) {
	if a.State != StateSignedIn {
		return nil, nil
	}
	return nil, n.setState(r.Context(), a, StateConfirmed, false)
}

type deviceCheck struct {
	OK    bool    `json:"ok"`
	Level float64 `json:"level"`
}

func (n *Node) hDevice(r *http.Request, a *Attempt, in *deviceCheck) (any, error) {
	switch {
	case !in.OK:
		return nil, nil // shown on the console as "device check not passed"
	case a.State == StateSignedIn || a.State == StateConfirmed:
		return nil, n.setState(r.Context(), a, StateReady, true)
	}
	_, err := n.db.Exec(r.Context(), `UPDATE examsite_attempts SET device_ok = ? WHERE id = ?`, true, a.ID)
	return nil, err
}

func (n *Node) hPaper(r *http.Request, a *Attempt, _ *noBody) (any, error) {
	op, err := n.paperFor(r.Context(), a)
	if err != nil {
		return nil, err
	}
	return &raw{body: op.client, contentType: "application/json; charset=utf-8", cacheControl: "no-store"}, nil
}

func (n *Node) hFile(r *http.Request, a *Attempt, _ *noBody) (any, error) {
	op, err := n.paperFor(r.Context(), a)
	if err != nil {
		return nil, err
	}
	b, found := op.files[r.PathValue("sha")]
	if !found {
		return nil, fail(http.StatusNotFound, "exam.site.no_such_file")
	}
	return &raw{body: b, cacheControl: "private, max-age=3600", ranges: true}, nil
}

func (n *Node) hHeartbeat(r *http.Request, a *Attempt, hb *Heartbeat) (any, error) {
	if err := n.Beat(r.Context(), a, *hb); err != nil {
		return nil, err
	}
	return map[string]any{"room_state": n.roomState(r.Context(), a.Session, a.Room), "state": a.State,
		"now": n.now(), "paper_open": n.hasPapers(a.Session)}, nil
}

func (n *Node) hOpen(r *http.Request, a *Attempt, _ *noBody) (any, error) {
	return nil, n.OpenItem(r.Context(), a, r.PathValue("item"))
}

type choice struct {
	Choice int `json:"choice"`
}

func (n *Node) hAnswer(r *http.Request, a *Attempt, in *choice) (any, error) {
	return nil, n.Answer(r.Context(), a, r.PathValue("item"), in.Choice)
}

// chunkAck answers a chunk: {"ok": true, "seq": N}.
type chunkAck struct {
	OK  bool   `json:"ok"`
	Seq uint64 `json:"seq"`
}

// hChunk is the chunk write path: 200 only after the chunk is durable.
func (n *Node) hChunk(w http.ResponseWriter, r *http.Request) error {
	a, err := n.authChunk(r)
	if err != nil {
		return err
	}
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 32)
	if err != nil {
		return fail(http.StatusBadRequest, "exam.site.bad_seq")
	}
	want := strings.ToLower(r.Header.Get("X-Chunk-SHA256"))
	if !hashRE.MatchString(want) {
		return fail(http.StatusBadRequest, "exam.site.bad_hash")
	}
	var body []byte
	if cl := r.ContentLength; cl > MaxChunkBytes {
		return fail(http.StatusRequestEntityTooLarge, "exam.site.chunk_too_large", MaxChunkBytes)
	} else if cl >= 0 {
		// Sized once: no growing and copying per chunk.
		body = make([]byte, cl)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, MaxChunkBytes))
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fail(http.StatusRequestEntityTooLarge, "exam.site.chunk_too_large", MaxChunkBytes)
		}
		return fail(http.StatusBadRequest, "exam.site.bad_body")
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != want {
		return fail(http.StatusBadRequest, "exam.site.bad_hash")
	}
	if err := n.PutChunk(r.Context(), a, r.PathValue("item"), uint32(seq), body); err != nil {
		return err
	}
	return jsonOut(w, http.StatusOK, chunkAck{true, seq})
}

type chunkCount struct {
	Chunks int `json:"chunks"`
}

func (n *Node) hClose(r *http.Request, a *Attempt, in *chunkCount) (any, error) {
	return nil, n.CloseItem(r.Context(), a, r.PathValue("item"), in.Chunks, "client")
}

func (n *Node) hFinish(r *http.Request, a *Attempt, _ *noBody) (any, error) {
	return nil, n.Finish(r.Context(), a, "client")
}
