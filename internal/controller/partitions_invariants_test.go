package controller

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPartitionStateInvariants drives random sequences of fences,
// unfences, controlled shutdowns, ISR changes, elections and
// reassignments over a few partitions and checks, after every step, the
// invariants the rest of the system relies on.
func TestPartitionStateInvariants(t *testing.T) {
	const brokers = 5
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		b := testBuilder(t, "1 2 3 4 5", seed%2 == 0,
			part(1, ids(1, 2, 3), ids(1, 2, 3)),
			part(2, ids(2, 3, 4), ids(2, 3)),
			part(3, ids(3, 5), ids(3)),
			part(4, ids(4), ids(4)),
		)
		prev := b.build(1)
		var history []string
		for step := range 300 {
			id := int32(1 + rng.IntN(brokers))
			br, _ := b.broker(id)
			var what string
			switch rng.IntN(7) {
			case 0:
				what = fmt.Sprintf("fence %d", id)
				if !br.Fenced {
					setState(b, id, true, br.InControlledShutdown)
					b.fencePartitions(id)
				}
			case 1:
				what = fmt.Sprintf("unfence %d", id)
				if br.Fenced || br.InControlledShutdown {
					setState(b, id, false, false)
					b.unfencePartitions(id)
				}
			case 2:
				what = fmt.Sprintf("shutdown %d", id)
				if !br.Fenced && !br.InControlledShutdown {
					setState(b, id, false, true)
					b.shutdownPartitions(id)
				}
			case 3:
				i := rng.IntN(4)
				p := b.topic("t").Partitions[i]
				isr := []int32{p.Leader}
				for _, r := range p.Replicas {
					if r != p.Leader && rng.IntN(2) == 0 {
						isr = append(isr, r)
					}
				}
				what = fmt.Sprintf("alter %d isr %v", i, isr)
				(&alterPartitionCmd{TopicID: testTopicID, Partition: int32(i), LeaderID: p.Leader,
					LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: isr}).apply(b, 2)
			case 4:
				typ := ElectionType(rng.IntN(2))
				what = fmt.Sprintf("elect %d all", typ)
				cmd := &electLeadersCmd{Type: typ}
				for i := range 4 {
					cmd.Parts = append(cmd.Parts, partitionID{TopicID: testTopicID, Partition: int32(i)})
				}
				cmd.apply(b, 2)
			case 5:
				i := rng.IntN(4)
				target := rng.Perm(brokers)[:1+rng.IntN(3)]
				var replicas []int32
				for _, r := range target {
					replicas = append(replicas, int32(r+1))
				}
				what = fmt.Sprintf("reassign %d to %v", i, replicas)
				(&reassignCmd{Items: []reassignItem{{TopicID: testTopicID, Partition: int32(i), Replicas: replicas}}}).apply(b, 2)
			case 6:
				i := rng.IntN(4)
				what = fmt.Sprintf("cancel %d", i)
				(&reassignCmd{Items: []reassignItem{{TopicID: testTopicID, Partition: int32(i), Cancel: true}}}).apply(b, 2)
			}
			history = append(history, what)
			img := b.build(uint64(step + 2))
			if err := checkInvariants(prev, img); err != nil {
				t.Fatalf("seed %d step %d: %v\nhistory: %v", seed, step, err, history)
			}
			prev = img
			b = newBuilder(img)
		}
	}
}

// checkInvariants compares two consecutive images.
func checkInvariants(prev, img *Image) error {
	eligible := func(id int32) bool {
		br, ok := img.Brokers[id]
		return ok && !br.Fenced && !br.InControlledShutdown
	}
	for i, p := range img.Topic("t").Partitions {
		old := prev.Topic("t").Partitions[i]
		switch {
		case len(p.ISR) == 0:
			return fmt.Errorf("partition %d: empty ISR: %+v", i, p)
		case len(p.Replicas) == 0:
			return fmt.Errorf("partition %d: no replicas: %+v", i, p)
		case p.Leader != -1 && !slices.Contains(p.ISR, p.Leader):
			return fmt.Errorf("partition %d: leader outside the ISR: %+v", i, p)
		case p.Leader != -1 && img.Brokers[p.Leader].Fenced:
			return fmt.Errorf("partition %d: fenced leader: %+v", i, p)
		case p.PartitionEpoch < old.PartitionEpoch || p.LeaderEpoch < old.LeaderEpoch:
			return fmt.Errorf("partition %d: epochs went back: %+v after %+v", i, p, old)
		case p.Leader != old.Leader && p.LeaderEpoch == old.LeaderEpoch:
			return fmt.Errorf("partition %d: leader changed without a new leader epoch: %+v after %+v", i, p, old)
		case partitionsChanged(&old, &p) && p.PartitionEpoch == old.PartitionEpoch:
			return fmt.Errorf("partition %d: changed without a new partition epoch: %+v after %+v", i, p, old)
		}
		for j, r := range p.ISR {
			if !slices.Contains(p.Replicas, r) || slices.Contains(p.ISR[:j], r) {
				return fmt.Errorf("partition %d: ISR is not a set of replicas: %+v", i, p)
			}
		}
		for j, r := range p.Replicas {
			if slices.Contains(p.Replicas[:j], r) {
				return fmt.Errorf("partition %d: duplicate replica: %+v", i, p)
			}
		}
		for _, r := range p.AddingReplicas {
			if !slices.Contains(p.Replicas, r) || slices.Contains(p.RemovingReplicas, r) {
				return fmt.Errorf("partition %d: bad adding replicas: %+v", i, p)
			}
		}
		for _, r := range p.RemovingReplicas {
			if !slices.Contains(p.Replicas, r) {
				return fmt.Errorf("partition %d: bad removing replicas: %+v", i, p)
			}
		}
		if p.Leader == -1 {
			for _, r := range p.ISR {
				if eligible(r) {
					return fmt.Errorf("partition %d: offline although ISR member %d could lead: %+v", i, r, p)
				}
			}
		}
	}
	return nil
}
