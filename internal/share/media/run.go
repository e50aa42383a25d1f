package media

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Progress is a snapshot of one ffmpeg run, parsed from -progress output.
type Progress struct {
	Step    string        // what runs: "package", "encode 360p", "ladder 540p+720p", "sprite", ...
	Done    time.Duration // media time written so far
	Total   time.Duration // the video's duration (0 when unknown)
	Percent float64       // 0–100; -1 when Total is unknown
	Speed   float64       // media seconds per wall second (0 when unknown)
	Frames  int64         // frames written (of the first video output)
	End     bool          // the last report of the run
}

// RunStats describe one finished ffmpeg or ffprobe process.
type RunStats struct {
	Step   string        // as in Progress
	Tool   string        // the binary run
	Args   []string      // its arguments
	Wall   time.Duration // from start to exit
	User   time.Duration // user CPU time of the process (rusage)
	System time.Duration // system CPU time of the process (rusage)
	Err    error         // the run's error, nil on success
}

// CPU is User + System.
func (s RunStats) CPU() time.Duration { return s.User + s.System }

// job is one process to run.
type job struct {
	step     string
	bin      string
	args     []string
	dir      string        // working directory; "" is the current one
	timeout  time.Duration // hard limit of this run
	total    time.Duration // media duration, for percentages
	progress bool          // ffmpeg with -progress pipe:1: parse stdout, watch for stalls
}

var (
	errRunTimeout = errors.New("time limit reached")
	errStalled    = errors.New("no progress")
)

const (
	maxStdout = 8 << 20  // ffprobe JSON larger than this is refused
	maxStderr = 32 << 10 // the tail of stderr kept for error details
	waitDelay = 5 * time.Second
)

// result is what a finished run left behind.
type result struct {
	stdout []byte   // what the process wrote (not for progress jobs)
	stderr string   // the tail of its error output
	last   Progress // the last progress report (progress jobs)
}

// run executes j in its own process group, killing the whole group when
// ctx ends, the time limit passes or (for ffmpeg) progress stalls. The
// result is filled in on failure too.
func (t Tools) run(ctx context.Context, j job) (result, error) {
	if _, err := exec.LookPath(j.bin); err != nil {
		return result{}, &Error{Kind: ErrNoTools, Detail: j.bin, Err: err}
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	limit := time.AfterFunc(j.timeout, func() { cancel(errRunTimeout) })
	defer limit.Stop()

	cmd := exec.CommandContext(runCtx, j.bin, j.args...)
	cmd.Dir = j.dir
	cmd.Env = append(os.Environ(), "AV_LOG_FORCE_NOCOLOR=1")
	cmd.Stdin = nil
	cmd.WaitDelay = waitDelay
	ownProcessGroup(cmd)
	stderr := &tailBuffer{max: maxStderr}
	cmd.Stderr = stderr

	var (
		stdout   = &capBuffer{max: maxStdout}
		pw       *io.PipeWriter
		parsed   = make(chan struct{})
		last     Progress
		stall    *time.Timer
		stallFor = t.Timeouts.withDefaults().Stall
	)
	if j.progress {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		cmd.Stdout = pw
		stall = time.AfterFunc(stallFor, func() { cancel(errStalled) })
		defer stall.Stop()
		go func() {
			defer close(parsed)
			last = t.readProgress(pr, j, func() { stall.Reset(stallFor) })
		}()
	} else {
		cmd.Stdout = stdout
		close(parsed)
	}

	start := time.Now()
	err := cmd.Start()
	if err == nil {
		err = cmd.Wait()
	}
	if pw != nil {
		pw.Close()
	}
	<-parsed
	wall := time.Since(start)

	if err != nil {
		switch cause := context.Cause(runCtx); {
		case ctx.Err() != nil:
			err = fmt.Errorf("media: %s stopped: %w", j.step, ctx.Err())
		case errors.Is(cause, errRunTimeout):
			err = &Error{Kind: ErrTimeout, Detail: fmt.Sprintf("%s: over the limit of %v", j.step, j.timeout.Round(time.Second))}
		case errors.Is(cause, errStalled):
			err = &Error{Kind: ErrTimeout, Detail: fmt.Sprintf("%s: no progress for %v", j.step, stallFor)}
		case stdout.overflow:
			err = &Error{Kind: ErrUnsupported, Detail: fmt.Sprintf("%s: more than %d bytes of output", j.step, maxStdout)}
		default:
			err = &Error{Kind: classify(stderr.String()), Detail: j.step + ": " + lastLines(stderr.String(), 6), Err: err}
		}
	} else if stdout.overflow {
		err = &Error{Kind: ErrUnsupported, Detail: fmt.Sprintf("%s: more than %d bytes of output", j.step, maxStdout)}
	}

	st := RunStats{Step: j.step, Tool: j.bin, Args: j.args, Wall: wall, Err: err}
	if ps := cmd.ProcessState; ps != nil {
		st.User, st.System = ps.UserTime(), ps.SystemTime()
	}
	log := t.log()
	switch k := KindOf(err); {
	case k == ErrFailed || k == ErrTimeout || k == ErrNoTools:
		log.Warn("media: run failed", "step", j.step, "tool", j.bin, "wall", wall, "err", err)
	case err != nil:
		log.Debug("media: run failed", "step", j.step, "tool", j.bin, "wall", wall, "err", err)
	default:
		log.Debug("media: run", "step", j.step, "tool", j.bin, "wall", wall, "cpu", st.CPU())
	}
	if t.OnRun != nil {
		t.OnRun(st)
	}
	return result{stdout: stdout.Bytes(), stderr: stderr.String(), last: last}, err
}

// readProgress parses ffmpeg's -progress key=value blocks from r, calls
// moved whenever the run advanced, reports to OnProgress and returns the
// last report.
func (t Tools) readProgress(r io.Reader, j job, moved func()) Progress {
	sc := bufio.NewScanner(r)
	var p, last Progress
	p.Step, p.Total = j.step, j.total
	var size int64
	var lastSize int64 = -1
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		switch k {
		case "frame":
			p.Frames, _ = strconv.ParseInt(v, 10, 64)
		case "out_time_us":
			if us, err := strconv.ParseInt(v, 10, 64); err == nil && us >= 0 {
				p.Done = time.Duration(us) * time.Microsecond
			}
		case "total_size":
			size, _ = strconv.ParseInt(v, 10, 64)
		case "speed":
			p.Speed, _ = strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), "x"), 64)
		case "progress":
			p.End = v == "end"
			p.Percent = -1
			if p.Total > 0 {
				p.Percent = min(100, 100*float64(p.Done)/float64(p.Total))
				if p.End {
					p.Percent = 100
				}
			}
			if p.Done != last.Done || p.Frames != last.Frames || size != lastSize {
				moved()
			}
			last, lastSize = p, size
			if t.OnProgress != nil {
				t.OnProgress(p)
			}
		}
	}
	// Drain whatever is left so the writer never blocks.
	_, _ = io.Copy(io.Discard, r)
	return last
}

// classify maps ffmpeg/ffprobe error output to a kind.
func classify(stderr string) error {
	s := strings.ToLower(stderr)
	switch {
	case strings.Contains(s, "moov atom not found"),
		strings.Contains(s, "partial file"),
		strings.Contains(s, "truncat"),
		strings.Contains(s, "ebml header parsing failed"):
		return ErrCorrupt
	case strings.Contains(s, "invalid data found when processing input"):
		return ErrCorrupt
	case strings.Contains(s, "decoder not found"),
		strings.Contains(s, "unknown decoder"),
		strings.Contains(s, "no decoder"),
		strings.Contains(s, "unsupported codec"),
		strings.Contains(s, "not implemented"):
		return ErrUnsupported
	}
	return ErrFailed
}

func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// lastLines returns the last n non-empty lines of s, joined by " | ".
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var out []string
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			out = append(out, l)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return strings.Join(out, " | ")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) > b.max {
		return string(b.buf[len(b.buf)-b.max:])
	}
	return string(b.buf)
}

// capBuffer keeps at most max bytes and notes an overflow.
type capBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *capBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.overflow = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
