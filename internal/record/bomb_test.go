package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	bombLimit     = 1 << 20  // the Decoder's limit in these tests
	bombExpansion = 32 << 20 // what the bombs decompress to
)

// writeBombRecords streams well-formed 1 KiB records with consecutive
// offset deltas into w until about size bytes were written, returning the
// record count, so a decoder has to decompress to find the problem.
func writeBombRecords(t testing.TB, w io.Writer, size int) int32 {
	t.Helper()
	value := make([]byte, 1000)
	var n int32
	buf := make([]byte, 0, 1100)
	for written := 0; written < size; n++ {
		buf = append(buf[:0], framed(recBody(0, int64(n), []byte("k"), value))...)
		if _, err := w.Write(buf); err != nil {
			t.Fatal(err)
		}
		written += len(buf)
	}
	return n
}

// makeBomb returns a small batch of codec c whose records expand to about
// bombExpansion bytes.
func makeBomb(t testing.TB, c Codec) []byte {
	t.Helper()
	var out bytes.Buffer
	var n int32
	switch c {
	case CodecGzip:
		w, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
		n = writeBombRecords(t, w, bombExpansion)
		w.Close()
	case CodecLZ4:
		w := lz4.NewWriter(&out)
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			t.Fatal(err)
		}
		n = writeBombRecords(t, w, bombExpansion)
		w.Close()
	case CodecZstd:
		w, _ := zstd.NewWriter(&out, zstd.WithWindowSize(256<<10), zstd.WithEncoderConcurrency(1))
		n = writeBombRecords(t, w, bombExpansion)
		w.Close()
	case CodecSnappy:
		// xerial framing, 32 KiB blocks, as the Java producer writes.
		var plain bytes.Buffer
		n = writeBombRecords(t, &plain, bombExpansion)
		out.Write(xerial(plain.Bytes(), 32<<10))
	}
	return rawBatch(c, 0, n, n-1, out.Bytes())
}

// allocated runs fn and returns the bytes it allocated.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestBombStopsAtLimit: a small batch expanding 32x past the limit fails
// with ErrTooLarge, and neither validation nor Records nor Decompress
// allocate anything near the expansion.
func TestBombStopsAtLimit(t *testing.T) {
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		t.Run(c.String(), func(t *testing.T) {
			bomb := makeBomb(t, c)
			t.Logf("%s bomb: %d bytes, expands to about %d", c, len(bomb), bombExpansion)
			if _, err := ValidateProduced(bomb); err != nil {
				t.Fatal(err)
			}
			dec := NewDecoderLimit(bombLimit)
			calls := map[string]func() error{
				"CheckRecords": func() error { _, err := dec.ValidateProduced(bomb, Rules{RequireKeys: true}); return err },
				"Records":      func() error { return dec.Records(bomb, func(*kmsg.Record) bool { return true }) },
				"Decompress":   func() error { _, err := dec.Decompress(nil, bomb); return err },
			}
			for name, call := range calls {
				var err error
				n := allocated(func() { err = call() })
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("%s: got %v, want ErrTooLarge", name, err)
				}
				// Decompress returns what it read up to the limit;
				// the others hold a window and a chunk.
				bound := uint64(4 << 20)
				if name == "Decompress" {
					bound = 8 * bombLimit
				}
				if n > bound {
					t.Fatalf("%s allocated %d bytes for a %d byte expansion", name, n, bombExpansion)
				}
				t.Logf("%s: %d bytes allocated", name, n)
			}
		})
	}
}

// TestBombWithinLimitPasses: the same stream with a limit above it is fine,
// so the limit is what refused it.
func TestBombWithinLimitPasses(t *testing.T) {
	bomb := makeBomb(t, CodecZstd)
	if _, err := NewDecoderLimit(bombExpansion*2).ValidateProduced(bomb, Rules{}); err != nil {
		t.Fatal(err)
	}
}

// TestHugeRecordClaimRefusedEarly: a record whose length alone exceeds the
// limit is refused before its bytes are decompressed.
func TestHugeRecordClaimRefusedEarly(t *testing.T) {
	records := binary.AppendVarint(nil, 1<<30)
	records = append(records, make([]byte, 4096)...)
	dec := NewDecoderLimit(bombLimit)
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		b := batchOf(t, c, 0, 1, records)
		var err error
		n := allocated(func() { _, err = dec.ValidateProduced(b, Rules{}) })
		// lz4 frames from franz-go use 4 MiB blocks, the lz4 window
		// (two buffers of it when -race makes sync.Pool drop them).
		if !errors.Is(err, ErrTooLarge) || n > 16<<20 {
			t.Fatalf("%s: %v after %d bytes allocated", c, err, n)
		}
	}
}

// TestSnappyRawBlockClaimChecked: a raw snappy block is decoded whole, so
// its declared decoded length is checked before anything is allocated.
func TestSnappyRawBlockClaimChecked(t *testing.T) {
	block := binary.AppendUvarint(nil, 1<<30) // declared decoded length
	block = append(block, 0x00, 'x')          // a literal; never reached
	var err error
	n := allocated(func() {
		_, err = NewDecoderLimit(bombLimit).ValidateProduced(rawBatch(CodecSnappy, 0, 1, 0, block), Rules{})
	})
	if !errors.Is(err, ErrTooLarge) || n > 1<<20 {
		t.Fatalf("got %v after %d bytes allocated", err, n)
	}
	// A real one within the limit decodes.
	ok := s2.EncodeSnappy(nil, goodRecords(3))
	if _, err := NewDecoderLimit(bombLimit).ValidateProduced(rawBatch(CodecSnappy, 0, 3, 2, ok), Rules{}); err != nil {
		t.Fatal(err)
	}
}

// TestZstdWindowBounded: a frame asking for a window above 8 MiB is
// refused (as too large), whatever its content.
func TestZstdWindowBounded(t *testing.T) {
	// A hand-made frame: no content size, window descriptor 2^26 (64
	// MiB), one raw last block holding the records.
	records := goodRecords(3)
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 16 << 3}
	bh := uint32(len(records))<<3 | 1
	frame = append(frame, byte(bh), byte(bh>>8), byte(bh>>16))
	frame = append(frame, records...)
	var out bytes.Buffer
	out.Write(frame)
	// The same frame with a 1 MiB window is fine.
	small := bytes.Clone(frame)
	small[5] = 10 << 3
	if _, err := NewDecoder().ValidateProduced(rawBatch(CodecZstd, 0, 3, 2, small), Rules{}); err != nil {
		t.Fatalf("1 MiB window: %v", err)
	}
	_, err := NewDecoder().ValidateProduced(rawBatch(CodecZstd, 0, 3, 2, out.Bytes()), Rules{})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

// At most cap(slots) batches decompress at once, however many goroutines
// ask: each holds a codec window, and clients choose how many they send.
func TestConcurrentDecompressionsBounded(t *testing.T) {
	d := NewDecoderLimit(1 << 20)
	n := cap(d.c.slots)
	body := compress(t, CodecZstd, goodRecords(3))
	var open []*stream
	for range n {
		s, err := d.c.openStream(CodecZstd, body)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, s)
	}
	opened := make(chan *stream)
	go func() {
		s, err := d.c.openStream(CodecZstd, body)
		if err != nil {
			t.Error(err)
		}
		opened <- s
	}()
	select {
	case <-opened:
		t.Fatalf("a stream opened beyond the %d allowed at once", n)
	case <-time.After(100 * time.Millisecond):
	}
	open[0].close()
	select {
	case s := <-opened:
		s.close()
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting stream did not open once another closed")
	}
	for _, s := range open[1:] {
		s.close()
	}
	if len(d.c.slots) != 0 {
		t.Fatalf("%d slots still held after every stream closed", len(d.c.slots))
	}
}
