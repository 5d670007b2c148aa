package replication

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/storage"
)

// changes is a broadcast of "something changed", so tests wait for a
// condition by event instead of polling on a timer.
type changes struct {
	mu sync.Mutex
	ch chan struct{}
}

func newChanges() *changes { return &changes{ch: make(chan struct{})} }

func (c *changes) notify() {
	c.mu.Lock()
	close(c.ch)
	c.ch = make(chan struct{})
	c.mu.Unlock()
}

func (c *changes) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch
}

// waitFor waits until cond holds, re-checking after every change.
func waitFor(t *testing.T, c *changes, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		ch := c.wait()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// batch builds a one-batch record set of n records at offset base in
// epoch, with recognizable values.
func batch(base int64, n int, epoch int32) []byte {
	b := record.NewBuilder(1000 + base)
	for i := range n {
		b.Add(nil, fmt.Appendf(nil, "v%d-e%d", base+int64(i), epoch))
	}
	out := b.Build()
	record.SetBaseOffset(out, base)
	record.SetPartitionLeaderEpoch(out, epoch)
	return out
}

type fakeBatch struct {
	base, last int64
	epoch      int32
	data       []byte
}

// fakeLog is an in-memory partition log with Kafka's epoch semantics:
// the leader's fake keeps one, and fakeReplica wraps one for followers.
type fakeLog struct {
	mu      sync.Mutex
	start   int64
	batches []fakeBatch
}

func (l *fakeLog) endLocked() int64 {
	if len(l.batches) == 0 {
		return l.start
	}
	return l.batches[len(l.batches)-1].last + 1
}

func (l *fakeLog) LogStartOffset() int64 { l.mu.Lock(); defer l.mu.Unlock(); return l.start }
func (l *fakeLog) LogEndOffset() int64   { l.mu.Lock(); defer l.mu.Unlock(); return l.endLocked() }

// epochs lists (epoch, start offset) for each epoch change.
func (l *fakeLog) epochsLocked() (epochs []int32, starts []int64) {
	for _, b := range l.batches {
		if len(epochs) == 0 || b.epoch > epochs[len(epochs)-1] {
			epochs, starts = append(epochs, b.epoch), append(starts, b.base)
		}
	}
	return epochs, starts
}

func (l *fakeLog) LatestEpoch() int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.batches) == 0 {
		return -1
	}
	return l.batches[len(l.batches)-1].epoch
}

func (l *fakeLog) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	epochs, starts := l.epochsLocked()
	if epoch < 0 || len(epochs) == 0 {
		return -1, -1
	}
	if epochs[len(epochs)-1] == epoch {
		return epoch, l.endLocked()
	}
	i := 0
	for i < len(epochs) && epochs[i] <= epoch {
		i++
	}
	switch {
	case i == len(epochs):
		return -1, -1
	case i == 0:
		return epoch, starts[0]
	default:
		return epochs[i-1], starts[i]
	}
}

func (l *fakeLog) appendData(data []byte) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := int64(-1)
	_, err := record.Batches(data, func(h record.Header, b []byte) error {
		if h.BaseOffset < l.endLocked() {
			return fmt.Errorf("batch at %d below log end %d", h.BaseOffset, l.endLocked())
		}
		l.batches = append(l.batches, fakeBatch{base: h.BaseOffset, last: h.LastOffset(),
			epoch: h.PartitionLeaderEpoch, data: bytes.Clone(b)})
		last = h.LastOffset()
		return nil
	})
	return last, err
}

func (l *fakeLog) truncateTo(offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.batches) > 0 && l.batches[len(l.batches)-1].last >= offset {
		l.batches = l.batches[:len(l.batches)-1]
	}
	l.start = min(l.start, l.endLocked())
}

func (l *fakeLog) restartAt(offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches, l.start = nil, offset
}

// read returns whole batches from offset, at least one, up to maxBytes.
func (l *fakeLog) read(offset int64, maxBytes int) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for _, b := range l.batches {
		if b.last < offset {
			continue
		}
		if len(out) > 0 && len(out)+len(b.data) > maxBytes {
			break
		}
		out = append(out, b.data...)
	}
	return out
}

// content is the whole log's content.
func (l *fakeLog) content() []byte { return l.read(0, 1<<30) }

// fakeReplica is a follower replica over a fakeLog that records what the
// fetcher did to it.
type fakeReplica struct {
	fakeLog
	tp storage.TopicPartition
	id [16]byte
	ch *changes

	fmu           sync.Mutex
	flushed       int64
	hwm           int64
	flushes       int
	truncations   []int64
	restarts      []int64
	applied       []metadata
	shrinks       int
	appendErr     error
	appendCalls   int
	truncateErrs  int // fail this many TruncateTo calls
	noFullRestart bool
}

func newFakeReplica(ch *changes, topic string, partition int32, id [16]byte) *fakeReplica {
	return &fakeReplica{tp: storage.TopicPartition{Topic: topic, Partition: partition}, id: id, ch: ch}
}

func (r *fakeReplica) TopicPartition() storage.TopicPartition { return r.tp }
func (r *fakeReplica) TopicID() [16]byte                      { return r.id }

func (r *fakeReplica) HighWatermark() int64 {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	return r.hwm
}

func (r *fakeReplica) AppendAsFollower(data []byte) (int64, error) {
	r.fmu.Lock()
	err := r.appendErr
	r.appendCalls++
	r.fmu.Unlock()
	defer r.ch.notify()
	if err != nil {
		return -1, err
	}
	return r.appendData(data)
}

func (r *fakeReplica) UpdateFollowerHighWatermark(h int64) {
	r.fmu.Lock()
	r.hwm = min(h, r.LogEndOffset())
	r.fmu.Unlock()
	r.ch.notify()
}

func (r *fakeReplica) TruncateTo(offset int64) error {
	r.fmu.Lock()
	if r.truncateErrs > 0 {
		r.truncateErrs--
		r.fmu.Unlock()
		r.ch.notify()
		return storage.ErrLogFailed
	}
	r.fmu.Unlock()
	r.truncateTo(offset)
	r.fmu.Lock()
	r.truncations = append(r.truncations, offset)
	r.flushed = min(r.flushed, r.LogEndOffset())
	r.hwm = min(r.hwm, r.LogEndOffset())
	r.fmu.Unlock()
	r.ch.notify()
	return nil
}

func (r *fakeReplica) TruncateFullyAndStartAt(offset int64) error {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	if r.noFullRestart {
		return ErrCannotRestartLog
	}
	r.restartAt(offset)
	r.restarts = append(r.restarts, offset)
	r.flushed, r.hwm = offset, offset
	r.ch.notify()
	return nil
}

func (r *fakeReplica) FlushLocal() error {
	r.fmu.Lock()
	r.flushed = r.LogEndOffset()
	r.flushes++
	r.fmu.Unlock()
	r.ch.notify()
	return nil
}

func (r *fakeReplica) flushedOffset() int64 {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	return r.flushed
}

func (r *fakeReplica) ApplyMetadata(m metadata) {
	r.fmu.Lock()
	r.applied = append(r.applied, m)
	r.fmu.Unlock()
	r.ch.notify()
}

func (r *fakeReplica) MaybeShrinkISR(context.Context) {
	r.fmu.Lock()
	r.shrinks++
	r.fmu.Unlock()
	r.ch.notify()
}

func (r *fakeReplica) snapshot() (truncations, restarts []int64, applied []metadata, shrinks int) {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	return append([]int64(nil), r.truncations...), append([]int64(nil), r.restarts...),
		append([]metadata(nil), r.applied...), r.shrinks
}

// fakeDialer connects node ids to test listeners.
type fakeDialer struct {
	ch    *changes
	mu    sync.Mutex
	addrs map[int32]string
	dials map[int32]int
}

func newFakeDialer(ch *changes) *fakeDialer {
	return &fakeDialer{ch: ch, addrs: map[int32]string{}, dials: map[int32]int{}}
}

func (d *fakeDialer) set(node int32, addr string) {
	d.mu.Lock()
	d.addrs[node] = addr
	d.mu.Unlock()
}

func (d *fakeDialer) count(node int32) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials[node]
}

func (d *fakeDialer) DialReplication(ctx context.Context, node int32) (net.Conn, error) {
	d.mu.Lock()
	addr, ok := d.addrs[node]
	d.dials[node]++
	d.mu.Unlock()
	d.ch.notify()
	if !ok {
		return nil, fmt.Errorf("fake dialer: no address for node %d", node)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", addr)
}
