package controller

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/spool-mq/spool/internal/auth"
)

// state holds the published image and tells readers when it changes.
// Publishing is serialised by mu because two goroutines publish: raft's FSM
// goroutine (applied commands) and the leader watcher (ControllerID).
type state struct {
	mu      sync.Mutex
	cur     atomic.Pointer[Image]
	changed chan struct{} // closed and replaced on every change: a broadcast
	updates chan struct{} // buffered 1: a coalescing notification for one consumer
}

func newState() *state {
	s := &state{changed: make(chan struct{}), updates: make(chan struct{}, 1)}
	s.cur.Store(emptyImage())
	return s
}

// publish replaces the image with fn(current) and notifies.
func (s *state) publish(fn func(*Image) *Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.Store(fn(s.cur.Load()))
	s.notifyLocked()
	select {
	case s.updates <- struct{}{}:
	default:
	}
}

// signal wakes waiters (WaitReady) without changing the image.
func (s *state) signal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notifyLocked()
}

func (s *state) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitCh returns a channel that is closed at the next change. Take it
// before checking a condition so that a change in between is not missed.
func (s *state) waitCh() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// fsm is the Raft state machine: it applies metadata commands to the image.
type fsm struct {
	st  *state
	log *slog.Logger
}

var _ raft.FSM = (*fsm)(nil)

// Apply applies one committed command. A command that cannot be decoded
// still advances Index (the entry is committed either way) and is logged as
// an error, since this node's state may now differ from newer nodes'.
func (f *fsm) Apply(l *raft.Log) any {
	cmd, err := decodeCommand(l.Data)
	if err != nil {
		f.log.Error("skipping metadata log entry this version cannot apply", "index", l.Index, "err", err)
	}
	var res applyResult
	f.st.publish(func(cur *Image) *Image {
		b := newBuilder(cur)
		if err != nil {
			res = applyResult{Err: err}
		} else {
			res = cmd.apply(b, l.Index)
		}
		return b.build(l.Index)
	})
	return res
}

// Snapshot captures the current image. Images are immutable, so holding the
// pointer is a consistent snapshot; Persist encodes it while Apply goes on.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{img: f.st.cur.Load()}, nil
}

// Restore replaces the whole state with a snapshot. ControllerID is local
// knowledge and is kept.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var snap snapshotData
	if err := json.NewDecoder(rc).Decode(&snap); err != nil {
		return fmt.Errorf("decoding metadata snapshot: %w", err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("%w: metadata snapshot version %d (this binary reads %d)", ErrUnsupportedCommand, snap.Version, snapshotVersion)
	}
	restored := snap.image()
	f.st.publish(func(cur *Image) *Image {
		restored.ControllerID = cur.ControllerID
		return restored
	})
	return nil
}

type fsmSnapshot struct{ img *Image }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(snapshotOf(s.img)); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("writing metadata snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// snapshotVersion is the version of the snapshot layout below.
const snapshotVersion = 1

// snapshotData is the whole replicated state as one JSON document, brokers
// and topics sorted so equal states encode identically.
type snapshotData struct {
	Version        int              `json:"v"`
	Index          uint64           `json:"index"`
	ClusterID      string           `json:"cluster_id"`
	NextProducerID int64            `json:"next_producer_id"`
	Brokers        []snapshotBroker `json:"brokers"`
	Topics         []snapshotTopic  `json:"topics"`
	// ScramUsers was added after version 1 without a bump: older
	// snapshots have none.
	ScramUsers []snapshotUser `json:"scram_users,omitempty"`
	// ACLs were added likewise: older snapshots have none.
	ACLs []auth.ACL `json:"acls,omitempty"`
}

type snapshotBroker struct {
	ID                   int32      `json:"id"`
	Host                 string     `json:"host"`
	Port                 int32      `json:"port"`
	Rack                 *string    `json:"rack,omitempty"`
	Endpoints            []Endpoint `json:"endpoints,omitempty"`
	Fenced               bool       `json:"fenced,omitempty"`
	InControlledShutdown bool       `json:"in_controlled_shutdown,omitempty"`
	IncarnationID        uuid       `json:"incarnation_id"`
	Epoch                int64      `json:"epoch"`
}

type snapshotTopic struct {
	Name       string              `json:"name"`
	ID         uuid                `json:"id"`
	Internal   bool                `json:"internal,omitempty"`
	Partitions []snapshotPartition `json:"partitions"`
	Configs    map[string]string   `json:"configs,omitempty"`
}

type snapshotPartition struct {
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Adding         []int32 `json:"adding,omitempty"`
	Removing       []int32 `json:"removing,omitempty"`
}

func snapshotOf(img *Image) snapshotData {
	snap := snapshotData{
		Version:        snapshotVersion,
		Index:          img.Index,
		ClusterID:      img.ClusterID,
		NextProducerID: img.NextProducerID,
		ScramUsers:     scramSnapshot(img),
		ACLs:           img.acls.All(),
	}
	for _, br := range img.SortedBrokers() {
		snap.Brokers = append(snap.Brokers, snapshotBroker{ID: br.ID, Host: br.Host, Port: br.Port, Rack: br.Rack, Endpoints: br.Endpoints,
			Fenced: br.Fenced, InControlledShutdown: br.InControlledShutdown, IncarnationID: br.IncarnationID, Epoch: br.Epoch})
	}
	for _, t := range img.sorted {
		st := snapshotTopic{Name: t.Name, ID: t.ID, Internal: t.Internal, Configs: t.Configs}
		for _, p := range t.Partitions {
			st.Partitions = append(st.Partitions, snapshotPartition{
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
				Replicas: p.Replicas, ISR: p.ISR, Adding: p.AddingReplicas, Removing: p.RemovingReplicas,
			})
		}
		snap.Topics = append(snap.Topics, st)
	}
	return snap
}

// image rebuilds an Image; partition indexes are positions in the list.
func (snap *snapshotData) image() *Image {
	b := newBuilder(emptyImage())
	b.next.ClusterID = snap.ClusterID
	b.next.NextProducerID = snap.NextProducerID
	for _, br := range snap.Brokers {
		b.setBroker(Broker{ID: br.ID, Host: br.Host, Port: br.Port, Rack: br.Rack, Endpoints: br.Endpoints, Fenced: br.Fenced,
			InControlledShutdown: br.InControlledShutdown, IncarnationID: br.IncarnationID, Epoch: br.Epoch})
	}
	b.restoreScram(snap.ScramUsers)
	b.next.acls = aclSetOrNil(snap.ACLs)
	b.copyTopics()
	for _, st := range snap.Topics {
		t := &Topic{Name: st.Name, ID: st.ID, Internal: st.Internal, Configs: cloneConfigs(st.Configs),
			Partitions: make([]Partition, len(st.Partitions))}
		for i, sp := range st.Partitions {
			t.Partitions[i] = Partition{Index: int32(i), Leader: sp.Leader, LeaderEpoch: sp.LeaderEpoch,
				PartitionEpoch: sp.PartitionEpoch, Replicas: sp.Replicas, ISR: sp.ISR,
				AddingReplicas: sp.Adding, RemovingReplicas: sp.Removing}
		}
		b.putTopic(t)
	}
	return b.build(snap.Index)
}
