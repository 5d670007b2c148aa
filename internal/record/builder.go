package record

import (
	"encoding/binary"
	"hash/crc32"
)

// Builder encodes an uncompressed v2 record batch for data the broker writes
// itself (coordinator state in internal topics). Producers' batches are never
// re-encoded; this is only for records that originate inside the broker.
//
// Each record is laid out as Kafka defines it, every integer but the
// attributes byte being a zig-zag varint:
//
//	length, attributes (int8), timestampDelta, offsetDelta,
//	keyLength, key, valueLength, value, headerCount (0)
//
// A nil value is written with length -1: a tombstone, which compaction
// treats as a delete of the key.
//
// The zero Builder is not usable; call NewBuilder.
type Builder struct {
	timestamp int64
	n         int32
	buf       []byte // header placeholder followed by the records
}

// NewBuilder starts a batch whose records all carry timestamp (ms).
func NewBuilder(timestamp int64) *Builder {
	return &Builder{timestamp: timestamp, buf: make([]byte, HeaderSize, HeaderSize+256)}
}

// Add appends one record; a nil value makes it a tombstone.
func (b *Builder) Add(key, value []byte) {
	var body []byte
	body = append(body, 0) // attributes
	body = binary.AppendVarint(body, 0)
	body = binary.AppendVarint(body, int64(b.n))
	body = appendVarBytes(body, key)
	body = appendVarBytes(body, value)
	body = binary.AppendVarint(body, 0) // no headers
	b.buf = binary.AppendVarint(b.buf, int64(len(body)))
	b.buf = append(b.buf, body...)
	b.n++
}

// Len is the number of records added so far.
func (b *Builder) Len() int { return int(b.n) }

// Build returns the finished batch: base offset 0 (the log assigns the
// real one), no producer id, CRC set. It returns nil if no record was
// added, because Kafka batches may not be empty. The Builder must not be
// used afterwards.
func (b *Builder) Build() []byte {
	if b.n == 0 {
		return nil
	}
	out := b.buf
	binary.BigEndian.PutUint64(out[0:], 0)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-lengthFieldEnd))
	binary.BigEndian.PutUint32(out[12:], 0xffffffff) // partitionLeaderEpoch -1
	out[16] = 2                                      // magic
	binary.BigEndian.PutUint16(out[21:], 0)          // attributes: uncompressed, CreateTime
	binary.BigEndian.PutUint32(out[23:], uint32(b.n-1))
	binary.BigEndian.PutUint64(out[27:], uint64(b.timestamp))
	binary.BigEndian.PutUint64(out[35:], uint64(b.timestamp))
	binary.BigEndian.PutUint64(out[43:], 0xffffffffffffffff) // producerId -1
	binary.BigEndian.PutUint16(out[51:], 0xffff)             // producerEpoch -1
	binary.BigEndian.PutUint32(out[53:], 0xffffffff)         // baseSequence -1
	binary.BigEndian.PutUint32(out[57:], uint32(b.n))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[crcStart:], castagnoli))
	b.buf = nil
	return out
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}
