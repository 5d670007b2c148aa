package storage

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/spool-mq/spool/internal/storage/storagetest"
)

// fillRandom appends n random batches with timestamps from ts(i).
func fillRandom(t *testing.T, l *Log, rng *rand.Rand, n int, ts func(i int) int64) []batch {
	t.Helper()
	var out []batch
	for i := range n {
		out = append(out, appendBatch(t, l, randomBatch(rng, ts(i)), 0))
	}
	return out
}

// checkLookups compares Read at random offsets with a linear scan.
func checkLookups(t *testing.T, l *Log, want []batch, rng *rand.Rand) {
	t.Helper()
	end := l.LogEndOffset()
	for range 300 {
		off := l.LogStartOffset() + rng.Int64N(end-l.LogStartOffset())
		res, err := l.Read(off, end, 1, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		got := splitBatches(t, res.Data)
		w := want[containing(want, off)]
		if len(got) != 1 || got[0].h.BaseOffset != w.h.BaseOffset {
			t.Fatalf("Read(%d) gave batch %d, oracle says %d", off, got[0].h.BaseOffset, w.h.BaseOffset)
		}
	}
}

func TestIndexLookupOracle(t *testing.T) {
	for _, interval := range []int32{1, 100, 1000, 1 << 20} {
		e := newEnv(t)
		cfg := smallConfig()
		cfg.SegmentBytes = 20000
		cfg.IndexIntervalBytes = interval
		l := e.log(cfg)
		rng := rand.New(rand.NewPCG(uint64(interval), 7))
		want := fillRandom(t, l, rng, 300, func(i int) int64 { return int64(i) })
		checkLookups(t, l, want, rng)

		// Sealed segments' indexes come from their files after a restart.
		l = e.restart().Get(testTP)
		checkLookups(t, l, want, rng)

		// Missing or damaged index files are rebuilt from the log.
		l.mu.RLock()
		segs := append([]*segment(nil), l.segments...)
		l.mu.RUnlock()
		e.m.Close()
		for i, s := range segs[:len(segs)-1] {
			p := segmentPath(filepath.Dir(s.path), s.base, indexSuffix)
			if i%2 == 0 {
				e.fs.Remove(p)
			} else {
				writeFileAtomic(e.fs, p, []byte("garbage!"), true)
			}
		}
		l = e.open().Get(testTP)
		checkLookups(t, l, want, rng)
		sameBatches(t, readAll(t, l), want)
		e.m.Close()
	}
}

func TestOffsetIndexUnit(t *testing.T) {
	ix := newSegIndex(100)
	// Batches of 50 bytes, offsets 100, 103, 106...; entries every 120 bytes.
	for i := range 20 {
		h := storagetest.Build(storagetest.Spec{BaseOffset: int64(100 + 3*i), Values: [][]byte{nil, nil, nil}})
		hdr := mustHeader(t, h)
		ix.add(&hdr, int64(50*i), 120)
	}
	if err := ix.off.check(1000); err != nil {
		t.Fatal(err)
	}
	if err := ix.off.check(ix.lastIndexedPos); err == nil {
		t.Fatal("check accepted a position beyond the segment size")
	}
	for rel := uint32(0); rel < 60; rel++ {
		pos := ix.off.lookup(rel)
		// The entry must be at a batch whose base is <= rel, and the
		// next entry (if any) beyond rel.
		batchAt := int(pos / 50)
		if int(rel) < 3*batchAt {
			t.Fatalf("lookup(%d) = %d points past the target", rel, pos)
		}
		if int(rel)-3*batchAt >= 3*4 {
			t.Fatalf("lookup(%d) = %d is further back than the index spacing", rel, pos)
		}
	}
	if ix.next != 160 || ix.count != 20 {
		t.Fatalf("next %d count %d", ix.next, ix.count)
	}
}

func TestTimestampLookupsOracle(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	cfg.SegmentBytes = 6000
	cfg.IndexIntervalBytes = 500
	l := e.log(cfg)
	rng := rand.New(rand.NewPCG(3, 4))
	// Timestamps wander: mostly rising, sometimes jumping back or far ahead.
	ts := int64(10_000)
	want := fillRandom(t, l, rng, 400, func(int) int64 {
		ts += rng.Int64N(200) - 60
		if rng.IntN(50) == 0 {
			ts += 5000
		}
		return ts
	})
	check := func(l *Log) {
		t.Helper()
		var maxTS, maxOff int64 = -1, -1
		for _, b := range want {
			if b.h.LastOffset() >= l.LogStartOffset() && b.h.MaxTimestamp > maxTS {
				maxTS, maxOff = b.h.MaxTimestamp, max(b.h.BaseOffset, l.LogStartOffset())
			}
		}
		gotTS, gotOff := l.MaxTimestamp()
		if gotTS != maxTS || gotOff != maxOff {
			t.Fatalf("MaxTimestamp = %d@%d, oracle %d@%d", gotTS, gotOff, maxTS, maxOff)
		}
		for range 300 {
			q := 9_000 + rng.Int64N(ts-9_000+2000)
			off, bts, found, err := l.OffsetForTimestamp(q)
			if err != nil {
				t.Fatal(err)
			}
			wi := -1
			for i, b := range want {
				if b.h.LastOffset() >= l.LogStartOffset() && b.h.MaxTimestamp >= q {
					wi = i
					break
				}
			}
			if wi < 0 {
				if found {
					t.Fatalf("OffsetForTimestamp(%d) found %d, oracle none", q, off)
				}
				continue
			}
			w := want[wi]
			if !found || off != max(w.h.BaseOffset, l.LogStartOffset()) || bts != w.h.MaxTimestamp {
				t.Fatalf("OffsetForTimestamp(%d) = %d ts %d found %v, oracle %d ts %d", q, off, bts, found, w.h.BaseOffset, w.h.MaxTimestamp)
			}
		}
	}
	check(l)
	l = e.restart().Get(testTP)
	check(l)
	l = e.crash(vfsNoTorn).Get(testTP)
	check(l)
	// Move the log start into the middle of a batch.
	if err := l.DeleteRecordsBefore(want[150].h.BaseOffset + 1); err != nil {
		t.Fatal(err)
	}
	check(l)
	// Delete up to just past the largest timestamp: the maximum must come
	// from what is left, even within the same segment.
	_, maxOff := l.MaxTimestamp()
	if err := l.DeleteRecordsBefore(maxOff + 1); err != nil {
		t.Fatal(err)
	}
	check(l)
}
