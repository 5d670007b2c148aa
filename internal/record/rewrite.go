package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Rec is one record with absolute offset and timestamp, as log compaction
// sees it and as AppendBatch encodes it. A nil Key is a null key; a nil
// Value is a tombstone.
type Rec struct {
	Offset     int64
	Timestamp  int64
	Attributes int8
	Key        []byte
	Value      []byte
	Headers    []kmsg.Header
}

// KeepFunc decides whether compaction keeps a record. The record's slices
// are only valid during the call.
type KeepFunc func(r *Rec) bool

// Rewriter drops records from batches and re-encodes what remains, for log
// compaction. A rewritten batch keeps the original's offsets (its base
// offset becomes the first kept record's, and offset deltas are relative to
// it, so lastOffsetDelta may exceed the record count: Validate accepts
// that, ValidateProduced does not), leader epoch, attributes (codec,
// timestamp type, transactional bit), producer id, epoch and base sequence.
// Its base timestamp is the first kept record's timestamp; its max
// timestamp is the largest kept record timestamp, or the original for
// LogAppendTime batches (whose records' own timestamps are not used). The
// records are compressed again with the batch's codec.
//
// A Rewriter reuses buffers and is not safe for concurrent use.
type Rewriter struct {
	dec   *Decoder
	comps [CodecZstd + 1]kgo.Compressor
	recs  []Rec
	body  []byte
	plain []byte // decompressed records of the batch being filtered
	zbuf  bytes.Buffer
}

// NewRewriter returns a Rewriter for every Kafka codec.
func NewRewriter() *Rewriter { return NewRewriterWith(nil) }

// NewRewriterWith is NewRewriter decoding with dec (nil: NewDecoder), whose
// limit bounds a batch's decompressed size.
func NewRewriterWith(dec *Decoder) *Rewriter {
	if dec == nil {
		dec = NewDecoder()
	}
	return &Rewriter{dec: dec}
}

// FilterResult says what Filter did with a batch.
type FilterResult struct {
	Records int // records in the input batch
	Kept    int // records kept
}

// Filter appends to dst the part of the complete batch that keep accepts:
// the batch unchanged (byte for byte) if every record is kept, nothing if
// none is (or the batch is empty), or else a re-encoded batch of the kept
// records. Control batches
// must not be passed (their records are not key/value data). The batch's
// CRC is not checked here; callers validate first.
func (w *Rewriter) Filter(dst, batch []byte, keep KeepFunc) ([]byte, FilterResult, error) {
	var res FilterResult
	h, err := ParseHeader(batch)
	if err != nil {
		return dst, res, err
	}
	if len(batch) < h.Size() {
		return dst, res, ErrTruncated
	}
	// Kept records must outlive the walk, so the records are decompressed
	// whole (bounded by the Decoder's limit) into a reused buffer.
	w.plain, err = w.dec.Decompress(w.plain[:0], batch)
	if err != nil {
		return dst, res, err
	}
	w.recs = w.recs[:0]
	it := iter{mem: w.plain}
	var f fields
	for i := int32(0); i < h.NumRecords; i++ {
		body, err := it.next(i)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return dst, res, err
		}
		if err := parseRecord(body, &f); err != nil {
			return dst, res, recordError(i, err)
		}
		r := Rec{
			Offset:     h.BaseOffset + int64(f.offDelta),
			Timestamp:  h.BaseTimestamp + f.tsDelta,
			Attributes: f.attrs,
			Key:        f.key,
			Value:      f.value,
		}
		if f.nHeaders > 0 {
			r.Headers = f.appendHeaders(nil)
		}
		res.Records++
		if keep(&r) {
			w.recs = append(w.recs, r)
		}
	}
	if res.Records != int(h.NumRecords) {
		return dst, res, fmt.Errorf("%w: batch claims %d records, holds %d", ErrInvalid, h.NumRecords, res.Records)
	}
	res.Kept = len(w.recs)
	switch res.Kept {
	case 0: // an empty input batch included
		return dst, res, nil
	case res.Records:
		return append(dst, batch[:h.Size()]...), res, nil
	}
	out, err := w.AppendBatch(dst, h, w.recs)
	return out, res, err
}

// AppendBatch encodes recs (at least one, in offset order) as one batch
// and appends it to dst. From tmpl it takes the leader epoch, attributes
// (and so the codec), producer id, producer epoch and base sequence; the
// offsets, timestamps and counts come from recs, except that a
// LogAppendTime template keeps its max timestamp (the append time).
func (w *Rewriter) AppendBatch(dst []byte, tmpl Header, recs []Rec) ([]byte, error) {
	if len(recs) == 0 {
		return dst, fmt.Errorf("%w: a batch needs at least one record", ErrInvalid)
	}
	base, baseTS := recs[0].Offset, recs[0].Timestamp
	maxTS := baseTS
	body := w.body[:0]
	var rec []byte
	for i := range recs {
		r := &recs[i]
		if r.Offset < base || (i > 0 && r.Offset <= recs[i-1].Offset) || r.Offset-base > 1<<31-1 {
			return dst, fmt.Errorf("%w: record offsets out of order", ErrInvalid)
		}
		maxTS = max(maxTS, r.Timestamp)
		rec = appendRecordBody(rec[:0], r, base, baseTS)
		body = binary.AppendVarint(body, int64(len(rec)))
		body = append(body, rec...)
	}
	w.body = body
	if tmpl.LogAppendTime() {
		maxTS = tmpl.MaxTimestamp
	}
	if c := tmpl.Codec(); c != CodecNone {
		z, err := w.compress(c, body)
		if err != nil {
			return dst, err
		}
		body = z
	}

	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	dst = append(dst, body...)
	b := dst[start:]
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(base))
	be.PutUint32(b[8:], uint32(len(b)-lengthFieldEnd))
	be.PutUint32(b[12:], uint32(tmpl.PartitionLeaderEpoch))
	b[16] = 2
	be.PutUint16(b[21:], uint16(tmpl.Attributes))
	be.PutUint32(b[23:], uint32(recs[len(recs)-1].Offset-base))
	be.PutUint64(b[27:], uint64(baseTS))
	be.PutUint64(b[35:], uint64(maxTS))
	be.PutUint64(b[43:], uint64(tmpl.ProducerID))
	be.PutUint16(b[51:], uint16(tmpl.ProducerEpoch))
	be.PutUint32(b[53:], uint32(tmpl.BaseSequence))
	be.PutUint32(b[57:], uint32(len(recs)))
	fixCRC(b)
	return dst, nil
}

// appendRecordBody encodes a record without its length prefix.
func appendRecordBody(dst []byte, r *Rec, base, baseTS int64) []byte {
	dst = append(dst, byte(r.Attributes))
	dst = binary.AppendVarint(dst, r.Timestamp-baseTS)
	dst = binary.AppendVarint(dst, r.Offset-base)
	dst = appendVarBytes(dst, r.Key)
	dst = appendVarBytes(dst, r.Value)
	dst = binary.AppendVarint(dst, int64(len(r.Headers)))
	for _, hd := range r.Headers {
		dst = binary.AppendVarint(dst, int64(len(hd.Key)))
		dst = append(dst, hd.Key...)
		dst = appendVarBytes(dst, hd.Value)
	}
	return dst
}

// compress compresses records with codec c. The result is valid until the
// next call.
func (w *Rewriter) compress(c Codec, body []byte) ([]byte, error) {
	if c > CodecZstd {
		return nil, fmt.Errorf("%w: unknown compression codec %d", ErrInvalid, c)
	}
	if w.comps[c] == nil {
		comp, err := kgo.DefaultCompressor(c.kgoCodec())
		if err != nil || comp == nil {
			return nil, fmt.Errorf("%w: no %s compressor: %w", ErrInvalid, c, err)
		}
		w.comps[c] = comp
	}
	w.zbuf.Reset()
	out, used := w.comps[c].Compress(&w.zbuf, body)
	if int8(used) != int8(c) {
		return nil, fmt.Errorf("%w: compressing with %s failed", ErrInvalid, c)
	}
	return out, nil
}

// fixCRC recomputes the CRC of a complete batch.
func fixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[crcStart:], castagnoli))
}

// kgoCodec is franz-go's name for codec c, whose compressor the broker uses
// wherever it compresses (the cleaner, and tests that build batches).
func (c Codec) kgoCodec() kgo.CompressionCodec {
	switch c {
	case CodecGzip:
		return kgo.GzipCompression()
	case CodecSnappy:
		return kgo.SnappyCompression()
	case CodecLZ4:
		return kgo.Lz4Compression()
	case CodecZstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}
