package storage

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spool-mq/spool/internal/storage/storagetest"
)

// TestSegmentIndexBytesRollsSegments: with segment.index.bytes set, the
// active segment rolls once its index is full, every sealed segment's
// index files stay within the limit, and every record reads back, also
// after a restart.
func TestSegmentIndexBytesRollsSegments(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.IndexIntervalBytes = 1 // an entry for every batch but a segment's first
	cfg.SegmentIndexBytes = 36 // 4 offset entries, 3 time entries
	l := e.log(cfg)
	const batches = 20
	for i := range batches {
		appendBatch(t, l, storagetest.Batch(int64(1000+i), []byte(fmt.Sprint("v", i))), 0)
	}
	// A segment takes 3 batches: the first is not indexed, the next two
	// fill the time index but for the slot kept for the roll.
	if got := l.NumSegments(); got != (batches+2)/3 {
		t.Fatalf("%d segments for %d batches with a 36-byte index, want %d", got, batches, (batches+2)/3)
	}
	l = e.restart().Get(testTP)
	entries, err := e.fs.ReadDir(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range entries {
		info, err := e.fs.Stat(l.Dir() + "/" + de.Name())
		if err != nil {
			t.Fatal(err)
		}
		if n := de.Name(); (strings.HasSuffix(n, indexSuffix) || strings.HasSuffix(n, timeIndexSuffix)) && info.Size() > 36 {
			t.Errorf("%s is %d bytes, segment.index.bytes is 36", n, info.Size())
		}
	}
	for off := int64(0); off < batches; off++ {
		r, err := l.Read(off, batches, 1<<20, true)
		if err != nil || len(r.Data) == 0 {
			t.Fatalf("read at %d after restart: %d bytes, %v", off, len(r.Data), err)
		}
	}
}

// TestSegmentIndexBytesDefault: the default limit does not roll a segment
// with an ordinary number of index entries.
func TestSegmentIndexBytesDefault(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.IndexIntervalBytes = 1
	l := e.log(cfg)
	for i := range 200 {
		appendBatch(t, l, storagetest.Batch(int64(1000+i), []byte("v")), 0)
	}
	if got := l.NumSegments(); got != 1 {
		t.Fatalf("%d segments; the default segment.index.bytes should not roll", got)
	}
}
