package group

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupSnapshot is the durable part of a group's state.
type groupSnapshot struct {
	State, ProtocolType, Protocol, Leader string
	Generation                            int32
	StateTime                             int64
	Members                               []string
	Offsets                               map[TopicPartition]offset
}

func snapshot(t *testing.T, c *Coordinator) map[string]groupSnapshot {
	t.Helper()
	out := make(map[string]groupSnapshot)
	for _, s := range c.snapshotShards() {
		s.mu.Lock()
		for id, g := range s.groups {
			gs := groupSnapshot{State: g.state.String(), ProtocolType: g.protocolType, Protocol: g.protocol,
				Leader: g.leader, Generation: g.generation, StateTime: g.stateTime.UnixMilli(), Offsets: g.offsets}
			for _, mid := range g.order {
				m := g.members[mid]
				gs.Members = append(gs.Members, fmt.Sprintf("%s inst=%q client=%s host=%s session=%v rebalance=%v meta=%x assign=%q",
					m.id, m.instanceID, m.clientID, m.clientHost, m.sessionTimeout, m.rebalanceTimeout, m.metadataFor(g.protocol), m.assignment))
			}
			out[id] = gs
		}
		s.mu.Unlock()
	}
	return out
}

func TestPersistenceRoundTrip(t *testing.T) {
	h := newHarness(t, nil)
	// A static group whose leader sat out a round: i2 leads now while i1
	// keeps its place (first in member order). It goes first because its
	// ticks would expire the sessions of the other groups' members.
	mids, mgen := h.staticGroupOf("moved", []string{"i1", "i2", "i3"})
	ch3 := h.join(staticReq("moved", mids[2], "i3", changedProtocols()...))
	ch2 := h.join(staticReq("moved", mids[1], "i2"))
	for range 4 {
		h.tick(8 * time.Second)
		h.c.Heartbeat("moved", mids[0], "i1", mgen)
	}
	if o := recv(t, ch2); o.err != nil || o.res.Leader != mids[1] || len(o.res.Members) != 3 {
		t.Fatalf("moved leader join = %+v %v", o.res, o.err)
	}
	recv(t, ch3)
	recv(t, h.sync(SyncRequest{Group: "moved", MemberID: mids[1], InstanceID: "i2", Generation: mgen + 1,
		Assignments: map[string][]byte{mids[0]: []byte("x"), mids[1]: []byte("y"), mids[2]: []byte("z")}}))
	if err := h.c.Heartbeat("moved", mids[0], "i1", mgen+1); err != nil {
		t.Fatal(err)
	}
	// A stable dynamic group with commits, one of them re-committed.
	ids, gen := h.stableGroup("dynamic", 3)
	h.mustCommit(commit("dynamic", gen, ids[1], oc("t", 0, 5), oc("t", 1, 7)))
	h.mustCommit(CommitRequest{Group: "dynamic", Generation: gen, MemberID: ids[2], Offsets: []OffsetCommit{
		{TopicPartition: TopicPartition{"t", 0}, Offset: 6, LeaderEpoch: 4, Metadata: "meta"}}})
	// A stable static group whose member was replaced.
	_, _ = h.staticGroupOf("static", []string{"i1", "i2"})
	recv(t, h.join(staticReq("static", "", "i2")))
	// A consumer group that became empty but keeps offsets.
	eids, egen := h.stableGroup("emptied", 1)
	h.mustCommit(commit("emptied", egen, eids[0], oc("t", 3, 30)))
	h.c.Leave("emptied", []LeaveMember{{MemberID: eids[0]}})
	// Offsets-only groups, one with its own retention, one with a deleted
	// offset.
	h.mustCommit(commit("simple", -1, "", oc("a", 0, 1), oc("b", 0, 2)))
	retained := commit("retained", -1, "", oc("a", 0, 9))
	retained.Retention = time.Hour
	h.mustCommit(retained)
	if _, err := h.c.DeleteOffsets(t.Context(), "simple", []TopicPartition{{"b", 0}}); err != nil {
		t.Fatal(err)
	}
	// A deleted group.
	h.mustCommit(commit("deleted", -1, "", oc("a", 0, 1)))
	if err := h.c.DeleteGroup(t.Context(), "deleted"); err != nil {
		t.Fatal(err)
	}
	h.c.wg.Wait()

	before := snapshot(t, h.c)
	if _, ok := before["deleted"]; ok || len(before) != 6 {
		t.Fatalf("groups before restart: %v", len(before))
	}
	h2 := h.restart()
	after := snapshot(t, h2.c)
	if !reflect.DeepEqual(before, after) {
		for id := range before {
			if !reflect.DeepEqual(before[id], after[id]) {
				t.Errorf("group %s\nbefore %+v\nafter  %+v", id, before[id], after[id])
			}
		}
		t.Fatalf("state differs after replay: %d groups before, %d after", len(before), len(after))
	}
	// The restored members carry on: heartbeats, commits, syncs work
	// with the stored generation.
	if err := h2.c.Heartbeat("dynamic", ids[2], "", gen); err != nil {
		t.Fatal(err)
	}
	if o := recv(t, h2.sync(SyncRequest{Group: "dynamic", MemberID: ids[1], Generation: gen})); string(o.res.Assignment) != "assignment-of-"+ids[1] {
		t.Fatalf("assignment after restart = %+v", o)
	}
	h2.mustCommit(commit("dynamic", gen, ids[0], oc("t", 0, 8)))
	// Members that do not come back expire after their session timeout.
	h2.tick(11 * time.Second)
	if d, _ := h2.c.DescribeGroup("dynamic"); d.State != "Empty" {
		t.Fatalf("dynamic group after its members vanished: %+v", d)
	}
}

func TestRecordsAreKafkaFormat(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup("g", 1)
	h.mustCommit(CommitRequest{Group: "g", Generation: gen, MemberID: ids[0], Offsets: []OffsetCommit{
		{TopicPartition: TopicPartition{"topic", 7}, Offset: 42, LeaderEpoch: 3, Metadata: "md"}}})
	var sawGroup, sawOffset bool
	for _, r := range h.log.records(t) {
		switch v := int16(binary.BigEndian.Uint16(r.key)); v {
		case 2:
			var k kmsg.GroupMetadataKey
			var val kmsg.GroupMetadataValue
			if err := k.ReadFrom(r.key); err != nil || k.Group != "g" {
				t.Fatalf("group key %+v %v", k, err)
			}
			if err := val.ReadFrom(r.value); err != nil {
				t.Fatal(err)
			}
			if val.Version != 3 || val.ProtocolType != "consumer" || val.Generation != gen || *val.Protocol != "range" ||
				*val.Leader != ids[0] || len(val.Members) != 1 || val.Members[0].SessionTimeoutMillis != 10000 ||
				val.Members[0].RebalanceTimeoutMillis != 30000 || string(val.Members[0].Assignment) != "assignment-of-"+ids[0] {
				t.Fatalf("group value = %+v", val)
			}
			var sub kmsg.ConsumerMemberMetadata
			if err := sub.ReadFrom(val.Members[0].Subscription); err != nil || len(sub.Topics) != 1 || sub.Topics[0] != "t" {
				t.Fatalf("subscription = %+v %v", sub, err)
			}
			sawGroup = true
		case 1:
			var k kmsg.OffsetCommitKey
			var val kmsg.OffsetCommitValue
			if err := k.ReadFrom(r.key); err != nil || k.Group != "g" || k.Topic != "topic" || k.Partition != 7 {
				t.Fatalf("offset key %+v %v", k, err)
			}
			if err := val.ReadFrom(r.value); err != nil || val.Version != 3 || val.Offset != 42 || val.LeaderEpoch != 3 ||
				val.Metadata != "md" || val.CommitTimestamp != h.clock.Now().UnixMilli() {
				t.Fatalf("offset value %+v %v", val, err)
			}
			sawOffset = true
		default:
			t.Fatalf("unexpected key version %d", v)
		}
	}
	if !sawGroup || !sawOffset {
		t.Fatalf("records: group %v offset %v", sawGroup, sawOffset)
	}
}

func TestReplaySkipsUnknownRecords(t *testing.T) {
	h := newHarness(t, nil)
	h.mustCommit(commit("g", -1, "", oc("t", 0, 1)))
	// A record type from a future Kafka (key version 9) and a malformed
	// key: skipped, the rest loads.
	b := newBatch(h.clock.Now())
	b.Add([]byte{0, 9, 1, 2, 3}, []byte("whatever"))
	b.Add([]byte{0}, []byte("short key"))
	b.Add(append([]byte{0, 1}, 0xff), []byte("bad offset key"))
	if err := h.log.Append(b.Build()); err != nil {
		t.Fatal(err)
	}
	h.mustCommit(commit("g", -1, "", oc("t", 1, 2)))
	h2 := h.restart()
	if got := h2.offsets("g"); len(got) != 2 || got[TopicPartition{"t", 1}] != 2 {
		t.Fatalf("offsets after replay = %v", got)
	}
}
