package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// buildBatch encodes a valid uncompressed v2 batch with n records.
func buildBatch(n int, value string) []byte {
	var recs []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Key: []byte("k"), Value: []byte(value)}
		body := r.AppendTo(nil)
		// AppendTo writes the Length field as given; rebuild with the real length.
		r.Length = int32(len(body) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: 1000, MaxTimestamp: 1000 + int64(n-1),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: recs,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], castagnoli))
	return raw
}

func TestValidateRoundTrip(t *testing.T) {
	b := buildBatch(3, "hello")
	h, err := ValidateProduced(b)
	if err != nil {
		t.Fatalf("valid batch rejected: %v", err)
	}
	if h.NumRecords != 3 || h.Size() != len(b) || h.MaxTimestamp != 1002 {
		t.Fatalf("header = %+v", h)
	}
	SetBaseOffset(b, 42)
	SetPartitionLeaderEpoch(b, 7)
	h, err = Validate(b)
	if err != nil || h.BaseOffset != 42 || h.PartitionLeaderEpoch != 7 || h.LastOffset() != 44 {
		t.Fatalf("after rewrite: %+v %v", h, err)
	}
	SetLogAppendTime(b, 99)
	h, err = Validate(b)
	if err != nil || !h.LogAppendTime() || h.MaxTimestamp != 99 {
		t.Fatalf("after log append time: %+v %v", h, err)
	}
	var values []string
	if err := NewDecoder().Records(b, func(r *kmsg.Record) bool { values = append(values, string(r.Value)); return true }); err != nil {
		t.Fatal(err)
	}
	if len(values) != 3 || values[2] != "hello" {
		t.Fatalf("records = %q", values)
	}
}

func TestValidateRejects(t *testing.T) {
	good := buildBatch(2, "v")
	cases := map[string]struct {
		mutate func([]byte) []byte
		want   error
	}{
		"truncated":    {func(b []byte) []byte { return b[:len(b)-1] }, ErrTruncated},
		"short header": {func(b []byte) []byte { return b[:20] }, ErrTruncated},
		"bad crc":      {func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, ErrCorrupt},
		"magic 1":      {func(b []byte) []byte { b[16] = 1; return b }, ErrUnsupportedMagic},
		"tiny length":  {func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 3); return b }, ErrInvalid},
		"count mismatch": {func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[57:], 5)
			binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
			return b
		}, ErrInvalid},
		"bad codec": {func(b []byte) []byte {
			b[22] |= 7
			binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
			return b
		}, ErrInvalid},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := tc.mutate(append([]byte(nil), good...))
			if _, err := ValidateProduced(b); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestBatchesStopsAtTornTail(t *testing.T) {
	a, b := buildBatch(1, "a"), buildBatch(2, "b")
	log := append(append(append([]byte(nil), a...), b...), b[:30]...)
	var n int
	valid, err := Batches(log, func(Header, []byte) error { n++; return nil })
	if !errors.Is(err, ErrTruncated) || valid != len(a)+len(b) || n != 2 {
		t.Fatalf("valid=%d n=%d err=%v", valid, n, err)
	}
}

// FuzzValidate checks that no input makes the validator or record decoder
// panic, and that anything accepted is self-consistent.
func FuzzValidate(f *testing.F) {
	f.Add(buildBatch(1, "x"))
	f.Add(buildBatch(4, "hello world"))
	f.Add([]byte{})
	f.Add(make([]byte, HeaderSize))
	dec := NewDecoder()
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ValidateProduced(b)
		if err != nil {
			return
		}
		if h.Size() > len(b) || h.Size() < HeaderSize {
			t.Fatalf("accepted batch with size %d of %d bytes", h.Size(), len(b))
		}
		_ = dec.Records(b, func(*kmsg.Record) bool { return true })
		if _, err := Batches(b[:h.Size()], nil); err != nil {
			t.Fatalf("Batches rejects what Validate accepted: %v", err)
		}
	})
}

// fuzzLimit keeps fuzzed decompression cheap; seeds expand past it.
const fuzzLimit = 64 << 10

// FuzzValidateProducedRecords runs the whole produce validation (header,
// CRC, every record, compressed or not) on batches built around fuzzed
// record bytes: the harness sets the CRC, so mutations reach the record
// walk instead of failing the checksum. With pack set, body is plain
// records the harness compresses with codec (valid streams of broken
// records); otherwise body is used as the batch's (compressed) bytes.
// Nothing may panic, and whatever is accepted must read back as exactly
// the records it claims, in order, through Records and the Rewriter.
// The seeds cover every codec, every broken framing case and small
// decompression bombs.
func FuzzValidateProducedRecords(f *testing.F) {
	records := goodRecords(5)
	for _, c := range allCodecs {
		f.Add(uint8(c), int32(5), true, records)
		f.Add(uint8(c), int32(5), false, compress(f, c, records))
	}
	f.Add(uint8(CodecSnappy), int32(5), false, xerial(records, 40))
	for _, tc := range brokenCases() {
		f.Add(uint8(CodecNone), tc.count, true, tc.records)
		f.Add(uint8(CodecZstd), tc.count, true, tc.records)
	}
	// Records larger than a stream chunk take the field-by-field path.
	large := append(framed(recBody(0, 0, []byte("k"), make([]byte, chunkSize+100), []byte("h"), []byte("v"))),
		framed(recBody(1, 1, []byte("k"), nil))...)
	f.Add(uint8(CodecZstd), int32(2), true, large)
	f.Add(uint8(CodecGzip), int32(2), true, large)
	var plain bytes.Buffer
	n := writeBombRecords(f, &plain, 4*fuzzLimit)
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		f.Add(uint8(c), n, false, compress(f, c, plain.Bytes()))
	}
	dec := NewDecoderLimit(fuzzLimit)
	rw := NewRewriterWith(dec)
	var comps compressors
	f.Fuzz(func(t *testing.T, codec uint8, count int32, pack bool, body []byte) {
		c := Codec(codec % 5)
		if pack {
			if len(body) > fuzzLimit {
				return
			}
			body = comps.compress(t, c, body)
		}
		b := rawBatch(c, 1000, count, count-1, body)
		h, err := dec.ValidateProduced(b, Rules{RequireKeys: true})
		if err != nil {
			return
		}
		var i int32
		err = dec.Records(b, func(r *kmsg.Record) bool {
			if r.OffsetDelta != i || r.Key == nil {
				t.Fatalf("record %d: offset delta %d, key %v", i, r.OffsetDelta, r.Key)
			}
			i++
			return true
		})
		if err != nil || i != h.NumRecords {
			t.Fatalf("Records read %d of %d: %v", i, h.NumRecords, err)
		}
		out, res, err := rw.Filter(nil, b, func(*Rec) bool { return true })
		if err != nil || res.Kept != int(h.NumRecords) || !bytes.Equal(out, b[:h.Size()]) {
			t.Fatalf("Filter keeping all: %+v %v", res, err)
		}
	})
}
