package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spool-mq/spool/internal/vfs"
)

// openParams is what the Manager knows about a log directory it opens.
type openParams struct {
	dir           string
	tp            TopicPartition
	cfg           LogConfig
	clean         bool  // the data directory was shut down cleanly
	recoveryPoint int64 // from the checkpoint; 0 if unknown
	logStart      int64 // from the checkpoint; -1 if unknown
}

// openLog opens (and if needed recovers) the log in p.dir.
//
// Cost: one open and stat per segment; after a clean shutdown, the active
// segment's index files plus the batch headers after its last index entry;
// otherwise the headers of the segment holding the recovery point and every
// byte after the recovery point. Sealed segments below the recovery point
// are not read.
func openLog(fsys vfs.FS, logger *slog.Logger, now func() time.Time, p openParams) (l *Log, err error) {
	l = &Log{dir: p.dir, tp: p.tp, fs: fsys, now: now,
		logger: logger.With("topic", p.tp.Topic, "partition", p.tp.Partition), hwmAtOpen: -1}
	l.hwm.Store(-1)
	l.SetConfig(p.cfg)
	defer func() {
		if err != nil {
			for _, s := range l.segments {
				s.release()
			}
		}
	}()

	if l.topicID, err = readPartitionMetadata(fsys, p.dir); err != nil {
		l.logger.Warn("partition.metadata missing or unreadable; topic id unknown", "dir", p.dir, "err", err)
	}
	bases, err := l.listSegments()
	if err != nil {
		return nil, err
	}
	for _, base := range bases {
		f, err := fsys.OpenFile(segmentPath(p.dir, base, logSuffix), os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("opening segment: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("opening segment: %w", err)
		}
		l.segments = append(l.segments, newSegment(fsys, p.dir, base, f, st.Size()))
	}
	if len(l.segments) == 0 {
		seg, err := createSegment(fsys, p.dir, max(p.logStart, 0))
		if err != nil {
			return nil, err
		}
		l.segments = []*segment{seg}
		l.dirDirty.Store(true)
	}

	var scanned []epochEntry
	if p.clean {
		l.dropEmptySealed(len(l.segments) - 1)
	}
	if !p.clean || !l.loadActiveClean() {
		if scanned, err = l.recover(p.recoveryPoint); err != nil {
			return nil, err
		}
	}
	end := l.active().idx.next
	l.logEnd.Store(end)
	l.logStart.Store(min(max(p.logStart, l.segments[0].base), end))
	// Recovery fsynced what it scanned; the rest was below the recovery
	// point or flushed before a clean shutdown.
	l.flushed.Store(end)
	if act := l.active(); act.size.Load() > 0 {
		first := act.idx.firstTS
		nowMs := now().UnixMilli()
		if first < 0 || first > nowMs {
			first = nowMs
		}
		act.rollBaseMs = first
	}

	if l.epochs, err = loadEpochCache(fsys, p.dir); err != nil {
		l.logger.Warn("leader-epoch-checkpoint unreadable; rebuilding from the recovered tail only", "err", err)
	}
	if err := l.repairEpochs(scanned); err != nil {
		return nil, err
	}
	if l.txns, err = loadTxnIndex(fsys, p.dir, l.logStart.Load(), l.logEnd.Load()); err != nil {
		return nil, err
	}
	return l, nil
}

// listSegments returns the base offsets of the directory's segments, after
// finishing the cleaner's committed swaps (completeSwaps) and removing
// leftovers: temp files, files of interrupted deletes and cleanings, and
// index files without a segment.
func (l *Log) listSegments() ([]int64, error) {
	if err := l.completeSwaps(); err != nil {
		return nil, err
	}
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("listing log directory: %w", err)
	}
	logs := make(map[int64]bool)
	var indexes []string
	removed := false
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if strings.HasSuffix(name, tmpSuffix) || strings.HasSuffix(name, deletedSuffix) || strings.HasSuffix(name, ".cleaned") {
			if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("removing leftover file: %w", err)
			}
			removed = true
			continue
		}
		base, suffix, ok := parseSegmentName(name)
		if !ok {
			continue
		}
		switch suffix {
		case logSuffix:
			logs[base] = true
		case indexSuffix, timeIndexSuffix:
			indexes = append(indexes, name)
		}
	}
	for _, name := range indexes {
		if base, _, _ := parseSegmentName(name); !logs[base] {
			if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("removing orphan index: %w", err)
			}
			removed = true
		}
	}
	if removed {
		l.dirDirty.Store(true)
	}
	bases := make([]int64, 0, len(logs))
	for b := range logs {
		bases = append(bases, b)
	}
	slices.Sort(bases)
	return bases, nil
}

// dropEmptySealed removes empty segments among the first n. A roll never
// seals an empty segment, so one found where data is trusted is debris.
func (l *Log) dropEmptySealed(n int) {
	kept := l.segments[:0]
	for i, s := range l.segments {
		if i < n && s.size.Load() == 0 {
			l.logger.Warn("removing empty segment", "path", s.path)
			if err := s.removeFiles(); err != nil {
				l.logger.Warn("removing empty segment failed", "path", s.path, "err", err)
			}
			s.release()
			l.dirDirty.Store(true)
			continue
		}
		kept = append(kept, s)
	}
	l.segments = kept
}

// loadActiveClean loads the active segment's state after a clean shutdown:
// its index files (written by Close), then the batch headers after the last
// index entry. It reports false if anything does not fit, and the caller
// recovers the segment instead.
func (l *Log) loadActiveClean() bool {
	act := l.active()
	idx, err := act.loadIndexFiles()
	if err != nil {
		return false
	}
	size := act.size.Load()
	// The batch at the last index entry must be where the index says.
	expect, exact := act.base, false
	if n := idx.off.len(); n > 0 {
		rel, _ := idx.off.entry(n - 1)
		expect, exact = act.base+int64(rel), true
	}
	sc := newScanner(act.file, idx.lastIndexedPos, size, recoveryChunk)
	interval := l.interval()
	for {
		h, pos, err := sc.next(math.MaxInt64)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || h.BaseOffset < expect || exact && h.BaseOffset != expect || h.LastOffset()-act.base > math.MaxUint32 {
			return false
		}
		exact = false
		idx.add(&h, pos, interval)
		expect = h.NextOffset()
	}
	// The time a time-based roll counts from: the first batch's timestamp.
	idx.firstTS = -1
	if size > 0 {
		first, _, err := newScanner(act.file, 0, size, 0).next(math.MaxInt64)
		if err != nil {
			return false
		}
		idx.firstTS = first.MaxTimestamp
	}
	act.idx = idx
	return true
}

// recover validates the log from the segment holding the recovery point to
// the end, truncating at the first torn, corrupt or out-of-order batch and
// deleting any segments after it, then fsyncs what it scanned. It returns
// the epoch starts seen in the scanned batches.
func (l *Log) recover(recoveryPoint int64) ([]epochEntry, error) {
	// Sealed segments wholly below the recovery point are trusted.
	first := 0
	for first < len(l.segments)-1 && l.segments[first+1].base <= recoveryPoint {
		first++
	}
	n := len(l.segments)
	l.dropEmptySealed(first)
	first -= n - len(l.segments)
	interval := l.interval()
	var epochs []epochEntry
	expect := l.segments[first].base
	for i := first; i < len(l.segments); i++ {
		s := l.segments[i]
		size := s.size.Load()
		// Past the recovery point each segment must start where the
		// previous one ended: a torn write can end a segment exactly at a
		// batch boundary, and only the next segment's base shows that
		// batches are missing. Rolls start segments at the log end, except
		// after a huge offset gap, which moves the recovery point past the
		// gap first (prepareGapRoll).
		if i > first && s.base > recoveryPoint && s.base != expect {
			l.logger.Warn("segment does not continue the previous one; dropping it and everything after",
				"path", s.path, "base", s.base, "expected", expect)
			l.dropFrom(i)
			break
		}
		res, err := scanSegment(s.file, s.base, size, recoveryPoint, s.base, interval)
		if err != nil {
			return nil, ioError("recovering "+s.path, err)
		}
		s.idx = res.idx
		epochs = append(epochs, res.epochs...)
		if res.bad != nil {
			l.logger.Warn("truncating log at the first invalid batch",
				"path", s.path, "position", res.validEnd, "bytes_dropped", size-res.validEnd, "reason", res.bad)
			if err := s.file.Truncate(res.validEnd); err != nil {
				return nil, ioError("truncating "+s.path, err)
			}
			s.size.Store(res.validEnd)
			if i+1 < len(l.segments) {
				l.dropFrom(i + 1)
			}
		}
		if err := s.file.Sync(); err != nil {
			return nil, ioError("syncing "+s.path, err)
		}
		expect = res.idx.next
		if res.bad != nil {
			break
		}
	}
	// The scanned files' directory entries may never have been synced
	// (a roll just before the crash); the data now is, so sync them too.
	if err := l.fs.SyncDir(l.dir); err != nil {
		return nil, ioError("syncing "+l.dir, err)
	}
	l.dirDirty.Store(false)
	return epochs, nil
}

// dropFrom deletes segments i.. during recovery.
func (l *Log) dropFrom(i int) {
	for j := len(l.segments) - 1; j >= i; j-- {
		s := l.segments[j]
		l.logger.Warn("removing segment after the truncation point", "path", s.path, "bytes", s.size.Load())
		if err := s.removeFiles(); err != nil {
			l.logger.Warn("removing segment failed", "path", s.path, "err", err)
		}
		s.release()
	}
	l.segments = l.segments[:i]
	l.dirDirty.Store(true)
}

// repairEpochs makes the epoch cache agree with the recovered log: entries
// past the log end go, and epochs seen in the scanned tail that the
// checkpoint lacks are added.
func (l *Log) repairEpochs(scanned []epochEntry) error {
	if err := l.epochs.truncateFromEnd(l.logEnd.Load()); err != nil {
		return ioError("writing leader epoch checkpoint", err)
	}
	if _, err := l.epochs.assign(scanned); err != nil {
		return ioError("writing leader epoch checkpoint", err)
	}
	if err := l.epochs.truncateFromStart(l.logStart.Load()); err != nil {
		return ioError("writing leader epoch checkpoint", err)
	}
	return nil
}
