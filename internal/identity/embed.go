package identity

import (
	"embed"
	"io/fs"
)

//go:embed migrations/*.sql
var migrations embed.FS

//go:embed templates/*.html
var templates embed.FS

func migrationsFS() fs.FS {
	f, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return f
}

// TemplatesFS holds the identity pages.
func TemplatesFS() fs.FS {
	f, err := fs.Sub(templates, "templates")
	if err != nil {
		panic(err)
	}
	return f
}
