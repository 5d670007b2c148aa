package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Partition state transitions. Every function here works on the builder,
// so a transition is part of applying one command and is deterministic:
// it depends only on the image being built. The rules follow Kafka's KRaft
// controller:
//
//   - A broker is eligible (may lead, may join an ISR) when it is
//     registered, unfenced and not in controlled shutdown.
//   - A leader is chosen as the first replica, in Replicas order, that is
//     in the ISR and eligible. Replicas order is the preference order, so
//     leadership returns to the preferred replica whenever it can.
//   - LeaderEpoch grows whenever the leader changes (including to and from
//     -1, offline); PartitionEpoch grows on every change of leader, ISR or
//     replicas, so a partition leader's ISR proposal based on an older
//     state is recognisably stale.

// Errors of partition state changes.
var (
	// ErrFencedLeaderEpoch means an AlterPartition came from a broker that
	// is not the partition's leader at the given leader epoch (a deposed
	// leader, or one that has not yet seen its own election).
	ErrFencedLeaderEpoch = errors.New("fenced leader epoch")

	// ErrInvalidUpdateVersion means an AlterPartition was based on a stale
	// partition epoch: the partition changed since the leader last saw it.
	ErrInvalidUpdateVersion = errors.New("invalid partition update version")

	// ErrIneligibleReplica means an AlterPartition tried to add a replica
	// to the ISR that is fenced, shutting down or not registered.
	ErrIneligibleReplica = errors.New("ineligible replica")
)

// uncleanLeaderElectionConfig is the topic config that lets an out-of-sync
// replica lead rather than leave a partition offline (risking data loss).
const uncleanLeaderElectionConfig = "unclean.leader.election.enable"

// eligible reports whether broker id may lead or join an ISR.
func (b *builder) eligible(id int32) bool {
	br, ok := b.broker(id)
	return ok && !br.Fenced && !br.InControlledShutdown
}

func uncleanAllowed(t *Topic) bool { return t.Configs[uncleanLeaderElectionConfig] == "true" }

// cleanLeader returns the first replica in Replicas order that is in the
// ISR, eligible and not except; -1 if there is none.
func (b *builder) cleanLeader(p *Partition, except int32) int32 {
	for _, r := range p.Replicas {
		if r != except && slices.Contains(p.ISR, r) && b.eligible(r) {
			return r
		}
	}
	return -1
}

// uncleanLeader returns the first eligible replica other than except, in
// Replicas order, whether in sync or not; -1 if there is none.
func (b *builder) uncleanLeader(p *Partition, except int32) int32 {
	for _, r := range p.Replicas {
		if r != except && b.eligible(r) {
			return r
		}
	}
	return -1
}

// setLeader changes p's leader, bumping LeaderEpoch if it differs.
func setLeader(p *Partition, leader int32) {
	if p.Leader != leader {
		p.Leader = leader
		p.LeaderEpoch++
	}
}

// electAway moves p's leadership to the clean choice excluding except, or
// (when unclean is true and no ISR member qualifies) to any eligible
// replica, which then forms the ISR alone. With neither, p goes offline.
func (b *builder) electAway(p *Partition, except int32, unclean bool) {
	if l := b.cleanLeader(p, except); l >= 0 {
		setLeader(p, l)
		return
	}
	if unclean {
		if l := b.uncleanLeader(p, except); l >= 0 {
			setLeader(p, l)
			p.ISR = []int32{l}
			return
		}
	}
	setLeader(p, -1)
}

// without returns s minus x, as a new slice (s may be shared with a
// published image and is never modified).
func without(s []int32, x int32) []int32 {
	out := make([]int32, 0, len(s))
	for _, v := range s {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// partitionsChanged reports whether two states of one partition differ in
// anything PartitionEpoch versions.
func partitionsChanged(a, b *Partition) bool {
	return a.Leader != b.Leader || !slices.Equal(a.ISR, b.ISR) || !slices.Equal(a.Replicas, b.Replicas) ||
		!slices.Equal(a.AddingReplicas, b.AddingReplicas) || !slices.Equal(a.RemovingReplicas, b.RemovingReplicas)
}

// updatePartitions runs fn on every partition and stores the ones it
// changed, bumping their PartitionEpoch. fn gets a copy whose slices are
// still shared with the old state: it must replace them, never write into
// them. Topics are visited in any order, which is fine because fn may only
// look at its own partition and the brokers, which do not change here.
func (b *builder) updatePartitions(fn func(t *Topic, p *Partition)) {
	for _, t := range b.next.topics {
		var parts []Partition // copied on the topic's first change
		for i := range t.Partitions {
			old := &t.Partitions[i]
			np := *old
			fn(t, &np)
			if !partitionsChanged(old, &np) {
				continue
			}
			np.PartitionEpoch++
			if parts == nil {
				parts = slices.Clone(t.Partitions)
			}
			parts[i] = np
		}
		if parts != nil {
			next := *t
			next.Partitions = parts
			b.putTopic(&next)
		}
	}
}

// setPartition stores one changed partition of t (looked up by id, since
// t may be an earlier copy), bumping PartitionEpoch when it changed.
func (b *builder) setPartition(t *Topic, np Partition) Partition {
	cur := b.topicByID(t.ID)
	old := &cur.Partitions[np.Index]
	if !partitionsChanged(old, &np) {
		return *old
	}
	np.PartitionEpoch = old.PartitionEpoch + 1
	next := *cur
	next.Partitions = slices.Clone(cur.Partitions)
	next.Partitions[np.Index] = np
	b.putTopic(&next)
	return np
}

// fencePartitions applies the fencing of broker (already marked fenced,
// or re-registered with a new incarnation) to the partitions: it leaves
// every ISR, except where it is the last member (a later unfence can then
// bring the partition back with no data loss), and partitions it led get
// a new leader from the remaining ISR, or go offline, or with unclean
// leader election enabled are led by any eligible replica.
func (b *builder) fencePartitions(broker int32) {
	b.updatePartitions(func(t *Topic, p *Partition) {
		inISR := slices.Contains(p.ISR, broker)
		if !inISR && p.Leader != broker {
			return
		}
		if inISR && len(p.ISR) > 1 {
			p.ISR = without(p.ISR, broker)
		}
		if p.Leader == broker {
			b.electAway(p, broker, uncleanAllowed(t))
		}
	})
}

// unfencePartitions brings offline partitions back when broker (already
// unfenced) can lead them: those whose ISR contains it, and with unclean
// leader election enabled those it is a replica of (it then forms the ISR
// alone).
func (b *builder) unfencePartitions(broker int32) {
	b.updatePartitions(func(t *Topic, p *Partition) {
		if p.Leader != -1 || !slices.Contains(p.Replicas, broker) {
			return
		}
		if l := b.cleanLeader(p, -1); l >= 0 {
			setLeader(p, l)
			return
		}
		if uncleanAllowed(t) && b.eligible(broker) {
			setLeader(p, broker)
			p.ISR = []int32{broker}
		}
	})
}

// shutdownPartitions applies the start of broker's controlled shutdown
// (already marked InControlledShutdown): leadership moves to another
// eligible ISR member where there is one, and broker leaves every ISR it
// does not still lead, though never the last member.
func (b *builder) shutdownPartitions(broker int32) {
	b.updatePartitions(func(_ *Topic, p *Partition) {
		if p.Leader == broker {
			if l := b.cleanLeader(p, broker); l >= 0 {
				setLeader(p, l)
			}
		}
		if p.Leader != broker && len(p.ISR) > 1 && slices.Contains(p.ISR, broker) {
			p.ISR = without(p.ISR, broker)
		}
	})
}

// ledByBrokerMovable counts the partitions broker leads that another
// eligible ISR member could lead: a broker in controlled shutdown is ready
// to stop when this is zero.
func (b *builder) ledByBrokerMovable(broker int32) int {
	n := 0
	for _, t := range b.next.topics {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if p.Leader == broker && b.cleanLeader(p, broker) >= 0 {
				n++
			}
		}
	}
	return n
}

// newPartition is a partition as created. The first replica leads if it
// is eligible, else the first eligible one, else none (-1, until one is
// unfenced). The ISR is the eligible replicas, since there is no data yet
// for them to lack; with none eligible it is all replicas, so that any of
// them can lead once unfenced. Epochs start at 0.
func (b *builder) newPartition(index int32, replicas []int32) Partition {
	p := Partition{Index: index, Leader: -1, Replicas: slices.Clone(replicas)}
	for _, r := range replicas {
		if b.eligible(r) {
			p.ISR = append(p.ISR, r)
		}
	}
	if len(p.ISR) == 0 {
		p.ISR = slices.Clone(replicas)
	} else {
		p.Leader = p.ISR[0]
	}
	return p
}

// AlterPartitionRequest is a partition leader's proposal of a new ISR,
// based on the partition state it last saw.
type AlterPartitionRequest struct {
	TopicID        [16]byte
	Partition      int32
	LeaderID       int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// AlterPartition proposes an ISR change on behalf of a partition leader
// and returns the partition state that resulted. Stale proposals fail with
// ErrFencedLeaderEpoch (wrong leader or leader epoch) or
// ErrInvalidUpdateVersion (wrong partition epoch); the leader should then
// wait for the metadata that superseded its view.
func (c *Controller) AlterPartition(ctx context.Context, req AlterPartitionRequest) (Partition, error) {
	cmd := &alterPartitionCmd{TopicID: req.TopicID, Partition: req.Partition, LeaderID: req.LeaderID,
		LeaderEpoch: req.LeaderEpoch, PartitionEpoch: req.PartitionEpoch, ISR: slices.Clone(req.ISR)}
	res, err := c.submit(ctx, cmd, false)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return Partition{}, err
	}
	if res.Partition != nil {
		return *res.Partition, nil
	}
	// Forwarded: the leader's reply does not carry the partition, but
	// submit waited until the local image includes the change, so the
	// local state is that change or a later one.
	t := c.Image().TopicByID(req.TopicID)
	if t == nil || int(req.Partition) >= len(t.Partitions) {
		return Partition{}, fmt.Errorf("%w: %s (deleted after the ISR change)", ErrUnknownTopicID, uuidString(req.TopicID))
	}
	return t.Partitions[req.Partition], nil
}

// alterPartitionCmd is an AlterPartitionRequest in the log.
type alterPartitionCmd struct {
	TopicID        uuid    `json:"topic_id"`
	Partition      int32   `json:"partition"`
	LeaderID       int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	ISR            []int32 `json:"isr"`
}

func (*alterPartitionCmd) kind() commandType { return cmdAlterPartition }

func (c *alterPartitionCmd) apply(b *builder, _ uint64) applyResult {
	t := b.topicByID([16]byte(c.TopicID))
	if t == nil {
		return applyResult{Err: fmt.Errorf("%w: %s", ErrUnknownTopicID, uuidString(c.TopicID))}
	}
	if c.Partition < 0 || int(c.Partition) >= len(t.Partitions) {
		return applyResult{Err: fmt.Errorf("%w: topic %q has no partition %d", ErrUnknownTopic, t.Name, c.Partition)}
	}
	p := t.Partitions[c.Partition]
	if p.Leader != c.LeaderID || p.LeaderEpoch != c.LeaderEpoch {
		return applyResult{Err: fmt.Errorf("%w: %s-%d is led by %d at epoch %d, not by %d at epoch %d",
			ErrFencedLeaderEpoch, t.Name, p.Index, p.Leader, p.LeaderEpoch, c.LeaderID, c.LeaderEpoch)}
	}
	if p.PartitionEpoch != c.PartitionEpoch {
		return applyResult{Err: fmt.Errorf("%w: %s-%d is at partition epoch %d, the change was based on %d",
			ErrInvalidUpdateVersion, t.Name, p.Index, p.PartitionEpoch, c.PartitionEpoch)}
	}
	if err := checkISR(b, t, &p, c.ISR); err != nil {
		return applyResult{Err: err}
	}
	if sameMembers(p.ISR, c.ISR) {
		return applyResult{Partition: &p} // nothing to change
	}
	np := p
	np.ISR = slices.Clone(c.ISR)
	if len(np.AddingReplicas) > 0 || len(np.RemovingReplicas) > 0 {
		b.maybeCompleteReassignment(&np)
	}
	if !b.eligible(np.Leader) {
		// The leader is shutting down and a new member can take over.
		if l := b.cleanLeader(&np, np.Leader); l >= 0 {
			setLeader(&np, l)
		}
	}
	np = b.setPartition(t, np)
	return applyResult{Partition: &np}
}

// checkISR validates a proposed ISR for p: it must hold the leader, only
// replicas, no duplicates, and add only eligible brokers.
func checkISR(b *builder, t *Topic, p *Partition, isr []int32) error {
	if !slices.Contains(isr, p.Leader) {
		return fmt.Errorf("%w: proposed ISR %v of %s-%d does not contain the leader %d",
			ErrInvalidReplicaAssignment, isr, t.Name, p.Index, p.Leader)
	}
	for i, r := range isr {
		if slices.Contains(isr[:i], r) {
			return fmt.Errorf("%w: proposed ISR %v of %s-%d lists %d twice", ErrInvalidReplicaAssignment, isr, t.Name, p.Index, r)
		}
		if !slices.Contains(p.Replicas, r) {
			return fmt.Errorf("%w: proposed ISR %v of %s-%d names %d, which is not a replica",
				ErrInvalidReplicaAssignment, isr, t.Name, p.Index, r)
		}
		if !slices.Contains(p.ISR, r) && !b.eligible(r) {
			return fmt.Errorf("%w: broker %d cannot join the ISR of %s-%d: it is fenced, shutting down or unregistered",
				ErrIneligibleReplica, r, t.Name, p.Index)
		}
	}
	return nil
}

// sameMembers reports whether a and b hold the same brokers (neither has
// duplicates).
func sameMembers(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
