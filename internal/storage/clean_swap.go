package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
)

// Swapping a cleaned segment in is crash-safe in this order:
//
//  1. "<base>.<end>.log.cleaned" is written and fsynced (clean_write.go).
//     A crash leaves a .cleaned file, which recovery deletes: the log is
//     as before the pass.
//  2. It is renamed to "<base>.<end>.log.swap" and the directory is
//     fsynced. This commits the swap: from here recovery finishes it.
//  3. The group's old segment files (all with base offsets in
//     [base, end)) are deleted and the directory fsynced.
//  4. The .swap file is renamed to "<base>.log" (or deleted, if nothing
//     survived cleaning), its index files are written, and the directory
//     is fsynced.
//
// Recovery (completeSwaps, before segments are listed) repeats 3 and 4 for
// every .swap file it finds, so a crash anywhere leaves either the old
// segments or the cleaned one, never a mix. A .swap file is only created
// after every offset it covers is below the checkpointed recovery point
// (Log.clean flushes and checkpoints first), so recovery trusts the
// cleaned segment like any other old one, gaps included.
//
// In memory the segment list is switched right after step 2, under the
// list lock only; readers holding the old segments keep their open files.
// The old segments' indexes are loaded before step 2, so a reader never
// loads the new segment's index files for the old data.

// swapIn replaces group g with its cleaned output. It reports false, and
// discards the output, if the log changed under the group meanwhile
// (retention, truncation, close). An error after the commit point fails
// the log: the swap is then finished by recovery when it is reopened.
func (l *Log) swapIn(g cleanGroup, out *cleanedSegment) (bool, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	discard := func(err error) (bool, error) {
		out.discard(l.fs)
		return false, err
	}
	if err := l.failedErr(); err != nil {
		return discard(err)
	}
	l.mu.RLock()
	closed := l.closed
	i := slices.Index(l.segments, g.segs[0])
	intact := !closed && i >= 0 && i+len(g.segs) < len(l.segments) && l.segments[i+len(g.segs)] == g.next
	for j := 0; intact && j < len(g.segs); j++ {
		intact = l.segments[i+j] == g.segs[j] && g.segs[j].size.Load() == g.sizes[j]
	}
	l.mu.RUnlock()
	if closed {
		return discard(ErrClosed)
	}
	if !intact {
		l.logger.Info("log changed while it was being cleaned; skipping a segment group", "base", g.base, "end", g.end)
		return discard(nil)
	}
	interval := l.interval()
	for _, s := range g.segs {
		if _, err := s.index(interval); err != nil {
			return discard(err)
		}
	}
	swap := swapPath(l.dir, g.base, g.end)
	if err := l.fs.Rename(out.path, swap); err != nil {
		return discard(ioError("committing cleaned segment", err))
	}

	// Committed. Switch the list, then finish on disk.
	var seg *segment
	if out.size > 0 {
		seg = newSegment(l.fs, l.dir, g.base, out.file, out.size)
		seg.idx = out.idx
	} else {
		out.file.Close()
	}
	l.mu.Lock()
	segs := make([]*segment, 0, len(l.segments)-len(g.segs)+1)
	segs = append(segs, l.segments[:i]...)
	if seg != nil {
		segs = append(segs, seg)
	}
	segs = append(segs, l.segments[i+len(g.segs):]...)
	l.segments = segs
	l.mu.Unlock()

	err := l.finishSwap(g, swap, seg)
	for _, s := range g.segs {
		s.release()
	}
	if err != nil {
		return true, l.fail(fmt.Errorf("finishing the swap of cleaned segment %s: %w", swap, err))
	}
	return true, nil
}

// finishSwap does steps 2 (the directory sync) to 4 for a swap committed
// in this run.
func (l *Log) finishSwap(g cleanGroup, swap string, seg *segment) error {
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	for _, s := range g.segs {
		if err := l.discardFiles(s); err != nil {
			return err
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	if seg == nil {
		if err := l.fs.Remove(swap); err != nil {
			return err
		}
		return l.fs.SyncDir(l.dir)
	}
	if err := l.fs.Rename(swap, seg.path); err != nil {
		return err
	}
	seg.mu.Lock()
	err := seg.writeIndexFiles()
	seg.mu.Unlock()
	if err != nil {
		// The segment is complete; its indexes are rebuilt when needed.
		l.logger.Warn("writing index of cleaned segment failed", "path", seg.path, "err", err)
	}
	return l.fs.SyncDir(l.dir)
}

// completeSwaps finishes swaps that were committed before a crash (see
// above): for each "<base>.<end>.log.swap" it deletes the segment files
// with base offsets in [base, end) and renames the swap file to
// "<base>.log" (or deletes it if it is empty).
func (l *Log) completeSwaps() error {
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("listing log directory: %w", err)
	}
	type swapFile struct {
		name      string
		base, end int64
	}
	var swaps []swapFile
	var segFiles []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if base, end, ok := parseSwapName(name); ok {
			swaps = append(swaps, swapFile{name, base, end})
			continue
		}
		if _, suffix, ok := parseSegmentName(name); ok && (suffix == logSuffix || suffix == indexSuffix || suffix == timeIndexSuffix) {
			segFiles = append(segFiles, name)
		}
	}
	for _, sw := range swaps {
		for _, name := range segFiles {
			if base, _, _ := parseSegmentName(name); base >= sw.base && base < sw.end {
				if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return ioError("removing segment replaced by cleaning", err)
				}
			}
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return ioError("syncing "+l.dir, err)
		}
		path := filepath.Join(l.dir, sw.name)
		st, err := l.fs.Stat(path)
		if err != nil {
			return ioError("finishing swap", err)
		}
		if st.Size() == 0 {
			err = l.fs.Remove(path)
		} else {
			err = l.fs.Rename(path, segmentPath(l.dir, sw.base, logSuffix))
		}
		if err != nil {
			return ioError("finishing swap", err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return ioError("syncing "+l.dir, err)
		}
		l.logger.Info("finished an interrupted swap of a cleaned segment", "dir", l.dir, "base", sw.base, "end", sw.end)
	}
	return nil
}
