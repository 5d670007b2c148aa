package group

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/spool-mq/spool/internal/record"
)

// Config configures a Coordinator. Start from DefaultConfig: every field is
// used as given (a zero InitialRebalanceDelay really means no delay).
// Kafka's broker setting for each field is named in its comment.
type Config struct {
	// NodeID is this broker's id; the coordinator serves the partitions
	// of __consumer_offsets whose leader it is.
	NodeID int32

	// NumPartitions is offsets.topic.num.partitions: how many partitions
	// __consumer_offsets gets when it is created (default 50). Once the
	// topic exists its real partition count is used, because changing it
	// would move every group to another partition.
	NumPartitions int32
	// ReplicationFactor is offsets.topic.replication.factor (default 3);
	// the topic is created with min(this, ClusterSize) replicas.
	ReplicationFactor int16
	// ClusterSize is the number of brokers the cluster is configured with
	// (the metadata voters); 0 means unknown. The topic's replication
	// factor is capped at it rather than at the brokers alive at the
	// moment, so a cluster whose brokers are still starting does not get
	// an under-replicated coordinator topic forever.
	ClusterSize int
	// SegmentBytes is offsets.topic.segment.bytes (default 100 MiB): small
	// segments let compaction keep the topic small.
	SegmentBytes int64

	// MinSessionTimeout and MaxSessionTimeout are
	// group.min.session.timeout.ms (6 s) and group.max.session.timeout.ms
	// (30 min): the session timeouts a member may ask for.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms (3 s): how
	// long the first rebalance of an empty group waits for more members,
	// so that a fleet starting together does not rebalance once per member.
	// Every new member extends the wait by this much, up to the rebalance
	// timeout.
	InitialRebalanceDelay time.Duration
	// MaxGroupSize is group.max.size (default MaxInt32).
	MaxGroupSize int
	// MaxGroups is group.coordinator.max.groups (Spool's own, default
	// DefaultMaxGroups): the most groups the coordinator holds over all
	// its partitions. Group ids are text any client picks, and a
	// JoinGroup or an OffsetCommit with a new one creates a group, so
	// without a cap one client could fill the broker's memory. Groups
	// loaded from the log are never refused (they are already stored),
	// so the count may exceed the cap after a takeover; only new groups
	// wait until expiry or deletion brings it back under.
	MaxGroups int
	// MaxMembers is group.coordinator.max.members (Spool's own, default
	// DefaultMaxMembers): the most members and pending member ids
	// (MEMBER_ID_REQUIRED) over all the coordinator's groups. Kafka's
	// group.max.size bounds one group and defaults to MaxInt32; a member
	// lives a session timeout without any connection, so this is what
	// bounds the coordinator's memory. Loaded members are never refused.
	MaxMembers int

	// OffsetsRetention is offsets.retention.minutes (7 days): the committed
	// offsets of a group expire this long after it became empty (or, for
	// groups that only store offsets, after each offset's last commit).
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms
	// (10 min): how often expired offsets are looked for.
	OffsetsRetentionCheckInterval time.Duration
	// MaxMetadataBytes is offset.metadata.max.bytes (4096): the longest
	// metadata string a commit may carry.
	MaxMetadataBytes int

	// TickInterval is how often session, rebalance and join-delay timers
	// are checked (default 100 ms): the resolution of every timeout.
	TickInterval time.Duration
	// Now is the clock (default time.Now); tests pass a fake one.
	Now func() time.Time
	// Logger receives the coordinator's logs; nil discards them.
	Logger *slog.Logger
	// Decoder reads __consumer_offsets records on load, bounded by its
	// decompression limit (message.max.decompressed.bytes); nil means
	// record.NewDecoder.
	Decoder *record.Decoder
}

// DefaultMaxGroups is the default of Config.MaxGroups: far more groups
// than a broker serves in practice, few enough that their empty shells
// (a few hundred bytes each) stay far below a broker's memory.
const DefaultMaxGroups = 100000

// DefaultMaxMembers is the default of Config.MaxMembers. A member holds
// its subscription and assignment (typically well under a kilobyte
// each), so the default stays in the hundreds of megabytes.
const DefaultMaxMembers = 200000

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		NodeID:                        1,
		NumPartitions:                 50,
		ReplicationFactor:             3,
		SegmentBytes:                  100 << 20,
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		InitialRebalanceDelay:         3 * time.Second,
		MaxGroupSize:                  math.MaxInt32,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		MaxMetadataBytes:              4096,
		MaxGroups:                     DefaultMaxGroups,
		MaxMembers:                    DefaultMaxMembers,
		TickInterval:                  100 * time.Millisecond,
	}
}

// Validate reports the first field that is out of range.
func (c Config) Validate() error {
	switch {
	case c.NumPartitions < 1:
		return fmt.Errorf("offsets.topic.num.partitions: must be at least 1, got %d", c.NumPartitions)
	case c.ReplicationFactor < 1:
		return fmt.Errorf("offsets.topic.replication.factor: must be at least 1, got %d", c.ReplicationFactor)
	case c.SegmentBytes < 1024:
		return fmt.Errorf("offsets.topic.segment.bytes: must be at least 1024, got %d", c.SegmentBytes)
	case c.MinSessionTimeout <= 0:
		return fmt.Errorf("group.min.session.timeout.ms: must be positive, got %v", c.MinSessionTimeout)
	case c.MaxSessionTimeout < c.MinSessionTimeout:
		return fmt.Errorf("group.max.session.timeout.ms: %v is below group.min.session.timeout.ms %v", c.MaxSessionTimeout, c.MinSessionTimeout)
	case c.InitialRebalanceDelay < 0:
		return fmt.Errorf("group.initial.rebalance.delay.ms: must not be negative, got %v", c.InitialRebalanceDelay)
	case c.MaxMembers < 1:
		return fmt.Errorf("group.coordinator.max.members: must be at least 1, got %d", c.MaxMembers)
	case c.MaxGroups < 1:
		return fmt.Errorf("group.coordinator.max.groups: must be at least 1, got %d", c.MaxGroups)
	case c.MaxGroupSize < 1:
		return fmt.Errorf("group.max.size: must be at least 1, got %d", c.MaxGroupSize)
	case c.OffsetsRetention <= 0:
		return fmt.Errorf("offsets.retention.minutes: must be positive, got %v", c.OffsetsRetention)
	case c.OffsetsRetentionCheckInterval <= 0:
		return fmt.Errorf("offsets.retention.check.interval.ms: must be positive, got %v", c.OffsetsRetentionCheckInterval)
	case c.MaxMetadataBytes < 0:
		return fmt.Errorf("offset.metadata.max.bytes: must not be negative, got %d", c.MaxMetadataBytes)
	case c.TickInterval <= 0:
		return fmt.Errorf("group coordinator tick interval: must be positive, got %v", c.TickInterval)
	}
	return nil
}
