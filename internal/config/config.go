package config

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Broker is one node's static configuration. Field comments give the Kafka
// property name each field is set from; Set is the one place that maps
// names onto fields, so the properties file, SPOOL_* variables and flags
// cannot drift apart.
type Broker struct {
	// NodeID (node.id) identifies this node in the cluster and the quorum.
	NodeID int32
	// DataDir (log.dirs) holds partition logs and the metadata log. Spool
	// uses a single directory; a comma-separated list is rejected.
	DataDir string
	// KafkaAddr (listeners) lists the Kafka listeners as
	// NAME://host:port,...; a single host:port is one PLAINTEXT listener.
	// KafkaListeners parses it (see listeners.go).
	KafkaAddr string
	// AdvertisedKafkaAddr (advertised.listeners) is what clients are told
	// to connect to, per listener name. A listener missing here
	// advertises its bound address, which must then name a routable host
	// (not empty, 0.0.0.0 or ::).
	AdvertisedKafkaAddr string
	// ListenerSecurityProtocolMap (listener.security.protocol.map) maps
	// listener names to security protocols, Kafka's NAME:PROTOCOL list.
	ListenerSecurityProtocolMap string
	// SSL configures TLS on SSL listeners (ssl.* keys).
	SSL SSL
	// HTTPAddr (http.addr) serves /metrics, /livez, /readyz and the REST
	// gateway. Empty disables the HTTP listener.
	HTTPAddr string
	// ControllerAddr (controller.listener) is the Raft transport address.
	ControllerAddr string
	// Voters (controller.quorum.voters) lists the metadata quorum as
	// "id@host:port,...". Empty means this node alone.
	Voters string
	// LogLevel (log.level) is debug, info, warn or error.
	LogLevel string
	// LogFormat (log.format) is text or json.
	LogFormat string
	// AutoCreateTopics (auto.create.topics.enable) lets Metadata and
	// Produce requests create missing topics with the defaults below.
	AutoCreateTopics bool
	// DefaultPartitions (num.partitions) for auto-created topics and
	// CreateTopics requests that leave the count at -1.
	DefaultPartitions int32
	// DefaultReplicationFactor (default.replication.factor), likewise.
	DefaultReplicationFactor int16
	// MaxRequestBytes (socket.request.max.bytes) bounds one request frame.
	MaxRequestBytes int32
	// MaxDecompressedBytes (message.max.decompressed.bytes) bounds the
	// decompressed record bytes of one produced batch. Decompression
	// streams and stops there, so a small compressed batch cannot make
	// the broker allocate its expansion (the produce gets
	// MESSAGE_TOO_LARGE). It must be at least message.max.bytes: an
	// uncompressed batch never expands, so anything smaller would refuse
	// compressed batches whose records are within the size limit.
	MaxDecompressedBytes int64
	// MaxConnections (max.connections) bounds open client connections.
	MaxConnections int
	// Durability (log.durability) is DurabilityFsync (a write is
	// acknowledged after it is fsynced; concurrent producers share one
	// fsync) or DurabilityPeriodicFlush (acknowledged after the write;
	// fsync every FlushIntervalMs, so a power loss can lose that window).
	Durability string
	// FlushIntervalMs (log.flush.interval.ms) is the periodic-flush period.
	FlushIntervalMs int64
	// FlushSyncFS (log.flush.syncfs) lets a group-commit round cover all
	// its partitions with one syncfs(2) of the data directory's file
	// system instead of an fsync per segment file (Linux). Turn it off
	// when other software writes heavily to the same file system: a
	// syncfs also waits for their data.
	FlushSyncFS bool
	// RetentionCheckIntervalMs (log.retention.check.interval.ms) is how
	// often retention deletes expired segments.
	RetentionCheckIntervalMs int64
	// CheckpointIntervalMs (log.flush.offset.checkpoint.interval.ms) is
	// how often the recovery point is checkpointed, bounding recovery work.
	CheckpointIntervalMs int64
	// HWMCheckpointIntervalMs (replica.high.watermark.checkpoint.interval.ms)
	// is how often the high watermarks are checkpointed: after a crash a
	// replicated partition restarts from the last checkpointed watermark
	// instead of its log start.
	HWMCheckpointIntervalMs int64
	// CleanerBackoffMs (log.cleaner.backoff.ms) is how often the log
	// cleaner looks for compacted logs that are due for cleaning.
	CleanerBackoffMs int64

	// Cluster mode: broker liveness, replication and leadership. Defaults
	// are shorter than Kafka's where failover time depends on them (a
	// broker is fenced after 4 s of silence rather than 9 s); timeouts are
	// measured on the monotonic clock, so wall-clock jumps fence nobody.

	// BrokerSessionTimeoutMs (broker.session.timeout.ms): a broker whose
	// heartbeats stop for this long is fenced and loses its leaderships.
	BrokerSessionTimeoutMs int32
	// BrokerHeartbeatIntervalMs (broker.heartbeat.interval.ms) is how often
	// a broker heartbeats to the controller.
	BrokerHeartbeatIntervalMs int32
	// ReplicaLagTimeMaxMs (replica.lag.time.max.ms): a follower that has
	// not caught up with the leader for this long leaves the ISR.
	ReplicaLagTimeMaxMs int64
	// ReplicaFetchMaxBytes (replica.fetch.max.bytes) is the most a follower
	// asks for per partition in one fetch; ReplicaFetchResponseMaxBytes
	// (replica.fetch.response.max.bytes) per fetch response.
	ReplicaFetchMaxBytes         int32
	ReplicaFetchResponseMaxBytes int32
	// ReplicaFetchWaitMaxMs (replica.fetch.wait.max.ms) is how long a
	// follower's fetch waits at the leader for new data.
	ReplicaFetchWaitMaxMs int32
	// AutoLeaderRebalance (auto.leader.rebalance.enable) moves leadership
	// back to each partition's preferred replica every
	// LeaderImbalanceCheckIntervalSeconds (leader.imbalance.check.interval.seconds).
	AutoLeaderRebalance                 bool
	LeaderImbalanceCheckIntervalSeconds int64
	// ControlledShutdown (controlled.shutdown.enable) moves leadership off
	// a broker that is stopping before it closes, waiting at most
	// ControlledShutdownTimeoutMs (controlled.shutdown.timeout.ms).
	ControlledShutdown          bool
	ControlledShutdownTimeoutMs int64

	// The consumer group coordinator's settings. They keep Kafka's names
	// and units so a server.properties written for Kafka means the same
	// here; Duration converts the counts for the coordinator.

	// OffsetsTopicNumPartitions (offsets.topic.num.partitions) is the
	// partition count __consumer_offsets is created with. It is read only
	// when the topic is created: changing it later would move groups.
	OffsetsTopicNumPartitions int32
	// OffsetsTopicReplicationFactor (offsets.topic.replication.factor) is
	// the replication factor __consumer_offsets is created with, capped at
	// the number of live brokers.
	OffsetsTopicReplicationFactor int16
	// GroupMinSessionTimeoutMs and GroupMaxSessionTimeoutMs
	// (group.min.session.timeout.ms, group.max.session.timeout.ms) bound
	// the session timeout a member may ask for in JoinGroup.
	GroupMinSessionTimeoutMs int32
	GroupMaxSessionTimeoutMs int32
	// GroupInitialRebalanceDelayMs (group.initial.rebalance.delay.ms) is
	// how long the first rebalance of an empty group waits for more
	// members; 0 rebalances at once (useful in tests).
	GroupInitialRebalanceDelayMs int32
	// GroupMaxSize (group.max.size) is the most members one group may have.
	GroupMaxSize int32
	// OffsetsRetentionMinutes (offsets.retention.minutes) is how long a
	// group's committed offsets outlive the group becoming empty.
	OffsetsRetentionMinutes int32
	// OffsetsRetentionCheckIntervalMs (offsets.retention.check.interval.ms)
	// is how often expired offsets are looked for.
	OffsetsRetentionCheckIntervalMs int64
	// OffsetMetadataMaxBytes (offset.metadata.max.bytes) is the longest
	// metadata string an offset commit may carry.
	OffsetMetadataMaxBytes int32

	// Idempotent-producer state, kept per partition in memory.

	// ProducerIDExpirationMs (producer.id.expiration.ms): a producer id
	// with no append to a partition for this long is forgotten there
	// (Kafka's key and default, one day).
	ProducerIDExpirationMs int64
	// ProducerIDExpirationCheckIntervalMs
	// (producer.id.expiration.check.interval.ms) is how often expired
	// producer ids are swept out (Kafka's key and default, ten minutes);
	// lookups also expire them lazily.
	ProducerIDExpirationCheckIntervalMs int64
	// ProducerStateMaxEntries (producer.state.max.entries, Spool's own)
	// is the most producer ids one partition remembers; more evict the
	// least recently written. It bounds what a client calling
	// InitProducerId in a loop can make a partition hold.
	ProducerStateMaxEntries int32

	// ClusterMaxPartitions (cluster.max.partitions, Spool's own) is the
	// most partitions the cluster may hold over all topics; creating
	// topics or partitions past it fails with INVALID_PARTITIONS. It
	// bounds what auto.create.topics.enable lets any client create by
	// naming topics. The broker that proposes a creation applies its own
	// value, so set it alike on every broker.
	ClusterMaxPartitions int32

	// TransactionStateLogNumPartitions (transaction.state.log.num.partitions)
	// is the partition count __transaction_state is created with; read
	// only at creation, since changing it would move transactional ids.
	TransactionStateLogNumPartitions int32
	// TransactionStateLogReplicationFactor
	// (transaction.state.log.replication.factor) is its replication
	// factor, capped at the live brokers.
	TransactionStateLogReplicationFactor int16
	// TransactionMaxTimeoutMs (transaction.max.timeout.ms) bounds the
	// transaction timeout a producer may ask for in InitProducerId.
	TransactionMaxTimeoutMs int32
	// TransactionAbortTimedOutCheckIntervalMs
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms) is how
	// often the coordinator looks for transactions past their timeout.
	TransactionAbortTimedOutCheckIntervalMs int32
	// TransactionCoordinatorMaxIDs (transaction.coordinator.max.ids,
	// Spool's own) is the most transactional ids this broker's
	// transaction coordinator holds; an InitProducerId that would add one
	// more gets COORDINATOR_NOT_AVAILABLE. Ids are client text.
	TransactionCoordinatorMaxIDs int32

	// GroupCoordinatorMaxGroups (group.coordinator.max.groups, Spool's
	// own) is the most consumer groups this broker's coordinator holds at
	// once, over all the __consumer_offsets partitions it leads. A
	// request that would create one more fails (COORDINATOR_NOT_AVAILABLE
	// for JoinGroup and OffsetCommit, which clients retry; see
	// group.ErrTooManyGroups). Group ids are client-chosen text, so
	// without it any client could grow the coordinator without bound.
	GroupCoordinatorMaxGroups int32
	// GroupCoordinatorMaxMembers (group.coordinator.max.members, Spool's
	// own) is the most members, counting member ids handed out with
	// MEMBER_ID_REQUIRED and not yet used, over all the coordinator's
	// groups; a JoinGroup adding one more gets COORDINATOR_NOT_AVAILABLE.
	// group.max.size (Kafka's default MaxInt32) bounds only one group.
	GroupCoordinatorMaxMembers int32

	// Limits bound what clients can make the broker spend.
	Limits

	// SASL configures client authentication (sasl.go).
	SASL SASL

	// Authorizer configures ACL authorization (authorizer.go).
	Authorizer Authorizer

	// TopicDefaults are broker-level defaults for topic configs, keyed by
	// the TOPIC config name (retention.ms) although they are set through
	// the broker name (log.retention.ms). Pass it to ResolveTopicConfig.
	TopicDefaults map[string]string
}

// Durability modes for log.durability.
const (
	DurabilityFsync         = "fsync"
	DurabilityPeriodicFlush = "periodic-flush"
)

// Default returns the configuration of a single-node cluster on localhost.
func Default() Broker {
	return Broker{
		NodeID:                   1,
		DataDir:                  "./spool-data",
		KafkaAddr:                "127.0.0.1:9092",
		HTTPAddr:                 "127.0.0.1:8080",
		ControllerAddr:           "127.0.0.1:9093",
		LogLevel:                 "info",
		LogFormat:                "text",
		AutoCreateTopics:         true,
		DefaultPartitions:        1,
		DefaultReplicationFactor: 1,
		MaxRequestBytes:          100 << 20,
		MaxDecompressedBytes:     64 << 20,
		MaxConnections:           10000,
		Durability:               DurabilityFsync,
		FlushSyncFS:              true,
		FlushIntervalMs:          1000,
		RetentionCheckIntervalMs: 300000,
		CheckpointIntervalMs:     60000,
		HWMCheckpointIntervalMs:  5000,
		CleanerBackoffMs:         15000,

		BrokerSessionTimeoutMs:              4000,
		BrokerHeartbeatIntervalMs:           500,
		ReplicaLagTimeMaxMs:                 10000,
		ReplicaFetchMaxBytes:                1 << 20,
		ReplicaFetchResponseMaxBytes:        10 << 20,
		ReplicaFetchWaitMaxMs:               500,
		AutoLeaderRebalance:                 true,
		LeaderImbalanceCheckIntervalSeconds: 300,
		ControlledShutdown:                  true,
		ControlledShutdownTimeoutMs:         30000,

		OffsetsTopicNumPartitions:       50,
		OffsetsTopicReplicationFactor:   3,
		GroupMinSessionTimeoutMs:        6000,
		GroupMaxSessionTimeoutMs:        1800000,
		GroupInitialRebalanceDelayMs:    3000,
		GroupMaxSize:                    math.MaxInt32,
		OffsetsRetentionMinutes:         10080,
		OffsetsRetentionCheckIntervalMs: 600000,
		OffsetMetadataMaxBytes:          4096,
		GroupCoordinatorMaxGroups:       100000,

		TransactionStateLogNumPartitions:        50,
		TransactionStateLogReplicationFactor:    3,
		TransactionMaxTimeoutMs:                 900000,
		TransactionAbortTimedOutCheckIntervalMs: 10000,
		TransactionCoordinatorMaxIDs:            100000,
		GroupCoordinatorMaxMembers:              200000,
		ClusterMaxPartitions:                    200000,

		ProducerIDExpirationMs:              86400000,
		ProducerIDExpirationCheckIntervalMs: 600000,
		ProducerStateMaxEntries:             10000,

		Limits: DefaultLimits(),
		SASL:   DefaultSASL(),

		Authorizer: DefaultAuthorizer(),

		ListenerSecurityProtocolMap: DefaultProtocolMap,
		SSL:                         DefaultSSL(),
	}
}

// Duration converts a count of unit (a setting such as
// offsets.retention.minutes with time.Minute) to a time.Duration. It
// saturates at the longest Duration (about 292 years) instead of
// overflowing: Kafka accepts offsets.retention.minutes=2147483647, which
// means "practically forever", and must not wrap to a negative duration.
func Duration(n int64, unit time.Duration) time.Duration {
	if unit <= 0 {
		return 0
	}
	if n > int64(math.MaxInt64/unit) {
		return math.MaxInt64
	}
	if n < int64(math.MinInt64/unit) {
		return math.MinInt64
	}
	return time.Duration(n) * unit
}

// brokerKeys lists every broker-level property backed by a struct field,
// sorted by name. Topic-config defaults (log.retention.ms, ...) are handled
// through the topic table's BrokerSynonym instead.
var brokerKeys = func() []brokerKey {
	keys := []brokerKey{
		int32Key("node.id", "This node's id, unique in the cluster.", func(b *Broker) *int32 { return &b.NodeID }, 0),
		stringKey("log.dirs", "Directory for partition logs and metadata (a single directory).", func(b *Broker) *string { return &b.DataDir },
			func(name, v string) error {
				if v == "" {
					return invalid(name, "must not be empty")
				}
				if strings.Contains(v, ",") {
					return invalid(name, "Spool uses a single data directory, got the list %q", v)
				}
				return nil
			}),
		listenerKey("http.addr", "host:port for HTTP (/metrics, /livez, /readyz, REST); empty disables.", func(b *Broker) *string { return &b.HTTPAddr }, true),
		listenerKey("controller.listener", "host:port of the Raft transport for the metadata quorum.", func(b *Broker) *string { return &b.ControllerAddr }, false),
		stringKey("controller.quorum.voters", "Metadata quorum as id@host:port,...; empty means this node alone.", func(b *Broker) *string { return &b.Voters }, checkVoters),
		stringKey("log.level", "Log level: debug, info, warn or error.", func(b *Broker) *string { return &b.LogLevel }, enumCheck("debug", "info", "warn", "error")),
		stringKey("log.format", "Log format: text or json.", func(b *Broker) *string { return &b.LogFormat }, enumCheck("text", "json")),
		boolKey("auto.create.topics.enable", "Create missing topics on Metadata/Produce requests.", func(b *Broker) *bool { return &b.AutoCreateTopics }),
		int32Key("num.partitions", "Partition count for auto-created topics and CreateTopics without a count.", func(b *Broker) *int32 { return &b.DefaultPartitions }, 1),
		int16Key("default.replication.factor", "Replication factor for auto-created topics and CreateTopics without one.", func(b *Broker) *int16 { return &b.DefaultReplicationFactor }, 1),
		int32Key("socket.request.max.bytes", "Largest request frame accepted; larger frames close the connection.", func(b *Broker) *int32 { return &b.MaxRequestBytes }, 1),
		int64Key("message.max.decompressed.bytes", "Most bytes the records of one produced batch may decompress to; more is refused with MESSAGE_TOO_LARGE without holding the expansion. At least message.max.bytes.",
			func(b *Broker) *int64 { return &b.MaxDecompressedBytes }, 1024),
		{name: "max.connections", typ: TypeInt, doc: "Most client connections open at once.",
			get: func(b *Broker) string { return strconv.Itoa(b.MaxConnections) },
			set: func(b *Broker, v string) error {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
				if err != nil {
					return invalid("max.connections", "must be an int, got %q", v)
				}
				b.MaxConnections = int(n)
				return nil
			},
			check: func(b *Broker) error {
				if b.MaxConnections < 1 {
					return invalid("max.connections", "must be >= 1, got %d", b.MaxConnections)
				}
				return nil
			},
		},
		stringKey("log.durability", "fsync: acknowledge after fsync (group commit); periodic-flush: acknowledge after write, fsync every log.flush.interval.ms.",
			func(b *Broker) *string { return &b.Durability }, enumCheck(DurabilityFsync, DurabilityPeriodicFlush)),
		boolKey("log.flush.syncfs", "Cover every partition in a group-commit round with one syncfs(2) of the data directory's file system (Linux) instead of an fsync per segment; disable if other software writes heavily to that file system.",
			func(b *Broker) *bool { return &b.FlushSyncFS }),
		int64Key("log.flush.interval.ms", "fsync period in periodic-flush mode.", func(b *Broker) *int64 { return &b.FlushIntervalMs }, 1),
		int64Key("log.retention.check.interval.ms", "How often retention looks for segments to delete.", func(b *Broker) *int64 { return &b.RetentionCheckIntervalMs }, 1),
		int64Key("log.flush.offset.checkpoint.interval.ms", "How often the recovery point is checkpointed.", func(b *Broker) *int64 { return &b.CheckpointIntervalMs }, 1),
		int64Key("replica.high.watermark.checkpoint.interval.ms", "How often the high watermarks are checkpointed (replication-offset-checkpoint), so a restarted replicated partition does not restart from its log start.",
			func(b *Broker) *int64 { return &b.HWMCheckpointIntervalMs }, 1),
		int64Key("log.cleaner.backoff.ms", "How often the log cleaner looks for compacted logs due for cleaning.", func(b *Broker) *int64 { return &b.CleanerBackoffMs }, 1),

		int32Key("broker.session.timeout.ms", "A broker whose heartbeats stop for this long is fenced and loses its leaderships.",
			func(b *Broker) *int32 { return &b.BrokerSessionTimeoutMs }, 10),
		int32Key("broker.heartbeat.interval.ms", "How often a broker heartbeats to the controller.",
			func(b *Broker) *int32 { return &b.BrokerHeartbeatIntervalMs }, 1),
		int64Key("replica.lag.time.max.ms", "A follower that has not caught up with its leader for this long leaves the ISR.",
			func(b *Broker) *int64 { return &b.ReplicaLagTimeMaxMs }, 10),
		int32Key("replica.fetch.max.bytes", "Most bytes a follower fetches per partition per request.",
			func(b *Broker) *int32 { return &b.ReplicaFetchMaxBytes }, 1024),
		int32Key("replica.fetch.response.max.bytes", "Most bytes in one follower fetch response.",
			func(b *Broker) *int32 { return &b.ReplicaFetchResponseMaxBytes }, 1024),
		int32Key("replica.fetch.wait.max.ms", "How long a follower's fetch waits at the leader for new data.",
			func(b *Broker) *int32 { return &b.ReplicaFetchWaitMaxMs }, 0),
		boolKey("auto.leader.rebalance.enable", "Move leadership back to preferred replicas periodically.", func(b *Broker) *bool { return &b.AutoLeaderRebalance }),
		int64Key("leader.imbalance.check.interval.seconds", "How often preferred leadership is restored.",
			func(b *Broker) *int64 { return &b.LeaderImbalanceCheckIntervalSeconds }, 1),
		boolKey("controlled.shutdown.enable", "On SIGTERM, move leadership to other replicas before closing.", func(b *Broker) *bool { return &b.ControlledShutdown }),
		int64Key("controlled.shutdown.timeout.ms", "Longest a controlled shutdown waits for leadership to move.",
			func(b *Broker) *int64 { return &b.ControlledShutdownTimeoutMs }, 0),

		int32Key("offsets.topic.num.partitions", "Partitions of __consumer_offsets when it is created (later changes are ignored).",
			func(b *Broker) *int32 { return &b.OffsetsTopicNumPartitions }, 1),
		int16Key("offsets.topic.replication.factor", "Replication factor of __consumer_offsets when it is created (capped at the live brokers).",
			func(b *Broker) *int16 { return &b.OffsetsTopicReplicationFactor }, 1),
		int32Key("group.min.session.timeout.ms", "Shortest session timeout a group member may ask for.",
			func(b *Broker) *int32 { return &b.GroupMinSessionTimeoutMs }, 1),
		int32Key("group.max.session.timeout.ms", "Longest session timeout a group member may ask for.",
			func(b *Broker) *int32 { return &b.GroupMaxSessionTimeoutMs }, 1),
		int32Key("group.initial.rebalance.delay.ms", "How long the first rebalance of an empty group waits for more members to join.",
			func(b *Broker) *int32 { return &b.GroupInitialRebalanceDelayMs }, 0),
		int32Key("group.max.size", "Most members one consumer group may have.", func(b *Broker) *int32 { return &b.GroupMaxSize }, 1),
		int32Key("offsets.retention.minutes", "How long committed offsets are kept after their group became empty.",
			func(b *Broker) *int32 { return &b.OffsetsRetentionMinutes }, 1),
		int64Key("offsets.retention.check.interval.ms", "How often expired committed offsets are looked for.",
			func(b *Broker) *int64 { return &b.OffsetsRetentionCheckIntervalMs }, 1),
		int32Key("cluster.max.partitions", "Most partitions the cluster may hold over all topics; more get INVALID_PARTITIONS.",
			func(b *Broker) *int32 { return &b.ClusterMaxPartitions }, 1),
		int32Key("group.coordinator.max.members", "Most members (and not yet used MEMBER_ID_REQUIRED ids) over all this broker's groups; a JoinGroup adding one more gets COORDINATOR_NOT_AVAILABLE.",
			func(b *Broker) *int32 { return &b.GroupCoordinatorMaxMembers }, 1),
		int32Key("transaction.state.log.num.partitions", "Partitions of __transaction_state when it is created (later changes are ignored).",
			func(b *Broker) *int32 { return &b.TransactionStateLogNumPartitions }, 1),
		int16Key("transaction.state.log.replication.factor", "Replication factor of __transaction_state when it is created (capped at the live brokers).",
			func(b *Broker) *int16 { return &b.TransactionStateLogReplicationFactor }, 1),
		int32Key("transaction.max.timeout.ms", "Longest transaction timeout a producer may ask for; more gets INVALID_TRANSACTION_TIMEOUT.",
			func(b *Broker) *int32 { return &b.TransactionMaxTimeoutMs }, 1),
		int32Key("transaction.abort.timed.out.transaction.cleanup.interval.ms", "How often transactions past their timeout are looked for and aborted.",
			func(b *Broker) *int32 { return &b.TransactionAbortTimedOutCheckIntervalMs }, 1),
		int32Key("transaction.coordinator.max.ids", "Most transactional ids this broker's transaction coordinator holds; an InitProducerId adding one more gets COORDINATOR_NOT_AVAILABLE.",
			func(b *Broker) *int32 { return &b.TransactionCoordinatorMaxIDs }, 1),
		int32Key("group.coordinator.max.groups", "Most consumer groups this broker's coordinator holds; a request creating one more gets COORDINATOR_NOT_AVAILABLE.",
			func(b *Broker) *int32 { return &b.GroupCoordinatorMaxGroups }, 1),
		int64Key("producer.id.expiration.ms", "A producer id with no append to a partition for this long is forgotten there.",
			func(b *Broker) *int64 { return &b.ProducerIDExpirationMs }, 1),
		int64Key("producer.id.expiration.check.interval.ms", "How often expired producer ids are swept out.",
			func(b *Broker) *int64 { return &b.ProducerIDExpirationCheckIntervalMs }, 1),
		int32Key("producer.state.max.entries", "Most producer ids one partition remembers; more evict the least recently written.",
			func(b *Broker) *int32 { return &b.ProducerStateMaxEntries }, 1),
		int32Key("offset.metadata.max.bytes", "Longest metadata string an offset commit may carry.",
			func(b *Broker) *int32 { return &b.OffsetMetadataMaxBytes }, 0),
	}
	keys = append(keys, limitKeys()...)
	keys = append(keys, saslKeys()...)
	keys = append(keys, authorizerKeys()...)
	keys = append(keys, listenerKeys()...)
	sort.Slice(keys, func(i, j int) bool { return keys[i].name < keys[j].name })
	return keys
}()

func lookupBrokerKey(name string) (brokerKey, bool) {
	for _, k := range brokerKeys {
		if k.name == name {
			return k, true
		}
	}
	return brokerKey{}, false
}

// Set assigns one property by its Kafka name: a broker field (node.id,
// log.dirs, ...) or a broker-level topic default (log.retention.ms, ...),
// which lands in TopicDefaults under the topic name. The value is checked
// before anything changes; errors wrap ErrUnknownConfig or
// ErrInvalidConfigValue.
func (b *Broker) Set(key, value string) error {
	if k, ok := lookupBrokerKey(key); ok {
		next := *b
		if err := k.set(&next, value); err != nil {
			return err
		}
		if err := k.check(&next); err != nil {
			return err
		}
		*b = next
		return nil
	}
	if d, ok := lookupBrokerSynonym(key); ok {
		if err := d.ValidateSet(value); err != nil {
			return renameKey(err, key)
		}
		if b.TopicDefaults == nil {
			b.TopicDefaults = make(map[string]string)
		}
		b.TopicDefaults[d.Name] = strings.TrimSpace(value)
		return nil
	}
	return unknown(key)
}

// Get returns a property's current value by its Kafka name, as Set would
// accept it. Topic defaults not set on the broker report Kafka's default.
func (b *Broker) Get(key string) (string, bool) {
	if k, ok := lookupBrokerKey(key); ok {
		return k.get(b), true
	}
	if d, ok := lookupBrokerSynonym(key); ok {
		if v, ok := b.TopicDefaults[d.Name]; ok {
			return v, true
		}
		return d.Default, true
	}
	return "", false
}

// Validate checks every setting and reports all problems at once (joined),
// each naming its property, e.g.
// `log.durability: must be fsync or periodic-flush, got "x"`.
func (b *Broker) Validate() error {
	var errs []error
	for _, k := range brokerKeys {
		if err := k.check(b); err != nil {
			errs = append(errs, err)
		}
	}
	if err := b.checkListeners(); err != nil {
		errs = append(errs, err)
	}
	if b.BrokerHeartbeatIntervalMs >= b.BrokerSessionTimeoutMs {
		errs = append(errs, invalid("broker.heartbeat.interval.ms", "must be less than broker.session.timeout.ms (%d), got %d",
			b.BrokerSessionTimeoutMs, b.BrokerHeartbeatIntervalMs))
	}
	if b.GroupMaxSessionTimeoutMs < b.GroupMinSessionTimeoutMs {
		errs = append(errs, invalid("group.max.session.timeout.ms", "must be >= group.min.session.timeout.ms (%d), got %d",
			b.GroupMinSessionTimeoutMs, b.GroupMaxSessionTimeoutMs))
	}
	if err := b.checkDecompressedLimit(); err != nil {
		errs = append(errs, err)
	}
	names := make([]string, 0, len(b.TopicDefaults))
	for n := range b.TopicDefaults {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d, ok := LookupTopicConfig(n)
		if !ok || d.BrokerSynonym == "" {
			errs = append(errs, fmt.Errorf("TopicDefaults: %w", unknown(n)))
			continue
		}
		if err := d.ValidateSet(b.TopicDefaults[n]); err != nil {
			errs = append(errs, renameKey(err, d.BrokerSynonym))
		}
	}
	if err := checkCompactionLags(b.TopicDefaults["min.compaction.lag.ms"], b.TopicDefaults["max.compaction.lag.ms"]); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkDecompressedLimit keeps message.max.decompressed.bytes at or above
// the broker's message.max.bytes (an invalid message.max.bytes is
// reported by its own check).
func (b *Broker) checkDecompressedLimit() error {
	v, ok := b.TopicDefaults["max.message.bytes"]
	if !ok {
		d, _ := LookupTopicConfig("max.message.bytes")
		v = d.Default
	}
	maxBytes, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || b.MaxDecompressedBytes >= maxBytes {
		return nil
	}
	return invalid("message.max.decompressed.bytes", "must be >= message.max.bytes (%d), got %d", maxBytes, b.MaxDecompressedBytes)
}

// Property is one broker setting as DescribeConfigs on the broker resource
// reports it.
type Property struct {
	Key       string
	Value     string
	Type      string // Type* constant
	Doc       string
	IsDefault bool // the value is the built-in default (source DEFAULT_CONFIG, else STATIC_BROKER_CONFIG)
	// ReadOnly is true for every broker property: Spool has no dynamic
	// broker configs, so AlterConfigs on a broker must refuse them.
	ReadOnly  bool
	Sensitive bool
}

// Properties lists every broker property, sorted by key, including the
// broker-level topic defaults.
func (b *Broker) Properties() []Property {
	def := Default()
	var out []Property
	for _, k := range brokerKeys {
		v := k.get(b)
		out = append(out, Property{Key: k.name, Value: v, Type: k.typ, Doc: k.doc, IsDefault: v == k.get(&def), ReadOnly: true})
	}
	for _, d := range topicDefs {
		if d.BrokerSynonym == "" {
			continue
		}
		v, set := b.TopicDefaults[d.Name]
		if !set {
			v = d.Default
		}
		out = append(out, Property{Key: d.BrokerSynonym, Value: v, Type: d.Type, Doc: "Default for topic config " + d.Name + ": " + d.Doc,
			IsDefault: !set, ReadOnly: true, Sensitive: d.Sensitive})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// KeyInfo documents one settable property, for flag help and docs.
type KeyInfo struct {
	Key     string // Kafka property name
	Env     string // environment variable that sets it
	Type    string
	Default string
	Doc     string
}

// Keys lists every property Set accepts, sorted by key.
func Keys() []KeyInfo {
	def := Default()
	var out []KeyInfo
	for _, p := range def.Properties() {
		out = append(out, KeyInfo{Key: p.Key, Env: EnvName(p.Key), Type: p.Type, Default: p.Value, Doc: p.Doc})
	}
	return out
}
