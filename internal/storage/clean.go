package storage

// Log compaction (cleanup.policy=compact), after Kafka's log cleaner.
//
// A pass over one log:
//
//  1. Plan. The cleanable part of the log is its sealed segments from the
//     one holding the log start up to the first uncleanable offset: the
//     active segment's base, or the base of the first segment whose
//     largest timestamp is younger than min.compaction.lag.ms. The log's
//     cleaner checkpoint says where the uncleaned ("dirty") part starts.
//     The pass runs if dirty bytes / cleanable bytes reaches
//     min.cleanable.dirty.ratio, or if the oldest dirty batch is older
//     than max.compaction.lag.ms.
//  2. Map (clean_map.go). Walk the dirty part and map each key's hash to
//     its latest offset. The map is bounded; if it fills, the pass covers
//     only the dirty prefix mapped so far and the next pass continues.
//  3. Rewrite (clean_write.go). Group adjacent segments, from the log
//     start to the end of the mapped range, into groups of at most
//     segment.bytes, and write each group as one new segment holding the
//     records that survive: the latest record of each key (records past
//     the mapped range always survive), minus tombstones older than the
//     delete horizon and records with null keys. Offsets never change.
//  4. Swap (clean_swap.go). Replace the group's segments with the new one,
//     crash-safely, while appends are held off for a moment; readers keep
//     the old files open until they finish.
//  5. Checkpoint (clean_state.go). Record that the log is clean up to the
//     end of the mapped range, and when.
//
// Transactional and control batches are kept byte for byte and their
// records are not mapped: without the transaction state the cleaner
// cannot tell an aborted write from a committed one, and mapping an
// aborted record would delete the committed value it seemed to replace.
// Kafka keeps an emptied batch when it is a producer's last (to keep
// producer state); Spool's producer state does not come from the log, so
// emptied batches are always dropped.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/spool-mq/spool/internal/record"
)

// CleanResult describes one cleaning pass over a log.
type CleanResult struct {
	// Ran says the log was eligible and a pass ran. The other fields are
	// zero if it did not.
	Ran bool
	// FirstDirty and EndOffset bound the range the pass mapped; the log
	// is clean below EndOffset afterwards.
	FirstDirty, EndOffset int64
	// DirtyRatio is the ratio that was found when planning.
	DirtyRatio float64
	// SegmentsReplaced counts the old segments swapped out, and
	// SegmentsWritten the new ones swapped in.
	SegmentsReplaced, SegmentsWritten int
	// RecordsRemoved counts records dropped from swapped-in segments.
	RecordsRemoved int64
	// BytesRead and BytesWritten count the pass's segment I/O.
	BytesRead, BytesWritten int64
}

// cleaner is what the logs of one Manager share for cleaning: the key
// map, buffers and the I/O throttle. One pass runs at a time, as with
// Kafka's single cleaner thread, so memory stays bounded by one map.
type cleaner struct {
	logger *slog.Logger
	runMu  sync.Mutex // held for a whole pass over one log
	keys   *offsetMap
	dec    *record.Decoder
	rw     *record.Rewriter
	io     *throttle

	stopOnce sync.Once
	stop     chan struct{} // closed by shutdown
}

func newCleaner(opts Options) *cleaner {
	dec := opts.Decoder
	if dec == nil {
		dec = record.NewDecoder()
	}
	return &cleaner{
		logger: opts.Logger,
		keys:   newOffsetMap(opts.CleanerMaxMapEntries),
		dec:    dec,
		rw:     record.NewRewriterWith(dec),
		io:     newThrottle(opts.CleanerIOBytesPerSecond),
		stop:   make(chan struct{}),
	}
}

// shutdown stops a running pass at its next check and waits for it; later
// passes fail with ErrClosed.
func (c *cleaner) shutdown() {
	c.stopOnce.Do(func() { close(c.stop) })
	// Taking the lock waits for the running pass to notice the stop.
	c.runMu.Lock()
	defer c.runMu.Unlock()
}

// check returns an error once the pass must stop.
func (c *cleaner) check(ctx context.Context) error {
	select {
	case <-c.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}

// Clean runs one cleaning pass over every log whose policy includes
// compact, skipping those not due (see Log.Clean). It stops early, with
// ctx's error, when ctx ends, and with ErrClosed when the Manager closes.
func (m *Manager) Clean(ctx context.Context) error {
	var errs []error
	for _, l := range m.Logs() {
		if !l.Config().CleanupCompact {
			continue
		}
		res, err := l.clean(ctx, m.now())
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) && m.isClosed() {
				return err
			}
			if !errors.Is(err, ErrClosed) { // a log deleted meanwhile
				errs = append(errs, fmt.Errorf("cleaning %s: %w", l.tp, err))
			}
			continue
		}
		if res.Ran {
			m.logger.Info("cleaned log", "topic", l.tp.Topic, "partition", l.tp.Partition,
				"dirty_ratio", res.DirtyRatio, "clean_up_to", res.EndOffset,
				"segments_replaced", res.SegmentsReplaced, "segments_written", res.SegmentsWritten,
				"records_removed", res.RecordsRemoved, "bytes_read", res.BytesRead, "bytes_written", res.BytesWritten)
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) isClosed() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.closed
}

// Clean runs one cleaning pass over the log as of now if its policy
// includes compact and it is due: its dirty ratio reaches
// MinCleanableDirtyRatio or its oldest uncleaned batch is older than
// MaxCompactionLagMs. Appends, reads and flushes go on meanwhile; appends
// wait only while a cleaned segment is swapped in. Passes are serialized
// per Manager.
func (l *Log) Clean(now time.Time) (CleanResult, error) {
	return l.clean(context.Background(), now)
}

func (l *Log) clean(ctx context.Context, now time.Time) (CleanResult, error) {
	var res CleanResult
	c := l.cleaner
	if c == nil {
		return res, fmt.Errorf("%w: log has no cleaner", ErrClosed)
	}
	c.runMu.Lock()
	defer c.runMu.Unlock()
	if err := c.check(ctx); err != nil {
		return res, err
	}
	cfg := l.Config()
	if !cfg.CleanupCompact {
		return res, nil
	}
	p, err := l.planClean(now.UnixMilli(), &cfg)
	if err != nil || p == nil {
		return res, err
	}
	defer releaseAll(p.segs)
	res.Ran, res.FirstDirty, res.DirtyRatio = true, p.firstDirty, p.ratio

	// Every offset the pass may rewrite must be durable and below the
	// checkpointed recovery point before any swap: recovery checks that
	// segments after the recovery point continue one another, and a
	// cleaned segment may end before the next one begins.
	if err := l.Flush(p.uncleanable); err != nil {
		return res, err
	}
	if err := l.checkpoint(); err != nil {
		return res, err
	}

	end, err := l.mapDirty(ctx, c, p, &res)
	if err != nil {
		return res, err
	}
	res.EndOffset = end
	complete := true
	maxBytes := min(cfg.SegmentBytes, maxIndexedBytes(cfg.SegmentIndexBytes, int64(cfg.IndexIntervalBytes)))
	for _, g := range groupSegments(p, end, maxBytes) {
		out, err := l.cleanGroup(ctx, c, p, g, end, &res)
		if err != nil {
			return res, err
		}
		if out == nil {
			continue // nothing to remove
		}
		swapped, err := l.swapIn(g, out)
		if err != nil {
			return res, err
		}
		if !swapped {
			complete = false
			continue
		}
		res.SegmentsReplaced += len(g.segs)
		if out.size > 0 {
			res.SegmentsWritten++
		}
		res.RecordsRemoved += out.removed
	}
	if err := l.checkOpen(); err != nil {
		return res, err
	}
	if complete {
		// Only a pass that rewrote every group may move the checkpoint:
		// a skipped group still holds records the map superseded.
		if err := l.markCleaned(end, now.UnixMilli(), cfg.DeleteRetentionMs); err != nil {
			return res, err
		}
	}
	return res, nil
}

// cleanPlan is what a pass works on. segs holds references (released at
// the end of the pass) to the segments from the one holding the log start
// through the active one.
type cleanPlan struct {
	segs  []*segment
	sizes []int64
	// firstDirty is where the uncleaned part starts; uncleanable is the
	// first offset the pass may not map (a segment base).
	firstDirty, uncleanable int64
	ratio                   float64
	// horizon: tombstones below this offset were cleaned at least
	// delete.retention.ms ago and may go.
	horizon int64
}

// end is the offset after segment i of the plan (the next one's base).
func (p *cleanPlan) end(i int) int64 { return p.segs[i+1].base }

// planClean decides whether the log is due and what the pass covers; nil
// means not due.
func (l *Log) planClean(nowMs int64, cfg *LogConfig) (*cleanPlan, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil, ErrClosed
	}
	start, leo := l.logStart.Load(), l.logEnd.Load()
	segs := append([]*segment(nil), l.segments[l.segmentFor(start):]...)
	for _, s := range segs {
		s.acquire()
	}
	l.mu.RUnlock()
	p := &cleanPlan{segs: segs, sizes: make([]int64, len(segs))}
	keep := false
	defer func() {
		if !keep {
			releaseAll(segs)
		}
	}()
	for i, s := range segs {
		p.sizes[i] = s.size.Load()
	}

	marks := l.loadCleanMarks()
	p.firstDirty = start
	if n := len(marks); n > 0 && marks[n-1].offset >= start && marks[n-1].offset <= leo {
		p.firstDirty = marks[n-1].offset
	}
	p.horizon = cleanHorizon(marks, nowMs, cfg.DeleteRetentionMs)

	// The first uncleanable offset: the active segment, or the first
	// dirty segment too young for min.compaction.lag.ms.
	sealed := len(segs) - 1
	p.uncleanable = segs[sealed].base
	interval := int64(cfg.IndexIntervalBytes)
	firstDirtySeg := -1
	for i := range sealed {
		if p.end(i) <= p.firstDirty {
			continue
		}
		if firstDirtySeg < 0 {
			firstDirtySeg = i
		}
		if cfg.MinCompactionLagMs > 0 {
			ts, _, err := segs[i].maxTimestamp(interval)
			if err != nil {
				return nil, err
			}
			if ts > nowMs-cfg.MinCompactionLagMs {
				p.uncleanable = segs[i].base
				break
			}
		}
	}
	if firstDirtySeg < 0 || p.firstDirty >= p.uncleanable {
		return nil, nil
	}
	var cleanBytes, dirtyBytes int64
	for i := 0; i < sealed && segs[i].base < p.uncleanable; i++ {
		if p.end(i) <= p.firstDirty {
			cleanBytes += p.sizes[i]
		} else {
			dirtyBytes += p.sizes[i]
		}
	}
	if cleanBytes+dirtyBytes > 0 {
		p.ratio = float64(dirtyBytes) / float64(cleanBytes+dirtyBytes)
	}
	due := p.ratio >= cfg.MinCleanableDirtyRatio && dirtyBytes > 0
	if !due && cfg.MaxCompactionLagMs < math.MaxInt64 {
		ts, err := firstBatchTimestamp(segs[firstDirtySeg], p.sizes[firstDirtySeg])
		if err != nil {
			return nil, err
		}
		due = ts >= 0 && nowMs-ts >= cfg.MaxCompactionLagMs
	}
	if !due {
		return nil, nil
	}
	keep = true
	return p, nil
}

// firstBatchTimestamp is the MaxTimestamp of a segment's first batch (-1
// if it has none), which max.compaction.lag.ms counts from.
func firstBatchTimestamp(s *segment, size int64) (int64, error) {
	if size == 0 {
		return -1, nil
	}
	h, pos, err := newScanner(s.file, 0, size, 0).next(math.MaxInt64)
	if err != nil {
		return -1, segmentReadError(s, pos, err)
	}
	return h.MaxTimestamp, nil
}

// cleanGroup is a run of adjacent sealed segments cleaned into one.
type cleanGroup struct {
	segs  []*segment
	sizes []int64
	// next is the segment after the group; base..end is the group's
	// offset range, end being next's base.
	next      *segment
	base, end int64
}

// groupSegments splits the plan's sealed segments below end into groups
// of at most maxBytes (by their current size; the caller bounds it by
// segment.bytes and by what segment.index.bytes can index) whose offsets
// fit one segment's index, as Kafka does, so cleaning also merges segments that
// compaction made small.
func groupSegments(p *cleanPlan, end, maxBytes int64) []cleanGroup {
	var groups []cleanGroup
	sealed := len(p.segs) - 1
	for i := 0; i < sealed && p.segs[i].base < end; {
		j, size := i+1, p.sizes[i]
		for j < sealed && p.segs[j].base < end && size+p.sizes[j] <= maxBytes &&
			p.end(j)-1-p.segs[i].base <= math.MaxUint32 {
			size += p.sizes[j]
			j++
		}
		groups = append(groups, cleanGroup{segs: p.segs[i:j], sizes: p.sizes[i:j], next: p.segs[j],
			base: p.segs[i].base, end: p.segs[j].base})
		i = j
	}
	return groups
}
