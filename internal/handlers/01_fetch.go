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
//
// Replica fetches (ReplicaID >= 0, from followers over the cluster port)
// are accepted only from the broker they name. They read up to the log
// end, report the follower's progress to the partition (high watermark,
// ISR) and wait for appends rather than for the high watermark.
//
// Consumers fetching read_committed (isolation level 1) read up to the
// last stable offset and get the aborted transactions overlapping the
// returned batches; read_uncommitted ones read up to the high watermark.
// Both are told the LSO, which equals the high watermark while the
// partition has no ongoing transaction.

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/server"
)

// fetchResponse is a Fetch response whose record bytes live in pooled
// buffers. It is a server.VectoredResponse: the server writes large record
// sets straight from those buffers (one writev with the encoded framing)
// rather than copying them into the encoded response, and releases the
// buffers once the write has completed.
type fetchResponse struct {
	*kmsg.FetchResponse
	bufs []*[]byte
	pool *sync.Pool
	// memory is the fetch memory budget and held what this response
	// keeps of it until Release.
	memory *fetchMemory
	held   int64
}

var _ server.VectoredResponse = (*fetchResponse)(nil)

// VectoredFields offers every partition's record batches, in the order
// kmsg encodes them (topics, then their partitions).
func (r *fetchResponse) VectoredFields(dst []*[]byte) []*[]byte {
	for ti := range r.Topics {
		parts := r.Topics[ti].Partitions
		for pi := range parts {
			dst = append(dst, &parts[pi].RecordBatches)
		}
	}
	return dst
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
	if r.memory != nil {
		r.memory.release(r.held)
		r.held = 0
	}
}

// keep gives back the fetch memory reserved beyond the n bytes read.
func (r *fetchResponse) keep(n int64) {
	if r.memory != nil && r.held > n {
		r.memory.release(r.held - n)
		r.held = n
	}
}

// fetchPart is one partition a fetch reads.
type fetchPart struct {
	p   *partition.Partition
	in  *kmsg.FetchRequestTopicPartition
	out *kmsg.FetchResponseTopicPartition
}

func handleFetch(h *Handlers, ctx context.Context, rc *reqContext, req *kmsg.FetchRequest) *fetchResponse {
	resp := &fetchResponse{FetchResponse: req.ResponseKind().(*kmsg.FetchResponse), pool: &h.fetchBufs}
	if req.SessionID != 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp
	}
	// A replica fetch must come from the broker it names, over the
	// cluster port: anyone else could move the high watermark.
	replica := req.ReplicaID
	denied := replica >= 0 && rc.conn.PeerNode != replica
	// Resolve the partitions once; the response skeleton is reused across
	// long-poll rounds.
	img := h.image()
	var parts []fetchPart
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
			switch {
			case denied:
				op.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				continue
			case topic == nil:
				op.ErrorCode = unknown
				continue
			case rp.Partition < 0 || int(rp.Partition) >= len(topic.Partitions):
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			var p *partition.Partition
			var code int16
			if replica >= 0 {
				p, code = h.replicaFetchTarget(topic.Name, rp, op, req.Version)
			} else {
				p, code = h.localLeader(topic.Name, rp.Partition)
				if code == 0 {
					code = checkLeaderEpoch(rp.CurrentLeaderEpoch, p.LeaderEpoch())
				}
			}
			if code != 0 || p == nil {
				op.ErrorCode = code
				continue
			}
			parts = append(parts, fetchPart{p: p, in: rp, out: op})
		}
	}

	maxBytes, wait := h.fetchLimits(req, replica >= 0)
	deadline := time.Now().Add(wait)
	if replica < 0 && len(parts) > 0 {
		resp.memory = h.fetchMemory
		resp.held = resp.memory.reserve(int64(maxBytes))
		if resp.held == 0 {
			waitOut(ctx, wait)
			return resp
		}
		maxBytes = int(resp.held)
	}
	resp.bufs = make([]*[]byte, len(parts))
	// read_committed consumers stop at the last stable offset (a
	// follower copies everything, whatever it asks).
	committed := replica < 0 && req.IsolationLevel == 1
	var wake chan struct{}
	for {
		total, errored := h.readPartitions(replica, parts, resp.bufs, maxBytes, committed)
		if errored || total >= int(req.MinBytes) || len(parts) == 0 || time.Until(deadline) <= 0 {
			resp.keep(int64(total))
			return resp
		}
		remaining := time.Until(deadline)
		if wake == nil {
			// Register before re-reading so an append between the read
			// and the wait is not missed. Followers wait for appends
			// (they copy above the high watermark), consumers for the
			// high watermark.
			wake = make(chan struct{}, 1)
			for _, fp := range parts {
				if replica >= 0 {
					defer fp.p.AddAppendWaiter(wake)()
				} else {
					defer fp.p.AddWaiter(wake)()
				}
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
			resp.keep(0) // the client is gone: nothing will be written
			return resp
		}
	}
}

// fetchLimits are the response size and the longest wait a fetch gets: what
// it asks, capped by the broker (fetch.max.bytes and fetch.wait.max.ms for
// consumers, replica.fetch.response.max.bytes and replica.fetch.wait.max.ms
// for followers), so no request can make one read the size of a segment
// or park a connection for days. A cap only shortens the answer; the
// client asks again.
func (h *Handlers) fetchLimits(req *kmsg.FetchRequest, replica bool) (int, time.Duration) {
	maxBytes, maxWait := h.Config.FetchMaxBytes, h.Config.FetchWaitMaxMs
	if replica {
		maxBytes, maxWait = h.Config.ReplicaFetchResponseMaxBytes, h.Config.ReplicaFetchWaitMaxMs
	}
	n := req.MaxBytes
	if n <= 0 || n > maxBytes {
		n = maxBytes
	}
	return int(n), capMillis(req.MaxWaitMillis, maxWait)
}

// capMillis is a client's timeout in milliseconds, negative read as 0,
// capped at limit.
func capMillis(asked, limit int32) time.Duration {
	return time.Duration(min(max(asked, 0), limit)) * time.Millisecond
}

// replicaFetchTarget resolves a follower's fetch of one partition: the local
// replica, which must lead in the follower's epoch. When the follower's last
// fetched epoch shows its log diverged (v12+), the answer is the diverging
// epoch alone (nil partition, no error): it truncates before fetching again.
func (h *Handlers) replicaFetchTarget(topic string, rp *kmsg.FetchRequestTopicPartition, op *kmsg.FetchResponseTopicPartition, version int16) (*partition.Partition, int16) {
	p := h.Partitions.Get(topic, rp.Partition)
	if p == nil || !p.IsLeader() {
		return nil, kerr.NotLeaderForPartition.Code
	}
	if code := checkLeaderEpoch(rp.CurrentLeaderEpoch, p.LeaderEpoch()); code != 0 {
		return nil, code
	}
	if version >= 12 {
		if epoch, end, diverged := p.DivergingEpoch(rp.LastFetchedEpoch, rp.FetchOffset); diverged {
			op.DivergingEpoch.Epoch, op.DivergingEpoch.EndOffset = epoch, end
			op.HighWatermark, op.LastStableOffset = p.HighWatermark(), p.HighWatermark()
			op.LogStartOffset = p.LogStartOffset()
			return nil, 0
		}
	}
	return p, 0
}

// readPartitions fills each response partition from its replica and returns
// the bytes read and whether any partition errored. The first partition
// with data always gets at least one whole batch (KIP-74), so a batch larger
// than the limits cannot stall a consumer. Partition i reads into bufs[i],
// taken from the pool on first use and kept across long-poll rounds.
// A replica fetch (replica >= 0) reads through ReadForReplica, which also
// records the follower's progress.
//
// A read_committed fetch (committed) reads up to the last stable offset
// and lists the aborted transactions overlapping what it returns, so the
// consumer can drop their records. Every consumer fetch reports the LSO,
// as Kafka does; with no transactions it equals the high watermark.
func (h *Handlers) readPartitions(replica int32, parts []fetchPart, bufs []*[]byte, maxBytes int, committed bool) (int, bool) {
	total, errored := 0, false
	partMax := maxBytes
	if replica >= 0 {
		partMax = int(h.Config.ReplicaFetchMaxBytes)
	}
	for i, fp := range parts {
		out, in := fp.out, fp.in
		limit := min(int(in.PartitionMaxBytes), maxBytes-total, partMax)
		if limit < 0 {
			limit = 0
		}
		if bufs[i] == nil {
			bufs[i], _ = h.fetchBufs.Get().(*[]byte)
			if bufs[i] == nil {
				bufs[i] = new([]byte)
			}
		}
		var r partition.ReadResult
		var err error
		if replica >= 0 {
			if limit == 0 && total > 0 {
				limit = -1 // record the progress, read nothing
			}
			r, err = fp.p.ReadForReplica(*bufs[i], replica, in.FetchOffset, in.CurrentLeaderEpoch, limit)
		} else if committed {
			r, err = fp.p.ReadCommittedInto(*bufs[i], in.FetchOffset, limit, total == 0)
		} else {
			r, err = fp.p.ReadInto(*bufs[i], in.FetchOffset, limit, total == 0)
		}
		if cap(r.Data) > cap(*bufs[i]) {
			*bufs[i] = r.Data[:0] // keep the larger buffer for reuse
		}
		out.HighWatermark, out.LastStableOffset, out.LogStartOffset = r.HighWatermark, r.HighWatermark, r.LogStartOffset
		if replica < 0 {
			out.LastStableOffset = r.LastStableOffset
		}
		out.AbortedTransactions = nil
		if committed && len(r.Data) > 0 {
			out.AbortedTransactions = abortedIn(fp.p, in.FetchOffset, r.Data)
		}
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

// abortedIn lists the aborted transactions of p overlapping the batches in
// data, read from offset from. Partitions that never aborted a transaction
// answer without looking at data; otherwise the batch headers are walked
// for the last offset (the CRCs were checked when the data was written).
func abortedIn(p *partition.Partition, from int64, data []byte) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	if len(p.AbortedTransactions(from, math.MaxInt64)) == 0 {
		return nil
	}
	last := int64(-1)
	for n := 0; n < len(data); {
		h, err := record.ParseHeader(data[n:])
		if err != nil || n+h.Size() > len(data) {
			break
		}
		last = h.LastOffset()
		n += h.Size()
	}
	if last < from {
		return nil
	}
	var out []kmsg.FetchResponseTopicPartitionAbortedTransaction
	for _, a := range p.AbortedTransactions(from, last) {
		t := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		t.ProducerID, t.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, t)
	}
	return out
}
