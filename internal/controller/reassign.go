package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Partition reassignment follows Kafka (KIP-455). Starting one sets the
// replica list to the target followed by the original replicas that are
// not in it, and records which replicas are being added and removed. The
// new replicas then catch up as followers outside the ISR; once the
// partition leader has added every one of them to the ISR (AlterPartition)
// the reassignment completes: the removed replicas leave, and leadership
// moves into the target if it was outside. Nothing stops serving while it
// runs, and a reassignment can be replaced by another or cancelled.

// ErrNoReassignmentInProgress means a cancel found no reassignment of the
// partition to cancel.
var ErrNoReassignmentInProgress = errors.New("no reassignment in progress")

// Reassignment asks for one partition's replicas to become Replicas (the
// preferred leader first); nil Replicas cancels the partition's
// reassignment in progress.
type Reassignment struct {
	Topic     string
	Partition int32
	Replicas  []int32
}

// PartitionReassignment is a reassignment in progress, as listed by
// ListPartitionReassignments.
type PartitionReassignment struct {
	Topic     string
	Partition int32
	// Replicas is the current replica list: the target, then the replicas
	// being removed.
	Replicas []int32
	Adding   []int32
	Removing []int32
}

// Reassignments lists the reassignments in progress, ordered by topic
// and partition. The slices are shared with the image and must not be
// modified.
func (img *Image) Reassignments() []PartitionReassignment {
	var out []PartitionReassignment
	for _, t := range img.sorted {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if p.Reassigning() {
				out = append(out, PartitionReassignment{Topic: t.Name, Partition: p.Index,
					Replicas: p.Replicas, Adding: p.AddingReplicas, Removing: p.RemovingReplicas})
			}
		}
	}
	return out
}

// AlterReassignments starts, replaces or cancels reassignments, returning
// one result per item. All items are committed as one log entry, each
// accepted or rejected on its own.
func (c *Controller) AlterReassignments(ctx context.Context, rs []Reassignment) []error {
	errs := make([]error, len(rs))
	if c.isClosed() {
		return fill(errs, ErrClosed)
	}
	img := c.Image()
	cmd := &reassignCmd{}
	var pos []int
	for i, r := range rs {
		t := img.Topic(r.Topic)
		if t == nil || r.Partition < 0 || int(r.Partition) >= len(t.Partitions) {
			errs[i] = fmt.Errorf("%w: %s-%d", ErrUnknownTopic, r.Topic, r.Partition)
			continue
		}
		cmd.Items = append(cmd.Items, reassignItem{TopicID: t.ID, Partition: r.Partition,
			Cancel: r.Replicas == nil, Replicas: slices.Clone(r.Replicas)})
		pos = append(pos, i)
	}
	if len(cmd.Items) == 0 {
		return errs
	}
	res, err := c.submit(ctx, cmd, false)
	for j, i := range pos {
		errs[i] = itemResult(res, err, j)
	}
	return errs
}

// reassignCmd starts, replaces or cancels partition reassignments.
type reassignCmd struct {
	Items []reassignItem `json:"items"`
}

type reassignItem struct {
	TopicID   uuid    `json:"topic_id"`
	Partition int32   `json:"partition"`
	Cancel    bool    `json:"cancel,omitempty"`
	Replicas  []int32 `json:"replicas,omitempty"`
}

func (*reassignCmd) kind() commandType { return cmdReassignPartitions }

func (c *reassignCmd) apply(b *builder, _ uint64) applyResult {
	errs := make([]error, len(c.Items))
	for i, it := range c.Items {
		t := b.topicByID([16]byte(it.TopicID))
		if t == nil || it.Partition < 0 || int(it.Partition) >= len(t.Partitions) {
			errs[i] = fmt.Errorf("%w: %s partition %d", ErrUnknownTopic, uuidString(it.TopicID), it.Partition)
			continue
		}
		p := t.Partitions[it.Partition]
		var err error
		if it.Cancel {
			err = b.cancelReassignment(t, &p)
		} else {
			err = b.startReassignment(t, &p, it.Replicas)
		}
		if err != nil {
			errs[i] = err
			continue
		}
		b.setPartition(t, p)
	}
	return applyResult{Errs: errs}
}

// originalReplicas is p's replica list before its reassignment in
// progress (all of it when there is none).
func originalReplicas(p *Partition) []int32 {
	return minus(p.Replicas, p.AddingReplicas)
}

// minus returns the members of a not in b, in a's order, as a new slice.
func minus(a, b []int32) []int32 {
	out := make([]int32, 0, len(a))
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// intersect returns the members of a that are in b, in a's order.
func intersect(a, b []int32) []int32 {
	out := make([]int32, 0, len(a))
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// startReassignment moves p towards target. A reassignment already in
// progress is replaced: the new one starts from the original replicas, and
// replicas the earlier target added that the new one does not want leave.
func (b *builder) startReassignment(t *Topic, p *Partition, target []int32) error {
	if err := checkTarget(b, t, p, target); err != nil {
		return err
	}
	orig := originalReplicas(p)
	replicas := append(slices.Clone(target), minus(orig, target)...)
	isr := intersect(p.ISR, replicas)
	if len(isr) == 0 {
		return fmt.Errorf("%w: %s-%d: the new replicas %v would leave no in-sync replica (ISR %v)",
			ErrInvalidReplicaAssignment, t.Name, p.Index, target, p.ISR)
	}
	p.Replicas, p.ISR = replicas, isr
	p.AddingReplicas = nilIfEmpty(minus(target, orig))
	p.RemovingReplicas = nilIfEmpty(minus(orig, target))
	if !slices.Contains(p.ISR, p.Leader) {
		setLeader(p, b.cleanLeader(p, -1))
	}
	b.maybeCompleteReassignment(p)
	return nil
}

// checkTarget validates a reassignment target: non-empty, without
// duplicates, naming only registered brokers (fenced ones are allowed:
// they catch up once unfenced).
func checkTarget(b *builder, t *Topic, p *Partition, target []int32) error {
	if len(target) == 0 {
		return fmt.Errorf("%w: %s-%d: empty replica list", ErrInvalidReplicaAssignment, t.Name, p.Index)
	}
	for i, id := range target {
		if slices.Contains(target[:i], id) {
			return fmt.Errorf("%w: %s-%d: broker %d is listed twice", ErrInvalidReplicaAssignment, t.Name, p.Index, id)
		}
		if _, ok := b.broker(id); !ok {
			return fmt.Errorf("%w: %s-%d: broker %d is not registered", ErrInvalidReplicaAssignment, t.Name, p.Index, id)
		}
	}
	return nil
}

// maybeCompleteReassignment completes p's reassignment if every adding
// replica is in the ISR, and the target keeps at least one in-sync
// replica (it may not if the target only drops replicas and those left
// have fallen out of sync; it then waits for one to catch up).
func (b *builder) maybeCompleteReassignment(p *Partition) {
	if !p.Reassigning() {
		return
	}
	for _, r := range p.AddingReplicas {
		if !slices.Contains(p.ISR, r) {
			return
		}
	}
	target := minus(p.Replicas, p.RemovingReplicas)
	isr := intersect(p.ISR, target)
	if len(isr) == 0 {
		return
	}
	p.Replicas, p.ISR = target, isr
	p.AddingReplicas, p.RemovingReplicas = nil, nil
	if !slices.Contains(p.ISR, p.Leader) {
		setLeader(p, b.cleanLeader(p, -1))
	}
}

// cancelReassignment returns p to its original replicas. It fails when
// none of them is in sync, since the data then lives only on replicas the
// cancel would drop.
func (b *builder) cancelReassignment(t *Topic, p *Partition) error {
	if !p.Reassigning() {
		return fmt.Errorf("%w: %s-%d", ErrNoReassignmentInProgress, t.Name, p.Index)
	}
	orig := originalReplicas(p)
	isr := intersect(p.ISR, orig)
	if len(isr) == 0 {
		return fmt.Errorf("%w: %s-%d: no original replica is in sync (ISR %v), so cancelling would lose data",
			ErrInvalidReplicaAssignment, t.Name, p.Index, p.ISR)
	}
	p.Replicas, p.ISR = orig, isr
	p.AddingReplicas, p.RemovingReplicas = nil, nil
	if !slices.Contains(p.ISR, p.Leader) {
		setLeader(p, b.cleanLeader(p, -1))
	}
	return nil
}

// nilIfEmpty keeps "no reassignment" a nil slice, so that images compare
// equal however they were built.
func nilIfEmpty(s []int32) []int32 {
	if len(s) == 0 {
		return nil
	}
	return s
}
