package storage

import (
	"bytes"
	"testing"

	"github.com/spool-mq/spool/internal/storage/storagetest"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

// ReadInto returns exactly what Read returns, in the caller's buffer when
// it is large enough, so recycling buffers cannot change what a fetch sees.
func TestReadIntoMatchesRead(t *testing.T) {
	_, l := benchLog(t, vfstest.NewMem(), dataDir)
	for range 200 {
		if _, err := l.Append(storagetest.Sized(3, 100, 1), AppendOptions{AssignOffsets: true}); err != nil {
			t.Fatal(err)
		}
	}
	end := l.LogEndOffset()
	scratch := make([]byte, 0, 8<<10)
	for off := int64(0); off < end; off += 7 {
		want, err := l.Read(off, end, 4<<10, true)
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.ReadInto(scratch, off, end, 4<<10, true)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("offset %d: ReadInto differs from Read", off)
		}
		if len(got.Data) > 0 && &got.Data[0] != &scratch[:1][0] {
			t.Fatalf("offset %d: ReadInto did not use the scratch buffer", off)
		}
	}
	// A scratch buffer too small is replaced, not overrun.
	got, err := l.ReadInto(make([]byte, 0, 10), 0, end, 4<<10, true)
	if err != nil || len(got.Data) == 0 {
		t.Fatalf("small scratch: %v, %d bytes", err, len(got.Data))
	}
}
