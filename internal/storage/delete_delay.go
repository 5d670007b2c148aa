package storage

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Delayed file deletion (file.delete.delay.ms). Kafka removes the files of
// segments dropped by retention or compaction in two steps: rename to
// <file>.deleted at once, remove after the delay, so anything still using
// them by name finishes first. The broker's own readers hold the segment's
// open file (segment refs) and would survive an immediate unlink; the delay
// is for the rest, and for parity with what DescribeConfigs reports. A
// crash leaves .deleted files behind; recovery removes them (listSegments).

// deletedSuffix marks a file awaiting its delayed removal.
const deletedSuffix = ".deleted"

// discardFiles removes a segment dropped by retention or compaction: at
// once with no delay configured (or a log outside a Manager), otherwise by
// renaming its files to .deleted and handing them to the Manager. The
// caller syncs the directory.
func (l *Log) discardFiles(s *segment) error {
	delay := l.cfg.Load().FileDeleteDelayMs
	if delay <= 0 || l.deleteLater == nil {
		return s.removeFiles()
	}
	dir := filepath.Dir(s.path)
	var (
		paths []string
		errs  []error
	)
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		p := segmentPath(dir, s.base, suffix)
		err := l.fs.Rename(p, p+deletedSuffix)
		switch {
		case err == nil:
			paths = append(paths, p+deletedSuffix)
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
	}
	if len(paths) > 0 {
		l.deleteLater(paths, l.now().Add(time.Duration(delay)*time.Millisecond))
	}
	return errors.Join(errs...)
}

// pendingDelete is a set of .deleted files and when they may go.
type pendingDelete struct {
	paths []string
	at    time.Time
}

// deleteQueue is the Manager's list of files awaiting delayed removal.
type deleteQueue struct {
	mu      sync.Mutex
	pending []pendingDelete
}

func (q *deleteQueue) add(paths []string, at time.Time) {
	q.mu.Lock()
	q.pending = append(q.pending, pendingDelete{paths: slices.Clone(paths), at: at})
	q.mu.Unlock()
}

// due takes the entries whose time has come (all of them if now is zero).
func (q *deleteQueue) due(now time.Time) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	kept := q.pending[:0]
	for _, p := range q.pending {
		if now.IsZero() || !p.at.After(now) {
			out = append(out, p.paths...)
		} else {
			kept = append(kept, p)
		}
	}
	clear(q.pending[len(kept):])
	q.pending = kept
	return out
}

// RemoveDeletedFiles removes the .deleted files whose file.delete.delay.ms
// has passed. The broker calls it periodically.
func (m *Manager) RemoveDeletedFiles() error {
	return m.removeDeleted(m.now())
}

// removeDeleted removes the files due at now (every one if now is zero).
// A file already gone (its log was deleted meanwhile) is no error.
func (m *Manager) removeDeleted(now time.Time) error {
	var errs []error
	for _, p := range m.deletes.due(now) {
		if err := m.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, ioError("removing "+p, err))
		}
	}
	return errors.Join(errs...)
}
