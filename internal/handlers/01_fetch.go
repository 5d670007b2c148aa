package handlers

// Fetch (key 1).
//
// Spool accepts v4 and later: v4 added the isolation level, last stable
// offset and aborted transactions (and implies record batches); v5 log
// start offset; v7 incremental fetch sessions (KIP-227); v9 current leader
// epoch for fencing; v11 rack-aware replica selection; v12 flexible,
// diverging epochs; v13 topic ids instead of names.
//
// Fetch sessions are refused cleanly: every response carries session id 0,
// which tells the client no session was created, so it keeps sending full
// fetch requests. Long polling: if less than min_bytes is available the
// request waits, up to max_wait_ms, for any of its partitions' high
// watermarks to move.

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/partition"
)

// fetchResponse is a Fetch response whose record bytes live in pooled
// buffers; the server releases them once the response is encoded.
type fetchResponse struct {
	*kmsg.FetchResponse
	bufs []*[]byte
	pool *sync.Pool
}

// Release returns the read buffers to the pool.
func (r *fetchResponse) Release() {
	for _, b := range r.bufs {
		if b != nil {
			*b = (*b)[:0]
			r.pool.Put(b)
		}
	}
	r.bufs = nil
}

func handleFetch(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.FetchRequest) *fetchResponse {
	resp := &fetchResponse{FetchResponse: req.ResponseKind().(*kmsg.FetchResponse), pool: &h.fetchBufs}
	if req.SessionID != 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp
	}
	// Resolve the partitions once; the response skeleton is reused across
	// long-poll rounds.
	img := h.image()
	var parts []*partition.Partition
	var outs []*kmsg.FetchResponseTopicPartition
	var ins []*kmsg.FetchRequestTopicPartition
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		ot := &resp.Topics[ti]
		*ot = kmsg.NewFetchResponseTopic()
		ot.Topic, ot.TopicID = rt.Topic, rt.TopicID
		var topic *controller.Topic
		unknown := kerr.UnknownTopicOrPartition.Code
		if req.Version >= 13 {
			topic, unknown = img.TopicByID(rt.TopicID), kerr.UnknownTopicID.Code
		} else {
			topic = img.Topic(rt.Topic)
		}
		ot.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			op := &ot.Partitions[pi]
			*op = kmsg.NewFetchResponseTopicPartition()
			op.Partition = rp.Partition
			op.HighWatermark, op.LastStableOffset, op.LogStartOffset = -1, -1, -1
			op.RecordBatches = []byte{}
			if topic == nil {
				op.ErrorCode = unknown
				continue
			}
			if rp.Partition < 0 || int(rp.Partition) >= len(topic.Partitions) {
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			p, code := h.localLeader(topic.Name, rp.Partition)
			if code == 0 {
				code = checkLeaderEpoch(rp.CurrentLeaderEpoch, p.LeaderEpoch())
			}
			if code != 0 {
				op.ErrorCode = code
				continue
			}
			parts, outs, ins = append(parts, p), append(outs, op), append(ins, rp)
		}
	}

	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = 52428800
	}
	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	resp.bufs = make([]*[]byte, len(parts))
	var wake chan struct{}
	for {
		total, errored := h.readPartitions(parts, outs, ins, resp.bufs, maxBytes)
		if errored || total >= int(req.MinBytes) || len(parts) == 0 {
			return resp
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return resp
		}
		if wake == nil {
			// Register before re-reading so an append between the read
			// and the wait is not missed.
			wake = make(chan struct{}, 1)
			for _, p := range parts {
				defer p.AddWaiter(wake)()
			}
			continue
		}
		timer := time.NewTimer(remaining)
		select {
		case <-wake:
			timer.Stop()
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return resp
		}
	}
}

// readPartitions fills each response partition from its replica and returns
// the bytes read and whether any partition errored. The first partition
// with data always gets at least one whole batch (KIP-74), so a batch larger
// than the limits cannot stall a consumer. Partition i reads into bufs[i],
// taken from the pool on first use and kept across long-poll rounds.
func (h *Handlers) readPartitions(parts []*partition.Partition, outs []*kmsg.FetchResponseTopicPartition, ins []*kmsg.FetchRequestTopicPartition, bufs []*[]byte, maxBytes int) (int, bool) {
	total, errored := 0, false
	for i, p := range parts {
		out, in := outs[i], ins[i]
		limit := min(int(in.PartitionMaxBytes), maxBytes-total)
		if limit < 0 {
			limit = 0
		}
		if bufs[i] == nil {
			bufs[i], _ = h.fetchBufs.Get().(*[]byte)
			if bufs[i] == nil {
				bufs[i] = new([]byte)
			}
		}
		r, err := p.ReadInto(*bufs[i], in.FetchOffset, limit, total == 0)
		if cap(r.Data) > cap(*bufs[i]) {
			*bufs[i] = r.Data[:0] // keep the larger buffer for reuse
		}
		out.HighWatermark, out.LastStableOffset, out.LogStartOffset = r.HighWatermark, r.HighWatermark, r.LogStartOffset
		out.ErrorCode = errorCode(err)
		// Never null: librdkafka rejects a null record set.
		out.RecordBatches = r.Data
		if out.RecordBatches == nil {
			out.RecordBatches = []byte{}
		}
		if err != nil {
			errored = true
		}
		total += len(r.Data)
	}
	return total, errored
}

// checkLeaderEpoch implements KIP-320 fencing: a client that knows a newer
// epoch than ours is ahead of our metadata (UNKNOWN_LEADER_EPOCH, retry);
// one with an older epoch must refresh (FENCED_LEADER_EPOCH). -1 skips.
func checkLeaderEpoch(clientEpoch, ours int32) int16 {
	switch {
	case clientEpoch < 0 || clientEpoch == ours:
		return 0
	case clientEpoch > ours:
		return kerr.UnknownLeaderEpoch.Code
	default:
		return kerr.FencedLeaderEpoch.Code
	}
}
