package lrs

import (
	"database/sql"

	"jnedu/internal/platform/apperr"
)

var sqlNoRows = sql.ErrNoRows

func isNotFound(err error) bool {
	e := apperr.As(err)
	return e != nil && e.Code == apperr.NotFound
}
