package handlers

// Produce (key 0).
//
// Spool accepts v3 and later: v3 introduced record batches (magic v2) and
// the transactional id; v5 returns the log start offset; v8 per-record
// errors and an error message; v9 flexible; v10-v11 leader hints for
// KIP-951; v12 only allows the client to skip a metadata refresh.
//
// acks=0 gets no response; if any partition failed, the connection is
// closed so the producer refreshes its metadata, as Kafka does. acks=-1
// waits, up to the request timeout, until every in-sync replica has the
// data (see partition.Produce for the errors that can end the wait).
//
// With a transactional id, only partitions the transaction coordinator has
// in the producer's ongoing transaction are written, with
// ProduceTransactional (see checkTransactional in produce_txn.go).

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/partition"
)

// adminClientID may write to internal topics, as in Kafka (for repairs).
const adminClientID = "__admin_client"

func handleProduce(h *Handlers, ctx context.Context, rc *reqContext, req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	acks := req.Acks
	img := h.image()

	var jobs []*produceJob
	for _, rt := range req.Topics {
		t := kmsg.NewProduceResponseTopic()
		t.Topic = rt.Topic
		t.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		resp.Topics = append(resp.Topics, t)
	}
	failed := false
	for ti, rt := range req.Topics {
		topic := img.Topic(rt.Topic)
		for pi, rp := range rt.Partitions {
			out := &resp.Topics[ti].Partitions[pi]
			*out = kmsg.NewProduceResponseTopicPartition()
			out.Partition, out.BaseOffset, out.LogAppendTime, out.LogStartOffset = rp.Partition, -1, -1, -1
			var code int16
			switch {
			case acks != 0 && acks != 1 && acks != -1:
				code = kerr.InvalidRequiredAcks.Code
			case topic == nil || rp.Partition < 0 || int(rp.Partition) >= len(topic.Partitions):
				code = kerr.UnknownTopicOrPartition.Code
			case topic.Internal && rc.hdr.ClientID != adminClientID:
				// Coordinators own internal topics; a client's records
				// there would corrupt their state on replay.
				code = kerr.InvalidTopicException.Code
			}
			if code != 0 {
				out.ErrorCode, failed = code, true
				continue
			}
			p, code := h.localLeader(topic.Name, rp.Partition)
			if code != 0 {
				out.ErrorCode, failed = code, true
				continue
			}
			jobs = append(jobs, &produceJob{p: p, data: rp.Records, out: out})
		}
	}
	if req.TransactionID != nil && len(jobs) > 0 {
		var release func()
		var txnFailed bool
		jobs, release, txnFailed = h.checkTransactional(*req.TransactionID, req.Version, jobs)
		failed = failed || txnFailed
		if release != nil {
			defer release()
		}
		for _, j := range jobs {
			j.transactional = true
		}
	}

	timeout := capMillis(req.TimeoutMillis, h.Config.ProduceTimeoutMaxMs)
	run := func(j *produceJob) {
		produce := j.p.Produce
		if j.transactional {
			produce = j.p.ProduceTransactional
		}
		res, err := produce(j.data, acks, timeout)
		h.answerProduce(j.p, j.out, req.Version, res, err)
	}
	// Partitions are written in parallel so their fsyncs overlap. A panic
	// in one of those goroutines (a decoder bug, say) must not kill the
	// process: it becomes that partition's error.
	if len(jobs) == 1 {
		run(jobs[0])
	} else {
		var wg sync.WaitGroup
		for _, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				defer func() {
					if err != nil {
						h.answerProduce(j.p, j.out, req.Version, partition.ProduceResult{}, err)
					}
				}()
				defer rc.conn.Recover("Produce", &err)
				run(j)
			}()
		}
		wg.Wait()
	}

	if acks == 0 {
		for _, j := range jobs {
			failed = failed || j.out.ErrorCode != 0
		}
		if failed {
			rc.conn.Conn.Close()
		}
		return nil
	}
	if req.Version >= 10 {
		addLeaderHints(h.image(), resp)
	}
	return resp
}

// answerProduce fills one partition's answer from its Produce result.
func (h *Handlers) answerProduce(p *partition.Partition, out *kmsg.ProduceResponseTopicPartition, version int16, res partition.ProduceResult, err error) {
	if err != nil {
		out.ErrorCode = errorCode(err)
		if out.ErrorCode == kerr.UnknownServerError.Code {
			h.Logger.Error("produce failed", "topic", p.TopicPartition().Topic, "partition", p.TopicPartition().Partition, "err", err)
		}
		if version >= 8 {
			out.ErrorMessage = errorMessage(err)
		}
		return
	}
	out.BaseOffset, out.LogAppendTime, out.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
}

// addLeaderHints fills, for every partition answered NOT_LEADER_OR_FOLLOWER,
// the leader this broker's metadata knows and that broker's endpoint, so a
// v10+ client can retry there without a metadata round trip (KIP-951).
func addLeaderHints(img *controller.Image, resp *kmsg.ProduceResponse) {
	seen := make(map[int32]bool)
	for ti := range resp.Topics {
		rt := &resp.Topics[ti]
		topic := img.Topic(rt.Topic)
		for pi := range rt.Partitions {
			out := &rt.Partitions[pi]
			if out.ErrorCode != kerr.NotLeaderForPartition.Code || topic == nil ||
				out.Partition < 0 || int(out.Partition) >= len(topic.Partitions) {
				continue
			}
			meta := topic.Partitions[out.Partition]
			b, ok := img.Brokers[meta.Leader]
			if meta.Leader < 0 || !ok {
				continue
			}
			out.CurrentLeader.LeaderID, out.CurrentLeader.LeaderEpoch = meta.Leader, meta.LeaderEpoch
			if !seen[b.ID] {
				seen[b.ID] = true
				eb := kmsg.NewProduceResponseBroker()
				eb.NodeID, eb.Host, eb.Port, eb.Rack = b.ID, b.Host, b.Port, b.Rack
				resp.Brokers = append(resp.Brokers, eb)
			}
		}
	}
}

// localLeader returns this broker's replica of a partition it leads, or the
// error code a client should see (NOT_LEADER_OR_FOLLOWER makes it refresh
// metadata and retry).
func (h *Handlers) localLeader(topic string, index int32) (*partition.Partition, int16) {
	p := h.Partitions.Get(topic, index)
	if p == nil && h.SyncReplicas != nil {
		// The image may be ahead of the reconciler (a topic just created).
		h.SyncReplicas()
		p = h.Partitions.Get(topic, index)
	}
	if p == nil {
		return nil, kerr.NotLeaderForPartition.Code
	}
	t := h.image().Topic(topic)
	if t == nil || int(index) >= len(t.Partitions) {
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	// Both must agree: the image (this broker's metadata) and the replica
	// (which may not have applied that image yet).
	if t.Partitions[index].Leader != h.NodeID || !p.IsLeader() {
		return nil, kerr.NotLeaderForPartition.Code
	}
	return p, 0
}
