package site

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// FS is the file layer under the chunk log and the recordings. The site
// node uses OSFS; tests put a FaultFS in front of it to make the disk "fill
// up" after a number of bytes.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	ReadDir(dir string) ([]os.DirEntry, error)
	MkdirAll(dir string, perm os.FileMode) error
	Rename(from, to string) error
	Remove(name string) error
	// SyncDir makes a directory's entries (a new or renamed file) durable.
	SyncDir(dir string) error
	// Free is the space left for new data on the file system holding dir.
	Free(dir string) (int64, error)
}

// File is an open file of an FS.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Writer
	io.Reader
	// Datasync flushes the file's data (and its size) to stable storage.
	Datasync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

// OSFS is the real file system.
type OSFS struct{}

type osFile struct{ *os.File }

func (f osFile) Datasync() error { return datasync(f.File) }

// OpenFile opens a file.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// ReadDir lists a directory.
func (OSFS) ReadDir(dir string) ([]os.DirEntry, error) { return os.ReadDir(dir) }

// MkdirAll makes a directory and its parents.
func (OSFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

// Rename renames a file.
func (OSFS) Rename(from, to string) error { return os.Rename(from, to) }

// Remove removes a file.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// SyncDir fsyncs a directory.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Free reports the bytes available to an unprivileged writer.
func (OSFS) Free(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// FaultFS passes everything to an inner FS but, once Budget bytes have been
// written under its directories, fails every further write with ENOSPC (a
// write that crosses the limit is cut short, as a real full disk does). It is
// how tests simulate the disk filling up; SetBudget "frees space" again.
type FaultFS struct {
	Inner FS
	mu    sync.Mutex
	left  int64 // bytes that may still be written; <0: unlimited
}

// NewFaultFS wraps inner with an unlimited budget.
func NewFaultFS(inner FS) *FaultFS { return &FaultFS{Inner: inner, left: -1} }

// SetBudget allows n more bytes (n < 0: unlimited).
func (f *FaultFS) SetBudget(n int64) {
	f.mu.Lock()
	f.left = n
	f.mu.Unlock()
}

// take reserves up to n bytes of the budget, returning how many may be
// written.
func (f *FaultFS) take(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.left < 0 {
		return n
	}
	if int64(n) > f.left {
		k := int(f.left)
		f.left = 0
		return k
	}
	f.left -= int64(n)
	return n
}

// OpenFile opens a file whose writes count against the budget.
func (f *FaultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	in, err := f.Inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: in, fs: f}, nil
}

// ReadDir lists a directory.
func (f *FaultFS) ReadDir(dir string) ([]os.DirEntry, error) { return f.Inner.ReadDir(dir) }

// MkdirAll makes directories.
func (f *FaultFS) MkdirAll(dir string, perm os.FileMode) error { return f.Inner.MkdirAll(dir, perm) }

// Rename renames.
func (f *FaultFS) Rename(from, to string) error { return f.Inner.Rename(from, to) }

// Remove removes.
func (f *FaultFS) Remove(name string) error { return f.Inner.Remove(name) }

// SyncDir syncs a directory.
func (f *FaultFS) SyncDir(dir string) error { return f.Inner.SyncDir(dir) }

// Free reports the budget left when one is set.
func (f *FaultFS) Free(dir string) (int64, error) {
	f.mu.Lock()
	left := f.left
	f.mu.Unlock()
	if left >= 0 {
		return left, nil
	}
	return f.Inner.Free(dir)
}

type faultFile struct {
	File
	fs *FaultFS
}

func (w *faultFile) Write(p []byte) (int, error) {
	k := w.fs.take(len(p))
	n, err := w.File.Write(p[:k])
	if err == nil && k < len(p) {
		err = &os.PathError{Op: "write", Path: "faultfs", Err: syscall.ENOSPC}
	}
	return n, err
}

func (w *faultFile) WriteAt(p []byte, off int64) (int, error) {
	k := w.fs.take(len(p))
	n, err := w.File.WriteAt(p[:k], off)
	if err == nil && k < len(p) {
		err = &os.PathError{Op: "write", Path: "faultfs", Err: syscall.ENOSPC}
	}
	return n, err
}

// IsDiskFull reports whether err says the disk is full.
func IsDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, ErrDiskFull)
}

// writeFileSync writes data to path through a temporary file, fsyncs it,
// renames it into place and fsyncs the directory.
func writeFileSync(fsys FS, path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := fsys.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		fsys.Remove(tmp)
		return err
	}
	if err := f.Datasync(); err != nil {
		f.Close()
		fsys.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}
