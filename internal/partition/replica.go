package partition

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Errors of replication. The handlers map them to Kafka error codes.
var (
	// ErrNotLeader means this replica does not lead the partition (or no
	// longer does: a produce waiting for acks=all saw the role change).
	ErrNotLeader = errors.New("not the leader of this partition")
	// ErrNotFollower means a follower-only operation reached a replica
	// that is not following.
	ErrNotFollower = errors.New("not a follower of this partition")
	// ErrNotReplica means a replica fetch came from a broker that is not
	// among the partition's replicas.
	ErrNotReplica = errors.New("broker is not a replica of this partition")
	// ErrNotEnoughReplicas means acks=all was asked while the ISR is
	// smaller than min.insync.replicas; nothing was appended.
	ErrNotEnoughReplicas = errors.New("fewer in-sync replicas than min.insync.replicas")
	// ErrNotEnoughReplicasAfterAppend means an acks=all write was
	// replicated but the ISR shrank below min.insync.replicas meanwhile.
	ErrNotEnoughReplicasAfterAppend = errors.New("in-sync replicas fell below min.insync.replicas after the append")
	// ErrRequestTimedOut means an acks=all write was not replicated to
	// the ISR within the request timeout. It is in the leader's log and
	// may still be replicated.
	ErrRequestTimedOut = errors.New("timed out waiting for in-sync replicas")
	// ErrFencedLeaderEpoch means the request carried an older leader
	// epoch than this replica's.
	ErrFencedLeaderEpoch = errors.New("leader epoch is older than the current one")
	// ErrUnknownLeaderEpoch means the request carried a newer leader
	// epoch than this replica knows yet.
	ErrUnknownLeaderEpoch = errors.New("leader epoch is newer than the current one")
)

// Metadata is the partition state of the metadata image that concerns a
// replica: who leads, in which epochs, and the replica sets.
type Metadata struct {
	Leader         int32 // -1: offline
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32 // preferred leader first
	ISR            []int32
	Adding         []int32 // replicas being added by a reassignment
}

func (m Metadata) clone() Metadata {
	m.Replicas, m.ISR, m.Adding = slices.Clone(m.Replicas), slices.Clone(m.ISR), slices.Clone(m.Adding)
	return m
}

func (m Metadata) equal(o Metadata) bool {
	return m.Leader == o.Leader && m.LeaderEpoch == o.LeaderEpoch && m.PartitionEpoch == o.PartitionEpoch &&
		slices.Equal(m.Replicas, o.Replicas) && slices.Equal(m.ISR, o.ISR) && slices.Equal(m.Adding, o.Adding)
}

// ISRChange is a leader's proposal of a new ISR, stamped with the epochs it
// is based on so the controller can reject a stale one.
type ISRChange struct {
	TopicID                             [16]byte
	Partition                           int32
	Leader, LeaderEpoch, PartitionEpoch int32
	ISR                                 []int32
}

// ISRUpdater carries ISR proposals to the controller. A nil error means the
// change was committed; the partition still learns the new ISR only from
// ApplyMetadata, like every other state change.
type ISRUpdater interface {
	AlterISR(ctx context.Context, ch ISRChange) error
}

type role int8

const (
	roleNone role = iota // hosted but not a replica (being removed)
	roleLeader
	roleFollower
)

// replicaState is the replication state of a partition, guarded by
// Partition.mu.
type replicaState struct {
	// applied says ApplyMetadata ran at least once.
	applied bool
	role    role
	meta    Metadata
	// epochStart is the log end when this replica began leading in the
	// current leader epoch: the first offset of the epoch.
	epochStart int64
	// followers is the leader's view of every other replica.
	followers map[int32]*followerState
	// isrInFlight says an ISR proposal was sent and its outcome is not
	// yet visible in the metadata; at most one is in flight. isrGen
	// tells a late answer that newer metadata made it moot.
	isrInFlight bool
	isrSince    time.Time
	isrRetryAt  time.Time
	isrGen      uint64
	// pendingAdd are replicas an in-flight expansion adds; they count
	// for the high watermark already (the maximal ISR).
	pendingAdd []int32
}

// followerState is what the leader knows of one follower.
type followerState struct {
	// fetchOffset is the offset of the follower's last fetch, its
	// durable log end; -1 until it fetches in this leader epoch.
	fetchOffset int64
	// lastCaughtUp is when the follower last had everything the leader
	// had (Kafka's lastCaughtUpTimeMs).
	lastCaughtUp time.Time
	// lastFetch and lastFetchLEO are the time of the previous fetch and
	// the leader's log end then: a fetch reaching that log end was
	// caught up at that time even if the leader appended since.
	lastFetch    time.Time
	lastFetchLEO int64
}

// IsLeader reports whether this replica leads the partition.
func (p *Partition) IsLeader() bool { return p.leading.Load() }

// Metadata is the partition state last applied.
func (p *Partition) Metadata() Metadata {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rs.meta.clone()
}

// ISR is the committed in-sync replica set last applied.
func (p *Partition) ISR() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.rs.meta.ISR)
}

// ApplyMetadata brings the replica in line with the metadata image: it
// leads if m.Leader is this node, follows if it is one of the replicas,
// and otherwise does neither. Applying the same state again does nothing.
//
// Becoming leader (or a new leader epoch) starts the epoch at the log end,
// forgets what the followers had fetched (they must fetch again in the
// new epoch) and counts the ISR members as caught up now, so none is
// dropped before it had a chance to fetch. The high watermark is kept.
// Losing leadership wakes every acks=all wait, which then fails with
// ErrNotLeader.
func (p *Partition) ApplyMetadata(m Metadata) {
	p.appendMu.Lock() // no produce is between its leader check and its append
	defer p.appendMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	rs := &p.rs
	if rs.meta.equal(m) {
		return
	}
	newRole := roleNone
	switch {
	case m.Leader == p.opts.NodeID:
		newRole = roleLeader
	case slices.Contains(m.Replicas, p.opts.NodeID) || slices.Contains(m.Adding, p.opts.NodeID):
		newRole = roleFollower
	}
	epochChanged := newRole != rs.role || m.LeaderEpoch != rs.meta.LeaderEpoch
	if !rs.applied {
		rs.applied = true
		if len(m.Replicas)+len(m.Adding) > 1 {
			// New took the log end as the high watermark, which holds
			// for a single replica only. What the other replicas have is
			// known only up to the watermark checkpointed before the
			// restart (storage caps it at the log end); without one,
			// start from the log start. From there a follower learns
			// the leader's watermark on its first fetch, and a leader
			// advances it only once every ISR member has fetched in
			// this epoch (updateHighWatermarkLocked), never lowers it.
			from := max(p.log.LogStartOffset(), p.log.CheckpointedHighWatermark())
			p.hwm.Store(min(p.hwm.Load(), from))
			p.log.SetHighWatermark(p.hwm.Load())
		}
	}
	m = m.clone()
	rs.meta, rs.role = m, newRole
	p.leaderEpoch.Store(m.LeaderEpoch)
	p.leading.Store(newRole == roleLeader)
	// Whatever was in flight is answered by this state (or superseded).
	rs.isrInFlight, rs.pendingAdd = false, nil
	rs.isrGen++

	if newRole != roleLeader {
		rs.followers = nil
		p.notify(false)
		return
	}
	now := p.opts.Now()
	if epochChanged {
		rs.epochStart = p.log.LogEndOffset()
		rs.followers = nil
	}
	old := rs.followers
	rs.followers = make(map[int32]*followerState)
	for _, id := range slices.Concat(m.Replicas, m.Adding) {
		if id == p.opts.NodeID {
			continue
		}
		if f, ok := old[id]; ok {
			rs.followers[id] = f
			continue
		}
		f := &followerState{fetchOffset: -1, lastFetchLEO: -1}
		if slices.Contains(m.ISR, id) {
			f.lastCaughtUp = now
		}
		rs.followers[id] = f
	}
	// A smaller ISR may let the high watermark advance; a role change
	// must wake the waits of the previous epoch.
	p.updateHighWatermarkLocked()
	if epochChanged {
		p.notify(false)
	}
}
