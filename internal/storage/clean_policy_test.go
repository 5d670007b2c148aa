package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/spool-mq/spool/internal/storage/storagetest"
)

// TestCleanMinCompactionLag: segments whose newest batch is younger than
// min.compaction.lag.ms, and everything after them, are left alone until
// they are old enough.
func TestCleanMinCompactionLag(t *testing.T) {
	e := newEnv(t)
	cfg := compactConfig()
	cfg.MinCompactionLagMs = time.Hour.Milliseconds()
	l := e.log(cfg)
	rng := rand.New(rand.NewPCG(3, 4))
	var m kmodel
	m.randomKeyed(t, l, rng, 80, 20, e.clock.Ms()-3*time.Hour.Milliseconds())
	firstRecent := l.LogEndOffset()
	m.randomKeyed(t, l, rng, 80, 20, e.clock.Ms()-time.Minute.Milliseconds())
	rollLog(t, l)
	// The first segment holding a recent batch bounds the pass.
	var bound int64
	for _, b := range segmentBases(l) {
		if b <= firstRecent {
			bound = b
		}
	}
	if bound == 0 {
		t.Fatal("workload did not make old segments")
	}
	res := mustClean(t, l, e.clock)
	if !res.Ran || res.EndOffset != bound {
		t.Fatalf("pass %+v, want it to end at %d", res, bound)
	}
	sameRecords(t, readRecords(t, l), compacted(m.recs, bound, 0))

	e.clock.Advance(time.Hour)
	end := activeBase(l)
	res = mustClean(t, l, e.clock)
	if !res.Ran || res.FirstDirty != bound || res.EndOffset != end {
		t.Fatalf("pass after the lag %+v, want [%d, %d)", res, bound, end)
	}
	sameRecords(t, readRecords(t, l), compacted(m.recs, end, 0))
}

// TestCleanDirtyRatio: a pass runs only once the dirty bytes reach
// min.cleanable.dirty.ratio of the cleanable bytes, or when
// max.compaction.lag.ms has passed for the oldest dirty batch.
func TestCleanDirtyRatio(t *testing.T) {
	e := newEnv(t)
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0.5
	l := e.log(cfg)
	rng := rand.New(rand.NewPCG(9, 9))
	var m kmodel
	ts := m.randomKeyed(t, l, rng, 150, 1000, 0) // mostly distinct keys: cleaning keeps most
	rollLog(t, l)
	if res := mustClean(t, l, e.clock); !res.Ran || res.DirtyRatio != 1 {
		t.Fatalf("first pass %+v", res)
	}
	cleanBytes := l.Size() // the active segment is empty
	var cleanEnd int64
	for i := 0; ; i++ {
		ts = m.randomKeyed(t, l, rng, 5, 1000, ts)
		rollLog(t, l)
		total := l.Size()
		ratio := float64(total-cleanBytes) / float64(total)
		res := mustClean(t, l, e.clock)
		if ratio < 0.5 {
			if res.Ran {
				t.Fatalf("cleaned at dirty ratio %.3f: %+v", ratio, res)
			}
			continue
		}
		if !res.Ran || res.DirtyRatio != ratio {
			t.Fatalf("dirty ratio %.3f: %+v", ratio, res)
		}
		if i == 0 {
			t.Fatal("the ratio was reached at once; the test checks nothing")
		}
		cleanEnd = res.EndOffset
		break
	}
	sameRecords(t, readRecords(t, l), compacted(m.recs, activeBase(l), 0))

	// max.compaction.lag.ms forces a pass on a barely dirty log.
	cfg.MinCleanableDirtyRatio = 0.99
	cfg.MaxCompactionLagMs = time.Hour.Milliseconds()
	l.SetConfig(cfg)
	m.put(t, l, e.clock.Ms(), keyed("key-000", "late"))
	rollLog(t, l)
	if res := mustClean(t, l, e.clock); res.Ran {
		t.Fatalf("cleaned before max.compaction.lag.ms: %+v", res)
	}
	e.clock.Advance(time.Hour)
	if res := mustClean(t, l, e.clock); !res.Ran {
		t.Fatalf("not cleaned after max.compaction.lag.ms: %+v", res)
	}
	// An hour on, tombstones cleaned by the earlier passes have also
	// served their delete.retention.ms.
	sameRecords(t, readRecords(t, l), compacted(m.recs, activeBase(l), cleanEnd))
}

// TestCompactedLogRollsForMaxLag: the active segment of a compacted log
// rolls once max.compaction.lag.ms has passed, so it can be cleaned.
func TestCompactedLogRollsForMaxLag(t *testing.T) {
	e := newEnv(t)
	cfg := compactConfig()
	cfg.MaxCompactionLagMs = time.Hour.Milliseconds()
	l := e.log(cfg)
	var m kmodel
	m.put(t, l, e.clock.Ms(), keyed("a", "1"))
	e.clock.Advance(30 * time.Minute)
	m.put(t, l, e.clock.Ms(), keyed("a", "2"))
	if n := l.NumSegments(); n != 1 {
		t.Fatalf("%d segments before the lag", n)
	}
	e.clock.Advance(31 * time.Minute)
	m.put(t, l, e.clock.Ms(), keyed("a", "3"))
	if n := l.NumSegments(); n != 2 {
		t.Fatalf("%d segments after the lag, want a roll", n)
	}
	// Without compaction the same timing does not roll.
	cfg.CleanupCompact = false
	l.SetConfig(cfg)
	e.clock.Advance(2 * time.Hour)
	m.put(t, l, e.clock.Ms(), keyed("a", "4"))
	if n := l.NumSegments(); n != 2 {
		t.Fatalf("%d segments: a delete-only log rolled on max.compaction.lag.ms", n)
	}
}

// TestRetentionFollowsCleanupPolicy: time and size retention apply to
// "delete" and "compact,delete" logs, never to "compact" alone.
func TestRetentionFollowsCleanupPolicy(t *testing.T) {
	for _, tc := range []struct {
		name            string
		compact, delete bool
		wantDeleted     bool
	}{
		{"compact", true, false, false},
		{"compact,delete", true, true, true},
		{"delete", false, true, true},
		{"unset", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			cfg := smallConfig()
			cfg.SegmentBytes = 1000
			cfg.RetentionMs = time.Hour.Milliseconds()
			cfg.RetentionBytes = 2000
			cfg.CleanupCompact, cfg.CleanupDelete = tc.compact, tc.delete
			l := e.log(cfg)
			for i := range 20 {
				appendBatch(t, l, storagetest.Sized(1, 300, e.clock.Ms()-10*time.Hour.Milliseconds()+int64(i)), 0)
			}
			n, err := l.EnforceRetention()
			if err != nil {
				t.Fatal(err)
			}
			if (n > 0) != tc.wantDeleted {
				t.Fatalf("retention deleted %d segments", n)
			}
		})
	}
}

// TestManagerClean: one Manager pass cleans the compacted logs and leaves
// the others byte for byte; after Close it refuses.
func TestManagerClean(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(11, 12))
	compact, err := e.m.GetOrCreate(TopicPartition{"compacted", 0}, testTopicID, compactConfig())
	if err != nil {
		t.Fatal(err)
	}
	plain, err := e.m.GetOrCreate(TopicPartition{"plain", 0}, testTopicID, smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	var mc, mp kmodel
	mc.randomKeyed(t, compact, rng, 100, 10, 0)
	mp.randomKeyed(t, plain, rng, 100, 10, 0)
	rollLog(t, compact)
	rollLog(t, plain)
	plainBefore := readAll(t, plain)
	if err := e.m.Clean(context.Background()); err != nil {
		t.Fatal(err)
	}
	sameRecords(t, readRecords(t, compact), compacted(mc.recs, activeBase(compact), 0))
	sameBatches(t, readAll(t, plain), plainBefore)
	if _, ok := e.logs.find("cleaned log"); !ok {
		t.Fatal("the pass was not logged")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	mc.randomKeyed(t, compact, rng, 20, 10, 0)
	rollLog(t, compact)
	if err := e.m.Clean(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Clean with a cancelled context: %v", err)
	}
	if err := e.m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Clean(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Clean after Close: %v", err)
	}
	if _, err := compact.Clean(e.clock.Now()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Log.Clean after Close: %v", err)
	}
}

// TestCleanSkipsGroupChangedMeanwhile: a group whose segments retention
// removed while the pass was writing is not swapped in, and the pass
// does not claim the log clean.
func TestCleanSkipsGroupChangedMeanwhile(t *testing.T) {
	e := newEnv(t)
	l := e.log(compactConfig())
	var m kmodel
	for i := range 60 {
		m.put(t, l, int64(i), keyed(fmt.Sprint("k", i%5), string(bytes.Repeat([]byte("v"), 200))))
	}
	rollLog(t, l)
	cfg := l.Config()
	p, err := l.planClean(e.clock.Ms(), &cfg)
	if err != nil || p == nil {
		t.Fatalf("plan: %v %v", p, err)
	}
	defer releaseAll(p.segs)
	var res CleanResult
	end, err := l.mapDirty(context.Background(), l.cleaner, p, &res)
	if err != nil {
		t.Fatal(err)
	}
	g := groupSegments(p, end, cfg.SegmentBytes)[0]
	out, err := l.cleanGroup(context.Background(), l.cleaner, p, g, end, &res)
	if err != nil || out == nil {
		t.Fatalf("cleanGroup: %v %v", out, err)
	}
	// Meanwhile the first segment goes.
	if err := l.DeleteRecordsBefore(g.end); err != nil {
		t.Fatal(err)
	}
	before := readAll(t, l)
	swapped, err := l.swapIn(g, out)
	if err != nil || swapped {
		t.Fatalf("swapIn of a changed group: %v %v", swapped, err)
	}
	sameBatches(t, readAll(t, l), before)
	if _, err := e.fs.Stat(out.path); err == nil {
		t.Fatal("the discarded cleaned file is still there")
	}
}
