//go:build !linux

package site

import "os"

func datasync(f *os.File) error { return f.Sync() }
