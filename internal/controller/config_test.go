package controller

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseVoters(t *testing.T) {
	good := []struct {
		in   string
		want []Voter
	}{
		{"", nil},
		{"  ", nil},
		{"1@127.0.0.1:9093", []Voter{{1, "127.0.0.1:9093"}}},
		{"1@a:9093, 2@b:9093 ,3@[::1]:9093", []Voter{{1, "a:9093"}, {2, "b:9093"}, {3, "[::1]:9093"}}},
		{"0@host:1", []Voter{{0, "host:1"}}},
	}
	for _, tc := range good {
		got, err := ParseVoters(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseVoters(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	bad := []string{
		"1", "@a:1", "x@a:1", "-1@a:1", "1@a", "1@a:0", "1@a:99999", "1@:9093", "1@a:1,", "1@a:1,,2@b:1",
		"1@a:1,1@b:1", // duplicate id
		"1@a:1,2@A:1", // duplicate address
		"99999999999@a:1",
	}
	for _, in := range bad {
		if got, err := ParseVoters(in); !errors.Is(err, ErrInvalidVoters) {
			t.Errorf("ParseVoters(%q) = %v, %v; want ErrInvalidVoters", in, got, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	base := Config{NodeID: 1, Dir: "/tmp/x", BindAddr: "127.0.0.1:9093"}
	if err := base.Validate(); err != nil {
		t.Fatalf("base config: %v", err)
	}
	withVoters := base
	withVoters.Voters = []Voter{{1, "127.0.0.1:9093"}, {2, "127.0.0.2:9093"}}
	if err := withVoters.Validate(); err != nil {
		t.Fatalf("config with voters: %v", err)
	}
	cases := map[string]func(*Config){
		"negative node id":        func(c *Config) { c.NodeID = -1 },
		"no dir":                  func(c *Config) { c.Dir = "" },
		"bad bind":                func(c *Config) { c.BindAddr = "nope" },
		"node not a voter":        func(c *Config) { c.Voters = []Voter{{2, "h:1"}} },
		"duplicate voter id":      func(c *Config) { c.Voters = []Voter{{1, "h:1"}, {1, "h:2"}} },
		"duplicate voter address": func(c *Config) { c.Voters = []Voter{{1, "h:1"}, {2, "h:1"}} },
		"voter without port":      func(c *Config) { c.Voters = []Voter{{1, "h"}} },
		"voters and bind port 0":  func(c *Config) { c.BindAddr = "127.0.0.1:0"; c.Voters = []Voter{{1, "h:1"}} },
		"negative partitions":     func(c *Config) { c.DefaultPartitions = -1 },
		"negative rf":             func(c *Config) { c.DefaultReplicationFactor = -1 },
		"negative timeout":        func(c *Config) { c.HeartbeatTimeout = -time.Second },
		"negative retain":         func(c *Config) { c.SnapshotRetain = -1 },
		"negative session":        func(c *Config) { c.BrokerSessionTimeout = -time.Second },
		"heartbeat >= session": func(c *Config) {
			c.BrokerSessionTimeout, c.BrokerHeartbeatInterval = time.Second, time.Second
		},
		"heartbeat above default session": func(c *Config) { c.BrokerHeartbeatInterval = 5 * time.Second },
	}
	for name, mutate := range cases {
		cfg := base
		mutate(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfigValue) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfigValue", name, err)
		}
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfigValue) {
			t.Errorf("%s: New = %v, want ErrInvalidConfigValue", name, err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	single := Config{}.withDefaults()
	if single.DefaultPartitions != 1 || single.DefaultReplicationFactor != 1 || single.Logger == nil {
		t.Errorf("defaults: %+v", single)
	}
	multi := Config{Voters: []Voter{{1, "a:1"}, {2, "b:1"}}}.withDefaults()
	if single.HeartbeatTimeout >= multi.HeartbeatTimeout {
		t.Errorf("single-voter heartbeat timeout %v should be shorter than the multi-voter %v", single.HeartbeatTimeout, multi.HeartbeatTimeout)
	}
	for _, c := range []Config{single, multi} {
		if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
			t.Errorf("leader lease %v exceeds heartbeat timeout %v (raft rejects that)", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
		}
	}
	if single.BrokerSessionTimeout != DefaultBrokerSessionTimeout || single.BrokerHeartbeatInterval != DefaultBrokerHeartbeatInterval ||
		single.LeaderImbalanceCheckInterval != DefaultLeaderImbalanceCheckInterval || single.AutoLeaderRebalance {
		t.Errorf("lifecycle defaults: session %v heartbeat %v imbalance check %v rebalance %v", single.BrokerSessionTimeout,
			single.BrokerHeartbeatInterval, single.LeaderImbalanceCheckInterval, single.AutoLeaderRebalance)
	}
	// Explicit values are kept.
	custom := Config{DefaultPartitions: 6, DefaultReplicationFactor: 3, HeartbeatTimeout: time.Second}.withDefaults()
	if custom.DefaultPartitions != 6 || custom.DefaultReplicationFactor != 3 || custom.HeartbeatTimeout != time.Second {
		t.Errorf("explicit values overridden: %+v", custom)
	}
}

func TestDefaultsFromConfigApplyToTopics(t *testing.T) {
	cfg := singleConfig(t.TempDir())
	cfg.DefaultPartitions = 4
	c := start(t, cfg)
	registerLive(t, c, BrokerRegistration{ID: 1, Host: "h", Port: 1})
	if err := createOne(t, c, TopicSpec{Name: "d", NumPartitions: -1, ReplicationFactor: -1}); err != nil {
		t.Fatal(err)
	}
	if tp := c.Image().Topic("d"); len(tp.Partitions) != 4 || tp.ReplicationFactor() != 1 {
		t.Fatalf("topic with defaults: %d partitions, rf %d", len(tp.Partitions), tp.ReplicationFactor())
	}
}

func TestSingleVoterListedExplicitly(t *testing.T) {
	addr := freeAddrs(t, 1)[0]
	cfg := singleConfig(t.TempDir())
	cfg.BindAddr = addr
	cfg.Voters = []Voter{{ID: 1, Addr: addr}}
	c := start(t, cfg)
	if !c.IsLeader() || c.Addr() != addr {
		t.Fatalf("leader %v addr %s, want leader at %s", c.IsLeader(), c.Addr(), addr)
	}
}

func TestRestartWithChangedVoterIDsFails(t *testing.T) {
	addrs := freeAddrs(t, 3)
	cfg := singleConfig(t.TempDir())
	cfg.BindAddr = addrs[0]
	cfg.Voters = []Voter{{ID: 1, Addr: addrs[0]}}
	c := start(t, cfg)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Another voter id: refused with a clear message.
	bad := cfg
	bad.Voters = append(slices.Clone(cfg.Voters), Voter{ID: 2, Addr: addrs[1]})
	if c, err := New(bad); !errors.Is(err, ErrInvalidVoters) || !strings.Contains(err.Error(), "differ from the quorum") {
		if c != nil {
			_ = c.Close()
		}
		t.Fatalf("restart with voter ids {1,2} over a stored {1} = %v, want ErrInvalidVoters", err)
	}
	// The same ids at another address: fine (addresses are per node).
	moved := cfg
	moved.BindAddr = addrs[2]
	moved.Voters = []Voter{{ID: 1, Addr: addrs[2]}}
	c = start(t, moved)
	if !c.IsLeader() {
		t.Fatal("restarted node at a new address does not lead its one-voter quorum")
	}
}

func TestEphemeralBindPortIsAdvertised(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	if strings.HasSuffix(c.Addr(), ":0") || !strings.HasPrefix(c.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr() = %q, want the real loopback port", c.Addr())
	}
}

func TestValidateTopicName(t *testing.T) {
	for _, ok := range []string{"a", "A-b_c.d", "123", strings.Repeat("x", 249), "__consumer_offsets", "..."} {
		if err := ValidateTopicName(ok); err != nil {
			t.Errorf("ValidateTopicName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", strings.Repeat("x", 250), "a b", "a/b", "ü", "a\x00"} {
		if err := ValidateTopicName(bad); !errors.Is(err, ErrInvalidTopicName) {
			t.Errorf("ValidateTopicName(%q) = %v, want ErrInvalidTopicName", bad, err)
		}
	}
}

func TestNewUUIDShape(t *testing.T) {
	seen := map[[16]byte]bool{}
	for range 1000 {
		id := newUUID()
		if seen[id] {
			t.Fatal("duplicate uuid")
		}
		seen[id] = true
		s := uuidString(id)
		if len(s) != 22 || s[0] == '-' || id[6]>>4 != 4 || id[8]>>6 != 2 {
			t.Fatalf("uuid %x (%s) is not a Kafka-acceptable v4 id", id, s)
		}
	}
}
