package handlers_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Replica requests on the client port carry a replica id that no handshake
// proved: they must be refused, or any client could pose as a follower and
// move the high watermark.
func TestReplicaRequestsNeedAProvenPeer(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("r", 1, nil)
	tb.produce("r", 0, 3, []byte("v"))

	fetch := func(replica int32) kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = replica, 0, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "r"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes = 0, 1<<20
		rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
		req.Topics = []kmsg.FetchRequestTopic{rt}
		resp := tb.send(tb.pinned(req.Key(), 12), req).(*kmsg.FetchResponse)
		return resp.Topics[0].Partitions[0]
	}
	p := fetch(1)
	wantCode(t, "replica fetch on the client port", p.ErrorCode, kerr.ClusterAuthorizationFailed)
	if len(p.RecordBatches) != 0 {
		t.Errorf("refused replica fetch returned %d bytes", len(p.RecordBatches))
	}
	p = fetch(-1)
	wantCode(t, "consumer fetch", p.ErrorCode, errNone)
	if len(p.RecordBatches) == 0 || p.HighWatermark != 3 {
		t.Errorf("consumer fetch: %d bytes, hwm %d; want data and hwm 3", len(p.RecordBatches), p.HighWatermark)
	}

	epochs := func(replica int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = replica
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "r"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.LeaderEpoch = 0
		rt.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{rp}
		req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{rt}
		return tb.send(tb.pinned(req.Key(), 4), req).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
	}
	wantCode(t, "replica OffsetForLeaderEpoch on the client port", epochs(1).ErrorCode, kerr.ClusterAuthorizationFailed)
	if e := epochs(-1); e.ErrorCode != 0 || e.EndOffset != 3 {
		t.Errorf("consumer OffsetForLeaderEpoch: code %d, end %d; want 0, 3", e.ErrorCode, e.EndOffset)
	}
}
