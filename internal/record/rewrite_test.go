package record

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// template is a batch header as a producer would send it.
func template(codec Codec) Header {
	return Header{PartitionLeaderEpoch: 7, Attributes: int16(codec), ProducerID: 42, ProducerEpoch: 3, BaseSequence: 100}
}

func sampleRecs(base int64) []Rec {
	return []Rec{
		{Offset: base, Timestamp: 1000, Key: []byte("a"), Value: []byte("v1"),
			Headers: []kmsg.Header{{Key: "h1", Value: []byte("x")}, {Key: "h2", Value: nil}}},
		{Offset: base + 1, Timestamp: 990, Key: []byte("b"), Value: nil}, // tombstone, earlier timestamp
		{Offset: base + 2, Timestamp: 1005, Key: nil, Value: []byte{}},   // null key, empty value
		{Offset: base + 3, Timestamp: 1002, Key: []byte("a"), Value: bytes.Repeat([]byte("z"), 500)},
	}
}

// decodeAll returns the records of a batch with absolute offsets and
// timestamps.
func decodeAll(t *testing.T, b []byte) []Rec {
	t.Helper()
	h, err := Validate(b)
	if err != nil {
		t.Fatalf("batch invalid: %v", err)
	}
	var out []Rec
	err = NewDecoder().Records(b, func(r *kmsg.Record) bool {
		out = append(out, Rec{Offset: h.BaseOffset + int64(r.OffsetDelta), Timestamp: h.BaseTimestamp + r.TimestampDelta64,
			Attributes: r.Attributes, Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value), Headers: r.Headers})
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != int(h.NumRecords) {
		t.Fatalf("decoded %d records, header says %d", len(out), h.NumRecords)
	}
	return out
}

func sameRecs(t *testing.T, got, want []Rec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Offset != w.Offset || g.Timestamp != w.Timestamp || !bytes.Equal(g.Key, w.Key) || (g.Key == nil) != (w.Key == nil) ||
			!bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) || fmt.Sprint(g.Headers) != fmt.Sprint(w.Headers) {
			t.Fatalf("record %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestAppendBatchRoundTripAllCodecs(t *testing.T) {
	for _, codec := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			w := NewRewriter()
			recs := sampleRecs(500)
			prefix := []byte("prefix")
			out, err := w.AppendBatch(bytes.Clone(prefix), template(codec), recs)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out[:len(prefix)], prefix) {
				t.Fatal("AppendBatch overwrote dst")
			}
			b := out[len(prefix):]
			h, err := ValidateProduced(b)
			if err != nil {
				t.Fatalf("batch with consecutive offsets should pass producer validation: %v", err)
			}
			if h.BaseOffset != 500 || h.LastOffset() != 503 || h.Codec() != codec || h.BaseTimestamp != 1000 || h.MaxTimestamp != 1005 ||
				h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != 100 || h.PartitionLeaderEpoch != 7 {
				t.Fatalf("header %+v", h)
			}
			sameRecs(t, decodeAll(t, b), recs)
		})
	}
}

func TestFilterKeepsOffsetsAndProducerFields(t *testing.T) {
	for _, codec := range []Codec{CodecNone, CodecZstd, CodecLZ4} {
		t.Run(codec.String(), func(t *testing.T) {
			w := NewRewriter()
			recs := sampleRecs(1000)
			batch, err := w.AppendBatch(nil, template(codec), recs)
			if err != nil {
				t.Fatal(err)
			}
			// Keep records 1 and 3: the base moves to 1001 and the last
			// offset delta (2) exceeds the count (2) - 1.
			out, res, err := w.Filter([]byte("x"), batch, func(r *Rec) bool { return r.Offset == 1001 || r.Offset == 1003 })
			if err != nil {
				t.Fatal(err)
			}
			if res.Records != 4 || res.Kept != 2 {
				t.Fatalf("result %+v", res)
			}
			b := out[1:]
			h, err := Validate(b)
			if err != nil {
				t.Fatalf("filtered batch invalid: %v", err)
			}
			if _, err := ValidateProduced(b); !errors.Is(err, ErrInvalid) {
				t.Fatalf("a batch with an offset gap passed producer validation: %v", err)
			}
			if h.BaseOffset != 1001 || h.LastOffset() != 1003 || h.NumRecords != 2 || h.Codec() != codec ||
				h.BaseTimestamp != 990 || h.MaxTimestamp != 1002 ||
				h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != 100 || h.PartitionLeaderEpoch != 7 {
				t.Fatalf("header %+v", h)
			}
			sameRecs(t, decodeAll(t, b), []Rec{recs[1], recs[3]})
		})
	}
}

func TestFilterAllOrNothing(t *testing.T) {
	w := NewRewriter()
	batch, err := w.AppendBatch(nil, template(CodecGzip), sampleRecs(0))
	if err != nil {
		t.Fatal(err)
	}
	out, res, err := w.Filter(nil, batch, func(*Rec) bool { return true })
	if err != nil || res.Kept != 4 || !bytes.Equal(out, batch) {
		t.Fatalf("keeping everything must return the batch unchanged: %+v %v", res, err)
	}
	out, res, err = w.Filter([]byte("keep"), batch, func(*Rec) bool { return false })
	if err != nil || res.Kept != 0 || string(out) != "keep" {
		t.Fatalf("dropping everything must append nothing: %q %+v %v", out, res, err)
	}
}

func TestFilterDropsEmptyBatch(t *testing.T) {
	w := NewRewriter()
	b, err := w.AppendBatch(nil, template(CodecNone), sampleRecs(10)[:1])
	if err != nil {
		t.Fatal(err)
	}
	// Make it an (unusual but valid) empty batch.
	b = b[:HeaderSize]
	putLen(b)
	b[57], b[58], b[59], b[60] = 0, 0, 0, 0
	fixCRC(b)
	if _, err := Validate(b); err != nil {
		t.Fatal(err)
	}
	out, res, err := w.Filter(nil, b, func(*Rec) bool { return true })
	if err != nil || len(out) != 0 || res.Records != 0 {
		t.Fatalf("empty batch kept: %d bytes, %+v, %v", len(out), res, err)
	}
}

func putLen(b []byte) {
	n := uint32(len(b) - lengthFieldEnd)
	b[8], b[9], b[10], b[11] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

func TestFilterLogAppendTimeKeepsMaxTimestamp(t *testing.T) {
	w := NewRewriter()
	tmpl := template(CodecNone)
	tmpl.Attributes |= attrLogAppendTime
	tmpl.MaxTimestamp = 777777
	batch, err := w.AppendBatch(nil, tmpl, sampleRecs(0))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := w.Filter(nil, batch, func(r *Rec) bool { return r.Offset != 0 })
	if err != nil {
		t.Fatal(err)
	}
	h, err := Validate(out)
	if err != nil {
		t.Fatal(err)
	}
	if !h.LogAppendTime() || h.MaxTimestamp != 777777 {
		t.Fatalf("LogAppendTime batch lost its append time: %+v", h)
	}
}

func TestFilterRejectsBadBatches(t *testing.T) {
	w := NewRewriter()
	batch, err := w.AppendBatch(nil, template(CodecNone), sampleRecs(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Filter(nil, batch[:len(batch)-3], func(*Rec) bool { return true }); !errors.Is(err, ErrTruncated) {
		t.Fatalf("truncated batch: %v", err)
	}
	lying := bytes.Clone(batch)
	lying[60]++ // one record more than present
	if _, _, err := w.Filter(nil, lying, func(*Rec) bool { return true }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("record count mismatch: %v", err)
	}
	if _, err := w.AppendBatch(nil, template(CodecNone), nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty AppendBatch: %v", err)
	}
	bad := sampleRecs(0)
	bad[2].Offset = 0
	if _, err := w.AppendBatch(nil, template(CodecNone), bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unordered offsets: %v", err)
	}
}
