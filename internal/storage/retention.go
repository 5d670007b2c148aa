package storage

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// DeleteRecordsBefore advances the log start offset to offset (the caller
// checks it against the high watermark) and deletes the segments that hold
// only offsets below it. The new log start is made durable (through the
// Manager's checkpoint) before anything is deleted, so deleted records
// never come back after a crash. Offsets at or below the current log start
// are a no-op; beyond the log end is ErrOffsetOutOfRange.
func (l *Log) DeleteRecordsBefore(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.checkOpen(); err != nil {
		return err
	}
	if offset <= l.logStart.Load() {
		return nil
	}
	end := l.logEnd.Load()
	if offset > end {
		return fmt.Errorf("%w: %d beyond log end %d of %s", ErrOffsetOutOfRange, offset, end, l.tp)
	}
	if offset == end && l.active().size.Load() > 0 {
		// Everything goes: roll so the old active segment can be deleted.
		if err := l.roll(end); err != nil {
			l.logger.Warn("rolling for DeleteRecords failed; the active segment stays", "dir", l.dir, "err", err)
		}
	}
	l.logStart.Store(offset)
	if err := l.checkpoint(); err != nil {
		// Reads below offset already fail; the segments stay until a
		// later retention run.
		return fmt.Errorf("persisting log start offset: %w", err)
	}
	l.mu.Lock()
	removed := l.detachPrefix(l.segmentFor(offset))
	l.mu.Unlock()
	l.removeSegments(removed)
	if err := l.epochs.truncateFromStart(offset); err != nil {
		l.logger.Warn("updating leader epoch checkpoint failed", "dir", l.dir, "err", err)
	}
	if err := l.txns.truncate(offset, math.MaxInt64); err != nil {
		l.logger.Warn("trimming aborted transaction index failed", "dir", l.dir, "err", err)
	}
	return nil
}

func (l *Log) checkOpen() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	return nil
}

// detachPrefix removes the first k segments from the list and returns
// them. Callers hold mu (write).
func (l *Log) detachPrefix(k int) []*segment {
	removed := append([]*segment(nil), l.segments[:k]...)
	l.segments = append(l.segments[:0:0], l.segments[k:]...)
	return removed
}

// removeSegments deletes detached segments' files and makes that durable.
// Readers still holding a segment keep reading it until they release it.
func (l *Log) removeSegments(segs []*segment) {
	if len(segs) == 0 {
		return
	}
	for _, s := range segs {
		if err := l.discardFiles(s); err != nil {
			l.logger.Warn("removing segment files failed", "path", s.path, "err", err)
		}
		s.release()
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		// Not fatal: a segment that reappears after a crash lies below
		// the log start and is deleted again.
		l.dirDirty.Store(true)
		l.logger.Warn("syncing log directory failed", "dir", l.dir, "err", err)
	}
}

// EnforceRetention deletes the oldest segments that are past the time
// retention (their largest timestamp, or modification time if they have
// none, is older than RetentionMs) and then those beyond the size
// retention; both only if the cleanup policy includes delete. The active
// segment is never deleted, but if it has expired and everything before it
// is gone it is rolled first so it can be.
func (l *Log) EnforceRetention() (deletedSegments int, err error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.checkOpen(); err != nil {
		return 0, err
	}
	cfg := l.cfg.Load()
	nowMs := l.now().UnixMilli()
	interval := int64(cfg.IndexIntervalBytes)

	expired := func(s *segment) (bool, error) {
		ts, _, err := s.maxTimestamp(interval)
		if err != nil {
			return false, err
		}
		if ts < 0 {
			st, err := s.file.Stat()
			if err != nil {
				return false, err
			}
			ts = st.ModTime().UnixMilli()
		}
		return nowMs-ts > cfg.RetentionMs, nil
	}

	// Segments wholly below the log start (left by a DeleteRecordsBefore
	// that could not finish).
	k := 0
	for k < len(l.segments)-1 && l.segments[k+1].base <= l.logStart.Load() {
		k++
	}
	// Time: a prefix of expired segments. A compact-only log is never
	// trimmed by time or size.
	if cfg.RetentionMs >= 0 && cfg.deletes() {
		for k < len(l.segments) {
			s := l.segments[k]
			if k == len(l.segments)-1 && s.size.Load() == 0 {
				break
			}
			exp, err := expired(s)
			if err != nil {
				return 0, fmt.Errorf("retention of %s: %w", l.tp, err)
			}
			if !exp {
				break
			}
			if k == len(l.segments)-1 {
				if err := l.roll(l.logEnd.Load()); err != nil {
					return 0, fmt.Errorf("rolling expired segment of %s: %w", l.tp, err)
				}
			}
			k++
		}
	}
	// Size: then the oldest sealed segments while what remains stays at or
	// above the limit.
	if cfg.RetentionBytes >= 0 && cfg.deletes() {
		var total int64
		for _, s := range l.segments[k:] {
			total += s.size.Load()
		}
		excess := total - cfg.RetentionBytes
		for k < len(l.segments)-1 && excess-l.segments[k].size.Load() >= 0 {
			excess -= l.segments[k].size.Load()
			k++
		}
	}
	if k == 0 {
		return 0, nil
	}
	l.mu.Lock()
	removed := l.detachPrefix(k)
	if b := l.segments[0].base; b > l.logStart.Load() {
		l.logStart.Store(b)
	}
	start := l.logStart.Load()
	l.mu.Unlock()
	l.removeSegments(removed)
	if err := l.epochs.truncateFromStart(start); err != nil {
		l.logger.Warn("updating leader epoch checkpoint failed", "dir", l.dir, "err", err)
	}
	if err := l.txns.truncate(start, math.MaxInt64); err != nil {
		l.logger.Warn("trimming aborted transaction index failed", "dir", l.dir, "err", err)
	}
	return len(removed), nil
}

// TruncateTo removes every batch that holds an offset >= offset (the batch
// containing offset goes too, so the new log end may be below offset). It
// is for a follower that diverged from its leader. The truncation, the
// removal of later segments and the trimmed epoch cache are made durable
// before it returns. An offset below the log start empties the log and
// restarts it at offset.
func (l *Log) TruncateTo(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, offset)
	}
	truncated, err := l.truncateTo(offset)
	if err != nil || !truncated {
		return err
	}
	return l.checkpoint()
}

func (l *Log) truncateTo(offset int64) (bool, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if err := l.checkOpen(); err != nil {
		return false, err
	}
	if err := l.failedErr(); err != nil {
		return false, err
	}
	if offset >= l.logEnd.Load() {
		return false, nil
	}
	// Bump the counter before and after, so a reader overlapping any part
	// of the truncation sees it change and reads again.
	l.truncations.Add(1)
	defer l.truncations.Add(1)
	var err error
	if offset < l.logStart.Load() || offset < l.segments[0].base {
		err = l.truncateFully(offset)
	} else {
		err = l.truncateWithin(offset)
	}
	if err != nil {
		return false, err
	}
	if err := l.epochs.truncateFromEnd(l.logEnd.Load()); err != nil {
		return false, ioError("writing leader epoch checkpoint", err)
	}
	if err := l.txns.truncate(l.logStart.Load(), l.logEnd.Load()); err != nil {
		return false, err
	}
	if err := l.clampCleanMarks(l.logEnd.Load()); err != nil {
		return false, err
	}
	l.clampHighWatermark()
	return true, nil
}

// truncateWithin cuts the segment holding offset and drops later ones.
func (l *Log) truncateWithin(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := l.segmentFor(offset)
	seg := l.segments[i]
	// Walk the segment, indexing the batches that stay.
	keep := newSegIndex(seg.base)
	interval := l.interval()
	sc := newScanner(seg.file, 0, seg.size.Load(), recoveryChunk)
	var cut int64
	for {
		h, pos, err := sc.next(math.MaxInt64)
		if errors.Is(err, io.EOF) || err == nil && h.LastOffset() >= offset {
			cut = pos
			break
		}
		if err != nil {
			return segmentReadError(seg, pos, err)
		}
		keep.add(&h, pos, interval)
	}
	// Later segments go first: a crash in between must leave a prefix of
	// the old log, never this segment cut short with later ones after it.
	removed := append([]*segment(nil), l.segments[i+1:]...)
	l.segments = l.segments[:i+1]
	if err := l.removeSegmentsLocked(removed); err != nil {
		return err
	}
	if err := seg.file.Truncate(cut); err != nil {
		return l.fail(fmt.Errorf("truncating %s: %w", seg.path, err))
	}
	if err := seg.file.Sync(); err != nil {
		return l.fail(fmt.Errorf("%w: %s: %w", errSyncFailed, seg.path, err))
	}
	seg.mu.Lock()
	seg.idx = keep
	seg.mu.Unlock()
	seg.size.Store(cut)
	if seg.rollBaseMs == 0 {
		seg.rollBaseMs = l.now().UnixMilli() // a sealed segment became active
	}
	end := keep.next
	l.logEnd.Store(end)
	l.logStart.Store(min(l.logStart.Load(), end))
	l.flushed.Store(min(l.flushed.Load(), end))
	l.gapFloor.Store(min(l.gapFloor.Load(), end))
	return nil
}

// truncateFully empties the log and restarts it at offset.
func (l *Log) truncateFully(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	removed := l.segments
	for i := len(removed) - 1; i >= 0; i-- {
		if err := removed[i].removeFiles(); err != nil {
			return l.fail(fmt.Errorf("removing %s: %w", removed[i].path, err))
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail(fmt.Errorf("%w: directory %s: %w", errSyncFailed, l.dir, err))
	}
	seg, err := createSegment(l.fs, l.dir, offset)
	if err != nil {
		return l.fail(err)
	}
	l.segments = []*segment{seg}
	for _, s := range removed {
		s.release()
	}
	l.logStart.Store(offset)
	l.logEnd.Store(offset)
	l.flushed.Store(offset)
	l.gapFloor.Store(0)
	l.dirDirty.Store(true)
	return nil
}

// removeSegmentsLocked is removeSegments for truncation, whose callers
// hold mu. The removal must be durable, since the removed segments hold
// data past the new log end that must not come back; if it cannot be made
// so the log fails.
func (l *Log) removeSegmentsLocked(segs []*segment) error {
	if len(segs) == 0 {
		return nil
	}
	// Newest first, so a crash part way leaves a prefix of the log.
	var errs []error
	for i := len(segs) - 1; i >= 0; i-- {
		if err := segs[i].removeFiles(); err != nil {
			errs = append(errs, err)
		}
		segs[i].release()
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		errs = append(errs, fmt.Errorf("%w: directory %s: %w", errSyncFailed, l.dir, err))
	}
	if err := errors.Join(errs...); err != nil {
		return l.fail(err)
	}
	return nil
}
