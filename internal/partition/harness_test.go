package partition_test

// The replication tests wire two or three Partition values, each over its
// own log in one MemFS, by hand: a follower "fetches" by calling the
// leader's ReadForReplica and copying the result with AppendAsFollower, as
// the replication package does over the network. A fake controller takes
// the leaders' ISR proposals and feeds the result back through
// ApplyMetadata.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spool-mq/spool/internal/testkit"

	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/storage"
	"github.com/spool-mq/spool/internal/storage/storagetest"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

var (
	errStaleLeaderEpoch = errors.New("fake controller: stale leader epoch")
	errStaleVersion     = errors.New("fake controller: stale partition epoch")
)

// fakeClock is the shared fake clock, one for all the replicas.
type fakeClock = testkit.Clock

// fakeController holds the partition's metadata and applies ISR proposals
// the way the real controller does: only from the current leader epoch and
// partition epoch, bumping the partition epoch.
type fakeController struct {
	mu      sync.Mutex
	meta    partition.Metadata
	changes []partition.ISRChange
	applied chan partition.ISRChange

	applyMu sync.Mutex // ApplyMetadata calls in order
	nodes   map[int32]*partition.Partition
}

func (f *fakeController) AlterISR(_ context.Context, ch partition.ISRChange) error {
	f.mu.Lock()
	switch {
	case ch.LeaderEpoch != f.meta.LeaderEpoch:
		f.mu.Unlock()
		return errStaleLeaderEpoch
	case ch.PartitionEpoch != f.meta.PartitionEpoch:
		f.mu.Unlock()
		return errStaleVersion
	}
	f.meta.ISR = slices.Clone(ch.ISR)
	f.meta.PartitionEpoch++
	f.changes = append(f.changes, ch)
	m := cloneMeta(f.meta)
	f.mu.Unlock()
	f.applyAll(m)
	f.applied <- ch
	return nil
}

// set publishes new metadata to every replica.
func (f *fakeController) set(mut func(m *partition.Metadata)) {
	f.mu.Lock()
	mut(&f.meta)
	f.meta.PartitionEpoch++
	m := cloneMeta(f.meta)
	f.mu.Unlock()
	f.applyAll(m)
}

func (f *fakeController) applyAll(m partition.Metadata) {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	for _, p := range f.nodes {
		p.ApplyMetadata(cloneMeta(m))
	}
}

func (f *fakeController) recorded() []partition.ISRChange {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.changes)
}

func cloneMeta(m partition.Metadata) partition.Metadata {
	m.Replicas, m.ISR, m.Adding = slices.Clone(m.Replicas), slices.Clone(m.ISR), slices.Clone(m.Adding)
	return m
}

type cluster struct {
	t     *testing.T
	fs    *vfstest.MemFS
	clock *fakeClock
	ctl   *fakeController
	cfg   config.TopicConfig
	mgrs  map[int32]*storage.Manager
	nodes map[int32]*partition.Partition
	// lost is what every replica's Options.SessionLost reports.
	lost atomic.Bool
	// opts, if set, adjusts node id's Options before it opens.
	opts func(id int32, o *partition.Options)
}

var testTP = storage.TopicPartition{Topic: "t", Partition: 0}

const lagTime = 10 * time.Second

// newCluster makes replicas 1..n of one partition, led by 1 in epoch 1
// with every replica in the ISR.
func newCluster(t *testing.T, n int, minISR int32) *cluster {
	t.Helper()
	return newClusterWith(t, n, minISR, nil)
}

// newClusterWith is newCluster with opts adjusting each replica's Options.
func newClusterWith(t *testing.T, n int, minISR int32, opts func(id int32, o *partition.Options)) *cluster {
	t.Helper()
	cfg := config.DefaultTopicConfig()
	cfg.MinInsyncReplicas = minISR
	c := &cluster{t: t, fs: vfstest.NewMem(), clock: clockAt(time.Unix(1_000_000, 0)), cfg: cfg,
		mgrs: make(map[int32]*storage.Manager), nodes: make(map[int32]*partition.Partition), opts: opts}
	var replicas []int32
	for id := int32(1); id <= int32(n); id++ {
		replicas = append(replicas, id)
	}
	c.ctl = &fakeController{applied: make(chan partition.ISRChange, 16), nodes: c.nodes,
		meta: partition.Metadata{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1,
			Replicas: replicas, ISR: slices.Clone(replicas)}}
	for _, id := range replicas {
		c.open(id)
	}
	c.ctl.applyAll(cloneMeta(c.ctl.meta))
	t.Cleanup(func() {
		for _, m := range c.mgrs {
			if err := m.Close(); err != nil {
				t.Errorf("closing storage: %v", err)
			}
		}
	})
	return c
}

// open opens (or reopens) node id's replica.
func (c *cluster) open(id int32) *partition.Partition {
	c.t.Helper()
	mgr, err := storage.OpenManager(fmt.Sprintf("/data%d", id), storage.Options{FS: c.fs, Now: c.clock.Now})
	if err != nil {
		c.t.Fatalf("opening storage of %d: %v", id, err)
	}
	l, err := mgr.GetOrCreate(testTP, [16]byte{1}, partition.LogConfig(c.cfg))
	if err != nil {
		c.t.Fatalf("opening log of %d: %v", id, err)
	}
	o := partition.Options{Now: c.clock.Now, NodeID: id, ISR: c.ctl, ReplicaLagTime: lagTime, SessionLost: c.lost.Load}
	if c.opts != nil {
		c.opts(id, &o)
	}
	p := partition.New(l, [16]byte{1}, c.cfg, 0, o)
	c.mgrs[id], c.nodes[id] = mgr, p
	return p
}

func (c *cluster) leader() *partition.Partition {
	c.ctl.mu.Lock()
	id := c.ctl.meta.Leader
	c.ctl.mu.Unlock()
	return c.nodes[id]
}

// fetch makes follower id fetch once from the leader, reporting its log
// end, and copy what it gets. It returns what the leader answered.
func (c *cluster) fetch(id int32, maxBytes int) partition.ReadResult {
	c.t.Helper()
	f := c.nodes[id]
	res, err := c.leader().ReadForReplica(nil, id, f.LogEndOffset(), f.LeaderEpoch(), maxBytes)
	if err != nil {
		c.t.Fatalf("replica %d fetch at %d: %v", id, f.LogEndOffset(), err)
	}
	if _, err := f.AppendAsFollower(res.Data); err != nil {
		c.t.Fatalf("replica %d append: %v", id, err)
	}
	if err := f.FlushLocal(); err != nil {
		c.t.Fatalf("replica %d flush: %v", id, err)
	}
	f.UpdateFollowerHighWatermark(res.HighWatermark)
	return res
}

// catchUp fetches until follower id has the leader's whole log and the
// leader knows it.
func (c *cluster) catchUp(id int32) {
	c.t.Helper()
	for range 100 {
		c.fetch(id, 1<<20)
		if c.nodes[id].LogEndOffset() == c.leader().LogEndOffset() {
			c.fetch(id, 1<<20) // report the final offset
			return
		}
	}
	c.t.Fatalf("replica %d did not catch up", id)
}

// awaitISRChange waits for the fake controller to apply a proposal.
func (c *cluster) awaitISRChange() partition.ISRChange {
	c.t.Helper()
	select {
	case ch := <-c.ctl.applied:
		return ch
	case <-time.After(10 * time.Second):
		c.t.Fatal("no ISR change was applied")
		return partition.ISRChange{}
	}
}

func batch(values ...string) []byte {
	vs := make([][]byte, len(values))
	for i, v := range values {
		vs[i] = []byte(v)
	}
	return storagetest.Batch(1000, vs...)
}

func idempotentBatch(pid int64, seq int32, values ...string) []byte {
	vs := make([][]byte, len(values))
	for i, v := range values {
		vs[i] = []byte(v)
	}
	return storagetest.Build(storagetest.Spec{Values: vs, Timestamp: 1000, LeaderEpoch: -1,
		Idempotent: true, ProducerID: pid, ProducerEpoch: 0, BaseSequence: seq})
}

type produceResult struct {
	res partition.ProduceResult
	err error
}

// produceAsync runs an acks=all produce in the background.
func produceAsync(p *partition.Partition, data []byte, timeout time.Duration) <-chan produceResult {
	done := make(chan produceResult, 1)
	go func() {
		res, err := p.Produce(data, -1, timeout)
		done <- produceResult{res, err}
	}()
	return done
}

// awaitAppended waits until p's log end reaches end (an async produce has
// appended), woken by the partition's append signal.
func awaitAppended(t *testing.T, p *partition.Partition, end int64) {
	t.Helper()
	wake := make(chan struct{}, 1)
	defer p.AddAppendWaiter(wake)()
	timeout := time.After(10 * time.Second)
	for p.LogEndOffset() < end {
		select {
		case <-wake:
		case <-timeout:
			t.Fatalf("log end stayed at %d, want %d", p.LogEndOffset(), end)
		}
	}
}

func awaitResult(t *testing.T, done <-chan produceResult) produceResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("produce did not complete")
		return produceResult{}
	}
}

func assertPending(t *testing.T, done <-chan produceResult) {
	t.Helper()
	select {
	case r := <-done:
		t.Fatalf("acks=all produce completed early: %+v", r)
	default:
	}
}

func clockAt(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.Set(t)
	return c
}
