package storage

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/storage/storagetest"
)

func TestAppendReadRoundTrip(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	rng := rand.New(rand.NewPCG(1, 2))
	var want []batch
	next := int64(0)
	for i := range 400 {
		b := appendBatch(t, l, randomBatch(rng, int64(1000+i)), 0)
		if b.h.BaseOffset != next {
			t.Fatalf("batch %d got base offset %d, want %d", i, b.h.BaseOffset, next)
		}
		next = b.h.NextOffset()
		want = append(want, b)
	}
	if l.LogEndOffset() != next || l.LogStartOffset() != 0 {
		t.Fatalf("log end %d start %d, want %d 0", l.LogEndOffset(), l.LogStartOffset(), next)
	}
	if l.NumSegments() < 20 {
		t.Fatalf("only %d segments; the test wants many rolls", l.NumSegments())
	}
	var total int64
	for _, b := range want {
		total += int64(len(b.data))
	}
	if l.Size() != total {
		t.Fatalf("Size = %d, want %d", l.Size(), total)
	}
	sameBatches(t, readAll(t, l), want)

	// Every offset reads back the batch holding it.
	for off := int64(0); off < next; off++ {
		res, err := l.Read(off, next, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		got := splitBatches(t, res.Data)
		w := want[containing(want, off)]
		if len(got) != 1 || got[0].h.BaseOffset != w.h.BaseOffset {
			t.Fatalf("Read(%d) returned %d batches starting %d, want the batch at %d", off, len(got), got[0].h.BaseOffset, w.h.BaseOffset)
		}
	}

	// Same after a clean restart (sealed segments' indexes from files) and
	// after a crash (recovery).
	l = e.restart().Get(testTP)
	sameBatches(t, readAll(t, l), want)
	l = e.crash(vfsNoTorn).Get(testTP)
	sameBatches(t, readAll(t, l), want)
	if l.LogEndOffset() != next {
		t.Fatalf("log end after crash %d, want %d", l.LogEndOffset(), next)
	}
}

func TestReadBounds(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	var bs []batch
	for i := range 6 {
		bs = append(bs, appendBatch(t, l, storagetest.Sized(3, 300, int64(i)), 0))
	}
	leo := l.LogEndOffset()
	size0 := len(bs[0].data)

	read := func(off, maxOff int64, maxBytes int, minOne bool) []batch {
		t.Helper()
		res, err := l.Read(off, maxOff, maxBytes, minOne)
		if err != nil {
			t.Fatalf("Read(%d, %d, %d, %v): %v", off, maxOff, maxBytes, minOne, err)
		}
		return splitBatches(t, res.Data)
	}
	if got := read(0, leo, 1<<20, false); len(got) != 6 {
		t.Fatalf("full read got %d batches", len(got))
	}
	// maxOffset excludes batches starting at or after it.
	if got := read(0, bs[2].h.BaseOffset, 1<<20, false); len(got) != 2 {
		t.Fatalf("maxOffset at batch 2: %d batches", len(got))
	}
	if got := read(0, bs[2].h.BaseOffset+1, 1<<20, false); len(got) != 3 {
		t.Fatalf("maxOffset inside batch 2: %d batches", len(got))
	}
	if got := read(bs[2].h.BaseOffset, bs[2].h.BaseOffset, 1<<20, true); len(got) != 0 {
		t.Fatal("offset == maxOffset returned data")
	}
	// KIP-74: an oversize first batch comes whole with minOne, not without.
	if got := read(0, leo, 10, true); len(got) != 1 || len(got[0].data) != size0 {
		t.Fatalf("minOne read got %d batches", len(got))
	}
	if got := read(0, leo, 10, false); len(got) != 0 {
		t.Fatal("oversize first batch returned without minOne")
	}
	// maxBytes keeps whole batches only.
	two := len(bs[0].data) + len(bs[1].data)
	if got := read(0, leo, two, false); len(got) != 2 {
		t.Fatalf("exact two-batch budget got %d", len(got))
	}
	if got := read(0, leo, two-1, false); len(got) != 1 {
		t.Fatalf("budget one byte short got %d", len(got))
	}
	// An offset inside a batch returns that whole batch.
	if got := read(bs[1].h.BaseOffset+1, leo, 1, true); len(got) != 1 || got[0].h.BaseOffset != bs[1].h.BaseOffset {
		t.Fatal("mid-batch offset did not return its batch")
	}
	// At the log end: nothing, no error. Past it or below the start: out of range.
	if got := read(leo, leo+10, 1<<20, true); len(got) != 0 {
		t.Fatal("read at log end returned data")
	}
	if _, err := l.Read(leo+1, leo+10, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past end: %v", err)
	}
	if _, err := l.Read(-1, leo, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read at -1: %v", err)
	}
	if err := l.DeleteRecordsBefore(bs[1].h.BaseOffset + 1); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(bs[1].h.BaseOffset, leo, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
	// The log start is inside batch 1: reading there returns batch 1.
	if got := read(l.LogStartOffset(), leo, 1, true); got[0].h.BaseOffset != bs[1].h.BaseOffset {
		t.Fatal("read at a mid-batch log start")
	}
}

func TestReadStaysInOneSegment(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	cfg.SegmentBytes = 1000
	l := e.log(cfg)
	for i := range 10 {
		appendBatch(t, l, storagetest.Sized(1, 400, int64(i)), 0)
	}
	if l.NumSegments() < 4 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	res, err := l.Read(0, l.LogEndOffset(), 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := splitBatches(t, res.Data); len(got) != 2 {
		t.Fatalf("a read crossed a segment boundary: %d batches", len(got))
	}
}

func TestAppendValidation(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	if _, err := l.Append(nil, AppendOptions{AssignOffsets: true}); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("empty append: %v", err)
	}
	b := storagetest.Batch(1, []byte("x"))
	if _, err := l.Append(b[:len(b)-1], AppendOptions{AssignOffsets: true}); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("truncated batch: %v", err)
	}
	if _, err := l.Append(make([]byte, 100), AppendOptions{AssignOffsets: true}); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("garbage: %v", err)
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatal("a rejected append changed the log")
	}
}

func TestMultiBatchAppend(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	appendBatch(t, l, storagetest.Batch(5, []byte("a")), 0)
	var data []byte
	data = append(data, storagetest.Batch(10, []byte("b"), []byte("c"))...)
	data = append(data, storagetest.Batch(30, []byte("d"))...)
	data = append(data, storagetest.Batch(20, []byte("e"), []byte("f"), []byte("g"))...)
	res, err := l.Append(data, AppendOptions{AssignOffsets: true, LeaderEpoch: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.BaseOffset != 1 || res.LastOffset != 6 || res.MaxTimestamp != 30 {
		t.Fatalf("result %+v", res)
	}
	got := readAll(t, l)
	wantBases := []int64{0, 1, 3, 4}
	for i, b := range got {
		if b.h.BaseOffset != wantBases[i] {
			t.Fatalf("batch %d at %d, want %d", i, b.h.BaseOffset, wantBases[i])
		}
		if i > 0 && b.h.PartitionLeaderEpoch != 4 {
			t.Fatalf("batch %d epoch %d", i, b.h.PartitionLeaderEpoch)
		}
	}
	if _, err := record.Validate(got[2].data); err != nil {
		t.Fatalf("rewritten batch invalid: %v", err)
	}
}

func TestFollowerAppend(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	b := storagetest.Build(storagetest.Spec{BaseOffset: 0, LeaderEpoch: 2, Values: [][]byte{nil, nil}})
	if _, err := l.Append(b, AppendOptions{LeaderEpoch: -1}); err != nil {
		t.Fatal(err)
	}
	// A gap (as compaction leaves) is allowed; going back is not.
	b = storagetest.Build(storagetest.Spec{BaseOffset: 10, LeaderEpoch: 5})
	if _, err := l.Append(b, AppendOptions{LeaderEpoch: -1}); err != nil {
		t.Fatal(err)
	}
	b = storagetest.Build(storagetest.Spec{BaseOffset: 10, LeaderEpoch: 5})
	if _, err := l.Append(b, AppendOptions{LeaderEpoch: -1}); !errors.Is(err, ErrInvalidOffset) {
		t.Fatalf("offset below log end: %v", err)
	}
	if l.LogEndOffset() != 11 {
		t.Fatalf("log end %d", l.LogEndOffset())
	}
	// Offset 5 is in the gap: the next batch is returned.
	res, err := l.Read(5, 11, 1000, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := splitBatches(t, res.Data); len(got) != 1 || got[0].h.BaseOffset != 10 {
		t.Fatalf("read in gap: %+v", got)
	}
	if ep, end := l.EndOffsetForEpoch(2); ep != 2 || end != 10 {
		t.Fatalf("EndOffsetForEpoch(2) = %d %d", ep, end)
	}
	if l.LatestEpoch() != 5 {
		t.Fatalf("LatestEpoch %d", l.LatestEpoch())
	}
	// Offsets far beyond the segment's base roll a new segment.
	b = storagetest.Build(storagetest.Spec{BaseOffset: 1 << 33, LeaderEpoch: 5})
	if _, err := l.Append(b, AppendOptions{LeaderEpoch: -1}); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() != 2 || l.LogEndOffset() != 1<<33+1 {
		t.Fatalf("segments %d end %d", l.NumSegments(), l.LogEndOffset())
	}
	if err := l.Flush(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	l = e.crash(vfsNoTorn).Get(testTP)
	if l.LogEndOffset() != 1<<33+1 || len(readAll(t, l)) != 3 {
		t.Fatal("follower log did not survive recovery")
	}
}
