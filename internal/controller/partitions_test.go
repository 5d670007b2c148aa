package controller

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var testTopicID = [16]byte{7}

// testBuilder returns a builder over an image with the brokers described
// by spec ("1 2f 3s": 1 live, 2 fenced, 3 in controlled shutdown) and a
// topic "t" with the given partitions (indexes are set from positions).
func testBuilder(t *testing.T, spec string, unclean bool, parts ...Partition) *builder {
	t.Helper()
	b := newBuilder(emptyImage())
	for _, f := range strings.Fields(spec) {
		br := Broker{Host: "h", Port: 1}
		switch {
		case strings.HasSuffix(f, "f"):
			br.Fenced = true
		case strings.HasSuffix(f, "s"):
			br.InControlledShutdown = true
		}
		id, err := strconv.Atoi(strings.TrimRight(f, "fs"))
		if err != nil {
			t.Fatalf("bad broker spec %q", f)
		}
		br.ID = int32(id)
		b.setBroker(br)
	}
	topic := &Topic{Name: "t", ID: testTopicID, Partitions: make([]Partition, len(parts))}
	if unclean {
		topic.Configs = map[string]string{uncleanLeaderElectionConfig: "true"}
	}
	for i, p := range parts {
		p.Index = int32(i)
		topic.Partitions[i] = p
	}
	b.putTopic(topic)
	// Start from a built image, as apply does, so copy-on-write is tested.
	return newBuilder(b.build(1))
}

// part is a partition literal: leader, replicas, ISR, epochs 5 and 9.
func part(leader int32, replicas, isr []int32) Partition {
	return Partition{Leader: leader, LeaderEpoch: 5, PartitionEpoch: 9, Replicas: replicas, ISR: isr}
}

func ids(s ...int32) []int32 { return s }

// checkPart compares partition i of topic "t" in b with want (leader, ISR,
// replicas, and epochs as deltas from part's 5 and 9).
func checkPart(t *testing.T, b *builder, i int, leader int32, isr []int32, leDelta, peDelta int32) {
	t.Helper()
	p := b.topic("t").Partitions[i]
	if p.Leader != leader || !slices.Equal(p.ISR, isr) || p.LeaderEpoch != 5+leDelta || p.PartitionEpoch != 9+peDelta {
		t.Errorf("partition %d = leader %d isr %v le %d pe %d; want leader %d isr %v le %d pe %d",
			i, p.Leader, p.ISR, p.LeaderEpoch, p.PartitionEpoch, leader, isr, 5+leDelta, 9+peDelta)
	}
}

// setState changes broker id's flags as the lifecycle commands do.
func setState(b *builder, id int32, fenced, shutdown bool) {
	br, _ := b.broker(id)
	br.ID, br.Fenced, br.InControlledShutdown = id, fenced, shutdown
	b.setBroker(br)
}

func TestFencePartitions(t *testing.T) {
	tests := []struct {
		name     string
		brokers  string
		unclean  bool
		p        Partition
		leader   int32
		isr      []int32
		le, pe   int32
		unchange bool
	}{
		{name: "leader moves to next in-sync replica", brokers: "1 2 3",
			p: part(1, ids(1, 2, 3), ids(1, 2, 3)), leader: 2, isr: ids(2, 3), le: 1, pe: 1},
		{name: "leader choice follows replica order, not ISR order", brokers: "1 2 3",
			p: part(1, ids(1, 2, 3), ids(3, 1, 2)), leader: 2, isr: ids(3, 2), le: 1, pe: 1},
		{name: "follower leaves the ISR", brokers: "1 2 3",
			p: part(2, ids(1, 2, 3), ids(1, 2, 3)), leader: 2, isr: ids(2, 3), le: 0, pe: 1},
		{name: "ineligible ISR members are skipped", brokers: "1 2f 3s 4",
			p: part(1, ids(1, 2, 3, 4), ids(1, 2, 3, 4)), leader: 4, isr: ids(2, 3, 4), le: 1, pe: 1},
		{name: "last ISR member stays, partition goes offline", brokers: "1 2",
			p: part(1, ids(1, 2), ids(1)), leader: -1, isr: ids(1), le: 1, pe: 1},
		{name: "no eligible ISR member: offline", brokers: "1 2f",
			p: part(1, ids(1, 2), ids(1, 2)), leader: -1, isr: ids(2), le: 1, pe: 1},
		{name: "unclean: an out-of-sync replica leads alone", brokers: "1 2", unclean: true,
			p: part(1, ids(1, 2), ids(1)), leader: 2, isr: ids(2), le: 1, pe: 1},
		{name: "unclean without eligible replicas: offline", brokers: "1 2f", unclean: true,
			p: part(1, ids(1, 2), ids(1)), leader: -1, isr: ids(1), le: 1, pe: 1},
		{name: "leader outside its ISR is replaced", brokers: "1 2",
			p: part(1, ids(1, 2), ids(2)), leader: 2, isr: ids(2), le: 1, pe: 1},
		{name: "other replica's partition unchanged", brokers: "1 2 3",
			p: part(2, ids(2, 3), ids(2, 3)), unchange: true},
		{name: "out-of-sync replica unchanged", brokers: "1 2",
			p: part(2, ids(2, 1), ids(2)), unchange: true},
		{name: "already offline with it as last member unchanged", brokers: "1 2",
			p: part(-1, ids(1, 2), ids(1)), unchange: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := testBuilder(t, tt.brokers, tt.unclean, tt.p)
			setState(b, 1, true, false)
			b.fencePartitions(1)
			if tt.unchange {
				checkPart(t, b, 0, tt.p.Leader, tt.p.ISR, 0, 0)
				return
			}
			checkPart(t, b, 0, tt.leader, tt.isr, tt.le, tt.pe)
		})
	}
}

func TestFencePartitionsDoesNotModifyBase(t *testing.T) {
	b := testBuilder(t, "1 2 3", false, part(1, ids(1, 2, 3), ids(1, 2, 3)), part(3, ids(3, 2), ids(3, 2)))
	base := b.base
	setState(b, 1, true, false)
	b.fencePartitions(1)
	if p := base.Topic("t").Partitions[0]; p.Leader != 1 || !slices.Equal(p.ISR, ids(1, 2, 3)) || p.PartitionEpoch != 9 {
		t.Fatalf("base image changed: %+v", p)
	}
	img := b.build(2)
	if p := img.Topic("t").Partitions[1]; p.PartitionEpoch != 9 {
		t.Errorf("untouched partition's epoch changed: %+v", p)
	}
	if img.TopicByID(testTopicID) != img.Topic("t") {
		t.Error("name and id indexes disagree")
	}
}

func TestUnfencePartitions(t *testing.T) {
	tests := []struct {
		name    string
		brokers string
		unclean bool
		p       Partition
		leader  int32
		isr     []int32
		le, pe  int32
	}{
		{name: "offline partition with it in the ISR: it leads", brokers: "1 2f",
			p: part(-1, ids(2, 1), ids(1)), leader: 1, isr: ids(1), le: 1, pe: 1},
		{name: "out of sync, unclean off: stays offline", brokers: "1 2f",
			p: part(-1, ids(1, 2), ids(2)), leader: -1, isr: ids(2)},
		{name: "out of sync, unclean on: leads alone", brokers: "1 2f", unclean: true,
			p: part(-1, ids(2, 1), ids(2)), leader: 1, isr: ids(1), le: 1, pe: 1},
		{name: "led partition unchanged", brokers: "1 2",
			p: part(2, ids(1, 2), ids(2)), leader: 2, isr: ids(2)},
		{name: "not a replica: unchanged", brokers: "1 2f 3f", unclean: true,
			p: part(-1, ids(2, 3), ids(2)), leader: -1, isr: ids(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := testBuilder(t, tt.brokers, tt.unclean, tt.p)
			// The broker is fenced in the image; the unfence command
			// clears the flag before the partitions are updated.
			setState(b, 1, false, false)
			b.unfencePartitions(1)
			checkPart(t, b, 0, tt.leader, tt.isr, tt.le, tt.pe)
		})
	}
}

func TestShutdownPartitions(t *testing.T) {
	b := testBuilder(t, "1 2 3 4f", false,
		part(1, ids(1, 2), ids(1, 2)),    // 0: moves to 2
		part(1, ids(1, 2), ids(1)),       // 1: no one else in sync: stays
		part(2, ids(2, 1, 3), ids(2, 1)), // 2: follower leaves the ISR
		part(1, ids(1, 4), ids(1, 4)),    // 3: only a fenced alternative: stays
		part(2, ids(2, 1), ids(1)),       // 4: never below one member (odd state, kept)
	)
	if n := b.ledByBrokerMovable(1); n != 1 {
		t.Fatalf("ledByBrokerMovable before shutdown = %d, want 1", n)
	}
	setState(b, 1, false, true)
	b.shutdownPartitions(1)
	checkPart(t, b, 0, 2, ids(2), 1, 1)
	checkPart(t, b, 1, 1, ids(1), 0, 0)
	checkPart(t, b, 2, 2, ids(2), 0, 1)
	checkPart(t, b, 3, 1, ids(1, 4), 0, 0)
	checkPart(t, b, 4, 2, ids(1), 0, 0)
	if n := b.ledByBrokerMovable(1); n != 0 {
		t.Errorf("ledByBrokerMovable after shutdown = %d, want 0", n)
	}
}

func TestNewPartitionLeader(t *testing.T) {
	b := testBuilder(t, "1 2f 3s 4", false)
	for _, tt := range []struct {
		replicas []int32
		leader   int32
		isr      []int32
	}{
		{ids(1, 4), 1, ids(1, 4)},
		{ids(2, 3, 4, 1), 4, ids(4, 1)},
		{ids(2, 3), -1, ids(2, 3)},
	} {
		p := b.newPartition(0, tt.replicas)
		if p.Leader != tt.leader || !slices.Equal(p.ISR, tt.isr) || p.LeaderEpoch != 0 || p.PartitionEpoch != 0 {
			t.Errorf("newPartition(%v) = %+v, want leader %d isr %v", tt.replicas, p, tt.leader, tt.isr)
		}
	}
}

func TestAlterPartitionApply(t *testing.T) {
	ok := func(isr ...int32) *alterPartitionCmd {
		return &alterPartitionCmd{TopicID: testTopicID, LeaderID: 1, LeaderEpoch: 5, PartitionEpoch: 9, ISR: isr}
	}
	tests := []struct {
		name    string
		brokers string
		p       Partition
		cmd     *alterPartitionCmd
		err     error
		leader  int32
		isr     []int32
		le, pe  int32
	}{
		{name: "shrink", brokers: "1 2 3", p: part(1, ids(1, 2, 3), ids(1, 2, 3)), cmd: ok(1, 3),
			leader: 1, isr: ids(1, 3), pe: 1},
		{name: "expand", brokers: "1 2 3", p: part(1, ids(1, 2, 3), ids(1)), cmd: ok(1, 2),
			leader: 1, isr: ids(1, 2), pe: 1},
		{name: "same members: no change", brokers: "1 2", p: part(1, ids(1, 2), ids(1, 2)), cmd: ok(2, 1),
			leader: 1, isr: ids(1, 2)},
		{name: "wrong leader epoch", brokers: "1 2", p: part(1, ids(1, 2), ids(1, 2)),
			cmd: &alterPartitionCmd{TopicID: testTopicID, LeaderID: 1, LeaderEpoch: 4, PartitionEpoch: 9, ISR: ids(1)},
			err: ErrFencedLeaderEpoch},
		{name: "not the leader", brokers: "1 2", p: part(2, ids(1, 2), ids(1, 2)), cmd: ok(1),
			err: ErrFencedLeaderEpoch},
		{name: "stale partition epoch", brokers: "1 2", p: part(1, ids(1, 2), ids(1, 2)),
			cmd: &alterPartitionCmd{TopicID: testTopicID, LeaderID: 1, LeaderEpoch: 5, PartitionEpoch: 8, ISR: ids(1)},
			err: ErrInvalidUpdateVersion},
		{name: "ISR without the leader", brokers: "1 2", p: part(1, ids(1, 2), ids(1, 2)), cmd: ok(2),
			err: ErrInvalidReplicaAssignment},
		{name: "ISR naming a non-replica", brokers: "1 2 3", p: part(1, ids(1, 2), ids(1, 2)), cmd: ok(1, 3),
			err: ErrInvalidReplicaAssignment},
		{name: "ISR with a duplicate", brokers: "1 2", p: part(1, ids(1, 2), ids(1, 2)), cmd: ok(1, 1),
			err: ErrInvalidReplicaAssignment},
		{name: "adding a fenced broker", brokers: "1 2f", p: part(1, ids(1, 2), ids(1)), cmd: ok(1, 2),
			err: ErrIneligibleReplica},
		{name: "adding a broker in controlled shutdown", brokers: "1 2s", p: part(1, ids(1, 2), ids(1)), cmd: ok(1, 2),
			err: ErrIneligibleReplica},
		{name: "unknown topic", brokers: "1", p: part(1, ids(1), ids(1)),
			cmd: &alterPartitionCmd{TopicID: [16]byte{9}, LeaderID: 1, LeaderEpoch: 5, PartitionEpoch: 9, ISR: ids(1)},
			err: ErrUnknownTopicID},
		{name: "unknown partition", brokers: "1", p: part(1, ids(1), ids(1)),
			cmd: &alterPartitionCmd{TopicID: testTopicID, Partition: 3, LeaderID: 1, LeaderEpoch: 5, PartitionEpoch: 9, ISR: ids(1)},
			err: ErrUnknownTopic},
		{name: "leader in controlled shutdown hands over to a new member", brokers: "1s 2",
			p: part(1, ids(1, 2), ids(1)), cmd: ok(1, 2), leader: 2, isr: ids(1, 2), le: 1, pe: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := testBuilder(t, tt.brokers, false, tt.p)
			res := tt.cmd.apply(b, 2)
			if tt.err != nil {
				if !errors.Is(res.Err, tt.err) {
					t.Fatalf("err = %v, want %v", res.Err, tt.err)
				}
				checkPart(t, b, 0, tt.p.Leader, tt.p.ISR, 0, 0)
				return
			}
			if res.Err != nil || res.Partition == nil {
				t.Fatalf("apply = %+v", res)
			}
			checkPart(t, b, 0, tt.leader, tt.isr, tt.le, tt.pe)
			if got := b.topic("t").Partitions[0]; got.PartitionEpoch != res.Partition.PartitionEpoch ||
				got.Leader != res.Partition.Leader || !slices.Equal(got.ISR, res.Partition.ISR) {
				t.Errorf("returned partition %+v, image has %+v", *res.Partition, got)
			}
		})
	}
}

func TestPartitionCommandsRoundTrip(t *testing.T) {
	cmds := []command{
		&alterPartitionCmd{TopicID: uuid(newUUID()), Partition: 2, LeaderID: 1, LeaderEpoch: 3, PartitionEpoch: 4, ISR: ids(1, 2)},
		&electLeadersCmd{Type: ElectUnclean, Parts: []partitionID{{TopicID: uuid(newUUID()), Partition: 1}}},
		&reassignCmd{Items: []reassignItem{{TopicID: uuid(newUUID()), Partition: 0, Replicas: ids(3, 1)},
			{TopicID: uuid(newUUID()), Partition: 1, Cancel: true}}},
	}
	for _, cmd := range cmds {
		data, err := encodeCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCommand(data)
		if err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
		if !slices.Equal(mustEncode(t, got), data) {
			t.Errorf("round trip of %s changed it", data)
		}
	}
}

func mustEncode(t *testing.T, c command) []byte {
	t.Helper()
	data, err := encodeCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestAlterPartitionThreeVoters(t *testing.T) {
	nodes := startCluster(t, 3)
	runBrokers(t, nodes)
	onLeader(t, nodes, func(c *Controller) error {
		return createOne(t, c, TopicSpec{Name: "isr", NumPartitions: 1, ReplicationFactor: 3})
	})
	f := followerOf(t, nodes)
	var p Partition
	var id [16]byte
	waitUntil(t, nodes, "the follower to see the topic", func() bool {
		tp := f.Image().Topic("isr")
		if tp != nil {
			p, id = tp.Partitions[0], tp.ID
		}
		return tp != nil
	})
	ctx := testCtx(t)
	shrunk := ids(p.Leader, p.Replicas[2])
	if p.Leader == p.Replicas[2] {
		shrunk = ids(p.Leader, p.Replicas[1])
	}
	req := AlterPartitionRequest{TopicID: id, LeaderID: p.Leader, LeaderEpoch: p.LeaderEpoch,
		PartitionEpoch: p.PartitionEpoch, ISR: shrunk}
	// Through a follower, so the write is forwarded to the Raft leader.
	got, err := f.AlterPartition(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.ISR, shrunk) || got.PartitionEpoch != p.PartitionEpoch+1 || got.LeaderEpoch != p.LeaderEpoch {
		t.Fatalf("AlterPartition returned %+v, want ISR %v at partition epoch %d", got, shrunk, p.PartitionEpoch+1)
	}
	// The same proposal again is based on a stale partition epoch.
	if _, err := f.AlterPartition(ctx, req); !errors.Is(err, ErrInvalidUpdateVersion) {
		t.Fatalf("stale AlterPartition: err = %v, want ErrInvalidUpdateVersion", err)
	}
	req.PartitionEpoch, req.LeaderEpoch = got.PartitionEpoch, got.LeaderEpoch-1
	if _, err := f.AlterPartition(ctx, req); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("AlterPartition with an old leader epoch: err = %v, want ErrFencedLeaderEpoch", err)
	}
}
