package handlers_test

// Group APIs that read the metadata image (FindCoordinator, OffsetCommit,
// OffsetDelete), against a real broker with its group coordinator.

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestFindCoordinatorVersions(t *testing.T) {
	tb := startBroker(t, nil)
	for v := int16(0); v <= 3; v++ {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version, req.CoordinatorKey = v, "some-group"
		resp := tb.send(tb.pinned(10, v), req).(*kmsg.FindCoordinatorResponse)
		wantCode(t, "find coordinator", resp.ErrorCode, errNone)
		if resp.NodeID != nodeID || resp.Host != "127.0.0.1" || resp.Port <= 0 {
			t.Errorf("v%d coordinator = %d %s:%d", v, resp.NodeID, resp.Host, resp.Port)
		}
	}
	// The first lookup created the offsets topic, internal and compacted.
	md := tb.send(nil, &kmsg.MetadataRequest{Version: 12, Topics: []kmsg.MetadataRequestTopic{{Topic: ptr("__consumer_offsets")}}}).(*kmsg.MetadataResponse)
	if len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 || !md.Topics[0].IsInternal || len(md.Topics[0].Partitions) != 50 {
		t.Fatalf("__consumer_offsets metadata = %+v", md.Topics)
	}
	cfgs := tb.send(nil, &kmsg.DescribeConfigsRequest{Version: 4, Resources: []kmsg.DescribeConfigsRequestResource{
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "__consumer_offsets", ConfigNames: []string{"cleanup.policy"}},
	}}).(*kmsg.DescribeConfigsResponse)
	if c := cfgs.Resources[0].Configs; len(c) != 1 || c[0].Value == nil || *c[0].Value != "compact" {
		t.Fatalf("cleanup.policy of __consumer_offsets = %+v", cfgs.Resources[0])
	}

	// v4+: batched keys; transactional ids are coordinated by the
	// leader of their __transaction_state partition; unknown key types
	// are invalid.
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version, req.CoordinatorKeys = 6, []string{"a", "b"}
	resp := tb.send(nil, req).(*kmsg.FindCoordinatorResponse)
	if len(resp.Coordinators) != 2 || resp.Coordinators[0].Key != "a" || resp.Coordinators[1].NodeID != nodeID || resp.Coordinators[1].ErrorCode != 0 {
		t.Fatalf("batched = %+v", resp.Coordinators)
	}
	req.CoordinatorType = 1
	resp = tb.send(nil, req).(*kmsg.FindCoordinatorResponse)
	if c := resp.Coordinators[0]; c.ErrorCode != 0 || c.NodeID != nodeID {
		t.Fatalf("transaction coordinator = %+v", c)
	}
	req.CoordinatorType = 7
	resp = tb.send(nil, req).(*kmsg.FindCoordinatorResponse)
	wantCode(t, "unknown key type", resp.Coordinators[0].ErrorCode, kerr.InvalidRequest)
}

func TestOffsetCommitChecksTopics(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("t", 2, nil)
	find := kmsg.NewPtrFindCoordinatorRequest()
	find.CoordinatorKeys = []string{"g"}
	tb.send(nil, find) // creates the offsets topic

	clients := map[int16]*kgo.Client{}
	commit := func(version int16, topic string, partition int32, offset int64) int16 {
		if clients[version] == nil {
			clients[version] = tb.pinned(8, version)
		}
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group = version, "g"
		req.RetentionTimeMillis = 60000 // v2-v4 only
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = partition, offset, ptr("md")
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := tb.send(clients[version], req).(*kmsg.OffsetCommitResponse)
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	// The coordinator may still be loading the partition it just got.
	for code := commit(8, "t", 0, 1); code != 0; code = commit(8, "t", 0, 1) {
		if code != kerr.CoordinatorLoadInProgress.Code {
			t.Fatalf("first commit: %v", kerr.ErrorForCode(code))
		}
	}
	wantCode(t, "v2 commit with retention", commit(2, "t", 1, 5), errNone)
	wantCode(t, "v0 commit", commit(0, "t", 0, 3), errNone)
	wantCode(t, "unknown topic", commit(8, "nope", 0, 1), kerr.UnknownTopicOrPartition)
	wantCode(t, "unknown partition", commit(8, "t", 9, 1), kerr.UnknownTopicOrPartition)

	fetch := tb.send(tb.pinned(9, 7), &kmsg.OffsetFetchRequest{Version: 7, Group: "g"}).(*kmsg.OffsetFetchResponse)
	if fetch.ErrorCode != 0 || len(fetch.Topics) != 1 || len(fetch.Topics[0].Partitions) != 2 {
		t.Fatalf("fetch = %+v", fetch)
	}
	for _, p := range fetch.Topics[0].Partitions {
		if want := map[int32]int64{0: 3, 1: 5}[p.Partition]; p.Offset != want || *p.Metadata != "md" {
			t.Errorf("partition %d = offset %d metadata %q, want %d", p.Partition, p.Offset, *p.Metadata, want)
		}
	}

	del := tb.send(nil, &kmsg.OffsetDeleteRequest{Group: "g", Topics: []kmsg.OffsetDeleteRequestTopic{
		{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
		{Topic: "nope", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
	}}).(*kmsg.OffsetDeleteResponse)
	wantCode(t, "offset delete", del.ErrorCode, errNone)
	wantCode(t, "offset delete t/0", del.Topics[0].Partitions[0].ErrorCode, errNone)
	wantCode(t, "offset delete unknown topic", del.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	gone := tb.send(nil, &kmsg.OffsetDeleteRequest{Group: "nobody"}).(*kmsg.OffsetDeleteResponse)
	wantCode(t, "offset delete of unknown group", gone.ErrorCode, kerr.GroupIDNotFound)
}
