package record

import (
	"bytes"
	"testing"
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

// BenchmarkValidateProduced checks what Produce checks for every batch
// (header, counts, CRC-32C over the whole batch); the CRC dominates, so
// MB/s is the figure to watch.
func BenchmarkValidateProduced(b *testing.B) {
	for _, tc := range []struct {
		name    string
		n, size int
	}{{"1x1KiB", 1, 1024}, {"64x1KiB", 64, 1024}, {"1000x1KiB", 1000, 1024}} {
		b.Run(tc.name, func(b *testing.B) {
			batch := benchBatch(tc.n, tc.size)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ValidateProduced(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
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
