// Package record reads and validates Kafka record batches (magic v2).
//
// The broker stores batches exactly as producers sent them. It only needs the
// 61-byte batch header, whose layout is:
//
//	offset  size  field
//	0       8     baseOffset            (rewritten by the broker)
//	8       4     batchLength           (bytes after this field)
//	12      4     partitionLeaderEpoch  (rewritten by the broker, not in CRC)
//	16      1     magic                 (must be 2)
//	17      4     crc                   (CRC-32C of bytes 21..end)
//	21      2     attributes            (codec bits 0-2, timestamp type bit 3,
//	                                     transactional bit 4, control bit 5)
//	23      4     lastOffsetDelta
//	27      8     baseTimestamp
//	35      8     maxTimestamp
//	43      8     producerId
//	51      2     producerEpoch
//	53      4     baseSequence
//	57      4     recordCount
//	61      ...   records (possibly compressed)
//
// Everything here works on byte slices without allocation. A producer's
// batch is also walked record by record (check.go: Decoder.CheckRecords),
// in place when uncompressed and through a bounded streaming
// decompressor otherwise (decompress.go); features that need record
// contents use the same Decoder (records.go).
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of a v2 batch header, up to the first record.
const HeaderSize = 61

// lengthFieldEnd is where the bytes counted by batchLength start.
const lengthFieldEnd = 12

// crcStart is the first byte covered by the CRC.
const crcStart = 21

// Attribute bits.
const (
	codecMask         = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// ErrTruncated means the bytes end before the batch does. At the tail of a
	// log file this is a torn write; in a request it is a malformed batch.
	ErrTruncated = errors.New("record batch truncated")
	// ErrCorrupt means the batch is complete but its CRC does not match.
	ErrCorrupt = errors.New("record batch CRC mismatch")
	// ErrInvalid means a header field is impossible (sizes, counts, codec).
	ErrInvalid = errors.New("invalid record batch")
	// ErrUnsupportedMagic means the batch is not magic v2. Spool only stores
	// v2 batches; older clients' message sets are refused.
	ErrUnsupportedMagic = errors.New("unsupported record batch magic")
)

// Codec is a batch compression codec.
type Codec int8

// The codecs Kafka defines.
const (
	CodecNone Codec = iota
	CodecGzip
	CodecSnappy
	CodecLZ4
	CodecZstd
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Header is a decoded v2 batch header.
type Header struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the whole batch's size in bytes, header included.
func (h *Header) Size() int { return lengthFieldEnd + int(h.BatchLength) }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset after the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Codec is the compression codec of the records.
func (h *Header) Codec() Codec { return Codec(h.Attributes & codecMask) }

// LogAppendTime reports whether timestamps are broker append times.
func (h *Header) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// Transactional reports whether the batch is part of a transaction.
func (h *Header) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports whether the batch holds control records (txn markers).
func (h *Header) Control() bool { return h.Attributes&attrControl != 0 }

// LastSequence is the sequence number of the batch's last record.
func (h *Header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	// Sequences wrap at MaxInt32 per the idempotent producer protocol.
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > 0x7fffffff {
		s -= 0x80000000
	}
	return int32(s)
}

// ParseHeader decodes the header at the start of b without checking the CRC.
// It fails with ErrTruncated if b is shorter than the header, and with
// ErrInvalid or ErrUnsupportedMagic if the length or magic is impossible.
// It does not require the rest of the batch to be present.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < lengthFieldEnd {
		return h, ErrTruncated
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[0:]))
	h.BatchLength = int32(binary.BigEndian.Uint32(b[8:]))
	if h.BatchLength < HeaderSize-lengthFieldEnd {
		return h, fmt.Errorf("%w: batch length %d below header size", ErrInvalid, h.BatchLength)
	}
	if len(b) < HeaderSize {
		return h, ErrTruncated
	}
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[12:]))
	h.Magic = int8(b[16])
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: %d", ErrUnsupportedMagic, h.Magic)
	}
	h.CRC = binary.BigEndian.Uint32(b[17:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[21:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[23:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[27:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[35:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[43:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[51:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[53:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[57:]))
	return h, nil
}

// Validate checks one complete batch at the start of b: structure, codec and
// CRC. It returns the header; the batch occupies b[:h.Size()].
//
// It does not decode records. A producer's batch is also checked with
// ValidateProduced, which adds the rules that only apply to new data.
func Validate(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if len(b) < h.Size() {
		return h, ErrTruncated
	}
	if h.LastOffsetDelta < 0 || h.NumRecords < 0 {
		return h, fmt.Errorf("%w: negative record count", ErrInvalid)
	}
	if h.Codec() > CodecZstd {
		return h, fmt.Errorf("%w: unknown compression codec %d", ErrInvalid, h.Codec())
	}
	if crc32.Checksum(b[crcStart:h.Size()], castagnoli) != h.CRC {
		return h, ErrCorrupt
	}
	return h, nil
}

// ValidateProduced checks a batch sent by a producer: Validate, plus the
// header invariants of fresh data that compaction may later relax (every
// offset delta present, at least one record, and room for each record's
// minimal encoding). It does not look at the records; the produce path
// uses Decoder.ValidateProduced, which also walks them.
func ValidateProduced(b []byte) (Header, error) {
	h, err := Validate(b)
	if err != nil {
		return h, err
	}
	if h.NumRecords == 0 {
		return h, fmt.Errorf("%w: batch has no records", ErrInvalid)
	}
	if h.LastOffsetDelta != h.NumRecords-1 {
		return h, fmt.Errorf("%w: lastOffsetDelta %d does not match %d records", ErrInvalid, h.LastOffsetDelta, h.NumRecords)
	}
	// The smallest record is 7 bytes (length, attributes, timestampDelta,
	// offsetDelta, keyLength, valueLength, header count as one-byte varints);
	// an uncompressed batch claiming more records than fit is lying.
	if h.Codec() == CodecNone && int64(h.NumRecords)*7 > int64(h.Size()-HeaderSize) {
		return h, fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrInvalid, h.NumRecords, h.Size()-HeaderSize)
	}
	return h, nil
}

// SetBaseOffset rewrites the base offset in place. The CRC does not cover it.
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[0:], uint64(offset))
}

// SetPartitionLeaderEpoch rewrites the leader epoch in place. The CRC does
// not cover it.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[12:], uint32(epoch))
}

// SetLogAppendTime marks the batch as using broker append time ts (for topics
// with message.timestamp.type=LogAppendTime): it sets the timestamp-type bit
// and maxTimestamp, then recomputes the CRC. The batch must be complete.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[21:]) | attrLogAppendTime
	binary.BigEndian.PutUint16(b[21:], attrs)
	binary.BigEndian.PutUint64(b[35:], uint64(ts))
	length := lengthFieldEnd + int(int32(binary.BigEndian.Uint32(b[8:])))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[crcStart:length], castagnoli))
}

// Batches calls fn for each complete, valid batch at the start of b, in order,
// and returns how many bytes they occupy. It stops at the first batch that is
// truncated or invalid and returns that error alongside the valid prefix's
// length; a nil error means all of b was consumed. fn may return an error to
// stop early; it is returned as is.
//
// Log recovery uses this to find the end of the last good batch.
func Batches(b []byte, fn func(h Header, batch []byte) error) (int, error) {
	n := 0
	for n < len(b) {
		h, err := Validate(b[n:])
		if err != nil {
			return n, err
		}
		size := h.Size()
		if fn != nil {
			if err := fn(h, b[n:n+size]); err != nil {
				return n, err
			}
		}
		n += size
	}
	return n, nil
}
