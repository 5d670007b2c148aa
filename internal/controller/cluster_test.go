package controller

import (
	"errors"
	"net"
	"reflect"
	"testing"
	"time"
)

// freeAddrs reserves n loopback ports. Voters must know each other's
// addresses before any of them starts, so the ports are picked by
// listening on :0 and closing again.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return addrs
}

// waitUntil blocks until cond holds, re-checking whenever any node's state
// changes (image published or readiness signalled).
func waitUntil(t *testing.T, nodes []*Controller, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(deadline)}}
		for _, n := range nodes {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(n.st.waitCh())})
		}
		if cond() {
			return
		}
		if chosen, _, _ := reflect.Select(cases); chosen == 0 {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func startCluster(t *testing.T, n int) []*Controller {
	t.Helper()
	return startClusterWith(t, n, nil)
}

// clusterConfigs returns the configs of an n-voter cluster on loopback,
// each adjusted by tweak (when not nil).
func clusterConfigs(t *testing.T, n int, tweak func(*Config)) []Config {
	t.Helper()
	addrs := freeAddrs(t, n)
	var voters []Voter
	for i, a := range addrs {
		voters = append(voters, Voter{ID: int32(i + 1), Addr: a})
	}
	cfgs := make([]Config, n)
	for i := range cfgs {
		cfgs[i] = Config{
			NodeID: int32(i + 1), Dir: t.TempDir(), BindAddr: addrs[i], Voters: voters, Logger: discardLogger(),
			HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
			LeaderLeaseTimeout: 100 * time.Millisecond,
		}
		if tweak != nil {
			tweak(&cfgs[i])
		}
	}
	return cfgs
}

func startClusterWith(t *testing.T, n int, tweak func(*Config)) []*Controller {
	t.Helper()
	return startNodes(t, clusterConfigs(t, n, tweak))
}

// startNodes starts a controller per config and waits until all are ready.
func startNodes(t *testing.T, cfgs []Config) []*Controller {
	t.Helper()
	nodes := make([]*Controller, len(cfgs))
	for i := range nodes {
		c, err := New(cfgs[i])
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		nodes[i] = c
	}
	ctx := testCtx(t)
	for _, c := range nodes {
		if err := c.WaitReady(ctx); err != nil {
			t.Fatalf("node %d: %v", c.cfg.NodeID, err)
		}
	}
	return nodes
}

func leaderOf(nodes []*Controller) *Controller {
	for _, c := range nodes {
		if c.IsLeader() && c.ready() {
			return c
		}
	}
	return nil
}

// onLeader runs write on the current leader, again on whichever node leads
// next if leadership moved meanwhile (elections can flap on a loaded
// 2-core machine), and returns the node where it succeeded.
func onLeader(t *testing.T, nodes []*Controller, write func(*Controller) error) *Controller {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		var c *Controller
		waitUntil(t, nodes, "a leader", func() bool { c = leaderOf(nodes); return c != nil })
		err := write(c)
		if err == nil {
			return c
		}
		if !errors.Is(err, ErrNotLeader) || time.Now().After(deadline) {
			t.Fatalf("write on leader %d: %v", c.cfg.NodeID, err)
		}
	}
}

func TestThreeVoterCluster(t *testing.T) {
	nodes := startCluster(t, 3)
	var leader *Controller
	waitUntil(t, nodes, "all nodes to agree on a leader", func() bool {
		leader = leaderOf(nodes)
		if leader == nil {
			return false
		}
		for _, c := range nodes {
			if c.LeaderID() != leader.cfg.NodeID || c.Image().ControllerID != leader.cfg.NodeID {
				return false
			}
		}
		return true
	})
	clusterID := leader.Image().ClusterID
	for _, c := range nodes {
		if c.Image().ClusterID != clusterID || clusterID == "" {
			t.Fatalf("node %d cluster id %q, leader's %q", c.cfg.NodeID, c.Image().ClusterID, clusterID)
		}
	}

	// Every node registers its broker (followers forward) and keeps it
	// alive.
	runBrokers(t, nodes)
	leader = onLeader(t, nodes, func(c *Controller) error {
		return createOne(t, c, TopicSpec{Name: "replicated", NumPartitions: 3, ReplicationFactor: 3})
	})
	want := leader.Image().Topic("replicated")
	waitUntil(t, nodes, "the topic on every node", func() bool {
		for _, c := range nodes {
			if got := c.Image().Topic("replicated"); got == nil || !reflect.DeepEqual(got, want) {
				return false
			}
		}
		return true
	})

	// Fail over: close the leader; the other two elect a new one that
	// accepts writes.
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	var rest []*Controller
	for _, c := range nodes {
		if c != leader {
			rest = append(rest, c)
		}
	}
	var next *Controller
	waitUntil(t, rest, "a new leader", func() bool {
		next = leaderOf(rest)
		if next == nil {
			return false
		}
		for _, c := range rest {
			if c.LeaderID() != next.cfg.NodeID {
				return false
			}
		}
		return true
	})
	if next.cfg.NodeID == leader.cfg.NodeID {
		t.Fatal("closed node still leads")
	}
	onLeader(t, rest, func(c *Controller) error {
		return createOne(t, c, TopicSpec{Name: "after-failover", NumPartitions: 1, ReplicationFactor: 2})
	})
	waitUntil(t, rest, "the new topic on both survivors", func() bool {
		for _, c := range rest {
			if c.Image().Topic("after-failover") == nil {
				return false
			}
		}
		return true
	})
	for _, c := range rest {
		img := c.Image()
		if got := img.Topic("replicated"); got == nil || got.ID != want.ID {
			t.Fatalf("node %d lost the topic created under the old leader", c.cfg.NodeID)
		}
		if img.ClusterID != clusterID {
			t.Fatalf("node %d cluster id changed to %q", c.cfg.NodeID, img.ClusterID)
		}
	}
}
