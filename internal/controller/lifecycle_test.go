package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// registerLive registers a broker through c and sends it one heartbeat,
// which unfences it (its registration is in c's image by then).
func registerLive(t *testing.T, c *Controller, reg BrokerRegistration) {
	t.Helper()
	ctx := testCtx(t)
	if reg.IncarnationID == ([16]byte{}) {
		reg.IncarnationID = newUUID()
	}
	if err := c.RegisterBroker(ctx, reg); err != nil {
		t.Fatalf("RegisterBroker(%d): %v", reg.ID, err)
	}
	reply, ok := c.heartbeat(ctx, reg, false)
	if !ok || reply.Fenced {
		t.Fatalf("heartbeat of broker %d: ok %v, reply %+v", reg.ID, ok, reply)
	}
	if br := c.Image().Brokers[reg.ID]; br.Fenced {
		t.Fatalf("broker %d still fenced after a heartbeat: %+v", reg.ID, br)
	}
}

// brokerReg is node's broker registration with a fresh incarnation.
func brokerReg(node int32) BrokerRegistration {
	return BrokerRegistration{ID: node, Host: "127.0.0.1", Port: 9090 + node, IncarnationID: newUUID()}
}

// runBrokers registers each node's own broker (broker id = node id)
// through that node, runs its heartbeats until the test ends and waits
// until all are unfenced.
func runBrokers(t *testing.T, nodes []*Controller) {
	t.Helper()
	for _, c := range nodes {
		startBroker(t, c, brokerReg(c.cfg.NodeID))
	}
	waitUntil(t, nodes, "every node to see every broker unfenced", func() bool {
		for _, c := range nodes {
			img := c.Image()
			for _, b := range nodes {
				if br, ok := img.Brokers[b.cfg.NodeID]; !ok || br.Fenced {
					return false
				}
			}
		}
		return true
	})
}

// startBroker registers reg through c, runs c's heartbeats until the test
// ends (or the returned stop is called) and waits until reg is unfenced.
func startBroker(t *testing.T, c *Controller, reg BrokerRegistration) (stop func()) {
	t.Helper()
	ctx := testCtx(t)
	if err := c.RegisterBroker(ctx, reg); err != nil {
		t.Fatalf("node %d: RegisterBroker(%d): %v", c.cfg.NodeID, reg.ID, err)
	}
	hbCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.RunHeartbeats(hbCtx)
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	if err := c.WaitUnfenced(ctx); err != nil {
		t.Fatalf("node %d: broker %d: %v", c.cfg.NodeID, reg.ID, err)
	}
	return stop
}

// shortSessions makes brokers fence quickly.
func shortSessions(c *Config) {
	c.BrokerSessionTimeout = 300 * time.Millisecond
	c.BrokerHeartbeatInterval = 50 * time.Millisecond
}

func TestBrokerFencedWhenHeartbeatsStopAndUnfencedOnRestart(t *testing.T) {
	cfgs := clusterConfigs(t, 3, shortSessions)
	nodes := startNodes(t, cfgs)
	runBrokers(t, nodes)
	victim := followerOf(t, nodes)
	id := victim.cfg.NodeID
	var rest []*Controller
	for _, c := range nodes {
		if c != victim {
			rest = append(rest, c)
		}
	}
	epoch := rest[0].Image().Brokers[id].Epoch

	stopped := time.Now()
	if err := victim.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, rest, fmt.Sprintf("broker %d to be fenced", id), func() bool {
		return rest[0].Image().Brokers[id].Fenced && rest[1].Image().Brokers[id].Fenced
	})
	// Session timeout plus generous slack for a loaded machine.
	if took := time.Since(stopped); took > victim.cfg.BrokerSessionTimeout+5*time.Second {
		t.Errorf("broker fenced %v after its heartbeats stopped (session %v)", took, victim.cfg.BrokerSessionTimeout)
	}
	if br := rest[0].Image().Brokers[id]; br.Epoch != epoch {
		t.Errorf("fencing changed the registration epoch %d -> %d", epoch, br.Epoch)
	}

	// Restart on the same directory: a new incarnation registers (fenced)
	// and its heartbeats unfence it.
	restarted, err := New(cfgs[id-1])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = restarted.Close() })
	if err := restarted.WaitReady(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	reg := brokerReg(id)
	startBroker(t, restarted, reg)
	all := append(rest, restarted)
	waitUntil(t, all, "every node to see the new incarnation unfenced", func() bool {
		for _, c := range all {
			br := c.Image().Brokers[id]
			if br.Fenced || br.IncarnationID != reg.IncarnationID || br.Epoch <= epoch {
				return false
			}
		}
		return true
	})
	if !restarted.SessionHealthy() {
		t.Error("restarted broker's session is not healthy")
	}
}

func TestDuplicateBrokerRegistration(t *testing.T) {
	nodes := startClusterWith(t, 3, func(c *Config) {
		c.BrokerSessionTimeout = 500 * time.Millisecond
		c.BrokerHeartbeatInterval = 50 * time.Millisecond
	})
	stops := make(map[int32]func())
	for _, c := range nodes {
		stops[c.cfg.NodeID] = startBroker(t, c, brokerReg(c.cfg.NodeID))
	}
	ctx := testCtx(t)
	// Broker 1 is alive; another process claiming id 1 (through node 2)
	// is refused.
	impostor := brokerReg(1)
	if err := nodes[1].RegisterBroker(ctx, impostor); !errors.Is(err, ErrDuplicateBrokerID) {
		t.Fatalf("second live registration of broker 1 = %v, want ErrDuplicateBrokerID", err)
	}
	// Once broker 1 stops heartbeating for a session, the id is free.
	stops[1]()
	waitUntil(t, nodes, "broker 1 to be fenced", func() bool {
		l := leaderOf(nodes)
		return l != nil && l.Image().Brokers[1].Fenced
	})
	if err := nodes[1].RegisterBroker(ctx, impostor); err != nil {
		t.Fatalf("registration of broker 1 after its session expired: %v", err)
	}
	// The same incarnation may always register again (a retry).
	if err := nodes[1].RegisterBroker(ctx, impostor); err != nil {
		t.Fatalf("re-registration with the same incarnation: %v", err)
	}
}

func TestControlledShutdown(t *testing.T) {
	nodes := startCluster(t, 3)
	runBrokers(t, nodes)
	f := followerOf(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.ControlledShutdown(ctx); err != nil {
		t.Fatalf("controlled shutdown of broker %d: %v", f.cfg.NodeID, err)
	}
	br := f.Image().Brokers[f.cfg.NodeID]
	l := leaderOf(nodes)
	if l != nil {
		br = l.Image().Brokers[f.cfg.NodeID]
	}
	if !br.InControlledShutdown {
		t.Fatalf("broker %d after controlled shutdown: %+v", f.cfg.NodeID, br)
	}
	// Heartbeats saying "shutting down" do not unfence or reset it.
	if reply, ok := f.heartbeat(ctx, f.localBrokers()[0].reg, true); !ok || !reply.ShutdownReady {
		t.Fatalf("heartbeat during shutdown: ok %v reply %+v", ok, reply)
	}
}

func TestControlledShutdownSingleNode(t *testing.T) {
	bare := start(t, singleConfig(t.TempDir()))
	if err := bare.ControlledShutdown(testCtx(t)); err != nil {
		t.Fatalf("without a registration: %v", err)
	}
	c := start(t, singleConfig(t.TempDir()))
	startBroker(t, c, brokerReg(1))
	if err := c.ControlledShutdown(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if !c.Image().Brokers[1].InControlledShutdown {
		t.Fatal("broker not marked in controlled shutdown")
	}
}

func TestSessionHealthyAndWaitUnfenced(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	if c.SessionHealthy() {
		t.Error("healthy before any registration")
	}
	if err := c.WaitUnfenced(testCtx(t)); !errors.Is(err, ErrBrokerNotRegistered) {
		t.Errorf("WaitUnfenced before registering = %v", err)
	}
	reg := brokerReg(1)
	if err := c.RegisterBroker(testCtx(t), reg); err != nil {
		t.Fatal(err)
	}
	if !c.SessionHealthy() {
		t.Error("not healthy right after registering")
	}
	// Without heartbeats the broker stays fenced.
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.WaitUnfenced(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitUnfenced without heartbeats = %v", err)
	}
	startBroker(t, c, reg) // registers again (same incarnation) and heartbeats
	if c.Image().Brokers[1].Fenced {
		t.Error("fenced after WaitUnfenced returned")
	}
}

func TestRegistrationFencesUntilCaughtUp(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	ctx := testCtx(t)
	reg := brokerReg(1)
	if err := c.RegisterBroker(ctx, reg); err != nil {
		t.Fatal(err)
	}
	br := c.Image().Brokers[1]
	// A heartbeat from a broker whose image is behind its registration
	// leaves it fenced.
	reply, err := c.handleHeartbeat(ctx, heartbeatRequest{BrokerID: 1, Incarnation: uuid(reg.IncarnationID), ImageIndex: uint64(br.Epoch) - 1})
	if err != nil || !reply.Fenced || !c.Image().Brokers[1].Fenced {
		t.Fatalf("heartbeat behind the registration: %+v, %v", reply, err)
	}
	// Another incarnation's heartbeat is told to register again.
	reply, err = c.handleHeartbeat(ctx, heartbeatRequest{BrokerID: 1, Incarnation: uuid(newUUID()), ImageIndex: uint64(br.Epoch)})
	if err != nil || !reply.Unknown {
		t.Fatalf("heartbeat of an unknown incarnation: %+v, %v", reply, err)
	}
	reply, err = c.handleHeartbeat(ctx, heartbeatRequest{BrokerID: 1, Incarnation: uuid(reg.IncarnationID), ImageIndex: uint64(br.Epoch)})
	if err != nil || reply.Fenced || c.Image().Brokers[1].Fenced {
		t.Fatalf("caught-up heartbeat: %+v, %v", reply, err)
	}
	// A fence for an older registration is ignored.
	if err := c.RegisterBroker(ctx, reg); err != nil {
		t.Fatal(err)
	}
	newer := c.Image().Brokers[1]
	res, err := c.submit(ctx, &fenceBrokerCmd{ID: 1, Epoch: br.Epoch}, false)
	if err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	if got := c.Image().Brokers[1]; !reflect.DeepEqual(got, newer) {
		t.Fatalf("stale fence changed broker 1: %+v -> %+v", newer, got)
	}
}

func TestLifecycleStateSurvivesSnapshots(t *testing.T) {
	b := newBuilder(emptyImage())
	(&registerBrokerCmd{ID: 1, Host: "h", Port: 1, Incarnation: uuid(newUUID())}).apply(b, 5)
	(&registerBrokerCmd{ID: 2, Host: "h", Port: 2, Incarnation: uuid(newUUID())}).apply(b, 6)
	(&unfenceBrokerCmd{ID: 2, Epoch: 6}).apply(b, 7)
	(&beginControlledShutdownCmd{ID: 2, Epoch: 6}).apply(b, 8)
	img := b.build(8)
	if br := img.Brokers[2]; br.Fenced || !br.InControlledShutdown {
		t.Fatalf("broker 2 = %+v, want unfenced and in controlled shutdown", br)
	}
	raw, err := json.Marshal(snapshotOf(img))
	if err != nil {
		t.Fatal(err)
	}
	var snap snapshotData
	if err := json.Unmarshal(raw, &snap); err != nil {
		t.Fatal(err)
	}
	if got := snap.image(); !reflect.DeepEqual(got.Brokers, img.Brokers) {
		t.Fatalf("brokers after a snapshot round trip:\n got %+v\nwant %+v", got.Brokers, img.Brokers)
	}
}
