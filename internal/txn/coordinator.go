// Package txn is the transaction coordinator (KIP-98): it owns the state of
// transactional ids and drives the partitions of a transaction to a commit
// or an abort.
//
// Transactional ids live on the partitions of the compacted internal topic
// __transaction_state: an id belongs to partition
// abs(javaHashCode(id)) % partitions (the same hash as consumer groups) and
// the broker leading that partition is its coordinator. Every state change
// is written to that partition in Kafka's record format (records.go) and is
// durable before the request is answered. A broker that becomes leader of a
// partition replays it to rebuild its ids and finishes any commit or abort
// that a previous leader left in PrepareCommit or PrepareAbort (its markers
// are written again; markers are idempotent for the partitions).
//
// # State machine
//
//	Empty / CompleteCommit / CompleteAbort --AddPartitionsToTxn--> Ongoing
//	Ongoing --AddPartitionsToTxn--> Ongoing (more partitions)
//	Ongoing --EndTxn(commit)--> PrepareCommit --markers--> CompleteCommit
//	Ongoing --EndTxn(abort), InitProducerId, timeout--> PrepareAbort --markers--> CompleteAbort
//
// InitProducerId bumps the epoch of an existing id, fencing the producer
// that held it; the fenced producer's transaction, if ongoing, is aborted
// with the new epoch before the new producer gets its answer. A timed-out
// transaction is aborted with a bumped epoch too, so the producer that
// left it open is fenced instead of writing into a transaction that no
// longer exists.
//
// # Locking
//
// A shard (one owned partition) has a RWMutex. Every state change holds it
// exclusively across its log writes and marker writes: the changes of one
// shard are therefore serialised, which keeps the log in the same order as
// memory. A transactional produce holds it shared from the check that its
// partitions belong to the ongoing transaction until its data is appended
// (Coordinator.BeginProduce), so no marker can be written between the
// check and the append: data can never land after its transaction's marker.
package txn

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/coordlog"
	"github.com/spool-mq/spool/internal/record"
)

// TopicName is the internal topic that stores transaction state.
const TopicName = "__transaction_state"

// MaxTransactionalIDLen bounds a transactional id in bytes. Kafka has no
// bound beyond the protocol's int16 string length; Spool keeps ids,
// which it holds in memory and writes into every state record, short.
const MaxTransactionalIDLen = 1024

// maxProducerEpoch is the last epoch a producer id may use; past it the
// id gets a new producer id (Kafka's rule).
const maxProducerEpoch = math.MaxInt16 - 1

// TopicPartition names one partition of a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Log is the coordinator's view of one partition of __transaction_state.
type Log = coordlog.Log

// Markers writes transaction markers. The broker's implementation writes
// to the local leader of the partition (single node); one that sends
// WriteTxnMarkers to other brokers is the remaining cluster step.
type Markers interface {
	WriteMarker(tp TopicPartition, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) error
}

// OwnedPartition is a partition of __transaction_state this broker leads.
type OwnedPartition = coordlog.Partition

// Config configures a Coordinator.
type Config struct {
	NodeID int32
	// NumPartitions and ReplicationFactor create __transaction_state
	// (transaction.state.log.num.partitions, ...replication.factor);
	// ClusterSize caps the replication factor (0: live brokers).
	NumPartitions     int32
	ReplicationFactor int16
	ClusterSize       int
	// MaxTimeout is transaction.max.timeout.ms.
	MaxTimeout time.Duration
	// AbortCheckInterval is how often timed-out transactions are looked
	// for (and failed completions retried).
	AbortCheckInterval time.Duration
	// MaxIDs bounds the transactional ids held (transaction.coordinator.max.ids).
	MaxIDs  int
	Markers Markers
	Now     func() time.Time
	Logger  *slog.Logger
	Decoder *record.Decoder
}

// DefaultConfig is Kafka's defaults.
func DefaultConfig() Config {
	return Config{NumPartitions: 50, ReplicationFactor: 3, MaxTimeout: 15 * time.Minute,
		AbortCheckInterval: 10 * time.Second, MaxIDs: 100000}
}

func (c *Config) validate() error {
	switch {
	case c.NumPartitions < 1, c.ReplicationFactor < 1, c.MaxTimeout <= 0, c.AbortCheckInterval <= 0, c.MaxIDs < 1:
		return errors.New("txn: partitions, replication factor, max timeout, abort check interval and max ids must be positive")
	case c.Markers == nil:
		return errors.New("txn: Markers is required")
	}
	return nil
}

// meta is the state of one transactional id.
type meta struct {
	id         string
	producerID int64
	epoch      int16
	timeout    time.Duration
	state      kmsg.TransactionState
	partitions map[TopicPartition]struct{}
	started    time.Time // when the ongoing transaction began; zero if none
	updated    time.Time
}

func (m *meta) clone() *meta {
	c := *m
	c.partitions = make(map[TopicPartition]struct{}, len(m.partitions))
	for tp := range m.partitions {
		c.partitions[tp] = struct{}{}
	}
	return &c
}

// Coordinator is the transaction coordinator of one broker. It is safe for
// concurrent use.
type Coordinator struct {
	cfg Config
	log *slog.Logger

	mu            sync.RWMutex
	numPartitions int32
	shards        map[int32]*shard
	closed        bool
	ids           atomic.Int64 // ids held over all shards
	capWarned     atomic.Bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// New returns a running coordinator owning no partition yet (see
// SetPartitions, Reconcile). Close stops its timeout loop.
func New(cfg Config) (*Coordinator, error) {
	c, err := newCoordinator(cfg)
	if err != nil {
		return nil, err
	}
	c.wg.Add(1)
	go c.loop()
	return c, nil
}

// newCoordinator builds a coordinator without its loop; tests call tick.
func newCoordinator(cfg Config) (*Coordinator, error) {
	if err := cfg.validate(); err != nil {
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
	return &Coordinator{cfg: cfg, log: cfg.Logger, shards: map[int32]*shard{}, stop: make(chan struct{})}, nil
}

// Close stops the coordinator. State is already in the log.
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

// IDCount is how many transactional ids the coordinator holds.
func (c *Coordinator) IDCount() int { return int(c.ids.Load()) }

// PartitionFor is the partition of __transaction_state that stores id:
// Java's String.hashCode over UTF-16 code units, Kafka's Utils.abs, modulo
// the partition count (as Kafka's TransactionStateManager).
func PartitionFor(id string, numPartitions int) int32 {
	if numPartitions <= 0 {
		return 0
	}
	var h int32
	for _, u := range utf16.Encode([]rune(id)) {
		h = 31*h + int32(u)
	}
	if h == math.MinInt32 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % int32(numPartitions)
}

// SetPartitions tells the coordinator how many partitions
// __transaction_state has and which it leads. New ones load in the
// background; dropped ones stop serving.
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
		s := &shard{c: c, partition: idx, log: o.Log, epoch: o.LeaderEpoch, loading: true, ids: map[string]*meta{}}
		c.shards[idx] = s
		load = append(load, s)
	}
	c.wg.Add(len(load))
	c.mu.Unlock()
	for _, s := range drop {
		s.unload()
	}
	for _, s := range load {
		go func() {
			defer c.wg.Done()
			s.load()
		}()
	}
}

// Loaded reports whether no owned partition is still loading.
func (c *Coordinator) Loaded() bool {
	for _, s := range c.snapshot() {
		s.mu.RLock()
		loading := s.loading && !s.closed
		s.mu.RUnlock()
		if loading {
			return false
		}
	}
	return true
}

func (c *Coordinator) snapshot() []*shard {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*shard, 0, len(c.shards))
	for _, s := range c.shards {
		out = append(out, s)
	}
	return out
}

// shardFor returns the shard of id, not locked.
func (c *Coordinator) shardFor(id string) (*shard, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrNotCoordinator
	}
	s := c.shards[PartitionFor(id, int(c.numPartitions))]
	if s == nil {
		return nil, ErrNotCoordinator
	}
	return s, nil
}

// IsCoordinator reports whether this broker coordinates id (it leads the
// partition, loaded or not).
func (c *Coordinator) IsCoordinator(id string) bool {
	_, err := c.shardFor(id)
	return err == nil
}

func (c *Coordinator) loop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.AbortCheckInterval)
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

// tick aborts the ongoing transactions past their timeout and retries
// completions whose markers failed.
func (c *Coordinator) tick() {
	now := c.cfg.Now()
	for _, s := range c.snapshot() {
		s.mu.Lock()
		if s.usable() == nil {
			for _, m := range s.ids {
				switch m.state {
				case kmsg.TransactionStateOngoing:
					if now.Sub(m.started) > m.timeout {
						c.log.Info("aborting a transaction past its timeout", "transactional_id", m.id,
							"producer_id", m.producerID, "timeout", m.timeout)
						if err := s.abortFenced(m); err != nil {
							c.log.Warn("aborting a timed-out transaction failed", "transactional_id", m.id, "err", err)
						}
					}
				case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
					if err := s.complete(m); err != nil {
						c.log.Warn("completing a transaction failed; retrying later", "transactional_id", m.id, "err", err)
					}
				}
			}
		}
		s.mu.Unlock()
	}
}

// shard is the state of one owned partition of __transaction_state.
type shard struct {
	c         *Coordinator
	partition int32
	log       Log
	epoch     int32

	mu      sync.RWMutex
	loading bool
	closed  bool
	ids     map[string]*meta
}

// usable reports why the shard cannot serve, if it cannot. The caller
// holds s.mu.
func (s *shard) usable() error {
	switch {
	case s.closed:
		return ErrNotCoordinator
	case s.loading:
		return ErrCoordinatorLoading
	}
	return nil
}

func (s *shard) unload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.c.ids.Add(-int64(len(s.ids)))
	s.ids = map[string]*meta{}
}

// load replays the partition, then finishes the commits and aborts left
// in a Prepare state, then serves. A failed read is retried every second
// until the shard is dropped.
func (s *shard) load() {
	for {
		ids := map[string]*meta{}
		err := coordlog.Replay(s.log, s.c.cfg.Decoder, nil, func(key, value []byte) error {
			id, m, err := decodeMeta(key, value)
			if err != nil {
				return err
			}
			if m == nil {
				delete(ids, id)
			} else {
				ids[id] = m
			}
			return nil
		})
		if err == nil {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.closed {
				return
			}
			s.ids = ids
			s.c.ids.Add(int64(len(ids)))
			for _, m := range ids {
				if m.state == kmsg.TransactionStatePrepareCommit || m.state == kmsg.TransactionStatePrepareAbort {
					if err := s.complete(m); err != nil {
						s.c.log.Warn("completing a loaded transaction failed; retrying later", "transactional_id", m.id, "err", err)
					}
				}
			}
			s.loading = false
			s.c.log.Debug("loaded transactional ids", "partition", s.partition, "ids", len(ids))
			return
		}
		s.c.log.Error("loading transaction state failed; retrying", "partition", s.partition, "err", err)
		select {
		case <-s.c.stop:
			return
		case <-time.After(time.Second):
		}
		s.mu.RLock()
		closed := s.closed
		s.mu.RUnlock()
		if closed {
			return
		}
	}
}

// write makes next the state of its id: the record is appended (durable)
// first, then installed in memory. The caller holds s.mu exclusively.
func (s *shard) write(next *meta) error {
	next.updated = s.c.cfg.Now()
	if err := s.log.Append(metaBatch(next, next.updated)); err != nil {
		if errors.Is(err, ErrNotCoordinator) {
			return err
		}
		s.c.log.Warn("writing transaction state failed", "partition", s.partition, "err", err)
		return fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, err)
	}
	if _, ok := s.ids[next.id]; !ok {
		s.c.ids.Add(1)
	}
	s.ids[next.id] = next
	return nil
}

// complete writes m's markers (m is in PrepareCommit or PrepareAbort) to
// every partition of the transaction, then the Complete state. The caller
// holds s.mu exclusively. On a marker failure m stays in its Prepare
// state and tick retries.
func (s *shard) complete(m *meta) error {
	commit := m.state == kmsg.TransactionStatePrepareCommit
	for tp := range m.partitions {
		if err := s.c.cfg.Markers.WriteMarker(tp, m.producerID, m.epoch, commit, s.epoch); err != nil {
			return fmt.Errorf("%w: marker for %s/%d: %w", ErrConcurrentTransactions, tp.Topic, tp.Partition, err)
		}
	}
	next := m.clone()
	next.state = kmsg.TransactionStateCompleteAbort
	if commit {
		next.state = kmsg.TransactionStateCompleteCommit
	}
	next.partitions = map[TopicPartition]struct{}{}
	next.started = time.Time{}
	return s.write(next)
}

// end moves m, Ongoing, to PrepareCommit or PrepareAbort with epoch, then
// completes it. The caller holds s.mu exclusively.
func (s *shard) end(m *meta, epoch int16, commit bool) error {
	next := m.clone()
	next.epoch = epoch
	next.state = kmsg.TransactionStatePrepareAbort
	if commit {
		next.state = kmsg.TransactionStatePrepareCommit
	}
	if err := s.write(next); err != nil {
		return err
	}
	return s.complete(next)
}

// abortFenced aborts m's ongoing transaction with a bumped epoch (if one
// is left), fencing the producer that opened it. The caller holds s.mu
// exclusively.
func (s *shard) abortFenced(m *meta) error {
	epoch := m.epoch
	if epoch < maxProducerEpoch {
		epoch++
	}
	return s.end(m, epoch, false)
}
