package record

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Decoder decodes the individual records of a batch. Only features that need
// per-record data use it (timestamp lookups, compaction); the produce and
// fetch paths never do. A Decoder is safe for concurrent use.
type Decoder struct {
	decompressor kgo.Decompressor
}

// NewDecoder returns a Decoder for every Kafka compression codec.
func NewDecoder() *Decoder {
	return &Decoder{decompressor: kgo.DefaultDecompressor()}
}

// Records calls fn for each record of a complete batch, in order, until fn
// returns false. Offsets and timestamps in the records are deltas; add the
// header's BaseOffset and BaseTimestamp for absolute values.
func (d *Decoder) Records(batch []byte, fn func(r *kmsg.Record) bool) error {
	h, err := ParseHeader(batch)
	if err != nil {
		return err
	}
	if len(batch) < h.Size() {
		return ErrTruncated
	}
	body := batch[HeaderSize:h.Size()]
	if c := h.Codec(); c != CodecNone {
		body, err = d.decompressor.Decompress(body, kgo.CompressionCodecType(c))
		if err != nil {
			return fmt.Errorf("%w: decompressing %s records: %w", ErrInvalid, h.Codec(), err)
		}
	}
	var r kmsg.Record
	for i := int32(0); i < h.NumRecords && len(body) > 0; i++ {
		length, n := binary.Varint(body)
		if n <= 0 || length < 0 || int64(len(body)-n) < length {
			return fmt.Errorf("%w: record %d length", ErrInvalid, i)
		}
		size := n + int(length)
		r = kmsg.Record{}
		if err := r.ReadFrom(body[:size]); err != nil {
			return fmt.Errorf("%w: record %d: %w", ErrInvalid, i, err)
		}
		body = body[size:]
		if !fn(&r) {
			return nil
		}
	}
	return nil
}
