package group

// Records in __consumer_offsets use Kafka's own formats (kmsg's
// OffsetCommitKey/Value and GroupMetadataKey/Value), so Kafka tools that
// read the topic understand them. A key starts with its int16 version,
// which also says what the record is:
//
//	key v0/v1  OffsetCommitKey{group, topic, partition}
//	           value OffsetCommitValue v3 {offset, leaderEpoch, metadata,
//	           commitTimestamp}, or v1 {offset, metadata, commitTimestamp,
//	           expireTimestamp} for a commit with its own retention (v2-v4)
//	key v2     GroupMetadataKey{group}
//	           value GroupMetadataValue v3 {protocolType, generation,
//	           protocol, leader, currentStateTimestamp, members with
//	           their subscription (metadata of the chosen protocol) and
//	           assignment}
//
// A record with a null value (tombstone) deletes its key; compaction keeps
// only the latest record per key, so replaying the partition from its
// start always rebuilds the latest state.

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/coordlog"
	"github.com/spool-mq/spool/internal/record"
)

const (
	offsetKeyVersion         = 1
	groupKeyVersion          = 2
	offsetValueVersion       = 3
	offsetValueExpireVersion = 1
	groupValueVersion        = 3
)

func newBatch(now time.Time) *record.Builder { return record.NewBuilder(now.UnixMilli()) }

func offsetKey(group string, tp TopicPartition) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: tp.Topic, Partition: tp.Partition}
	return k.AppendTo(nil)
}

func offsetValue(o offset) []byte {
	v := kmsg.OffsetCommitValue{Version: offsetValueVersion, Offset: o.offset, LeaderEpoch: o.leaderEpoch,
		Metadata: o.metadata, CommitTimestamp: o.commitTime}
	if o.expireTime >= 0 {
		v.Version, v.ExpireTimestamp = offsetValueExpireVersion, o.expireTime
	}
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// groupValue encodes g's generation. assignments, if not nil, replaces the
// members' current assignments (the leader's SyncGroup, not yet applied).
func groupValue(g *group, assignments map[string][]byte) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	for _, id := range g.order {
		m := g.members[id]
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.ClientID, vm.ClientHost = m.id, m.clientID, m.clientHost
		if m.instanceID != "" {
			inst := m.instanceID
			vm.InstanceID = &inst
		}
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout.Milliseconds())
		vm.SessionTimeoutMillis = int32(m.sessionTimeout.Milliseconds())
		vm.Subscription = m.metadataFor(g.protocol)
		vm.Assignment = m.assignment
		if assignments != nil {
			vm.Assignment = assignments[id]
		}
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

// groupBatch is a batch holding g's metadata record. The caller holds s.mu.
func (s *shard) groupBatch(g *group, assignments map[string][]byte, now time.Time) []byte {
	b := newBatch(now)
	b.Add(groupKey(g.id), groupValue(g, assignments))
	return b.Build()
}

// load replays the shard's partition and then starts serving its groups.
// A failed read is retried until the shard is dropped.
func (s *shard) load() {
	started := time.Now()
	for {
		st := newLoadState()
		err := coordlog.Replay(s.log, s.c.dec, s.isClosed, func(key, value []byte) error {
			st.apply(key, value)
			return nil
		})
		if errors.Is(err, errLoadAborted) {
			return
		}
		if err == nil {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.closed {
				return
			}
			s.setGroups(st.build(s.now()))
			s.loading = false
			level := slog.LevelDebug
			if len(s.groups) > 0 {
				level = slog.LevelInfo
			}
			s.c.log.Log(context.Background(), level, "loaded groups", "partition", s.partition, "groups", len(s.groups),
				"took", time.Since(started).Round(time.Millisecond))
			return
		}
		s.c.log.Error("loading groups failed; retrying", "partition", s.partition, "err", err)
		select {
		case <-s.c.stop:
			return
		case <-time.After(time.Second):
		}
		if s.isClosed() {
			return
		}
	}
}

func (s *shard) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// errLoadAborted means the shard was given up while it loaded.
var errLoadAborted = coordlog.ErrReplayAborted

// loadState accumulates the latest record per key during a replay.
type loadState struct {
	groups  map[string]*kmsg.GroupMetadataValue
	offsets map[string]map[TopicPartition]offset
}

func newLoadState() *loadState {
	return &loadState{groups: make(map[string]*kmsg.GroupMetadataValue), offsets: make(map[string]map[TopicPartition]offset)}
}

// apply folds one record in. Records it cannot parse (other versions
// Kafka may add) are skipped: the rest of the state is still good.
func (st *loadState) apply(key, value []byte) {
	if len(key) < 2 {
		return
	}
	switch version := int16(binary.BigEndian.Uint16(key)); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if k.ReadFrom(key) != nil {
			return
		}
		tp := TopicPartition{Topic: k.Topic, Partition: k.Partition}
		if value == nil {
			delete(st.offsets[k.Group], tp)
			return
		}
		var v kmsg.OffsetCommitValue
		if v.ReadFrom(value) != nil {
			return
		}
		o := offset{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitTime: v.CommitTimestamp, expireTime: -1}
		if v.Version >= 3 {
			o.leaderEpoch = v.LeaderEpoch
		}
		if v.Version == 1 {
			o.expireTime = v.ExpireTimestamp
		}
		if st.offsets[k.Group] == nil {
			st.offsets[k.Group] = make(map[TopicPartition]offset)
		}
		st.offsets[k.Group][tp] = o
	case 2:
		var k kmsg.GroupMetadataKey
		if k.ReadFrom(key) != nil {
			return
		}
		if value == nil {
			delete(st.groups, k.Group)
			return
		}
		v := new(kmsg.GroupMetadataValue)
		if v.ReadFrom(value) != nil {
			return
		}
		st.groups[k.Group] = v
	}
}

// build turns the replayed records into groups. A group with members comes
// back Stable in its stored generation: members that reconnect continue
// with their heartbeats, and those that do not expire after a session
// timeout, counted from now.
func (st *loadState) build(now time.Time) map[string]*group {
	out := make(map[string]*group)
	for id, meta := range st.groups {
		g := newGroup(id, now)
		g.protocolType, g.generation = meta.ProtocolType, meta.Generation
		if meta.CurrentStateTimestamp >= 0 {
			g.stateTime = time.UnixMilli(meta.CurrentStateTimestamp)
		}
		if meta.Protocol != nil && *meta.Protocol != "" && len(meta.Members) > 0 {
			g.protocol = *meta.Protocol
			for _, vm := range meta.Members {
				m := &member{
					id:               vm.MemberID,
					clientID:         vm.ClientID,
					clientHost:       vm.ClientHost,
					protocolType:     meta.ProtocolType,
					protocols:        []Protocol{{Name: g.protocol, Metadata: vm.Subscription}},
					sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
					rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
					assignment:       vm.Assignment,
					lastHeartbeat:    now,
				}
				if vm.InstanceID != nil {
					m.instanceID = *vm.InstanceID
				}
				if m.rebalanceTimeout <= 0 {
					m.rebalanceTimeout = m.sessionTimeout
				}
				g.add(m)
			}
			if meta.Leader != nil && g.members[*meta.Leader] != nil {
				g.leader = *meta.Leader
			}
			g.state = StateStable
			g.subscribed = g.computeSubscribed()
		}
		out[id] = g
	}
	for id, offsets := range st.offsets {
		if len(offsets) == 0 {
			continue
		}
		g := out[id]
		if g == nil {
			g = newGroup(id, now)
			out[id] = g
		}
		g.offsets = offsets
	}
	return out
}
