// Package group is the consumer group coordinator for the classic group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and committed
// offsets.
//
// Groups live on the partitions of the compacted internal topic
// __consumer_offsets: a group belongs to partition
// abs(javaHashCode(groupID)) % partitions, and the broker leading that
// partition is its coordinator. Every change that must survive a restart
// (offset commits, a generation's members and assignments, deletions) is
// written to that partition as a record in Kafka's own format (see
// records.go), so external tools can read the topic. A broker that becomes
// leader of a partition replays it from the start to rebuild its groups;
// until then requests for those groups get COORDINATOR_LOAD_IN_PROGRESS.
//
// # Structure
//
// A Coordinator holds one shard per partition it leads. A shard's mutex
// guards all in-memory state of its groups; it is never held while writing
// to the log. Each group also has a write mutex that orders its log
// writes: a writer takes it, builds records from the state under the shard
// mutex, appends (waiting for durability), then applies the result under
// the shard mutex again. Records of one group therefore appear in the log
// in the order they were applied in memory, which is what makes replay
// reproduce the same state. Lock order: a group's write mutex, then the
// coordinator mutex, then a shard mutex.
//
// JoinGroup and SyncGroup park until their round completes: the request
// goroutine waits on a channel that the round's completion answers.
// Timers (sessions, rebalance timeouts, the initial rebalance delay) are
// deadlines checked by tick, which a loop calls every TickInterval; tests
// drive tick by hand with a fake clock.
package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"

	"github.com/spool-mq/spool/internal/coordlog"
	"github.com/spool-mq/spool/internal/record"
)

// TopicName is the internal topic that stores groups and offsets.
const TopicName = "__consumer_offsets"

// Log is the coordinator's view of one partition of __consumer_offsets.
// The broker adapts its partition replicas to it (see Reconcile); tests use
// an in-memory log.
type Log = coordlog.Log

// OwnedPartition is a partition of __consumer_offsets this broker leads.
type OwnedPartition = coordlog.Partition

// Coordinator is the group coordinator of one broker. It is safe for
// concurrent use.
type Coordinator struct {
	cfg Config
	log *slog.Logger
	dec *record.Decoder

	mu            sync.RWMutex
	numPartitions int32 // partitions of __consumer_offsets; 0 = unknown
	shards        map[int32]*shard
	closed        bool
	// loaded is closed and replaced whenever a shard finishes loading.
	loaded chan struct{}
	// groups counts the groups in all shards (see shard.addGroup); it is
	// atomic because each shard updates it under its own mutex only.
	groups atomic.Int64
	// members counts the members and pending member ids of all groups in
	// all shards (see group.counter).
	members atomic.Int64
	// capWarned is set while the group cap refuses creations, so the
	// warning is logged once per episode rather than per request;
	// memberCapWarned likewise for the member cap.
	capWarned       atomic.Bool
	memberCapWarned atomic.Bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// New returns a running coordinator that owns no partition yet; see
// SetPartitions and Reconcile.
func New(cfg Config) (*Coordinator, error) {
	c, err := newCoordinator(cfg)
	if err != nil {
		return nil, err
	}
	c.wg.Add(2)
	go c.tickLoop()
	go c.expiryLoop()
	return c, nil
}

// newCoordinator builds a coordinator without its background loops; tests
// call tick and expireOffsets themselves.
func newCoordinator(cfg Config) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Decoder == nil {
		cfg.Decoder = record.NewDecoder()
	}
	return &Coordinator{
		cfg:    cfg,
		log:    cfg.Logger,
		dec:    cfg.Decoder,
		shards: make(map[int32]*shard),
		loaded: make(chan struct{}),
		stop:   make(chan struct{}),
	}, nil
}

// Config returns the coordinator's configuration.
func (c *Coordinator) Config() Config { return c.cfg }

// Close stops the coordinator: parked requests are answered with
// NOT_COORDINATOR and background work ends. Group state is already in the
// log, so nothing is lost.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	shards := c.shards
	c.shards = map[int32]*shard{}
	close(c.stop)
	c.mu.Unlock()
	for _, s := range shards {
		s.unload()
	}
	c.wg.Wait()
	return nil
}

// PartitionFor returns the partition of __consumer_offsets that stores
// groupID when the topic has numPartitions partitions. It matches Kafka:
// Java's String.hashCode over UTF-16 code units, made non-negative with
// Kafka's Utils.abs (which maps MinInt32 to 0), modulo the partition count.
func PartitionFor(groupID string, numPartitions int) int32 {
	if numPartitions <= 0 {
		return 0
	}
	var h int32
	for _, u := range utf16.Encode([]rune(groupID)) {
		h = 31*h + int32(u)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % int32(numPartitions)
}

// SetPartitions tells the coordinator how many partitions
// __consumer_offsets has and which of them this broker leads. Newly owned
// partitions are loaded in the background; partitions no longer owned are
// dropped, answering their parked requests with NOT_COORDINATOR.
func (c *Coordinator) SetPartitions(numPartitions int32, owned []OwnedPartition) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.numPartitions = numPartitions
	want := make(map[int32]OwnedPartition, len(owned))
	for _, o := range owned {
		want[o.Index] = o
	}
	var drop, load []*shard
	for idx, s := range c.shards {
		if o, ok := want[idx]; ok && o.Log == s.log && o.LeaderEpoch == s.epoch {
			delete(want, idx)
			continue
		}
		drop = append(drop, s)
		delete(c.shards, idx)
	}
	for idx, o := range want {
		s := newShard(c, idx, o.Log, o.LeaderEpoch)
		c.shards[idx] = s
		load = append(load, s)
	}
	c.wg.Add(len(load))
	c.mu.Unlock()

	for _, s := range drop {
		c.log.Info("no longer coordinating groups of partition", "partition", s.partition)
		s.unload()
	}
	for _, s := range load {
		go func() {
			defer c.wg.Done()
			s.load()
			c.mu.Lock()
			close(c.loaded)
			c.loaded = make(chan struct{})
			c.mu.Unlock()
		}()
	}
}

// WaitLoaded blocks until no owned partition is still loading.
func (c *Coordinator) WaitLoaded(ctx context.Context) error {
	for {
		c.mu.RLock()
		ch := c.loaded
		loading := false
		for _, s := range c.shards {
			s.mu.Lock()
			loading = loading || s.loading
			s.mu.Unlock()
		}
		c.mu.RUnlock()
		if !loading {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// shardFor returns the shard that stores groupID, locked; callers unlock
// s.mu. It fails if this broker does not own the partition or is still
// loading it.
func (c *Coordinator) shardFor(groupID string) (*shard, error) {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return nil, ErrNotCoordinator
	}
	s := c.shards[PartitionFor(groupID, int(c.numPartitions))]
	c.mu.RUnlock()
	if s == nil {
		return nil, ErrNotCoordinator
	}
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	return s, nil
}

// snapshotShards returns the owned shards.
func (c *Coordinator) snapshotShards() []*shard {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*shard, 0, len(c.shards))
	for _, s := range c.shards {
		out = append(out, s)
	}
	return out
}

func (c *Coordinator) tickLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.tick()
		}
	}
}

func (c *Coordinator) expiryLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.OffsetsRetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.expireOffsets()
		}
	}
}

// tick fires every timer that is due: expired sessions and pending
// members, and the end of join phases.
func (c *Coordinator) tick() {
	now := c.cfg.Now()
	for _, s := range c.snapshotShards() {
		s.mu.Lock()
		if s.usable() == nil {
			for _, g := range s.groups {
				s.expireMembers(g, now)
				s.advanceJoin(g, now)
			}
		}
		s.mu.Unlock()
	}
}

// shard is the state of one owned partition of __consumer_offsets.
type shard struct {
	c         *Coordinator
	partition int32
	log       Log
	epoch     int32

	mu      sync.Mutex
	loading bool
	closed  bool
	groups  map[string]*group
}

func newShard(c *Coordinator, partition int32, log Log, epoch int32) *shard {
	return &shard{c: c, partition: partition, log: log, epoch: epoch, loading: true, groups: make(map[string]*group)}
}

// usable reports why the shard cannot serve requests, if it cannot.
// The caller holds s.mu.
func (s *shard) usable() error {
	switch {
	case s.closed:
		return ErrNotCoordinator
	case s.loading:
		return ErrCoordinatorLoading
	}
	return nil
}

// unload drops the shard's state and answers parked requests.
func (s *shard) unload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, g := range s.groups {
		for _, id := range append([]string(nil), g.order...) {
			m := g.members[id]
			g.answerJoin(m, joinOutcome{res: JoinResult{MemberID: m.id, Generation: -1}, err: ErrNotCoordinator})
			if m.syncWaiter != nil {
				m.syncWaiter <- syncOutcome{err: ErrNotCoordinator}
				m.syncWaiter = nil
			}
		}
	}
	s.setGroups(map[string]*group{})
}

// addGroup creates and stores group id, unless the coordinator already
// holds Config.MaxGroups groups (ErrTooManyGroups). The caller holds s.mu;
// every change of s.groups goes through addGroup, dropGroup or setGroups
// so the coordinator's count stays exact.
func (s *shard) addGroup(id string, now time.Time) (*group, error) {
	c := s.c
	if n := c.groups.Load(); n >= int64(c.cfg.MaxGroups) {
		if !c.capWarned.Swap(true) {
			c.log.Warn("refusing new consumer groups: the coordinator holds group.coordinator.max.groups",
				"groups", n, "limit", c.cfg.MaxGroups, "group", id)
		}
		return nil, ErrTooManyGroups
	}
	c.capWarned.Store(false)
	g := newGroup(id, now)
	g.counter = &c.members
	s.groups[id] = g
	c.groups.Add(1)
	return g, nil
}

// admitMember refuses a new member id (a member or a pending one) for g
// once the coordinator holds Config.MaxMembers of them
// (ErrTooManyMembers). The caller holds s.mu.
func (s *shard) admitMember(g *group) error {
	c := s.c
	if n := c.members.Load(); n >= int64(c.cfg.MaxMembers) {
		if !c.memberCapWarned.Swap(true) {
			c.log.Warn("refusing new group members: the coordinator holds group.coordinator.max.members",
				"members", n, "limit", c.cfg.MaxMembers, "group", g.id)
		}
		return ErrTooManyMembers
	}
	c.memberCapWarned.Store(false)
	return nil
}

// dropGroup removes g if it is still the shard's group of its id. The
// caller holds s.mu.
func (s *shard) dropGroup(g *group) {
	if s.groups[g.id] == g {
		delete(s.groups, g.id)
		s.c.groups.Add(-1)
		s.c.members.Add(-int64(g.size()))
		g.counter = nil
	}
}

// setGroups replaces the shard's groups (a load, an unload). The caller
// holds s.mu.
func (s *shard) setGroups(groups map[string]*group) {
	for _, g := range s.groups {
		s.c.members.Add(-int64(g.size()))
		g.counter = nil
	}
	for _, g := range groups {
		g.counter = &s.c.members
		s.c.members.Add(int64(g.size()))
	}
	s.c.groups.Add(int64(len(groups) - len(s.groups)))
	s.groups = groups
}

// GroupCount is how many groups the coordinator holds.
func (c *Coordinator) GroupCount() int { return int(c.groups.Load()) }

// MemberCount is how many members and pending member ids the
// coordinator's groups hold.
func (c *Coordinator) MemberCount() int { return int(c.members.Load()) }

func (s *shard) now() time.Time { return s.c.cfg.Now() }

// write appends batch for g, which the caller has locked with g.writeMu
// (and not s.mu), then calls apply under s.mu with the outcome. apply is
// not called if the shard was unloaded meanwhile; write then returns
// ErrNotCoordinator.
func (s *shard) write(batch []byte, apply func(err error)) error {
	err := s.log.Append(batch)
	if err != nil {
		if !errors.Is(err, ErrRecordTooLarge) {
			s.c.log.Warn("writing group state failed", "partition", s.partition, "err", err)
			err = fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrNotCoordinator
	}
	apply(err)
	return err
}

// current reports whether g is still the live group of its id in the
// shard (not deleted, not replaced). The caller holds s.mu.
func (s *shard) current(g *group) error {
	if err := s.usable(); err != nil {
		return err
	}
	if s.groups[g.id] != g || g.state == StateDead {
		return ErrCoordinatorNotAvailable
	}
	return nil
}
