// Package replication runs the follower side of Kafka's ISR replication:
// for every partition this broker follows, it fetches the leader's log
// and appends it locally, keeping the offsets and leader epochs.
//
// As in Kafka, there is one fetcher goroutine per leader broker, carrying
// all the partitions followed from that broker in one Fetch request per
// round. A fetcher speaks the Kafka protocol (kmsg types) over a
// replication stream to the leader's cluster port.
//
// A partition that starts following (a new leader or a new leader epoch)
// first truncates its log to the point where it agrees with the leader,
// found with OffsetForLeaderEpoch (KIP-101, KIP-279), and only then
// fetches. Each round appends what arrived, flushes it, and only then
// sends the next fetch: the fetch offset tells the leader what is durable
// here, and the leader's high watermark (and acks=all) relies on that.
//
// Lock order: Manager.mu, then fetcher.mu. A fetcher holds its mu while
// it applies a response to its replicas (append, truncate, flush), so
// removing a partition from a fetcher waits for that to finish: once
// Reconcile has removed a partition, no fetcher touches it again.
package replication

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/storage"
)

var (
	// ErrCannotRestartLog means a follower fell behind the leader's log
	// start and its partition cannot restart its log beyond its end.
	ErrCannotRestartLog = errors.New("replication: partition cannot restart its log at the leader's log start")
)

// Dialer opens replication streams to other brokers.
type Dialer interface {
	// DialReplication connects to node's cluster port and returns a
	// stream that speaks the Kafka protocol to its broker.
	DialReplication(ctx context.Context, node int32) (net.Conn, error)
}

// Config configures a Manager. Zero durations and sizes take the defaults
// noted on each field.
type Config struct {
	// NodeID is this broker's id; fetches carry it as ReplicaID.
	NodeID int32
	// Dialer reaches leaders.
	Dialer Dialer
	// Partitions are the replicas hosted here.
	Partitions *partition.Manager
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// FetchMaxBytes bounds one fetch response (replica.fetch.response.max.bytes,
	// default 10 MiB).
	FetchMaxBytes int32
	// PartitionMaxBytes bounds one partition's data in a fetch
	// (replica.fetch.max.bytes, default 1 MiB). The first batch is
	// returned even if larger.
	PartitionMaxBytes int32
	// FetchWait is how long the leader may hold a fetch waiting for data
	// (replica.fetch.wait.max.ms, default 500 ms).
	FetchWait time.Duration
	// ISRCheckInterval is how often leaders check for lagging followers
	// (default 5 s; Kafka uses replica.lag.time.max.ms / 2).
	ISRCheckInterval time.Duration
	// RequestTimeout bounds one request on the wire beyond FetchWait
	// (replica.socket.timeout.ms, default 30 s).
	RequestTimeout time.Duration
	// MinBackoff and MaxBackoff bound the capped exponential backoff
	// between connection attempts (default 50 ms and 1 s).
	MinBackoff, MaxBackoff time.Duration
	// ErrorBackoff is how long a partition whose fetch failed (wrong
	// leader, fenced epoch, unknown topic) waits before it is fetched
	// again, unless new metadata re-points it sooner
	// (replica.fetch.backoff.ms, default 1 s).
	ErrorBackoff time.Duration
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = 10 << 20
	}
	if c.PartitionMaxBytes <= 0 {
		c.PartitionMaxBytes = 1 << 20
	}
	if c.FetchWait <= 0 {
		c.FetchWait = 500 * time.Millisecond
	}
	if c.ISRCheckInterval <= 0 {
		c.ISRCheckInterval = 5 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 50 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(time.Second, c.MinBackoff)
	}
	if c.ErrorBackoff <= 0 {
		c.ErrorBackoff = time.Second
	}
	return c
}

// Manager keeps one fetcher per leader broker following the partitions
// this broker replicates, and runs the leaders' periodic ISR check.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	locals func() []local

	ctx    context.Context
	cancel context.CancelFunc
	isrWG  sync.WaitGroup

	// running counts fetcher loops that have not finished.
	running atomic.Int32

	mu       sync.Mutex
	closed   bool
	fetchers map[int32]*fetcher // by leader id
}

// NewManager returns a running Manager (its ISR check ticks from now on).
// Nothing is fetched until the first Reconcile.
func NewManager(cfg Config) *Manager {
	return newManager(cfg, partitionsOf(cfg.Partitions))
}

func newManager(cfg Config, locals func() []local) *Manager {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, log: cfg.Logger, locals: locals,
		ctx: ctx, cancel: cancel, fetchers: make(map[int32]*fetcher)}
	m.isrWG.Add(1)
	go m.checkISR()
	return m
}

// follow is what Reconcile wants a fetcher to do for one partition.
type follow struct {
	leader  int32
	epoch   int32
	topicID [16]byte
	r       replica
}

// Reconcile brings the local replicas and the fetchers in line with img:
// every local replica whose topic is in img gets its metadata, and every
// partition this broker follows is fetched from its leader at its current
// leader epoch (a new epoch truncates again). Partitions this broker now
// leads, that are offline, or whose replica is gone stop being fetched
// before their new metadata is applied. Calls are serialized.
//
// The broker calls it after adding the replicas img assigns here to the
// partition manager and before closing the ones it no longer assigns, so
// no fetcher ever writes to a closed log.
func (m *Manager) Reconcile(img *controller.Image) {
	if img == nil {
		return
	}
	m.reconcile(img.Topic)
}

// reconcile is Reconcile over a topic lookup, so tests need no image.
func (m *Manager) reconcile(topic func(name string) *controller.Topic) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	type update struct {
		r  local
		md metadata
	}
	var updates []update
	want := make(map[storage.TopicPartition]follow)
	for _, r := range m.locals() {
		tp := r.TopicPartition()
		t := topic(tp.Topic)
		if t == nil || r.TopicID() != ([16]byte{}) && r.TopicID() != t.ID ||
			tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			continue // deleted (or recreated under the same name): the broker removes it
		}
		p := &t.Partitions[tp.Partition]
		updates = append(updates, update{r, metadataOf(p)})
		if p.Leader >= 0 && p.Leader != m.cfg.NodeID && slices.Contains(p.Replicas, m.cfg.NodeID) {
			want[tp] = follow{leader: p.Leader, epoch: p.LeaderEpoch, topicID: t.ID, r: r}
		}
	}

	// Stop first, so no fetcher appends to a replica that is becoming
	// leader or is about to be removed.
	for _, f := range m.fetchers {
		f.removeUnless(func(tp storage.TopicPartition, st *partState) bool {
			w, ok := want[tp]
			return ok && w.leader == f.leader && w.epoch == st.epoch && w.r == st.r && w.topicID == st.topicID
		})
	}
	for _, u := range updates {
		u.r.ApplyMetadata(u.md)
	}
	for tp, w := range want {
		f := m.fetchers[w.leader]
		if f == nil {
			f = newFetcher(m, w.leader)
			m.fetchers[w.leader] = f
			m.running.Add(1)
			go f.run()
		}
		f.add(tp, w)
	}
	for id, f := range m.fetchers {
		if f.size() == 0 {
			delete(m.fetchers, id)
			f.stop()
		}
	}
}

// Close stops every fetcher and the ISR check. Partitions are left as
// they are; a later Reconcile does nothing.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	fetchers := m.fetchers
	m.fetchers = nil
	m.mu.Unlock()
	m.cancel()
	for _, f := range fetchers {
		f.stop()
	}
	m.isrWG.Wait()
}

// following reports the partitions each leader's fetcher follows, for
// tests and diagnostics.
func (m *Manager) following() map[int32][]storage.TopicPartition {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int32][]storage.TopicPartition, len(m.fetchers))
	for id, f := range m.fetchers {
		out[id] = f.partitions()
	}
	return out
}

// checkISR lets every local leader drop followers that stopped keeping
// up. The partition decides whether it leads and who lags.
func (m *Manager) checkISR() {
	defer m.isrWG.Done()
	t := time.NewTicker(m.cfg.ISRCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		for _, r := range m.locals() {
			if m.ctx.Err() != nil {
				return
			}
			r.MaybeShrinkISR(m.ctx)
		}
	}
}
