package controller

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Voter is one member of the metadata quorum.
type Voter struct {
	// ID is the node id of the voter.
	ID int32
	// Addr is host:port of the voter's Raft listener.
	Addr string
}

// ParseVoters parses a Kafka-style controller.quorum.voters list:
// "1@127.0.0.1:9093,2@host-b:9093". An empty (or all-blank) string yields no
// voters, which means "this node alone". Duplicate ids or addresses are
// rejected, since either would make the quorum size ambiguous.
func ParseVoters(s string) ([]Voter, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var voters []Voter
	ids := make(map[int32]bool)
	addrs := make(map[string]bool)
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("%w: empty entry in %q", ErrInvalidVoters, s)
		}
		idText, addr, ok := strings.Cut(entry, "@")
		if !ok {
			return nil, fmt.Errorf("%w: %q is not of the form id@host:port", ErrInvalidVoters, entry)
		}
		id, err := strconv.ParseInt(strings.TrimSpace(idText), 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("%w: %q: node id must be a non-negative 32-bit integer", ErrInvalidVoters, entry)
		}
		addr = strings.TrimSpace(addr)
		if err := checkHostPort(addr, false); err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrInvalidVoters, entry, err)
		}
		if ids[int32(id)] {
			return nil, fmt.Errorf("%w: node id %d listed twice", ErrInvalidVoters, id)
		}
		key := strings.ToLower(addr)
		if addrs[key] {
			return nil, fmt.Errorf("%w: address %s listed twice", ErrInvalidVoters, addr)
		}
		ids[int32(id)], addrs[key] = true, true
		voters = append(voters, Voter{ID: int32(id), Addr: addr})
	}
	return voters, nil
}

// checkHostPort checks that addr is host:port with a usable port. Port 0 is
// allowed only for listen addresses (the OS picks one).
func checkHostPort(addr string, allowZeroPort bool) error {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 || (port == 0 && !allowZeroPort) {
		return fmt.Errorf("address %q: bad port %q", addr, portText)
	}
	if host == "" && !allowZeroPort {
		return fmt.Errorf("address %q: missing host", addr)
	}
	return nil
}

// Defaults for Config fields left zero. Multi-voter timeouts follow the
// usual Raft guidance for a LAN; a single voter needs no failure detection,
// so it uses a short timeout to become leader quickly on startup.
const (
	DefaultHeartbeatTimeout   = 500 * time.Millisecond
	DefaultElectionTimeout    = 500 * time.Millisecond
	DefaultLeaderLeaseTimeout = 250 * time.Millisecond
	DefaultCommitTimeout      = 50 * time.Millisecond
	DefaultApplyTimeout       = 10 * time.Second
	DefaultSnapshotThreshold  = 8192
	DefaultSnapshotInterval   = 2 * time.Minute
	DefaultSnapshotRetain     = 2

	DefaultBrokerSessionTimeout         = 4 * time.Second
	DefaultBrokerHeartbeatInterval      = 500 * time.Millisecond
	DefaultLeaderImbalanceCheckInterval = 5 * time.Minute

	singleVoterHeartbeatTimeout   = 100 * time.Millisecond
	singleVoterLeaderLeaseTimeout = 50 * time.Millisecond
)

// Config configures a Controller. Zero values take the defaults noted on
// each field.
type Config struct {
	// NodeID is this node's id (the Raft server id is its decimal form).
	NodeID int32
	// Dir holds the Raft log, stable store and snapshots. The broker passes
	// <data-dir>/__cluster_metadata.
	Dir string
	// BindAddr is the Raft listener, e.g. 127.0.0.1:9093. Port 0 picks a
	// free port (useful in tests with a single voter).
	BindAddr string
	// Voters is the static quorum. Empty means this node alone at BindAddr.
	// When given, it must include NodeID, and the other nodes reach this one
	// at the address listed for it.
	Voters []Voter
	// Logger receives controller logs; Raft's own logs are routed into it
	// with routine chatter at Debug. Nil discards.
	Logger *slog.Logger

	// DefaultPartitions is used when a topic is created with -1 partitions
	// (num.partitions). Default 1.
	DefaultPartitions int32
	// DefaultReplicationFactor is used when a topic is created with
	// replication factor -1 (default.replication.factor). Default 1.
	DefaultReplicationFactor int16
	// MaxPartitions is cluster.max.partitions: the most partitions the
	// cluster may hold over all topics; 0 means no limit. Topic names
	// are client text (auto.create.topics.enable creates a topic for any
	// name a Metadata request asks for), and every partition costs every
	// broker image memory and its replicas log directories, so the total
	// is capped. The proposer's value travels in the command, so every
	// node applies the same limit.
	MaxPartitions int

	// HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout and
	// CommitTimeout are passed to Raft; see hashicorp/raft's Config. The
	// defaults depend on whether there is more than one voter.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// ApplyTimeout bounds a metadata write when the caller's context has no
	// deadline. Default 10 s.
	ApplyTimeout time.Duration
	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger a new one; SnapshotInterval how often that is checked.
	// SnapshotRetain is how many snapshots are kept on disk.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	SnapshotRetain    int

	// BrokerSessionTimeout is how long the Raft leader waits without a
	// heartbeat from a registered broker before fencing it
	// (broker.session.timeout.ms). It also bounds how long a broker whose
	// heartbeats go unanswered reports SessionHealthy. Default 4 s.
	BrokerSessionTimeout time.Duration
	// BrokerHeartbeatInterval is how often RunHeartbeats reports to the
	// Raft leader, and how often the leader looks for expired sessions
	// (broker.heartbeat.interval.ms). Must be below BrokerSessionTimeout.
	// Default 500 ms.
	BrokerHeartbeatInterval time.Duration
	// AutoLeaderRebalance makes the Raft leader move partition leadership
	// back to preferred replicas (auto.leader.rebalance.enable).
	AutoLeaderRebalance bool
	// LeaderImbalanceCheckInterval is how often that check runs
	// (leader.imbalance.check.interval.seconds). Default 5 min.
	LeaderImbalanceCheckInterval time.Duration
}

// Validate reports the first problem with the configuration.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfigValue, fmt.Sprintf(format, args...))
	}
	if c.NodeID < 0 {
		return bad("node id %d is negative", c.NodeID)
	}
	if c.Dir == "" {
		return bad("no directory for the metadata log")
	}
	if err := checkHostPort(c.BindAddr, true); err != nil {
		return fmt.Errorf("%w: bind address: %w", ErrInvalidConfigValue, err)
	}
	if len(c.Voters) > 0 {
		if _, port, _ := net.SplitHostPort(c.BindAddr); port == "0" {
			return bad("bind address %s has port 0, but voters reach this node at a fixed address", c.BindAddr)
		}
		ids := make(map[int32]bool)
		addrs := make(map[string]bool)
		found := false
		for _, v := range c.Voters {
			if v.ID < 0 {
				return bad("voter id %d is negative", v.ID)
			}
			if err := checkHostPort(v.Addr, false); err != nil {
				return fmt.Errorf("%w: voter %d: %w", ErrInvalidConfigValue, v.ID, err)
			}
			if ids[v.ID] || addrs[strings.ToLower(v.Addr)] {
				return bad("voter %d@%s is listed twice", v.ID, v.Addr)
			}
			ids[v.ID], addrs[strings.ToLower(v.Addr)] = true, true
			found = found || v.ID == c.NodeID
		}
		if !found {
			return bad("node id %d is not among the voters", c.NodeID)
		}
	}
	if c.DefaultPartitions < 0 {
		return bad("default partitions %d is negative", c.DefaultPartitions)
	}
	if c.DefaultReplicationFactor < 0 {
		return bad("default replication factor %d is negative", c.DefaultReplicationFactor)
	}
	for name, d := range map[string]time.Duration{
		"heartbeat timeout": c.HeartbeatTimeout, "election timeout": c.ElectionTimeout,
		"leader lease timeout": c.LeaderLeaseTimeout, "commit timeout": c.CommitTimeout,
		"apply timeout": c.ApplyTimeout, "snapshot interval": c.SnapshotInterval,
		"broker session timeout": c.BrokerSessionTimeout, "broker heartbeat interval": c.BrokerHeartbeatInterval,
		"leader imbalance check interval": c.LeaderImbalanceCheckInterval,
	} {
		if d < 0 {
			return bad("%s %v is negative", name, d)
		}
	}
	if c.SnapshotRetain < 0 {
		return bad("snapshot retain %d is negative", c.SnapshotRetain)
	}
	session, interval := c.BrokerSessionTimeout, c.BrokerHeartbeatInterval
	if session == 0 {
		session = DefaultBrokerSessionTimeout
	}
	if interval == 0 {
		interval = DefaultBrokerHeartbeatInterval
	}
	if interval >= session {
		return bad("broker heartbeat interval %v is not below the broker session timeout %v", interval, session)
	}
	return nil
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	single := len(c.Voters) <= 1
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = 1
	}
	if c.DefaultReplicationFactor == 0 {
		c.DefaultReplicationFactor = 1
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = DefaultHeartbeatTimeout
		if single {
			c.HeartbeatTimeout = singleVoterHeartbeatTimeout
		}
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = DefaultElectionTimeout
		if single {
			c.ElectionTimeout = singleVoterHeartbeatTimeout
		}
	}
	if c.LeaderLeaseTimeout == 0 {
		c.LeaderLeaseTimeout = min(DefaultLeaderLeaseTimeout, c.HeartbeatTimeout)
		if single {
			c.LeaderLeaseTimeout = min(singleVoterLeaderLeaseTimeout, c.HeartbeatTimeout)
		}
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = DefaultCommitTimeout
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = DefaultApplyTimeout
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = DefaultSnapshotInterval
	}
	if c.SnapshotRetain == 0 {
		c.SnapshotRetain = DefaultSnapshotRetain
	}
	if c.BrokerSessionTimeout == 0 {
		c.BrokerSessionTimeout = DefaultBrokerSessionTimeout
	}
	if c.BrokerHeartbeatInterval == 0 {
		c.BrokerHeartbeatInterval = DefaultBrokerHeartbeatInterval
	}
	if c.LeaderImbalanceCheckInterval == 0 {
		c.LeaderImbalanceCheckInterval = DefaultLeaderImbalanceCheckInterval
	}
	return c
}
