package storage

import (
	"errors"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/spool-mq/spool/internal/storage/storagetest"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

// failNextWriteBack returns an env whose first SyncFS after arm() also
// loses the write-back of victim's active segment (as if the kernel's
// flusher hit an I/O error on it during that syncfs), and the four logs
// g-0..g-3 with one unflushed batch each.
func failNextWriteBack(t *testing.T, victim int) (*env, []*Log, func()) {
	e := &env{t: t, fs: vfstest.NewMem(), clock: newClock(), logs: &logRecorder{}}
	var armed atomic.Bool
	var seg atomic.Pointer[string]
	e.openOn(vfstest.NewErrorFS(e.fs, vfstest.InjectorFunc(func(op vfstest.Op, _ string, _ int) (int, error) {
		if op == vfstest.OpSyncFS && armed.CompareAndSwap(true, false) {
			if err := e.fs.FailWriteBack(*seg.Load(), syscall.EIO); err != nil {
				t.Error(err)
			}
		}
		return 0, nil
	})))
	logs := createLogs(t, e.m, 4)
	if err := e.m.FlushAll(); err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		appendBatch(t, l, storagetest.Batch(0, []byte("unflushed")), 0)
	}
	l := logs[victim]
	l.mu.RLock()
	p := l.active().path
	l.mu.RUnlock()
	seg.Store(&p)
	return e, logs, func() { armed.Store(true) }
}

// TestGroupCommitLostWriteBackOfNextRound: a SyncFS fails because the
// write-back of a log that is not in the round (g-2, waiting for the next
// one) failed. The kernel reported that error once; the next round's
// SyncFS succeeds although g-2's batch is not on disk. g-2's Flush must
// fail, not acknowledge the batch.
func TestGroupCommitLostWriteBackOfNextRound(t *testing.T) {
	e, logs, arm := failNextWriteBack(t, 2)
	arm()
	for l, err := range e.m.commit.join(logs[:2]) {
		if err != nil {
			t.Fatalf("round 1, %s: %v (its own files synced fine)", l.tp, err)
		}
	}
	errs := e.m.commit.join(logs[2:])
	if err := errs[logs[2]]; !errors.Is(err, ErrLogFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("round 2, g-2 (write-back lost): %v; want a failed log with EIO, not an acknowledgement", err)
	}
	if err := errs[logs[3]]; err != nil {
		t.Fatalf("round 2, g-3: %v", err)
	}
	checkEnds(t, e.crash(vfsNoTorn), []int64{2, 2, 1, 2})
}

// TestGroupCommitLostWriteBackFlushedLater: the log whose write-back was
// lost flushes only after a round that did not include it succeeded. It
// must still not be acknowledged, and the file system goes back to one
// SyncFS per round once every suspect log has been checked.
func TestGroupCommitLostWriteBackFlushedLater(t *testing.T) {
	e, logs, arm := failNextWriteBack(t, 2)
	arm()
	if errs := e.m.commit.join(logs[:2]); errs[logs[0]] != nil || errs[logs[1]] != nil {
		t.Fatalf("round 1: %v", errs)
	}
	if errs := e.m.commit.join([]*Log{logs[3], logs[0]}); errs[logs[3]] != nil || errs[logs[0]] != nil {
		t.Fatalf("round 2: %v", errs)
	}
	appendBatch(t, logs[1], storagetest.Batch(0, []byte("more")), 0)
	errs := e.m.commit.join([]*Log{logs[2], logs[1]})
	if err := errs[logs[2]]; !errors.Is(err, ErrLogFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("later flush of g-2: %v; want a failed log with EIO", err)
	}
	if errs[logs[1]] != nil {
		t.Fatalf("g-1 with g-2: %v", errs[logs[1]])
	}
	for _, i := range []int{0, 1, 3} {
		appendBatch(t, logs[i], storagetest.Batch(0, []byte("again")), 0)
	}
	e.fs.ResetStats()
	if errs := e.m.commit.join([]*Log{logs[0], logs[1], logs[3]}); errs[logs[0]] != nil || errs[logs[1]] != nil || errs[logs[3]] != nil {
		t.Fatalf("round after recovery: %v", errs)
	}
	if st := e.fs.Stats(); st.FSSyncs != 1 {
		t.Fatalf("after every suspect log was checked: %d SyncFS and %d file syncs; want one SyncFS", st.FSSyncs, st.Syncs)
	}
	checkEnds(t, e.crash(vfsNoTorn), []int64{3, 4, 1, 3})
}
