package storage

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/spool-mq/spool/internal/storage/storagetest"
	"github.com/spool-mq/spool/internal/vfs"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

// openOn opens a manager for e's data directory through fsys.
func (e *env) openOn(fsys vfs.FS) *Manager {
	e.t.Helper()
	m, err := OpenManager(dataDir, e.options(fsys))
	if err != nil {
		e.t.Fatalf("OpenManager: %v", err)
	}
	e.m = m
	return m
}

func activeFileSize(t *testing.T, l *Log) int64 {
	t.Helper()
	l.mu.RLock()
	act := l.active()
	l.mu.RUnlock()
	st, err := act.file.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != act.size.Load() {
		t.Fatalf("active file is %d bytes, the log uses %d", st.Size(), act.size.Load())
	}
	return st.Size()
}

func TestDiskFullAppend(t *testing.T) {
	e := &env{t: t, fs: vfstest.NewMem(), clock: newClock(), logs: &logRecorder{}}
	full := vfstest.NewDiskFull()
	e.openOn(vfstest.NewErrorFS(e.fs, full))
	l := e.log(smallConfig())
	var bs []batch
	for i := range 3 {
		bs = append(bs, appendBatch(t, l, storagetest.Sized(2, 300, int64(i)), 0))
	}
	end, size := l.LogEndOffset(), activeFileSize(t, l)

	full.Set(true)
	for range 3 {
		_, err := l.Append(storagetest.Sized(2, 300, 9), AppendOptions{AssignOffsets: true, LeaderEpoch: 0})
		if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("append on a full disk: %v", err)
		}
	}
	if l.LogEndOffset() != end || activeFileSize(t, l) != size {
		t.Fatal("a failed append changed the log")
	}
	sameBatches(t, readAll(t, l), bs)
	// Flushing what was written still works.
	if err := l.Flush(end); err != nil {
		t.Fatalf("flush on a full disk: %v", err)
	}

	full.Set(false)
	b := appendBatch(t, l, storagetest.Sized(2, 300, 10), 0)
	if b.h.BaseOffset != end {
		t.Fatalf("append after space returned at %d, want %d", b.h.BaseOffset, end)
	}
	bs = append(bs, b)
	e.restart()
	sameBatches(t, readAll(t, e.m.Get(testTP)), bs)
}

func TestShortWriteIsTruncatedBack(t *testing.T) {
	e := &env{t: t, fs: vfstest.NewMem(), clock: newClock(), logs: &logRecorder{}}
	budget := vfstest.NewWriteBudget(1 << 30)
	e.openOn(vfstest.NewErrorFS(e.fs, budget))
	l := e.log(smallConfig())
	var bs []batch
	for i := range 3 {
		bs = append(bs, appendBatch(t, l, storagetest.Sized(2, 300, int64(i)), 0))
	}
	size := activeFileSize(t, l)
	// Room for half a batch: the write is short, then ENOSPC.
	budget.Add(-budget.Left() + 150)
	if _, err := l.Append(storagetest.Sized(2, 300, 9), AppendOptions{AssignOffsets: true}); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("append: %v", err)
	}
	if activeFileSize(t, l) != size {
		t.Fatal("partial batch left in the segment")
	}
	// A process kill now must not find a partial batch either.
	budget.Add(1 << 30)
	e.m.lock.Close()
	l = e.openOn(e.fs).Get(testTP)
	sameBatches(t, readAll(t, l), bs)
}

func TestDiskFullDuringRoll(t *testing.T) {
	e := &env{t: t, fs: vfstest.NewMem(), clock: newClock(), logs: &logRecorder{}}
	full := vfstest.NewDiskFull()
	e.openOn(vfstest.NewErrorFS(e.fs, full))
	cfg := smallConfig()
	cfg.SegmentBytes = 1000
	l := e.log(cfg)
	var bs []batch
	for i := range 3 {
		bs = append(bs, appendBatch(t, l, storagetest.Sized(1, 400, int64(i)), 0))
	}
	segs := l.NumSegments()
	full.Set(true)
	// This append needs a roll: the index files and the new segment cannot
	// be created.
	if _, err := l.Append(storagetest.Sized(1, 400, 5), AppendOptions{AssignOffsets: true}); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("append: %v", err)
	}
	if l.NumSegments() != segs {
		t.Fatalf("segments %d, want %d", l.NumSegments(), segs)
	}
	full.Set(false)
	bs = append(bs, appendBatch(t, l, storagetest.Sized(1, 400, 6), 0))
	l.Flush(l.LogEndOffset())
	l = e.crash(vfsNoTorn).Get(testTP)
	sameBatches(t, readAll(t, l), bs)
}

func TestFsyncFailureFailsTheLog(t *testing.T) {
	e := &env{t: t, fs: vfstest.NewMem(), clock: newClock(), logs: &logRecorder{}}
	eio := vfstest.NewSwitch(syscall.EIO, vfstest.OpSync)
	e.openOn(vfstest.NewErrorFS(e.fs, eio))
	l := e.log(smallConfig())
	bs := []batch{appendBatch(t, l, storagetest.Batch(1, []byte("a")), 0)}
	if err := l.Flush(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	bs = append(bs, appendBatch(t, l, storagetest.Batch(2, []byte("b")), 0))
	eio.Set(true)
	err := l.Flush(l.LogEndOffset())
	if !errors.Is(err, ErrLogFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("flush with failing fsync: %v", err)
	}
	if l.FlushedOffset() != 1 {
		t.Fatalf("recovery point moved to %d", l.FlushedOffset())
	}
	eio.Set(false)
	// Even once fsync works again, the log stays failed: the kernel may
	// have dropped the data that the failed fsync was for.
	if err := l.Flush(l.LogEndOffset()); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("flush after a failed fsync: %v", err)
	}
	if _, err := l.Append(storagetest.Batch(3, nil), AppendOptions{AssignOffsets: true}); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append to a failed log: %v", err)
	}
	sameBatches(t, readAll(t, l), bs)
	// No clean-shutdown marker: the next open recovers.
	if err := e.m.Close(); err == nil {
		t.Fatal("Close of a failed log reported success")
	}
	if _, err := e.fs.Stat(dataDir + "/" + cleanShutdownFile); err == nil {
		t.Fatal("clean shutdown marker written despite a failed log")
	}
	l = e.openOn(e.fs).Get(testTP)
	sameBatches(t, readAll(t, l), bs)
	appendBatch(t, l, storagetest.Batch(4, nil), 0)
}

func TestTruncateBackFailureFailsTheLog(t *testing.T) {
	e := &env{t: t, fs: vfstest.NewMem(), clock: newClock(), logs: &logRecorder{}}
	var mu sync.Mutex
	broken := false
	inj := vfstest.InjectorFunc(func(op vfstest.Op, path string, size int) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if broken && strings.HasSuffix(path, logSuffix) {
			switch op {
			case vfstest.OpWrite:
				return size / 2, syscall.EIO
			case vfstest.OpTruncate:
				return 0, syscall.EIO
			}
		}
		return 0, nil
	})
	e.openOn(vfstest.NewErrorFS(e.fs, inj))
	l := e.log(smallConfig())
	bs := []batch{appendBatch(t, l, storagetest.Sized(2, 300, 1), 0)}
	mu.Lock()
	broken = true
	mu.Unlock()
	_, err := l.Append(storagetest.Sized(2, 300, 2), AppendOptions{AssignOffsets: true})
	if !errors.Is(err, ErrLogFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("append: %v", err)
	}
	mu.Lock()
	broken = false
	mu.Unlock()
	if _, err := l.Append(storagetest.Batch(3, nil), AppendOptions{AssignOffsets: true}); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("second append: %v", err)
	}
	// Reads still work and never show the half-written batch.
	sameBatches(t, readAll(t, l), bs)
	// Recovery after a kill drops the torn half batch.
	e.m.lock.Close()
	l = e.openOn(e.fs).Get(testTP)
	sameBatches(t, readAll(t, l), bs)
}

func TestEpochCheckpointFailureFailsAppendOnly(t *testing.T) {
	e := &env{t: t, fs: vfstest.NewMem(), clock: newClock(), logs: &logRecorder{}}
	full := vfstest.NewDiskFull()
	e.openOn(vfstest.NewErrorFS(e.fs, full))
	l := e.log(smallConfig())
	appendBatch(t, l, storagetest.Batch(1, nil), 1)
	full.Set(true)
	// A new epoch needs the checkpoint written before the data.
	if _, err := l.Append(storagetest.Batch(2, nil), AppendOptions{AssignOffsets: true, LeaderEpoch: 2}); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("append: %v", err)
	}
	full.Set(false)
	if l.LatestEpoch() != 1 || l.LogEndOffset() != 1 {
		t.Fatalf("epoch %d end %d", l.LatestEpoch(), l.LogEndOffset())
	}
	appendBatch(t, l, storagetest.Batch(2, nil), 2)
	if ep, end := l.EndOffsetForEpoch(1); ep != 1 || end != 1 {
		t.Fatalf("EndOffsetForEpoch(1) = %d %d", ep, end)
	}
}

func TestLockedDirectory(t *testing.T) {
	e := newEnv(t)
	if _, err := OpenManager(dataDir, e.options(e.fs)); !errors.Is(err, vfs.ErrLocked) {
		t.Fatalf("second manager: %v", err)
	}
	e.restart()
	dir := t.TempDir()
	m, err := OpenManager(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := OpenManager(dir, Options{Logger: slog.New(slog.DiscardHandler)}); !errors.Is(err, vfs.ErrLocked) {
		t.Fatalf("second manager on a real directory: %v", err)
	}
}
