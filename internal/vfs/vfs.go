// Package vfs is the filesystem seam of the broker: every byte the log
// storage reads or writes goes through an FS, so tests can swap the real
// disk for an in-memory one that simulates power loss or for one that
// fails chosen operations (full disks, fsync errors). Those test doubles
// live in vfstest, which only tests import, so the broker binary does not
// link them.
//
// The interface is deliberately small: only what the storage layer uses.
// Durability is explicit. Data written to a File is durable only after
// File.Sync; a created, renamed or removed directory entry is durable only
// after SyncDir on its directory. vfstest.MemFS enforces exactly that
// contract, so code that forgets a sync loses data in crash tests, not in
// production.
package vfs

import (
	"errors"
	"io"
	"os"
)

// ErrLocked means another process (or another FS.Lock call in this one)
// holds the lock. It usually means a second broker was started on the same
// data directory.
var ErrLocked = errors.New("vfs: lock is held by another process")

// FS is the set of filesystem operations the broker needs.
type FS interface {
	// OpenFile opens name with os.OpenFile flags (O_RDONLY, O_RDWR,
	// O_CREATE, O_EXCL, O_TRUNC, O_APPEND, ...).
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// MkdirAll creates path and any missing parents.
	MkdirAll(path string, perm os.FileMode) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes path and everything under it; a missing path is
	// not an error.
	RemoveAll(path string) error
	// Rename atomically replaces newpath with oldpath.
	Rename(oldpath, newpath string) error
	// ReadDir lists a directory sorted by name.
	ReadDir(name string) ([]os.DirEntry, error)
	// Stat describes a file or directory.
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the directory's entries (files created, renamed or
	// removed in it) durable.
	SyncDir(dir string) error
	// Lock takes an exclusive advisory lock on the file name, creating it
	// if needed. It fails with ErrLocked instead of waiting if the lock is
	// held. Close the returned Closer to release it.
	Lock(name string) (io.Closer, error)
}

// WholeSyncer is implemented by file systems that can make everything
// written to them durable in one call (syncfs(2) on Linux). The log
// storage's group commit uses it to cover many partitions with one flush
// instead of one fsync per segment file; without it, it syncs file by file.
type WholeSyncer interface {
	// SyncFS makes every file's contents and every directory's entries
	// on the file system holding dir durable.
	SyncFS(dir string) error
	// FSID identifies the file system holding path, so a caller can tell
	// which paths one SyncFS covers.
	FSID(path string) (uint64, error)
}

// File is an open file. Reads and writes at explicit offsets (ReadAt,
// WriteAt) do not move the position used by Read and Write.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Sync makes the file's contents durable.
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Name() string
}

// NewOS returns the real filesystem.
func NewOS() FS { return osFS{} }

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		// Return a nil interface, not a typed nil *os.File.
		return nil, err
	}
	return f, nil
}

func (osFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(path string) error                  { return os.RemoveAll(path) }
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Stat(name string) (os.FileInfo, error)        { return os.Stat(name) }
func (osFS) Lock(name string) (io.Closer, error)          { return lockFile(name) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
