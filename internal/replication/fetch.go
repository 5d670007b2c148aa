package replication

import (
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/storage"
)

// partKey names a partition in a v13 fetch, where topics go by id.
type partKey struct {
	topicID   [16]byte
	partition int32
}

// fetch sends one Fetch v13 for parts and applies the answer: append what
// arrived, flush it, then move the high watermark. The flush completes
// before this returns, so the next fetch's offsets (the log ends) only
// report durable data to the leader.
func (f *fetcher) fetch(parts []sent) error {
	cfg := &f.m.cfg
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(13)
	req.ReplicaID = cfg.NodeID
	req.MaxWaitMillis = int32(cfg.FetchWait.Milliseconds())
	req.MinBytes = 1
	req.MaxBytes = cfg.FetchMaxBytes
	req.SessionID, req.SessionEpoch = 0, -1 // no fetch session: full requests
	topics := make(map[[16]byte]int)
	for _, s := range parts {
		ti, ok := topics[s.topicID]
		if !ok {
			ti = len(req.Topics)
			topics[s.topicID] = ti
			t := kmsg.NewFetchRequestTopic()
			t.TopicID = s.topicID
			req.Topics = append(req.Topics, t)
		}
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition = s.tp.Partition
		p.CurrentLeaderEpoch = s.epoch
		p.FetchOffset = s.offset
		p.LastFetchedEpoch = s.r.LatestEpoch()
		p.LogStartOffset = s.r.LogStartOffset()
		p.PartitionMaxBytes = cfg.PartitionMaxBytes
		req.Topics[ti].Partitions = append(req.Topics[ti].Partitions, p)
	}
	ctx, cancel := f.requestCtx()
	defer cancel()
	kresp, err := f.conn.Request(ctx, req)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	resp := kresp.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		// A request-level error (e.g. a fetch session problem) applies to
		// every partition; hold them back rather than hammer the leader.
		f.mu.Lock()
		for _, s := range parts {
			if st := f.current(s); st != nil {
				f.partitionError(s.tp, st, resp.ErrorCode, "fetch")
			}
		}
		f.mu.Unlock()
		return nil
	}
	answers := make(map[partKey]*kmsg.FetchResponseTopicPartition)
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		for pi := range t.Partitions {
			answers[partKey{t.TopicID, t.Partitions[pi].Partition}] = &t.Partitions[pi]
		}
	}
	outOfRange := f.applyFetch(parts, answers)
	if len(outOfRange) > 0 {
		return f.handleOutOfRange(outOfRange)
	}
	return nil
}

// appended is a partition that got data in this round.
type appended struct {
	s   sent
	st  *partState
	hwm int64
	err error
}

// oorPart is a partition whose fetch offset the leader does not have.
type oorPart struct {
	s           sent
	leaderStart int64 // -1: unknown, ask with ListOffsets
}

// applyFetch applies a fetch response under mu and returns the
// partitions that got OFFSET_OUT_OF_RANGE.
func (f *fetcher) applyFetch(parts []sent, answers map[partKey]*kmsg.FetchResponseTopicPartition) []oorPart {
	f.mu.Lock()
	defer f.mu.Unlock()
	var got []appended
	var oor []oorPart
	for _, s := range parts {
		st := f.current(s)
		if st == nil || st.truncating {
			continue
		}
		a := answers[partKey{s.topicID, s.tp.Partition}]
		if a == nil {
			continue // the leader left it out; fetch again next round
		}
		switch a.ErrorCode {
		case 0:
		case kerr.OffsetOutOfRange.Code:
			oor = append(oor, oorPart{s: s, leaderStart: a.LogStartOffset})
			continue
		default:
			f.partitionError(s.tp, st, a.ErrorCode, "fetch")
			continue
		}
		if d := a.DivergingEpoch; d.Epoch >= 0 && d.EndOffset >= 0 {
			f.applyEpochEnd(s.tp, st, d.Epoch, d.EndOffset)
			continue
		}
		if st.fetchOffset() != s.offset {
			continue // the log moved since the request: its data no longer fits
		}
		if len(a.RecordBatches) > 0 {
			if _, err := st.r.AppendAsFollower(a.RecordBatches); err != nil {
				f.log.Error("appending fetched data failed", "partition", s.tp, "offset", s.offset, "err", err)
				f.delay(st)
				continue
			}
		}
		got = append(got, appended{s: s, st: st, hwm: a.HighWatermark})
	}
	f.flushAll(got)
	for _, g := range got {
		if g.err != nil {
			f.log.Error("flushing follower log failed", "partition", g.s.tp, "err", g.err)
			f.delay(g.st)
			continue
		}
		// After the flush: a follower's high watermark never covers data
		// it could still lose, should it become leader.
		g.st.r.UpdateFollowerHighWatermark(g.hwm)
	}
	return oor
}

// flushAll flushes the partitions that got data, concurrently, so their
// flushes join one round of the storage's broker-wide group commit.
// Callers hold mu.
func (f *fetcher) flushAll(got []appended) {
	var wg sync.WaitGroup
	for i := range got {
		if got[i].st.fetchOffset() == got[i].s.offset {
			continue // nothing appended: nothing to flush
		}
		if len(got) == 1 {
			got[i].err = got[i].st.r.FlushLocal()
			continue
		}
		wg.Go(func() { got[i].err = got[i].st.r.FlushLocal() })
	}
	wg.Wait()
}

// handleOutOfRange deals with fetch offsets the leader does not have. One
// below the leader's log start means the leader deleted what this
// replica needs next: the local log restarts empty at the leader's log
// start. One above the leader's log end means this replica has data the
// leader does not: it truncates again (OffsetForLeaderEpoch).
func (f *fetcher) handleOutOfRange(parts []oorPart) error {
	var ask []int
	for i, p := range parts {
		if p.leaderStart < 0 {
			ask = append(ask, i)
		}
	}
	if len(ask) > 0 {
		starts, err := f.listEarliest(parts, ask)
		if err != nil {
			return err
		}
		for _, i := range ask {
			parts[i].leaderStart = starts[parts[i].s.tp]
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range parts {
		st := f.current(p.s)
		if st == nil || st.truncating || st.fetchOffset() != p.s.offset {
			continue
		}
		switch {
		case p.leaderStart < 0:
			f.log.Warn("fetch offset out of range and the leader's log start is unknown",
				"partition", p.s.tp, "offset", p.s.offset)
			f.delay(st)
		case p.s.offset < p.leaderStart:
			f.log.Warn("follower is behind the leader's log start; restarting its log there",
				"partition", p.s.tp, "log_end_offset", p.s.offset, "leader_log_start_offset", p.leaderStart)
			err := st.r.TruncateFullyAndStartAt(p.leaderStart)
			if errors.Is(err, ErrCannotRestartLog) {
				// Empty the log and fetch from the leader's log start: the
				// first batch lands after a gap, as on a compacted log.
				if err = st.r.TruncateTo(st.r.LogStartOffset()); err == nil {
					st.skipTo = p.leaderStart
				}
			}
			if err != nil {
				f.log.Error("restarting follower log failed", "partition", p.s.tp, "offset", p.leaderStart, "err", err)
				f.delay(st)
			}
		default:
			f.log.Warn("fetch offset beyond the leader's log end; truncating again",
				"partition", p.s.tp, "offset", p.s.offset, "leader_log_start_offset", p.leaderStart)
			st.truncating, st.askEpoch = true, -1
			f.delay(st)
		}
	}
	return nil
}

// listEarliest asks the leader for the log start offsets of parts[ask]
// (ListOffsets, timestamp -2). Unknown answers are -1.
func (f *fetcher) listEarliest(parts []oorPart, ask []int) (map[storage.TopicPartition]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(4)
	req.ReplicaID = -1 // earliest does not depend on who asks
	topics := make(map[string]int)
	for _, i := range ask {
		s := parts[i].s
		ti, ok := topics[s.tp.Topic]
		if !ok {
			ti = len(req.Topics)
			topics[s.tp.Topic] = ti
			t := kmsg.NewListOffsetsRequestTopic()
			t.Topic = s.tp.Topic
			req.Topics = append(req.Topics, t)
		}
		p := kmsg.NewListOffsetsRequestTopicPartition()
		p.Partition, p.CurrentLeaderEpoch, p.Timestamp = s.tp.Partition, s.epoch, -2
		req.Topics[ti].Partitions = append(req.Topics[ti].Partitions, p)
	}
	ctx, cancel := f.requestCtx()
	defer cancel()
	kresp, err := f.conn.Request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("ListOffsets: %w", err)
	}
	out := make(map[storage.TopicPartition]int64)
	for _, t := range kresp.(*kmsg.ListOffsetsResponse).Topics {
		for _, p := range t.Partitions {
			tp := storage.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			if p.ErrorCode != 0 {
				out[tp] = -1
				continue
			}
			out[tp] = p.Offset
		}
	}
	for _, i := range ask {
		if _, ok := out[parts[i].s.tp]; !ok {
			out[parts[i].s.tp] = -1
		}
	}
	return out, nil
}
