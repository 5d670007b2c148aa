package storage

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/spool-mq/spool/internal/storage/storagetest"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

// fsidFS puts the directories whose path contains other on a second file
// system, so tests can check that one SyncFS only covers its own.
type fsidFS struct {
	*vfstest.MemFS
	other string
}

func (f fsidFS) FSID(path string) (uint64, error) {
	if strings.Contains(path, f.other) {
		return 2, nil
	}
	return f.MemFS.FSID(path)
}

// createLogs makes n logs named g-0 ... g-(n-1) with one batch each.
func createLogs(t *testing.T, m *Manager, n int) []*Log {
	t.Helper()
	var logs []*Log
	for i := range n {
		l, err := m.GetOrCreate(TopicPartition{"g", int32(i)}, testTopicID, smallConfig())
		if err != nil {
			t.Fatal(err)
		}
		appendBatch(t, l, storagetest.Batch(0, []byte(fmt.Sprint("v", i))), 0)
		logs = append(logs, l)
	}
	return logs
}

// checkEnds asserts that after a power cut log g-i holds want[i] records.
func checkEnds(t *testing.T, m *Manager, want []int64) {
	t.Helper()
	for i, w := range want {
		l := m.Get(TopicPartition{"g", int32(i)})
		if l == nil || l.LogEndOffset() != w {
			t.Fatalf("g-%d after the crash: %v (want end %d)", i, l, w)
		}
	}
}

// TestGroupCommitOneSyncForManyLogs: one round over many logs on one file
// system is a single SyncFS, not a fsync per segment, and it makes every
// log durable.
func TestGroupCommitOneSyncForManyLogs(t *testing.T) {
	e := newEnv(t)
	logs := createLogs(t, e.m, 8)
	e.fs.ResetStats()
	if err := e.m.FlushAll(); err != nil {
		t.Fatal(err)
	}
	if st := e.fs.Stats(); st.FSSyncs != 1 || st.Syncs != 0 || st.DirSyncs != 0 {
		t.Fatalf("FlushAll of %d logs: %d SyncFS, %d file syncs, %d directory syncs; want 1, 0, 0",
			len(logs), st.FSSyncs, st.Syncs, st.DirSyncs)
	}
	for _, l := range logs {
		if l.FlushedOffset() != 1 {
			t.Fatalf("%s flushed to %d", l.tp, l.FlushedOffset())
		}
	}
	checkEnds(t, e.crash(vfsNoTorn), []int64{1, 1, 1, 1, 1, 1, 1, 1})
}

// TestGroupCommitPerFileSync: with Options.PerFileSync a round fsyncs
// each log's files and never syncs the whole file system.
func TestGroupCommitPerFileSync(t *testing.T) {
	e := &env{t: t, fs: vfstest.NewMem(), clock: newClock(), logs: &logRecorder{}}
	opts := e.options(e.fs)
	opts.PerFileSync = true
	m, err := OpenManager(dataDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	createLogs(t, m, 4)
	e.fs.ResetStats()
	if err := m.FlushAll(); err != nil {
		t.Fatal(err)
	}
	if st := e.fs.Stats(); st.FSSyncs != 0 || st.Syncs < 4 {
		t.Fatalf("%d SyncFS and %d file syncs; want none and one per log at least", st.FSSyncs, st.Syncs)
	}
	checkEnds(t, e.crash(vfsNoTorn), []int64{1, 1, 1, 1})
}

// TestGroupCommitPerFileSystem: logs on another file system are not
// covered by this one's SyncFS; a lone log syncs its own files.
func TestGroupCommitPerFileSystem(t *testing.T) {
	e := &env{t: t, fs: vfstest.NewMem(), clock: newClock(), logs: &logRecorder{}}
	e.openOn(fsidFS{MemFS: e.fs, other: "g-3"})
	createLogs(t, e.m, 4)
	e.fs.ResetStats()
	if err := e.m.FlushAll(); err != nil {
		t.Fatal(err)
	}
	if st := e.fs.Stats(); st.FSSyncs != 1 || st.Syncs == 0 {
		t.Fatalf("%d SyncFS and %d file syncs; want 1 SyncFS for g-0..2 and file syncs for g-3", st.FSSyncs, st.Syncs)
	}
	checkEnds(t, e.crash(vfsNoTorn), []int64{1, 1, 1, 1})
}

// TestGroupCommitConcurrentFlushes: producers on many logs append and
// flush at once; everything a Flush acknowledged survives a power cut.
func TestGroupCommitConcurrentFlushes(t *testing.T) {
	const logsN, rounds = 16, 20
	e := &env{t: t, fs: vfstest.NewMem(), clock: newClock(), logs: &logRecorder{}}
	// The first fsync waits until every producer has appended once, so
	// the next round has many logs to cover together.
	var appended sync.WaitGroup
	appended.Add(logsN)
	var armed atomic.Bool
	var first sync.Once
	e.openOn(vfstest.NewErrorFS(e.fs, vfstest.InjectorFunc(func(op vfstest.Op, _ string, _ int) (int, error) {
		if armed.Load() && (op == vfstest.OpSync || op == vfstest.OpSyncFS) {
			first.Do(appended.Wait)
		}
		return 0, nil
	})))
	logs := createLogs(t, e.m, logsN)
	armed.Store(true)
	acked := make([]int64, logsN)
	var wg sync.WaitGroup
	errs := make(chan error, logsN)
	for i, l := range logs {
		wg.Go(func() {
			for j := range rounds {
				res, err := l.Append(storagetest.Batch(0, []byte(fmt.Sprint(i, "-", j))), AppendOptions{AssignOffsets: true})
				if j == 0 {
					appended.Done()
				}
				if err == nil {
					err = l.Flush(res.LastOffset + 1)
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", l.tp, err)
					return
				}
				acked[i] = res.LastOffset + 1
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := e.fs.Stats()
	t.Logf("%d flushes: %d SyncFS, %d file syncs", logsN*rounds, st.FSSyncs, st.Syncs)
	m := e.crash(vfsNoTorn)
	for i, want := range acked {
		if l := m.Get(TopicPartition{"g", int32(i)}); l.LogEndOffset() < want {
			t.Fatalf("g-%d: %d records survived, %d were acknowledged durable", i, l.LogEndOffset(), want)
		}
	}
}

// TestGroupCommitSyncFSFailure: a failed SyncFS (a write-back error of
// any file on the file system) is narrowed down file by file: logs whose
// files sync are durable and keep working, a log whose fsync fails is
// failed and says so.
func TestGroupCommitSyncFSFailure(t *testing.T) {
	e := &env{t: t, fs: vfstest.NewMem(), clock: newClock(), logs: &logRecorder{}}
	eio := errors.New("EIO")
	var armed atomic.Bool
	inj := vfstest.InjectorFunc(func(op vfstest.Op, path string, _ int) (int, error) {
		if armed.Load() && (op == vfstest.OpSyncFS || op == vfstest.OpSync && strings.Contains(path, "/g-2/")) {
			return 0, eio
		}
		return 0, nil
	})
	e.openOn(vfstest.NewErrorFS(e.fs, inj))
	logs := createLogs(t, e.m, 4)
	armed.Store(true)
	err := e.m.FlushAll()
	if !errors.Is(err, ErrLogFailed) || !errors.Is(err, eio) || !strings.Contains(err.Error(), "g-2") {
		t.Fatalf("FlushAll: %v; want the failure of g-2 only", err)
	}
	for i, l := range logs {
		_, err := l.Append(storagetest.Batch(0, []byte("after")), AppendOptions{AssignOffsets: true})
		if i == 2 && !errors.Is(err, ErrLogFailed) {
			t.Fatalf("append to the failed log: %v", err)
		}
		if i != 2 && (err != nil || l.FlushedOffset() != 1) {
			t.Fatalf("g-%d: append %v, flushed to %d", i, err, l.FlushedOffset())
		}
	}
	m := e.crash(vfsNoTorn)
	for _, i := range []int32{0, 1, 3} {
		if l := m.Get(TopicPartition{"g", i}); l.LogEndOffset() < 1 {
			t.Fatalf("g-%d lost its flushed batch", i)
		}
	}
}
