package testcluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrUnhealthy describes why the cluster is not (yet) healthy.
var ErrUnhealthy = errors.New("cluster not healthy")

// metadataTopic is the Raft metadata log's name in DescribeQuorum.
const metadataTopic = "__cluster_metadata"

// Client returns a franz-go client bootstrapped with every node, closed
// when t ends. Its metadata may refresh every 50 ms, so it follows leader
// changes quickly; opts are appended (and win).
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(c.Seeds()...), kgo.MetadataMinAge(50 * time.Millisecond)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client over Client(t).
func (c *Cluster) Admin(t testing.TB) *kadm.Client {
	t.Helper()
	return kadm.NewClient(c.Client(t))
}

// nodeClient is a client seeded with node id only, kept for the cluster's
// life; requests sent through its seed broker reach that node and no other,
// so each node's own view of the metadata can be checked.
func (c *Cluster) nodeClient(id int) (*kgo.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[id]; ok {
		return cl, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.nodes[id-1].kafkaAddr),
		kgo.DialTimeout(2*time.Second), kgo.RequestRetries(0))
	if err != nil {
		return nil, err
	}
	c.clients[id] = cl
	return cl, nil
}

// Request sends req to node id (and no other node) and returns its answer.
func (c *Cluster) Request(ctx context.Context, id int, req kmsg.Request) (kmsg.Response, error) {
	c.node(id)
	cl, err := c.nodeClient(id)
	if err != nil {
		return nil, err
	}
	seeds := cl.SeedBrokers()
	if len(seeds) == 0 {
		return nil, fmt.Errorf("node %d: client has no seed broker", id)
	}
	return seeds[0].Request(ctx, req)
}

// NodeMetadata is node id's own answer to a Metadata request for every
// topic.
func (c *Cluster) NodeMetadata(ctx context.Context, id int) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = nil // all topics
	resp, err := c.Request(ctx, id, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// PartitionState is one partition as a node's Metadata answer shows it.
type PartitionState struct {
	Node        int // whose view this is
	Leader      int32
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
	Offline     []int32
}

// FullISR reports whether every replica is in sync.
func (p PartitionState) FullISR() bool {
	return slices.Equal(sortedIDs(p.Replicas), sortedIDs(p.ISR))
}

// Partition returns the freshest view of topic/partition among the running
// nodes (the highest leader epoch wins), retrying for up to 10 s until some
// node knows the partition.
func (c *Cluster) Partition(t testing.TB, topic string, partition int32) PartitionState {
	t.Helper()
	var st PartitionState
	c.WaitFor(t, 10*time.Second, fmt.Sprintf("metadata for %s[%d]", topic, partition), func(ctx context.Context) (bool, string) {
		var ok bool
		var why string
		st, ok, why = c.partitionState(ctx, topic, partition)
		return ok, why
	})
	return st
}

func (c *Cluster) partitionState(ctx context.Context, topic string, partition int32) (PartitionState, bool, string) {
	best := PartitionState{LeaderEpoch: -2}
	var why []string
	for _, id := range c.RunningIDs() {
		if r := c.node(id).cur(); r != nil && r.paused.Load() {
			continue // a stopped process would only run the context out
		}
		md, err := c.NodeMetadata(ctx, id)
		if err != nil {
			why = append(why, fmt.Sprintf("node %d: %v", id, err))
			continue
		}
		p, err := findPartition(md, topic, partition)
		if err != nil {
			why = append(why, fmt.Sprintf("node %d: %v", id, err))
			continue
		}
		if p.LeaderEpoch > best.LeaderEpoch {
			best = PartitionState{Node: id, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: p.Replicas, ISR: p.ISR, Offline: p.OfflineReplicas}
		}
	}
	if best.LeaderEpoch == -2 {
		return best, false, strings.Join(why, "; ")
	}
	return best, true, ""
}

func findPartition(md *kmsg.MetadataResponse, topic string, partition int32) (kmsg.MetadataResponseTopicPartition, error) {
	for _, t := range md.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return kmsg.MetadataResponseTopicPartition{}, fmt.Errorf("topic %s: %w", topic, err)
		}
		for _, p := range t.Partitions {
			if p.Partition == partition {
				return p, nil
			}
		}
		return kmsg.MetadataResponseTopicPartition{}, fmt.Errorf("topic %s has no partition %d", topic, partition)
	}
	return kmsg.MetadataResponseTopicPartition{}, fmt.Errorf("topic %s unknown", topic)
}

// Leader is the node leading topic/partition, waiting (up to 10 s) until
// there is one.
func (c *Cluster) Leader(t testing.TB, topic string, partition int32) int {
	t.Helper()
	var leader int
	c.WaitFor(t, 10*time.Second, fmt.Sprintf("a leader for %s[%d]", topic, partition), func(ctx context.Context) (bool, string) {
		st, ok, why := c.partitionState(ctx, topic, partition)
		if !ok {
			return false, why
		}
		leader = int(st.Leader)
		return st.Leader >= 0, fmt.Sprintf("node %d reports leader %d epoch %d", st.Node, st.Leader, st.LeaderEpoch)
	})
	return leader
}

// ControllerID is the metadata quorum's (Raft) leader, from DescribeQuorum
// (the answer with the highest term wins); it falls back to DescribeCluster
// where DescribeQuorum is not served. Waits up to 10 s for a leader.
func (c *Cluster) ControllerID(t testing.TB) int {
	t.Helper()
	var leader int
	c.WaitFor(t, 10*time.Second, "a metadata quorum leader", func(ctx context.Context) (bool, string) {
		id, err := c.controllerID(ctx)
		leader = id
		if err != nil {
			return false, err.Error()
		}
		return id > 0, fmt.Sprintf("leader %d", id)
	})
	return leader
}

func (c *Cluster) controllerID(ctx context.Context) (int, error) {
	bestTerm, best := int32(-1), -1
	var errs []error
	for _, id := range c.RunningIDs() {
		req := kmsg.NewPtrDescribeQuorumRequest()
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = metadataTopic
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := c.Request(ctx, id, req)
		if err == nil {
			q := resp.(*kmsg.DescribeQuorumResponse)
			err = kerr.ErrorForCode(q.ErrorCode)
			if err == nil && (len(q.Topics) != 1 || len(q.Topics[0].Partitions) != 1) {
				err = fmt.Errorf("DescribeQuorum answered %d topics", len(q.Topics))
			}
			if err == nil {
				p := q.Topics[0].Partitions[0]
				if err = kerr.ErrorForCode(p.ErrorCode); err == nil {
					if p.LeaderID >= 0 && p.LeaderEpoch > bestTerm {
						bestTerm, best = p.LeaderEpoch, int(p.LeaderID)
					}
					continue
				}
			}
		}
		// Fallback: DescribeCluster names the quorum leader too.
		dreq := kmsg.NewPtrDescribeClusterRequest()
		dresp, derr := c.Request(ctx, id, dreq)
		if derr != nil {
			errs = append(errs, fmt.Errorf("node %d: DescribeQuorum: %v; DescribeCluster: %w", id, err, derr))
			continue
		}
		d := dresp.(*kmsg.DescribeClusterResponse)
		if best < 0 && d.ErrorCode == 0 && d.ControllerID >= 0 {
			best = int(d.ControllerID)
		}
	}
	if best < 0 {
		return -1, errors.Join(append(errs, errors.New("no node names a quorum leader"))...)
	}
	return best, nil
}

// WaitFor polls cond every 100 ms until it reports true, failing t after
// timeout with cond's last explanation and every node's log tail. Each
// call of cond gets a context bounded to 5 s.
func (c *Cluster) WaitFor(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	if err := c.poll(t.Context(), timeout, cond); err != nil {
		t.Fatalf("waiting %v for %s: %v", timeout, what, err)
	}
}

// poll is WaitFor returning an error instead of failing a test.
func (c *Cluster) poll(ctx context.Context, timeout time.Duration, cond func(ctx context.Context) (bool, string)) error {
	deadline := time.Now().Add(timeout)
	last := "not checked yet"
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, why := cond(cctx)
		cancel()
		if ok {
			return nil
		}
		if why != "" {
			last = why
		}
		if err := c.crashed(); err != nil {
			return fmt.Errorf("%w (while: %s)", err, last)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%w: %s", ErrUnhealthy, last)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// crashed reports a node whose latest process exited without the harness
// asking it to: waiting on such a cluster is pointless.
func (c *Cluster) crashed() error {
	for _, n := range c.nodes {
		if r := n.cur(); r != nil && r.exitedOnItsOwn() {
			return fmt.Errorf("node %d exited on its own (%v); last lines of its log:\n%s",
				n.id, exitDescription(r.state), tail(n.logPath, 40))
		}
	}
	return nil
}

// WaitHealthy waits until every node runs and, in every node's own view,
// all nodes are registered and unfenced and every partition of every topic
// has a live leader and a full ISR.
func (c *Cluster) WaitHealthy(t testing.TB, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	c.WaitFor(t, timeout, "a healthy cluster", c.healthy)
	t.Logf("cluster healthy after %v", time.Since(start).Round(time.Millisecond))
}

// Healthy reports whether the cluster is healthy now, and if not why.
func (c *Cluster) Healthy(ctx context.Context) (bool, string) { return c.healthy(ctx) }

func (c *Cluster) healthy(ctx context.Context) (bool, string) {
	all := make([]int32, 0, len(c.nodes))
	for _, n := range c.nodes {
		if !n.running() {
			return false, fmt.Sprintf("node %d is not running", n.id)
		}
		if r := n.cur(); r.paused.Load() {
			return false, fmt.Sprintf("node %d is paused", n.id)
		}
		all = append(all, int32(n.id))
	}
	for _, n := range c.nodes {
		if why := c.nodeHealthy(ctx, n.id, all); why != "" {
			return false, fmt.Sprintf("node %d: %s", n.id, why)
		}
	}
	return true, ""
}

// nodeHealthy checks node id's view; "" means healthy.
func (c *Cluster) nodeHealthy(ctx context.Context, id int, all []int32) string {
	dreq := kmsg.NewPtrDescribeClusterRequest()
	dreq.IncludeFencedBrokers = true
	resp, err := c.Request(ctx, id, dreq)
	if err != nil {
		return fmt.Sprintf("DescribeCluster: %v", err)
	}
	d := resp.(*kmsg.DescribeClusterResponse)
	if err := kerr.ErrorForCode(d.ErrorCode); err != nil {
		return fmt.Sprintf("DescribeCluster: %v", err)
	}
	var unfenced []int32
	for _, b := range d.Brokers {
		if !b.IsFenced {
			unfenced = append(unfenced, b.NodeID)
		}
	}
	if !slices.Equal(sortedIDs(unfenced), all) {
		return fmt.Sprintf("unfenced brokers %v, want %v", sortedIDs(unfenced), all)
	}
	md, err := c.NodeMetadata(ctx, id)
	if err != nil {
		return fmt.Sprintf("Metadata: %v", err)
	}
	var brokers []int32
	for _, b := range md.Brokers {
		brokers = append(brokers, b.NodeID)
	}
	if !slices.Equal(sortedIDs(brokers), all) {
		return fmt.Sprintf("Metadata lists brokers %v, want %v", sortedIDs(brokers), all)
	}
	for _, tp := range md.Topics {
		name := "?"
		if tp.Topic != nil {
			name = *tp.Topic
		}
		if err := kerr.ErrorForCode(tp.ErrorCode); err != nil {
			return fmt.Sprintf("topic %s: %v", name, err)
		}
		for _, p := range tp.Partitions {
			switch {
			case p.Leader < 0:
				return fmt.Sprintf("%s[%d] has no leader (replicas %v, ISR %v)", name, p.Partition, p.Replicas, p.ISR)
			case !slices.Equal(sortedIDs(p.Replicas), sortedIDs(p.ISR)):
				return fmt.Sprintf("%s[%d] ISR %v, replicas %v (leader %d epoch %d)", name, p.Partition, p.ISR, p.Replicas, p.Leader, p.LeaderEpoch)
			case !slices.Contains(p.ISR, p.Leader):
				return fmt.Sprintf("%s[%d] leader %d is not in ISR %v", name, p.Partition, p.Leader, p.ISR)
			}
		}
	}
	return ""
}
