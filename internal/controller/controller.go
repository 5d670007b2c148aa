// Package controller keeps the cluster metadata (brokers, topics,
// partitions, topic configs, producer-id blocks) in a Raft-replicated state
// machine and publishes it as immutable Images.
//
// Raft is hashicorp/raft with a bbolt log and stable store (raft-boltdb/v2,
// <Dir>/raft.db), file snapshots (<Dir>/snapshots) and a TCP transport. A
// node with no voters configured is a one-voter cluster. (raft-boltdb v1
// uses the archived boltdb/bolt, which fails Go's checkptr under -race.)
//
// Writes are commands (see commands.go for the log format) proposed
// through one method, submit, which works on every node: a follower
// forwards the command to the Raft leader (forward.go). Applying a command
// builds a new Image copy-on-write and publishes it, so readers never lock.
//
// All inter-node traffic uses the node's cluster port (the Raft listener):
// every connection starts with a hello naming its stream, Raft, controller
// RPCs or replication (mux.go, transport.go). Brokers register and
// heartbeat to the Raft leader, which fences those that stop
// (lifecycle.go, liveness.go).
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Controller runs this node's member of the metadata quorum.
type Controller struct {
	cfg Config
	log *slog.Logger
	st  *state

	raft  *raft.Raft
	trans *raft.NetworkTransport
	store *raftboltdb.BoltStore
	mux   *clusterMux
	pool  *controlPool

	// ctx ends at Close; it bounds work done for peers.
	ctx    context.Context
	cancel context.CancelFunc
	// born anchors the monotonic clock of broker liveness (now()).
	born time.Time
	// wg tracks the control server, its connections and the liveness loop.
	wg sync.WaitGroup

	// connMu guards conns, the open inbound control connections (nil once
	// closing).
	connMu sync.Mutex
	conns  map[net.Conn]struct{}

	// live is the Raft leader's view of broker sessions (liveness.go).
	live liveness

	// Broker side of the lifecycle (lifecycle.go): the registrations made
	// through this controller and whether a controlled shutdown began.
	bmu          sync.Mutex
	regs         map[int32]*localBroker
	wantShutdown atomic.Bool

	observer  *raft.Observer
	obsCh     chan raft.Observation
	stop      chan struct{}
	watchDone chan struct{}

	// readyTerm is the Raft term in which this node, as leader, has passed
	// a barrier: its image then reflects everything committed before.
	readyTerm atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// New opens the Raft stores in cfg.Dir, starts the Raft listener and Raft
// itself, and bootstraps the quorum from cfg.Voters (or this node alone)
// when the directory has no prior state. It returns without waiting for a
// leader; call WaitReady for that.
func New(cfg Config) (c *Controller, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating metadata directory: %w", err)
	}
	c = &Controller{
		cfg:       cfg,
		log:       cfg.Logger,
		st:        newState(),
		obsCh:     make(chan raft.Observation, 16),
		stop:      make(chan struct{}),
		watchDone: make(chan struct{}),
		born:      time.Now(),
		conns:     make(map[net.Conn]struct{}),
		regs:      make(map[int32]*localBroker),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	var cleanup []func() error
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				_ = cleanup[i]()
			}
		}
	}()

	hlog := newHCLogAdapter(cfg.Logger)
	var advertise string
	for _, v := range cfg.Voters {
		if v.ID == cfg.NodeID {
			advertise = v.Addr
		}
	}
	ln, advertise, err := listenCluster(cfg.BindAddr, advertise)
	if err != nil {
		return nil, fmt.Errorf("cluster listener %s: %w", cfg.BindAddr, err)
	}
	c.mux = newClusterMux(ln, cfg.NodeID, cfg.Voters, advertise,
		func() string { return c.Image().ClusterID }, cfg.Logger.With("subsystem", "cluster-net"))
	cleanup = append(cleanup, c.mux.Close)
	c.pool = newControlPool(func(ctx context.Context, node int32) (net.Conn, error) {
		pc, err := c.mux.dial(ctx, node, StreamControl)
		if err != nil {
			return nil, err
		}
		return pc, nil
	})
	c.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:                newRaftStream(c.mux, advertise),
		ServerAddressProvider: voterAddrs(c.mux.addrs),
		MaxPool:               3,
		Timeout:               10 * time.Second,
		Logger:                hlog.Named("raft-net"),
	})
	cleanup = append(cleanup, c.trans.Close)

	c.store, err = raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(cfg.Dir, "raft.db"),
		// Bolt waits forever for its file lock by default; another process
		// using the same directory should be an error instead.
		BoltOptions: &bbolt.Options{Timeout: 2 * time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("opening raft log in %s: %w", cfg.Dir, err)
	}
	cleanup = append(cleanup, c.store.Close)
	logs, err := raft.NewLogCache(512, c.store)
	if err != nil {
		return nil, fmt.Errorf("raft log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, cfg.SnapshotRetain, hlog.Named("raft-snapshot"))
	if err != nil {
		return nil, fmt.Errorf("raft snapshot store: %w", err)
	}

	rc := raft.DefaultConfig()
	rc.LocalID = serverID(cfg.NodeID)
	rc.Logger = hlog.Named("raft")
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfigValue, err)
	}

	existing, err := raft.HasExistingState(logs, c.store, snaps)
	if err != nil {
		return nil, fmt.Errorf("inspecting raft state in %s: %w", cfg.Dir, err)
	}
	if !existing {
		if err := raft.BootstrapCluster(rc, logs, c.store, snaps, c.trans, c.quorum()); err != nil {
			return nil, fmt.Errorf("bootstrapping the metadata quorum: %w", err)
		}
		c.log.Info("bootstrapped metadata quorum", "voters", len(c.quorum().Servers), "dir", cfg.Dir)
	}

	f := &fsm{st: c.st, log: c.log}
	c.raft, err = raft.NewRaft(rc, f, logs, c.store, snaps, c.trans)
	if err != nil {
		return nil, fmt.Errorf("starting raft: %w", err)
	}
	c.observer = raft.NewObserver(c.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	c.raft.RegisterObserver(c.observer)
	r, obs := c.raft, c.observer // c is nil by the time a failed New cleans up
	cleanup = append(cleanup, func() error {
		r.DeregisterObserver(obs)
		return r.Shutdown().Error()
	})
	if existing {
		if err := c.checkStoredVoters(); err != nil {
			return nil, err
		}
	}
	go c.watchLeadership()
	c.wg.Add(3)
	go c.serveControl()
	go c.runLiveness()
	go c.runRebalance() // rebalance.go
	c.log.Debug("metadata controller started", "node_id", cfg.NodeID, "raft_addr", c.trans.LocalAddr())
	return c, nil
}

// quorum is the configuration a new cluster is bootstrapped with.
func (c *Controller) quorum() raft.Configuration {
	if len(c.cfg.Voters) == 0 {
		return raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: serverID(c.cfg.NodeID), Address: c.trans.LocalAddr(),
		}}}
	}
	var conf raft.Configuration
	for _, v := range c.cfg.Voters {
		conf.Servers = append(conf.Servers, raft.Server{
			Suffrage: raft.Voter, ID: serverID(v.ID), Address: raft.ServerAddress(v.Addr),
		})
	}
	return conf
}

// checkStoredVoters compares the configured voter ids with the quorum
// stored in the metadata log. Membership changes are not supported, so a
// different id set is a startup error. Addresses may differ: each node
// reaches its peers at the addresses in its own voters list.
func (c *Controller) checkStoredVoters() error {
	future := c.raft.GetConfiguration()
	if err := future.Error(); err != nil {
		return fmt.Errorf("reading the stored metadata quorum: %w", err)
	}
	var stored []int32
	for _, s := range future.Configuration().Servers {
		if n, err := strconv.ParseInt(string(s.ID), 10, 32); err == nil {
			stored = append(stored, int32(n))
		}
	}
	slices.Sort(stored)
	if !slices.Equal(stored, c.mux.voterIDs) {
		return fmt.Errorf("%w: the configured voter ids %v differ from the quorum %v stored in %s; changing the voters of an existing cluster is not supported",
			ErrInvalidVoters, c.mux.voterIDs, stored, c.cfg.Dir)
	}
	return nil
}

func serverID(node int32) raft.ServerID { return raft.ServerID(strconv.Itoa(int(node))) }

// Addr is the address this node's Raft listener advertises (with port 0 in
// BindAddr, the port actually chosen).
func (c *Controller) Addr() string { return string(c.trans.LocalAddr()) }

// Image returns the current metadata image. It is never nil.
func (c *Controller) Image() *Image { return c.st.cur.Load() }

// Updates returns a channel that receives a value after the image changes.
// Notifications coalesce (the channel holds at most one), so a reader must
// take the latest Image when woken rather than count notifications. Meant
// for one consumer.
func (c *Controller) Updates() <-chan struct{} { return c.st.updates }

// IsLeader reports whether this node is the Raft leader.
func (c *Controller) IsLeader() bool { return c.raft.State() == raft.Leader }

// LeaderID returns the node id of the current Raft leader, or -1.
func (c *Controller) LeaderID() int32 {
	// Raft enters the leader state a moment before it records itself as
	// leader; answer consistently with IsLeader.
	if c.raft.State() == raft.Leader {
		return c.cfg.NodeID
	}
	_, id := c.raft.LeaderWithID()
	if id == "" {
		return -1
	}
	n, err := strconv.ParseInt(string(id), 10, 32)
	if err != nil {
		return -1
	}
	return int32(n)
}

// RaftState is the local Raft state: Follower, Candidate, Leader or
// Shutdown.
func (c *Controller) RaftState() string { return c.raft.State().String() }

// Snapshot makes Raft take a snapshot now (normally it does so after
// SnapshotThreshold entries). When nothing changed since the last one the
// error matches raft.ErrNothingNewToSnapshot.
func (c *Controller) Snapshot() error {
	if err := c.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("metadata snapshot: %w", err)
	}
	return nil
}

// WaitReady blocks until this node can serve metadata: a leader exists,
// the cluster id is committed, and the local image is caught up. On the
// leader "caught up" is exact (a barrier in the current term has been
// applied). A follower is taken to be caught up once it has applied
// everything it knows to be committed, which may briefly lag the leader;
// exact follower reads come with forwarding in cluster mode.
func (c *Controller) WaitReady(ctx context.Context) error {
	for {
		changed := c.st.waitCh()
		if c.ready() {
			return nil
		}
		// Raft raises no event when a follower's applied index passes
		// entries that never reach the FSM (no-ops, barriers) or when it
		// records an index after the FSM has run, so a follower with a
		// known leader also re-checks on a short timer.
		var recheck <-chan time.Time
		if !c.IsLeader() && c.LeaderID() >= 0 {
			recheck = time.After(c.cfg.CommitTimeout)
		}
		select {
		case <-changed:
		case <-recheck:
		case <-c.stop:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("metadata quorum not ready (raft state %s, leader %d, cluster id %q, applied %d of %d committed): %w",
				c.RaftState(), c.LeaderID(), c.Image().ClusterID, c.raft.AppliedIndex(), c.raft.CommitIndex(), ctx.Err())
		}
	}
}

func (c *Controller) ready() bool {
	img := c.Image()
	leader := c.LeaderID()
	if img.ClusterID == "" || leader < 0 || img.ControllerID != leader {
		return false
	}
	if leader == c.cfg.NodeID {
		return c.readyTerm.Load() == c.raft.CurrentTerm()
	}
	return c.raft.AppliedIndex() >= c.raft.CommitIndex()
}

// watchLeadership follows Raft leadership: it keeps Image.ControllerID
// current, logs leader changes, and when this node becomes leader runs a
// barrier (so its image is complete before it reports ready) and commits a
// cluster id if the cluster has none yet.
func (c *Controller) watchLeadership() {
	defer close(c.watchDone)
	var retry <-chan time.Time
	for {
		retry = nil
		if !c.onLeadership() {
			retry = time.After(c.cfg.HeartbeatTimeout)
		}
		select {
		case <-c.obsCh:
		case <-retry:
		case <-c.stop:
			return
		}
	}
}

// onLeadership reacts to the current leadership state and reports whether
// it is done (false: try again later, e.g. the barrier timed out).
func (c *Controller) onLeadership() bool {
	leader := c.LeaderID()
	if img := c.Image(); img.ControllerID != leader {
		c.st.publish(func(cur *Image) *Image { return cur.withControllerID(leader) })
		switch {
		case leader == c.cfg.NodeID:
			c.log.Info("this node is now the metadata leader", "node_id", leader, "term", c.raft.CurrentTerm())
		case leader >= 0:
			c.log.Info("metadata leader changed", "leader_id", leader)
		default:
			c.log.Debug("metadata leader unknown; election in progress")
		}
	}
	if c.raft.State() != raft.Leader {
		return true
	}
	term := c.raft.CurrentTerm()
	if c.readyTerm.Load() != term {
		if err := c.raft.Barrier(c.cfg.ApplyTimeout).Error(); err != nil {
			c.log.Debug("leader barrier failed", "err", err)
			return !c.IsLeader() // a lost leadership is handled by the next observation
		}
		if c.raft.CurrentTerm() != term || !c.IsLeader() {
			return true
		}
		c.readyTerm.Store(term)
	}
	if c.Image().ClusterID == "" {
		id := newClusterID()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ApplyTimeout)
		_, err := c.submit(ctx, &setClusterIDCmd{ClusterID: id}, false)
		cancel()
		if err != nil {
			c.log.Warn("committing a cluster id failed; will retry", "err", err)
			return !c.IsLeader()
		}
		c.log.Info("new cluster created", "cluster_id", c.Image().ClusterID)
	}
	c.st.signal()
	return true
}

// Close stops Raft and releases the listener and stores. A leader with
// peers first hands leadership over, so the quorum does not wait out an
// election timeout. Close is idempotent.
func (c *Controller) Close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
		if c.IsLeader() && len(c.raft.GetConfiguration().Configuration().Servers) > 1 {
			if err := c.raft.LeadershipTransfer().Error(); err != nil {
				c.log.Debug("leadership transfer on shutdown failed", "err", err)
			}
		}
		c.cancel()
		var errs []error
		if err := c.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("stopping raft: %w", err))
		}
		c.raft.DeregisterObserver(c.observer)
		<-c.watchDone
		c.closeConns()
		c.pool.close()
		if err := c.trans.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing raft transport: %w", err))
		}
		if err := c.mux.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the cluster listener: %w", err))
		}
		c.wg.Wait()
		if err := c.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing raft log: %w", err))
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// propose appends cmd (data is its encoding) to the Raft log on this node,
// which must lead, and returns the FSM's result and the entry's index once
// applied. A broker registration is first checked against live sessions.
func (c *Controller) propose(ctx context.Context, cmd command, data []byte) (applyResult, uint64, error) {
	if c.raft.State() != raft.Leader {
		return applyResult{}, 0, &NotLeaderError{LeaderID: c.LeaderID()}
	}
	reg, isReg := cmd.(*registerBrokerCmd)
	if isReg {
		if err := c.checkRegistration(reg); err != nil {
			return applyResult{}, 0, err
		}
	}
	timeout := c.cfg.ApplyTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
		if timeout <= 0 {
			return applyResult{}, 0, fmt.Errorf("metadata write %s: %w", cmd.kind(), context.DeadlineExceeded)
		}
	}
	future := c.raft.Apply(data, timeout)
	done := make(chan error, 1)
	go func() { done <- future.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return applyResult{}, 0, c.raftError(cmd, err)
		}
	case <-ctx.Done():
		return applyResult{}, 0, fmt.Errorf("metadata write %s (it may still be applied): %w", cmd.kind(), ctx.Err())
	}
	res, ok := future.Response().(applyResult)
	if !ok {
		return applyResult{}, 0, fmt.Errorf("metadata write %s: unexpected FSM response %T", cmd.kind(), future.Response())
	}
	if isReg && res.Err == nil {
		c.touchSession(reg.ID, [16]byte(reg.Incarnation))
	}
	return res, future.Index(), nil
}

// raftError translates Raft's errors into the controller's.
func (c *Controller) raftError(cmd command, err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return &NotLeaderError{LeaderID: c.LeaderID()}
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	}
	return fmt.Errorf("metadata write %s: %w", cmd.kind(), err)
}
