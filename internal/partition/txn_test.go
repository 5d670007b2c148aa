package partition_test

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/storage"
	"github.com/spool-mq/spool/internal/storage/storagetest"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

// withAttributes sets attribute bits on a built batch and fixes its CRC.
func withAttributes(b []byte, bits uint16) []byte {
	binary.BigEndian.PutUint16(b[21:], binary.BigEndian.Uint16(b[21:])|bits)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// txnBatch is a transactional batch of producer pid.
func txnBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	vs := make([][]byte, len(values))
	for i, v := range values {
		vs[i] = []byte(v)
	}
	return withAttributes(storagetest.Build(storagetest.Spec{Values: vs, Timestamp: 1000, LeaderEpoch: -1,
		Idempotent: true, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}), 0x10)
}

func produceTxn(t *testing.T, p *partition.Partition, data []byte) int64 {
	t.Helper()
	res, err := p.ProduceTransactional(data, 1, time.Second)
	if err != nil {
		t.Fatalf("transactional produce: %v", err)
	}
	return res.BaseOffset
}

func marker(t *testing.T, p *partition.Partition, pid int64, epoch int16, commit bool) int64 {
	t.Helper()
	off, err := p.WriteTxnMarker(pid, epoch, commit, 7)
	if err != nil {
		t.Fatalf("marker for %d: %v", pid, err)
	}
	return off
}

func wantLSO(t *testing.T, p *partition.Partition, want int64) {
	t.Helper()
	if got := p.LastStableOffset(); got != want {
		t.Fatalf("LSO %d, want %d (hwm %d)", got, want, p.HighWatermark())
	}
}

func wantAbortedTxns(t *testing.T, p *partition.Partition, want ...partition.AbortedTxn) {
	t.Helper()
	got := p.AbortedTransactions(0, 1<<40)
	if !slices.Equal(got, want) {
		t.Fatalf("aborted %+v, want %+v", got, want)
	}
}

// committedEnd is where a read_committed read from 0 stops.
func committedEnd(t *testing.T, p *partition.Partition) int64 {
	t.Helper()
	res, err := p.ReadCommittedInto(nil, 0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	end := int64(0)
	if _, err := record.Batches(res.Data, func(h record.Header, _ []byte) error {
		end = h.NextOffset()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return end
}

// TestTxnTwoProducersCommitAndAbort: two producers' transactions hold the
// LSO at the older one's first offset; a commit moves it to the other's;
// an abort lets it reach the high watermark and records the transaction
// in the aborted list; read_committed reads stop at the LSO.
func TestTxnTwoProducersCommitAndAbort(t *testing.T) {
	p := newCluster(t, 1, 1).nodes[1]
	produce1(t, p, batch("plain")) // 0
	wantLSO(t, p, 1)
	a := produceTxn(t, p, txnBatch(10, 0, 0, "a1", "a2")) // 1-2
	b := produceTxn(t, p, txnBatch(20, 0, 0, "b1"))       // 3
	produceTxn(t, p, txnBatch(10, 0, 2, "a3"))            // 4: same transaction
	produce1(t, p, batch("plain2"))                       // 5
	if a != 1 || b != 3 {
		t.Fatalf("offsets %d %d", a, b)
	}
	wantLSO(t, p, 1)
	if n := p.OngoingTransactions(); n != 2 {
		t.Fatalf("%d ongoing, want 2", n)
	}
	if got := committedEnd(t, p); got != 1 {
		t.Fatalf("read_committed read to %d, want the LSO 1", got)
	}
	if res, _ := p.Read(0, 1<<20, true); res.LastStableOffset != 1 || res.HighWatermark != 6 {
		t.Fatalf("read_uncommitted read reports LSO %d hwm %d, want 1 and 6", res.LastStableOffset, res.HighWatermark)
	}
	if c := marker(t, p, 10, 0, true); c != 6 {
		t.Fatalf("commit marker at %d, want 6", c)
	}
	wantLSO(t, p, 3)
	wantAbortedTxns(t, p)
	abortAt := marker(t, p, 20, 0, false)
	wantLSO(t, p, p.HighWatermark())
	if p.HighWatermark() != abortAt+1 {
		t.Fatalf("hwm %d after the abort marker at %d", p.HighWatermark(), abortAt)
	}
	want := partition.AbortedTxn{ProducerID: 20, FirstOffset: 3, LastOffset: abortAt, LastStableOffset: abortAt + 1}
	wantAbortedTxns(t, p, want)
	if got := p.AbortedTransactions(0, 2); len(got) != 0 {
		t.Fatalf("aborted in [0, 2]: %+v", got)
	}
	if got := p.AbortedTransactions(abortAt, abortAt); len(got) != 1 {
		t.Fatalf("aborted at the marker: %+v", got)
	}
	if got := committedEnd(t, p); got != abortAt+1 {
		t.Fatalf("read_committed read to %d, want %d", got, abortAt+1)
	}
	// The markers are control batches in Kafka's format.
	data, err := p.ReadLocal(6, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []bool
	record.Batches(data, func(h record.Header, b []byte) error {
		m, err := record.ParseMarker(b, &h)
		if err != nil || !h.Transactional() || h.BaseSequence != -1 || m.CoordinatorEpoch != 7 {
			t.Fatalf("marker at %d: %+v %v", h.BaseOffset, h, err)
		}
		kinds = append(kinds, m.Commit)
		return nil
	})
	if !slices.Equal(kinds, []bool{true, false}) {
		t.Fatalf("markers %v", kinds)
	}
	// The producer continues with its next transaction.
	if off := produceTxn(t, p, txnBatch(10, 0, 3, "a4")); p.LastStableOffset() != off {
		t.Fatalf("LSO %d, want the new transaction's start %d", p.LastStableOffset(), off)
	}
}

// TestTxnMarkerEpochFenced: a marker older than the producer's epoch is
// refused and writes nothing; one for a producer with no transaction is
// written and ends nothing; a newer epoch's marker is taken and the
// producer then starts the new epoch at sequence 0.
func TestTxnMarkerEpochFenced(t *testing.T) {
	p := newCluster(t, 1, 1).nodes[1]
	first := produceTxn(t, p, txnBatch(10, 3, 0, "a"))
	end := p.LogEndOffset()
	if _, err := p.WriteTxnMarker(10, 2, false, 0); !errors.Is(err, partition.ErrInvalidProducerEpoch) {
		t.Fatalf("stale marker: %v, want ErrInvalidProducerEpoch", err)
	}
	if p.LogEndOffset() != end {
		t.Fatal("a fenced marker was written")
	}
	if off := marker(t, p, 99, 0, false); off != end {
		t.Fatalf("marker without a transaction at %d, want %d", off, end)
	}
	wantLSO(t, p, first)
	wantAbortedTxns(t, p)
	abortAt := marker(t, p, 10, 4, false) // the coordinator bumped the epoch
	wantAbortedTxns(t, p, partition.AbortedTxn{ProducerID: 10, FirstOffset: first, LastOffset: abortAt, LastStableOffset: abortAt + 1})
	if _, err := p.ProduceTransactional(txnBatch(10, 3, 1, "old"), 1, time.Second); !errors.Is(err, partition.ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch after the marker: %v", err)
	}
	produceTxn(t, p, txnBatch(10, 4, 0, "new"))
}

// TestTxnClientBatchesRefused: control batches from clients are
// INVALID_RECORD on both paths; transactional batches need a producer id
// and, until a coordinator exists, are refused by the client path.
func TestTxnClientBatchesRefused(t *testing.T) {
	p := newCluster(t, 1, 1).nodes[1]
	control := withAttributes(idempotentBatch(5, 0, "x"), 0x30)
	if _, err := p.Produce(control, 1, time.Second); !errors.Is(err, partition.ErrInvalidRecord) {
		t.Fatalf("client control batch: %v, want ErrInvalidRecord", err)
	}
	if _, err := p.ProduceTransactional(control, 1, time.Second); !errors.Is(err, partition.ErrInvalidRecord) {
		t.Fatalf("client control batch (transactional path): %v, want ErrInvalidRecord", err)
	}
	if _, err := p.Produce(txnBatch(5, 0, 0, "x"), 1, time.Second); !errors.Is(err, partition.ErrTransactionsUnsupported) {
		t.Fatalf("transactional batch on Produce: %v, want ErrTransactionsUnsupported", err)
	}
	noPID := withAttributes(batch("x"), 0x10)
	if _, err := p.ProduceTransactional(noPID, 1, time.Second); !errors.Is(err, partition.ErrInvalidRecord) {
		t.Fatalf("transactional batch without producer id: %v, want ErrInvalidRecord", err)
	}
	if _, err := p.WriteTxnMarker(-1, 0, true, 0); !errors.Is(err, partition.ErrInvalidTxnState) {
		t.Fatalf("marker for producer -1: %v", err)
	}
	if p.LogEndOffset() != 0 {
		t.Fatalf("refused batches moved the log end to %d", p.LogEndOffset())
	}
}

// TestTxnFollowerCopiesState: a follower copying transactional batches
// and markers ends up with the leader's ongoing transactions, LSO and
// aborted list, and after failover it ends the open transaction itself.
func TestTxnFollowerCopiesState(t *testing.T) {
	c := newCluster(t, 2, 1)
	l := c.nodes[1]
	produceTxn(t, l, txnBatch(10, 0, 0, "a"))
	produceTxn(t, l, txnBatch(20, 0, 0, "b"))
	abortAt := marker(t, l, 10, 0, false)
	open := produceTxn(t, l, txnBatch(30, 0, 0, "c"))
	produce1(t, l, batch("tail"))
	c.catchUp(2)
	f := c.nodes[2]
	if f.HighWatermark() != l.HighWatermark() {
		t.Fatalf("follower hwm %d, leader %d", f.HighWatermark(), l.HighWatermark())
	}
	wantLSO(t, l, 1)
	wantLSO(t, f, 1)
	wantAbortedTxns(t, f, l.AbortedTransactions(0, 1<<40)...)
	if len(l.AbortedTransactions(0, 1<<40)) != 1 || f.OngoingTransactions() != 2 {
		t.Fatalf("aborted %v, follower ongoing %d", l.AbortedTransactions(0, 1<<40), f.OngoingTransactions())
	}

	c.ctl.set(func(m *partition.Metadata) { m.Leader, m.LeaderEpoch = 2, m.LeaderEpoch+1 })
	marker(t, f, 20, 0, true)
	wantLSO(t, f, open)
	abort30 := marker(t, f, 30, 0, false)
	wantAbortedTxns(t, f,
		partition.AbortedTxn{ProducerID: 10, FirstOffset: 0, LastOffset: abortAt, LastStableOffset: 1},
		partition.AbortedTxn{ProducerID: 30, FirstOffset: open, LastOffset: abort30, LastStableOffset: abort30 + 1})
}

// TestTxnRestartRebuildsState: after a restart the ongoing transactions
// come back from the log's tail and the aborted list from its file.
func TestTxnRestartRebuildsState(t *testing.T) {
	c := newCluster(t, 1, 1)
	p := c.nodes[1]
	produceTxn(t, p, txnBatch(10, 0, 0, "a"))
	abortAt := marker(t, p, 10, 0, false)
	open := produceTxn(t, p, txnBatch(20, 0, 0, "b"))
	produce1(t, p, batch("plain"))
	want := p.AbortedTransactions(0, 1<<40)
	if len(want) != 1 || want[0].LastOffset != abortAt {
		t.Fatalf("aborted %+v", want)
	}
	p = c.restartLeader()
	wantLSO(t, p, open)
	wantAbortedTxns(t, p, want...)
	marker(t, p, 20, 0, true)
	wantLSO(t, p, p.HighWatermark())
}

// TestTxnFollowerTruncationReopens: a follower that truncates away a
// marker has that transaction ongoing again (rebuilt from the log), and
// the aborted entry of a truncated abort marker goes with it.
func TestTxnFollowerTruncationReopens(t *testing.T) {
	c := newCluster(t, 2, 1)
	l := c.nodes[1]
	first := produceTxn(t, l, txnBatch(10, 0, 0, "a"))
	abortAt := marker(t, l, 10, 0, false)
	c.catchUp(2)
	f := c.nodes[2]
	if f.OngoingTransactions() != 0 || len(f.AbortedTransactions(0, 1<<40)) != 1 {
		t.Fatalf("follower before truncation: %d ongoing, aborted %v", f.OngoingTransactions(), f.AbortedTransactions(0, 1<<40))
	}
	if err := f.TruncateTo(abortAt); err != nil {
		t.Fatal(err)
	}
	if f.OngoingTransactions() != 1 || len(f.AbortedTransactions(0, 1<<40)) != 0 {
		t.Fatalf("follower after truncation: %d ongoing, aborted %v", f.OngoingTransactions(), f.AbortedTransactions(0, 1<<40))
	}
	wantLSO(t, f, first)
}

// TestTxnMarkerAppendFailure: the aborted-index entry is written before
// the marker; when the marker's append then fails (disk full), the
// transaction stays open, and the retried marker replaces the orphaned
// entry, leaving one entry at the marker's real offset, also after a
// restart.
func TestTxnMarkerAppendFailure(t *testing.T) {
	var full atomic.Bool
	mem := vfstest.NewMem()
	fsys := vfstest.NewErrorFS(mem, vfstest.InjectorFunc(func(op vfstest.Op, path string, size int) (int, error) {
		if full.Load() && op == vfstest.OpWrite && strings.HasSuffix(path, ".log") {
			return 0, syscall.ENOSPC
		}
		return size, nil
	}))
	cfg := config.DefaultTopicConfig()
	open := func() (*storage.Manager, *partition.Partition) {
		m, err := storage.OpenManager("/data", storage.Options{FS: fsys})
		if err != nil {
			t.Fatal(err)
		}
		l, err := m.GetOrCreate(testTP, [16]byte{1}, partition.LogConfig(cfg))
		if err != nil {
			t.Fatal(err)
		}
		return m, partition.New(l, [16]byte{1}, cfg, 0, partition.Options{NodeID: 1})
	}
	m, p := open()
	first := produceTxn(t, p, txnBatch(10, 0, 0, "a"))
	produce1(t, p, batch("plain"))
	full.Store(true)
	if _, err := p.WriteTxnMarker(10, 0, false, 0); !errors.Is(err, storage.ErrDiskFull) {
		t.Fatalf("marker on a full disk: %v, want ErrDiskFull", err)
	}
	full.Store(false)
	wantLSO(t, p, first)
	if n := p.OngoingTransactions(); n != 1 {
		t.Fatalf("%d ongoing after the failed marker, want 1", n)
	}
	produce1(t, p, batch("moved the log end"))
	abortAt := marker(t, p, 10, 0, false)
	want := partition.AbortedTxn{ProducerID: 10, FirstOffset: first, LastOffset: abortAt, LastStableOffset: abortAt + 1}
	wantAbortedTxns(t, p, want)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, p = open()
	defer m.Close()
	wantAbortedTxns(t, p, want)
	wantLSO(t, p, p.HighWatermark())
}

// TestTxnFollowerTruncationKeepsOldTransaction: a transaction ongoing on a
// follower stays ongoing across a truncation above its first offset, even
// when that offset is older than the log tail the rebuild reads.
func TestTxnFollowerTruncationKeepsOldTransaction(t *testing.T) {
	c := newCluster(t, 2, 1)
	l := c.nodes[1]
	first := produceTxn(t, l, txnBatch(10, 0, 0, "a"))
	many := make([]string, 5000)
	for i := range many {
		many[i] = "x"
	}
	produce1(t, l, batch(many...))
	produce1(t, l, batch("last"))
	c.catchUp(2)
	f := c.nodes[2]
	wantLSO(t, f, first)
	if err := f.TruncateTo(f.LogEndOffset() - 1); err != nil {
		t.Fatal(err)
	}
	if f.OngoingTransactions() != 1 {
		t.Fatalf("%d ongoing after truncation, want 1", f.OngoingTransactions())
	}
	wantLSO(t, f, first)
}
