package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// benchBatch builds an uncompressed batch of n records of size bytes.
func benchBatch(n, size int) []byte {
	b := NewBuilder(1_700_000_000_000)
	v := bytes.Repeat([]byte("x"), size)
	for range n {
		b.Add(nil, v)
	}
	return b.Build()
}

// benchValue is size bytes of compressible but not trivial text, so the
// codecs do real work.
func benchValue(size, seed int) []byte {
	words := []string{"spool ", "kafka ", "record ", "batch ", "offset ", "topic ", "partition ", "leader "}
	var b []byte
	x := uint32(seed*2654435761 + 1)
	for len(b) < size {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b = append(b, words[x%uint32(len(words))]...)
	}
	return b[:size]
}

// benchCodecBatch builds a batch of n keyed records of size bytes
// compressed with codec c by franz-go's compressors, as a producer sends.
func benchCodecBatch(b *testing.B, c Codec, n, size int) []byte {
	bl := NewBuilder(1_700_000_000_000)
	for i := range n {
		bl.Add(fmt.Appendf(nil, "key-%d", i), benchValue(size, i))
	}
	plain := bl.Build()
	if c == CodecNone {
		return plain
	}
	comp, err := kgo.DefaultCompressor(c.kgoCodec())
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	z, _ := comp.Compress(&buf, plain[HeaderSize:])
	out := append(bytes.Clone(plain[:HeaderSize]), z...)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-lengthFieldEnd))
	binary.BigEndian.PutUint16(out[21:], uint16(c))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[crcStart:], castagnoli))
	return out
}

// BenchmarkValidateProduced checks what Produce checks for every batch of
// a non-compacted CreateTime topic: header, counts, CRC-32C over the
// batch, and every record's framing and timestamp (decompressing
// compressed batches). MB/s is of the batch as sent (compressed).
func BenchmarkValidateProduced(b *testing.B) {
	benchProduceCheck(b, false)
}

// BenchmarkValidateProducedCompacted adds the compacted topics' rule
// (every record has a key).
func BenchmarkValidateProducedCompacted(b *testing.B) {
	benchProduceCheck(b, true)
}

func benchProduceCheck(b *testing.B, compacted bool) {
	for _, tc := range []struct {
		codec   Codec
		n, size int
	}{
		{CodecNone, 1, 1024}, {CodecNone, 64, 1024}, {CodecNone, 1000, 1024}, {CodecNone, 1000, 100},
		{CodecGzip, 64, 1024}, {CodecSnappy, 64, 1024}, {CodecLZ4, 64, 1024}, {CodecZstd, 64, 1024},
		{CodecZstd, 1000, 100},
	} {
		b.Run(fmt.Sprintf("%s/%dx%dB", tc.codec, tc.n, tc.size), func(b *testing.B) {
			batch := benchCodecBatch(b, tc.codec, tc.n, tc.size)
			check := newProduceCheck(compacted)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if err := check(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// newProduceCheck is the record validation a produce runs per batch.
func newProduceCheck(compacted bool) func([]byte) error {
	dec := NewDecoder()
	rules := Rules{RequireKeys: compacted, CheckTimestamps: true, MinTimestamp: math.MinInt64, MaxTimestamp: math.MaxInt64}
	return func(batch []byte) error {
		_, err := dec.ValidateProduced(batch, rules)
		return err
	}
}

// BenchmarkBatches walks the batch headers of 1 MiB of 16 KiB batches, as
// fetch assembly and recovery do.
func BenchmarkBatches(b *testing.B) {
	var buf []byte
	for len(buf) < 1<<20 {
		buf = append(buf, benchBatch(16, 1000)...)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Batches(buf, func(Header, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
