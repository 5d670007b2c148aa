package controller

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const testTimeout = 15 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func singleConfig(dir string) Config {
	// The brokers these tests register do not heartbeat; a long session
	// keeps the leader from fencing them mid-test.
	return Config{NodeID: 1, Dir: dir, BindAddr: "127.0.0.1:0", Logger: discardLogger(), BrokerSessionTimeout: time.Hour}
}

// start runs a controller until the test ends and waits for it to be ready.
func start(t *testing.T, cfg Config) *Controller {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.WaitReady(testCtx(t)); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	return c
}

// startWithBroker starts a single node and registers broker 1.
func startWithBroker(t *testing.T) *Controller {
	t.Helper()
	c := start(t, singleConfig(t.TempDir()))
	registerLive(t, c, BrokerRegistration{ID: 1, Host: "127.0.0.1", Port: 9092})
	return c
}

func createOne(t *testing.T, c *Controller, spec TopicSpec) error {
	t.Helper()
	errs := c.CreateTopics(testCtx(t), []TopicSpec{spec}, false)
	if len(errs) != 1 {
		t.Fatalf("CreateTopics returned %d results for 1 spec", len(errs))
	}
	return errs[0]
}

func TestSingleNodeBecomesReadyLeader(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	if !c.IsLeader() || c.LeaderID() != 1 || c.RaftState() != "Leader" {
		t.Fatalf("IsLeader=%v LeaderID=%d RaftState=%s, want a leader with id 1", c.IsLeader(), c.LeaderID(), c.RaftState())
	}
	img := c.Image()
	if len(img.ClusterID) != 22 || strings.HasPrefix(img.ClusterID, "-") {
		t.Errorf("cluster id %q is not a 22-character Kafka id", img.ClusterID)
	}
	if img.ControllerID != 1 {
		t.Errorf("ControllerID = %d, want 1", img.ControllerID)
	}
	if len(img.Brokers) != 0 || img.NumTopics() != 0 {
		t.Errorf("fresh image has brokers %v and %d topics", img.Brokers, img.NumTopics())
	}
}

func TestRegisterBroker(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	ctx := testCtx(t)
	rack := "r1"
	inc := newUUID()
	if err := c.RegisterBroker(ctx, BrokerRegistration{ID: 1, Host: "h1", Port: 9092, Rack: &rack, IncarnationID: inc}); err != nil {
		t.Fatal(err)
	}
	rack = "changed after the call"
	b, ok := c.Image().Brokers[1]
	if !ok || b.Host != "h1" || b.Port != 9092 || b.Rack == nil || *b.Rack != "r1" || !b.Fenced || b.Epoch <= 0 {
		t.Fatalf("broker 1 = %+v (rack %v), want it registered and fenced", b, b.Rack)
	}
	// A heartbeat from a broker whose image has its registration unfences it.
	if _, ok := c.heartbeat(ctx, BrokerRegistration{ID: 1, IncarnationID: inc}, false); !ok || c.Image().Brokers[1].Fenced {
		t.Fatalf("after a heartbeat broker 1 = %+v", c.Image().Brokers[1])
	}
	// Re-registration replaces the endpoint and bumps the epoch.
	if err := c.RegisterBroker(ctx, BrokerRegistration{ID: 1, Host: "h2", Port: 9093, IncarnationID: inc}); err != nil {
		t.Fatal(err)
	}
	b2 := c.Image().Brokers[1]
	if b2.Host != "h2" || b2.Port != 9093 || b2.Rack != nil || b2.Epoch <= b.Epoch {
		t.Fatalf("after re-registration broker 1 = %+v, before epoch %d", b2, b.Epoch)
	}
	for _, bad := range []BrokerRegistration{{ID: -1, Host: "h", Port: 1}, {ID: 2, Port: 1}, {ID: 2, Host: "h", Port: 0}, {ID: 2, Host: "h", Port: 70000}} {
		if err := c.RegisterBroker(ctx, bad); !errors.Is(err, ErrInvalidBrokerRegistration) {
			t.Errorf("RegisterBroker(%+v) = %v, want ErrInvalidBrokerRegistration", bad, err)
		}
	}
	if got := c.Image().SortedBrokers(); len(got) != 1 || got[0].ID != 1 {
		t.Errorf("brokers after rejected registrations: %+v", got)
	}
}

func TestCreateTopicsNeedsBrokers(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	if err := createOne(t, c, TopicSpec{Name: "t", NumPartitions: 1, ReplicationFactor: 1}); !errors.Is(err, ErrInvalidReplicationFactor) {
		t.Fatalf("create with no brokers = %v, want ErrInvalidReplicationFactor", err)
	}
}

func TestCreateTopics(t *testing.T) {
	c := startWithBroker(t)
	ctx := testCtx(t)
	errs := c.CreateTopics(ctx, []TopicSpec{
		{Name: "orders", NumPartitions: 3, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000"}},
		{Name: "orders", NumPartitions: 1, ReplicationFactor: 1}, // same request: the second loses
		{Name: "bad/name", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "events", NumPartitions: -1, ReplicationFactor: -1},
	}, false)
	want := []error{nil, ErrTopicExists, ErrInvalidTopicName, nil}
	for i := range want {
		if !errors.Is(errs[i], want[i]) || (want[i] == nil) != (errs[i] == nil) {
			t.Errorf("result %d = %v, want %v", i, errs[i], want[i])
		}
	}

	img := c.Image()
	orders := img.Topic("orders")
	if orders == nil {
		t.Fatal("orders not in image")
	}
	if orders.ID == ([16]byte{}) || orders.ID[6]>>4 != 4 || orders.Internal {
		t.Errorf("orders id %x internal %v", orders.ID, orders.Internal)
	}
	if img.TopicByID(orders.ID) != orders {
		t.Error("TopicByID does not find orders")
	}
	if orders.Configs["retention.ms"] != "1000" || len(orders.Configs) != 1 {
		t.Errorf("orders configs = %v", orders.Configs)
	}
	if len(orders.Partitions) != 3 {
		t.Fatalf("orders has %d partitions", len(orders.Partitions))
	}
	for i, p := range orders.Partitions {
		if p.Index != int32(i) || p.Leader != 1 || p.LeaderEpoch != 0 || p.PartitionEpoch != 0 ||
			!slices.Equal(p.Replicas, []int32{1}) || !slices.Equal(p.ISR, []int32{1}) {
			t.Errorf("orders partition %d = %+v", i, p)
		}
	}
	if ev := img.Topic("events"); ev == nil || len(ev.Partitions) != 1 || ev.ReplicationFactor() != 1 {
		t.Errorf("events (defaults) = %+v", ev)
	}
	var names []string
	for _, tp := range img.Topics() {
		names = append(names, tp.Name)
	}
	if !slices.Equal(names, []string{"events", "orders"}) {
		t.Errorf("Topics() = %v, want sorted [events orders]", names)
	}
}

func TestCreateTopicsValidation(t *testing.T) {
	c := startWithBroker(t)
	if err := createOne(t, c, TopicSpec{Name: "a.b", NumPartitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		spec TopicSpec
		want error
	}{
		{TopicSpec{Name: "a.b", NumPartitions: 1, ReplicationFactor: 1}, ErrTopicExists},
		{TopicSpec{Name: "a_b", NumPartitions: 1, ReplicationFactor: 1}, ErrInvalidTopicName}, // collides with a.b
		{TopicSpec{Name: "", NumPartitions: 1, ReplicationFactor: 1}, ErrInvalidTopicName},
		{TopicSpec{Name: "..", NumPartitions: 1, ReplicationFactor: 1}, ErrInvalidTopicName},
		{TopicSpec{Name: strings.Repeat("x", 250), NumPartitions: 1, ReplicationFactor: 1}, ErrInvalidTopicName},
		{TopicSpec{Name: "p0", NumPartitions: 0, ReplicationFactor: 1}, ErrInvalidPartitions},
		{TopicSpec{Name: "p-2", NumPartitions: -2, ReplicationFactor: 1}, ErrInvalidPartitions},
		{TopicSpec{Name: "pmax", NumPartitions: MaxPartitionsPerTopic + 1, ReplicationFactor: 1}, ErrInvalidPartitions},
		{TopicSpec{Name: "rf2", NumPartitions: 1, ReplicationFactor: 2}, ErrInvalidReplicationFactor},
		{TopicSpec{Name: "rf0", NumPartitions: 1, ReplicationFactor: 0}, ErrInvalidReplicationFactor},
		{TopicSpec{Name: "rf-3", NumPartitions: 1, ReplicationFactor: -3}, ErrInvalidReplicationFactor},
		{TopicSpec{Name: "m1", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {2}}}, ErrInvalidReplicaAssignment},
		{TopicSpec{Name: "m2", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1}, 2: {1}}}, ErrInvalidReplicaAssignment},
		{TopicSpec{Name: "m3", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1, 1}}}, ErrInvalidReplicaAssignment},
		{TopicSpec{Name: "m4", NumPartitions: 2, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1}}}, ErrInvalidReplicaAssignment},
		{TopicSpec{Name: "m5", NumPartitions: -1, ReplicationFactor: 2, Assignments: map[int32][]int32{0: {1}}}, ErrInvalidReplicaAssignment},
		{TopicSpec{Name: "m6", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {}}}, ErrInvalidReplicaAssignment},
	}
	for _, tc := range cases {
		if err := createOne(t, c, tc.spec); !errors.Is(err, tc.want) {
			t.Errorf("create %.20q (p=%d rf=%d asg=%v) = %v, want %v", tc.spec.Name, tc.spec.NumPartitions, tc.spec.ReplicationFactor, tc.spec.Assignments, err, tc.want)
		}
	}
	if n := c.Image().NumTopics(); n != 1 {
		t.Errorf("%d topics after rejected creates, want 1", n)
	}
	// A valid manual assignment is taken as given.
	err := createOne(t, c, TopicSpec{Name: "manual", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {1}, 1: {1}}})
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Image().Topic("manual"); m == nil || len(m.Partitions) != 2 {
		t.Fatalf("manual topic = %+v", m)
	}
}

func TestCreateTopicsValidateOnly(t *testing.T) {
	c := startWithBroker(t)
	ctx := testCtx(t)
	before := c.Image()
	errs := c.CreateTopics(ctx, []TopicSpec{
		{Name: "dry", NumPartitions: 2, ReplicationFactor: 1},
		{Name: "dry2", NumPartitions: 1, ReplicationFactor: 5},
	}, true)
	if errs[0] != nil || !errors.Is(errs[1], ErrInvalidReplicationFactor) {
		t.Fatalf("validate-only results = %v", errs)
	}
	if c.Image() != before || c.Image().Topic("dry") != nil {
		t.Fatal("validate-only create changed the image")
	}
	if err := createOne(t, c, TopicSpec{Name: "dry", NumPartitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	if errs := c.CreateTopics(ctx, []TopicSpec{{Name: "dry", NumPartitions: 1, ReplicationFactor: 1}}, true); !errors.Is(errs[0], ErrTopicExists) {
		t.Fatalf("validate-only create of an existing topic = %v", errs[0])
	}
}

func TestConcurrentCreatesOfOneNameOneWins(t *testing.T) {
	c := startWithBroker(t)
	ctx := testCtx(t)
	const n = 8
	results := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = c.CreateTopics(ctx, []TopicSpec{{Name: "race", NumPartitions: 1, ReplicationFactor: 1}}, false)[0]
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrTopicExists):
			t.Errorf("unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d creates of the same topic succeeded, want exactly 1: %v", wins, results)
	}
}

func TestPlacementSpreadsOverBrokers(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	ctx := testCtx(t)
	for id := int32(1); id <= 3; id++ {
		registerLive(t, c, BrokerRegistration{ID: id, Host: "h", Port: 9000 + id})
	}
	if err := createOne(t, c, TopicSpec{Name: "spread", NumPartitions: 6, ReplicationFactor: 2}); err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]int{}
	replicas := map[int32]int{}
	for _, p := range c.Image().Topic("spread").Partitions {
		if len(p.Replicas) != 2 || p.Replicas[0] == p.Replicas[1] || p.Leader != p.Replicas[0] {
			t.Errorf("partition %d replicas %v leader %d", p.Index, p.Replicas, p.Leader)
		}
		leaders[p.Leader]++
		for _, r := range p.Replicas {
			replicas[r]++
		}
	}
	for id := int32(1); id <= 3; id++ {
		if leaders[id] != 2 || replicas[id] != 4 {
			t.Errorf("broker %d leads %d and hosts %d replicas, want 2 and 4", id, leaders[id], replicas[id])
		}
	}
	if err := createOne(t, c, TopicSpec{Name: "rf4", NumPartitions: 1, ReplicationFactor: 4}); !errors.Is(err, ErrInvalidReplicationFactor) {
		t.Errorf("RF 4 on 3 brokers = %v", err)
	}
	// New partitions keep the topic's replication factor.
	if err := c.CreatePartitions(ctx, "spread", 9, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Image().Topic("spread").Partitions[6:] {
		if len(p.Replicas) != 2 || p.Replicas[0] == p.Replicas[1] {
			t.Errorf("new partition %d replicas %v", p.Index, p.Replicas)
		}
	}
}

func TestDeleteTopics(t *testing.T) {
	c := startWithBroker(t)
	ctx := testCtx(t)
	for _, name := range []string{"a", "b", "c"} {
		if err := createOne(t, c, TopicSpec{Name: name, NumPartitions: 1, ReplicationFactor: 1}); err != nil {
			t.Fatal(err)
		}
	}
	aID := c.Image().Topic("a").ID
	errs := c.DeleteTopics(ctx, []string{"a", "nope", "a"})
	if errs[0] != nil || !errors.Is(errs[1], ErrUnknownTopic) || !errors.Is(errs[2], ErrUnknownTopic) {
		t.Fatalf("DeleteTopics = %v, want [nil unknown unknown]", errs)
	}
	img := c.Image()
	if img.Topic("a") != nil || img.TopicByID(aID) != nil || img.NumTopics() != 2 {
		t.Fatalf("a still present after delete (%d topics)", img.NumTopics())
	}
	bID := img.Topic("b").ID
	errs = c.DeleteTopicsByID(ctx, [][16]byte{bID, aID})
	if errs[0] != nil || !errors.Is(errs[1], ErrUnknownTopicID) {
		t.Fatalf("DeleteTopicsByID = %v", errs)
	}
	if c.Image().Topic("b") != nil {
		t.Fatal("b still present after delete by id")
	}
	// A recreated topic gets a new id.
	if err := createOne(t, c, TopicSpec{Name: "a", NumPartitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	if c.Image().Topic("a").ID == aID {
		t.Fatal("recreated topic reused the old id")
	}
}

func TestCreatePartitions(t *testing.T) {
	c := startWithBroker(t)
	ctx := testCtx(t)
	if err := createOne(t, c, TopicSpec{Name: "t", NumPartitions: 3, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	id := c.Image().Topic("t").ID
	if err := c.CreatePartitions(ctx, "t", 5, true); err != nil {
		t.Fatalf("validate-only grow: %v", err)
	}
	if n := len(c.Image().Topic("t").Partitions); n != 3 {
		t.Fatalf("validate-only grow changed the count to %d", n)
	}
	if err := c.CreatePartitions(ctx, "t", 5, false); err != nil {
		t.Fatal(err)
	}
	tp := c.Image().Topic("t")
	if len(tp.Partitions) != 5 || tp.ID != id {
		t.Fatalf("after grow: %d partitions, id changed %v", len(tp.Partitions), tp.ID != id)
	}
	for i, p := range tp.Partitions {
		if p.Index != int32(i) || p.Leader != 1 || !slices.Equal(p.ISR, []int32{1}) {
			t.Errorf("partition %d = %+v", i, p)
		}
	}
	for _, tc := range []struct {
		topic string
		total int32
		asg   [][]int32
		want  error
	}{
		{"t", 4, nil, ErrInvalidPartitions},
		{"t", 5, nil, ErrInvalidPartitions},
		{"t", MaxPartitionsPerTopic + 1, nil, ErrInvalidPartitions},
		{"missing", 9, nil, ErrUnknownTopic},
		{"t", 7, [][]int32{{1}}, ErrInvalidReplicaAssignment},    // one assignment for two partitions
		{"t", 6, [][]int32{{7}}, ErrInvalidReplicaAssignment},    // unknown broker
		{"t", 6, [][]int32{{1, 1}}, ErrInvalidReplicaAssignment}, // wrong replication factor
	} {
		if err := c.CreatePartitionsWithAssignments(ctx, tc.topic, tc.total, tc.asg, false); !errors.Is(err, tc.want) {
			t.Errorf("CreatePartitions(%s, %d, %v) = %v, want %v", tc.topic, tc.total, tc.asg, err, tc.want)
		}
	}
	if err := c.CreatePartitionsWithAssignments(ctx, "t", 6, [][]int32{{1}}, false); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Image().Topic("t").Partitions); n != 6 {
		t.Fatalf("%d partitions after manual grow, want 6", n)
	}
}

func TestAlterTopicConfigs(t *testing.T) {
	c := startWithBroker(t)
	ctx := testCtx(t)
	if err := createOne(t, c, TopicSpec{Name: "t", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]string{"a": "1", "b": "2"}}); err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	configs := func() map[string]string { return c.Image().Topic("t").Configs }

	if err := c.AlterTopicConfigs(ctx, "t", []ConfigOp{{Key: "a", Value: str("10"), Op: ConfigSet}, {Key: "b", Op: ConfigDelete}, {Key: "zz", Op: ConfigDelete}}, false); err != nil {
		t.Fatal(err)
	}
	if got := configs(); len(got) != 1 || got["a"] != "10" {
		t.Fatalf("after incremental alter: %v", got)
	}
	if err := c.AlterTopicConfigs(ctx, "t", []ConfigOp{{Key: "c", Value: str("3"), Op: ConfigSet}}, true); err != nil {
		t.Fatal(err)
	}
	if _, ok := configs()["c"]; ok {
		t.Fatal("validate-only alter changed the configs")
	}
	// An invalid op rejects the whole request, including earlier ops.
	err := c.AlterTopicConfigs(ctx, "t", []ConfigOp{{Key: "d", Value: str("4"), Op: ConfigSet}, {Key: "e", Op: ConfigSet}}, false)
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("SET without value = %v", err)
	}
	if err := c.AlterTopicConfigs(ctx, "t", []ConfigOp{{Key: "", Op: ConfigDelete}}, false); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("empty key = %v", err)
	}
	if _, ok := configs()["d"]; ok {
		t.Fatal("a rejected alter was partly applied")
	}
	if err := c.ReplaceTopicConfigs(ctx, "t", map[string]string{"x": "y"}, false); err != nil {
		t.Fatal(err)
	}
	if got := configs(); len(got) != 1 || got["x"] != "y" {
		t.Fatalf("after replace: %v", got)
	}
	if err := c.ReplaceTopicConfigs(ctx, "t", nil, false); err != nil {
		t.Fatal(err)
	}
	if got := configs(); len(got) != 0 {
		t.Fatalf("after replace with nothing: %v", got)
	}
	if err := c.AlterTopicConfigs(ctx, "missing", nil, false); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("alter unknown topic = %v", err)
	}
}

func TestAllocateProducerIDs(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	ctx := testCtx(t)
	type block struct{ first, count int64 }
	var blocks []block
	for _, n := range []int64{10, 1, 1000, 5} {
		first, err := c.AllocateProducerIDs(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, block{first, n})
	}
	for i := 1; i < len(blocks); i++ {
		prev := blocks[i-1]
		if blocks[i].first < prev.first+prev.count {
			t.Fatalf("block %d %+v overlaps or precedes block %d %+v", i, blocks[i], i-1, prev)
		}
	}
	last := blocks[len(blocks)-1]
	if next := c.Image().NextProducerID; next != last.first+last.count {
		t.Fatalf("NextProducerID = %d, want %d", next, last.first+last.count)
	}
	for _, n := range []int64{0, -5} {
		if _, err := c.AllocateProducerIDs(ctx, n); !errors.Is(err, ErrInvalidProducerIDCount) {
			t.Errorf("AllocateProducerIDs(%d) = %v", n, err)
		}
	}
}

func TestUpdatesFiresAndCoalesces(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	ctx := testCtx(t)
	// Drain what startup published.
	select {
	case <-c.Updates():
	default:
	}
	if err := c.RegisterBroker(ctx, BrokerRegistration{ID: 1, Host: "h", Port: 1, IncarnationID: newUUID()}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Updates():
	case <-time.After(testTimeout):
		t.Fatal("no update after registering a broker")
	}
	if _, ok := c.Image().Brokers[1]; !ok {
		t.Fatal("update fired but the image lacks the broker")
	}
	for range 3 {
		if _, err := c.AllocateProducerIDs(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.Updates()); n != 1 {
		t.Fatalf("%d pending notifications after three changes, want 1 (coalesced)", n)
	}
	<-c.Updates()
	if n := len(c.Updates()); n != 0 {
		t.Fatalf("%d pending notifications after draining", n)
	}
}

func TestClosedControllerRejectsWrites(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := testCtx(t)
	if err := c.RegisterBroker(ctx, BrokerRegistration{ID: 1, Host: "h", Port: 1}); !errors.Is(err, ErrClosed) {
		t.Errorf("RegisterBroker after Close = %v", err)
	}
	if errs := c.CreateTopics(ctx, []TopicSpec{{Name: "x", NumPartitions: 1, ReplicationFactor: 1}}, false); !errors.Is(errs[0], ErrClosed) {
		t.Errorf("CreateTopics after Close = %v", errs[0])
	}
	if err := c.WaitReady(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitReady after Close = %v", err)
	}
	if c.Image() == nil {
		t.Error("Image is nil after Close")
	}
}

func TestSecondControllerOnSameDirFails(t *testing.T) {
	cfg := singleConfig(t.TempDir())
	start(t, cfg)
	c2, err := New(cfg)
	if err == nil {
		_ = c2.Close()
		t.Fatal("a second controller opened a directory in use")
	}
}
