package storage

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/spool-mq/spool/internal/storage/storagetest"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

func appendN(t *testing.T, l *Log, n int) {
	t.Helper()
	for range n {
		appendBatch(t, l, storagetest.Batch(0, []byte("v")), 0)
	}
	if err := l.Flush(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
}

// TestHighWatermarkCheckpointSurvivesRestart: the reported high watermark
// is written at Close in Kafka's format and comes back on open; a log that
// never had one reported has none.
func TestHighWatermarkCheckpointSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	appendN(t, l, 5)
	if got := l.CheckpointedHighWatermark(); got != -1 {
		t.Fatalf("new log: checkpointed hwm %d, want -1", got)
	}
	l.SetHighWatermark(3)
	m := e.restart()
	data, err := readWholeFile(e.fs, filepath.Join(dataDir, highWatermarkFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := "0\n1\norders 3 3\n"; string(data) != want {
		t.Fatalf("%s = %q, want %q", highWatermarkFile, data, want)
	}
	if got := m.Get(testTP).CheckpointedHighWatermark(); got != 3 {
		t.Fatalf("after restart: checkpointed hwm %d, want 3", got)
	}
	// Not reported again: the next checkpoint keeps the value.
	m = e.restart()
	if got := m.Get(testTP).CheckpointedHighWatermark(); got != 3 {
		t.Fatalf("after a second restart: %d, want 3", got)
	}
}

// TestHighWatermarkCheckpointPeriodicAndCrash: after a crash the value of
// the last periodic checkpoint is what comes back, capped at the log end
// that survived.
func TestHighWatermarkCheckpointPeriodicAndCrash(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	appendN(t, l, 4)
	l.SetHighWatermark(4)
	if err := e.m.CheckpointHighWatermarks(); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(9) // not checkpointed before the crash
	m := e.crash(vfsNoTorn)
	if got := m.Get(testTP).CheckpointedHighWatermark(); got != 4 {
		t.Fatalf("after a crash: %d, want the checkpointed 4", got)
	}

	// A checkpoint above what the log kept (unflushed tail lost) is
	// capped at the recovered log end.
	l = m.Get(testTP)
	appendBatch(t, l, storagetest.Batch(0, []byte("unflushed")), 0)
	l.SetHighWatermark(5)
	if err := m.CheckpointHighWatermarks(); err != nil {
		t.Fatal(err)
	}
	m = e.crash(vfsNoTorn)
	if got, end := m.Get(testTP).CheckpointedHighWatermark(), m.Get(testTP).LogEndOffset(); got != 4 || end != 4 {
		t.Fatalf("checkpoint 5 over a log recovered to %d: %d, want 4", end, got)
	}
}

// TestHighWatermarkTruncation: truncating a log below its reported high
// watermark lowers the value the next checkpoint writes.
func TestHighWatermarkTruncation(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	appendN(t, l, 6)
	l.SetHighWatermark(6)
	if err := l.TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	if got := e.restart().Get(testTP).CheckpointedHighWatermark(); got != 2 {
		t.Fatalf("after truncation to 2: %d", got)
	}
}

// TestHighWatermarkCheckpointAtomic: a failed write leaves the previous
// checkpoint whole, and an unreadable checkpoint only loses the values.
func TestHighWatermarkCheckpointAtomic(t *testing.T) {
	e := &env{t: t, fs: vfstest.NewMem(), clock: newClock(), logs: &logRecorder{}}
	sw := vfstest.NewSwitch(syscall.EIO, vfstest.OpRename)
	e.openOn(vfstest.NewErrorFS(e.fs, sw))
	l := e.log(smallConfig())
	appendN(t, l, 3)
	l.SetHighWatermark(2)
	if err := e.m.CheckpointHighWatermarks(); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(3)
	sw.Set(true)
	if err := e.m.CheckpointHighWatermarks(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("checkpoint with a failing rename: %v", err)
	}
	sw.Set(false)
	if got := e.crash(vfsNoTorn).Get(testTP).CheckpointedHighWatermark(); got != 2 {
		t.Fatalf("after a failed checkpoint write: %d, want the previous 2", got)
	}

	path := filepath.Join(dataDir, highWatermarkFile)
	if err := writeFileAtomic(e.fs, path, []byte("garbage"), true); err != nil {
		t.Fatal(err)
	}
	m := e.crash(vfsNoTorn)
	if got := m.Get(testTP).CheckpointedHighWatermark(); got != -1 {
		t.Fatalf("unreadable checkpoint: %d, want -1", got)
	}
	if _, ok := e.logs.find("high watermark checkpoint unreadable; replicated partitions restart from their log start"); !ok {
		t.Fatal("no warning logged about the unreadable checkpoint")
	}
}
