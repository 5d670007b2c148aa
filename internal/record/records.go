package record

import (
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Decoder reads the individual records of batches, decompressing in a
// bounded, streaming fashion.
//
// The limit rule: the decompressed record bytes of one batch (everything
// after the 61-byte header once decompressed) may be at most the
// Decoder's limit (the broker's message.max.decompressed.bytes). Past it
// every method fails with ErrTooLarge, having decompressed at most limit
// bytes plus one chunk. Memory per batch is the codec's window (zstd at
// most 8 MiB, lz4 at most its 4 MiB block, gzip 32 KiB, a snappy block at
// most the limit) plus the largest record, never the whole expansion.
// Uncompressed batches are read in place.
//
// A Decoder pools its decompressors and is safe for concurrent use.
type Decoder struct {
	c *codecs
}

// NewDecoder returns a Decoder with DefaultMaxDecompressedBytes.
func NewDecoder() *Decoder { return NewDecoderLimit(DefaultMaxDecompressedBytes) }

// NewDecoderLimit returns a Decoder that refuses batches whose records
// decompress to more than limit bytes (limit <= 0 means the default).
func NewDecoderLimit(limit int64) *Decoder {
	if limit <= 0 {
		limit = DefaultMaxDecompressedBytes
	}
	return &Decoder{c: &codecs{limit: limit, slots: make(chan struct{}, max(minStreams, 2*runtime.GOMAXPROCS(0)))}}
}

// Limit is the most decompressed record bytes a batch may have.
func (d *Decoder) Limit() int64 { return d.c.limit }

// iter yields the record bodies of one batch: from memory for
// uncompressed batches, from a bounded stream otherwise.
type iter struct {
	mem []byte  // remaining records of an uncompressed batch
	s   *stream // nil for uncompressed batches
}

func (d *Decoder) open(batch []byte, h *Header) (iter, error) {
	if len(batch) < h.Size() {
		return iter{}, ErrTruncated
	}
	body := batch[HeaderSize:h.Size()]
	if h.Codec() == CodecNone {
		return iter{mem: body}, nil
	}
	s, err := d.c.openStream(h.Codec(), body)
	return iter{s: s}, err
}

func (it *iter) close() {
	if it.s != nil {
		it.s.close()
		it.s = nil
	}
}

// next returns record i's body (without its length prefix), or io.EOF at
// a clean end of the records.
func (it *iter) next(i int32) ([]byte, error) {
	if it.s != nil {
		return it.s.record(i)
	}
	if len(it.mem) == 0 {
		return nil, io.EOF
	}
	length, n := varint(it.mem, 0)
	if n <= 0 || length < 0 {
		return nil, fmt.Errorf("%w: record %d: bad length varint", ErrInvalidRecord, i)
	}
	if length > int64(len(it.mem)-n) {
		return nil, fmt.Errorf("%w: record %d length %d overruns the batch (%d bytes left)", ErrInvalidRecord, i, length, len(it.mem)-n)
	}
	b := it.mem[n : n+int(length)]
	it.mem = it.mem[n+int(length):]
	return b, nil
}

// atEnd reports whether no record bytes remain.
func (it *iter) atEnd() (bool, error) {
	if it.s != nil {
		return it.s.atEnd()
	}
	return len(it.mem) == 0, nil
}

// Records calls fn for each record of a complete batch, in order, until fn
// returns false or the records end (at the header's record count or the
// end of the data, whichever comes first). Offsets and timestamps in the
// records are deltas; add the header's BaseOffset and BaseTimestamp for
// absolute values. For an uncompressed batch the record's slices alias
// batch; for a compressed one they are valid only during fn.
func (d *Decoder) Records(batch []byte, fn func(r *kmsg.Record) bool) error {
	h, err := ParseHeader(batch)
	if err != nil {
		return err
	}
	it, err := d.open(batch, &h)
	if err != nil {
		return err
	}
	defer it.close()
	var (
		f  fields
		r  kmsg.Record
		hs []kmsg.Header
	)
	for i := int32(0); i < h.NumRecords; i++ {
		body, err := it.next(i)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := parseRecord(body, &f); err != nil {
			return recordError(i, err)
		}
		hs = f.appendHeaders(hs[:0])
		r = kmsg.Record{
			Length: int32(len(body)), Attributes: f.attrs, TimestampDelta64: f.tsDelta,
			TimestampDelta: int32(f.tsDelta), OffsetDelta: f.offDelta, Key: f.key, Value: f.value,
		}
		if len(hs) > 0 {
			r.Headers = hs
		}
		if !fn(&r) {
			return nil
		}
	}
	return nil
}

// Decompress appends the decompressed records of a complete batch to dst:
// the record bytes themselves for an uncompressed batch. Like every
// Decoder method it stops at the limit with ErrTooLarge. Log compaction
// uses it for batches it may rewrite, which need all records at once.
func (d *Decoder) Decompress(dst, batch []byte) ([]byte, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return dst, err
	}
	if len(batch) < h.Size() {
		return dst, ErrTruncated
	}
	if h.Codec() == CodecNone {
		return append(dst, batch[HeaderSize:h.Size()]...), nil
	}
	s, err := d.c.openStream(h.Codec(), batch[HeaderSize:h.Size()])
	if err != nil {
		return dst, err
	}
	defer s.close()
	return s.readAll(dst)
}
