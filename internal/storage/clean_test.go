package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

// activeBase is the base offset of the log's active segment.
func activeBase(l *Log) int64 {
	b := segmentBases(l)
	return b[len(b)-1]
}

// checkLookups compares Read, OffsetForTimestamp and MaxTimestamp with
// oracles computed from a full read of the log.
func checkCleanLookups(t *testing.T, l *Log, rng *rand.Rand) {
	t.Helper()
	bs := readAll(t, l)
	start, end := l.LogStartOffset(), l.LogEndOffset()
	for range 200 {
		off := start + rng.Int64N(end-start)
		res, err := l.Read(off, end, 1, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		i := containing(bs, off)
		if i < 0 {
			if len(res.Data) != 0 {
				t.Fatalf("Read(%d) returned data past the last batch", off)
			}
			continue
		}
		if got := splitBatches(t, res.Data); len(got) != 1 || !bytes.Equal(got[0].data, bs[i].data) {
			t.Fatalf("Read(%d) did not return the batch at %d", off, bs[i].h.BaseOffset)
		}
	}
	lo, hi := bs[0].h.MaxTimestamp, bs[0].h.MaxTimestamp
	for _, b := range bs {
		lo, hi = min(lo, b.h.MaxTimestamp), max(hi, b.h.MaxTimestamp)
	}
	for range 100 {
		ts := lo - 5 + rng.Int64N(hi-lo+10)
		off, gotTS, found, err := l.OffsetForTimestamp(ts)
		if err != nil {
			t.Fatal(err)
		}
		want := slices.IndexFunc(bs, func(b batch) bool { return b.h.MaxTimestamp >= ts })
		if want < 0 {
			if found {
				t.Fatalf("OffsetForTimestamp(%d) found %d, want none", ts, off)
			}
			continue
		}
		if !found || off != max(bs[want].h.BaseOffset, start) || gotTS != bs[want].h.MaxTimestamp {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", ts, off, gotTS, found, bs[want].h.BaseOffset, bs[want].h.MaxTimestamp)
		}
	}
	maxTS, maxOff := l.MaxTimestamp()
	want := slices.IndexFunc(bs, func(b batch) bool { return b.h.MaxTimestamp == hi })
	if maxTS != hi || maxOff != max(bs[want].h.BaseOffset, start) {
		t.Fatalf("MaxTimestamp = %d at %d, want %d at %d", maxTS, maxOff, hi, bs[want].h.BaseOffset)
	}
}

// TestCleanKeepsLatestPerKey: a pass keeps exactly the latest record of
// each key below the active segment (tombstones too, until
// delete.retention.ms after they were first cleaned), preserves offsets
// and timestamps, merges segments, and keeps every lookup right, also
// after a restart.
func TestCleanKeepsLatestPerKey(t *testing.T) {
	e := newEnv(t)
	cfg := compactConfig()
	l := e.log(cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	var m kmodel
	ts := m.randomKeyed(t, l, rng, 300, 40, e.clock.Ms()-10_000_000)
	rollLog(t, l)
	ts = m.randomKeyed(t, l, rng, 10, 40, ts)
	end1 := activeBase(l)
	segsBefore, sizeBefore := l.NumSegments(), l.Size()

	res := mustClean(t, l, e.clock)
	if !res.Ran || res.FirstDirty != 0 || res.EndOffset != end1 || res.RecordsRemoved == 0 || res.SegmentsReplaced == 0 {
		t.Fatalf("first pass: %+v (active base %d)", res, end1)
	}
	want := compacted(m.recs, end1, 0)
	got := readRecords(t, l)
	sameRecords(t, got, want)
	if !maps2Equal(latestValues(got), latestValues(m.recs)) {
		t.Fatal("a consumer rebuilding the table sees different values")
	}
	if tombs := countTombstones(got, end1); tombs == 0 {
		t.Fatal("the workload left no tombstone to check retention with")
	}
	if l.Size() >= sizeBefore || l.NumSegments() >= segsBefore {
		t.Fatalf("size %d -> %d, segments %d -> %d: nothing shrank", sizeBefore, l.Size(), segsBefore, l.NumSegments())
	}
	checkCleanLookups(t, l, rng)

	// A restart reads the same log and remembers how far it is clean.
	e.restart()
	l = e.log(cfg)
	sameRecords(t, readRecords(t, l), want)
	checkCleanLookups(t, l, rng)
	if res := mustClean(t, l, e.clock); res.Ran {
		t.Fatalf("a clean log was cleaned again: %+v", res)
	}

	// Past delete.retention.ms the tombstones the first pass cleaned go;
	// newer ones stay.
	// The new records use other keys, so the old tombstones stay latest.
	e.clock.Advance(2 * time.Hour)
	m.prefix = "new-"
	m.randomKeyed(t, l, rng, 60, 40, ts)
	rollLog(t, l)
	end2 := activeBase(l)
	res = mustClean(t, l, e.clock)
	if !res.Ran || res.FirstDirty != end1 || res.EndOffset != end2 {
		t.Fatalf("second pass: %+v, want dirty range [%d, %d)", res, end1, end2)
	}
	got = readRecords(t, l)
	sameRecords(t, got, compacted(m.recs, end2, end1))
	if n := countTombstones(got, end1); n != 0 {
		t.Fatalf("%d tombstones below %d outlived delete.retention.ms", n, end1)
	}
	if countTombstones(got, end2)-countTombstones(got, end1) == 0 {
		t.Fatal("tombstones of the second pass's range were dropped before their time")
	}
	checkCleanLookups(t, l, rng)
}

func countTombstones(recs []krec, below int64) int {
	n := 0
	for _, r := range recs {
		if r.offset < below && r.value == nil {
			n++
		}
	}
	return n
}

func maps2Equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestCleanNeverTouchesActiveSegment: records in the active segment stay
// byte for byte, even superseded ones; a log that is all active segment is
// not cleaned at all.
func TestCleanNeverTouchesActiveSegment(t *testing.T) {
	e := newEnv(t)
	l := e.log(compactConfig())
	var m kmodel
	for i := range 5 {
		m.put(t, l, int64(i), keyed("k", fmt.Sprint(i)))
	}
	if res := mustClean(t, l, e.clock); res.Ran {
		t.Fatalf("cleaned a log with only an active segment: %+v", res)
	}
	sameRecords(t, readRecords(t, l), m.recs)

	rollLog(t, l)
	for i := range 5 {
		m.put(t, l, int64(10+i), keyed("k", fmt.Sprint(10+i)))
	}
	act := l.segments[len(l.segments)-1]
	before := make([]byte, act.size.Load())
	if _, err := act.file.ReadAt(before, 0); err != nil {
		t.Fatal(err)
	}
	res := mustClean(t, l, e.clock)
	if !res.Ran || res.EndOffset != 5 {
		t.Fatalf("pass %+v", res)
	}
	after := make([]byte, act.size.Load())
	if _, err := act.file.ReadAt(after, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) || l.segments[len(l.segments)-1] != act {
		t.Fatal("the active segment changed")
	}
	// Below the active segment only the last "k" survives; all five in
	// the active segment stay.
	sameRecords(t, readRecords(t, l), compacted(m.recs, 5, 0))
	if n := len(readRecords(t, l)); n != 6 {
		t.Fatalf("%d records, want 6", n)
	}
}

// TestCleanNullKeysAndTransactions: null-key records are dropped,
// transactional and control batches are kept byte for byte, and a
// transactional record does not supersede an earlier committed value
// (the cleaner cannot tell whether it was aborted).
func TestCleanNullKeysAndTransactions(t *testing.T) {
	e := newEnv(t)
	l := e.log(compactConfig())
	var m kmodel
	m.put(t, l, 1, keyed("a", "a1"), kv{key: nil, value: []byte("no key")}, keyed("b", "b1"))
	txn := plainHeader(record.CodecNone)
	txn.Attributes |= 0x10
	txn.ProducerID, txn.ProducerEpoch, txn.BaseSequence = 9, 0, 0
	m.add(t, l, txn, 2, keyed("a", "a-txn"), keyed("a", "a-txn2"))
	ctrl := txn
	ctrl.Attributes |= 0x20
	ctrl.BaseSequence = -1
	m.add(t, l, ctrl, 3, kv{key: []byte{0, 0, 0, 1}, value: []byte{0, 0, 0, 0, 0, 0}})
	m.put(t, l, 4, keyed("b", "b2"), kv{key: nil, value: []byte("no key 2")})
	rollLog(t, l)
	m.put(t, l, 5, keyed("c", "c1"))

	txnBefore := txnBatches(readAll(t, l))
	res := mustClean(t, l, e.clock)
	if !res.Ran {
		t.Fatalf("pass %+v", res)
	}
	got := readRecords(t, l)
	sameRecords(t, got, compacted(m.recs, res.EndOffset, 0))
	for _, r := range got {
		if r.key == nil {
			t.Fatalf("null-key record %v survived", r)
		}
	}
	if v := latestValues(got)["a"]; v != "a1" {
		t.Fatalf("committed value of a is %q, want a1", v)
	}
	if txnAfter := txnBatches(readAll(t, l)); len(txnAfter) != 2 || !slices.EqualFunc(txnAfter, txnBefore, bytes.Equal) {
		t.Fatal("transactional or control batches changed")
	}
}

func txnBatches(bs []batch) [][]byte {
	var out [][]byte
	for _, b := range bs {
		if b.h.Transactional() {
			out = append(out, b.data)
		}
	}
	return out
}

// TestCleanRecompresses: rewritten batches keep their codec.
func TestCleanRecompresses(t *testing.T) {
	e := newEnv(t)
	l := e.log(compactConfig())
	var m kmodel
	codecs := map[int64]record.Codec{} // first offset of a batch -> codec
	all := []record.Codec{record.CodecNone, record.CodecGzip, record.CodecSnappy, record.CodecLZ4, record.CodecZstd}
	for i := range 40 {
		c := all[i%len(all)]
		codecs[l.LogEndOffset()] = c
		m.add(t, l, plainHeader(c), int64(i*10), keyed(fmt.Sprint("k", i%7), fmt.Sprint(i)),
			keyed(fmt.Sprint("j", i%3), fmt.Sprint(i)), keyed(fmt.Sprint("u", i), "unique"))
	}
	rollLog(t, l)
	res := mustClean(t, l, e.clock)
	sameRecords(t, readRecords(t, l), compacted(m.recs, res.EndOffset, 0))
	rewritten := 0
	for _, b := range readAll(t, l) {
		orig := b.h.BaseOffset - (b.h.BaseOffset % 3) // batches hold offsets 3i..3i+2
		if want := codecs[orig]; b.h.Codec() != want {
			t.Fatalf("batch at %d has codec %s, want %s", b.h.BaseOffset, b.h.Codec(), want)
		}
		if b.h.NumRecords < 3 {
			rewritten++
		}
	}
	if rewritten == 0 {
		t.Fatal("no batch was rewritten")
	}
}

// TestCleanBoundedMap: with a key map smaller than the dirty range's key
// count the log is cleaned over several passes, each a prefix, and the
// end result is exact.
func TestCleanBoundedMap(t *testing.T) {
	clock := newClock()
	m, err := OpenManager(dataDir, Options{FS: vfstest.NewMem(), Now: clock.Now, CleanerMaxMapEntries: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := m.GetOrCreate(testTP, testTopicID, compactConfig())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var km kmodel
	km.randomKeyed(t, l, rng, 250, 100, clock.Ms())
	rollLog(t, l)
	end := activeBase(l)
	passes, prev := 0, int64(0)
	for {
		res := mustClean(t, l, clock)
		if !res.Ran {
			break
		}
		passes++
		if res.FirstDirty != prev || res.EndOffset <= prev || res.EndOffset > end {
			t.Fatalf("pass %d: %+v, previous end %d", passes, res, prev)
		}
		prev = res.EndOffset
		// After each pass the log is exactly the prefix compaction.
		sameRecords(t, readRecords(t, l), compacted(km.recs, prev, 0))
	}
	if prev != end || passes < 100/16 {
		t.Fatalf("%d passes reached %d, want several reaching %d", passes, prev, end)
	}
	sameRecords(t, readRecords(t, l), compacted(km.recs, end, 0))
}

// TestCleanWithConcurrentReadersAndAppends: readers scanning the whole log
// while passes swap segments never fail, never see offsets go backwards,
// and always find every key's latest value.
func TestCleanWithConcurrentReadersAndAppends(t *testing.T) {
	e := newEnv(t)
	cfg := compactConfig()
	cfg.SegmentBytes = 2048
	l := e.log(cfg)
	rng := rand.New(rand.NewPCG(7, 8))
	var m kmodel
	ts := m.randomKeyed(t, l, rng, 150, 30, 0)
	rollLog(t, l)
	want := latestValues(m.recs)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				recs, err := scanRecords(l)
				if err == nil {
					var base []krec
					for _, r := range recs {
						if bytes.HasPrefix(r.key, []byte("key-")) {
							base = append(base, r)
						}
					}
					if !maps2Equal(latestValues(base), want) {
						err = errors.New("a reader missed a key's latest value")
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // an appender of unrelated keys
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b := encodeKV(t, plainHeader(record.CodecNone), ts+int64(i), keyed(fmt.Sprint("new-", i%5), "x"))
			if _, err := l.Append(b, AppendOptions{AssignOffsets: true, LeaderEpoch: 0}); err != nil {
				errs <- err
				return
			}
		}
	}()
	for range 4 {
		if _, err := l.Clean(e.clock.Now()); err != nil {
			t.Error(err)
		}
		rollLog2(l) // more to clean next time
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// rollLog2 is rollLog for use off the test goroutine.
func rollLog2(l *Log) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.roll(l.logEnd.Load())
}

// scanRecords reads the log like readRecords but returns errors.
func scanRecords(l *Log) ([]krec, error) {
	var out []krec
	dec := record.NewDecoder()
	off, end := l.LogStartOffset(), l.LogEndOffset()
	last := int64(-1)
	for off < end {
		res, err := l.Read(off, end, 2000, true)
		if err != nil {
			return nil, err
		}
		if len(res.Data) == 0 {
			// Cleaning removed everything in [off, end): the next batch
			// lies at or past the end captured when the scan began, as a
			// fetch bounded by an older high watermark sees it.
			break
		}
		n, err := record.Batches(res.Data, func(h record.Header, b []byte) error {
			if h.BaseOffset <= last {
				return fmt.Errorf("batch at %d after offset %d", h.BaseOffset, last)
			}
			last = h.LastOffset()
			return dec.Records(b, func(r *kmsg.Record) bool {
				out = append(out, krec{offset: h.BaseOffset + int64(r.OffsetDelta), key: bytes.Clone(r.Key), value: bytes.Clone(r.Value)})
				return true
			})
		})
		if err != nil || n != len(res.Data) || n == 0 {
			return nil, fmt.Errorf("read at %d: %d of %d bytes: %v", off, n, len(res.Data), err)
		}
		off = last + 1
	}
	return out, nil
}

// TestCleanKeepsBatchesOverTheLimit: a stored batch whose records
// decompress past the decoder's limit (stored before the limit was
// lowered) does not fail the pass: it is kept whole and its keys
// supersede nothing, so cleaning only ever keeps more.
func TestCleanKeepsBatchesOverTheLimit(t *testing.T) {
	clock := newClock()
	m, err := OpenManager(dataDir, Options{FS: vfstest.NewMem(), Now: clock.Now, Decoder: record.NewDecoderLimit(2048)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := m.GetOrCreate(testTP, testTopicID, compactConfig())
	if err != nil {
		t.Fatal(err)
	}
	var km kmodel
	big := string(bytes.Repeat([]byte("x"), 4096))
	km.put(t, l, clock.Ms(), keyed("k2", "v1"), keyed("k", "first"))
	km.add(t, l, plainHeader(record.CodecZstd), clock.Ms(), keyed("k", big), keyed("k3", big))
	km.put(t, l, clock.Ms(), keyed("k", "new"), keyed("k2", "v2"))
	rollLog(t, l)
	mustClean(t, l, clock)
	got := readRecords(t, l)
	var want []krec
	for _, r := range km.recs {
		// Only the uncompressed records superseded by uncompressed ones go.
		if (string(r.key) == "k2" && string(r.value) == "v1") || (string(r.key) == "k" && string(r.value) == "first") {
			continue
		}
		want = append(want, r)
	}
	sameRecords(t, got, want)
}
