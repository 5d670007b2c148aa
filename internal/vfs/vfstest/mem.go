package vfstest

import (
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spool-mq/spool/internal/vfs"
)

// MemFS is an in-memory FS that remembers what is durable. Every file keeps
// its current contents and the contents it had at its last Sync; every
// directory keeps its current entries and the entries it had at its last
// SyncDir. CrashClone turns that into the filesystem a power cut would
// leave behind. MemFS also counts operations (Stats, ReadBytes) so tests can
// assert how much I/O something did.
//
// Paths are slash-separated; relative paths are taken from the root. It is
// safe for concurrent use: one mutex guards everything, which is plenty for
// tests.
type MemFS struct {
	mu     sync.Mutex
	root   *memNode
	locks  map[string]bool
	stats  Stats
	readBy map[string]int64
	sbErr  error // write-back error the next SyncFS reports (FailWriteBack)
}

// Stats counts operations on a MemFS since it was created or ResetStats.
type Stats struct {
	Opens        int64
	Syncs        int64 // File.Sync calls
	DirSyncs     int64 // SyncDir calls
	FSSyncs      int64 // SyncFS calls
	ReadCalls    int64
	BytesRead    int64
	WriteCalls   int64
	BytesWritten int64
}

type memNode struct {
	dir     bool
	mode    os.FileMode
	modTime time.Time

	// Files.
	data   []byte // current contents
	synced []byte // contents at the last Sync; never shares data's array
	// lost are byte ranges whose write-back failed (FailWriteBack): syncs
	// do not make them durable until they are written again.
	lost  [][2]int64
	wbErr error  // the last write-back error
	wbSeq uint64 // counts write-back errors; descriptors report each once

	// Directories.
	children       map[string]*memNode // current entries
	syncedChildren map[string]*memNode // entries at the last SyncDir
}

func newDirNode(perm os.FileMode) *memNode {
	return &memNode{dir: true, mode: perm, modTime: time.Now(),
		children: make(map[string]*memNode), syncedChildren: make(map[string]*memNode)}
}

// NewMem returns an empty in-memory filesystem.
func NewMem() *MemFS {
	return &MemFS{root: newDirNode(0o755), locks: make(map[string]bool), readBy: make(map[string]int64)}
}

// Stats returns the operation counters.
func (m *MemFS) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// ResetStats zeroes the operation counters and ReadBytes.
func (m *MemFS) ResetStats() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats = Stats{}
	clear(m.readBy)
}

// ReadBytes is how many bytes were read (Read, ReadAt) through files opened
// at name, or at any path under name if it is a directory, since the last
// ResetStats.
func (m *MemFS) ReadBytes(name string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := cleanPath(name)
	var n int64
	for file, c := range m.readBy {
		if file == p || strings.HasPrefix(file, p+"/") || p == "/" {
			n += c
		}
	}
	return n
}

// cleanPath maps any path to an absolute, clean, slash-separated one.
func cleanPath(name string) string {
	return path.Clean("/" + filepath.ToSlash(name))
}

func pathErr(op, name string, err error) error {
	return &os.PathError{Op: op, Path: name, Err: err}
}

// lookup finds the node at p (clean). Callers hold m.mu.
func (m *MemFS) lookup(p string) (*memNode, error) {
	n := m.root
	if p == "/" {
		return n, nil
	}
	for _, part := range strings.Split(p[1:], "/") {
		if !n.dir {
			return nil, syscall.ENOTDIR
		}
		c, ok := n.children[part]
		if !ok {
			return nil, fs.ErrNotExist
		}
		n = c
	}
	return n, nil
}

// parent finds the directory holding p (clean) and p's last element.
func (m *MemFS) parent(p string) (*memNode, string, error) {
	if p == "/" {
		return nil, "", syscall.EINVAL
	}
	dir, base := path.Split(p)
	d, err := m.lookup(path.Clean(dir))
	if err != nil {
		return nil, "", err
	}
	if !d.dir {
		return nil, "", syscall.ENOTDIR
	}
	return d, base, nil
}

// OpenFile implements FS.
func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.open(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (m *MemFS) open(name string, flag int, perm os.FileMode) (*memFile, error) {
	p := cleanPath(name)
	dir, base, err := m.parent(p)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	n, ok := dir.children[base]
	switch {
	case !ok && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, fs.ErrNotExist)
	case !ok:
		n = &memNode{mode: perm, modTime: time.Now()}
		dir.children[base] = n
	case flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, pathErr("open", name, fs.ErrExist)
	case n.dir:
		return nil, pathErr("open", name, syscall.EISDIR)
	}
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	f := &memFile{fs: m, n: n, name: name, path: p,
		read: acc != os.O_WRONLY, write: acc != os.O_RDONLY, append: flag&os.O_APPEND != 0,
		wbSeen: n.wbSeq}
	if flag&os.O_TRUNC != 0 && f.write {
		n.data = n.data[:0]
		n.modTime = time.Now()
	}
	m.stats.Opens++
	return f, nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(name string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := cleanPath(name)
	n := m.root
	if p == "/" {
		return nil
	}
	for _, part := range strings.Split(p[1:], "/") {
		c, ok := n.children[part]
		if !ok {
			c = newDirNode(perm)
			n.children[part] = c
		} else if !c.dir {
			return pathErr("mkdir", name, syscall.ENOTDIR)
		}
		n = c
	}
	return nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent(cleanPath(name))
	if err != nil {
		return pathErr("remove", name, err)
	}
	n, ok := dir.children[base]
	if !ok {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	if n.dir && len(n.children) > 0 {
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	delete(dir.children, base)
	dir.modTime = time.Now()
	return nil
}

// RemoveAll implements FS. Open files of removed nodes keep working, as
// unlinked files do on a real filesystem.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := cleanPath(name)
	if p == "/" {
		clear(m.root.children)
		return nil
	}
	dir, base, err := m.parent(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return pathErr("removeall", name, err)
	}
	delete(dir.children, base)
	return nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	op, np := cleanPath(oldpath), cleanPath(newpath)
	odir, obase, err := m.parent(op)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	n, ok := odir.children[obase]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	if op == np {
		return nil
	}
	if n.dir && strings.HasPrefix(np, op+"/") {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EINVAL}
	}
	ndir, nbase, err := m.parent(np)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	if t, ok := ndir.children[nbase]; ok {
		switch {
		case t.dir && !n.dir:
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EISDIR}
		case !t.dir && n.dir:
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.ENOTDIR}
		case t.dir && len(t.children) > 0:
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.ENOTEMPTY}
		}
	}
	delete(odir.children, obase)
	ndir.children[nbase] = n
	return nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(name string) ([]os.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(cleanPath(name))
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	if !n.dir {
		return nil, pathErr("readdir", name, syscall.ENOTDIR)
	}
	names := slices.Sorted(maps.Keys(n.children))
	out := make([]os.DirEntry, 0, len(names))
	for _, c := range names {
		out = append(out, fs.FileInfoToDirEntry(n.children[c].info(c)))
	}
	return out, nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := cleanPath(name)
	n, err := m.lookup(p)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	return n.info(path.Base(p)), nil
}

// SyncDir implements FS: the directory's current entries become durable.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(cleanPath(dir))
	if err != nil {
		return pathErr("syncdir", dir, err)
	}
	if !n.dir {
		return pathErr("syncdir", dir, syscall.ENOTDIR)
	}
	n.syncedChildren = maps.Clone(n.children)
	m.stats.DirSyncs++
	return nil
}

// SyncFS implements WholeSyncer: like syncfs(2), it makes every file's
// contents and every directory's entries durable.
func (m *MemFS) SyncFS(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.lookup(cleanPath(dir)); err != nil {
		return pathErr("syncfs", dir, err)
	}
	var walk func(n *memNode)
	walk = func(n *memNode) {
		if !n.dir {
			syncNode(n)
			return
		}
		n.syncedChildren = maps.Clone(n.children)
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(m.root)
	m.stats.FSSyncs++
	return m.takeFSErr(dir)
}

// FSID implements WholeSyncer: a MemFS is one file system.
func (m *MemFS) FSID(path string) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.lookup(cleanPath(path)); err != nil {
		return 0, pathErr("stat", path, err)
	}
	return 1, nil
}

// Lock implements FS. Locks do not survive CrashClone (the process died).
func (m *MemFS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := cleanPath(name)
	if m.locks[p] {
		return nil, pathErr("lock", name, vfs.ErrLocked)
	}
	if _, err := m.open(name, os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		return nil, err
	}
	m.locks[p] = true
	return &memLock{fs: m, path: p}, nil
}

type memLock struct {
	fs   *MemFS
	path string
	once sync.Once
}

func (l *memLock) Close() error {
	l.once.Do(func() {
		l.fs.mu.Lock()
		delete(l.fs.locks, l.path)
		l.fs.mu.Unlock()
	})
	return nil
}

func (n *memNode) info(name string) os.FileInfo {
	mode := n.mode
	if n.dir {
		mode |= os.ModeDir
	}
	return &memInfo{name: name, size: int64(len(n.data)), mode: mode, mod: n.modTime}
}

type memInfo struct {
	name string
	size int64
	mode os.FileMode
	mod  time.Time
}

func (i *memInfo) Name() string       { return i.name }
func (i *memInfo) Size() int64        { return i.size }
func (i *memInfo) Mode() os.FileMode  { return i.mode }
func (i *memInfo) ModTime() time.Time { return i.mod }
func (i *memInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *memInfo) Sys() any           { return nil }
