package testcluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The fault scenarios: each starts a fresh 3-node cluster, creates a topic
// with RF=3 and min.insync.replicas=2, runs a workload through the fault and
// verifies the ledger afterwards. They run one after another (no
// t.Parallel): the machine has two cores and the timings matter.

const (
	healthyTimeout = 40 * time.Second
	// failoverTimeout bounds one failover: session timeout (1.5 s) plus
	// election, metadata propagation and client retries, with lots of slack.
	failoverTimeout = 30 * time.Second
)

// scenario is a running 3-node cluster with a loaded topic.
type scenario struct {
	c     *Cluster
	topic string
	w     *Workload
}

func startScenario(t *testing.T, partitions int32) *scenario {
	t.Helper()
	c := Start(t, Options{Brokers: 3})
	c.WaitHealthy(t, healthyTimeout)
	topic := topicName(t, "load")
	createTopic(t, c, topicSpec{Name: topic, Partitions: partitions, RF: 3,
		Configs: map[string]string{"min.insync.replicas": "2"}})
	c.WaitHealthy(t, healthyTimeout)
	w := c.StartWorkload(t, WorkloadOptions{Topic: topic})
	w.WaitAcked(t, 150, 20*time.Second)
	return &scenario{c: c, topic: topic, w: w}
}

// partitionLedBy returns a partition of topic led by a node for which
// want is true, or partition 0.
func (s *scenario) partitionLedBy(t *testing.T, partitions int32, want func(leader int) bool) (int32, int) {
	t.Helper()
	for p := range partitions {
		if l := s.c.Leader(t, s.topic, p); want(l) {
			return p, l
		}
	}
	return 0, s.c.Leader(t, s.topic, 0)
}

// waitNewLeader waits until some node other than old leads topic/p and
// returns it.
func waitNewLeader(t *testing.T, c *Cluster, topic string, p int32, old int) int {
	t.Helper()
	var leader int
	c.WaitFor(t, failoverTimeout, fmt.Sprintf("a new leader of %s[%d] other than %d", topic, p, old), func(ctx context.Context) (bool, string) {
		st, ok, why := c.partitionState(ctx, topic, p)
		if !ok {
			return false, why
		}
		leader = int(st.Leader)
		return st.Leader >= 0 && leader != old, fmt.Sprintf("leader %d epoch %d ISR %v", st.Leader, st.LeaderEpoch, st.ISR)
	})
	return leader
}

func TestScenarioPartitionLeaderKilled(t *testing.T) {
	s := startScenario(t, 3)
	c := s.c
	ctrl := c.ControllerID(t)
	// A partition whose leader is not the controller, so this is one
	// fault, not two (the controller scenario covers the other).
	p, leader := s.partitionLedBy(t, 3, func(l int) bool { return l != ctrl })
	probe := c.NewProbe(t, s.topic, p)

	killed := time.Now()
	c.Kill(leader)
	failover := probe.Since(t, killed, failoverTimeout)
	t.Logf("FAILOVER partition leader kill -9 (node %d, %s[%d]): first acks=all write after %v",
		leader, s.topic, p, failover.Round(time.Millisecond))
	if nl := waitNewLeader(t, c, s.topic, p, leader); nl == leader {
		t.Fatalf("leader still %d", nl)
	}
	s.w.WaitAcked(t, 200, 20*time.Second)

	c.Restart(leader)
	c.WaitHealthy(t, healthyTimeout) // the restarted broker is back in every ISR
	s.w.WaitAcked(t, 100, 20*time.Second)
	s.w.Verify(t)
}

func TestScenarioControllerKilled(t *testing.T) {
	s := startScenario(t, 3)
	c := s.c
	ctrl := c.ControllerID(t)
	p, leader := s.partitionLedBy(t, 3, func(l int) bool { return l == ctrl })
	probe := c.NewProbe(t, s.topic, p)

	killed := time.Now()
	c.Kill(ctrl)
	var newCtrl int
	c.WaitFor(t, failoverTimeout, "a new metadata quorum leader", func(ctx context.Context) (bool, string) {
		id, err := c.controllerID(ctx)
		if err != nil {
			return false, err.Error()
		}
		newCtrl = id
		return id > 0 && id != ctrl, fmt.Sprintf("leader %d", id)
	})
	t.Logf("FAILOVER controller kill -9 (node %d): new quorum leader %d seen after %v",
		ctrl, newCtrl, time.Since(killed).Round(time.Millisecond))
	failover := probe.Since(t, killed, failoverTimeout)
	t.Logf("FAILOVER controller kill -9: first acks=all write on %s[%d] (led by %d before) after %v",
		s.topic, p, leader, failover.Round(time.Millisecond))

	// The new controller accepts metadata writes.
	createTopic(t, c, topicSpec{Name: topicName(t, "after"), Partitions: 1, RF: 2})
	s.w.WaitAcked(t, 200, 20*time.Second)

	c.Restart(ctrl)
	c.WaitHealthy(t, healthyTimeout)
	s.w.Verify(t)
}

func TestScenarioFollowerPaused(t *testing.T) {
	s := startScenario(t, 3)
	c := s.c
	ctrl := c.ControllerID(t)
	const p = 0
	st := c.Partition(t, s.topic, p)
	follower := -1
	for _, r := range st.Replicas {
		if int(r) != int(st.Leader) && int(r) != ctrl {
			follower = int(r)
			break
		}
	}
	if follower < 0 { // the leader is the controller: any follower
		follower = int(st.Replicas[slices.IndexFunc(st.Replicas, func(r int32) bool { return r != st.Leader })])
	}

	c.Pause(follower)
	paused := time.Now()
	c.WaitFor(t, failoverTimeout, fmt.Sprintf("the ISR of %s[%d] to drop paused node %d", s.topic, p, follower), func(ctx context.Context) (bool, string) {
		st, ok, why := c.partitionState(ctx, s.topic, p)
		if !ok {
			return false, why
		}
		return !slices.Contains(st.ISR, int32(follower)), fmt.Sprintf("ISR %v", st.ISR)
	})
	t.Logf("ISR shrank %v after SIGSTOP of follower %d", time.Since(paused).Round(time.Millisecond), follower)
	s.w.WaitAcked(t, 200, 20*time.Second) // writes continue with 2 of 3 in sync

	c.Resume(follower)
	resumed := time.Now()
	// Ask the partition leader: the resumed node's own metadata is stale
	// until it catches up, and still lists itself in the ISR.
	c.WaitFor(t, healthyTimeout, fmt.Sprintf("node %d back in the ISR of %s[%d]", follower, s.topic, p), func(ctx context.Context) (bool, string) {
		md, err := c.NodeMetadata(ctx, int(st.Leader))
		if err != nil {
			return false, err.Error()
		}
		lp, err := findPartition(md, s.topic, p)
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(lp.ISR, int32(follower)), fmt.Sprintf("ISR %v (leader %d)", lp.ISR, lp.Leader)
	})
	t.Logf("follower %d back in the ISR %v after SIGCONT", follower, time.Since(resumed).Round(time.Millisecond))
	c.WaitHealthy(t, healthyTimeout)
	s.w.Verify(t)
}

func TestScenarioLeaderIsolated(t *testing.T) {
	s := startScenario(t, 3)
	c := s.c
	ctrl := c.ControllerID(t)
	p, leader := s.partitionLedBy(t, 3, func(l int) bool { return l != ctrl })
	probe := c.NewProbe(t, s.topic, p)

	cut := time.Now()
	c.Isolate(leader)
	nl := waitNewLeader(t, c, s.topic, p, leader)
	failover := probe.Since(t, cut, failoverTimeout)
	t.Logf("FAILOVER leader isolated (node %d, %s[%d]): new leader %d, first acks=all write after %v",
		leader, s.topic, p, nl, failover.Round(time.Millisecond))
	s.w.WaitAcked(t, 200, 20*time.Second)

	c.HealAll()
	healed := time.Now()
	c.WaitHealthy(t, healthyTimeout) // the old leader truncated and rejoined
	t.Logf("old leader %d rejoined every ISR %v after HealAll", leader, time.Since(healed).Round(time.Millisecond))
	s.w.Verify(t)
}

func TestScenarioRollingRestart(t *testing.T) {
	s := startScenario(t, 3)
	c := s.c
	for _, id := range c.IDs() {
		start := time.Now()
		c.Stop(id)
		stopped := time.Since(start)
		c.Restart(id)
		c.WaitHealthy(t, healthyTimeout)
		t.Logf("node %d: SIGTERM stop took %v, back and healthy after %v", id,
			stopped.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		s.w.WaitAcked(t, 50, 20*time.Second)
	}
	s.w.Verify(t)
}

func TestScenarioWipedBroker(t *testing.T) {
	s := startScenario(t, 3)
	c := s.c
	ctrl := c.ControllerID(t)
	victim := 1
	for _, id := range c.IDs() {
		if id != ctrl {
			victim = id
			break
		}
	}
	c.Stop(victim)
	c.Wipe(victim)
	s.w.WaitAcked(t, 200, 20*time.Second) // two replicas carry on
	start := time.Now()
	c.Restart(victim)
	c.WaitHealthy(t, healthyTimeout)
	t.Logf("wiped node %d caught up and rejoined every ISR %v after restart", victim, time.Since(start).Round(time.Millisecond))
	s.w.Verify(t)
}

func TestScenarioReassignmentUnderLoad(t *testing.T) {
	c := Start(t, Options{Brokers: 3})
	c.WaitHealthy(t, healthyTimeout)
	rf3 := topicName(t, "rf3")
	rf2 := topicName(t, "rf2")
	createTopic(t, c, topicSpec{Name: rf3, Assignment: [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}},
		Configs: map[string]string{"min.insync.replicas": "2"}})
	createTopic(t, c, topicSpec{Name: rf2, Assignment: [][]int32{{1, 2}, {2, 3}}})
	c.WaitHealthy(t, healthyTimeout)
	w3 := c.StartWorkload(t, WorkloadOptions{Topic: rf3, Producers: 2})
	w2 := c.StartWorkload(t, WorkloadOptions{Topic: rf2, Producers: 2})
	w3.WaitAcked(t, 100, 20*time.Second)
	w2.WaitAcked(t, 100, 20*time.Second)

	adm := c.Admin(t)
	ctx := testContext(t, 60*time.Second)
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(rf3, 0, []int32{2, 3, 1}) // same replicas, new preferred leader
	req.Assign(rf2, 0, []int32{3, 1})    // moves a replica from 2 to 3
	start := time.Now()
	resps, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatalf("AlterPartitionAssignments: %v", err)
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			t.Fatalf("reassigning %s[%d]: %v (%s)", r.Topic, r.Partition, r.Err, r.ErrMessage)
		}
	}
	c.WaitFor(t, 30*time.Second, "no reassignment in progress", func(ctx context.Context) (bool, string) {
		l, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{rf3: {0: {}}, rf2: {0: {}}})
		if err != nil {
			return false, err.Error()
		}
		n := 0
		l.Each(func(r kadm.ListPartitionReassignmentsResponse) {
			if len(r.AddingReplicas)+len(r.RemovingReplicas) > 0 {
				n++
			}
		})
		return n == 0, fmt.Sprintf("%d in progress: %v", n, l.Sorted())
	})
	t.Logf("reassignments completed after %v", time.Since(start).Round(time.Millisecond))
	for _, want := range []struct {
		topic    string
		replicas []int32
	}{{rf3, []int32{2, 3, 1}}, {rf2, []int32{3, 1}}} {
		c.WaitFor(t, 20*time.Second, fmt.Sprintf("%s[0] replicas %v, full ISR", want.topic, want.replicas), func(ctx context.Context) (bool, string) {
			st, ok, why := c.partitionState(ctx, want.topic, 0)
			if !ok {
				return false, why
			}
			return slices.Equal(st.Replicas, want.replicas) && st.FullISR(),
				fmt.Sprintf("replicas %v ISR %v leader %d", st.Replicas, st.ISR, st.Leader)
		})
	}
	w3.WaitAcked(t, 100, 20*time.Second)
	w2.WaitAcked(t, 100, 20*time.Second)
	c.WaitHealthy(t, healthyTimeout)
	w3.Verify(t)
	w2.Verify(t)
}

func TestScenarioGroupCoordinatorKilled(t *testing.T) {
	c := Start(t, Options{Brokers: 3})
	c.WaitHealthy(t, healthyTimeout)
	topic := topicName(t, "events")
	createTopic(t, c, topicSpec{Name: topic, Partitions: 3, RF: 3, Configs: map[string]string{"min.insync.replicas": "2"}})
	ctx := testContext(t, 90*time.Second)
	producer := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(n int) {
		t.Helper()
		var recs []*kgo.Record
		for p := range int32(3) {
			for i := range n {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, i)})
			}
		}
		if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("producing: %v", err)
		}
	}
	produce(100)

	group := topicName(t, "group")
	consumer := func() *kgo.Client {
		return c.Client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	}
	first := consumer()
	got := 0
	for got < 150 {
		fs := first.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("first consumer read only %d records", got)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", tp, p, err) })
		got += fs.NumRecords()
	}
	if err := first.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	first.Close() // leaves the group
	adm := c.Admin(t)
	committed, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		t.Fatalf("FetchOffsets: %v", err)
	}
	want := make(map[int32]int64)
	committed.Each(func(o kadm.OffsetResponse) { want[o.Partition] = o.At })
	t.Logf("committed offsets %v", want)
	c.WaitHealthy(t, healthyTimeout) // __consumer_offsets fully replicated

	coords := adm.FindGroupCoordinators(ctx, group)
	coord, ok := coords[group]
	if !ok || coord.Err != nil {
		t.Fatalf("FindCoordinator: %+v", coords)
	}
	killed := time.Now()
	c.Kill(int(coord.NodeID))
	c.WaitFor(t, failoverTimeout, "the committed offsets from a new coordinator", func(ctx context.Context) (bool, string) {
		// A fresh client each time, as a restarted consumer would be: a
		// long-lived kgo admin client keeps retrying the coordinator it
		// cached, which says nothing about the brokers.
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...))
		if err != nil {
			return false, err.Error()
		}
		defer cl.Close()
		got, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
		if err == nil {
			err = got.Error()
		}
		if err != nil {
			return false, err.Error()
		}
		have := make(map[int32]int64)
		got.Each(func(o kadm.OffsetResponse) { have[o.Partition] = o.At })
		return fmt.Sprint(have) == fmt.Sprint(want), fmt.Sprintf("offsets %v, want %v", have, want)
	})
	t.Logf("FAILOVER group coordinator kill -9 (node %d): committed offsets served again after %v",
		coord.NodeID, time.Since(killed).Round(time.Millisecond))

	produce(10) // every partition has something past its committed offset
	second := consumer()
	firstOffset := make(map[int32]int64)
	for len(firstOffset) < 3 {
		fs := second.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("second consumer: first offsets so far %v", firstOffset)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if _, seen := firstOffset[r.Partition]; !seen {
				firstOffset[r.Partition] = r.Offset
			}
		})
	}
	t.Logf("resumed at %v (time since kill %v)", firstOffset, time.Since(killed).Round(time.Millisecond))
	for p := range int32(3) {
		if firstOffset[p] != want[p] { // no commit: want[p] is 0, the reset offset
			t.Errorf("partition %d: new consumer started at %d, committed %d", p, firstOffset[p], want[p])
		}
	}
	c.Restart(int(coord.NodeID))
	c.WaitHealthy(t, healthyTimeout)
}

// With min.insync.replicas equal to the replication factor, losing one
// broker makes acks=all writes fail with NOT_ENOUGH_REPLICAS once the ISR
// shrinks (nothing is appended), while acks=1 writes still succeed; after
// the broker returns and rejoins the ISR, acks=all works again.
func TestScenarioMinInsyncReplicas(t *testing.T) {
	c := Start(t, Options{Brokers: 3, Set: DefaultSettings()})
	topic := topicName(t, "strict")
	createTopic(t, c, topicSpec{Name: topic, Partitions: 1, RF: 3, Configs: map[string]string{"min.insync.replicas": "3"}})
	ctx := testContext(t, 90*time.Second)
	// The client below gives up after one retry, so every broker it may
	// ask must know the new topic first.
	for node := 1; node <= 3; node++ {
		c.WaitFor(t, failoverTimeout, fmt.Sprintf("node %d to know %s", node, topic), func(ctx context.Context) (bool, string) {
			md, err := c.NodeMetadata(ctx, node)
			if err != nil {
				return false, err.Error()
			}
			p, err := findPartition(md, topic, 0)
			if err != nil {
				return false, err.Error()
			}
			return p.Leader >= 0 && len(p.ISR) == 3, fmt.Sprintf("leader %d, ISR %v", p.Leader, p.ISR)
		})
	}
	all := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1), kgo.RecordDeliveryTimeout(5*time.Second))
	if err := all.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatalf("acks=all with every replica in sync: %v", err)
	}

	st := c.Partition(t, topic, 0)
	victim := int(st.Replicas[slices.IndexFunc(st.Replicas, func(r int32) bool { return r != st.Leader })])
	c.Kill(victim)
	// The leader's own metadata, not just any broker's, must show the
	// smaller ISR.
	c.WaitFor(t, failoverTimeout, fmt.Sprintf("node %d out of the ISR at the leader", victim), func(ctx context.Context) (bool, string) {
		md, err := c.NodeMetadata(ctx, int(st.Leader))
		if err != nil {
			return false, err.Error()
		}
		p, err := findPartition(md, topic, 0)
		if err != nil {
			return false, err.Error()
		}
		return !slices.Contains(p.ISR, int32(victim)), fmt.Sprintf("ISR %v", p.ISR)
	})
	// A produce can still reach the leader's replica a moment before it
	// applies that metadata: it is appended and then answered
	// NOT_ENOUGH_REPLICAS_AFTER_APPEND (the record stays in the log, as
	// in Kafka). Once applied, acks=all is refused before appending. The
	// client is not idempotent: an idempotent one would retry a possibly
	// written record forever instead of reporting the error.
	strict := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(), kgo.RecordRetries(0))
	want := []string{"before"}
	for {
		err := strict.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("refused")}).FirstErr()
		if errors.Is(err, kerr.NotEnoughReplicas) {
			break
		}
		if !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
			t.Fatalf("acks=all with 2 of 3 in sync = %v, want NOT_ENOUGH_REPLICAS", err)
		}
		want = append(want, "refused")
	}
	one := c.Client(t, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err := one.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("acks1")}).FirstErr(); err != nil {
		t.Fatalf("acks=1 with 2 of 3 in sync: %v", err)
	}

	c.Restart(victim)
	c.WaitHealthy(t, healthyTimeout)
	if err := all.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("acks=all after the broker rejoined: %v", err)
	}
	// A record refused with NOT_ENOUGH_REPLICAS was never appended: the
	// log holds exactly the accepted ones (and any appended before the
	// leader saw the smaller ISR).
	want = append(want, "acks1", "after")
	cons := c.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var got []string
	for len(got) < len(want) {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %v", got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if !slices.Equal(got, want) {
		t.Fatalf("log = %v, want %v", got, want)
	}
}
