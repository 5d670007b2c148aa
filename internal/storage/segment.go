package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/spool-mq/spool/internal/vfs"
)

// File name suffixes in a log directory.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	tmpSuffix       = ".tmp"
)

// segment is one .log file and its indexes.
type segment struct {
	base int64
	path string // of the .log file
	fs   vfs.FS
	file vfs.File

	// size is the number of valid bytes, published after each append.
	size atomic.Int64
	// refs counts the log's own reference plus readers; the file closes
	// when it drops to zero.
	refs atomic.Int32

	// rollBaseMs is when the segment got its first batch (wall clock ms),
	// for time-based rolls. Only the appender touches it.
	rollBaseMs int64

	mu sync.RWMutex
	// idx is nil until loaded: sealed segments load lazily.
	idx *segIndex
	// maxTS/maxTSOffset cache the largest timestamp of a sealed segment
	// whose full index is not loaded; tsKnown says they are set.
	tsKnown     bool
	maxTS       int64
	maxTSOffset int64
}

// segmentPath names a segment file: the base offset as 20 digits.
func segmentPath(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// parseSegmentName splits "<20 digits><suffix>".
func parseSegmentName(name string) (base int64, suffix string, ok bool) {
	if len(name) < 21 {
		return 0, "", false
	}
	digits, suffix := name[:20], name[20:]
	if strings.TrimLeft(digits, "0123456789") != "" {
		return 0, "", false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return base, suffix, true
}

func newSegment(fsys vfs.FS, dir string, base int64, f vfs.File, size int64) *segment {
	s := &segment{base: base, path: segmentPath(dir, base, logSuffix), fs: fsys, file: f}
	s.size.Store(size)
	s.refs.Store(1)
	return s
}

// createSegment makes a new, empty segment file. A leftover file of the same
// name (from a failed roll) is truncated.
func createSegment(fsys vfs.FS, dir string, base int64) (*segment, error) {
	p := segmentPath(dir, base, logSuffix)
	f, err := fsys.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, ioError("creating segment", err)
	}
	s := newSegment(fsys, dir, base, f, 0)
	s.idx = newSegIndex(base)
	return s, nil
}

// acquire takes a reference for a reader. Callers hold Log.mu (read or
// write) and the segment is in the log's list, so refs is above zero.
func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference and closes the file after the last one.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.file.Close()
	}
}

// removeFiles deletes the segment's files. Open handles keep working.
func (s *segment) removeFiles() error {
	var errs []error
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := s.fs.Remove(segmentPath(filepath.Dir(s.path), s.base, suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// index returns the segment's index, loading it from its files or
// rebuilding it from the batch headers on first use.
func (s *segment) index(interval int64) (*segIndex, error) {
	s.mu.RLock()
	idx := s.idx
	s.mu.RUnlock()
	if idx != nil {
		return idx, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idx != nil {
		return s.idx, nil
	}
	idx, err := s.loadIndexFiles()
	if err != nil {
		res, serr := scanSegment(s.file, s.base, s.size.Load(), math.MaxInt64, s.base, interval)
		if serr != nil {
			return nil, ioError("rebuilding index of "+s.path, serr)
		}
		if res.bad != nil {
			return nil, fmt.Errorf("%w: %s at position %d: %w", ErrCorruptSegment, s.path, res.validEnd, res.bad)
		}
		res.idx.seal()
		idx = res.idx
	}
	s.idx = idx
	return idx, nil
}

// loadIndexFiles reads and checks both index files. Any problem (missing,
// torn, entries out of range) is an error and the caller rebuilds.
func (s *segment) loadIndexFiles() (*segIndex, error) {
	dir := filepath.Dir(s.path)
	off, err := readWholeFile(s.fs, segmentPath(dir, s.base, indexSuffix))
	if err != nil {
		return nil, err
	}
	if err := offsetIndex(off).check(s.size.Load()); err != nil {
		return nil, err
	}
	tim, err := readWholeFile(s.fs, segmentPath(dir, s.base, timeIndexSuffix))
	if err != nil {
		return nil, err
	}
	if err := timeIndex(tim).check(); err != nil {
		return nil, err
	}
	return indexFromFiles(s.base, off, tim), nil
}

// maxTimestamp returns the segment's largest batch timestamp and that
// batch's offset (-1, -1 if none). For a sealed segment that has not been
// read yet it reads only the last time-index entry.
func (s *segment) maxTimestamp(interval int64) (int64, int64, error) {
	s.mu.RLock()
	if s.idx != nil {
		ts, off := s.idx.maxTS, s.idx.maxTSOffset
		s.mu.RUnlock()
		return ts, off, nil
	}
	if s.tsKnown {
		ts, off := s.maxTS, s.maxTSOffset
		s.mu.RUnlock()
		return ts, off, nil
	}
	s.mu.RUnlock()
	if ts, off, ok := s.readLastTimeEntry(); ok {
		s.mu.Lock()
		s.tsKnown, s.maxTS, s.maxTSOffset = true, ts, off
		s.mu.Unlock()
		return ts, off, nil
	}
	idx, err := s.index(interval)
	if err != nil {
		return -1, -1, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return idx.maxTS, idx.maxTSOffset, nil
}

func (s *segment) readLastTimeEntry() (int64, int64, bool) {
	f, err := s.fs.OpenFile(segmentPath(filepath.Dir(s.path), s.base, timeIndexSuffix), os.O_RDONLY, 0)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size()%timeEntrySize != 0 {
		return 0, 0, false
	}
	if st.Size() == 0 {
		return -1, -1, true
	}
	var e [timeEntrySize]byte
	if _, err := f.ReadAt(e[:], st.Size()-timeEntrySize); err != nil {
		return 0, 0, false
	}
	ts, rel := timeIndex(e[:]).entry(0)
	return ts, s.base + int64(rel), true
}

// writeIndexFiles durably replaces the segment's index files with the
// in-memory index (temp file, fsync, rename). The caller syncs the
// directory. Callers hold s.mu or own the segment exclusively.
func (s *segment) writeIndexFiles() error {
	dir := filepath.Dir(s.path)
	if err := writeFileAtomic(s.fs, segmentPath(dir, s.base, indexSuffix), s.idx.off, false); err != nil {
		return err
	}
	return writeFileAtomic(s.fs, segmentPath(dir, s.base, timeIndexSuffix), s.idx.tim, false)
}

// readWholeFile reads a small file.
func readWholeFile(fsys vfs.FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// writeFileAtomic replaces name with data: write a temp file, fsync it,
// rename it over name, and (if syncDir) fsync the directory. A crash leaves
// either the old or the new file, never a mix.
func writeFileAtomic(fsys vfs.FS, name string, data []byte, syncDir bool) (err error) {
	tmp := name + tmpSuffix
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return ioError("writing "+name, err)
	}
	defer func() {
		if err != nil {
			fsys.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return ioError("writing "+name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return ioError("syncing "+name, err)
	}
	if err := f.Close(); err != nil {
		return ioError("writing "+name, err)
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return ioError("renaming "+name, err)
	}
	if syncDir {
		if err := fsys.SyncDir(filepath.Dir(name)); err != nil {
			return ioError("syncing directory of "+name, err)
		}
	}
	return nil
}
