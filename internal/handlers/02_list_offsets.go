package handlers

// ListOffsets (key 2).
//
// Spool accepts v1 and later (v0 returned lists of segment offsets): v2
// isolation level; v4 current leader epoch in and the offset's leader epoch
// out; v6 flexible; v7 max timestamp (-3, KIP-734); v8 earliest local
// offset (-4, KIP-405), which equals the earliest offset without tiered
// storage.
//
// A timestamp lookup returns the first record whose timestamp is at or
// after the target: the time index finds the batch, then that one batch's
// records are decoded to find the record.
//
// Only the leader answers (followers: NOT_LEADER_OR_FOLLOWER), and "latest"
// is its high watermark: what every in-sync replica has, or for isolation
// level 1 (read_committed) its last stable offset; timestamp lookups find
// only offsets below that.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/record"
)

// Special ListOffsets timestamps.
const (
	listLatest        = -1
	listEarliest      = -2
	listMaxTimestamp  = -3
	listEarliestLocal = -4
)

var errNoSuchTimestamp = errors.New("no record at or after the timestamp")

func handleListOffsets(h *Handlers, _ context.Context, _ *reqContext, req *kmsg.ListOffsetsRequest) *kmsg.ListOffsetsResponse {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	img := h.image()
	for _, rt := range req.Topics {
		ot := kmsg.NewListOffsetsResponseTopic()
		ot.Topic = rt.Topic
		topic := img.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			op := kmsg.NewListOffsetsResponseTopicPartition()
			op.Partition, op.Timestamp, op.Offset, op.LeaderEpoch = rp.Partition, -1, -1, -1
			if topic == nil || rp.Partition < 0 || int(rp.Partition) >= len(topic.Partitions) {
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			p, code := h.localLeader(topic.Name, rp.Partition)
			if code == 0 {
				code = checkLeaderEpoch(rp.CurrentLeaderEpoch, p.LeaderEpoch())
			}
			if code != 0 {
				op.ErrorCode = code
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			offset, ts, epoch, err := h.listOffset(p, rp.Timestamp, req.IsolationLevel == 1)
			switch {
			case errors.Is(err, errNoSuchTimestamp):
				// Kafka answers "no such record" with offset -1, no error.
			case err != nil:
				op.ErrorCode = errorCode(err)
			default:
				op.Offset, op.Timestamp, op.LeaderEpoch = offset, ts, epoch
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}

// listOffset answers one partition. The offsets it may answer are below
// the last fetchable offset, as in Kafka: the high watermark, or for
// committed (isolation level 1, read_committed) the last stable offset.
// "latest" is that offset itself; a timestamp lookup that lands at or past
// it finds nothing.
func (h *Handlers) listOffset(p *partition.Partition, ts int64, committed bool) (offset, timestamp int64, epoch int32, err error) {
	fetchable := p.HighWatermark()
	if committed {
		fetchable = p.LastStableOffset()
	}
	switch ts {
	case listLatest:
		return fetchable, -1, p.LeaderEpoch(), nil
	case listEarliest, listEarliestLocal:
		return p.LogStartOffset(), -1, -1, nil
	case listMaxTimestamp:
		maxTS, batchOffset := p.Log().MaxTimestamp()
		if batchOffset < 0 || batchOffset >= fetchable {
			return -1, -1, -1, errNoSuchTimestamp
		}
		offset, timestamp, epoch, err = h.findRecord(p, batchOffset, func(recTS int64) bool { return recTS == maxTS })
	default:
		if ts < 0 {
			return 0, 0, 0, kerr.InvalidRequest
		}
		batchOffset, _, found, err := p.Log().OffsetForTimestamp(ts)
		if err != nil {
			return 0, 0, 0, err
		}
		if !found || batchOffset >= fetchable {
			return -1, -1, -1, errNoSuchTimestamp
		}
		offset, timestamp, epoch, err = h.findRecord(p, batchOffset, func(recTS int64) bool { return recTS >= ts })
	}
	if err == nil && offset >= fetchable {
		return -1, -1, -1, errNoSuchTimestamp
	}
	return offset, timestamp, epoch, err
}

// findRecord decodes the batch at batchOffset and returns the first record
// that match accepts.
func (h *Handlers) findRecord(p *partition.Partition, batchOffset int64, match func(int64) bool) (int64, int64, int32, error) {
	r, err := p.Read(batchOffset, 1, true)
	if err != nil {
		return 0, 0, 0, err
	}
	if len(r.Data) == 0 {
		return -1, -1, -1, errNoSuchTimestamp
	}
	hdr, err := record.ParseHeader(r.Data)
	if err != nil {
		return 0, 0, 0, err
	}
	if hdr.LogAppendTime() {
		if match(hdr.MaxTimestamp) {
			return hdr.BaseOffset, hdr.MaxTimestamp, hdr.PartitionLeaderEpoch, nil
		}
		return -1, -1, -1, errNoSuchTimestamp
	}
	offset, ts := int64(-1), int64(-1)
	err = h.Decoder.Records(r.Data[:hdr.Size()], func(rec *kmsg.Record) bool {
		recTS := hdr.BaseTimestamp + rec.TimestampDelta64
		if match(recTS) {
			offset, ts = hdr.BaseOffset+int64(rec.OffsetDelta), recTS
			return false
		}
		return true
	})
	if err != nil {
		return 0, 0, 0, err
	}
	if offset < 0 {
		return -1, -1, -1, errNoSuchTimestamp
	}
	return offset, ts, hdr.PartitionLeaderEpoch, nil
}
