package partition

import (
	"context"
	"slices"
	"time"
)

const (
	// isrUpdateTimeout bounds one ISR proposal; after it a new one may be
	// sent even if the answer never came.
	isrUpdateTimeout = 30 * time.Second
	// isrRetryBackoff spaces proposals after one failed.
	isrRetryBackoff = time.Second
)

// MaybeShrinkISR proposes removing the followers that have not caught up
// with the leader's log end for ReplicaLagTime. It does nothing unless this
// replica leads, and proposes at most one ISR change at a time; the leader
// itself always stays. The shrink takes effect (for the high watermark and
// min.insync.replicas) only once ApplyMetadata shows it committed, so a
// leader cut off from the controller cannot complete acks=all writes
// without its followers. The replication manager calls it periodically.
func (p *Partition) MaybeShrinkISR(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rs := &p.rs
	if rs.role != roleLeader || p.opts.ISR == nil || !p.canProposeLocked() {
		return
	}
	now := p.opts.Now()
	leo := p.log.LogEndOffset()
	isr := make([]int32, 0, len(rs.meta.ISR))
	for _, id := range rs.meta.ISR {
		f := rs.followers[id]
		// Kafka's rule: in sync if it has the whole log, or caught up
		// with it within the lag time.
		if id == p.opts.NodeID || f == nil || f.fetchOffset == leo || now.Sub(f.lastCaughtUp) <= p.opts.ReplicaLagTime {
			isr = append(isr, id)
		}
	}
	if !slices.Contains(isr, p.opts.NodeID) {
		isr = append(isr, p.opts.NodeID)
	}
	if len(isr) >= len(rs.meta.ISR) {
		return
	}
	p.opts.Logger.Info("shrinking ISR", "topic", p.tp.Topic, "partition", p.tp.Partition,
		"from", rs.meta.ISR, "to", isr, "leader_epoch", rs.meta.LeaderEpoch)
	p.proposeLocked(ctx, isr)
}

// maybeExpandLocked proposes adding follower id to the ISR once it has
// everything below the high watermark and has reached the start of the
// current leader epoch (so it has no data of an older epoch that this
// leader's log lacks). Callers hold mu and have just recorded its fetch.
func (p *Partition) maybeExpandLocked(id int32, f *followerState) {
	rs := &p.rs
	if p.opts.ISR == nil || !p.canProposeLocked() || slices.Contains(rs.meta.ISR, id) {
		return
	}
	if f.fetchOffset < p.hwm.Load() || f.fetchOffset < rs.epochStart {
		return
	}
	isr := append(slices.Clone(rs.meta.ISR), id)
	p.opts.Logger.Info("expanding ISR", "topic", p.tp.Topic, "partition", p.tp.Partition,
		"from", rs.meta.ISR, "to", isr, "leader_epoch", rs.meta.LeaderEpoch)
	rs.pendingAdd = []int32{id}
	p.proposeLocked(context.Background(), isr)
}

// canProposeLocked says whether no ISR proposal is in flight (or the one in
// flight is overdue) and the retry backoff has passed.
func (p *Partition) canProposeLocked() bool {
	rs := &p.rs
	now := p.opts.Now()
	if rs.isrInFlight && now.Sub(rs.isrSince) < isrUpdateTimeout {
		return false
	}
	return !now.Before(rs.isrRetryAt)
}

// proposeLocked sends isr to the controller in the background. A committed
// change shows up through ApplyMetadata, which also clears the in-flight
// mark; a failed one (including a proposal the controller found stale,
// whose fix is the metadata about to arrive) is retried after a backoff.
// Callers hold mu.
func (p *Partition) proposeLocked(ctx context.Context, isr []int32) {
	rs := &p.rs
	rs.isrInFlight, rs.isrSince = true, p.opts.Now()
	rs.isrGen++
	gen := rs.isrGen
	ch := ISRChange{TopicID: p.topicID, Partition: p.tp.Partition, Leader: p.opts.NodeID,
		LeaderEpoch: rs.meta.LeaderEpoch, PartitionEpoch: rs.meta.PartitionEpoch, ISR: isr}
	go func() {
		ctx, cancel := context.WithTimeout(ctx, isrUpdateTimeout)
		err := p.opts.ISR.AlterISR(ctx, ch)
		cancel()
		if err == nil {
			return // ApplyMetadata will show it
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if rs.isrGen != gen {
			return // newer metadata already answered
		}
		p.opts.Logger.Warn("ISR change failed", "topic", p.tp.Topic, "partition", p.tp.Partition,
			"isr", ch.ISR, "leader_epoch", ch.LeaderEpoch, "partition_epoch", ch.PartitionEpoch, "err", err)
		rs.isrInFlight, rs.pendingAdd = false, nil
		rs.isrRetryAt = p.opts.Now().Add(isrRetryBackoff)
		p.updateHighWatermarkLocked()
	}()
}
