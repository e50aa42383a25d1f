package share

import (
	"embed"
	"io/fs"

	"jnedu/internal/platform/db"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the subsystem's tables.
func Migrations() db.Source {
	f, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return db.Source{Subsystem: "share", FS: f}
}
