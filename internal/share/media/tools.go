package media

import (
	"log/slog"
	"os/exec"
	"time"
)

// Tools runs ffprobe and ffmpeg. The zero value works: binaries from PATH,
// ffmpeg's own thread count, the libx264 preset "veryfast", 4-second
// segments and the default Limits and Timeouts. A Tools is a plain value:
// copy it to give one job its own OnProgress.
type Tools struct {
	FFmpeg  string // path of ffmpeg; "" looks up "ffmpeg" on PATH
	FFprobe string // path of ffprobe; "" looks up "ffprobe" on PATH

	// Threads bounds the threads of each decoder, filter graph and encoder
	// (-threads, -filter_complex_threads); 0 lets ffmpeg choose.
	Threads int
	// Preset is the libx264 preset of every encode; "" means "veryfast".
	Preset string
	// Segment is the HLS segment length, and the GOP length of every
	// encoded rendition (keyframes are forced at each multiple of it, so
	// segment boundaries line up across renditions). 0 means 4 s.
	Segment time.Duration

	Limits   Limits
	Timeouts Timeouts

	// Log receives one line per ffmpeg/ffprobe run (debug) and failures
	// (warn); nil discards.
	Log *slog.Logger
	// OnProgress, when set, is called about twice a second during each
	// ffmpeg run, from one goroutine per run.
	OnProgress func(Progress)
	// OnRun, when set, is called after every ffmpeg and ffprobe process
	// ends, with its wall time and CPU time.
	OnRun func(RunStats)
}

// Limits bound what Probe accepts. Zero fields take the defaults shown; a
// negative value switches that check off.
type Limits struct {
	MaxDuration time.Duration // default 6 h → ErrTooLong
	MinDuration time.Duration // default 0.5 s → ErrTooShort
	MaxPixels   int           // displayed width × height; default 4096×2160 (8K is refused) → ErrTooLarge
	MaxSide     int           // longer displayed side; default 4096 → ErrTooLarge
	MinSide     int           // shorter displayed side; default 32 → ErrTooSmall
	MaxBytes    int64         // file size; default none (the upload is bounded before) → ErrTooLarge
}

// Timeouts bound every process, so a hostile or broken file can never hang
// a worker. Zero fields take the defaults shown.
type Timeouts struct {
	// Probe bounds each ffprobe run (and the demux-only pass that measures
	// a file whose header lacks a duration). Default 1 min.
	Probe time.Duration
	// Base plus PerSecond × the video's duration bounds each ffmpeg run.
	// Defaults 5 min and 4 (4 s of processing per second of video).
	Base      time.Duration
	PerSecond float64
	// Stall kills an ffmpeg run whose progress has not moved for this long.
	// Default 2 min.
	Stall time.Duration
}

const (
	defaultPreset  = "veryfast"
	defaultSegment = 4 * time.Second
)

func (t Tools) ffmpeg() string  { return orDefault(t.FFmpeg, "ffmpeg") }
func (t Tools) ffprobe() string { return orDefault(t.FFprobe, "ffprobe") }

func (t Tools) preset() string { return orDefault(t.Preset, defaultPreset) }

func (t Tools) segment() time.Duration {
	if t.Segment > 0 {
		return t.Segment
	}
	return defaultSegment
}

func (t Tools) log() *slog.Logger {
	if t.Log != nil {
		return t.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Check reports whether ffmpeg and ffprobe can be found, as an ErrNoTools
// error naming the missing one.
func (t Tools) Check() error {
	for _, bin := range []string{t.ffmpeg(), t.ffprobe()} {
		if _, err := exec.LookPath(bin); err != nil {
			return &Error{Kind: ErrNoTools, Detail: bin, Err: err}
		}
	}
	return nil
}

// limits returns l with defaults filled in; a disabled check becomes 0.
func (l Limits) withDefaults() Limits {
	l.MaxDuration = pick(l.MaxDuration, 6*time.Hour)
	l.MinDuration = pick(l.MinDuration, 500*time.Millisecond)
	l.MaxPixels = pick(l.MaxPixels, 4096*2160)
	l.MaxSide = pick(l.MaxSide, 4096)
	l.MinSide = pick(l.MinSide, 32)
	l.MaxBytes = pick(l.MaxBytes, 0)
	return l
}

func (to Timeouts) withDefaults() Timeouts {
	to.Probe = pick(to.Probe, time.Minute)
	to.Base = pick(to.Base, 5*time.Minute)
	to.PerSecond = pick(to.PerSecond, 4)
	to.Stall = pick(to.Stall, 2*time.Minute)
	return to
}

// runTimeout is the time limit of one ffmpeg run over d of video.
func (t Tools) runTimeout(d time.Duration) time.Duration {
	to := t.Timeouts.withDefaults()
	return to.Base + time.Duration(to.PerSecond*float64(d))
}

// pick returns v, or def when v is zero, or zero when v is negative
// (a switched-off limit).
func pick[T int | int64 | float64 | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
