package controller

import (
	"context"
	"time"
)

// runRebalance is the automatic preferred-leader rebalance
// (auto.leader.rebalance.enable): every LeaderImbalanceCheckInterval the
// ready Raft leader runs a preferred election for every partition whose
// preferred replica could lead but does not, typically because it was
// fenced or restarted and has since rejoined the ISR. Without it leadership
// piles up on the brokers that stayed up. It runs until Close and does
// nothing unless Config.AutoLeaderRebalance is set. The caller does
// c.wg.Add(1) before starting it.
func (c *Controller) runRebalance() {
	defer c.wg.Done()
	if !c.cfg.AutoLeaderRebalance {
		return
	}
	t := time.NewTicker(c.cfg.LeaderImbalanceCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-c.stop:
			return
		}
		if _, ok := c.leaderReady(); !ok {
			continue
		}
		c.rebalanceLeaders()
	}
}

// rebalanceLeaders runs one preferred election over all imbalanced
// partitions and logs what moved.
func (c *Controller) rebalanceLeaders() {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ApplyTimeout)
	defer cancel()
	moved := 0
	for ref, err := range c.ElectLeaders(ctx, ElectPreferred, nil) {
		if err != nil {
			c.log.Warn("preferred leader rebalance failed", "topic", ref.Topic, "partition", ref.Partition, "err", err)
			continue
		}
		moved++
	}
	if moved > 0 {
		c.log.Info("moved partition leadership back to preferred replicas", "partitions", moved)
	}
}
