package lrs

import (
	"embed"
	"io/fs"

	"jnedu/internal/platform/db"
)

//go:embed migrations/*.sql
var migrations embed.FS

//go:embed templates/*.html
var templates embed.FS

// TemplatesFS holds the pages.
func TemplatesFS() fs.FS { return sub(templates, "templates") }

func sub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

// Migrations are the subsystem's tables.
func Migrations() db.Source {
	return db.Source{Subsystem: "lrs", FS: sub(migrations, "migrations")}
}
