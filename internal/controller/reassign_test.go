package controller

import (
	"errors"
	"slices"
	"testing"
)

// reassign applies one reassignment item to partition 0 of "t".
func reassign(b *builder, replicas []int32, cancel bool) error {
	res := (&reassignCmd{Items: []reassignItem{{TopicID: testTopicID, Replicas: replicas, Cancel: cancel}}}).apply(b, 2)
	return res.Errs[0]
}

func checkReassign(t *testing.T, b *builder, replicas, adding, removing []int32) {
	t.Helper()
	p := b.topic("t").Partitions[0]
	if !slices.Equal(p.Replicas, replicas) || !slices.Equal(p.AddingReplicas, adding) || !slices.Equal(p.RemovingReplicas, removing) {
		t.Errorf("replicas %v adding %v removing %v; want %v %v %v",
			p.Replicas, p.AddingReplicas, p.RemovingReplicas, replicas, adding, removing)
	}
}

func TestReassignmentCompletesThroughAlterPartition(t *testing.T) {
	b := testBuilder(t, "1 2 3", false, part(1, ids(1, 2), ids(1, 2)))
	if err := reassign(b, ids(2, 3), false); err != nil {
		t.Fatal(err)
	}
	checkReassign(t, b, ids(2, 3, 1), ids(3), ids(1))
	checkPart(t, b, 0, 1, ids(1, 2), 0, 1)
	if got := b.build(3).Reassignments(); len(got) != 1 || got[0].Topic != "t" || !slices.Equal(got[0].Adding, ids(3)) {
		t.Errorf("Reassignments() = %+v", got)
	}

	// The leader (1, being removed) adds 3 to the ISR: that completes the
	// reassignment, and leadership moves into the target.
	res := (&alterPartitionCmd{TopicID: testTopicID, LeaderID: 1, LeaderEpoch: 5, PartitionEpoch: 10, ISR: ids(1, 2, 3)}).apply(b, 3)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	checkReassign(t, b, ids(2, 3), nil, nil)
	checkPart(t, b, 0, 2, ids(2, 3), 1, 2)
	if got := b.build(4).Reassignments(); len(got) != 0 {
		t.Errorf("Reassignments() after completion = %+v", got)
	}
}

func TestReassignmentEdgeCases(t *testing.T) {
	t.Run("subset completes at once", func(t *testing.T) {
		b := testBuilder(t, "1 2", false, part(1, ids(1, 2), ids(1, 2)))
		if err := reassign(b, ids(2), false); err != nil {
			t.Fatal(err)
		}
		checkReassign(t, b, ids(2), nil, nil)
		checkPart(t, b, 0, 2, ids(2), 1, 1)
	})
	t.Run("reorder only", func(t *testing.T) {
		b := testBuilder(t, "1 2", false, part(1, ids(1, 2), ids(1, 2)))
		if err := reassign(b, ids(2, 1), false); err != nil {
			t.Fatal(err)
		}
		checkReassign(t, b, ids(2, 1), nil, nil)
		checkPart(t, b, 0, 1, ids(1, 2), 0, 1)
	})
	t.Run("target with no in-sync replica waits", func(t *testing.T) {
		b := testBuilder(t, "1 2", false, part(1, ids(1, 2), ids(1)))
		if err := reassign(b, ids(2), false); err != nil {
			t.Fatal(err)
		}
		checkReassign(t, b, ids(2, 1), nil, ids(1))
		checkPart(t, b, 0, 1, ids(1), 0, 1)
		// 2 catches up: the reassignment completes and 2 leads.
		res := (&alterPartitionCmd{TopicID: testTopicID, LeaderID: 1, LeaderEpoch: 5, PartitionEpoch: 10, ISR: ids(1, 2)}).apply(b, 3)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		checkReassign(t, b, ids(2), nil, nil)
		checkPart(t, b, 0, 2, ids(2), 1, 2)
	})
	t.Run("replacing a reassignment starts from the original replicas", func(t *testing.T) {
		b := testBuilder(t, "1 2 3 4", false, part(1, ids(1, 2), ids(1, 2)))
		if err := reassign(b, ids(2, 3), false); err != nil {
			t.Fatal(err)
		}
		if err := reassign(b, ids(4, 1), false); err != nil {
			t.Fatal(err)
		}
		checkReassign(t, b, ids(4, 1, 2), ids(4), ids(2))
		checkPart(t, b, 0, 1, ids(1, 2), 0, 2)
	})
	t.Run("cancel restores the original replicas", func(t *testing.T) {
		b := testBuilder(t, "1 2 3", false, part(1, ids(1, 2), ids(1, 2)))
		if err := reassign(b, ids(3, 2), false); err != nil {
			t.Fatal(err)
		}
		checkReassign(t, b, ids(3, 2, 1), ids(3), ids(1))
		if err := reassign(b, nil, true); err != nil {
			t.Fatal(err)
		}
		checkReassign(t, b, ids(2, 1), nil, nil)
		checkPart(t, b, 0, 1, ids(1, 2), 0, 2)
	})
	t.Run("cancel drops an adding replica from the ISR", func(t *testing.T) {
		b := testBuilder(t, "1 2 3", false, Partition{Leader: 3, LeaderEpoch: 5, PartitionEpoch: 9,
			Replicas: ids(3, 1, 2), ISR: ids(3, 1), AddingReplicas: ids(3)})
		if err := reassign(b, nil, true); err != nil {
			t.Fatal(err)
		}
		checkReassign(t, b, ids(1, 2), nil, nil)
		checkPart(t, b, 0, 1, ids(1), 1, 1)
	})
	t.Run("cancel refused when no original replica is in sync", func(t *testing.T) {
		b := testBuilder(t, "1 2 3", false, Partition{Leader: 3, LeaderEpoch: 5, PartitionEpoch: 9,
			Replicas: ids(3, 1), ISR: ids(3), AddingReplicas: ids(3)})
		if err := reassign(b, nil, true); !errors.Is(err, ErrInvalidReplicaAssignment) {
			t.Fatalf("err = %v, want ErrInvalidReplicaAssignment", err)
		}
		checkPart(t, b, 0, 3, ids(3), 0, 0)
	})
	t.Run("cancel without reassignment", func(t *testing.T) {
		b := testBuilder(t, "1", false, part(1, ids(1), ids(1)))
		if err := reassign(b, nil, true); !errors.Is(err, ErrNoReassignmentInProgress) {
			t.Fatalf("err = %v, want ErrNoReassignmentInProgress", err)
		}
	})
	for name, target := range map[string][]int32{"empty": {}, "duplicate": ids(1, 1), "unregistered": ids(1, 9)} {
		t.Run("invalid target "+name, func(t *testing.T) {
			b := testBuilder(t, "1", false, part(1, ids(1), ids(1)))
			if err := reassign(b, target, false); !errors.Is(err, ErrInvalidReplicaAssignment) {
				t.Fatalf("err = %v, want ErrInvalidReplicaAssignment", err)
			}
			checkPart(t, b, 0, 1, ids(1), 0, 0)
		})
	}
}

func TestReassignmentSurvivesSnapshot(t *testing.T) {
	b := testBuilder(t, "1 2 3", false, part(1, ids(1, 2), ids(1, 2)))
	if err := reassign(b, ids(2, 3), false); err != nil {
		t.Fatal(err)
	}
	img := b.build(5)
	snap := snapshotOf(img)
	assertSameImage(t, img, snap.image())
}

func TestAlterReassignmentsSingleNode(t *testing.T) {
	c := startLiveBroker(t)
	if err := createOne(t, c, TopicSpec{Name: "r", NumPartitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	errs := c.AlterReassignments(ctx, []Reassignment{
		{Topic: "r", Partition: 0, Replicas: ids(1)},
		{Topic: "r", Partition: 1, Replicas: ids(1)},
		{Topic: "r", Partition: 0, Replicas: ids(2)},
		{Topic: "r", Partition: 0},
	})
	if errs[0] != nil || !errors.Is(errs[1], ErrUnknownTopic) || !errors.Is(errs[2], ErrInvalidReplicaAssignment) ||
		!errors.Is(errs[3], ErrNoReassignmentInProgress) {
		t.Errorf("AlterReassignments = %v", errs)
	}
	if got := c.Image().Reassignments(); len(got) != 0 {
		t.Errorf("Reassignments() = %+v", got)
	}
}
