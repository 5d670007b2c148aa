package partition_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/storage"
)

func TestAcksAllCompletesOnlyAfterFollowerFetchPassesIt(t *testing.T) {
	c := newCluster(t, 2, 2)
	leader := c.nodes[1]
	done := produceAsync(leader, batch("a", "b"), time.Minute)
	awaitAppended(t, leader, 2)
	assertPending(t, done)

	// The follower copies the batch; the fetch reported offset 0, so the
	// leader cannot know yet that the follower has it.
	res := c.fetch(2, 1<<20)
	if len(res.Data) == 0 || res.HighWatermark != 0 {
		t.Fatalf("first fetch: %d bytes, hwm %d; want data and hwm 0", len(res.Data), res.HighWatermark)
	}
	if got := leader.HighWatermark(); got != 0 {
		t.Fatalf("leader hwm %d before the follower reported progress", got)
	}
	assertPending(t, done)

	// The next fetch reports offset 2: the write is on both replicas
	// (once the leader's own flush, which may still run, is done).
	c.fetch(2, 1<<20)
	r := awaitResult(t, done)
	if r.err != nil || r.res.BaseOffset != 0 {
		t.Fatalf("produce = %+v, %v", r.res, r.err)
	}
	if got := leader.HighWatermark(); got != 2 {
		t.Fatalf("leader hwm = %d, want 2", got)
	}
	// The follower learns the watermark from its next fetch.
	if res := c.fetch(2, 1<<20); res.HighWatermark != 2 || c.nodes[2].HighWatermark() != 2 {
		t.Fatalf("follower hwm = %d (leader sent %d), want 2", c.nodes[2].HighWatermark(), res.HighWatermark)
	}
}

func TestSingleReplicaBehavesAsBefore(t *testing.T) {
	c := newCluster(t, 1, 1)
	p := c.nodes[1]
	for i, acks := range []int16{0, 1, -1} {
		res, err := p.Produce(batch("x"), acks, time.Second)
		if err != nil || res.BaseOffset != int64(i) {
			t.Fatalf("acks=%d: %+v, %v", acks, res, err)
		}
		if got := p.HighWatermark(); got != int64(i+1) {
			t.Fatalf("acks=%d: hwm %d, want %d", acks, got, i+1)
		}
	}
}

func TestNotEnoughReplicasRefusesBeforeAppending(t *testing.T) {
	c := newCluster(t, 2, 2)
	c.ctl.set(func(m *partition.Metadata) { m.ISR = []int32{1} })
	leader := c.nodes[1]
	if _, err := leader.Produce(batch("a"), -1, time.Second); !errors.Is(err, partition.ErrNotEnoughReplicas) {
		t.Fatalf("acks=all with ISR {1}, min 2: err %v", err)
	}
	if got := leader.LogEndOffset(); got != 0 {
		t.Fatalf("log end %d after a refused produce", got)
	}
	// acks=1 does not care about min.insync.replicas.
	if _, err := leader.Produce(batch("a"), 1, time.Second); err != nil {
		t.Fatalf("acks=1: %v", err)
	}
}

func TestNotEnoughReplicasAfterAppend(t *testing.T) {
	c := newCluster(t, 2, 2)
	leader := c.nodes[1]
	c.fetch(2, 1<<20) // the follower has fetched in this epoch
	done := produceAsync(leader, batch("a"), time.Minute)
	awaitAppended(t, leader, 1)
	assertPending(t, done)
	// The controller drops the follower: the leader's own copy is now
	// enough for the high watermark, but the ISR is below the minimum.
	c.ctl.set(func(m *partition.Metadata) { m.ISR = []int32{1} })
	r := awaitResult(t, done)
	if !errors.Is(r.err, partition.ErrNotEnoughReplicasAfterAppend) {
		t.Fatalf("err = %v, want ErrNotEnoughReplicasAfterAppend", r.err)
	}
	if got := leader.HighWatermark(); got != 1 {
		t.Fatalf("hwm = %d, want 1", got)
	}
}

func TestAcksAllTimesOut(t *testing.T) {
	c := newCluster(t, 2, 1)
	_, err := c.nodes[1].Produce(batch("a"), -1, 20*time.Millisecond)
	if !errors.Is(err, partition.ErrRequestTimedOut) {
		t.Fatalf("err = %v, want ErrRequestTimedOut", err)
	}
}

func TestRoleChangeFailsWaitersWithNotLeader(t *testing.T) {
	c := newCluster(t, 2, 1)
	leader := c.nodes[1]
	done := produceAsync(leader, batch("a"), time.Minute)
	awaitAppended(t, leader, 1)
	c.ctl.set(func(m *partition.Metadata) { m.Leader, m.LeaderEpoch = 2, 2 })
	if r := awaitResult(t, done); !errors.Is(r.err, partition.ErrNotLeader) {
		t.Fatalf("waiting produce: err %v, want ErrNotLeader", r.err)
	}
	if leader.IsLeader() || !c.nodes[2].IsLeader() {
		t.Fatalf("roles: 1 leads %v, 2 leads %v", leader.IsLeader(), c.nodes[2].IsLeader())
	}
	if _, err := leader.Produce(batch("b"), 1, time.Second); !errors.Is(err, partition.ErrNotLeader) {
		t.Fatalf("produce on the old leader: %v", err)
	}
	if _, err := leader.ReadForReplica(nil, 2, 0, 2, 1000); !errors.Is(err, partition.ErrNotLeader) {
		t.Fatalf("replica fetch from the old leader: %v", err)
	}
}

func TestHighWatermarkIsMinimumISRProgress(t *testing.T) {
	c := newCluster(t, 3, 1)
	leader := c.nodes[1]
	for i := range 5 {
		if _, err := leader.Produce(batch("v"), 1, time.Second); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	// An ISR member that never fetched holds the watermark at its start.
	c.catchUp(2)
	if got := leader.HighWatermark(); got != 0 {
		t.Fatalf("hwm = %d with replica 3 unknown, want 0", got)
	}
	// Replica 3 copies one batch at a time; the watermark follows it.
	for want := int64(0); want <= 5; want++ {
		res := c.fetch(3, 1) // the first batch only
		if res.HighWatermark != want {
			t.Fatalf("hwm = %d after replica 3 reported %d", res.HighWatermark, want)
		}
	}
	if got := leader.HighWatermark(); got != 5 {
		t.Fatalf("hwm = %d, want 5", got)
	}
	// Consumers never read above it.
	r, err := leader.Read(5, 1<<20, true)
	if err != nil || len(r.Data) != 0 {
		t.Fatalf("read at hwm: %d bytes, %v", len(r.Data), err)
	}
}

func TestShrinkAfterLagThenExpandAfterCatchingUp(t *testing.T) {
	c := newCluster(t, 3, 1)
	leader := c.nodes[1]
	c.catchUp(2)
	c.catchUp(3)
	if _, err := leader.Produce(batch("a"), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	// Replica 2 keeps up, replica 3 stops fetching.
	c.catchUp(2)
	leader.MaybeShrinkISR(context.Background())
	if got := c.ctl.recorded(); len(got) != 0 {
		t.Fatalf("ISR changed before the lag time: %+v", got)
	}
	c.clock.Advance(lagTime + time.Second)
	c.catchUp(2)
	leader.MaybeShrinkISR(context.Background())
	ch := c.awaitISRChange()
	if !slices.Equal(ch.ISR, []int32{1, 2}) || ch.Leader != 1 || ch.LeaderEpoch != 1 {
		t.Fatalf("shrink proposal = %+v, want ISR [1 2] from leader 1 epoch 1", ch)
	}
	if got := leader.ISR(); !slices.Equal(got, []int32{1, 2}) {
		t.Fatalf("leader ISR = %v", got)
	}
	// Without replica 3 the write is committed.
	if got := leader.HighWatermark(); got != 1 {
		t.Fatalf("hwm = %d, want 1", got)
	}

	// Replica 3 comes back: once it has reached the high watermark it is
	// proposed for the ISR again.
	c.fetch(3, 1<<20)
	c.fetch(3, 1<<20)
	ch = c.awaitISRChange()
	if !slices.Equal(ch.ISR, []int32{1, 2, 3}) {
		t.Fatalf("expansion proposal = %+v, want ISR [1 2 3]", ch)
	}
	if got := leader.ISR(); !slices.Equal(got, []int32{1, 2, 3}) {
		t.Fatalf("leader ISR = %v", got)
	}
}

func TestShrinkNeverDropsTheLeader(t *testing.T) {
	c := newCluster(t, 2, 1)
	if _, err := c.nodes[1].Produce(batch("a"), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	c.clock.Advance(lagTime + time.Second)
	c.nodes[1].MaybeShrinkISR(context.Background())
	if ch := c.awaitISRChange(); !slices.Equal(ch.ISR, []int32{1}) {
		t.Fatalf("proposal = %+v, want ISR [1]", ch)
	}
	c.clock.Advance(lagTime + time.Second)
	c.nodes[1].MaybeShrinkISR(context.Background())
	if got := c.ctl.recorded(); len(got) != 1 {
		t.Fatalf("more ISR changes than the one shrink: %+v", got)
	}
}

func TestReplicaFetchChecks(t *testing.T) {
	c := newCluster(t, 2, 1)
	leader := c.nodes[1]
	if _, err := leader.Produce(batch("a"), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		replica int32
		offset  int64
		epoch   int32
		want    error
	}{
		{"older epoch", 2, 0, 0, partition.ErrFencedLeaderEpoch},
		{"newer epoch", 2, 0, 2, partition.ErrUnknownLeaderEpoch},
		{"not a replica", 7, 0, 1, partition.ErrNotReplica},
		{"beyond the log end", 2, 2, 1, storage.ErrOffsetOutOfRange},
	} {
		if _, err := leader.ReadForReplica(nil, tc.replica, tc.offset, tc.epoch, 1000); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	// Followers read above the high watermark; consumers do not.
	res, err := leader.ReadForReplica(nil, 2, 0, -1, 1000)
	if err != nil || len(res.Data) == 0 || res.HighWatermark != 0 {
		t.Fatalf("replica read: %d bytes, hwm %d, %v", len(res.Data), res.HighWatermark, err)
	}
	if data, err := leader.ReadLocal(0, 1000); err != nil || len(data) == 0 {
		t.Fatalf("ReadLocal: %d bytes, %v", len(data), err)
	}
	if r, err := leader.Read(0, 1000, true); err != nil || len(r.Data) != 0 {
		t.Fatalf("consumer read above hwm: %d bytes, %v", len(r.Data), err)
	}
}

func TestAppendWaiterWakesOnLeaderAppend(t *testing.T) {
	c := newCluster(t, 2, 1)
	leader := c.nodes[1]
	appends, hwm := make(chan struct{}, 1), make(chan struct{}, 1)
	defer leader.AddAppendWaiter(appends)()
	defer leader.AddWaiter(hwm)()
	if _, err := leader.Produce(batch("a"), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-appends:
	default:
		t.Fatal("append waiter not signalled by an append")
	}
	select {
	case <-hwm:
		t.Fatal("high-watermark waiter signalled though the watermark did not move")
	default:
	}
}

func TestFollowerKeepsOffsetsEpochsAndProducerState(t *testing.T) {
	c := newCluster(t, 2, 1)
	c.ctl.set(func(m *partition.Metadata) { m.LeaderEpoch = 5 })
	leader, follower := c.nodes[1], c.nodes[2]
	if _, err := leader.Produce(batch("plain"), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	first, err := leader.Produce(idempotentBatch(7, 0, "x", "y"), 1, time.Second)
	if err != nil || first.BaseOffset != 1 {
		t.Fatalf("idempotent produce: %+v, %v", first, err)
	}
	c.catchUp(2)
	want, _ := leader.ReadLocal(0, 1<<20)
	got, _ := follower.ReadLocal(0, 1<<20)
	if len(want) == 0 || string(got) != string(want) {
		t.Fatalf("follower log differs from the leader's (%d vs %d bytes)", len(got), len(want))
	}
	h, err := record.ParseHeader(got)
	if err != nil || h.PartitionLeaderEpoch != 5 {
		t.Fatalf("follower batch epoch %d, %v; want 5", h.PartitionLeaderEpoch, err)
	}
	if e := follower.LatestEpoch(); e != 5 {
		t.Fatalf("follower latest epoch %d, want 5", e)
	}

	// Leadership moves to the follower; the producer retries its batch.
	c.ctl.set(func(m *partition.Metadata) { m.Leader, m.LeaderEpoch = 2, 6 })
	retry, err := follower.Produce(idempotentBatch(7, 0, "x", "y"), 1, time.Second)
	if err != nil || retry.BaseOffset != 1 || follower.LogEndOffset() != 3 {
		t.Fatalf("retry on the new leader: %+v, %v, log end %d; want offset 1, no append", retry, err, follower.LogEndOffset())
	}
	next, err := follower.Produce(idempotentBatch(7, 2, "z"), 1, time.Second)
	if err != nil || next.BaseOffset != 3 {
		t.Fatalf("next batch on the new leader: %+v, %v", next, err)
	}
	if _, err := follower.Produce(idempotentBatch(7, 9, "gap"), 1, time.Second); !errors.Is(err, partition.ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap on the new leader: %v", err)
	}
}

func TestTruncationThenReappend(t *testing.T) {
	c := newCluster(t, 3, 1)
	old := c.nodes[1]
	for _, v := range []string{"a", "b"} {
		if _, err := old.Produce(batch(v), 1, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	c.catchUp(2)
	c.catchUp(3)
	// A third batch reaches replica 2 only.
	if _, err := old.Produce(batch("c"), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	c.catchUp(2)
	if c.nodes[2].LogEndOffset() != 3 || c.nodes[3].LogEndOffset() != 2 {
		t.Fatalf("log ends %d, %d; want 3, 2", c.nodes[2].LogEndOffset(), c.nodes[3].LogEndOffset())
	}

	// Replica 3 takes over in epoch 2 and writes at offset 2.
	c.ctl.set(func(m *partition.Metadata) { m.Leader, m.LeaderEpoch, m.ISR = 3, 2, []int32{3, 2} })
	leader := c.nodes[3]
	if e, end := leader.EndOffsetForEpoch(2); e != 2 || end != 2 {
		t.Fatalf("new leader's current epoch before any batch: (%d, %d), want (2, 2)", e, end)
	}
	if _, err := leader.Produce(batch("d"), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	follower := c.nodes[2]
	if e, end, diverged := leader.DivergingEpoch(follower.LatestEpoch(), follower.LogEndOffset()); !diverged || e != 1 || end != 2 {
		t.Fatalf("DivergingEpoch = (%d, %d, %v), want (1, 2, true)", e, end, diverged)
	}
	// The KIP-279 step: ask for the end of the follower's latest epoch.
	e, end := leader.EndOffsetForEpoch(follower.LatestEpoch())
	if e != 1 || end != 2 {
		t.Fatalf("EndOffsetForEpoch(1) = (%d, %d), want (1, 2)", e, end)
	}
	if err := follower.TruncateTo(end); err != nil {
		t.Fatal(err)
	}
	if got := follower.LogEndOffset(); got != 2 {
		t.Fatalf("log end after truncation %d, want 2", got)
	}
	if follower.HighWatermark() > 2 {
		t.Fatalf("follower hwm %d above its log end", follower.HighWatermark())
	}
	c.catchUp(2)
	want, _ := leader.ReadLocal(0, 1<<20)
	got, _ := follower.ReadLocal(0, 1<<20)
	for off := int64(0); off < 3; off++ {
		w, _ := leader.ReadLocal(off, 1)
		g, _ := follower.ReadLocal(off, 1)
		if string(w) != string(g) {
			t.Fatalf("offset %d differs after re-append", off)
		}
	}
	if len(got) == 0 || len(got) != len(want) {
		t.Fatalf("follower has %d bytes, leader %d", len(got), len(want))
	}
	if fe := follower.LatestEpoch(); fe != 2 {
		t.Fatalf("follower latest epoch %d, want 2", fe)
	}
	// A leader does not truncate; a follower does not take produces.
	if err := leader.TruncateTo(0); !errors.Is(err, partition.ErrNotFollower) {
		t.Fatalf("leader truncate: %v", err)
	}
	if _, err := leader.AppendAsFollower(batch("x")); !errors.Is(err, partition.ErrNotFollower) {
		t.Fatalf("leader AppendAsFollower: %v", err)
	}
}

func TestProducerStateRebuiltOnOpen(t *testing.T) {
	c := newCluster(t, 1, 1)
	p := c.nodes[1]
	if _, err := p.Produce(batch("plain"), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Produce(idempotentBatch(9, 0, "a"), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.mgrs[1].Close(); err != nil {
		t.Fatal(err)
	}
	p = c.open(1)
	c.ctl.applyAll(cloneMeta(c.ctl.meta))
	res, err := p.Produce(idempotentBatch(9, 0, "a"), 1, time.Second)
	if err != nil || res.BaseOffset != 1 || p.LogEndOffset() != 2 {
		t.Fatalf("retry after reopen: %+v, %v, log end %d; want the original offset 1", res, err, p.LogEndOffset())
	}
	if _, err := p.Produce(idempotentBatch(9, 5, "b"), 1, time.Second); !errors.Is(err, partition.ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap after reopen: %v", err)
	}
}

// TestRestartedReplicaRelearnsHighWatermark: without a checkpoint a
// restarted leader starts from the log start and re-learns the watermark.
func TestRestartedReplicaRelearnsHighWatermark(t *testing.T) {
	c := newCluster(t, 2, 1)
	for range 2 {
		if _, err := c.nodes[1].Produce(batch("a"), 1, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	c.catchUp(2)
	if got := c.nodes[1].HighWatermark(); got != 2 {
		t.Fatalf("hwm = %d, want 2", got)
	}
	if err := c.mgrs[1].Close(); err != nil {
		t.Fatal(err)
	}
	// Without a high watermark checkpoint (a crash before the first one)
	// its log end is not known to be on the other replica any more.
	if err := c.fs.Remove("/data1/replication-offset-checkpoint"); err != nil {
		t.Fatal(err)
	}
	p := c.open(1)
	c.ctl.applyAll(cloneMeta(c.ctl.meta))
	if got := p.HighWatermark(); got != 0 {
		t.Fatalf("hwm after restart = %d, want 0 until the follower reports", got)
	}
	c.catchUp(2)
	if got := p.HighWatermark(); got != 2 {
		t.Fatalf("hwm after the follower fetched = %d, want 2", got)
	}
}

// A leader that lost its controller session fails waiting acks=all writes
// and refuses new ones with ErrNotLeader (clients go find the new leader);
// a single-replica partition, which has nowhere to fail over, keeps serving.
func TestSessionLostRefusesReplicatedWrites(t *testing.T) {
	c := newCluster(t, 2, 1)
	leader := c.nodes[1]
	done := produceAsync(leader, batch("a"), time.Minute)
	awaitAppended(t, leader, 1)
	assertPending(t, done)
	c.lost.Store(true)
	leader.Wake()
	if r := awaitResult(t, done); !errors.Is(r.err, partition.ErrNotLeader) {
		t.Fatalf("pending write = %v, want ErrNotLeader", r.err)
	}
	if _, err := leader.Produce(batch("b"), 1, time.Minute); !errors.Is(err, partition.ErrNotLeader) {
		t.Fatalf("new write = %v, want ErrNotLeader", err)
	}
	if got := leader.LogEndOffset(); got != 1 {
		t.Fatalf("log end %d: the refused write was appended", got)
	}

	single := newCluster(t, 1, 1)
	single.lost.Store(true)
	if _, err := single.nodes[1].Produce(batch("c"), -1, time.Minute); err != nil {
		t.Fatalf("single replica write with the session lost: %v", err)
	}
}
