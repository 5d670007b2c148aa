package handlers_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestElectLeadersSingleNode(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("el", 2, nil)

	res, err := tb.adm.ElectLeaders(ctx(t), kadm.ElectPreferredReplica, kadm.TopicsSet{"el": {0: {}, 1: {}}, "none": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		wantErr(t, "preferred election of a healthy partition", res["el"][p].Err, kerr.ElectionNotNeeded)
	}
	wantErr(t, "election of an unknown topic", res["none"][0].Err, kerr.UnknownTopicOrPartition)

	res, err = tb.adm.ElectLeaders(ctx(t), kadm.ElectLiveReplica, kadm.TopicsSet{"el": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "unclean election of a led partition", res["el"][0].Err, kerr.ElectionNotNeeded)

	// Every partition: nothing needs electing, so nothing is listed.
	for _, v := range []int16{0, 1, 2} {
		req := kmsg.NewPtrElectLeadersRequest()
		req.Version = v
		resp := tb.send(nil, req).(*kmsg.ElectLeadersResponse)
		if len(resp.Topics) != 0 {
			t.Errorf("v%d all-partition election listed %+v", v, resp.Topics)
		}
	}

	// An unknown election type is refused per partition.
	req := kmsg.NewPtrElectLeadersRequest()
	req.Version, req.ElectionType = 1, 7
	rt := kmsg.NewElectLeadersRequestTopic()
	rt.Topic, rt.Partitions = "el", []int32{0}
	req.Topics = append(req.Topics, rt)
	resp := tb.send(nil, req).(*kmsg.ElectLeadersResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("response %+v", resp.Topics)
	}
	wantCode(t, "unknown election type", resp.Topics[0].Partitions[0].ErrorCode, kerr.InvalidRequest)
}

func TestPartitionReassignmentsSingleNode(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("ra", 1, nil)

	list := func() kadm.ListPartitionReassignmentsResponses {
		t.Helper()
		l, err := tb.adm.ListPartitionReassignments(ctx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := list(); len(l) != 0 {
		t.Errorf("reassignments before any: %+v", l)
	}

	// Onto the same single broker: completes at once.
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("ra", 0, []int32{nodeID})
	req.Assign("ra", 5, []int32{nodeID})
	req.Assign("none", 0, []int32{nodeID})
	resps, err := tb.adm.AlterPartitionAssignments(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "reassignment onto the same broker", resps["ra"][0].Err, nil)
	wantErr(t, "reassignment of an unknown partition", resps["ra"][5].Err, kerr.UnknownTopicOrPartition)
	wantErr(t, "reassignment of an unknown topic", resps["none"][0].Err, kerr.UnknownTopicOrPartition)
	if l := list(); len(l) != 0 {
		t.Errorf("reassignments after a completed one: %+v", l)
	}

	req = nil
	req.Assign("ra", 0, []int32{nodeID + 1})
	resps, err = tb.adm.AlterPartitionAssignments(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "reassignment onto an unregistered broker", resps["ra"][0].Err, kerr.InvalidReplicaAssignment)

	req = nil
	req.CancelAssign("ra", 0)
	resps, err = tb.adm.AlterPartitionAssignments(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "cancel without a reassignment", resps["ra"][0].Err, kerr.NoReassignmentInProgress)

	// The partition is unchanged and still served.
	m := tb.topicMeta("ra")
	if p := m.Partitions[0]; p.Leader != nodeID || len(p.Replicas) != 1 || p.ErrorCode != 0 {
		t.Errorf("partition after reassignments: %+v", p)
	}

	// Listing by name, with an empty reassignment set, is empty too.
	l, err := tb.adm.ListPartitionReassignments(ctx(t), kadm.TopicsSet{"ra": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 0 {
		t.Errorf("named listing: %+v", l)
	}
}

func TestDescribeQuorumSingleNode(t *testing.T) {
	tb := startBroker(t, nil)
	before := time.Now().Add(-time.Minute).UnixMilli()
	for _, v := range []int16{0, 1} {
		req := kmsg.NewPtrDescribeQuorumRequest()
		req.Version = v
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = "__cluster_metadata"
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rt.Partitions = append(rt.Partitions, rp)
		other := kmsg.NewDescribeQuorumRequestTopicPartition()
		other.Partition = 3
		rt.Partitions = append(rt.Partitions, other)
		req.Topics = append(req.Topics, rt)
		resp := tb.send(nil, req).(*kmsg.DescribeQuorumResponse)
		wantCode(t, "top-level", resp.ErrorCode, errNone)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
			t.Fatalf("v%d: response %+v", v, resp.Topics)
		}
		p := resp.Topics[0].Partitions[0]
		wantCode(t, "metadata partition", p.ErrorCode, errNone)
		if p.LeaderID != nodeID || p.LeaderEpoch < 1 || p.HighWatermark < 1 || len(p.CurrentVoters) != 1 {
			t.Fatalf("v%d: partition %+v", v, p)
		}
		voter := p.CurrentVoters[0]
		if voter.ReplicaID != nodeID || voter.LogEndOffset < 1 || voter.LogEndOffset > p.HighWatermark+100 {
			t.Errorf("v%d: voter %+v (high watermark %d)", v, voter, p.HighWatermark)
		}
		if v >= 1 && voter.LastFetchTimestamp < before {
			t.Errorf("v%d: voter last fetch %d, want a recent time", v, voter.LastFetchTimestamp)
		}
		wantCode(t, "other partition", resp.Topics[0].Partitions[1].ErrorCode, kerr.UnknownTopicOrPartition)
	}
}

func TestMetadataListsUnfencedBrokers(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("md", 1, nil)
	req := kmsg.NewPtrMetadataRequest()
	resp := tb.send(nil, req).(*kmsg.MetadataResponse)
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != nodeID || resp.ControllerID != nodeID {
		t.Fatalf("brokers %+v controller %d", resp.Brokers, resp.ControllerID)
	}
	p := tb.topicMeta("md").Partitions[0]
	if p.ErrorCode != 0 || p.Leader != nodeID || len(p.OfflineReplicas) != 0 {
		t.Errorf("partition %+v", p)
	}
}
