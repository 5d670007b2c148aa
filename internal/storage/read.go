package storage

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/spool-mq/spool/internal/record"
)

// ReadResult holds the batches a Read returned. Data is owned by the
// caller. (A later version may return file ranges for sendfile instead of
// copied bytes; that will be a new field beside Data.)
type ReadResult struct {
	Data []byte
}

// Read returns whole batches starting with the one containing offset.
// Batches whose base offset is >= maxOffset (an exclusive bound, the high
// watermark) are not returned. At most maxBytes are returned, except that
// with minOne the first batch is returned whole even if larger (KIP-74).
// One Read stays within one segment; callers read again from the next
// offset. offset == LogEndOffset (or >= maxOffset) returns no data and no
// error; offset below LogStartOffset or above LogEndOffset is
// ErrOffsetOutOfRange.
func (l *Log) Read(offset, maxOffset int64, maxBytes int, minOne bool) (ReadResult, error) {
	return l.ReadInto(nil, offset, maxOffset, maxBytes, minOne)
}

// ReadInto is Read reusing scratch for the result when it is large enough,
// so a hot fetch path can recycle its buffers instead of allocating one per
// read. ReadResult.Data then aliases scratch.
func (l *Log) ReadInto(scratch []byte, offset, maxOffset int64, maxBytes int, minOne bool) (ReadResult, error) {
	for {
		gen := l.truncations.Load()
		res, err := l.read(scratch, offset, maxOffset, maxBytes, minOne)
		// A truncation while we read may have replaced the bytes we got;
		// read again. Truncations are rare (follower divergence).
		if err != nil || l.truncations.Load() == gen {
			return res, err
		}
	}
}

func (l *Log) read(scratch []byte, offset, maxOffset int64, maxBytes int, minOne bool) (ReadResult, error) {
	var res ReadResult
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return res, ErrClosed
	}
	start, end := l.logStart.Load(), l.logEnd.Load()
	if offset < start || offset > end {
		l.mu.RUnlock()
		return res, fmt.Errorf("%w: %d not in [%d, %d] of %s", ErrOffsetOutOfRange, offset, start, end, l.tp)
	}
	if offset == end || offset >= maxOffset {
		l.mu.RUnlock()
		return res, nil
	}
	i := l.segmentFor(offset)
	seg := l.segments[i]
	seg.acquire()
	size := seg.size.Load()
	l.mu.RUnlock()

	interval := l.interval()
	sc, _ := l.scanners.Get().(*scanner)
	if sc == nil {
		sc = new(scanner)
	}
	defer func() {
		sc.f = nil
		l.scanners.Put(sc)
	}()
	for {
		pos, h, found, err := seg.locate(offset, size, interval, sc)
		if err != nil {
			seg.release()
			return res, err
		}
		if found {
			defer seg.release()
			if h.BaseOffset >= maxOffset {
				return res, nil
			}
			return l.readFrom(scratch, seg, pos, &h, size, maxOffset, maxBytes, minOne)
		}
		// offset is in a gap after the segment's last batch: the next
		// segment's first batch is the answer.
		l.mu.RLock()
		var next *segment
		nextOffset := offset
		if !l.closed {
			if cur := l.segments[l.segmentFor(offset)]; cur != seg {
				// The cleaner swapped segments while we read: seg's
				// records may now live in a merged segment, so look
				// offset up again rather than skipping past seg.
				next = cur
			} else if j := l.segmentFor(seg.base) + 1; j < len(l.segments) && l.segments[j].base > seg.base {
				next = l.segments[j]
				nextOffset = next.base
			}
			if next != nil {
				next.acquire()
				size = next.size.Load()
			}
		}
		l.mu.RUnlock()
		seg.release()
		if next == nil {
			return res, nil
		}
		seg, offset = next, nextOffset
	}
}

// locate finds the first batch in the segment whose last offset is >=
// offset, looking within the first size bytes. found is false if there is
// none.
func (s *segment) locate(offset, size, interval int64, sc *scanner) (int64, record.Header, bool, error) {
	idx, err := s.index(interval)
	if err != nil {
		return 0, record.Header{}, false, err
	}
	rel := min(max(offset-s.base, 0), math.MaxUint32)
	s.mu.RLock()
	pos := idx.off.lookup(uint32(rel))
	s.mu.RUnlock()
	sc.reset(s.file, pos, size, locateChunk)
	for {
		h, p, err := sc.next(math.MaxInt64)
		if errors.Is(err, io.EOF) {
			return 0, h, false, nil
		}
		if err != nil {
			return 0, h, false, segmentReadError(s, p, err)
		}
		if h.NextOffset() > offset {
			return p, h, true, nil
		}
	}
}

func segmentReadError(s *segment, pos int64, err error) error {
	if isDataError(err) {
		return fmt.Errorf("%w: %s at position %d: %w", ErrCorruptSegment, s.path, pos, err)
	}
	return fmt.Errorf("reading %s: %w", s.path, err)
}

// readFrom copies whole batches starting with h at pos.
func (l *Log) readFrom(scratch []byte, seg *segment, pos int64, h *record.Header, size, maxOffset int64, maxBytes int, minOne bool) (ReadResult, error) {
	var res ReadResult
	first := int64(h.Size())
	var want int64
	switch {
	case first > int64(maxBytes) && !minOne:
		return res, nil
	case first > int64(maxBytes):
		want = first
	default:
		want = min(int64(maxBytes), size-pos)
	}
	buf := scratch[:0]
	if int64(cap(buf)) < want {
		buf = make([]byte, want)
	}
	buf = buf[:want]
	if n, err := seg.file.ReadAt(buf, pos); int64(n) < want {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return res, fmt.Errorf("reading %s: %w", seg.path, err)
	}
	// Keep whole batches below maxOffset. The first is known to be whole.
	n := first
	for n+record.HeaderSize <= want {
		bh, err := record.ParseHeader(buf[n:])
		if err != nil || bh.BaseOffset >= maxOffset || n+int64(bh.Size()) > want {
			break
		}
		n += int64(bh.Size())
	}
	res.Data = buf[:n]
	return res, nil
}

// OffsetForTimestamp finds the first batch (in offset order, at or after the
// log start) whose MaxTimestamp is >= ts. It returns that batch's base
// offset (raised to the log start offset if the batch straddles it) and
// its MaxTimestamp; found is false if no batch qualifies.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, found bool, err error) {
	segs, err := l.acquireAll()
	if err != nil {
		return -1, -1, false, err
	}
	defer releaseAll(segs)
	start := l.logStart.Load()
	interval := l.interval()
	for _, s := range segs {
		segMax, _, err := s.maxTimestamp(interval)
		if err != nil {
			return -1, -1, false, err
		}
		if segMax < ts {
			continue
		}
		idx, err := s.index(interval)
		if err != nil {
			return -1, -1, false, err
		}
		s.mu.RLock()
		rel, _ := idx.tim.below(ts)
		pos := idx.off.lookup(rel)
		s.mu.RUnlock()
		sc := newScanner(s.file, pos, s.size.Load(), recoveryChunk)
		for {
			h, p, err := sc.next(math.MaxInt64)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return -1, -1, false, segmentReadError(s, p, err)
			}
			if h.MaxTimestamp >= ts && h.LastOffset() >= start {
				return max(h.BaseOffset, start), h.MaxTimestamp, true, nil
			}
		}
	}
	return -1, -1, false, nil
}

// MaxTimestamp returns the largest batch MaxTimestamp among batches at or
// after the log start, and the base offset of the first batch that has it
// (raised to the log start offset if that batch straddles it); (-1, -1) if
// there is none. It reads one time-index entry per segment, plus the first
// segment's batch headers when its largest timestamp was deleted by
// DeleteRecordsBefore.
func (l *Log) MaxTimestamp() (timestamp int64, offset int64) {
	segs, err := l.acquireAll()
	if err != nil {
		return -1, -1
	}
	defer releaseAll(segs)
	start := l.logStart.Load()
	timestamp, offset = -1, -1
	interval := l.interval()
	for _, s := range segs {
		ts, off, err := s.maxTimestamp(interval)
		if err == nil && off >= 0 && off < start {
			ts, off, err = s.maxTimestampFrom(start, interval)
		}
		if err != nil {
			l.logger.Warn("reading segment timestamps failed", "path", s.path, "err", err)
			continue
		}
		if ts > timestamp {
			timestamp, offset = ts, max(off, start)
		}
	}
	return timestamp, offset
}

// maxTimestampFrom scans for the largest MaxTimestamp among batches whose
// last offset is >= start.
func (s *segment) maxTimestampFrom(start, interval int64) (int64, int64, error) {
	idx, err := s.index(interval)
	if err != nil {
		return -1, -1, err
	}
	s.mu.RLock()
	pos := idx.off.lookup(uint32(min(max(start-s.base, 0), math.MaxUint32)))
	s.mu.RUnlock()
	sc := newScanner(s.file, pos, s.size.Load(), recoveryChunk)
	ts, off := int64(-1), int64(-1)
	for {
		h, p, err := sc.next(math.MaxInt64)
		if errors.Is(err, io.EOF) {
			return ts, off, nil
		}
		if err != nil {
			return -1, -1, segmentReadError(s, p, err)
		}
		if h.LastOffset() >= start && h.MaxTimestamp > ts {
			ts, off = h.MaxTimestamp, h.BaseOffset
		}
	}
}

// acquireAll returns the segments with a reference held on each.
func (l *Log) acquireAll() ([]*segment, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	segs := append([]*segment(nil), l.segments...)
	for _, s := range segs {
		s.acquire()
	}
	return segs, nil
}

func releaseAll(segs []*segment) {
	for _, s := range segs {
		s.release()
	}
}
