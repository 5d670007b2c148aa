package controller

import (
	"errors"
	"fmt"
)

// Errors returned by the controller. Kafka handlers map them to protocol
// error codes with errors.Is; the wrapped text carries the detail (which
// topic, which broker) for the error message fields of v1+ responses.
var (
	// ErrTopicExists means a topic with the requested name already exists.
	ErrTopicExists = errors.New("topic already exists")

	// ErrUnknownTopic means no topic with the given name exists.
	ErrUnknownTopic = errors.New("unknown topic")

	// ErrUnknownTopicID means no topic with the given topic id exists. It is
	// separate from ErrUnknownTopic because Kafka answers requests by id
	// with UNKNOWN_TOPIC_ID rather than UNKNOWN_TOPIC_OR_PARTITION.
	ErrUnknownTopicID = errors.New("unknown topic id")

	// ErrInvalidTopicName means a topic name breaks Kafka's naming rules or
	// collides with an existing topic once '.' and '_' are treated alike
	// (both map to the same metric names in Kafka clients).
	ErrInvalidTopicName = errors.New("invalid topic name")

	// ErrInvalidPartitions means a partition count is not positive, is
	// above the supported maximum, or (when adding partitions) does not
	// grow the topic.
	ErrInvalidPartitions = errors.New("invalid number of partitions")

	// ErrInvalidReplicationFactor means a replication factor is below 1 or
	// larger than the number of registered brokers.
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")

	// ErrInvalidReplicaAssignment means a manual replica assignment is
	// malformed: missing or extra partitions, duplicate or unknown brokers,
	// or partitions with differing replica counts.
	ErrInvalidReplicaAssignment = errors.New("invalid replica assignment")

	// ErrInvalidConfig means a config operation is structurally wrong (empty
	// key, SET without a value). Config values themselves are validated by
	// the caller, not here.
	ErrInvalidConfig = errors.New("invalid config operation")

	// ErrInvalidBrokerRegistration means a broker registration has a
	// negative id, no host or a port outside 1..65535.
	ErrInvalidBrokerRegistration = errors.New("invalid broker registration")

	// ErrInvalidProducerIDCount means a producer-id block of size < 1 was
	// requested.
	ErrInvalidProducerIDCount = errors.New("invalid producer id block size")

	// ErrProducerIDsExhausted means the 63-bit producer-id space is used up.
	ErrProducerIDsExhausted = errors.New("producer ids exhausted")

	// ErrNotLeader means this node is not the Raft leader and cannot accept
	// metadata writes. The concrete error is a *NotLeaderError carrying the
	// leader's node id when one is known.
	ErrNotLeader = errors.New("not the metadata leader")

	// ErrClosed means the controller has been closed.
	ErrClosed = errors.New("controller closed")

	// ErrUnsupportedCommand means the metadata log holds a command this
	// binary does not understand (written by a newer version). The entry is
	// skipped, so the state of this node may lag; it is logged loudly.
	ErrUnsupportedCommand = errors.New("unsupported metadata command")

	// ErrInvalidVoters means a controller.quorum.voters value is malformed.
	ErrInvalidVoters = errors.New("invalid voters")

	// ErrInvalidConfigValue means a controller Config field is invalid.
	ErrInvalidConfigValue = errors.New("invalid controller config")

	// ErrNodeIDMismatch means meta.properties in the data directory was
	// written by a node with a different node id.
	ErrNodeIDMismatch = errors.New("node id does not match meta.properties")

	// ErrClusterIDMismatch means meta.properties in the data directory
	// belongs to a different cluster than the metadata quorum.
	ErrClusterIDMismatch = errors.New("cluster id does not match meta.properties")

	// ErrInvalidMetaProperties means meta.properties exists but cannot be
	// understood (unknown version, missing or malformed fields).
	ErrInvalidMetaProperties = errors.New("invalid meta.properties")
)

// NotLeaderError is the concrete ErrNotLeader: it names the current leader
// (-1 when none is known) so a caller can redirect, and later so that
// forwarding to the leader can be added in one place.
type NotLeaderError struct {
	// LeaderID is the node id of the current Raft leader, or -1.
	LeaderID int32
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID < 0 {
		return ErrNotLeader.Error() + " (no leader known)"
	}
	return fmt.Sprintf("%s (leader is node %d)", ErrNotLeader, e.LeaderID)
}

// Unwrap makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }
