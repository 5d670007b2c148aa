package record

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestBuilderRoundTrip(t *testing.T) {
	type kv struct{ key, value []byte }
	in := []kv{
		{[]byte("k1"), []byte("v1")},
		{[]byte("k2"), nil}, // tombstone
		{nil, []byte{}},     // null key, empty (not null) value
		{[]byte("k4"), bytes.Repeat([]byte("x"), 300)},
	}
	b := NewBuilder(1234)
	for _, r := range in {
		b.Add(r.key, r.value)
	}
	if b.Len() != len(in) {
		t.Fatalf("Len = %d", b.Len())
	}
	batch := b.Build()

	// A producer's rules are the strictest the partition applies.
	h, err := ValidateProduced(batch)
	if err != nil {
		t.Fatalf("built batch rejected: %v", err)
	}
	if h.Size() != len(batch) || h.NumRecords != int32(len(in)) || h.BaseTimestamp != 1234 || h.MaxTimestamp != 1234 {
		t.Fatalf("header = %+v", h)
	}
	if h.ProducerID != -1 || h.ProducerEpoch != -1 || h.BaseSequence != -1 || h.PartitionLeaderEpoch != -1 {
		t.Fatalf("producer fields = %+v", h)
	}
	if h.Transactional() || h.Control() || h.Codec() != CodecNone {
		t.Fatalf("attributes = %#x", h.Attributes)
	}

	var got []kmsg.Record
	err = NewDecoder().Records(batch, func(r *kmsg.Record) bool {
		got = append(got, *r)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("decoded %d records, want %d", len(got), len(in))
	}
	for i, r := range got {
		if int(r.OffsetDelta) != i || r.TimestampDelta64 != 0 {
			t.Errorf("record %d: offsetDelta %d timestampDelta %d", i, r.OffsetDelta, r.TimestampDelta64)
		}
		if !bytes.Equal(r.Key, in[i].key) || (r.Key == nil) != (in[i].key == nil) {
			t.Errorf("record %d key = %q, want %q", i, r.Key, in[i].key)
		}
		if !bytes.Equal(r.Value, in[i].value) || (r.Value == nil) != (in[i].value == nil) {
			t.Errorf("record %d value = %q (nil %v), want %q (nil %v)", i, r.Value, r.Value == nil, in[i].value, in[i].value == nil)
		}
	}
}

func TestBuilderEmpty(t *testing.T) {
	if b := NewBuilder(0).Build(); b != nil {
		t.Fatalf("empty builder built %d bytes", len(b))
	}
}

func TestBuilderCorruptionDetected(t *testing.T) {
	b := NewBuilder(1)
	b.Add([]byte("k"), []byte("v"))
	batch := b.Build()
	batch[len(batch)-2] ^= 0xff
	if _, err := Validate(batch); err == nil {
		t.Fatal("flipped byte not detected")
	}
}
