package speech

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"time"
)

// A crash inside the C recognizer (a segmentation fault, an abort) cannot
// be recovered in the process it happens in. The center therefore scores
// in child processes (`jnedu speech child`): the parent sends each answer
// over the child's stdin and reads the result from its stdout, in frames
// of a 4-byte big-endian length and a body. A child that dies takes only
// the answer it was scoring with it; the next answer starts a new child.
//
// Protocol: the child first sends a hello frame (JSON childHello) once its
// model is loaded; then, for each request frame (JSON Request) followed
// by an audio frame (the recording's bytes), one reply frame (JSON
// childReply).

// Backend scores answers: a Scorer in this process, or a ChildPool.
type Backend interface {
	Score(ctx context.Context, audio io.Reader, req Request) (Result, error)
	Engine() EngineInfo
}

var _ Backend = (*Scorer)(nil)

// ErrChildCrashed says the child process scoring an answer died.
var ErrChildCrashed = errors.New("speech: the scoring process crashed")

const maxHeaderFrame = 1 << 20

type childHello struct {
	Engine EngineInfo `json:"engine"`
}

type childReply struct {
	Result *Result `json:"result,omitempty"`
	Error  string  `json:"error,omitempty"`
}

func writeFrame(w io.Writer, b []byte) error {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func readFrame(r io.Reader, limit int) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := int(binary.BigEndian.Uint32(n[:]))
	if size > limit {
		return nil, fmt.Errorf("speech: frame of %d bytes, limit %d", size, limit)
	}
	b := make([]byte, size)
	_, err := io.ReadFull(r, b)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

// ServeChild is the child's side: it says hello, then scores the requests
// read from r and writes the replies to w until r ends. before, when not
// nil, sees each request first (tests use it to crash the child on cue).
func ServeChild(ctx context.Context, r io.Reader, w io.Writer, sc *Scorer, before func(Request)) error {
	br, bw := bufio.NewReader(r), bufio.NewWriter(w)
	hello, _ := json.Marshal(childHello{Engine: sc.Engine()})
	if err := writeFrame(bw, hello); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	for {
		hb, err := readFrame(br, maxHeaderFrame)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		audio, err := readFrame(br, MaxAudioBytes)
		if err != nil {
			return err
		}
		var rep childReply
		var req Request
		if err := json.Unmarshal(hb, &req); err != nil {
			rep.Error = "speech: bad request frame: " + err.Error()
		} else {
			if before != nil {
				before(req)
			}
			res, err := sc.Score(ctx, bytes.NewReader(audio), req)
			if err != nil {
				rep.Error = err.Error()
			} else {
				rep.Result = &res
			}
		}
		b, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		if err := writeFrame(bw, b); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

// ChildPool scores answers in child processes, at most size at once; a
// child that exits is replaced by a new one on the next answer.
type ChildPool struct {
	command func() *exec.Cmd
	log     *slog.Logger
	slots   chan struct{}

	mu     sync.Mutex
	idle   []*child
	engine EngineInfo
	closed bool
}

type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *tailBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, once done
}

// NewChildPool makes a pool whose children are started by command (e.g.
// the running executable with "speech child"). The first child starts now,
// so that a broken command or a missing model shows at once.
func NewChildPool(command func() *exec.Cmd, size int, log *slog.Logger) (*ChildPool, error) {
	if size <= 0 {
		size = 1
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &ChildPool{command: command, log: log, slots: make(chan struct{}, size)}
	c, err := p.start()
	if err != nil {
		return nil, err
	}
	p.idle = append(p.idle, c)
	return p, nil
}

func (p *ChildPool) start() (*child, error) {
	cmd := p.command()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout), stderr: &tailBuffer{max: 4096}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("speech: start the scoring process: %w", err)
	}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	hb, err := readFrame(c.stdout, maxHeaderFrame)
	if err != nil {
		c.kill()
		return nil, fmt.Errorf("speech: the scoring process did not start: %v: %s", c.exitErr(err), c.stderr.String())
	}
	var h childHello
	if err := json.Unmarshal(hb, &h); err != nil {
		c.kill()
		return nil, fmt.Errorf("speech: the scoring process: bad hello: %w", err)
	}
	p.mu.Lock()
	p.engine = h.Engine
	p.mu.Unlock()
	return c, nil
}

// exitErr waits briefly for the process's exit status, the clearest
// account of a crash ("signal: aborted"), falling back to err.
func (c *child) exitErr(err error) error {
	select {
	case <-c.done:
		if c.err != nil {
			return c.err
		}
	case <-time.After(2 * time.Second):
	}
	return err
}

func (c *child) kill() {
	c.stdin.Close()
	c.cmd.Process.Kill() //nolint:errcheck // it may have exited
	<-c.done
}

// Engine implements Backend: the children's recognizer and model.
func (p *ChildPool) Engine() EngineInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.engine
}

// Score implements Backend. The recording is read whole (at most
// MaxAudioBytes) and sent to a child. When the child dies scoring it, the
// error wraps ErrChildCrashed and names the signal or exit status.
func (p *ChildPool) Score(ctx context.Context, audio io.Reader, req Request) (Result, error) {
	if err := req.Validate(); err != nil {
		return Result{}, err
	}
	b, err := io.ReadAll(io.LimitReader(audio, MaxAudioBytes+1))
	if err != nil {
		return Result{}, err
	}
	if len(b) > MaxAudioBytes {
		return Result{}, fmt.Errorf("speech: the recording is larger than %d bytes", MaxAudioBytes)
	}
	hb, err := json.Marshal(req)
	if err != nil {
		return Result{}, err
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	defer func() { <-p.slots }()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return Result{}, errors.New("speech: the scoring processes are closed")
	}
	var c *child
	if n := len(p.idle); n > 0 {
		c, p.idle = p.idle[n-1], p.idle[:n-1]
	}
	p.mu.Unlock()
	if c != nil {
		select {
		case <-c.done: // exited while idle
			c = nil
		default:
		}
	}
	if c == nil {
		if c, err = p.start(); err != nil {
			return Result{}, err
		}
	}
	type reply struct {
		b   []byte
		err error
	}
	got := make(chan reply, 1)
	go func() {
		err := writeFrame(c.stdin, hb)
		if err == nil {
			err = writeFrame(c.stdin, b)
		}
		if err != nil {
			got <- reply{err: err}
			return
		}
		rb, err := readFrame(c.stdout, maxHeaderFrame)
		got <- reply{rb, err}
	}()
	var r reply
	select {
	case r = <-got:
	case <-ctx.Done():
		c.kill() // its state is unknown mid-answer
		<-got
		return Result{}, ctx.Err()
	}
	if r.err != nil {
		why := c.exitErr(r.err)
		c.kill()
		p.log.Error("speech scoring process crashed", "request", req.ID, "err", why, "stderr", c.stderr.String())
		return Result{}, fmt.Errorf("%w (%v)", ErrChildCrashed, why)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.kill()
	} else {
		p.idle = append(p.idle, c)
		p.mu.Unlock()
	}
	var rep childReply
	if err := json.Unmarshal(r.b, &rep); err != nil {
		return Result{}, fmt.Errorf("speech: bad reply from the scoring process: %w", err)
	}
	if rep.Error != "" || rep.Result == nil {
		return Result{}, errors.New(rep.Error)
	}
	return *rep.Result, nil
}

// Close stops the idle children; busy ones stop when their answer is done.
func (p *ChildPool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.stdin.Close() // the child ends at the end of its input
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			c.kill()
		}
	}
}

// tailBuffer keeps the last bytes written to it (a child's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
