package partition_test

import (
	"testing"
	"time"

	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/record"
)

// readEnd is what a consumer sees reading from offset 0: the high
// watermark the fetch reports and the end of the last batch it got.
func readEnd(t *testing.T, p *partition.Partition) (hwm, end int64) {
	t.Helper()
	res, err := p.Read(0, 1<<20, true)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	_, err = record.Batches(res.Data, func(h record.Header, _ []byte) error {
		end = h.LastOffset() + 1
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.HighWatermark, end
}

// restartLeader closes node 1 cleanly, reopens it and gives it the
// leadership in a new leader epoch, as after a broker restart.
func (c *cluster) restartLeader() *partition.Partition {
	c.t.Helper()
	if err := c.mgrs[1].Close(); err != nil {
		c.t.Fatal(err)
	}
	p := c.open(1)
	c.ctl.set(func(m *partition.Metadata) { m.LeaderEpoch++ })
	return p
}

// TestRestartedLeaderKeepsCheckpointedHighWatermark: a leader restarted
// with a checkpointed high watermark serves reads up to it at once (not
// from the log start), never above it although its log is longer, and
// keeps it until every ISR member has fetched in the new epoch.
func TestRestartedLeaderKeepsCheckpointedHighWatermark(t *testing.T) {
	c := newCluster(t, 3, 1)
	for range 2 {
		if _, err := c.nodes[1].Produce(batch("a"), 1, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	c.catchUp(2)
	c.catchUp(3)
	if _, err := c.nodes[1].Produce(batch("b"), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	c.catchUp(2) // replica 3 lags: only offsets 0..1 are on the whole ISR
	if got := c.nodes[1].HighWatermark(); got != 2 {
		t.Fatalf("hwm before the restart = %d, want 2", got)
	}

	p := c.restartLeader()
	if hwm, end := readEnd(t, p); hwm != 2 || end != 2 || p.LogEndOffset() != 3 {
		t.Fatalf("after restart: read sees hwm %d and data to %d (log end %d); want 2 and 2", hwm, end, p.LogEndOffset())
	}
	c.fetch(2, 1<<20)
	if got := p.HighWatermark(); got != 2 {
		t.Fatalf("hwm after one of two followers fetched = %d, want 2 kept", got)
	}
	c.fetch(3, 1<<20) // reports offset 2: confirms nothing more
	if got := p.HighWatermark(); got != 2 {
		t.Fatalf("hwm after replica 3 reported offset 2 = %d, want 2", got)
	}
	c.catchUp(3)
	if hwm, end := readEnd(t, p); hwm != 3 || end != 3 {
		t.Fatalf("after the ISR confirmed offset 2: hwm %d, data to %d; want 3", hwm, end)
	}
}

// TestRestartedFollowerKeepsCheckpointedHighWatermark: a follower restarted
// with a checkpoint starts from it (capped at its own log end) and then
// takes the leader's.
func TestRestartedFollowerKeepsCheckpointedHighWatermark(t *testing.T) {
	c := newCluster(t, 2, 1)
	for range 3 {
		if _, err := c.nodes[1].Produce(batch("a"), 1, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	c.catchUp(2)
	c.fetch(2, 1<<20)
	if got := c.nodes[2].HighWatermark(); got != 3 {
		t.Fatalf("follower hwm = %d, want 3", got)
	}
	if err := c.mgrs[2].Close(); err != nil {
		t.Fatal(err)
	}
	f := c.open(2)
	c.ctl.applyAll(cloneMeta(c.ctl.meta))
	if got := f.HighWatermark(); got != 3 {
		t.Fatalf("restarted follower hwm = %d, want the checkpointed 3", got)
	}
	if _, err := c.nodes[1].Produce(batch("b"), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	c.catchUp(2)
	c.fetch(2, 1<<20)
	if got := f.HighWatermark(); got != 4 {
		t.Fatalf("follower hwm after fetching = %d, want 4", got)
	}
}
