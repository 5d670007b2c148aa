package storage

import (
	"errors"
	"testing"
	"time"

	"github.com/spool-mq/spool/internal/storage/storagetest"
)

// segmentBases lists the log's segment base offsets.
func segmentBases(l *Log) []int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []int64
	for _, s := range l.segments {
		out = append(out, s.base)
	}
	return out
}

func TestRetentionByTime(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	cfg.SegmentBytes = 1000
	cfg.RetentionMs = time.Hour.Milliseconds()
	l := e.log(cfg)
	now := e.clock.Ms()
	// Batches timestamped 10 hours ago, rising by one minute each.
	var bs []batch
	for i := range 30 {
		ts := now - 10*time.Hour.Milliseconds() + int64(i)*time.Minute.Milliseconds()
		bs = append(bs, appendBatch(t, l, storagetest.Sized(1, 300, ts), 0))
	}
	segsBefore := l.NumSegments()
	if segsBefore < 5 {
		t.Fatalf("only %d segments", segsBefore)
	}
	// Nothing is older than 1h past... the oldest is 10h old: move time so
	// that only the first ~half of the batches are beyond retention.
	// Batch i is (10h - i min) old; with retention 1h and the clock moved
	// back by 8h45m, batches with i < 15 are expired.
	e.clock.Advance(-(8*time.Hour + 45*time.Minute))
	n, err := l.EnforceRetention()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("nothing deleted")
	}
	// Every remaining segment holds a batch that is not expired, and the
	// log start is the first remaining segment's base.
	start := l.LogStartOffset()
	if bases := segmentBases(l); bases[0] != start {
		t.Fatalf("log start %d, first segment %d", start, bases[0])
	}
	cut := e.clock.Ms() - cfg.RetentionMs
	for _, b := range bs {
		switch {
		case b.h.NextOffset() <= start && b.h.MaxTimestamp > cut:
			t.Fatalf("batch %d (ts %d) deleted but not expired (cut %d)", b.h.BaseOffset, b.h.MaxTimestamp, cut)
		}
	}
	if bs[14].h.NextOffset() > start && start <= bs[0].h.BaseOffset {
		t.Fatal("no expired segment was deleted")
	}
	if _, err := l.Read(0, l.LogEndOffset(), 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read of deleted offset: %v", err)
	}
	if l.NumSegments() != segsBefore-n {
		t.Fatalf("segments %d, want %d", l.NumSegments(), segsBefore-n)
	}

	// Once everything is expired, the active segment is rolled and deleted
	// too, leaving an empty active segment at the log end.
	e.clock.Advance(24 * time.Hour)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	end := l.LogEndOffset()
	if l.NumSegments() != 1 || l.LogStartOffset() != end || l.Size() != 0 {
		t.Fatalf("segments %d start %d end %d size %d", l.NumSegments(), l.LogStartOffset(), end, l.Size())
	}
	// Appends continue at the same offsets; the log start survives a crash.
	b := appendBatch(t, l, storagetest.Batch(e.clock.Ms(), []byte("new")), 0)
	if b.h.BaseOffset != end {
		t.Fatalf("next append at %d, want %d", b.h.BaseOffset, end)
	}
	l.Flush(l.LogEndOffset())
	e.m.Checkpoint()
	l = e.crash(vfsNoTorn).Get(testTP)
	if l.LogStartOffset() != end || l.LogEndOffset() != end+1 {
		t.Fatalf("after crash start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
}

func TestRetentionByTimeUsesModTimeWithoutTimestamps(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	cfg.SegmentBytes = 500
	cfg.RetentionMs = 0
	l := e.log(cfg)
	for range 5 {
		appendBatch(t, l, storagetest.Sized(1, 300, -1), 0)
	}
	if ts, off := l.MaxTimestamp(); ts != -1 || off != -1 {
		t.Fatalf("MaxTimestamp = %d %d", ts, off)
	}
	// File modification times are real time; move the fake clock past them.
	e.clock.Set(time.Now().Add(time.Hour))
	n, err := l.EnforceRetention()
	if err != nil || n != 5 {
		t.Fatalf("deleted %d, %v", n, err)
	}
}

func TestRetentionBySize(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	cfg.SegmentBytes = 1000
	cfg.RetentionBytes = 2500
	l := e.log(cfg)
	for i := range 40 {
		appendBatch(t, l, storagetest.Sized(1, 300, int64(i)), 0)
	}
	sizeBefore := l.Size()
	n, err := l.EnforceRetention()
	if err != nil || n == 0 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	// Deleting one more segment would go below the limit.
	l.mu.RLock()
	firstSize := l.segments[0].size.Load()
	l.mu.RUnlock()
	if l.Size() < cfg.RetentionBytes || l.Size()-firstSize >= cfg.RetentionBytes {
		t.Fatalf("size %d (first segment %d) vs limit %d, was %d", l.Size(), firstSize, cfg.RetentionBytes, sizeBefore)
	}
	if n2, _ := l.EnforceRetention(); n2 != 0 {
		t.Fatalf("second run deleted %d", n2)
	}
	// Never the active segment, even with a zero limit.
	cfg.RetentionBytes = 0
	l.SetConfig(cfg)
	l.EnforceRetention()
	if l.NumSegments() != 1 || l.Size() == 0 {
		t.Fatalf("segments %d size %d", l.NumSegments(), l.Size())
	}
	sameBatches(t, readAll(t, l), readAll(t, l))
}

func TestDeleteRecordsBefore(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	cfg.SegmentBytes = 1000
	l := e.log(cfg)
	var bs []batch
	for i := range 20 {
		bs = append(bs, appendBatch(t, l, storagetest.Sized(2, 300, int64(i)), 0))
	}
	segs := l.NumSegments()
	target := bs[7].h.BaseOffset + 1
	if err := l.DeleteRecordsBefore(target); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != target {
		t.Fatalf("log start %d", l.LogStartOffset())
	}
	if bases := segmentBases(l); bases[0] > target || l.NumSegments() >= segs {
		t.Fatalf("segments %v after deleting before %d", bases, target)
	}
	if err := l.DeleteRecordsBefore(3); err != nil || l.LogStartOffset() != target {
		t.Fatalf("moving backwards: %v, start %d", err, l.LogStartOffset())
	}
	if err := l.DeleteRecordsBefore(l.LogEndOffset() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond end: %v", err)
	}
	// The new start is durable without a checkpoint call.
	if err := l.Flush(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	l = e.crash(vfsNoTorn).Get(testTP)
	if l.LogStartOffset() != target {
		t.Fatalf("log start after crash %d, want %d", l.LogStartOffset(), target)
	}
	sameBatches(t, readAll(t, l), bs[7:])

	// Deleting everything leaves an empty log at the end offset.
	end := l.LogEndOffset()
	if err := l.DeleteRecordsBefore(end); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() != 1 || l.Size() != 0 || l.LogStartOffset() != end {
		t.Fatalf("segments %d size %d start %d", l.NumSegments(), l.Size(), l.LogStartOffset())
	}
	l = e.restart().Get(testTP)
	if l.LogStartOffset() != end || l.LogEndOffset() != end {
		t.Fatalf("after restart start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
}

func TestTruncateTo(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	cfg.SegmentBytes = 1000
	l := e.log(cfg)
	var bs []batch
	for i := range 20 {
		epoch := int32(i / 5) // epochs 0..3, five batches each
		bs = append(bs, appendBatch(t, l, storagetest.Sized(3, 300, int64(i)), epoch))
	}
	l.Flush(l.LogEndOffset())
	e.m.Checkpoint()
	// Truncating inside batch 12 removes it whole.
	target := bs[12].h.BaseOffset + 1
	if err := l.TruncateTo(target); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != bs[12].h.BaseOffset {
		t.Fatalf("log end %d, want %d", l.LogEndOffset(), bs[12].h.BaseOffset)
	}
	if l.FlushedOffset() > l.LogEndOffset() {
		t.Fatal("recovery point above log end")
	}
	sameBatches(t, readAll(t, l), bs[:12])
	if l.LatestEpoch() != 2 {
		t.Fatalf("latest epoch %d", l.LatestEpoch())
	}
	if ep, end := l.EndOffsetForEpoch(2); ep != 2 || end != l.LogEndOffset() {
		t.Fatalf("EndOffsetForEpoch(2) = %d %d", ep, end)
	}
	// Appends continue from the new end, in a new epoch.
	nb := appendBatch(t, l, storagetest.Sized(1, 100, 99), 7)
	if nb.h.BaseOffset != bs[12].h.BaseOffset {
		t.Fatalf("append after truncate at %d", nb.h.BaseOffset)
	}
	if ep, end := l.EndOffsetForEpoch(3); ep != 2 || end != nb.h.BaseOffset {
		t.Fatalf("EndOffsetForEpoch(3) = %d %d", ep, end)
	}
	l.Flush(l.LogEndOffset())
	// Durable: a crash brings back neither the truncated data nor epochs.
	want := append(append([]batch(nil), bs[:12]...), nb)
	for _, reopen := range []func() *Manager{func() *Manager { return e.crash(vfsNoTorn) }, e.restart} {
		l = reopen().Get(testTP)
		sameBatches(t, readAll(t, l), want)
		if l.LatestEpoch() != 7 {
			t.Fatalf("latest epoch %d after reopen", l.LatestEpoch())
		}
	}
	// Truncating to a segment boundary and to the log start.
	bases := segmentBases(l)
	if err := l.TruncateTo(bases[2]); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() != 3 && l.LogEndOffset() > bases[2] {
		t.Fatalf("segments %v end %d", segmentBases(l), l.LogEndOffset())
	}
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 || l.LatestEpoch() != -1 {
		t.Fatalf("after truncate to 0: end %d size %d epoch %d", l.LogEndOffset(), l.Size(), l.LatestEpoch())
	}
	l = e.crash(vfsNoTorn).Get(testTP)
	if l.LogEndOffset() != 0 || len(readAll(t, l)) != 0 {
		t.Fatal("truncated data came back")
	}
}

func TestTruncateBelowLogStart(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	for i := range 10 {
		appendBatch(t, l, storagetest.Sized(1, 100, int64(i)), 0)
	}
	if err := l.DeleteRecordsBefore(8); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(5); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 5 || l.LogEndOffset() != 5 || l.Size() != 0 {
		t.Fatalf("start %d end %d size %d", l.LogStartOffset(), l.LogEndOffset(), l.Size())
	}
	b := appendBatch(t, l, storagetest.Sized(1, 100, 1), 0)
	if b.h.BaseOffset != 5 {
		t.Fatalf("next append at %d", b.h.BaseOffset)
	}
	l.Flush(l.LogEndOffset())
	l = e.crash(vfsNoTorn).Get(testTP)
	if l.LogStartOffset() != 5 || l.LogEndOffset() != 6 {
		t.Fatalf("after crash start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
}

func TestEpochCache(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	if ep, off := l.EndOffsetForEpoch(0); ep != -1 || off != -1 || l.LatestEpoch() != -1 {
		t.Fatalf("empty cache: %d %d %d", ep, off, l.LatestEpoch())
	}
	// Epoch 1 at 0, 3 at 10, 4 at 20 (no epoch 2).
	for _, ep := range []int32{1, 3, 4} {
		for range 10 {
			appendBatch(t, l, storagetest.Batch(1, nil), ep)
		}
	}
	// An older epoch does not rewrite history.
	appendBatch(t, l, storagetest.Batch(1, nil), 2)
	cases := []struct {
		req     int32
		epoch   int32
		endOffs int64
	}{
		{0, 0, 0},    // older than all known: the first known start
		{1, 1, 10},   // ended where 3 began
		{2, 1, 10},   // unknown epoch between: the floor epoch's end
		{3, 3, 20},   // ended where 4 began
		{4, 4, 31},   // latest: the log end
		{5, -1, -1},  // newer than anything known
		{-1, -1, -1}, // undefined
	}
	check := func(l *Log) {
		t.Helper()
		for _, c := range cases {
			if ep, off := l.EndOffsetForEpoch(c.req); ep != c.epoch || off != c.endOffs {
				t.Fatalf("EndOffsetForEpoch(%d) = %d %d, want %d %d", c.req, ep, off, c.epoch, c.endOffs)
			}
		}
	}
	check(l)
	l.Flush(l.LogEndOffset())
	check(e.crash(vfsNoTorn).Get(testTP))
	check(e.restart().Get(testTP))
	data, err := readWholeFile(e.fs, dataDir+"/orders-3/"+epochCheckpointFile)
	if err != nil || string(data) != "0\n3\n1 0\n3 10\n4 20\n" {
		t.Fatalf("checkpoint file %q %v", data, err)
	}
	// DeleteRecordsBefore moves the first epoch's start.
	l = e.m.Get(testTP)
	if err := l.DeleteRecordsBefore(12); err != nil {
		t.Fatal(err)
	}
	if ep, off := l.EndOffsetForEpoch(1); ep != 1 || off != 12 {
		t.Fatalf("after delete: EndOffsetForEpoch(1) = %d %d", ep, off)
	}
}
