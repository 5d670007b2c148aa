package storage

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/spool-mq/spool/internal/storage/storagetest"
	"github.com/spool-mq/spool/internal/vfs"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

// kill simulates the broker process dying (SIGKILL): everything written
// stays (it is in the page cache), nothing is closed, the lock is released
// by the kernel.
func (e *env) kill() *Manager {
	e.t.Helper()
	e.m.lock.Close()
	e.logs = &logRecorder{}
	return e.open()
}

// model is what a log must hold: batches from the log start on, of which
// the first durable ones must survive any crash.
type model struct {
	batches []batch
	durable int
	start   int64
}

func (m *model) end() int64 {
	if len(m.batches) == 0 {
		return m.start
	}
	return m.batches[len(m.batches)-1].h.NextOffset()
}

// markFlushed counts the batches below the log's recovery point as durable.
func (m *model) markFlushed(l *Log) {
	for m.durable < len(m.batches) && m.batches[m.durable].h.NextOffset() <= l.FlushedOffset() {
		m.durable++
	}
}

// checkSame asserts the log holds exactly the model.
func (m *model) checkSame(t *testing.T, l *Log) {
	t.Helper()
	if l.LogStartOffset() != m.start || l.LogEndOffset() != m.end() {
		t.Fatalf("log start/end %d/%d, model %d/%d", l.LogStartOffset(), l.LogEndOffset(), m.start, m.end())
	}
	sameBatches(t, readAll(t, l), m.batches)
}

// afterCrash asserts the recovered log is the model's durable batches plus
// possibly more of its batches, byte for byte and at the same offsets, and
// makes the model match it.
func (m *model) afterCrash(t *testing.T, l *Log) {
	t.Helper()
	got := readAll(t, l)
	if len(got) < m.durable {
		t.Fatalf("crash lost durable data: %d batches survived, %d were flushed", len(got), m.durable)
	}
	if len(got) > len(m.batches) {
		t.Fatalf("%d batches after crash, only %d were written", len(got), len(m.batches))
	}
	for i := range got {
		if !bytes.Equal(got[i].data, m.batches[i].data) {
			t.Fatalf("batch %d (offset %d) differs after crash", i, got[i].h.BaseOffset)
		}
	}
	if l.LogStartOffset() != m.start {
		t.Fatalf("log start %d after crash, want %d", l.LogStartOffset(), m.start)
	}
	m.batches = m.batches[:len(got)]
	if l.LogEndOffset() != m.end() {
		t.Fatalf("log end %d after crash, batches end at %d", l.LogEndOffset(), m.end())
	}
	// Everything recovered is durable now.
	if l.FlushedOffset() != l.LogEndOffset() {
		t.Fatalf("recovery point %d below log end %d after recovery", l.FlushedOffset(), l.LogEndOffset())
	}
	m.durable = len(m.batches)
}

// TestCrashMetamorphic runs random operations against a log and a model,
// crashing (power cut with torn writes, or process kill) and restarting
// along the way. Flushed data must always survive at the same offsets;
// unflushed data may survive only as a prefix; truncated or deleted data
// must never come back.
func TestCrashMetamorphic(t *testing.T) {
	seeds := 100
	if testing.Short() {
		seeds = 10
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runMetamorphic(t, seed) })
	}
}

func runMetamorphic(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	e := newEnv(t)
	cfg := smallConfig()
	cfg.SegmentBytes = int64(1500 + rng.IntN(4000))
	cfg.IndexIntervalBytes = int32(64 + rng.IntN(1000))
	cfg.RetentionBytes = 30000
	l := e.log(cfg)
	m := &model{}
	ts := int64(1000)
	epoch := int32(0)
	for step := range 150 {
		switch op := rng.IntN(100); {
		case op < 45: // append one to three batches in one write
			var data []byte
			for range 1 + rng.IntN(3) {
				ts += rng.Int64N(10)
				data = append(data, randomBatch(rng, ts)...)
			}
			if rng.IntN(10) == 0 {
				epoch++
			}
			if _, err := l.Append(data, AppendOptions{AssignOffsets: true, LeaderEpoch: epoch}); err != nil {
				t.Fatalf("step %d: append: %v", step, err)
			}
			m.batches = append(m.batches, splitBatches(t, data)...)
		case op < 60:
			if err := l.Flush(l.LogEndOffset()); err != nil {
				t.Fatalf("step %d: flush: %v", step, err)
			}
			m.markFlushed(l)
		case op < 63:
			if err := e.m.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		case op < 67 && m.durable > 0: // delete records up to the durable end
			i := rng.IntN(m.durable)
			off := m.batches[i].h.BaseOffset + rng.Int64N(int64(m.batches[i].h.LastOffsetDelta)+1)
			if off <= m.start {
				break
			}
			if err := l.DeleteRecordsBefore(off); err != nil {
				t.Fatalf("step %d: delete records: %v", step, err)
			}
			m.start = off
			k := containing(m.batches, off)
			m.batches = m.batches[k:]
			m.durable -= k
		case op < 71 && len(m.batches) > 0: // follower truncation
			i := rng.IntN(len(m.batches))
			off := max(m.batches[i].h.BaseOffset+rng.Int64N(int64(m.batches[i].h.LastOffsetDelta)+1), m.start)
			if err := l.TruncateTo(off); err != nil {
				t.Fatalf("step %d: truncate: %v", step, err)
			}
			// The batch holding off goes too; the log then ends where it
			// began, and a log start inside it moves back there.
			k := containing(m.batches, off)
			m.start = min(m.start, m.batches[k].h.BaseOffset)
			m.batches = m.batches[:k]
			m.durable = min(m.durable, k)
			if l.LogEndOffset() != m.end() {
				t.Fatalf("step %d: truncate to %d: log end %d, model %d", step, off, l.LogEndOffset(), m.end())
			}
		case op < 74:
			if _, err := l.EnforceRetention(); err != nil {
				t.Fatal(err)
			}
			k := 0
			for k < len(m.batches) && m.batches[k].h.NextOffset() <= l.LogStartOffset() {
				k++
			}
			m.batches, m.durable, m.start = m.batches[k:], max(m.durable-k, 0), l.LogStartOffset()
		case op < 80:
			m.checkSame(t, l)
		case op < 84:
			l = e.restart().Get(testTP)
			m.durable = len(m.batches)
			m.checkSame(t, l)
		case op < 90:
			l = e.kill().Get(testTP)
			// A process kill loses nothing that was written.
			m.durable = len(m.batches)
			m.checkSame(t, l)
		default:
			l = e.crash(vfstest.CrashOptions{Torn: true, Seed: seed*1000 + uint64(step)}).Get(testTP)
			if l == nil {
				t.Fatalf("step %d: log vanished in a crash", step)
			}
			m.afterCrash(t, l)
		}
	}
	l = e.crash(vfstest.CrashOptions{Torn: true, Seed: seed}).Get(testTP)
	m.afterCrash(t, l)
	// The log keeps working after all that.
	b := appendBatch(t, l, storagetest.Batch(ts, []byte("last")), epoch)
	if b.h.BaseOffset != m.end() {
		t.Fatalf("append after recovery at %d, want %d", b.h.BaseOffset, m.end())
	}
}

// segmentFiles lists the log's .log files in order.
func segmentFiles(t *testing.T, fsys vfs.FS, dir string) []string {
	t.Helper()
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), logSuffix) {
			out = append(out, dir+"/"+e.Name())
		}
	}
	return out
}

func TestCrashTornTailTruncatedAtBatchBoundary(t *testing.T) {
	for seed := range uint64(30) {
		e := newEnv(t)
		l := e.log(smallConfig())
		var bs []batch
		for i := range 10 {
			bs = append(bs, appendBatch(t, l, storagetest.Sized(2, 200, int64(i)), 0))
		}
		l.Flush(l.LogEndOffset())
		e.m.Checkpoint()
		for i := range 5 {
			bs = append(bs, appendBatch(t, l, storagetest.Sized(2, 200, int64(i)), 0))
		}
		l = e.crash(vfstest.CrashOptions{Torn: true, Seed: seed}).Get(testTP)
		m := &model{batches: bs, durable: 10}
		m.afterCrash(t, l)
		// The segment file was cut back to whole batches.
		files := segmentFiles(t, e.fs, dataDir+"/orders-3")
		st, err := e.fs.Stat(files[len(files)-1])
		if err != nil {
			t.Fatal(err)
		}
		l.mu.RLock()
		act := l.active()
		l.mu.RUnlock()
		if st.Size() != act.size.Load() {
			t.Fatalf("seed %d: file is %d bytes, log uses %d", seed, st.Size(), act.size.Load())
		}
	}
}

func TestCorruptByteInTailIsTruncated(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	var bs []batch
	var pos []int64
	var p int64
	for i := range 8 {
		if i == 3 {
			l.Flush(l.LogEndOffset())
			e.m.Checkpoint()
		}
		b := appendBatch(t, l, storagetest.Sized(2, 300, int64(i)), 0)
		bs = append(bs, b)
		pos = append(pos, p)
		p += int64(len(b.data))
	}
	if l.NumSegments() != 1 {
		t.Fatal("test wants one segment")
	}
	// Flip one byte in the records of batch 5 (past the recovery point).
	f, err := e.fs.OpenFile(dataDir+"/orders-3/00000000000000000000.log", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	at := pos[5] + 100
	var c [1]byte
	f.ReadAt(c[:], at)
	c[0] ^= 0x40
	f.WriteAt(c[:], at)
	f.Close()

	l = e.kill().Get(testTP)
	sameBatches(t, readAll(t, l), bs[:5])
	attrs, ok := e.logs.find("truncating log at the first invalid batch")
	if !ok || attrs["bytes_dropped"].Int64() != p-pos[5] || attrs["position"].Int64() != pos[5] {
		t.Fatalf("warning missing or wrong: %v", attrs)
	}
	// Appends continue right after the last good batch.
	b := appendBatch(t, l, storagetest.Batch(1, []byte("x")), 0)
	if b.h.BaseOffset != bs[4].h.NextOffset() {
		t.Fatalf("append at %d", b.h.BaseOffset)
	}
}

func TestOutOfOrderBatchIsTruncated(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	for i := range 4 {
		appendBatch(t, l, storagetest.Batch(int64(i), []byte("v")), 0)
	}
	e.m.Close()
	// Append, behind the log's back, a valid batch whose offset goes back.
	f, _ := e.fs.OpenFile(dataDir+"/orders-3/00000000000000000000.log", os.O_RDWR, 0)
	st, _ := f.Stat()
	f.WriteAt(storagetest.Build(storagetest.Spec{BaseOffset: 1}), st.Size())
	f.Close()
	e.fs.Remove(dataDir + "/" + cleanShutdownFile)
	l = e.open().Get(testTP)
	if l.LogEndOffset() != 4 || len(readAll(t, l)) != 4 {
		t.Fatalf("log end %d", l.LogEndOffset())
	}
}

// A torn write can end a segment exactly at a batch boundary; the next
// segment then must not be kept after the gap.
func TestTornSegmentEndDropsLaterSegments(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	cfg.SegmentBytes = 1000
	l := e.log(cfg)
	var bs []batch
	for i := range 3 {
		bs = append(bs, appendBatch(t, l, storagetest.Sized(1, 300, int64(i)), 0))
	}
	l.Flush(l.LogEndOffset())
	e.m.Checkpoint()
	for i := range 6 {
		bs = append(bs, appendBatch(t, l, storagetest.Sized(1, 300, int64(i)), 0))
	}
	if l.NumSegments() < 3 {
		t.Fatal("test wants several segments")
	}
	e.m.lock.Close()
	// Cut the second segment back by one whole batch.
	files := segmentFiles(t, e.fs, dataDir+"/orders-3")
	f, _ := e.fs.OpenFile(files[1], os.O_RDWR, 0)
	st, _ := f.Stat()
	f.Truncate(st.Size() - int64(len(bs[5].data)))
	f.Close()
	l = e.open().Get(testTP)
	got := readAll(t, l)
	if len(got) >= 6 || len(got) < 3 {
		t.Fatalf("%d batches survived", len(got))
	}
	sameBatches(t, got, bs[:len(got)])
	if _, ok := e.logs.find("segment does not continue the previous one; dropping it and everything after"); !ok {
		t.Fatal("no warning about the dropped segment")
	}
}

// A follower roll over a huge offset gap must survive a crash once flushed,
// even if the periodic checkpoint ran before the data was flushed.
func TestGapRollSurvivesCrash(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	follow := func(base int64) {
		t.Helper()
		b := storagetest.Build(storagetest.Spec{BaseOffset: base, LeaderEpoch: 1})
		if _, err := l.Append(b, AppendOptions{LeaderEpoch: -1}); err != nil {
			t.Fatal(err)
		}
	}
	follow(0)
	follow(1 << 40)
	e.m.Checkpoint()
	follow(1<<40 + 1)
	l.Flush(l.LogEndOffset())
	l = e.crash(vfsNoTorn).Get(testTP)
	if l.LogEndOffset() != 1<<40+2 || len(readAll(t, l)) != 3 {
		t.Fatalf("log end %d after crash", l.LogEndOffset())
	}
}

func TestRecoveryReadsOnlyTheTail(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	cfg.SegmentBytes = 2000
	l := e.log(cfg)
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range 200 {
		appendBatch(t, l, randomBatch(rng, int64(i)), 0)
	}
	l.Flush(l.LogEndOffset())
	e.m.Checkpoint()
	for i := range 3 {
		appendBatch(t, l, randomBatch(rng, int64(i)), 0)
	}
	files := segmentFiles(t, e.fs, dataDir+"/orders-3")
	if len(files) < 30 {
		t.Fatalf("only %d segments", len(files))
	}

	check := func(what string, maxActive int64) {
		t.Helper()
		for _, f := range files[:len(files)-2] {
			if n := e.fs.ReadBytes(f); n != 0 {
				t.Fatalf("%s: read %d bytes of old segment %s", what, n, f)
			}
			idx := strings.TrimSuffix(f, logSuffix)
			if n := e.fs.ReadBytes(idx+indexSuffix) + e.fs.ReadBytes(idx+timeIndexSuffix); n != 0 {
				t.Fatalf("%s: read %d bytes of old index %s", what, n, idx)
			}
		}
		if n := e.fs.ReadBytes(files[len(files)-1]) + e.fs.ReadBytes(files[len(files)-2]); n > maxActive {
			t.Fatalf("%s: read %d bytes of the last segments, want at most %d", what, n, maxActive)
		}
	}

	// Process kill: recovery reads the active segment (and, if the
	// recovery point is in it, nothing else).
	e.m.lock.Close()
	e.fs.ResetStats()
	l = e.open().Get(testTP)
	check("kill", 2*cfg.SegmentBytes+recoveryChunk)

	// Clean shutdown: only the active segment's tail past its last index
	// entry, and its first batch header.
	e.m.Close()
	e.fs.ResetStats()
	l = e.open().Get(testTP)
	check("clean", int64(cfg.IndexIntervalBytes)+recoveryChunk+100)
	_ = l
}
