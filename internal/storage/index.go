package storage

import (
	"encoding/binary"
	"errors"
	"math"
	"sort"

	"github.com/spool-mq/spool/internal/record"
)

// Index entry sizes; see the package doc for the layouts.
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

var errBadIndex = errors.New("index entries out of order or out of range")

// offsetIndex is a sparse, sorted map from relative batch base offsets to
// file positions, kept in its on-disk encoding.
type offsetIndex []byte

func (ix offsetIndex) len() int { return len(ix) / offsetEntrySize }

func (ix offsetIndex) entry(i int) (rel uint32, pos uint32) {
	e := ix[i*offsetEntrySize:]
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
}

// lookup returns the position of the last indexed batch whose relative
// base offset is <= rel, or 0 (the segment start).
func (ix offsetIndex) lookup(rel uint32) int64 {
	i := sort.Search(ix.len(), func(i int) bool {
		r, _ := ix.entry(i)
		return r > rel
	})
	if i == 0 {
		return 0
	}
	_, pos := ix.entry(i - 1)
	return int64(pos)
}

// check verifies entries strictly increase and point inside a segment of
// the given size.
func (ix offsetIndex) check(size int64) error {
	if len(ix)%offsetEntrySize != 0 {
		return errBadIndex
	}
	var lastRel, lastPos int64 = -1, -1
	for i := range ix.len() {
		r, p := ix.entry(i)
		if int64(r) <= lastRel || int64(p) <= lastPos || int64(p) >= size {
			return errBadIndex
		}
		lastRel, lastPos = int64(r), int64(p)
	}
	return nil
}

// timeIndex is a sorted list of (timestamp, relative offset) pairs, both
// strictly increasing, in its on-disk encoding.
type timeIndex []byte

func (ix timeIndex) len() int { return len(ix) / timeEntrySize }

func (ix timeIndex) entry(i int) (ts int64, rel uint32) {
	e := ix[i*timeEntrySize:]
	return int64(binary.BigEndian.Uint64(e)), binary.BigEndian.Uint32(e[8:])
}

// last returns the final entry.
func (ix timeIndex) last() (ts int64, rel uint32, ok bool) {
	if ix.len() == 0 {
		return -1, 0, false
	}
	ts, rel = ix.entry(ix.len() - 1)
	return ts, rel, true
}

// below returns the last entry whose timestamp is < ts. Every batch up to
// that entry's offset has a MaxTimestamp below ts, so a search for the first
// batch reaching ts can start there.
func (ix timeIndex) below(ts int64) (rel uint32, ok bool) {
	i := sort.Search(ix.len(), func(i int) bool {
		t, _ := ix.entry(i)
		return t >= ts
	})
	if i == 0 {
		return 0, false
	}
	_, rel = ix.entry(i - 1)
	return rel, true
}

func (ix timeIndex) check() error {
	if len(ix)%timeEntrySize != 0 {
		return errBadIndex
	}
	var lastTS, lastRel int64 = math.MinInt64, -1
	for i := range ix.len() {
		t, r := ix.entry(i)
		if t <= lastTS || int64(r) <= lastRel {
			return errBadIndex
		}
		lastTS, lastRel = t, int64(r)
	}
	return nil
}

// segIndex holds one segment's indexes and the state needed to extend
// them as batches are appended.
type segIndex struct {
	base int64
	off  offsetIndex
	tim  timeIndex
	// lastIndexedPos is the position of the last offset-index entry (0,
	// the segment start, if none).
	lastIndexedPos int64
	// maxTS is the largest batch MaxTimestamp seen (-1 if none) and
	// maxTSOffset the base offset of the first batch that had it.
	maxTS       int64
	maxTSOffset int64
	// firstTS is the MaxTimestamp of the segment's first batch, if seen.
	firstTS int64
	// next is the offset after the last batch added.
	next int64
	// count is the number of batches added.
	count int64
}

func newSegIndex(base int64) *segIndex {
	return &segIndex{base: base, maxTS: -1, maxTSOffset: -1, firstTS: -1, next: base}
}

// add records the batch h written at pos. interval is the offset-index
// spacing in bytes. Batches must come in file order.
func (s *segIndex) add(h *record.Header, pos int64, interval int64) {
	if s.count == 0 {
		s.firstTS = h.MaxTimestamp
	}
	if pos-s.lastIndexedPos >= interval {
		s.off = binary.BigEndian.AppendUint32(s.off, uint32(h.BaseOffset-s.base))
		s.off = binary.BigEndian.AppendUint32(s.off, uint32(pos))
		s.lastIndexedPos = pos
		s.appendTimeEntry()
	}
	if h.MaxTimestamp > s.maxTS {
		s.maxTS, s.maxTSOffset = h.MaxTimestamp, h.BaseOffset
	}
	s.next = h.NextOffset()
	s.count++
}

// appendTimeEntry records the current maximum if it is new.
func (s *segIndex) appendTimeEntry() {
	if s.maxTS < 0 {
		return
	}
	if ts, _, ok := s.tim.last(); ok && ts >= s.maxTS {
		return
	}
	s.tim = binary.BigEndian.AppendUint64(s.tim, uint64(s.maxTS))
	s.tim = binary.BigEndian.AppendUint32(s.tim, uint32(s.maxTSOffset-s.base))
}

// full reports whether either index holds as many entries as maxBytes
// allows, so the segment must roll (Kafka's isFull). As in Kafka the time
// index keeps its last slot for the entry seal adds at the roll.
func (s *segIndex) full(maxBytes int32) bool {
	if s == nil {
		return false
	}
	return s.off.len() >= int(maxBytes)/offsetEntrySize || s.tim.len() >= int(maxBytes)/timeEntrySize-1
}

// maxIndexedBytes is how many bytes of log a segment may hold so that its
// indexes, at interval bytes between entries, stay within maxBytes: a
// bound for merging segments (the cleaner) without building the indexes.
func maxIndexedBytes(maxBytes int32, interval int64) int64 {
	entries := int64(maxBytes)/timeEntrySize - 1 // the time index has one more (seal)
	return max(entries, 0) * max(interval, 1)
}

// seal adds the final time-index entry, so the last entry of a written
// time index is the segment's largest timestamp. Sealing more than once,
// or appending after, keeps the invariants.
func (s *segIndex) seal() { s.appendTimeEntry() }

// fromFiles builds a segIndex from index files of a segment whose batches
// are not otherwise known. Only lookups and the largest timestamp are
// valid; next and count are not.
func indexFromFiles(base int64, off offsetIndex, tim timeIndex) *segIndex {
	s := newSegIndex(base)
	s.off, s.tim = off, tim
	if n := off.len(); n > 0 {
		_, pos := off.entry(n - 1)
		s.lastIndexedPos = int64(pos)
	}
	if ts, rel, ok := tim.last(); ok {
		s.maxTS, s.maxTSOffset = ts, base+int64(rel)
	}
	return s
}
