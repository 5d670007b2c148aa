package handlers_test

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/config"
)

func TestDeleteRecords(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("t", 2, nil)
	tb.produce("t", 0, 10, []byte("v"))
	tb.produce("t", 1, 3, []byte("v"))

	var offs kadm.Offsets
	offs.AddOffset("t", 0, 4, -1)
	offs.AddOffset("t", 1, -1, -1) // -1: up to the high watermark
	resps, err := tb.adm.DeleteRecords(ctx(t), offs)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]int64{0: 4, 1: 3} {
		r, ok := resps.Lookup("t", p)
		if !ok || r.Err != nil || r.LowWatermark != want {
			t.Errorf("partition %d: %+v, want low watermark %d", p, r, want)
		}
	}
	starts, err := tb.adm.ListStartOffsets(ctx(t), "t")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("t", 0); o.Offset != 4 {
		t.Errorf("log start offset %d after deleting before 4", o.Offset)
	}

	// A consumer starting at the beginning now starts at offset 4.
	cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"t": {0: kgo.NewOffset().AtStart()}}))
	fetches := cl.PollFetches(ctx(t))
	if err := fetches.Err(); err != nil {
		t.Fatal(err)
	}
	if recs := fetches.Records(); len(recs) == 0 || recs[0].Offset != 4 {
		t.Errorf("first consumed record: %v, want offset 4", recs)
	}

	t.Run("errors", func(t *testing.T) {
		req := kmsg.NewPtrDeleteRecordsRequest()
		for _, tc := range []struct {
			topic     string
			partition int32
			offset    int64
		}{{"t", 0, 11}, {"t", 0, 2}, {"t", 0, -2}, {"t", 5, 0}, {"nope", 0, 0}} {
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = tc.topic
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = tc.partition, tc.offset
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		got := tb.send(nil, req).(*kmsg.DeleteRecordsResponse).Topics
		want := []*kerr.Error{kerr.OffsetOutOfRange, errNone, kerr.OffsetOutOfRange, kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition}
		for i, w := range want {
			wantCode(t, got[i].Topic, got[i].Partitions[0].ErrorCode, w)
		}
		// Deleting below the current start is a no-op, not an error:
		// the low watermark stays where it was.
		if low := got[1].Partitions[0].LowWatermark; low != 4 {
			t.Errorf("delete before 2 after delete before 4: low watermark %d, want 4", low)
		}
		if low := got[0].Partitions[0].LowWatermark; low != -1 {
			t.Errorf("failed delete: low watermark %d, want -1", low)
		}
	})
}

func TestOffsetForLeaderEpoch(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("t", 1, nil)
	query := func(version int16, epoch, current int32, topic string) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.LeaderEpoch, rp.CurrentLeaderEpoch = epoch, current
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return tb.send(tb.pinned(req.Key(), version), req).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
	}
	want := func(what string, got kmsg.OffsetForLeaderEpochResponseTopicPartition, epoch int32, end int64) {
		t.Helper()
		if got.ErrorCode != 0 || got.LeaderEpoch != epoch || got.EndOffset != end {
			t.Errorf("%s: error %v epoch %d end %d, want epoch %d end %d", what, kerr.ErrorForCode(got.ErrorCode), got.LeaderEpoch, got.EndOffset, epoch, end)
		}
	}

	// Before any data the current epoch (0) ends at the log end.
	want("empty, current epoch", query(4, 0, -1, "t"), 0, 0)
	want("empty, future epoch", query(4, 1, -1, "t"), -1, -1)

	tb.produce("t", 0, 5, []byte("v"))
	want("current epoch", query(4, 0, -1, "t"), 0, 5)
	want("future epoch", query(4, 3, -1, "t"), -1, -1)
	want("undefined epoch", query(4, -1, -1, "t"), -1, -1)
	want("current epoch matches (v2)", query(2, 0, 0, "t"), 0, 5)

	r, err := tb.adm.OffsetForLeaderEpoch(ctx(t), kadm.OffsetForLeaderEpochRequest{"t": {0: 0}})
	if err != nil {
		t.Fatal(err)
	}
	if got := r["t"][0]; got.Err != nil || got.EndOffset != 5 || got.LeaderEpoch != 0 {
		t.Errorf("kadm: %+v, want epoch 0 end 5", got)
	}

	// A client that knows a newer epoch than the broker must wait.
	wantCode(t, "client ahead", query(4, 0, 7, "t").ErrorCode, kerr.UnknownLeaderEpoch)
	// v0/v1 have no current epoch: nothing to fence on.
	want("v1 ignores current epoch", query(1, 0, 7, "t"), 0, 5)
	// v0 carries no epoch in the answer.
	if got := query(0, 0, -1, "t"); got.ErrorCode != 0 || got.EndOffset != 5 {
		t.Errorf("v0: %+v, want end offset 5", got)
	}
	wantCode(t, "unknown topic", query(4, 0, -1, "nope").ErrorCode, kerr.UnknownTopicOrPartition)
}

func TestDescribeLogDirs(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("t", 2, nil)
	tb.createTopic("u", 1, nil)
	tb.produce("t", 0, 5, []byte("0123456789"))

	all, err := tb.adm.DescribeAllLogDirs(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs := all[nodeID]
	if len(dirs) != 1 {
		t.Fatalf("%d log dirs, want 1: %+v", len(dirs), dirs)
	}
	abs, _ := filepath.Abs(tb.cfg.DataDir)
	dir, ok := dirs[abs]
	if !ok || dir.Err != nil {
		t.Fatalf("log dir %s missing or failed: %+v", abs, dirs)
	}
	if dir.TotalBytes <= 0 || dir.UsableBytes < 0 || dir.UsableBytes > dir.TotalBytes {
		t.Errorf("volume sizes total %d usable %d", dir.TotalBytes, dir.UsableBytes)
	}
	p0, ok0 := dirs.LookupPartition("t", 0)
	p1, ok1 := dirs.LookupPartition("t", 1)
	_, okU := dirs.LookupPartition("u", 0)
	if !ok0 || !ok1 || !okU {
		t.Fatalf("partitions missing: %+v", dir.Topics)
	}
	if p0.Size <= 0 || p1.Size != 0 {
		t.Errorf("sizes: t/0 %d (has data), t/1 %d (empty)", p0.Size, p1.Size)
	}
	if p0.OffsetLag != 0 {
		t.Errorf("leader offset lag %d, want 0", p0.OffsetLag)
	}

	// A topic filter returns only what was asked for and is hosted here.
	req := kmsg.NewPtrDescribeLogDirsRequest()
	for _, tc := range []struct {
		topic string
		parts []int32
	}{{"t", []int32{1, 7}}, {"nope", []int32{0}}} {
		rt := kmsg.NewDescribeLogDirsRequestTopic()
		rt.Topic, rt.Partitions = tc.topic, tc.parts
		req.Topics = append(req.Topics, rt)
	}
	for _, version := range []int16{0, 5} {
		resp := tb.send(tb.pinned(req.Key(), version), req).(*kmsg.DescribeLogDirsResponse)
		if len(resp.Dirs) != 1 || len(resp.Dirs[0].Topics) != 1 || resp.Dirs[0].Topics[0].Topic != "t" ||
			len(resp.Dirs[0].Topics[0].Partitions) != 1 || resp.Dirs[0].Topics[0].Partitions[0].Partition != 1 {
			t.Errorf("v%d filtered answer: %+v", version, resp.Dirs)
		}
		if version == 0 && resp.Dirs[0].TotalBytes != -1 {
			t.Errorf("v0 carried total bytes %d", resp.Dirs[0].TotalBytes)
		}
	}
}

func TestInitProducerID(t *testing.T) {
	tb := startBroker(t, nil)
	init := func(version int16, txnID *string, id int64, epoch int16) *kmsg.InitProducerIDResponse {
		t.Helper()
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = txnID, id, epoch
		return tb.send(tb.pinned(req.Key(), version), req).(*kmsg.InitProducerIDResponse)
	}

	first := init(5, nil, -1, -1)
	if first.ErrorCode != 0 || first.ProducerID < 0 || first.ProducerEpoch != 0 {
		t.Fatalf("first id: %+v", first)
	}
	seen := map[int64]bool{first.ProducerID: true}
	// More than one controller block's worth: ids never repeat.
	for range 1100 {
		r := init(0, nil, -1, -1)
		if r.ErrorCode != 0 || r.ProducerEpoch != 0 || seen[r.ProducerID] {
			t.Fatalf("id %d (error %d) repeated or failed", r.ProducerID, r.ErrorCode)
		}
		seen[r.ProducerID] = true
	}

	// KIP-360: a producer with an id gets the next epoch of the same id.
	bumped := init(3, nil, first.ProducerID, 0)
	if bumped.ErrorCode != 0 || bumped.ProducerID != first.ProducerID || bumped.ProducerEpoch != 1 {
		t.Errorf("bump: %+v, want id %d epoch 1", bumped, first.ProducerID)
	}
	// An exhausted epoch or an id never handed out gets a fresh id.
	for _, r := range []*kmsg.InitProducerIDResponse{init(5, nil, first.ProducerID, math.MaxInt16-1), init(5, nil, 1<<40, 0)} {
		if r.ErrorCode != 0 || r.ProducerEpoch != 0 || seen[r.ProducerID] {
			t.Errorf("expected a fresh id: %+v", r)
		}
		seen[r.ProducerID] = true
	}

	// A transactional id needs a transaction timeout (checked first, as
	// in Kafka); see TestInitProducerIDTransactional.
	wantCode(t, "transactional without a timeout", init(5, ptr("tx"), -1, -1).ErrorCode, kerr.InvalidTransactionTimeout)
	wantCode(t, "empty transactional id", init(5, ptr(""), -1, -1).ErrorCode, kerr.InvalidRequest)
	wantCode(t, "id without epoch", init(5, nil, first.ProducerID, -1).ErrorCode, kerr.InvalidRequest)

	// An idempotent producer (kgo's default) initializes and produces.
	tb.createTopic("t", 1, nil)
	if off := tb.produce("t", 0, 3, []byte("v")); off != 2 {
		t.Errorf("idempotent produce ended at offset %d, want 2", off)
	}
}

// TestInitProducerIDTransactional: a transactional id gets a producer id
// at epoch 0, then bumped epochs (fencing); the timeout is bounded by
// transaction.max.timeout.ms; a producer recovering with a stale epoch is
// fenced with the code its version knows.
func TestInitProducerIDTransactional(t *testing.T) {
	tb := startBroker(t, func(c *config.Broker) { c.TransactionStateLogNumPartitions = 3 })
	find := kmsg.NewPtrFindCoordinatorRequest()
	find.CoordinatorType, find.CoordinatorKeys = 1, []string{"tx"}
	if r := tb.send(nil, find).(*kmsg.FindCoordinatorResponse); len(r.Coordinators) != 1 || r.Coordinators[0].ErrorCode != 0 || r.Coordinators[0].NodeID != nodeID {
		t.Fatalf("FindCoordinator(txn) = %+v", r)
	}
	init := func(version int16, timeoutMs int32, id int64, epoch int16) *kmsg.InitProducerIDResponse {
		t.Helper()
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch = ptr("tx"), timeoutMs, id, epoch
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			r := tb.send(tb.pinned(req.Key(), version), req).(*kmsg.InitProducerIDResponse)
			if r.ErrorCode != kerr.CoordinatorLoadInProgress.Code || time.Now().After(deadline) {
				return r
			}
		}
	}
	first := init(5, 60000, -1, -1)
	if first.ErrorCode != 0 || first.ProducerID < 0 || first.ProducerEpoch != 0 {
		t.Fatalf("first: %+v", first)
	}
	second := init(5, 60000, -1, -1)
	if second.ErrorCode != 0 || second.ProducerID != first.ProducerID || second.ProducerEpoch != 1 {
		t.Fatalf("second: %+v, want id %d epoch 1", second, first.ProducerID)
	}
	wantCode(t, "timeout over transaction.max.timeout.ms", init(5, 900001, -1, -1).ErrorCode, kerr.InvalidTransactionTimeout)
	wantCode(t, "zero timeout", init(5, 0, -1, -1).ErrorCode, kerr.InvalidTransactionTimeout)
	wantCode(t, "stale epoch v5", init(5, 60000, first.ProducerID, 0).ErrorCode, kerr.ProducerFenced)
	wantCode(t, "stale epoch v3", init(3, 60000, first.ProducerID, 0).ErrorCode, kerr.InvalidProducerEpoch)
	if r := init(5, 60000, second.ProducerID, 1); r.ErrorCode != 0 || r.ProducerEpoch != 2 {
		t.Fatalf("recovery with the current epoch: %+v, want epoch 2", r)
	}
}

func TestDescribeCluster(t *testing.T) {
	tb := startBroker(t, nil)
	describe := func(version int16, endpoint int8, ops bool) *kmsg.DescribeClusterResponse {
		t.Helper()
		req := kmsg.NewPtrDescribeClusterRequest()
		req.EndpointType, req.IncludeClusterAuthorizedOperations = endpoint, ops
		return tb.send(tb.pinned(req.Key(), version), req).(*kmsg.DescribeClusterResponse)
	}
	md, err := tb.adm.BrokerMetadata(ctx(t))
	if err != nil {
		t.Fatal(err)
	}

	for _, version := range []int16{0, 2} {
		resp := describe(version, 1, false)
		if resp.ErrorCode != 0 || resp.ClusterID == "" || resp.ClusterID != md.Cluster || resp.ControllerID != nodeID {
			t.Errorf("v%d: error %d cluster %q controller %d; want cluster %q, controller %d", version, resp.ErrorCode, resp.ClusterID, resp.ControllerID, md.Cluster, nodeID)
		}
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != nodeID || resp.Brokers[0].Host != md.Brokers[0].Host || resp.Brokers[0].Port != md.Brokers[0].Port {
			t.Errorf("v%d brokers %+v, want %+v", version, resp.Brokers, md.Brokers)
		}
		if resp.ClusterAuthorizedOperations != math.MinInt32 {
			t.Errorf("v%d: authorized operations %d sent without being asked for", version, resp.ClusterAuthorizedOperations)
		}
	}
	ops := describe(2, 1, true).ClusterAuthorizedOperations
	if ops == math.MinInt32 || ops&(1<<kmsg.ACLOperationDescribe) == 0 || ops&(1<<kmsg.ACLOperationRead) != 0 {
		t.Errorf("authorized operations %b: want DESCRIBE and not READ (not a cluster operation)", ops)
	}
	wantCode(t, "controllers endpoint", describe(1, 2, false).ErrorCode, kerr.UnsupportedEndpointType)
	wantCode(t, "unknown endpoint", describe(1, 9, false).ErrorCode, kerr.InvalidRequest)
}

func TestApiVersionsAdvertiseAdminAPIs(t *testing.T) {
	tb := startBroker(t, nil)
	vs, err := tb.adm.ApiVersions(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	v := vs[nodeID]
	if v.Err != nil {
		t.Fatal(v.Err)
	}
	for key, max := range map[int16]int16{19: 7, 20: 6, 21: 2, 22: 5, 23: 4, 32: 4, 33: 2, 35: 5, 37: 3, 44: 1, 60: 2} {
		gotMin, gotMax, ok := v.KeyVersions(key)
		if !ok || gotMin != 0 || gotMax != max {
			t.Errorf("key %d: %d..%d (advertised %v), want 0..%d", key, gotMin, gotMax, ok, max)
		}
	}
}
