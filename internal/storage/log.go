package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/vfs"
)

// Log is one partition's log: an ordered list of segments, the last of
// which (the active segment) takes appends. It is safe for concurrent use:
// appends and administrative changes are serialized, reads run in
// parallel with them and with each other.
type Log struct {
	dir     string
	tp      TopicPartition
	topicID [16]byte
	fs      vfs.FS
	logger  *slog.Logger
	now     func() time.Time
	cfg     atomic.Pointer[LogConfig]
	epochs  *epochCache
	// txns is the aborted-transaction index (txnindex.go).
	txns *txnIndex

	// persistOffsets, set by the Manager, writes the directory's
	// checkpoints, making a moved log start (DeleteRecordsBefore) or a
	// lowered recovery point (TruncateTo) durable.
	persistOffsets func() error
	// deleteLater, set by the Manager, removes files (already renamed to
	// .deleted) at a later time; see discardFiles.
	deleteLater func(paths []string, at time.Time)

	appendMu sync.Mutex  // one appender or administrative change at a time
	batches  []batchInfo // scratch for Append, guarded by appendMu

	flushMu sync.Mutex // one fsync round at a time (group commit)
	// commit is the Manager's broker-wide group commit; nil for a log
	// opened on its own, which then syncs its files itself.
	commit *committer
	// fsid identifies the file system holding the log's directory, if
	// fsKnown, so the committer can cover it with one whole-file-system
	// sync together with its neighbours.
	fsid    uint64
	fsKnown bool

	// scanners recycles the read-ahead buffers of fetch lookups.
	scanners sync.Pool

	mu       sync.RWMutex
	segments []*segment // by base offset; the last is active; guarded by mu
	closed   bool       // guarded by mu

	logStart atomic.Int64
	logEnd   atomic.Int64
	flushed  atomic.Int64
	// gapFloor is a lower bound for the recovery point set by a roll over
	// an offset gap (see prepareGapRoll).
	gapFloor atomic.Int64
	// truncations counts TruncateTo calls, so a reader can tell that the
	// bytes it read may have been replaced.
	truncations atomic.Uint64
	// dirDirty says directory entries changed since the last flush.
	dirDirty atomic.Bool
	// hwm is the partition's high watermark as last reported
	// (SetHighWatermark), for the checkpoint; -1 if never. hwmAtOpen is
	// the checkpointed value the log was opened with (see hwm.go).
	hwm       atomic.Int64
	hwmAtOpen int64
	// failure is set once the log cannot take appends.
	failure atomic.Pointer[error]

	// cleaner is the Manager's log cleaner (key map, throttle, stop);
	// cleaning is this log's cleaner bookkeeping (see clean.go).
	cleaner  *cleaner
	cleaning cleanState
}

// AppendOptions control Append.
type AppendOptions struct {
	// AssignOffsets makes the log number the batches from its end offset
	// (a leader). Without it the batches keep their offsets, which must
	// not go below the log end offset (a follower copying its leader).
	AssignOffsets bool
	// LeaderEpoch, if >= 0 and AssignOffsets is set, is written into every
	// batch and recorded in the leader-epoch cache. Without AssignOffsets
	// the batches' own epochs are recorded instead.
	LeaderEpoch int32
}

// AppendResult is where an Append landed.
type AppendResult struct {
	BaseOffset   int64 // first offset of the first batch
	LastOffset   int64 // last offset of the last batch
	MaxTimestamp int64 // largest batch MaxTimestamp
}

// batchInfo is a parsed batch of an append, positioned relative to the
// start of the appended data.
type batchInfo struct {
	h   record.Header
	pos int64
}

// TopicPartition names the log.
func (l *Log) TopicPartition() TopicPartition { return l.tp }

// TopicID is the id of the topic the log was created for, from
// partition.metadata (zero if that file was missing or unreadable).
func (l *Log) TopicID() [16]byte { return l.topicID }

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// SetConfig changes the log's configuration; it applies from the next
// append or retention run.
func (l *Log) SetConfig(cfg LogConfig) {
	c := cfg.normalized()
	l.cfg.Store(&c)
}

// Config is the log's current configuration.
func (l *Log) Config() LogConfig { return *l.cfg.Load() }

// LogStartOffset is the first offset that may be read.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// LogEndOffset is the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 { return l.logEnd.Load() }

// FlushedOffset is the recovery point: every offset below it is durable.
func (l *Log) FlushedOffset() int64 { return l.flushed.Load() }

// recoveryPoint is what the checkpoint records: offsets below it are
// durable or do not exist. It may exceed FlushedOffset after a gap.
func (l *Log) recoveryPoint() int64 { return max(l.flushed.Load(), l.gapFloor.Load()) }

// LatestEpoch is the newest leader epoch in the epoch cache, -1 if none.
func (l *Log) LatestEpoch() int32 { return l.epochs.latest() }

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest epoch <=
// epoch that this log knows and the offset where it ended (the start of
// the next epoch, or the log end offset for the latest epoch). It returns
// (-1, -1) if epoch is newer than anything known or the cache is empty.
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	return l.epochs.endOffsetFor(epoch, l.logEnd.Load())
}

// Size is the total size of the log's segment files in bytes.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segments {
		n += s.size.Load()
	}
	return n
}

// NumSegments is the number of segments, the active one included.
func (l *Log) NumSegments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segments)
}

func (l *Log) interval() int64 { return int64(l.cfg.Load().IndexIntervalBytes) }

// active is the segment taking appends. Callers hold appendMu or mu.
func (l *Log) active() *segment { return l.segments[len(l.segments)-1] }

// checkpoint persists the log's start offset and recovery point.
func (l *Log) checkpoint() error {
	if l.persistOffsets == nil {
		return nil
	}
	return l.persistOffsets()
}

// fail marks the log failed; the first cause sticks.
func (l *Log) fail(err error) error {
	l.failure.CompareAndSwap(nil, &err)
	l.logger.Error("log failed; it refuses appends until reopened", "dir", l.dir, "err", err)
	return l.failedErr()
}

func (l *Log) failedErr() error {
	if p := l.failure.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrLogFailed, *p)
	}
	return nil
}

// segmentFor returns the index of the segment that would hold offset: the
// last one whose base is <= offset (0 if offset is below all). Callers
// hold mu.
func (l *Log) segmentFor(offset int64) int {
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > offset })
	return max(i-1, 0)
}

// Append writes already-validated batches (one or more, concatenated) at
// the end of the log with a single write, rolling to a new segment first
// if needed. With opts.AssignOffsets the batches' base offsets (and leader
// epochs, for opts.LeaderEpoch >= 0) are rewritten in data. If the write
// fails, the segment is truncated back so no partial batch remains, and the
// error wraps ErrDiskFull when the disk is full; if even that truncation
// fails the log fails (ErrLogFailed). CRCs are not rechecked here: callers
// validate.
func (l *Log) Append(data []byte, opts AppendOptions) (AppendResult, error) {
	res := AppendResult{BaseOffset: -1, LastOffset: -1, MaxTimestamp: -1}
	if len(data) == 0 {
		return res, fmt.Errorf("%w: no batches", ErrInvalidBatch)
	}
	if len(data) > maxSegmentBytes {
		return res, fmt.Errorf("%w: %d bytes in one append", ErrInvalidBatch, len(data))
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return res, ErrClosed
	}
	if err := l.failedErr(); err != nil {
		return res, err
	}

	batches, newEpochs, err := l.parseAppend(data, opts, &res)
	if err != nil {
		return res, err
	}
	seg, err := l.maybeRoll(len(data), res.BaseOffset, res.LastOffset)
	if err != nil {
		return res, err
	}
	undoEpochs, err := l.epochs.assign(newEpochs)
	if err != nil {
		return res, ioError("writing leader epoch checkpoint", err)
	}

	pos := seg.size.Load()
	n, err := seg.file.WriteAt(data, pos)
	if err == nil && n < len(data) {
		err = io.ErrShortWrite
	}
	if err != nil {
		undoEpochs()
		if terr := seg.file.Truncate(pos); terr != nil {
			return res, l.fail(fmt.Errorf("write to %s failed (%w) and truncating it back failed: %w", seg.path, err, terr))
		}
		return res, ioError("appending to "+seg.path, err)
	}

	if pos == 0 {
		seg.rollBaseMs = l.now().UnixMilli()
	}
	interval := l.interval()
	seg.mu.Lock()
	for i := range batches {
		seg.idx.add(&batches[i].h, pos+batches[i].pos, interval)
	}
	seg.mu.Unlock()
	// Size before log end: a reader that sees the new end sees the bytes.
	seg.size.Store(pos + int64(len(data)))
	l.logEnd.Store(res.LastOffset + 1)
	return res, nil
}

// parseAppend walks the batch headers of data, assigns or checks offsets,
// and collects the epochs to record.
func (l *Log) parseAppend(data []byte, opts AppendOptions, res *AppendResult) ([]batchInfo, []epochEntry, error) {
	batches := l.batches[:0]
	var newEpochs []epochEntry
	next := l.logEnd.Load()
	latest := l.epochs.latest()
	for off := 0; off < len(data); {
		h, err := record.ParseHeader(data[off:])
		if err != nil {
			return nil, nil, fmt.Errorf("%w: batch at byte %d: %w", ErrInvalidBatch, off, err)
		}
		size := h.Size()
		if size > len(data)-off || h.LastOffsetDelta < 0 {
			return nil, nil, fmt.Errorf("%w: batch at byte %d is truncated or has a negative offset delta", ErrInvalidBatch, off)
		}
		b := data[off : off+size]
		if opts.AssignOffsets {
			record.SetBaseOffset(b, next)
			h.BaseOffset = next
			if opts.LeaderEpoch >= 0 {
				record.SetPartitionLeaderEpoch(b, opts.LeaderEpoch)
				h.PartitionLeaderEpoch = opts.LeaderEpoch
			}
		} else if h.BaseOffset < next {
			return nil, nil, fmt.Errorf("%w: batch offset %d, log end %d", ErrInvalidOffset, h.BaseOffset, next)
		}
		if e := h.PartitionLeaderEpoch; e >= 0 && e > latest {
			newEpochs = append(newEpochs, epochEntry{epoch: e, start: h.BaseOffset})
			latest = e
		}
		if res.BaseOffset < 0 {
			res.BaseOffset = h.BaseOffset
		}
		res.LastOffset = h.LastOffset()
		res.MaxTimestamp = max(res.MaxTimestamp, h.MaxTimestamp)
		batches = append(batches, batchInfo{h: h, pos: int64(off)})
		next = h.NextOffset()
		off += size
	}
	l.batches = batches
	return batches, newEpochs, nil
}

// maybeRoll returns the segment an append of n bytes with offsets
// first..last goes to, rolling if the active one or its index is full, too
// old, or cannot address the offsets. Callers hold appendMu.
func (l *Log) maybeRoll(n int, first, last int64) (*segment, error) {
	seg := l.active()
	size := seg.size.Load()
	cfg := l.cfg.Load()
	roll := last-seg.base > math.MaxUint32
	segmentMs := cfg.SegmentMs
	if cfg.CleanupCompact {
		// The cleaner never touches the active segment, so it must roll
		// for max.compaction.lag.ms to hold (KIP-354).
		segmentMs = min(segmentMs, cfg.MaxCompactionLagMs)
	}
	if size > 0 {
		seg.mu.RLock()
		indexFull := seg.idx.full(cfg.SegmentIndexBytes)
		seg.mu.RUnlock()
		roll = roll || size+int64(n) > cfg.SegmentBytes || indexFull ||
			l.now().UnixMilli()-seg.rollBaseMs >= segmentMs
	}
	if !roll {
		return seg, nil
	}
	// The new segment starts at the log end, so segments chain exactly and
	// recovery can tell a torn segment tail from a gap. Only offsets that
	// jump too far for the index format get a segment of their own.
	base := l.logEnd.Load()
	if last-base > math.MaxUint32 {
		if last-first > math.MaxUint32 {
			return nil, fmt.Errorf("%w: offsets %d..%d do not fit one segment", ErrInvalidBatch, first, last)
		}
		if err := l.prepareGapRoll(first); err != nil {
			return nil, err
		}
		base = first
	}
	if err := l.roll(base); err != nil {
		return nil, err
	}
	return l.active(), nil
}

// prepareGapRoll makes a segment that starts after a gap safe for
// recovery: everything before the gap is flushed and the checkpointed
// recovery point moves to the new base (offsets in the gap do not exist),
// so recovery never checks that segment against the end of the previous
// one. Callers hold appendMu.
func (l *Log) prepareGapRoll(base int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if err := l.flushLocked(); err != nil {
		return err
	}
	l.gapFloor.Store(base)
	return l.checkpoint()
}

// roll seals the active segment and starts a new one at base. An empty
// active segment is replaced instead. Callers hold appendMu.
func (l *Log) roll(base int64) error {
	old := l.active()
	if old.size.Load() == 0 {
		if old.base == base {
			return nil
		}
		seg, err := createSegment(l.fs, l.dir, base)
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.segments[len(l.segments)-1] = seg
		l.mu.Unlock()
		l.dirDirty.Store(true)
		if err := old.removeFiles(); err != nil {
			l.logger.Warn("removing empty segment failed", "path", old.path, "err", err)
		}
		old.release()
		return nil
	}
	// Seal: the index files must be durable before the new segment exists,
	// so a crash never leaves a sealed segment with stale index files.
	old.mu.Lock()
	old.idx.seal()
	err := old.writeIndexFiles()
	old.mu.Unlock()
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err != nil {
		return ioError("sealing segment "+old.path, err)
	}
	seg, err := createSegment(l.fs, l.dir, base)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.segments = append(l.segments, seg)
	l.mu.Unlock()
	l.dirDirty.Store(true)
	return nil
}

// Flush makes everything up to at least upTo durable. Concurrent callers
// share fsyncs: while one round runs the others wait, and the next round
// covers every append made before it started. A log opened by a Manager
// joins the Manager's broker-wide rounds (see committer), which cover many
// logs with one flush. An fsync failure fails the log: after one, the
// kernel may have dropped the dirty pages, so no later fsync could prove
// the data durable.
func (l *Log) Flush(upTo int64) error {
	if l.flushed.Load() >= upTo {
		return nil
	}
	if l.commit != nil {
		return l.commit.flush(l)
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if l.flushed.Load() >= upTo {
		return nil
	}
	return l.flushLocked()
}

// flushLocked fsyncs everything appended so far. Callers hold flushMu.
func (l *Log) flushLocked() error {
	pl, err := l.planFlush()
	if err != nil || pl.empty() {
		pl.release()
		return err
	}
	defer pl.release()
	if err := l.syncFiles(pl); err != nil {
		return err
	}
	l.finishFlush(pl)
	return nil
}

// flushPlan is what one flush round must make durable for one log: the
// segments holding data from the flushed offset to target (referenced so
// a concurrent retention pass cannot close them) and whether directory
// entries changed.
type flushPlan struct {
	target, from int64
	segs         []*segment
	dirDirty     bool
}

func (pl flushPlan) empty() bool { return pl.target <= pl.from && !pl.dirDirty }

func (pl flushPlan) release() {
	for _, s := range pl.segs {
		s.release()
	}
}

// planFlush captures the log's unflushed state. Everything appended before
// it returns is covered by a sync that starts after it. Callers hold
// flushMu and release the plan.
func (l *Log) planFlush() (flushPlan, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return flushPlan{}, ErrClosed
	}
	pl := flushPlan{target: l.logEnd.Load(), from: l.flushed.Load(), dirDirty: l.dirDirty.Load()}
	if pl.empty() {
		return pl, nil
	}
	if p := l.failure.Load(); p != nil && errors.Is(*p, errSyncFailed) {
		return flushPlan{}, l.failedErr()
	}
	pl.segs = append([]*segment(nil), l.segments[l.segmentFor(pl.from):]...)
	for _, s := range pl.segs {
		s.acquire()
	}
	pl.dirDirty = l.dirDirty.Swap(false)
	return pl, nil
}

// syncFiles fsyncs the plan's segments and, if needed, the directory.
func (l *Log) syncFiles(pl flushPlan) error {
	for _, s := range pl.segs {
		if err := s.file.Sync(); err != nil {
			l.dirDirty.Store(l.dirDirty.Load() || pl.dirDirty)
			return l.fail(fmt.Errorf("%w: %s: %w", errSyncFailed, s.path, err))
		}
	}
	if pl.dirDirty {
		if err := l.fs.SyncDir(l.dir); err != nil {
			l.dirDirty.Store(true)
			return l.fail(fmt.Errorf("%w: directory %s: %w", errSyncFailed, l.dir, err))
		}
	}
	return nil
}

// finishFlush records that the plan's data is durable.
func (l *Log) finishFlush(pl flushPlan) {
	if pl.target > pl.from {
		l.flushed.Store(pl.target)
	}
}

var errSyncFailed = errors.New("fsync failed")

// Close flushes the log, writes the active segment's indexes so a clean
// restart need not rebuild them, and closes its files once readers are
// done with them. Reads and appends after Close fail with ErrClosed.
func (l *Log) Close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return nil
	}
	var errs []error
	if err := l.failedErr(); err != nil {
		// Do not write indexes that a clean restart would trust.
		errs = append(errs, err)
	} else if err := l.flushLocked(); err != nil {
		errs = append(errs, err)
	} else {
		act := l.active()
		act.mu.Lock()
		act.idx.seal()
		err := act.writeIndexFiles()
		act.mu.Unlock()
		if err == nil {
			err = l.fs.SyncDir(l.dir)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("writing index of %s: %w", act.path, err))
		}
	}
	l.shut()
	return errors.Join(errs...)
}

// shut marks the log closed and drops its references to the segments.
func (l *Log) shut() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	segs := l.segments
	l.mu.Unlock()
	for _, s := range segs {
		s.release()
	}
	if l.txns != nil {
		l.txns.close()
	}
}

// closeForDelete closes without flushing: the data is about to be removed.
func (l *Log) closeForDelete() {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.shut()
}
