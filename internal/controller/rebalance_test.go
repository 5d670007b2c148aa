package controller

import (
	"testing"
	"time"
)

// TestAutoLeaderRebalance moves leadership off the preferred replica (a
// fence), brings that replica back into the ISR, and expects the leader's
// periodic rebalance to make it lead again.
func TestAutoLeaderRebalance(t *testing.T) {
	cfg := singleConfig(t.TempDir())
	cfg.AutoLeaderRebalance = true
	cfg.LeaderImbalanceCheckInterval = 20 * time.Millisecond
	c := start(t, cfg)
	registerLive(t, c, brokerReg(1))
	registerLive(t, c, brokerReg(2))
	ctx := testCtx(t)
	if err := createOne(t, c, TopicSpec{Name: "rb", NumPartitions: -1, ReplicationFactor: -1,
		Assignments: map[int32][]int32{0: {1, 2}}}); err != nil {
		t.Fatal(err)
	}
	submit := func(cmd command) {
		t.Helper()
		res, err := c.submit(ctx, cmd, false)
		if err == nil {
			err = res.Err
		}
		if err != nil {
			t.Fatalf("%s: %v", cmd.kind(), err)
		}
	}
	epoch := c.Image().Brokers[1].Epoch
	submit(&fenceBrokerCmd{ID: 1, Epoch: epoch})
	submit(&unfenceBrokerCmd{ID: 1, Epoch: epoch})
	tp := c.Image().Topic("rb")
	p := tp.Partitions[0]
	if p.Leader != 2 || len(p.ISR) != 1 {
		t.Fatalf("after fence and unfence of 1: %+v", p)
	}
	if _, err := c.AlterPartition(ctx, AlterPartitionRequest{TopicID: tp.ID, LeaderID: 2, LeaderEpoch: p.LeaderEpoch,
		PartitionEpoch: p.PartitionEpoch, ISR: ids(2, 1)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, []*Controller{c}, "the preferred replica to lead again", func() bool {
		return c.Image().Topic("rb").Partitions[0].Leader == 1
	})
}
