package controller

import (
	"errors"
	"testing"
)

func TestElectApply(t *testing.T) {
	tests := []struct {
		name    string
		brokers string
		typ     ElectionType
		p       Partition
		err     error
		leader  int32
		isr     []int32
	}{
		{name: "preferred moves leadership back", brokers: "1 2", typ: ElectPreferred,
			p: part(2, ids(1, 2), ids(2, 1)), leader: 1, isr: ids(2, 1)},
		{name: "preferred already leads", brokers: "1 2", typ: ElectPreferred,
			p: part(1, ids(1, 2), ids(1, 2)), err: ErrElectionNotNeeded},
		{name: "preferred out of sync", brokers: "1 2", typ: ElectPreferred,
			p: part(2, ids(1, 2), ids(2)), err: ErrPreferredLeaderNotAvailable},
		{name: "preferred fenced", brokers: "1f 2", typ: ElectPreferred,
			p: part(2, ids(1, 2), ids(2, 1)), err: ErrPreferredLeaderNotAvailable},
		{name: "preferred shutting down", brokers: "1s 2", typ: ElectPreferred,
			p: part(2, ids(1, 2), ids(2, 1)), err: ErrPreferredLeaderNotAvailable},
		{name: "unclean picks first eligible replica", brokers: "1f 2f 3", typ: ElectUnclean,
			p: part(-1, ids(1, 2, 3), ids(1)), leader: 3, isr: ids(3)},
		{name: "unclean prefers an eligible ISR member", brokers: "1 2 3", typ: ElectUnclean,
			p: part(-1, ids(1, 2, 3), ids(2)), leader: 2, isr: ids(2)},
		{name: "unclean with a leader", brokers: "1 2", typ: ElectUnclean,
			p: part(2, ids(1, 2), ids(2)), err: ErrElectionNotNeeded},
		{name: "unclean with no eligible replica", brokers: "1f 2s", typ: ElectUnclean,
			p: part(-1, ids(1, 2), ids(1)), err: ErrEligibleLeadersNotAvailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := testBuilder(t, tt.brokers, false, tt.p)
			res := (&electLeadersCmd{Type: tt.typ, Parts: []partitionID{{TopicID: testTopicID}}}).apply(b, 2)
			if len(res.Errs) != 1 {
				t.Fatalf("apply = %+v", res)
			}
			if tt.err != nil {
				if !errors.Is(res.Errs[0], tt.err) {
					t.Fatalf("err = %v, want %v", res.Errs[0], tt.err)
				}
				checkPart(t, b, 0, tt.p.Leader, tt.p.ISR, 0, 0)
				return
			}
			if res.Errs[0] != nil {
				t.Fatal(res.Errs[0])
			}
			checkPart(t, b, 0, tt.leader, tt.isr, 1, 1)
		})
	}
}

func TestElectApplyUnknownPartition(t *testing.T) {
	b := testBuilder(t, "1", false, part(1, ids(1), ids(1)))
	res := (&electLeadersCmd{Type: ElectPreferred, Parts: []partitionID{
		{TopicID: testTopicID, Partition: 1}, {TopicID: uuid{9}}}}).apply(b, 2)
	for i, err := range res.Errs {
		if !errors.Is(err, ErrUnknownTopic) {
			t.Errorf("item %d: err = %v, want ErrUnknownTopic", i, err)
		}
	}
}

func TestElectionCandidates(t *testing.T) {
	b := testBuilder(t, "1 2 3f", false,
		part(2, ids(1, 2), ids(1, 2)), // 0: preferred candidate
		part(1, ids(1, 2), ids(1, 2)), // 1: balanced
		part(2, ids(3, 2), ids(3, 2)), // 2: preferred fenced
		part(-1, ids(3), ids(3)),      // 3: offline
	)
	img := b.build(2)
	got := electionCandidates(img, ElectPreferred)
	if len(got) != 1 || got[0] != (PartitionRef{Topic: "t", Partition: 0}) {
		t.Errorf("preferred candidates = %v", got)
	}
	got = electionCandidates(img, ElectUnclean)
	if len(got) != 1 || got[0] != (PartitionRef{Topic: "t", Partition: 3}) {
		t.Errorf("unclean candidates = %v", got)
	}
}

// startLiveBroker starts a single node with broker 1 registered and
// unfenced.
func startLiveBroker(t *testing.T) *Controller {
	t.Helper()
	c := start(t, singleConfig(t.TempDir()))
	registerLive(t, c, brokerReg(1))
	return c
}

func TestElectLeadersSingleNode(t *testing.T) {
	c := startLiveBroker(t)
	if err := createOne(t, c, TopicSpec{Name: "e", NumPartitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	got := c.ElectLeaders(ctx, ElectPreferred, []PartitionRef{{"e", 0}, {"e", 5}, {"nope", 0}})
	if len(got) != 3 || !errors.Is(got[PartitionRef{"e", 0}], ErrElectionNotNeeded) ||
		!errors.Is(got[PartitionRef{"e", 5}], ErrUnknownTopic) || !errors.Is(got[PartitionRef{"nope", 0}], ErrUnknownTopic) {
		t.Errorf("ElectLeaders = %v", got)
	}
	// All partitions: nothing to elect, so nothing is reported.
	for _, typ := range []ElectionType{ElectPreferred, ElectUnclean} {
		if got := c.ElectLeaders(ctx, typ, nil); len(got) != 0 {
			t.Errorf("ElectLeaders(%d, all) = %v, want empty", typ, got)
		}
	}
}
