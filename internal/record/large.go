package record

import (
	"encoding/binary"
	"math"
)

// Validation reads records larger than a stream chunk field by field,
// skipping key, value and header bytes, so checking a batch holds the
// codec's window and one chunk however large its records are. The checks
// are parseRecord's.

// recordFields reads record i's fields into f: in place for uncompressed
// batches and records that fit a chunk, streaming otherwise. Only
// f.key's nil-ness is meaningful for streamed records (their key, value
// and headers are not kept). It returns io.EOF at a clean end.
func (it *iter) recordFields(i int32, f *fields) error {
	if it.s == nil {
		body, err := it.next(i)
		if err != nil {
			return err
		}
		return parseChecked(i, body, f)
	}
	s := it.s
	size, err := s.recordLen(i)
	if err != nil {
		return err
	}
	if size <= len(s.buf) {
		body, err := s.recordBody(i, size)
		if err != nil {
			return err
		}
		return parseChecked(i, body, f)
	}
	return s.parseLarge(i, size, f)
}

func parseChecked(i int32, body []byte, f *fields) error {
	if err := parseRecord(body, f); err != nil {
		return recordError(i, err)
	}
	return nil
}

// parseLarge checks a record of size bytes (more than a chunk) from the
// stream without holding it.
func (s *stream) parseLarge(i int32, size int, f *fields) error {
	left := size
	if err := s.parseFields(&left, f); err != nil {
		if s.err != nil || (s.eof && s.lo == s.hi) {
			return s.overrun(i, size)
		}
		return recordError(i, err)
	}
	if left != 0 {
		return recordError(i, errTrailing)
	}
	*f = fields{attrs: f.attrs, tsDelta: f.tsDelta, offDelta: f.offDelta, key: f.key}
	return nil
}

func (s *stream) parseFields(left *int, f *fields) error {
	if !s.ensure(min(1, *left)) || *left < 1 {
		return errShort
	}
	f.attrs = int8(s.buf[s.lo])
	s.lo++
	*left--
	var ok bool
	if f.tsDelta, ok = s.varintIn(left); !ok {
		return errVarint
	}
	od, ok := s.varintIn(left)
	if !ok {
		return errVarint
	}
	if od < math.MinInt32 || od > math.MaxInt32 {
		return errOffsetDelta
	}
	f.offDelta = int32(od)
	present, ok := s.skipBytes(left, true)
	if !ok {
		return errKeyLength
	}
	f.key = nil
	if present {
		f.key = s.buf[:0] // not null; the bytes are not kept
	}
	if _, ok := s.skipBytes(left, true); !ok {
		return errValueLength
	}
	n, ok := s.varintIn(left)
	if !ok || n < 0 || n > int64(*left)/2 {
		return errHeaderCount
	}
	for range n {
		if _, ok := s.skipBytes(left, false); !ok {
			return errHeaderKey
		}
		if _, ok := s.skipBytes(left, true); !ok {
			return errHeaderValue
		}
	}
	return nil
}

// ensure makes n unread bytes available in buf if the stream has them
// (n is at most a varint's length, far below the chunk size).
func (s *stream) ensure(n int) bool {
	for s.hi-s.lo < n && s.fill() {
	}
	return s.hi-s.lo >= n
}

// varintIn reads a varint that must lie within the record's left bytes.
func (s *stream) varintIn(left *int) (int64, bool) {
	need := min(binary.MaxVarintLen64, *left)
	if need == 0 {
		return 0, false
	}
	// A short stream may still hold a short varint.
	s.ensure(need)
	v, n := binary.Varint(s.buf[s.lo:min(s.hi, s.lo+need)])
	if n <= 0 {
		return 0, false
	}
	s.lo += n
	*left -= n
	return v, true
}

// skipBytes skips a length-prefixed byte string within the record; it
// reports whether the string was present (not null).
func (s *stream) skipBytes(left *int, nullable bool) (present, ok bool) {
	l, ok := s.varintIn(left)
	if !ok || l < -1 || (l == -1 && !nullable) || l > int64(*left) {
		return false, false
	}
	if l == -1 {
		return false, true
	}
	*left -= int(l)
	for l > 0 {
		if s.lo == s.hi && !s.fill() {
			return false, false
		}
		k := min(l, int64(s.hi-s.lo))
		s.lo += int(k)
		l -= k
	}
	return true, true
}
