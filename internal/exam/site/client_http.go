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
	api("POST /client/api/signin", n.hSignIn)
	api("GET /client/api/attempts/{attempt}", n.hAttempt)
	api("GET /client/api/attempts/{attempt}/photo", n.hPhoto)
	api("POST /client/api/attempts/{attempt}/confirm", n.hConfirm)
	api("POST /client/api/attempts/{attempt}/device", n.hDevice)
	api("GET /client/api/attempts/{attempt}/paper", n.hPaper)
	api("GET /client/api/attempts/{attempt}/files/{sha}", n.hFile)
	api("POST /client/api/attempts/{attempt}/heartbeat", n.hHeartbeat)
	api("POST /client/api/attempts/{attempt}/items/{item}/open", n.hOpen)
	api("PUT /client/api/attempts/{attempt}/items/{item}/answer", n.hAnswer)
	api("PUT /client/api/attempts/{attempt}/items/{item}/chunks/{seq}", n.hChunk)
	api("POST /client/api/attempts/{attempt}/items/{item}/close", n.hClose)
	api("POST /client/api/attempts/{attempt}/finish", n.hFinish)
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

func ok(w http.ResponseWriter, v any) error {
	if v == nil {
		v = map[string]any{"ok": true}
	}
	return jsonOut(w, http.StatusOK, v)
}

func jsonOut(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return writeJSON(w, v)
}

func (n *Node) hSignIn(w http.ResponseWriter, r *http.Request) error {
	addr := clientAddr(r)
	if d := n.candidateGuard.wait(addr); d > 0 {
		retryAfter(w, d)
		return fail(http.StatusTooManyRequests, "exam.site.too_many_numbers")
	}
	var in SignIn
	if err := decode(w, r, &in); err != nil {
		return err
	}
	out, err := n.SignIn(r.Context(), in)
	if err != nil {
		if e := toErr(err); e.Code == "exam.site.no_such_number" && !n.candidateGuard.refused(addr) {
			retryAfter(w, candidateFailEvery)
			return fail(http.StatusTooManyRequests, "exam.site.too_many_numbers")
		}
		return err
	}
	return ok(w, out)
}

func (n *Node) hAttempt(w http.ResponseWriter, r *http.Request) error {
	a, err := n.authAttempt(r)
	if err != nil {
		return err
	}
	v, err := n.view(r.Context(), a)
	if err != nil {
		return err
	}
	return ok(w, v)
}

func (n *Node) hPhoto(w http.ResponseWriter, r *http.Request) error {
	a, err := n.authAttempt(r)
	if err != nil {
		return err
	}
	c := n.candidateIn(a.Session, a.Number)
	if c == nil || c.Photo == "" {
		return fail(http.StatusNotFound, "exam.site.no_photo")
	}
	b, err := n.readBlob(c.Photo)
	if err != nil {
		return fail(http.StatusNotFound, "exam.site.no_photo")
	}
	w.Header().Set("Content-Type", http.DetectContentType(b))
	w.Header().Set("Cache-Control", "private, no-store")
	_, err = w.Write(b)
	return err
}

func (n *Node) hConfirm(w http.ResponseWriter, r *http.Request) error {
	a, err := n.authAttempt(r)
	if err != nil {
		return err
	}
	if a.State == StateSignedIn {
		if err := n.setState(r.Context(), a, StateConfirmed, false); err != nil {
			return err
		}
	}
	return ok(w, nil)
}

func (n *Node) hDevice(w http.ResponseWriter, r *http.Request) error {
	a, err := n.authAttempt(r)
	if err != nil {
		return err
	}
	var in struct {
		OK    bool    `json:"ok"`
		Level float64 `json:"level"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if !in.OK {
		return ok(w, nil) // shown on the console as "device check not passed"
	}
	if a.State == StateSignedIn || a.State == StateConfirmed {
		if err := n.setState(r.Context(), a, StateReady, true); err != nil {
			return err
		}
	} else if _, err := n.db.Exec(r.Context(), `UPDATE examsite_attempts SET device_ok = ? WHERE id = ?`, true, a.ID); err != nil {
		return err
	}
	return ok(w, nil)
}

func (n *Node) hPaper(w http.ResponseWriter, r *http.Request) error {
	a, err := n.authAttempt(r)
	if err != nil {
		return err
	}
	op, err := n.paperFor(r.Context(), a)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(op.client)
	return err
}

func (n *Node) hFile(w http.ResponseWriter, r *http.Request) error {
	a, err := n.authAttempt(r)
	if err != nil {
		return err
	}
	op, err := n.paperFor(r.Context(), a)
	if err != nil {
		return err
	}
	b, found := op.files[r.PathValue("sha")]
	if !found {
		return fail(http.StatusNotFound, "exam.site.no_such_file")
	}
	w.Header().Set("Content-Type", http.DetectContentType(b))
	w.Header().Set("Cache-Control", "private, max-age=3600")
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader(string(b)))
	return nil
}

func (n *Node) hHeartbeat(w http.ResponseWriter, r *http.Request) error {
	a, err := n.authAttempt(r)
	if err != nil {
		return err
	}
	var hb Heartbeat
	if err := decode(w, r, &hb); err != nil {
		return err
	}
	if err := n.Beat(r.Context(), a, hb); err != nil {
		return err
	}
	return ok(w, map[string]any{"room_state": n.roomState(r.Context(), a.Session, a.Room), "state": a.State,
		"now": n.now(), "paper_open": n.hasPapers(a.Session)})
}

func (n *Node) hOpen(w http.ResponseWriter, r *http.Request) error {
	a, err := n.authAttempt(r)
	if err != nil {
		return err
	}
	if err := n.OpenItem(r.Context(), a, r.PathValue("item")); err != nil {
		return err
	}
	return ok(w, nil)
}

func (n *Node) hAnswer(w http.ResponseWriter, r *http.Request) error {
	a, err := n.authAttempt(r)
	if err != nil {
		return err
	}
	var in struct {
		Choice int `json:"choice"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := n.Answer(r.Context(), a, r.PathValue("item"), in.Choice); err != nil {
		return err
	}
	return ok(w, nil)
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
	return ok(w, map[string]any{"ok": true, "seq": seq})
}

func (n *Node) hClose(w http.ResponseWriter, r *http.Request) error {
	a, err := n.authAttempt(r)
	if err != nil {
		return err
	}
	var in struct {
		Chunks int `json:"chunks"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := n.CloseItem(r.Context(), a, r.PathValue("item"), in.Chunks, "client"); err != nil {
		return err
	}
	return ok(w, nil)
}

func (n *Node) hFinish(w http.ResponseWriter, r *http.Request) error {
	a, err := n.authAttempt(r)
	if err != nil {
		return err
	}
	if err := n.Finish(r.Context(), a, "client"); err != nil {
		return err
	}
	return ok(w, nil)
}
