package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"jnedu/internal/platform/apperr"
)

// ErrorBody is the JSON shape of every API error.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong.
type ErrorDetail struct {
	Code      apperr.Code       `json:"code"`
	Message   string            `json:"message"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

// JSON writes v with status.
func JSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	return enc.Encode(v)
}

// DecodeJSON reads a JSON body into v, refusing unknown fields, trailing
// data, a wrong content type and bodies over max bytes.
func DecodeJSON(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return apperr.New(apperr.Unsupported, "err.json_content_type")
		}
	}
	body := http.MaxBytesReader(w, r.Body, max)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return apperr.New(apperr.TooLarge, "err.body_too_large", max)
		case errors.Is(err, io.EOF):
			return apperr.New(apperr.Invalid, "err.json_empty")
		case errors.As(err, &syn):
			return apperr.New(apperr.Invalid, "err.json_syntax", syn.Offset)
		case errors.As(err, &typ):
			return &apperr.Error{Code: apperr.Invalid, Message: "err.json_type", Args: []any{typ.Field},
				Fields: map[string]string{typ.Field: "err.json_type_field"}}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &apperr.Error{Code: apperr.Invalid, Message: "err.json_unknown_field", Args: []any{f},
				Fields: map[string]string{f: "err.json_unknown_field_short"}}
		default:
			return apperr.Wrap(apperr.Invalid, err, "err.json_invalid")
		}
	}
	if dec.More() {
		return apperr.New(apperr.Invalid, "err.json_trailing")
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apperr.New(apperr.TooLarge, "err.body_too_large", max)
		}
	}
	return nil
}

// ParseForm parses a urlencoded or multipart form within max bytes.
func ParseForm(w http.ResponseWriter, r *http.Request, max int64) error {
	r.Body = http.MaxBytesReader(w, r.Body, max)
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(max)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || strings.Contains(err.Error(), "too large") {
			return apperr.New(apperr.TooLarge, "err.body_too_large", max)
		}
		return apperr.Wrap(apperr.Invalid, err, "err.form_invalid")
	}
	return nil
}

// Redirect sends a 303 to url (after a POST, the browser GETs it).
func Redirect(w http.ResponseWriter, r *http.Request, url string) error {
	http.Redirect(w, r, url, http.StatusSeeOther)
	return nil
}

// messageOf translates an apperr into the caller's language.
func messageOf(tr *Translator, lang string, e *apperr.Error) (string, map[string]string) {
	msg := tr.T(lang, e.Message, e.Args...)
	var fields map[string]string
	if len(e.Fields) > 0 {
		fields = make(map[string]string, len(e.Fields))
		for k, v := range e.Fields {
			fields[k] = tr.T(lang, v, e.Args...)
		}
	}
	return msg, fields
}

// NotFoundError is the error for unknown paths.
func NotFoundError() error { return apperr.New(apperr.NotFound, "err.not_found") }

func internalError(err error) *apperr.Error {
	return &apperr.Error{Code: apperr.Internal, Message: "err.internal", Err: err}
}

// Errorf is a shorthand for an Invalid error with a message key.
func Errorf(key string, args ...any) error { return apperr.New(apperr.Invalid, key, args...) }
