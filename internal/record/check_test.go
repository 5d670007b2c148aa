package record

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// xerial frames records the way the Java producer's snappy does.
func xerial(records []byte, block int) []byte {
	out := append([]byte(nil), xerialMagic...)
	out = append(out, 0, 0, 0, 1, 0, 0, 0, 1)
	for len(records) > 0 {
		n := min(block, len(records))
		enc := s2.EncodeSnappy(nil, records[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(enc)))
		out = append(out, enc...)
		records = records[n:]
	}
	return out
}

func TestCheckRecordsAcceptsEveryCodec(t *testing.T) {
	dec := NewDecoder()
	records := goodRecords(50)
	batches := map[string][]byte{"snappy-xerial": rawBatch(CodecSnappy, 1000, 50, 49, xerial(records, 100))}
	for _, c := range allCodecs {
		batches[c.String()] = batchOf(t, c, 1000, 50, records)
	}
	for name, b := range batches {
		t.Run(name, func(t *testing.T) {
			h, err := dec.ValidateProduced(b, Rules{RequireKeys: true})
			if err != nil {
				t.Fatal(err)
			}
			if h.NumRecords != 50 {
				t.Fatalf("header %+v", h)
			}
			var n int
			err = dec.Records(b, func(r *kmsg.Record) bool {
				if r.OffsetDelta != int32(n) || string(r.Key) != "k" || string(r.Value) != "value" ||
					len(r.Headers) != 1 || r.Headers[0].Key != "h" || string(r.Headers[0].Value) != "v" {
					t.Fatalf("record %d = %+v", n, r)
				}
				n++
				return true
			})
			if err != nil || n != 50 {
				t.Fatalf("Records: %d records, %v", n, err)
			}
			plain, err := dec.Decompress(nil, b)
			if err != nil || string(plain) != string(records) {
				t.Fatalf("Decompress: %d bytes, %v", len(plain), err)
			}
		})
	}
}

// brokenCases are batches with a good CRC whose records are broken, each
// with a word the error must contain.
func brokenCases() map[string]struct {
	count, last int32
	records     []byte
	want        string
} {
	// A long first record keeps the header's minimal-size check quiet.
	good := recBody(0, 0, []byte("k"), []byte("a value long enough to pass header checks"))
	one := framed(good)
	withRec1 := func(body []byte) []byte { return append(append([]byte(nil), one...), framed(body)...) }
	overrunKey := []byte{0, 0, 2} // attrs, ts 0, offset delta 1
	overrunKey = binary.AppendVarint(overrunKey, 100)
	negValue := []byte{0, 0, 2, 2, 'k'}
	negValue = binary.AppendVarint(negValue, -5)
	negHeaders := append(recBody(0, 1, []byte("k"), []byte("v"))[:7:7], binary.AppendVarint(nil, -1)...)
	hdrKeyOverrun := append(recBody(0, 1, []byte("k"), []byte("v"))[:7:7], 2)
	hdrKeyOverrun = append(hdrKeyOverrun, binary.AppendVarint(nil, 50)...)
	hdrKeyOverrun = append(hdrKeyOverrun, 'x', 0)
	nullHdrKey := append(recBody(0, 1, []byte("k"), []byte("v"))[:7:7], 2)
	nullHdrKey = append(nullHdrKey, binary.AppendVarint(nil, -1)...)
	nullHdrKey = append(nullHdrKey, 0)
	bigDelta := []byte{0, 0}
	bigDelta = binary.AppendVarint(bigDelta, math.MaxInt32+1)
	bigDelta = append(bigDelta, 1, 1, 0)
	return map[string]struct {
		count, last int32
		records     []byte
		want        string
	}{
		"length overruns batch":      {2, 1, append(append([]byte(nil), one...), binary.AppendVarint(nil, 1000)...), "record 1 length 1000 overruns"},
		"bad length varint":          {2, 1, append(append([]byte(nil), one...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), "record 1: bad length varint"},
		"negative length":            {2, 1, append(append([]byte(nil), one...), binary.AppendVarint(nil, -3)...), "record 1: bad length varint"},
		"count above records":        {3, 2, withRec1(recBody(0, 1, []byte("k"), nil)), "claims 3 records but holds 2"},
		"count below records":        {1, 0, withRec1(recBody(0, 1, []byte("k"), nil)), "bytes after the batch's 1 records"},
		"offset delta skips":         {2, 1, withRec1(recBody(0, 2, []byte("k"), nil)), "record 1 has offset delta 2, want 1"},
		"offset delta repeats":       {2, 1, withRec1(recBody(0, 0, []byte("k"), nil)), "record 1 has offset delta 0, want 1"},
		"offset delta beyond int32":  {2, 1, withRec1(bigDelta), "record 1 offset delta out of int32 range"},
		"key overruns record":        {2, 1, withRec1(overrunKey), "record 1 key length out of range"},
		"value length below -1":      {2, 1, withRec1(negValue), "record 1 value length out of range"},
		"negative header count":      {2, 1, withRec1(negHeaders), "record 1 header count out of range"},
		"header key overruns":        {2, 1, withRec1(hdrKeyOverrun), "record 1 header key length out of range"},
		"null header key":            {2, 1, withRec1(nullHdrKey), "record 1 header key length out of range"},
		"bytes after headers":        {2, 1, withRec1(append(recBody(0, 1, []byte("k"), nil), 0, 0)), "record 1 has bytes after its headers"},
		"empty record":               {2, 1, append(append([]byte(nil), one...), 0), "record 1 ends before its fields"},
		"truncated timestamp varint": {2, 1, withRec1([]byte{0, 0x80}), "record 1 bad varint"},
	}
}

func TestCheckRecordsRejectsBrokenFraming(t *testing.T) {
	dec := NewDecoder()
	for name, tc := range brokenCases() {
		for _, c := range []Codec{CodecNone, CodecZstd, CodecGzip} {
			t.Run(name+"/"+c.String(), func(t *testing.T) {
				b := rawBatch(c, 1000, tc.count, tc.last, compress(t, c, tc.records))
				if _, err := ValidateProduced(b); err != nil {
					t.Fatalf("header checks should pass: %v", err)
				}
				_, err := dec.ValidateProduced(b, Rules{})
				if !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want ErrInvalidRecord with %q", err, tc.want)
				}
			})
		}
	}
}

func TestCheckRecordsRejectsBadCompressedData(t *testing.T) {
	dec := NewDecoder()
	junk := []byte("definitely not compressed data, but long enough to look at")
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		t.Run(c.String(), func(t *testing.T) {
			_, err := dec.ValidateProduced(rawBatch(c, 0, 1, 0, junk), Rules{})
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("got %v, want ErrInvalidRecord", err)
			}
		})
	}
}

func TestLastOffsetDeltaMismatchIsInvalid(t *testing.T) {
	b := rawBatch(CodecNone, 0, 2, 5, goodRecords(2))
	if _, err := NewDecoder().ValidateProduced(b, Rules{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
}

func TestRequireKeys(t *testing.T) {
	records := append(framed(recBody(0, 0, []byte("k"), []byte("v"))), framed(recBody(0, 1, nil, []byte("v")))...)
	dec := NewDecoder()
	for _, c := range allCodecs {
		b := batchOf(t, c, 0, 2, records)
		if _, err := dec.ValidateProduced(b, Rules{}); err != nil {
			t.Fatalf("%s: keys not required: %v", c, err)
		}
		if _, err := dec.ValidateProduced(b, Rules{RequireKeys: true}); !errors.Is(err, ErrNullKey) || !strings.Contains(err.Error(), "record 1") {
			t.Fatalf("%s: got %v, want ErrNullKey for record 1", c, err)
		}
	}
}

func TestTimestampWindow(t *testing.T) {
	const now = 1_700_000_000_000
	lo, hi := TimestampWindow(now, 1000, 500)
	if lo != now-1000 || hi != now+500 {
		t.Fatalf("window [%d, %d]", lo, hi)
	}
	if lo, hi := TimestampWindow(now, math.MaxInt64, math.MaxInt64); lo != now-math.MaxInt64 || hi != math.MaxInt64 {
		t.Fatalf("saturated window [%d, %d]", lo, hi)
	}
	rules := Rules{CheckTimestamps: true, MinTimestamp: lo, MaxTimestamp: hi}
	dec := NewDecoder()
	cases := []struct {
		name    string
		base    int64
		deltas  []int64
		wantErr bool
	}{
		{"inside", now - 1000, []int64{0, 1000, 1500}, false},
		{"too old", now - 1001, []int64{0}, true},
		{"too new", now, []int64{0, 501}, true},
		{"second record too new", now, []int64{0, 100, 600}, true},
		{"no timestamp", -1, []int64{0}, false},
		{"overflow", math.MaxInt64 - 1, []int64{0, 10}, true},
	}
	for _, tc := range cases {
		var records []byte
		for i, d := range tc.deltas {
			records = append(records, framed(recBody(d, int64(i), []byte("k"), nil))...)
		}
		for _, c := range []Codec{CodecNone, CodecLZ4} {
			b := batchOf(t, c, tc.base, int32(len(tc.deltas)), records)
			_, err := dec.ValidateProduced(b, rules)
			if tc.wantErr != errors.Is(err, ErrInvalidTimestamp) || (!tc.wantErr && err != nil) {
				t.Errorf("%s/%s: got %v, want error %v", tc.name, c, err, tc.wantErr)
			}
			if _, err := dec.ValidateProduced(b, Rules{}); err != nil && tc.name != "overflow" {
				t.Errorf("%s/%s: without the rule: %v", tc.name, c, err)
			}
		}
	}
}

// TestCheckRecordsUncompressedAllocatesNothing keeps the hot produce path
// free of allocation.
func TestCheckRecordsUncompressedAllocatesNothing(t *testing.T) {
	dec := NewDecoder()
	b := batchOf(t, CodecNone, 1000, 100, goodRecords(100))
	rules := Rules{RequireKeys: true, CheckTimestamps: true, MinTimestamp: 0, MaxTimestamp: math.MaxInt64}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := dec.ValidateProduced(b, rules); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per uncompressed batch", allocs)
	}
}

// largeRecords are records bigger than a stream chunk, which validation
// reads field by field instead of holding them.
func largeRecords() (good []byte, broken map[string][]byte) {
	big := make([]byte, 3*chunkSize)
	good = append(framed(recBody(0, 0, []byte("k"), big, []byte("h"), big[:chunkSize])),
		framed(recBody(5, 1, []byte("k2"), []byte("small")))...)
	trailing := append(recBody(0, 0, []byte("k"), big), 0, 0)
	keyOver := []byte{0, 0, 0}
	keyOver = binary.AppendVarint(keyOver, int64(len(big)+100))
	keyOver = append(keyOver, big...)
	hdrOver := append(recBody(0, 0, []byte("k"), big)[:0:0], recBody(0, 0, []byte("k"), big)...)
	hdrOver = hdrOver[:len(hdrOver)-1]
	hdrOver = append(hdrOver, 2, 0x7e, 'x') // one header, key length 63
	return good, map[string][]byte{
		"bytes after headers":  framed(trailing),
		"key overruns record":  framed(keyOver),
		"header key overruns":  framed(hdrOver),
		"length overruns data": framed(recBody(0, 0, []byte("k"), big))[:2*chunkSize],
		"offset delta 1":       framed(recBody(0, 1, []byte("k"), big)),
	}
}

func TestCheckRecordsLargeRecords(t *testing.T) {
	dec := NewDecoder()
	good, broken := largeRecords()
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		b := batchOf(t, c, 0, 2, good)
		if _, err := dec.ValidateProduced(b, Rules{RequireKeys: true}); err != nil {
			t.Fatalf("%s: good large records: %v", c, err)
		}
		for name, records := range broken {
			b := rawBatch(c, 0, 1, 0, compress(t, c, records))
			if _, err := dec.ValidateProduced(b, Rules{}); !errors.Is(err, ErrInvalidRecord) {
				t.Errorf("%s/%s: got %v, want ErrInvalidRecord", c, name, err)
			}
		}
	}
	// A null key is seen in a streamed record too.
	nullKey := framed(recBody(0, 0, nil, make([]byte, 2*chunkSize)))
	if _, err := dec.ValidateProduced(batchOf(t, CodecZstd, 0, 1, nullKey), Rules{RequireKeys: true}); !errors.Is(err, ErrNullKey) {
		t.Fatalf("streamed null key: %v", err)
	}
}

// TestCheckRecordsHugeRecordWithinLimit: one 48 MiB record within the
// default limit is validated without holding it.
func TestCheckRecordsHugeRecordWithinLimit(t *testing.T) {
	records := framed(recBody(0, 0, []byte("k"), make([]byte, 48<<20)))
	dec := NewDecoder()
	for _, c := range []Codec{CodecGzip, CodecLZ4, CodecZstd} {
		b := batchOf(t, c, 0, 1, records)
		var err error
		n := allocated(func() { _, err = dec.ValidateProduced(b, Rules{RequireKeys: true}) })
		// lz4's 4 MiB blocks are its window (twice under -race).
		if err != nil || n > 16<<20 {
			t.Fatalf("%s: %v after allocating %d bytes", c, err, n)
		}
		t.Logf("%s: %d byte batch, %d bytes allocated", c, len(b), n)
	}
}
