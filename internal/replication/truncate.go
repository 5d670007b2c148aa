package replication

import (
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/storage"
)

// truncate asks the leader where each partition's latest epoch ends
// (OffsetForLeaderEpoch v4) and truncates to the point where the two logs
// agree. A replica with no epochs at all has nothing to compare: it
// truncates to its high watermark without asking.
func (f *fetcher) truncate(parts []sent) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.SetVersion(4)
	req.ReplicaID = f.m.cfg.NodeID
	var asked []sent
	topics := make(map[string]int)
	for _, s := range parts {
		epoch := int32(s.offset)
		if epoch < 0 {
			epoch = s.r.LatestEpoch()
		}
		if epoch < 0 {
			f.mu.Lock()
			if st := f.current(s); st != nil && f.truncateLocked(s.tp, st, st.r.HighWatermark(), "no leader epochs in the local log") {
				f.ready(st)
			}
			f.mu.Unlock()
			continue
		}
		s.offset = int64(epoch)
		asked = append(asked, s)
		ti, ok := topics[s.tp.Topic]
		if !ok {
			ti = len(req.Topics)
			topics[s.tp.Topic] = ti
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = s.tp.Topic
			req.Topics = append(req.Topics, t)
		}
		p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		p.Partition, p.CurrentLeaderEpoch, p.LeaderEpoch = s.tp.Partition, s.epoch, epoch
		req.Topics[ti].Partitions = append(req.Topics[ti].Partitions, p)
	}
	if len(asked) == 0 {
		return nil
	}
	ctx, cancel := f.requestCtx()
	defer cancel()
	kresp, err := f.conn.Request(ctx, req)
	if err != nil {
		return fmt.Errorf("OffsetForLeaderEpoch: %w", err)
	}
	resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
	answers := make(map[storage.TopicPartition]*kmsg.OffsetForLeaderEpochResponseTopicPartition)
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			answers[storage.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = p
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range asked {
		st := f.current(s)
		if st == nil || !st.truncating {
			continue
		}
		a := answers[s.tp]
		if a == nil {
			f.log.Warn("OffsetForLeaderEpoch response lacks a partition", "partition", s.tp)
			f.delay(st)
			continue
		}
		if a.ErrorCode != 0 {
			f.partitionError(s.tp, st, a.ErrorCode, "OffsetForLeaderEpoch")
			continue
		}
		f.applyEpochEnd(s.tp, st, a.LeaderEpoch, a.EndOffset)
	}
	return nil
}

// applyEpochEnd truncates after the leader said its epoch leaderEpoch ends
// at leaderEnd (an OffsetForLeaderEpoch answer or a fetch's DivergingEpoch),
// following KIP-279 as Kafka's follower does:
//   - unknown end offset: the leader cannot tell; truncate to the high
//     watermark, which is known to be committed;
//   - the local log does not know leaderEpoch: truncate to where the local
//     epoch below it ends and ask again about that epoch;
//   - otherwise truncate to min(leader's end, local end of that epoch).
//
// Callers hold mu.
func (f *fetcher) applyEpochEnd(tp storage.TopicPartition, st *partState, leaderEpoch int32, leaderEnd int64) {
	r := st.r
	leo := r.LogEndOffset()
	switch {
	case leaderEnd < 0:
		if f.truncateLocked(tp, st, r.HighWatermark(), "leader does not know the epoch") {
			f.ready(st)
		}
		return
	case leaderEpoch < 0:
		if f.truncateLocked(tp, st, min(leaderEnd, leo), "leader answered without an epoch") {
			f.ready(st)
		}
		return
	}
	localEpoch, localEnd := r.EndOffsetForEpoch(leaderEpoch)
	switch {
	case localEpoch < 0 || localEnd < 0:
		// Nothing here as old as the leader's epoch: keep what the
		// leader has.
		if f.truncateLocked(tp, st, min(leaderEnd, leo), "no local epoch at or below the leader's") {
			f.ready(st)
		}
	case localEpoch != leaderEpoch:
		// The leader's epoch is unknown here: everything after the
		// largest local epoch below it is suspect. Ask about that epoch
		// next; the epoch asked strictly decreases, so this ends.
		if f.truncateLocked(tp, st, min(localEnd, leo), "leader epoch unknown locally") {
			st.truncating, st.askEpoch = true, localEpoch
		}
	default:
		if f.truncateLocked(tp, st, min(leaderEnd, localEnd, leo), "diverged from leader") {
			f.ready(st)
		}
	}
}

// ready marks a partition as agreeing with its leader. Callers hold mu.
func (f *fetcher) ready(st *partState) {
	st.truncating, st.askEpoch = false, -1
}

// truncateLocked truncates the replica's log to offset if that removes
// anything, and reports success. A failure holds the partition back, to
// start truncating again from scratch. Callers hold mu.
func (f *fetcher) truncateLocked(tp storage.TopicPartition, st *partState, offset int64, why string) bool {
	st.skipTo = 0 // agreeing anew: fetch from the (new) log end
	leo := st.r.LogEndOffset()
	if offset >= leo {
		return true
	}
	offset = max(offset, 0)
	f.log.Warn("truncating follower log", "partition", tp, "reason", why, "from", leo, "to", offset,
		"high_watermark", st.r.HighWatermark(), "leader_epoch", st.epoch)
	if err := st.r.TruncateTo(offset); err != nil {
		f.log.Error("truncating follower log failed", "partition", tp, "to", offset, "err", err)
		st.truncating, st.askEpoch = true, -1
		f.delay(st)
		return false
	}
	return true
}

// partitionError handles a partition-level error from the leader. Every
// such error holds the partition back for ErrorBackoff: wrong leader or
// epoch wait for new metadata (Reconcile re-points the partition and
// clears the delay), the others are transient or need an operator.
// Callers hold mu.
func (f *fetcher) partitionError(tp storage.TopicPartition, st *partState, code int16, what string) {
	err := kerr.ErrorForCode(code)
	level := slog.LevelDebug
	switch err {
	case kerr.NotLeaderForPartition, kerr.FencedLeaderEpoch, kerr.UnknownLeaderEpoch,
		kerr.LeaderNotAvailable, kerr.UnknownTopicOrPartition, kerr.UnknownTopicID:
		// Metadata is catching up on one side.
	default:
		level = slog.LevelWarn
	}
	f.log.Log(f.ctx, level, what+" error from leader", "partition", tp, "leader_epoch", st.epoch, "err", err)
	f.delay(st)
}
