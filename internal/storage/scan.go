package storage

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/vfs"
)

// Read-ahead sizes for walking batch headers.
const (
	recoveryChunk = 64 << 10 // recovery and index rebuilds
	locateChunk   = 8 << 10  // finding a fetch's first batch from an index entry
)

// errOffsetOrder means a batch's offsets do not follow the previous batch,
// or do not fit the segment; recovery treats it like corruption.
var errOffsetOrder = errors.New("batch offsets out of order")

// scanner walks the batches of a segment file in order. It reads ahead in
// chunks but jumps over the bodies of batches it does not verify, so
// walking large trusted batches costs one small read per batch.
type scanner struct {
	f      vfs.File
	end    int64 // bytes of the file to consider
	chunk  int
	buf    []byte
	bufPos int64 // file position of buf[0]
	pos    int64 // position of the next batch
}

func newScanner(f vfs.File, start, end int64, chunk int) *scanner {
	return &scanner{f: f, end: end, chunk: chunk, pos: start, bufPos: start}
}

// reset points a scanner at a file region, keeping its buffer.
func (s *scanner) reset(f vfs.File, start, end int64, chunk int) {
	*s = scanner{f: f, end: end, chunk: chunk, pos: start, bufPos: start, buf: s.buf[:0]}
}

// window returns file bytes [pos, pos+n), reading if they are not buffered.
func (s *scanner) window(pos int64, n int) ([]byte, error) {
	if pos >= s.bufPos && pos+int64(n) <= s.bufPos+int64(len(s.buf)) {
		i := pos - s.bufPos
		return s.buf[i : i+int64(n)], nil
	}
	want := int64(max(n, s.chunk))
	want = min(want, s.end-pos)
	if want < int64(n) {
		return nil, record.ErrTruncated
	}
	if int64(cap(s.buf)) < want {
		s.buf = make([]byte, want)
	}
	s.buf = s.buf[:want]
	s.bufPos = pos
	got, err := s.f.ReadAt(s.buf, pos)
	if int64(got) < want {
		s.buf = s.buf[:got]
		if err == nil || errors.Is(err, io.EOF) {
			return nil, record.ErrTruncated // the file is shorter than end
		}
		return nil, err
	}
	return s.buf[:n], nil
}

// next returns the batch at the scanner's position and advances past it.
// Batches whose offsets reach verifyFrom or beyond get their CRC checked;
// those wholly below are only parsed. At the end it returns io.EOF; a torn
// or corrupt batch returns a record error and does not advance; an I/O
// failure returns the I/O error.
func (s *scanner) next(verifyFrom int64) (record.Header, int64, error) {
	pos := s.pos
	if pos >= s.end {
		return record.Header{}, pos, io.EOF
	}
	hdr, err := s.window(pos, int(min(record.HeaderSize, s.end-pos)))
	if err != nil {
		return record.Header{}, pos, err
	}
	h, err := record.ParseHeader(hdr)
	if err != nil {
		return h, pos, err
	}
	size := int64(h.Size())
	if pos+size > s.end {
		return h, pos, record.ErrTruncated
	}
	if h.LastOffsetDelta < 0 {
		return h, pos, fmt.Errorf("%w: negative last offset delta", record.ErrInvalid)
	}
	if h.NextOffset() > verifyFrom {
		b, err := s.window(pos, int(size))
		if err != nil {
			return h, pos, err
		}
		if _, err := record.Validate(b); err != nil {
			return h, pos, err
		}
	}
	s.pos = pos + size
	return h, pos, nil
}

// isDataError tells a bad batch (truncate the log there) from an I/O
// failure (give up; the data may be fine).
func isDataError(err error) bool {
	return errors.Is(err, record.ErrTruncated) || errors.Is(err, record.ErrCorrupt) ||
		errors.Is(err, record.ErrInvalid) || errors.Is(err, record.ErrUnsupportedMagic) ||
		errors.Is(err, errOffsetOrder)
}

// scanResult is what walking a segment found.
type scanResult struct {
	idx *segIndex
	// validEnd is the position after the last good batch.
	validEnd int64
	// bad is why the walk stopped before the end of the file (nil if it
	// did not).
	bad error
	// epochs are the (epoch, base offset) of batches whose leader epoch
	// rises, for repairing the epoch cache.
	epochs []epochEntry
}

// scanSegment walks a whole segment from position 0, building its index.
// Batches with offsets at or past verifyFrom are CRC-checked. expectNext is
// the lowest base offset the first batch may have. The walk stops at the
// first bad batch; an I/O error is returned as err.
func scanSegment(f vfs.File, base, size, verifyFrom, expectNext int64, interval int64) (scanResult, error) {
	res := scanResult{idx: newSegIndex(base)}
	sc := newScanner(f, 0, size, recoveryChunk)
	lastEpoch := int32(-1)
	for {
		h, pos, err := sc.next(verifyFrom)
		if err == nil && (h.BaseOffset < expectNext || h.LastOffset()-base > math.MaxUint32) {
			err = fmt.Errorf("%w: batch at %d has offsets %d..%d, expected >= %d", errOffsetOrder, pos, h.BaseOffset, h.LastOffset(), expectNext)
		}
		if err != nil {
			res.validEnd = pos
			if errors.Is(err, io.EOF) {
				return res, nil
			}
			if isDataError(err) {
				res.bad = err
				return res, nil
			}
			return res, err
		}
		res.idx.add(&h, pos, interval)
		if h.PartitionLeaderEpoch > lastEpoch {
			lastEpoch = h.PartitionLeaderEpoch
			res.epochs = append(res.epochs, epochEntry{epoch: h.PartitionLeaderEpoch, start: h.BaseOffset})
		}
		expectNext = h.NextOffset()
	}
}
