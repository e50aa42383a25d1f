package insight

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

func subFS(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

// TemplatesFS holds the pages.
func TemplatesFS() fs.FS { return subFS(templates, "templates") }

// StaticFS holds the dashboards' scripts, styles and the vendored ECharts
// (served under /static/insight/).
func StaticFS() fs.FS { return subFS(static, "static") }

// Migrations are the subsystem's tables.
func Migrations() db.Source {
	return db.Source{Subsystem: "insight", FS: subFS(migrations, "migrations")}
}
