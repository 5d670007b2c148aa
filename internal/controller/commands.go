package controller

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Metadata log entries are JSON envelopes:
//
//	{"type":"create_topics","v":1,"data":{...}}
//
// "type" names the command, "v" its schema version and "data" the command
// itself. Every decision that involves randomness or the local view of the
// cluster (topic ids, replica placement, cluster id) is made by the
// proposer and written into the command, so applying it is deterministic:
// every node that applies the same log reaches the same Image. Apply also
// re-validates each command against the state it is applied to, because
// two proposals can race (say, two creates of the same name): the first to
// commit wins and the second fails on every node alike.
//
// A new field with a zero default needs no version bump; a change in
// meaning does, and an older binary then refuses the entry
// (ErrUnsupportedCommand) rather than misapplying it.

// commandVersion is the schema version this binary writes and the highest
// it reads.
const commandVersion = 1

type commandType string

const (
	cmdSetClusterID        commandType = "set_cluster_id"
	cmdRegisterBroker      commandType = "register_broker"
	cmdCreateTopics        commandType = "create_topics"
	cmdDeleteTopics        commandType = "delete_topics"
	cmdCreatePartitions    commandType = "create_partitions"
	cmdAlterConfigs        commandType = "alter_configs"
	cmdAllocateProducerIDs commandType = "allocate_producer_ids"

	// Broker lifecycle (lifecycle.go).
	cmdFenceBroker             commandType = "fence_broker"
	cmdUnfenceBroker           commandType = "unfence_broker"
	cmdBeginControlledShutdown commandType = "begin_controlled_shutdown"

	// Partition state (partitions.go, elect.go, reassign.go).
	cmdAlterPartition     commandType = "alter_partition"
	cmdElectLeaders       commandType = "elect_leaders"
	cmdReassignPartitions commandType = "reassign_partitions"
)

type envelope struct {
	Type    commandType     `json:"type"`
	Version int             `json:"v"`
	Data    json.RawMessage `json:"data"`
}

// command is one kind of metadata change.
type command interface {
	kind() commandType
	// apply validates the command against b and records its effect there;
	// it must depend only on b, the command and index.
	apply(b *builder, index uint64) applyResult
}

// applyResult is what the FSM returns for a command (raft hands it back to
// the proposer through ApplyFuture.Response). Err is the outcome of
// single-item commands; Errs has one entry per item of batch commands.
type applyResult struct {
	Err   error
	Errs  []error
	First int64 // first producer id of an allocated block
	// Partition is the state an AlterPartition produced (partitions.go).
	// It is not forwarded: a follower reads it from its own image.
	Partition *Partition
}

func newCommand(t commandType) (command, error) {
	switch t {
	case cmdSetClusterID:
		return &setClusterIDCmd{}, nil
	case cmdRegisterBroker:
		return &registerBrokerCmd{}, nil
	case cmdCreateTopics:
		return &createTopicsCmd{}, nil
	case cmdDeleteTopics:
		return &deleteTopicsCmd{}, nil
	case cmdCreatePartitions:
		return &createPartitionsCmd{}, nil
	case cmdAlterConfigs:
		return &alterConfigsCmd{}, nil
	case cmdAllocateProducerIDs:
		return &allocateProducerIDsCmd{}, nil
	case cmdFenceBroker:
		return &fenceBrokerCmd{}, nil
	case cmdUnfenceBroker:
		return &unfenceBrokerCmd{}, nil
	case cmdBeginControlledShutdown:
		return &beginControlledShutdownCmd{}, nil
	case cmdAlterPartition:
		return &alterPartitionCmd{}, nil
	case cmdElectLeaders:
		return &electLeadersCmd{}, nil
	case cmdReassignPartitions:
		return &reassignCmd{}, nil
	case cmdAlterScram:
		return &alterScramCmd{}, nil
	case cmdCreateACLs:
		return &createACLsCmd{}, nil
	case cmdDeleteACLs:
		return &deleteACLsCmd{}, nil
	}
	return nil, fmt.Errorf("%w: type %q", ErrUnsupportedCommand, t)
}

func encodeCommand(c command) ([]byte, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encoding %s command: %w", c.kind(), err)
	}
	return json.Marshal(envelope{Type: c.kind(), Version: commandVersion, Data: data})
}

func decodeCommand(raw []byte) (command, error) {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupportedCommand, err)
	}
	if env.Version < 1 || env.Version > commandVersion {
		return nil, fmt.Errorf("%w: %s version %d (this binary reads up to %d)", ErrUnsupportedCommand, env.Type, env.Version, commandVersion)
	}
	c, err := newCommand(env.Type)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(env.Data, c); err != nil {
		return nil, fmt.Errorf("%w: decoding %s: %w", ErrUnsupportedCommand, env.Type, err)
	}
	return c, nil
}

// uuid is a topic id in JSON, written in Kafka's base64url form so the log
// is readable next to client output.
type uuid [16]byte

func (u uuid) MarshalText() ([]byte, error) { return []byte(uuidString(u)), nil }

func (u *uuid) UnmarshalText(text []byte) error {
	// 22 characters of unpadded base64 are exactly 16 bytes; checking
	// first also keeps Decode within u.
	if len(text) != 22 {
		return fmt.Errorf("topic id %q is not 22 base64url characters", text)
	}
	if _, err := base64.RawURLEncoding.Decode(u[:], text); err != nil {
		return fmt.Errorf("topic id %q: %w", text, err)
	}
	return nil
}

type setClusterIDCmd struct {
	ClusterID string `json:"cluster_id"`
}

type registerBrokerCmd struct {
	ID   int32   `json:"id"`
	Host string  `json:"host"`
	Port int32   `json:"port"`
	Rack *string `json:"rack,omitempty"`
	// Endpoints are the broker's listeners; entries written before
	// listeners were named have none (Host and Port only).
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Incarnation is the registering process's random id (lifecycle.go).
	Incarnation uuid `json:"incarnation"`
}

type createTopicsCmd struct {
	Topics []newTopic `json:"topics"`
	// MaxPartitions is the proposer's Config.MaxPartitions (0: none);
	// entries written before it existed decode as no limit.
	MaxPartitions int `json:"max_partitions,omitempty"`
}

// newTopic is a fully decided topic: its id and every partition's
// replicas are chosen by the proposer.
type newTopic struct {
	Name     string            `json:"name"`
	ID       uuid              `json:"id"`
	Replicas [][]int32         `json:"replicas"`
	Configs  map[string]string `json:"configs,omitempty"`
}

type deleteTopicsCmd struct {
	IDs []uuid `json:"ids"`
}

// createPartitionsCmd adds partitions to a topic that has exactly Current
// partitions when it is applied (so two racing increases cannot both
// succeed with overlapping placements).
type createPartitionsCmd struct {
	TopicID  uuid      `json:"topic_id"`
	Current  int32     `json:"current"`
	Replicas [][]int32 `json:"replicas"`
	// MaxPartitions is as in createTopicsCmd.
	MaxPartitions int `json:"max_partitions,omitempty"`
}

// alterConfigsCmd either replaces a topic's overrides (Replace) or applies
// Ops in order.
type alterConfigsCmd struct {
	TopicID uuid              `json:"topic_id"`
	Replace bool              `json:"replace,omitempty"`
	Configs map[string]string `json:"configs,omitempty"`
	Ops     []ConfigOp        `json:"ops,omitempty"`
}

type allocateProducerIDsCmd struct {
	Count int64 `json:"count"`
}

func (*setClusterIDCmd) kind() commandType        { return cmdSetClusterID }
func (*registerBrokerCmd) kind() commandType      { return cmdRegisterBroker }
func (*createTopicsCmd) kind() commandType        { return cmdCreateTopics }
func (*deleteTopicsCmd) kind() commandType        { return cmdDeleteTopics }
func (*createPartitionsCmd) kind() commandType    { return cmdCreatePartitions }
func (*alterConfigsCmd) kind() commandType        { return cmdAlterConfigs }
func (*allocateProducerIDsCmd) kind() commandType { return cmdAllocateProducerIDs }

// ConfigOpType says what a ConfigOp does.
type ConfigOpType int8

const (
	// ConfigSet sets Key to *Value.
	ConfigSet ConfigOpType = iota
	// ConfigDelete removes the override for Key (reverting to the default);
	// deleting a key that has no override is not an error.
	ConfigDelete
)

// ConfigOp is one change to a topic's config overrides, as in
// IncrementalAlterConfigs. APPEND and SUBTRACT on list configs are resolved
// by the caller into a ConfigSet of the resulting value.
type ConfigOp struct {
	Key   string       `json:"key"`
	Value *string      `json:"value,omitempty"`
	Op    ConfigOpType `json:"op"`
}
