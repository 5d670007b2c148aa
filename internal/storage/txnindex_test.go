package storage

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

func appendAborted(t *testing.T, l *Log, es ...AbortedTxn) {
	t.Helper()
	for _, e := range es {
		if err := l.AppendAbortedTxn(e); err != nil {
			t.Fatal(err)
		}
	}
}

func wantAborted(t *testing.T, l *Log, from, to int64, want ...AbortedTxn) {
	t.Helper()
	if got := l.AbortedTxns(from, to); !slices.Equal(got, want) {
		t.Fatalf("AbortedTxns(%d, %d) = %+v, want %+v", from, to, got, want)
	}
}

var (
	abortA = AbortedTxn{ProducerID: 1, FirstOffset: 2, LastOffset: 5, LastStableOffset: 2}
	abortB = AbortedTxn{ProducerID: 2, FirstOffset: 3, LastOffset: 8, LastStableOffset: 3}
)

// TestAbortedTxnIndexRestartAndCrash: entries are fsynced when appended,
// so both a clean restart and a power cut keep them, and the overlap
// query selects by [FirstOffset, LastOffset].
func TestAbortedTxnIndexRestartAndCrash(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	appendN(t, l, 10)
	appendAborted(t, l, abortA, abortB)
	wantAborted(t, l, 0, 1)
	wantAborted(t, l, 6, 7, abortB)
	wantAborted(t, l, 5, 5, abortA, abortB)
	m := e.restart()
	wantAborted(t, m.Get(testTP), 0, 100, abortA, abortB)
	m = e.crash(vfstest.CrashOptions{Torn: true, Seed: 3})
	wantAborted(t, m.Get(testTP), 0, 100, abortA, abortB)
	if err := m.Get(testTP).AppendAbortedTxn(AbortedTxn{ProducerID: 1, FirstOffset: 1, LastOffset: 7}); err == nil {
		t.Fatal("an entry out of lastOffset order was accepted")
	}
}

// TestAbortedTxnIndexTornTail: a partial trailing entry and garbage after
// the valid entries (a lost write-back reads as zeros) are dropped at open
// and the file is rewritten whole.
func TestAbortedTxnIndexTornTail(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	appendN(t, l, 10)
	appendAborted(t, l, abortA, abortB)
	path := filepath.Join(l.Dir(), txnIndexFile)
	if err := e.m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tail := range [][]byte{make([]byte, 10), make([]byte, txnEntrySize+5)} {
		f, err := e.fs.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(tail); err != nil {
			t.Fatal(err)
		}
		f.Sync()
		f.Close()
		m := e.open()
		wantAborted(t, m.Get(testTP), 0, 100, abortA, abortB)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		st, err := e.fs.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != 2*txnEntrySize {
			t.Fatalf("file is %d bytes after open, want %d", st.Size(), 2*txnEntrySize)
		}
	}
}

// TestAbortedTxnIndexPastLogEnd: an entry is written before its marker,
// so a crash can leave one past the recovered log end; open drops it.
func TestAbortedTxnIndexPastLogEnd(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	appendN(t, l, 10)
	late := AbortedTxn{ProducerID: 3, FirstOffset: 9, LastOffset: 10}
	appendAborted(t, l, abortA, late) // its marker at 10 never made it
	m := e.crash(vfstest.CrashOptions{})
	l = m.Get(testTP)
	wantAborted(t, l, 0, 100, abortA)
	// The offset is free again for a real marker.
	appendAborted(t, l, AbortedTxn{ProducerID: 4, FirstOffset: 9, LastOffset: 10})
}

// TestAbortedTxnIndexTruncationAndRetention: a follower truncation drops
// the entries whose marker went; moving the log start drops the entries
// that ended below it.
func TestAbortedTxnIndexTruncationAndRetention(t *testing.T) {
	e := newEnv(t)
	l := e.log(smallConfig())
	appendN(t, l, 10)
	appendAborted(t, l, abortA, abortB)
	if err := l.TruncateTo(7); err != nil {
		t.Fatal(err)
	}
	wantAborted(t, l, 0, 100, abortA)
	appendN(t, l, 5)
	appendAborted(t, l, abortB)
	if err := l.DeleteRecordsBefore(6); err != nil {
		t.Fatal(err)
	}
	wantAborted(t, l, 0, 100, abortB)
	m := e.restart()
	wantAborted(t, m.Get(testTP), 0, 100, abortB)
}
