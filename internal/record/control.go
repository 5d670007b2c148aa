package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Transaction markers (KIP-98). A marker is a control batch (attributes
// transactional + control) holding one record whose key is
//
//	int16 version (0), int16 type (0 abort, 1 commit)
//
// and whose value is
//
//	int16 version (0), int32 coordinator epoch
//
// The broker writes markers itself, when the transaction coordinator ends a
// transaction; producers may not send control batches.

// Control record types (the key's type field).
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// ErrNotMarker means a control batch does not hold a transaction marker
// this broker can read (no record, an unknown key version, compressed).
var ErrNotMarker = errors.New("control batch is not a readable transaction marker")

// Marker is a decoded transaction marker.
type Marker struct {
	Commit           bool
	CoordinatorEpoch int32
}

// BuildMarker encodes the control batch that ends producerID's transaction:
// base offset 0 (the log assigns it), base sequence -1, timestamp ts (ms).
func BuildMarker(producerID int64, epoch int16, commit bool, coordinatorEpoch int32, ts int64) []byte {
	key := make([]byte, 4)
	if commit {
		binary.BigEndian.PutUint16(key[2:], uint16(ControlCommit))
	}
	value := make([]byte, 6)
	binary.BigEndian.PutUint32(value[2:], uint32(coordinatorEpoch))
	b := NewBuilder(ts)
	b.Add(key, value)
	out := b.Build()
	binary.BigEndian.PutUint16(out[21:], attrTransactional|attrControl)
	binary.BigEndian.PutUint64(out[43:], uint64(producerID))
	binary.BigEndian.PutUint16(out[51:], uint16(epoch))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[crcStart:], castagnoli))
	return out
}

// ParseMarker reads the marker in a control batch (already validated, h
// its header). Kafka writes markers uncompressed, and so does this broker;
// anything else is ErrNotMarker.
func ParseMarker(batch []byte, h *Header) (Marker, error) {
	if !h.Control() || h.Codec() != CodecNone || h.NumRecords < 1 || len(batch) < h.Size() {
		return Marker{}, ErrNotMarker
	}
	b := batch[HeaderSize:h.Size()]
	// length, attributes, timestampDelta, offsetDelta, then the key.
	if _, n := binary.Varint(b); n > 0 {
		b = b[n:]
	} else {
		return Marker{}, ErrNotMarker
	}
	if len(b) < 1 {
		return Marker{}, ErrNotMarker
	}
	b = b[1:]
	for range 2 {
		_, n := binary.Varint(b)
		if n <= 0 {
			return Marker{}, ErrNotMarker
		}
		b = b[n:]
	}
	key, b, ok := markerBytes(b)
	if !ok || len(key) < 4 || binary.BigEndian.Uint16(key) != 0 {
		return Marker{}, fmt.Errorf("%w: bad key", ErrNotMarker)
	}
	var m Marker
	switch int16(binary.BigEndian.Uint16(key[2:])) {
	case ControlCommit:
		m.Commit = true
	case ControlAbort:
	default:
		return Marker{}, fmt.Errorf("%w: control type %d", ErrNotMarker, int16(binary.BigEndian.Uint16(key[2:])))
	}
	if value, _, ok := markerBytes(b); ok && len(value) >= 6 {
		m.CoordinatorEpoch = int32(binary.BigEndian.Uint32(value[2:]))
	}
	return m, nil
}

// markerBytes reads a varint-length-prefixed byte string (nil for -1).
func markerBytes(b []byte) (v, rest []byte, ok bool) {
	l, n := binary.Varint(b)
	if n <= 0 || l < -1 || l > int64(len(b)-n) {
		return nil, b, false
	}
	b = b[n:]
	if l < 0 {
		return nil, b, true
	}
	return b[:l], b[l:], true
}
