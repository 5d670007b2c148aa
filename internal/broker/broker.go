// Package broker assembles a running Spool node: storage, the metadata
// controller, partition replicas, the Kafka listener and the HTTP gateway.
// It owns their lifecycle (start in dependency order, stop in reverse) and
// the reconciler that keeps local replicas in line with the metadata image.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/spool-mq/spool/internal/auth"
	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/gateway"
	"github.com/spool-mq/spool/internal/group"
	"github.com/spool-mq/spool/internal/handlers"
	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/replication"
	"github.com/spool-mq/spool/internal/server"
	"github.com/spool-mq/spool/internal/storage"
	"github.com/spool-mq/spool/internal/txn"
	"github.com/spool-mq/spool/internal/vfs"
)

// metadataDirName holds the Raft state inside the data directory. It has no
// "-<n>" suffix, so the log manager never mistakes it for a partition.
const metadataDirName = "__cluster_metadata"

// Broker is a running node.
type Broker struct {
	cfg     config.Broker
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *brokerMetrics

	ctrl   *controller.Controller
	store  *storage.Manager
	parts  *partition.Manager
	groups *group.Coordinator
	txns   *txn.Coordinator
	repl   *replication.Manager
	// kafka are the Kafka listeners, in the order of listeners.
	kafka []*kafkaListener
	// peerSrv serves replication fetches from other brokers, which arrive
	// on the cluster port (see controller.ReplicationListener).
	peerSrv *server.Server
	gw      *gateway.Gateway

	ready atomic.Bool

	partOpts    partition.Options
	reconcileMu sync.Mutex
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	closeOnce   sync.Once
	closeErr    error
}

// Options are the parts of a broker that are not user configuration.
type Options struct {
	// Logger receives the broker's logs; nil discards them.
	Logger *slog.Logger
	// FS is the filesystem for logs; nil is the real one. Tests inject
	// failures (a full disk) through it.
	FS vfs.FS
}

// Start brings a broker up and returns once it serves Kafka requests. On
// error everything already started is stopped again.
func Start(ctx context.Context, cfg config.Broker, opts Options) (b *Broker, err error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fs := opts.FS
	if fs == nil {
		fs = vfs.NewOS()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	br := &Broker{cfg: cfg, log: logger, reg: prometheus.NewRegistry(), parts: partition.NewManager()}
	b = br
	b.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	b.metrics = newBrokerMetrics(b.reg, b.parts)
	durability := partition.Fsync
	if cfg.Durability == "periodic-flush" {
		durability = partition.PeriodicFlush
	}
	// One decoder bounds every decompression of client data by
	// message.max.decompressed.bytes: produce validation, the cleaner,
	// ListOffsets timestamp lookups and group replay.
	dec := record.NewDecoderLimit(cfg.MaxDecompressedBytes)
	b.partOpts = partition.Options{Durability: durability, FlushObserver: b.metrics.observeFlush, Decoder: dec,
		NodeID: cfg.NodeID, ReplicaLagTime: ms(cfg.ReplicaLagTimeMaxMs), Logger: logger.With("component", "partition"),
		ProducerIDExpiration: ms(cfg.ProducerIDExpirationMs), MaxProducers: int(cfg.ProducerStateMaxEntries)}
	defer func() {
		if err != nil {
			// Not b: every error return has already set it to nil.
			br.Close()
		}
	}()

	started := time.Now()
	b.store, err = storage.OpenManager(cfg.DataDir, storage.Options{FS: fs, Logger: logger.With("component", "storage"),
		PerFileSync: !cfg.FlushSyncFS, Decoder: dec})
	if err != nil {
		return nil, fmt.Errorf("opening data directory %s: %w", cfg.DataDir, err)
	}
	logger.Info("logs recovered", "dir", cfg.DataDir, "logs", len(b.store.Logs()), "took", time.Since(started).Round(time.Millisecond))

	if err := controller.CheckMetaProperties(cfg.DataDir, cfg.NodeID); err != nil {
		return nil, err
	}
	voters, err := controller.ParseVoters(cfg.Voters)
	if err != nil {
		return nil, fmt.Errorf("controller.quorum.voters: %w", err)
	}
	b.ctrl, err = controller.New(controller.Config{
		NodeID:                   cfg.NodeID,
		Dir:                      filepath.Join(cfg.DataDir, metadataDirName),
		BindAddr:                 cfg.ControllerAddr,
		Voters:                   voters,
		Logger:                   logger.With("component", "controller"),
		DefaultPartitions:        cfg.DefaultPartitions,
		DefaultReplicationFactor: cfg.DefaultReplicationFactor,
		MaxPartitions:            int(cfg.ClusterMaxPartitions),

		BrokerSessionTimeout:         ms(int64(cfg.BrokerSessionTimeoutMs)),
		BrokerHeartbeatInterval:      ms(int64(cfg.BrokerHeartbeatIntervalMs)),
		AutoLeaderRebalance:          cfg.AutoLeaderRebalance,
		LeaderImbalanceCheckInterval: config.Duration(cfg.LeaderImbalanceCheckIntervalSeconds, time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("starting controller: %w", err)
	}
	if err := b.ctrl.WaitReady(ctx); err != nil {
		return nil, fmt.Errorf("waiting for the metadata quorum: %w", err)
	}

	endpoints, err := b.listen()
	if err != nil {
		return nil, err
	}
	if err := controller.WriteMetaProperties(cfg.DataDir, cfg.NodeID, b.ctrl.Image().ClusterID); err != nil {
		return nil, err
	}
	b.partOpts.ISR = isrUpdater{b.ctrl}
	b.partOpts.SessionLost = func() bool { return !b.ctrl.SessionHealthy() }
	b.partOpts.ProducerIDAllocated = b.producerIDAllocated
	runCtx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	if err := b.register(ctx, runCtx, endpoints); err != nil {
		return nil, err
	}
	gcfg := group.DefaultConfig()
	gcfg.NodeID = cfg.NodeID
	gcfg.Logger = logger.With("component", "groups")
	gcfg.Decoder = dec
	gcfg.NumPartitions = cfg.OffsetsTopicNumPartitions
	gcfg.ReplicationFactor = cfg.OffsetsTopicReplicationFactor
	gcfg.ClusterSize = len(voters)
	gcfg.MinSessionTimeout = config.Duration(int64(cfg.GroupMinSessionTimeoutMs), time.Millisecond)
	gcfg.MaxSessionTimeout = config.Duration(int64(cfg.GroupMaxSessionTimeoutMs), time.Millisecond)
	gcfg.InitialRebalanceDelay = config.Duration(int64(cfg.GroupInitialRebalanceDelayMs), time.Millisecond)
	gcfg.MaxGroupSize = int(cfg.GroupMaxSize)
	gcfg.MaxGroups = int(cfg.GroupCoordinatorMaxGroups)
	gcfg.MaxMembers = int(cfg.GroupCoordinatorMaxMembers)
	gcfg.OffsetsRetention = config.Duration(int64(cfg.OffsetsRetentionMinutes), time.Minute)
	gcfg.OffsetsRetentionCheckInterval = config.Duration(cfg.OffsetsRetentionCheckIntervalMs, time.Millisecond)
	gcfg.MaxMetadataBytes = int(cfg.OffsetMetadataMaxBytes)
	if b.groups, err = group.New(gcfg); err != nil {
		return nil, fmt.Errorf("group coordinator: %w", err)
	}
	tcfg := txn.DefaultConfig()
	tcfg.NodeID = cfg.NodeID
	tcfg.Logger = logger.With("component", "txn")
	tcfg.Decoder = dec
	tcfg.NumPartitions = cfg.TransactionStateLogNumPartitions
	tcfg.ReplicationFactor = cfg.TransactionStateLogReplicationFactor
	tcfg.ClusterSize = len(voters)
	tcfg.MaxTimeout = config.Duration(int64(cfg.TransactionMaxTimeoutMs), time.Millisecond)
	tcfg.AbortCheckInterval = config.Duration(int64(cfg.TransactionAbortTimedOutCheckIntervalMs), time.Millisecond)
	tcfg.MaxIDs = int(cfg.TransactionCoordinatorMaxIDs)
	tcfg.Markers = txn.LocalMarkers{Parts: b.parts, Image: b.ctrl.Image}
	if b.txns, err = txn.New(tcfg); err != nil {
		return nil, fmt.Errorf("transaction coordinator: %w", err)
	}
	b.repl = replication.NewManager(replication.Config{
		NodeID: cfg.NodeID, Dialer: replicationDialer{b.ctrl}, Partitions: b.parts,
		Logger:            logger.With("component", "replication"),
		FetchMaxBytes:     cfg.ReplicaFetchResponseMaxBytes,
		PartitionMaxBytes: cfg.ReplicaFetchMaxBytes,
		FetchWait:         ms(int64(cfg.ReplicaFetchWaitMaxMs)),
		ISRCheckInterval:  ms(cfg.ReplicaLagTimeMaxMs) / 2,
	})
	b.syncReplicas()

	var authorizer *auth.Authorizer
	if cfg.Authorizer.Enabled() {
		authorizer = auth.NewAuthorizer(cfg.Authorizer.SuperUsers, cfg.Authorizer.AllowEveryoneIfNoACLFound)
	}
	h := handlers.New(handlers.Deps{
		NodeID: cfg.NodeID, Config: &b.cfg, Controller: b.ctrl, Partitions: b.parts, Storage: b.store, Groups: b.groups, Txn: b.txns,
		Decoder: dec, Logger: logger.With("component", "handlers"), SyncReplicas: b.syncReplicas, Authorizer: authorizer,
	})
	// Each listener has its own request budget, so clients cannot starve
	// replication of request memory.
	if err := b.newServers(h); err != nil {
		return nil, err
	}
	b.peerSrv = server.New(serverConfig(&cfg),
		h, logger.With("component", "replication-server"), server.NewMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"listener": "replication"}, b.reg)))

	b.startLoops(runCtx)

	if cfg.HTTPAddr != "" {
		b.gw, err = gateway.Start(cfg.HTTPAddr, b.reg, b.Ready, logger.With("component", "http"))
		if err != nil {
			return nil, fmt.Errorf("http listener: %w", err)
		}
	}
	b.ready.Store(true)
	logger.Info("spool broker started", "node_id", cfg.NodeID, "kafka", b.listenerAddrs(),
		"http", b.HTTPAddr(), "data_dir", cfg.DataDir, "durability", cfg.Durability, "cluster_id", b.ctrl.Image().ClusterID,
		"took", time.Since(started).Round(time.Millisecond))
	return b, nil
}

// producerIDWait bounds how long a produce waits for this broker's
// metadata to learn of a producer id it does not know yet. Allocation is
// committed before InitProducerId answers, so a real id arrives within a
// metadata round trip; an invented one costs its sender this much.
const producerIDWait = time.Second

// producerIDAllocated is partition.Options.ProducerIDAllocated: ids below
// the metadata's next unallocated producer id are valid.
func (b *Broker) producerIDAllocated(id int64) bool {
	if id < b.ctrl.Image().NextProducerID {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), producerIDWait)
	defer cancel()
	return b.ctrl.ProducerIDAllocated(ctx, id)
}

// HTTPAddr is the address the HTTP gateway is bound to ("" if disabled).
func (b *Broker) HTTPAddr() string {
	if b.gw == nil {
		return ""
	}
	return b.gw.Addr()
}

// Partition is this broker's replica of topic/index, or nil. It exists for
// in-process callers that drive a partition directly: the end-to-end tests
// write transaction markers through it until a transaction coordinator
// does (partition.WriteTxnMarker). Request handling never uses it.
func (b *Broker) Partition(topic string, index int32) *partition.Partition {
	return b.parts.Get(topic, index)
}

// Ready reports whether the broker serves requests (for /readyz).
func (b *Broker) Ready() bool { return b.ready.Load() }

// Close stops the broker: listeners first so no new work arrives, then the
// background loops, then storage (which flushes and checkpoints, so the next
// start skips recovery), then the controller.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.controlledShutdown()
		b.ready.Store(false)
		var errs []error
		if b.gw != nil {
			errs = append(errs, b.gw.Close())
		}
		errs = append(errs, b.closeListeners()...)
		if b.peerSrv != nil {
			errs = append(errs, b.peerSrv.Close())
		}
		if b.cancel != nil {
			b.cancel()
		}
		b.wg.Wait()
		if b.repl != nil {
			// Before storage: fetchers append to the logs.
			b.repl.Close()
		}
		if b.groups != nil {
			// Before storage: the coordinator writes through partitions.
			errs = append(errs, b.groups.Close())
		}
		if b.txns != nil {
			// Likewise, and it writes markers.
			errs = append(errs, b.txns.Close())
		}
		if b.store != nil {
			errs = append(errs, b.store.Close())
		}
		if b.ctrl != nil {
			errs = append(errs, b.ctrl.Close())
		}
		b.closeErr = errors.Join(errs...)
		if b.closeErr == nil {
			b.log.Info("spool broker stopped")
		}
	})
	return b.closeErr
}

// startLoops starts the background loops and listeners. It is a method so
// that the closures hold the receiver: Start's named result is nil once it
// returns an error, while these goroutines may still be starting.
func (b *Broker) startLoops(ctx context.Context) {
	b.goLoop(func() { b.watchMetadata(ctx) })
	b.goLoop(func() { b.maintain(ctx) })
	b.goLoop(func() { b.watchSession(ctx) })
	b.serveListeners()
	b.goLoop(func() {
		if err := b.peerSrv.Serve(b.ctrl.ReplicationListener()); err != nil {
			b.log.Error("replication listener stopped", "err", err)
		}
	})
}

func (b *Broker) goLoop(fn func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn()
	}()
}

// checkDataDir creates the data directory and proves it is writable, so a
// bad --data-dir fails at startup with a clear message.
func checkDataDir(dir string) error {
	if dir == "" {
		return errors.New("data directory is not set (--data-dir / log.dirs)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data directory %s cannot be created: %w", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w", dir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// advertised picks the host and port clients are told to connect to.
func advertised(configured string, bound net.Addr) (string, int32, error) {
	addr := configured
	if addr == "" {
		addr = bound.String()
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("advertised listener %q: %w", addr, err)
	}
	if portStr == "0" {
		// Bound to an ephemeral port (tests): advertise the real one.
		_, portStr, _ = net.SplitHostPort(bound.String())
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		return "", 0, fmt.Errorf("advertised listener %q has no routable host: set advertised.listeners", addr)
	}
	var port int32
	if _, err := fmt.Sscan(portStr, &port); err != nil {
		return "", 0, fmt.Errorf("advertised listener %q: bad port", addr)
	}
	return host, port, nil
}

// serverConfig is the Kafka listeners' share of the broker config.
func serverConfig(cfg *config.Broker) server.Config {
	return server.Config{
		MaxRequestBytes:       cfg.MaxRequestBytes,
		MaxConnections:        cfg.MaxConnections,
		QueuedMaxRequestBytes: cfg.QueuedMaxRequestBytes,
		FirstRequestTimeout:   ms(cfg.FirstRequestTimeoutMs),
		IdleTimeout:           ms(cfg.MaxIdleMs),
		ReadTimeout:           ms(cfg.RequestReadTimeoutMs),
		WriteTimeout:          ms(cfg.ResponseWriteTimeoutMs),
	}
}
