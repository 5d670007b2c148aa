package txn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/coordlog"
	"github.com/spool-mq/spool/internal/group"
	"github.com/spool-mq/spool/internal/record"
)

// memLog is an in-memory Log: batches with their offsets assigned.
type memLog struct {
	mu      sync.Mutex
	batches [][]byte
	next    int64
}

func (l *memLog) Append(batch []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := slices.Clone(batch)
	h, err := record.ParseHeader(b)
	if err != nil {
		return err
	}
	record.SetBaseOffset(b, l.next)
	l.next += int64(h.LastOffsetDelta) + 1
	l.batches = append(l.batches, b)
	return nil
}

func (l *memLog) Read(offset int64, _ int) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for _, b := range l.batches {
		h, _ := record.ParseHeader(b)
		if h.NextOffset() > offset {
			out = append(out, b...)
		}
	}
	return out, nil
}

func (l *memLog) StartOffset() int64 { return 0 }
func (l *memLog) EndOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// lastState decodes the latest record for id.
func (l *memLog) lastState(t *testing.T, id string) *meta {
	t.Helper()
	var last *meta
	if err := coordlog.Replay(l, record.NewDecoder(), nil, func(k, v []byte) error {
		got, m, err := decodeMeta(k, v)
		if err == nil && got == id {
			last = m
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return last
}

type marker struct {
	tp       TopicPartition
	pid      int64
	epoch    int16
	commit   bool
	coordEpo int32
}

// fakeMarkers records markers; fail makes them fail.
type fakeMarkers struct {
	mu      sync.Mutex
	fail    bool
	written []marker
}

func (f *fakeMarkers) WriteMarker(tp TopicPartition, pid int64, epoch int16, commit bool, ce int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("partition unavailable")
	}
	f.written = append(f.written, marker{tp, pid, epoch, commit, ce})
	return nil
}

func (f *fakeMarkers) take() []marker {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.written
	f.written = nil
	slices.SortFunc(out, func(a, b marker) int {
		return strings.Compare(a.tp.Topic, b.tp.Topic)*10 + int(a.tp.Partition-b.tp.Partition)
	})
	return out
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	t       *testing.T
	c       *Coordinator
	log     *memLog
	markers *fakeMarkers
	clock   *fakeClock
	nextPID int64
}

const leaderEpoch = 7

// newFixture is a coordinator (no background loop) owning the single
// partition of __transaction_state, backed by log.
func newFixture(t *testing.T, log *memLog, mutate func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, log: log, markers: &fakeMarkers{}, clock: &fakeClock{now: time.Unix(1000, 0)}, nextPID: 100}
	cfg := DefaultConfig()
	cfg.NumPartitions, cfg.Markers, cfg.Now = 1, f.markers, f.clock.Now
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := newCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetPartitions(1, []OwnedPartition{{Index: 0, Log: log, LeaderEpoch: leaderEpoch}})
	for deadline := time.Now().Add(5 * time.Second); !c.Loaded(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("coordinator did not load")
		}
	}
	f.c = c
	return f
}

func (f *fixture) alloc(context.Context) (int64, error) {
	f.nextPID++
	return f.nextPID, nil
}

func (f *fixture) init(id string) (int64, int16) {
	f.t.Helper()
	pid, epoch, err := f.c.InitProducerID(context.Background(), f.alloc, id, time.Minute, -1, -1)
	if err != nil {
		f.t.Fatalf("InitProducerID(%q): %v", id, err)
	}
	return pid, epoch
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

var (
	a0 = TopicPartition{"a", 0}
	b1 = TopicPartition{"b", 1}
)

func TestInitNewIDThenFence(t *testing.T) {
	f := newFixture(t, &memLog{}, nil)
	pid, epoch := f.init("tx")
	if epoch != 0 {
		t.Fatalf("new id: epoch %d, want 0", epoch)
	}
	pid2, epoch2 := f.init("tx")
	if pid2 != pid || epoch2 != 1 {
		t.Fatalf("second init: %d/%d, want %d/1", pid2, epoch2, pid)
	}
	wantErr(t, "add with the fenced epoch", f.c.AddPartitions("tx", pid, 0, []TopicPartition{a0}), ErrProducerFenced)
	wantErr(t, "end with the fenced epoch", f.c.EndTxn("tx", pid, 0, true), ErrProducerFenced)
	_, _, err := f.c.InitProducerID(context.Background(), f.alloc, "tx", time.Minute, pid, 0)
	wantErr(t, "KIP-360 recovery with a stale epoch", err, ErrProducerFenced)
	if m := f.log.lastState(t, "tx"); m.state != kmsg.TransactionStateEmpty || m.epoch != 1 {
		t.Fatalf("logged state %v epoch %d, want Empty epoch 1", m.state, m.epoch)
	}
}

func TestInitValidates(t *testing.T) {
	f := newFixture(t, &memLog{}, func(c *Config) { c.MaxIDs = 1 })
	_, _, err := f.c.InitProducerID(context.Background(), f.alloc, "tx", 16*time.Minute, -1, -1)
	wantErr(t, "timeout over the max", err, ErrInvalidTimeout)
	_, _, err = f.c.InitProducerID(context.Background(), f.alloc, strings.Repeat("x", MaxTransactionalIDLen+1), time.Minute, -1, -1)
	wantErr(t, "long id", err, ErrInvalidTransactionalID)
	f.init("one")
	_, _, err = f.c.InitProducerID(context.Background(), f.alloc, "two", time.Minute, -1, -1)
	wantErr(t, "id over transaction.coordinator.max.ids", err, ErrTooManyIDs)
	f.init("one") // existing ids are not refused
}

func TestCommitWritesMarkersThenComplete(t *testing.T) {
	f := newFixture(t, &memLog{}, nil)
	pid, epoch := f.init("tx")
	if err := f.c.AddPartitions("tx", pid, epoch, []TopicPartition{a0, b1}); err != nil {
		t.Fatal(err)
	}
	errs, release, err := f.c.BeginProduce("tx", pid, epoch, []TopicPartition{a0, {"a", 1}})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], ErrInvalidTxnState) {
		t.Fatalf("BeginProduce: %v %v, want a0 accepted and a1 INVALID_TXN_STATE", errs, err)
	}
	release()
	if err := f.c.EndTxn("tx", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	want := []marker{{a0, pid, epoch, true, leaderEpoch}, {b1, pid, epoch, true, leaderEpoch}}
	if got := f.markers.take(); !slices.Equal(got, want) {
		t.Fatalf("markers %v, want %v", got, want)
	}
	if m := f.log.lastState(t, "tx"); m.state != kmsg.TransactionStateCompleteCommit || len(m.partitions) != 0 {
		t.Fatalf("logged %v %v, want CompleteCommit with no partitions", m.state, m.partitions)
	}
	if err := f.c.EndTxn("tx", pid, epoch, true); err != nil {
		t.Fatalf("retried commit: %v", err)
	}
	wantErr(t, "abort after commit", f.c.EndTxn("tx", pid, epoch, false), ErrInvalidTxnState)
	errs, release, err = f.c.BeginProduce("tx", pid, epoch, []TopicPartition{a0})
	if err != nil {
		t.Fatal(err)
	}
	release()
	wantErr(t, "produce after the commit", errs[0], ErrInvalidTxnState)
	// The next transaction starts from CompleteCommit.
	if err := f.c.AddPartitions("tx", pid, epoch, []TopicPartition{b1}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.EndTxn("tx", pid, epoch, false); err != nil {
		t.Fatal(err)
	}
	if got := f.markers.take(); !slices.Equal(got, []marker{{b1, pid, epoch, false, leaderEpoch}}) {
		t.Fatalf("abort markers %v", got)
	}
}

func TestOutOfOrderRequests(t *testing.T) {
	f := newFixture(t, &memLog{}, nil)
	wantErr(t, "add for an unknown id", f.c.AddPartitions("nope", 1, 0, []TopicPartition{a0}), ErrInvalidProducerIDMapping)
	pid, epoch := f.init("tx")
	wantErr(t, "add with another producer id", f.c.AddPartitions("tx", pid+1, epoch, []TopicPartition{a0}), ErrInvalidProducerIDMapping)
	wantErr(t, "end with no transaction", f.c.EndTxn("tx", pid, epoch, true), ErrInvalidTxnState)
	_, _, err := f.c.BeginProduce("tx", pid, epoch+1, []TopicPartition{a0})
	wantErr(t, "produce with a future epoch", err, ErrProducerFenced)

	// A commit whose markers cannot be written stays PrepareCommit:
	// CONCURRENT_TRANSACTIONS until it completes.
	if err := f.c.AddPartitions("tx", pid, epoch, []TopicPartition{a0}); err != nil {
		t.Fatal(err)
	}
	f.markers.fail = true
	wantErr(t, "commit with failing markers", f.c.EndTxn("tx", pid, epoch, true), ErrConcurrentTransactions)
	wantErr(t, "add while completing", f.c.AddPartitions("tx", pid, epoch, []TopicPartition{b1}), ErrConcurrentTransactions)
	wantErr(t, "abort while committing", f.c.EndTxn("tx", pid, epoch, false), ErrInvalidTxnState)
	if m := f.log.lastState(t, "tx"); m.state != kmsg.TransactionStatePrepareCommit {
		t.Fatalf("logged %v, want PrepareCommit", m.state)
	}
	f.markers.fail = false
	f.c.tick() // retries the completion
	if m := f.log.lastState(t, "tx"); m.state != kmsg.TransactionStateCompleteCommit {
		t.Fatalf("after tick logged %v, want CompleteCommit", m.state)
	}
	if got := f.markers.take(); len(got) != 1 || !got[0].commit {
		t.Fatalf("markers after retry: %v", got)
	}
}

func TestInitAbortsOngoingTransaction(t *testing.T) {
	f := newFixture(t, &memLog{}, nil)
	pid, _ := f.init("tx")
	if err := f.c.AddPartitions("tx", pid, 0, []TopicPartition{a0, b1}); err != nil {
		t.Fatal(err)
	}
	_, epoch := f.init("tx")
	if epoch != 1 {
		t.Fatalf("epoch after fencing %d, want 1", epoch)
	}
	// The abort markers carry the new epoch, fencing the old producer
	// on every partition of its transaction.
	want := []marker{{a0, pid, 1, false, leaderEpoch}, {b1, pid, 1, false, leaderEpoch}}
	if got := f.markers.take(); !slices.Equal(got, want) {
		t.Fatalf("markers %v, want %v", got, want)
	}
	wantErr(t, "old producer's commit", f.c.EndTxn("tx", pid, 0, true), ErrProducerFenced)
	if err := f.c.AddPartitions("tx", pid, 1, []TopicPartition{a0}); err != nil {
		t.Fatalf("new producer: %v", err)
	}
}

func TestTimeoutAborts(t *testing.T) {
	f := newFixture(t, &memLog{}, nil)
	pid, epoch := f.init("tx") // timeout: one minute
	if err := f.c.AddPartitions("tx", pid, epoch, []TopicPartition{a0}); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(59 * time.Second)
	f.c.tick()
	if got := f.markers.take(); len(got) != 0 {
		t.Fatalf("aborted before the timeout: %v", got)
	}
	f.clock.advance(2 * time.Second)
	f.c.tick()
	if got := f.markers.take(); !slices.Equal(got, []marker{{a0, pid, 1, false, leaderEpoch}}) {
		t.Fatalf("timeout markers %v", got)
	}
	if m := f.log.lastState(t, "tx"); m.state != kmsg.TransactionStateCompleteAbort || m.epoch != 1 {
		t.Fatalf("logged %v epoch %d, want CompleteAbort epoch 1", m.state, m.epoch)
	}
	wantErr(t, "commit by the timed-out producer", f.c.EndTxn("tx", pid, epoch, true), ErrProducerFenced)
}

func TestRestartInPrepareCommitCompletes(t *testing.T) {
	log := &memLog{}
	f := newFixture(t, log, nil)
	pid, epoch := f.init("tx")
	if err := f.c.AddPartitions("tx", pid, epoch, []TopicPartition{a0, b1}); err != nil {
		t.Fatal(err)
	}
	f.markers.fail = true
	wantErr(t, "commit", f.c.EndTxn("tx", pid, epoch, true), ErrConcurrentTransactions)
	f.c.Close()

	g := newFixture(t, log, nil) // a new leader replays the log
	want := []marker{{a0, pid, epoch, true, leaderEpoch}, {b1, pid, epoch, true, leaderEpoch}}
	if got := g.markers.take(); !slices.Equal(got, want) {
		t.Fatalf("markers on load %v, want %v", got, want)
	}
	if m := log.lastState(t, "tx"); m.state != kmsg.TransactionStateCompleteCommit {
		t.Fatalf("logged %v, want CompleteCommit", m.state)
	}
	if err := g.c.EndTxn("tx", pid, epoch, true); err != nil {
		t.Fatalf("retried commit after the restart: %v", err)
	}
}

func TestRestartKeepsOngoingTransaction(t *testing.T) {
	log := &memLog{}
	f := newFixture(t, log, nil)
	pid, epoch := f.init("tx")
	if err := f.c.AddPartitions("tx", pid, epoch, []TopicPartition{a0}); err != nil {
		t.Fatal(err)
	}
	f.c.Close()
	g := newFixture(t, log, nil)
	errs, release, err := g.c.BeginProduce("tx", pid, epoch, []TopicPartition{a0})
	if err != nil || errs[0] != nil {
		t.Fatalf("produce after the restart: %v %v", errs, err)
	}
	release()
	if g.c.IDCount() != 1 {
		t.Fatalf("ids after load: %d", g.c.IDCount())
	}
}

func TestNotCoordinator(t *testing.T) {
	f := newFixture(t, &memLog{}, nil)
	f.c.SetPartitions(2, []OwnedPartition{{Index: 0, Log: f.log, LeaderEpoch: leaderEpoch}})
	id := ""
	for i := 0; id == "" || PartitionFor(id, 2) == 0; i++ {
		id = fmt.Sprintf("tx-%d", i)
	}
	_, _, err := f.c.InitProducerID(context.Background(), f.alloc, id, time.Minute, -1, -1)
	wantErr(t, "id of a partition not led", err, ErrNotCoordinator)
}

// TestPartitionForMatchesGroups: transactional ids hash like group ids
// (Kafka uses the same function), including Utils.abs of MinInt32.
func TestPartitionForMatchesGroups(t *testing.T) {
	for _, id := range []string{"", "a", "payments", "polygenelubricants", "日本", strings.Repeat("z", 300)} {
		if got, want := PartitionFor(id, 50), group.PartitionFor(id, 50); got != want {
			t.Errorf("PartitionFor(%q) = %d, group's %d", id, got, want)
		}
	}
}
