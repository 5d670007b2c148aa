// Package storagetest builds valid Kafka v2 record batches for tests of the
// storage layer and the packages above it.
package storagetest

import (
	"encoding/binary"
	"hash/crc32"
)

// Spec describes a batch of uncompressed records.
type Spec struct {
	BaseOffset  int64
	LeaderEpoch int32
	// Values holds one record per element; no values means one record
	// with an empty value.
	Values [][]byte
	// Keys, if set, holds one key per record (nil entries are null keys).
	Keys [][]byte
	// Timestamps, if set, holds one timestamp per record. Otherwise
	// record i has Timestamp + i.
	Timestamps []int64
	Timestamp  int64
	// ProducerID is -1 unless set with Idempotent.
	Idempotent    bool
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Build encodes s as a batch with a valid CRC-32C.
func Build(s Spec) []byte {
	values := s.Values
	if len(values) == 0 {
		values = [][]byte{nil}
	}
	ts := func(i int) int64 {
		if s.Timestamps != nil {
			return s.Timestamps[i]
		}
		return s.Timestamp + int64(i)
	}
	first, maxTS := ts(0), ts(0)
	for i := range values {
		first, maxTS = min(first, ts(i)), max(maxTS, ts(i))
	}
	b := make([]byte, 61, 61+len(values)*16)
	var rec []byte
	for i, v := range values {
		rec = rec[:0]
		rec = append(rec, 0) // attributes
		rec = binary.AppendVarint(rec, ts(i)-first)
		rec = binary.AppendVarint(rec, int64(i))
		if i < len(s.Keys) && s.Keys[i] != nil {
			rec = binary.AppendVarint(rec, int64(len(s.Keys[i])))
			rec = append(rec, s.Keys[i]...)
		} else {
			rec = binary.AppendVarint(rec, -1)
		}
		rec = binary.AppendVarint(rec, int64(len(v)))
		rec = append(rec, v...)
		rec = binary.AppendVarint(rec, 0) // headers
		b = binary.AppendVarint(b, int64(len(rec)))
		b = append(b, rec...)
	}
	pid, epoch, seq := int64(-1), int16(-1), int32(-1)
	if s.Idempotent {
		pid, epoch, seq = s.ProducerID, s.ProducerEpoch, s.BaseSequence
	}
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(s.BaseOffset))
	be.PutUint32(b[8:], uint32(len(b)-12))
	be.PutUint32(b[12:], uint32(s.LeaderEpoch))
	b[16] = 2
	be.PutUint16(b[21:], 0)
	be.PutUint32(b[23:], uint32(len(values)-1))
	be.PutUint64(b[27:], uint64(first))
	be.PutUint64(b[35:], uint64(maxTS))
	be.PutUint64(b[43:], uint64(pid))
	be.PutUint16(b[51:], uint16(epoch))
	be.PutUint32(b[53:], uint32(seq))
	be.PutUint32(b[57:], uint32(len(values)))
	be.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

// Batch is Build for the common case: records with the given values, the
// first at timestamp ts.
func Batch(ts int64, values ...[]byte) []byte {
	return Build(Spec{Timestamp: ts, Values: values, LeaderEpoch: -1})
}

// Sized returns a batch of records records whose total size is close to
// size bytes (at least the minimum for that many records), at timestamp ts.
func Sized(records, size int, ts int64) []byte {
	records = max(records, 1)
	per := max((size-61)/records-8, 0)
	values := make([][]byte, records)
	for i := range values {
		v := make([]byte, per)
		for j := range v {
			v[j] = byte(i + j)
		}
		values[i] = v
	}
	return Batch(ts, values...)
}
