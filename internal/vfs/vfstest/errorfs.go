package vfstest

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/spool-mq/spool/internal/vfs"
)

// Op is a kind of filesystem operation, as a bit so an Injector can be
// given a set of them.
type Op uint32

// The operations an ErrorFS consults its Injector about.
const (
	OpOpen     Op = 1 << iota // opening an existing file
	OpCreate                  // opening with O_CREATE a file that does not exist
	OpRead                    // Read, ReadAt
	OpWrite                   // Write, WriteAt
	OpSync                    // File.Sync
	OpTruncate                // File.Truncate
	OpClose                   // File.Close
	OpStat                    // FS.Stat, File.Stat
	OpMkdir                   // MkdirAll
	OpRemove                  // Remove, RemoveAll
	OpRename                  // Rename
	OpReadDir                 // ReadDir
	OpSyncDir                 // SyncDir
	OpLock                    // Lock
	OpSyncFS                  // SyncFS (WholeSyncer)
)

// OpAll is every operation.
const OpAll Op = OpSyncFS<<1 - 1

var opNames = []string{"open", "create", "read", "write", "sync", "truncate", "close", "stat",
	"mkdir", "remove", "rename", "readdir", "syncdir", "lock", "syncfs"}

func (o Op) String() string {
	for i, name := range opNames {
		if o == 1<<i {
			return name
		}
	}
	return "ops"
}

// Injector decides which operations of an ErrorFS fail.
type Injector interface {
	// Inject is called before op on path. size is the byte count for
	// OpWrite and 0 otherwise. A nil error lets the operation run. With an
	// error, an OpWrite first writes allowed bytes (0 <= allowed < size;
	// a short write, as a filling disk produces) and then fails; other
	// operations fail without effect and ignore allowed.
	Inject(op Op, path string, size int) (allowed int, err error)
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(op Op, path string, size int) (int, error)

// Inject implements Injector.
func (f InjectorFunc) Inject(op Op, path string, size int) (int, error) { return f(op, path, size) }

// Switch fails a set of operations with one error while it is on. It is
// safe for concurrent use, so a test can flip it while a broker runs.
type Switch struct {
	ops  Op
	err  error
	on   atomic.Bool
	hits atomic.Int64
}

// NewSwitch returns a Switch, initially off, that fails ops with err.
func NewSwitch(err error, ops Op) *Switch { return &Switch{ops: ops, err: err} }

// NewDiskFull returns a Switch, initially off, that behaves like a full
// disk: writes and file or directory creation fail with ENOSPC. Reads,
// syncs of already written data and removals still work.
func NewDiskFull() *Switch { return NewSwitch(syscall.ENOSPC, OpWrite|OpCreate|OpMkdir) }

// Set turns the switch on or off.
func (s *Switch) Set(on bool) { s.on.Store(on) }

// Hits is how many operations the switch has failed.
func (s *Switch) Hits() int64 { return s.hits.Load() }

// Inject implements Injector.
func (s *Switch) Inject(op Op, _ string, _ int) (int, error) {
	if s.ops&op == 0 || !s.on.Load() {
		return 0, nil
	}
	s.hits.Add(1)
	return 0, s.err
}

// WriteBudget lets a fixed number of bytes be written, then fails writes
// with ENOSPC; the write that crosses the limit is short. Add gives space
// back (a disk that was cleaned up).
type WriteBudget struct {
	mu   sync.Mutex
	left int64
}

// NewWriteBudget allows n more bytes of writes.
func NewWriteBudget(n int64) *WriteBudget { return &WriteBudget{left: n} }

// Add changes the remaining budget by n.
func (b *WriteBudget) Add(n int64) {
	b.mu.Lock()
	b.left += n
	b.mu.Unlock()
}

// Left is the remaining budget.
func (b *WriteBudget) Left() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left
}

// Inject implements Injector.
func (b *WriteBudget) Inject(op Op, _ string, size int) (int, error) {
	if op != OpWrite {
		return 0, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if int64(size) <= b.left {
		b.left -= int64(size)
		return 0, nil
	}
	allowed := max(b.left, 0)
	b.left = 0
	return int(allowed), syscall.ENOSPC
}

// ErrorFS wraps an FS and fails the operations its Injector picks.
type ErrorFS struct {
	inner vfs.FS
	inj   Injector
}

// NewErrorFS returns inner with inj consulted before every operation.
// Injected errors are returned as *os.PathError wrapping the injector's
// error, so errors.Is(err, syscall.ENOSPC) works as with a real disk.
func NewErrorFS(inner vfs.FS, inj Injector) *ErrorFS { return &ErrorFS{inner: inner, inj: inj} }

func (e *ErrorFS) check(op Op, name string) error {
	if _, err := e.inj.Inject(op, name, 0); err != nil {
		return pathErr(op.String(), name, err)
	}
	return nil
}

// OpenFile implements FS.
func (e *ErrorFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	op := OpOpen
	if flag&os.O_CREATE != 0 {
		if _, err := e.inner.Stat(name); err != nil {
			op = OpCreate
		}
	}
	if err := e.check(op, name); err != nil {
		return nil, err
	}
	f, err := e.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &errorFile{File: f, fs: e, name: name}, nil
}

// MkdirAll implements FS.
func (e *ErrorFS) MkdirAll(path string, perm os.FileMode) error {
	if err := e.check(OpMkdir, path); err != nil {
		return err
	}
	return e.inner.MkdirAll(path, perm)
}

// Remove implements FS.
func (e *ErrorFS) Remove(name string) error {
	if err := e.check(OpRemove, name); err != nil {
		return err
	}
	return e.inner.Remove(name)
}

// RemoveAll implements FS.
func (e *ErrorFS) RemoveAll(path string) error {
	if err := e.check(OpRemove, path); err != nil {
		return err
	}
	return e.inner.RemoveAll(path)
}

// Rename implements FS.
func (e *ErrorFS) Rename(oldpath, newpath string) error {
	if err := e.check(OpRename, oldpath); err != nil {
		return err
	}
	return e.inner.Rename(oldpath, newpath)
}

// ReadDir implements FS.
func (e *ErrorFS) ReadDir(name string) ([]os.DirEntry, error) {
	if err := e.check(OpReadDir, name); err != nil {
		return nil, err
	}
	return e.inner.ReadDir(name)
}

// Stat implements FS.
func (e *ErrorFS) Stat(name string) (os.FileInfo, error) {
	if err := e.check(OpStat, name); err != nil {
		return nil, err
	}
	return e.inner.Stat(name)
}

// SyncDir implements FS.
func (e *ErrorFS) SyncDir(dir string) error {
	if err := e.check(OpSyncDir, dir); err != nil {
		return err
	}
	return e.inner.SyncDir(dir)
}

// SyncFS implements WholeSyncer if the inner file system does; otherwise
// it fails with errors.ErrUnsupported, and callers sync file by file.
func (e *ErrorFS) SyncFS(dir string) error {
	ws, ok := e.inner.(vfs.WholeSyncer)
	if !ok {
		return errors.ErrUnsupported
	}
	if err := e.check(OpSyncFS, dir); err != nil {
		return err
	}
	return ws.SyncFS(dir)
}

// FSID implements WholeSyncer (see SyncFS); it injects no errors.
func (e *ErrorFS) FSID(path string) (uint64, error) {
	ws, ok := e.inner.(vfs.WholeSyncer)
	if !ok {
		return 0, errors.ErrUnsupported
	}
	return ws.FSID(path)
}

// Lock implements FS.
func (e *ErrorFS) Lock(name string) (io.Closer, error) {
	if err := e.check(OpLock, name); err != nil {
		return nil, err
	}
	return e.inner.Lock(name)
}

type errorFile struct {
	vfs.File
	fs   *ErrorFS
	name string
}

func (f *errorFile) Read(p []byte) (int, error) {
	if err := f.fs.check(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *errorFile) Write(p []byte) (int, error) {
	allowed, err := f.fs.inj.Inject(OpWrite, f.name, len(p))
	if err == nil {
		return f.File.Write(p)
	}
	n := 0
	if allowed > 0 && allowed < len(p) {
		n, _ = f.File.Write(p[:allowed])
	}
	return n, pathErr("write", f.name, err)
}

func (f *errorFile) WriteAt(p []byte, off int64) (int, error) {
	allowed, err := f.fs.inj.Inject(OpWrite, f.name, len(p))
	if err == nil {
		return f.File.WriteAt(p, off)
	}
	n := 0
	if allowed > 0 && allowed < len(p) {
		n, _ = f.File.WriteAt(p[:allowed], off)
	}
	return n, pathErr("write", f.name, err)
}

func (f *errorFile) Sync() error {
	if err := f.fs.check(OpSync, f.name); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *errorFile) Truncate(size int64) error {
	if err := f.fs.check(OpTruncate, f.name); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *errorFile) Stat() (os.FileInfo, error) {
	if err := f.fs.check(OpStat, f.name); err != nil {
		return nil, err
	}
	return f.File.Stat()
}

func (f *errorFile) Close() error {
	if err := f.fs.check(OpClose, f.name); err != nil {
		// The descriptor is released anyway, as close(2) does.
		f.File.Close()
		return err
	}
	return f.File.Close()
}
