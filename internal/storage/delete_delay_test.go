package storage

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/spool-mq/spool/internal/storage/storagetest"
)

// dirFiles lists the names in the log's directory with the given suffix.
func dirFiles(t *testing.T, e *env, l *Log, suffix string) []string {
	t.Helper()
	entries, err := e.fs.ReadDir(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range entries {
		if strings.HasSuffix(de.Name(), suffix) {
			out = append(out, de.Name())
		}
	}
	return out
}

// expiredLog makes a log of several segments whose records are all two
// hours old, with a one-hour retention and the given delete delay.
func expiredLog(t *testing.T, e *env, delayMs int64) *Log {
	cfg := smallConfig()
	cfg.SegmentBytes = 1000
	cfg.RetentionMs = time.Hour.Milliseconds()
	cfg.FileDeleteDelayMs = delayMs
	l := e.log(cfg)
	for range 12 {
		appendBatch(t, l, storagetest.Sized(1, 300, e.clock.Ms()-2*time.Hour.Milliseconds()), 0)
	}
	if err := l.Flush(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestFileDeleteDelayRetention: segments dropped by retention are renamed
// to .deleted and removed only once file.delete.delay.ms has passed; the
// data is unreadable through the log at once.
func TestFileDeleteDelayRetention(t *testing.T) {
	e := newEnv(t)
	l := expiredLog(t, e, time.Minute.Milliseconds())
	n, err := l.EnforceRetention()
	if err != nil || n == 0 {
		t.Fatalf("retention: %d segments, %v", n, err)
	}
	deleted := dirFiles(t, e, l, ".log"+deletedSuffix)
	if len(deleted) != n {
		t.Fatalf("after retention: .deleted segment files %v, want %d", deleted, n)
	}
	if got := dirFiles(t, e, l, logSuffix); len(got) != l.NumSegments() {
		t.Fatalf("live segment files %v, log has %d segments", got, l.NumSegments())
	}
	if _, err := l.Read(0, l.LogEndOffset(), 1<<20, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read at offset 0 after retention: %v, want ErrOffsetOutOfRange", err)
	}
	e.clock.Advance(59 * time.Second)
	if err := e.m.RemoveDeletedFiles(); err != nil {
		t.Fatal(err)
	}
	if got := dirFiles(t, e, l, deletedSuffix); len(got) != 3*n {
		t.Fatalf("before the delay passed: %v left, want %d files (log and both indexes)", got, 3*n)
	}
	e.clock.Advance(2 * time.Second)
	if err := e.m.RemoveDeletedFiles(); err != nil {
		t.Fatal(err)
	}
	if got := dirFiles(t, e, l, deletedSuffix); len(got) != 0 {
		t.Fatalf("after the delay: %v still there", got)
	}
}

// TestFileDeleteDelayZero: a zero delay removes the files at once.
func TestFileDeleteDelayZero(t *testing.T) {
	e := newEnv(t)
	l := expiredLog(t, e, 0)
	if n, err := l.EnforceRetention(); err != nil || n == 0 {
		t.Fatalf("retention: %d segments, %v", n, err)
	}
	if got := dirFiles(t, e, l, deletedSuffix); len(got) != 0 {
		t.Fatalf("with no delay: %v left behind", got)
	}
}

// TestFileDeleteDelayRecovery: .deleted files left by a crash are removed
// when the log is opened again, and a clean Close removes pending ones.
func TestFileDeleteDelayRecovery(t *testing.T) {
	e := newEnv(t)
	l := expiredLog(t, e, time.Hour.Milliseconds())
	if n, err := l.EnforceRetention(); err != nil || n == 0 {
		t.Fatalf("retention: %d segments, %v", n, err)
	}
	start := l.LogStartOffset()
	m := e.crash(vfsNoTorn)
	l = m.Get(testTP)
	if got := dirFiles(t, e, l, deletedSuffix); len(got) != 0 {
		t.Fatalf("after the crash and recovery: %v left", got)
	}
	if l.LogStartOffset() != start {
		t.Fatalf("log start %d after recovery, want %d", l.LogStartOffset(), start)
	}

	cfg := smallConfig()
	cfg.SegmentBytes, cfg.RetentionMs, cfg.FileDeleteDelayMs = 1000, 0, time.Hour.Milliseconds()
	l.SetConfig(cfg)
	for range 5 {
		appendBatch(t, l, storagetest.Sized(1, 300, e.clock.Ms()), 0)
	}
	e.clock.Advance(time.Second)
	if n, err := l.EnforceRetention(); err != nil || n == 0 {
		t.Fatalf("second retention: %d, %v", n, err)
	}
	if len(dirFiles(t, e, l, deletedSuffix)) == 0 {
		t.Fatal("no .deleted files to remove at Close")
	}
	l = e.restart().Get(testTP)
	if got := dirFiles(t, e, l, deletedSuffix); len(got) != 0 {
		t.Fatalf("after a clean restart: %v left", got)
	}
}

// TestFileDeleteDelayCompaction: segments replaced by a cleaning pass go
// through the same delay.
func TestFileDeleteDelayCompaction(t *testing.T) {
	e := newEnv(t)
	cfg := compactConfig()
	cfg.FileDeleteDelayMs = time.Minute.Milliseconds()
	l := e.log(cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	var m kmodel
	m.randomKeyed(t, l, rng, 300, 40, e.clock.Ms()-10_000_000)
	rollLog(t, l)
	res := mustClean(t, l, e.clock)
	if res.SegmentsReplaced == 0 {
		t.Fatalf("cleaning replaced nothing: %+v", res)
	}
	if got := dirFiles(t, e, l, ".log"+deletedSuffix); len(got) == 0 {
		t.Fatal("no .deleted files after a cleaning pass replaced segments")
	}
	e.clock.Advance(time.Minute)
	if err := e.m.RemoveDeletedFiles(); err != nil {
		t.Fatal(err)
	}
	if got := dirFiles(t, e, l, deletedSuffix); len(got) != 0 {
		t.Fatalf("after the delay: %v", got)
	}
	sameRecords(t, readRecords(t, l), compacted(m.recs, activeBase(l), 0))
}
