package media

import (
	"errors"
	"fmt"
)

// Error kinds. Every error this package returns about an input file is an
// *Error whose Kind is one of these, so callers test with errors.Is and show
// a message chosen by kind (the web layer owns the Chinese text; Reason gives
// a stable code to store). Cancellation by the caller's context is not an
// *Error: it wraps context.Canceled or context.DeadlineExceeded.
var (
	ErrEmpty       = errors.New("file is empty")                                   // 0 bytes
	ErrNotMedia    = errors.New("not a video file")                                // no known container, random bytes, text, image
	ErrCorrupt     = errors.New("video file is damaged or incomplete")             // recognised, but truncated or unreadable
	ErrNoVideo     = errors.New("file has sound but no picture")                   // audio only (cover art does not count)
	ErrUnsupported = errors.New("video format not supported")                      // a codec or layout we cannot decode
	ErrTooLong     = errors.New("video is too long")                               // over Limits.MaxDuration
	ErrTooShort    = errors.New("video is too short")                              // under Limits.MinDuration
	ErrTooLarge    = errors.New("video picture or file is too large")              // over Limits.MaxPixels, MaxSide or MaxBytes
	ErrTooSmall    = errors.New("video picture is too small")                      // under Limits.MinSide
	ErrTimeout     = errors.New("video processing took too long")                  // a run exceeded its time limit or stalled
	ErrFailed      = errors.New("video processing failed")                         // ffmpeg failed for another reason; see Detail
	ErrNoTools     = errors.New("video tools (ffmpeg, ffprobe) are not available") // misconfigured server
)

// Error is a media failure of a known kind with a human-readable detail for
// logs (ffprobe's or ffmpeg's own words, the limit exceeded, ...).
type Error struct {
	Kind   error  // one of the Err* sentinels
	Detail string // for logs and operators; not translated
	Err    error  // the underlying cause, if any (an *exec.ExitError, ...)
}

func (e *Error) Error() string {
	msg := "media: " + e.Kind.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the kind and the cause, so errors.Is matches either.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// newError makes an *Error with a formatted detail.
func newError(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind sentinel of err (ErrEmpty, ErrNotMedia, ...), or
// nil when err is nil or carries no media kind (cancellation, I/O errors).
func KindOf(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return nil
}

// Reason returns a short stable code for err's kind ("empty", "not_media",
// "corrupt", "no_video", "unsupported", "too_long", "too_short",
// "too_large", "too_small", "timeout", "failed", "no_tools"), "canceled"
// for a cancelled context, "" for nil and "internal" otherwise. It is meant
// to be stored with the failed media and turned into a message later.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	switch KindOf(err) {
	case ErrEmpty:
		return "empty"
	case ErrNotMedia:
		return "not_media"
	case ErrCorrupt:
		return "corrupt"
	case ErrNoVideo:
		return "no_video"
	case ErrUnsupported:
		return "unsupported"
	case ErrTooLong:
		return "too_long"
	case ErrTooShort:
		return "too_short"
	case ErrTooLarge:
		return "too_large"
	case ErrTooSmall:
		return "too_small"
	case ErrTimeout:
		return "timeout"
	case ErrFailed:
		return "failed"
	case ErrNoTools:
		return "no_tools"
	}
	if isCanceled(err) {
		return "canceled"
	}
	return "internal"
}
