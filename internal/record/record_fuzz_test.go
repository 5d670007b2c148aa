package record

import (
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
