// Package apperr holds the error codes shared by every subsystem and their
// mapping to HTTP statuses, in one place.
package apperr

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable, machine-readable error code sent to API clients.
type Code string

const (
	Invalid         Code = "invalid"         // bad input; Fields says which
	NotFound        Code = "not_found"       // no such thing (or not visible to the caller)
	Conflict        Code = "conflict"        // already exists / changed meanwhile
	Unauthenticated Code = "unauthenticated" // not signed in, or bad credentials
	Forbidden       Code = "forbidden"       // signed in but not allowed
	TooLarge        Code = "too_large"       // body, upload or import over its limit
	RateLimited     Code = "rate_limited"    // too many attempts
	Locked          Code = "locked"          // account temporarily locked
	PasswordChange  Code = "password_change" // must change password first
	Unsupported     Code = "unsupported"     // unsupported media type or method
	Unavailable     Code = "unavailable"     // dependency down, try later
	Internal        Code = "internal"        // a bug or an unexpected failure
)

// Status maps a code to its HTTP status.
func (c Code) Status() int {
	switch c {
	case Invalid:
		return http.StatusBadRequest
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case Unauthenticated:
		return http.StatusUnauthorized
	case Forbidden, PasswordChange:
		return http.StatusForbidden
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case RateLimited:
		return http.StatusTooManyRequests
	case Locked:
		return http.StatusLocked
	case Unsupported:
		return http.StatusUnsupportedMediaType
	case Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Error is an error people may see. Message is a message key (translated
// by the web layer) or already-readable text; Args fill its placeholders.
type Error struct {
	Code    Code
	Message string
	Args    []any
	// Fields maps a form/JSON field to a message key for that field.
	Fields map[string]string
	Err    error // the cause, logged, never shown
}

func (e *Error) Error() string {
	msg := string(e.Code) + ": " + e.Message
	if len(e.Args) > 0 {
		msg += fmt.Sprint(e.Args...)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// New makes an Error with a message key and its arguments.
func New(code Code, msg string, args ...any) *Error {
	return &Error{Code: code, Message: msg, Args: args}
}

// Wrap attaches a cause.
func Wrap(code Code, err error, msg string, args ...any) *Error {
	return &Error{Code: code, Message: msg, Args: args, Err: err}
}

// Field makes an Invalid error about one field.
func Field(field, msg string) *Error {
	return &Error{Code: Invalid, Message: msg, Fields: map[string]string{field: msg}}
}

// As returns the *Error inside err, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// CodeOf returns err's code, Internal for errors that carry none.
func CodeOf(err error) Code {
	if e := As(err); e != nil {
		return e.Code
	}
	return Internal
}
