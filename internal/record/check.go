package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	// ErrInvalidRecord means a record inside a batch is malformed: its
	// framing overruns, a varint is bad, the record count or offset
	// deltas disagree with the records, or compressed data does not
	// decompress. Kafka answers INVALID_RECORD for these.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrInvalidTimestamp means a CreateTime record's timestamp is outside
	// the topic's message.timestamp.before/after.max.ms window.
	ErrInvalidTimestamp = errors.New("record timestamp out of range")
	// ErrNullKey means a record has no key where Rules.RequireKeys asks
	// for one (compacted topics).
	ErrNullKey = errors.New("record has a null key")
)

// fields is one parsed record. The slices alias the record's bytes.
type fields struct {
	attrs      int8
	tsDelta    int64
	offDelta   int32
	key, value []byte // nil when null
	nHeaders   int
	headers    []byte // the encoded headers, already checked
}

// Errors of parseRecord, wrapped by recordError with the record's index.
var (
	errShort       = errors.New("ends before its fields")
	errVarint      = errors.New("bad varint")
	errOffsetDelta = errors.New("offset delta out of int32 range")
	errKeyLength   = errors.New("key length out of range")
	errValueLength = errors.New("value length out of range")
	errHeaderCount = errors.New("header count out of range")
	errHeaderKey   = errors.New("header key length out of range")
	errHeaderValue = errors.New("header value length out of range")
	errTrailing    = errors.New("has bytes after its headers")
)

func recordError(i int32, err error) error {
	return fmt.Errorf("%w: record %d %w", ErrInvalidRecord, i, err)
}

// varint reads a zig-zag varint at b[p:] and returns it with the position
// after it, or p = -1 if it is malformed. One-byte varints, the common case
// for deltas and short lengths, skip binary.Varint's loop.
func varint(b []byte, p int) (int64, int) {
	if v, ok := varint1(b, p); ok {
		return v, p + 1
	}
	return varintSlow(b, p)
}

// varint1 decodes a one-byte varint at b[p], if that is what is there. It
// inlines, so the record walk's common case makes no call.
func varint1(b []byte, p int) (int64, bool) {
	if p < len(b) && b[p] < 0x80 {
		return int64(b[p]>>1) ^ -int64(b[p]&1), true
	}
	return 0, false
}

// varintSlow is varint past varint1: b[p] is missing or has its
// continuation bit. Two bytes (lengths up to 8 KiB) are decoded inline.
func varintSlow(b []byte, p int) (int64, int) {
	if p >= 0 && p+1 < len(b) && b[p+1] < 0x80 {
		u := uint64(b[p]&0x7f) | uint64(b[p+1])<<7
		return int64(u>>1) ^ -int64(u&1), p + 2
	}
	if uint(p) > uint(len(b)) {
		return 0, -1
	}
	v, n := binary.Varint(b[p:])
	if n <= 0 {
		return 0, -1
	}
	return v, p + n
}

// varBytes reads a length-prefixed byte string at b[p:]; -1 is null when
// nullable. It returns p = -1 if the string is malformed.
func varBytes(b []byte, p int, nullable bool) ([]byte, int) {
	l, ok := varint1(b, p)
	if ok {
		p++
	} else {
		l, p = varintSlow(b, p)
	}
	if p < 0 || l < -1 || (l == -1 && !nullable) || l > int64(len(b)-p) {
		return nil, -1
	}
	if l == -1 {
		return nil, p
	}
	end := p + int(l)
	return b[p:end:end], end
}

// parseRecord checks and reads one record body (the bytes after its
// length): every field must lie within the record, and the record must
// end exactly after its headers, as Kafka's DefaultRecord requires. It
// does not allocate.
func parseRecord(b []byte, f *fields) error {
	if len(b) < 1 {
		return errShort
	}
	f.attrs = int8(b[0])
	pos := 1
	// The one-byte varint cases are spelled out: this runs per record on
	// every produce.
	var ok bool
	if f.tsDelta, ok = varint1(b, pos); ok {
		pos++
	} else if f.tsDelta, pos = varintSlow(b, pos); pos < 0 {
		return errVarint
	}
	od, ok := varint1(b, pos)
	if ok {
		pos++
	} else if od, pos = varintSlow(b, pos); pos < 0 {
		return errVarint
	}
	if od < math.MinInt32 || od > math.MaxInt32 {
		return errOffsetDelta
	}
	f.offDelta = int32(od)
	if f.key, pos = varBytes(b, pos, true); pos < 0 {
		return errKeyLength
	}
	if f.value, pos = varBytes(b, pos, true); pos < 0 {
		return errValueLength
	}
	n, ok := varint1(b, pos)
	if ok {
		pos++
	} else if n, pos = varintSlow(b, pos); pos < 0 {
		return errHeaderCount
	}
	// A header takes at least two bytes (two one-byte lengths).
	if n < 0 || n > int64(len(b)-pos)/2 {
		return errHeaderCount
	}
	f.nHeaders = int(n)
	start := pos
	for range f.nHeaders {
		if _, pos = varBytes(b, pos, false); pos < 0 {
			return errHeaderKey
		}
		if _, pos = varBytes(b, pos, true); pos < 0 {
			return errHeaderValue
		}
	}
	f.headers = b[start:pos]
	if pos != len(b) {
		return errTrailing
	}
	return nil
}

// appendHeaders decodes the checked headers onto dst.
func (f *fields) appendHeaders(dst []kmsg.Header) []kmsg.Header {
	pos := 0
	for range f.nHeaders {
		var k, v []byte
		k, pos = varBytes(f.headers, pos, false)
		v, pos = varBytes(f.headers, pos, true)
		dst = append(dst, kmsg.Header{Key: string(k), Value: v})
	}
	return dst
}

// Rules are the per-record produce rules beyond framing.
type Rules struct {
	// RequireKeys refuses records with a null key (compacted topics).
	RequireKeys bool
	// CheckTimestamps enforces MinTimestamp <= timestamp <= MaxTimestamp
	// on every record (base timestamp plus delta), except records
	// carrying no timestamp (-1), as Kafka's LogValidator does for
	// CreateTime topics. LogAppendTime topics leave it off.
	CheckTimestamps            bool
	MinTimestamp, MaxTimestamp int64
}

// TimestampWindow is the [now-before, now+after] window of KIP-937
// (message.timestamp.before.max.ms and .after.max.ms), saturating
// instead of overflowing for Kafka's Long.MAX_VALUE defaults.
func TimestampWindow(now, before, after int64) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if before >= 0 && now-before <= now {
		lo = now - before
	}
	if after >= 0 && now+after >= now {
		hi = now + after
	}
	return lo, hi
}

// ValidateProduced is the package-level ValidateProduced (header, counts,
// CRC) followed by CheckRecords: what a producer's batch must pass.
func (d *Decoder) ValidateProduced(b []byte, rules Rules) (Header, error) {
	h, err := ValidateProduced(b)
	if err != nil {
		return h, err
	}
	return h, d.CheckRecords(b, h, rules)
}

// CheckRecords walks every record of a batch that passed ValidateProduced
// and checks its framing (see parseRecord), that there are exactly
// h.NumRecords records with offset deltas 0..n-1 in order and nothing
// after them, and the rules. Uncompressed batches are walked in place
// without allocating; compressed ones stream through the bounded
// decompressor, so a batch expanding past the limit fails with
// ErrTooLarge without the expansion being held. Failures name the record.
func (d *Decoder) CheckRecords(b []byte, h Header, rules Rules) error {
	it, err := d.open(b, &h)
	if err != nil {
		return err
	}
	defer it.close()
	var f fields
	for i := int32(0); i < h.NumRecords; i++ {
		if err := it.recordFields(i, &f); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: batch claims %d records but holds %d", ErrInvalidRecord, h.NumRecords, i)
			}
			return err
		}
		if f.offDelta != i {
			return fmt.Errorf("%w: record %d has offset delta %d, want %d", ErrInvalidRecord, i, f.offDelta, i)
		}
		if rules.RequireKeys && f.key == nil {
			return fmt.Errorf("%w: record %d: compacted topics require a key on every record", ErrNullKey, i)
		}
		if rules.CheckTimestamps {
			ts := h.BaseTimestamp + f.tsDelta
			overflow := (f.tsDelta > 0 && ts < h.BaseTimestamp) || (f.tsDelta < 0 && ts > h.BaseTimestamp)
			if overflow || (ts != -1 && (ts < rules.MinTimestamp || ts > rules.MaxTimestamp)) {
				return fmt.Errorf("%w: record %d (offset delta %d) has timestamp %d, outside [%d, %d]",
					ErrInvalidTimestamp, i, f.offDelta, ts, rules.MinTimestamp, rules.MaxTimestamp)
			}
		}
	}
	end, err := it.atEnd()
	if err != nil {
		return err
	}
	if !end {
		return fmt.Errorf("%w: bytes after the batch's %d records", ErrInvalidRecord, h.NumRecords)
	}
	return nil
}
