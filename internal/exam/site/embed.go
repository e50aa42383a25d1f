package site

import (
	"embed"
	"io/fs"

	"jnedu/internal/platform/db"
)

//go:embed migrations/*.sql
var migrations embed.FS

//go:embed templates/*.html
var templates embed.FS

//go:embed static
var static embed.FS

// Migrations are the site node's tables (subsystem "examsite").
func Migrations() db.Source {
	return db.Source{Subsystem: "examsite", FS: sub(migrations, "migrations")}
}

// TemplatesFS holds the proctor console pages.
func TemplatesFS() fs.FS { return sub(templates, "templates") }

// StaticFS holds the exam client and console scripts, served under
// /static/site/.
func StaticFS() fs.FS { return sub(static, "static") }

func sub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}
