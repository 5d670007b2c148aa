package testcluster

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spool-mq/spool/internal/testkit"
)

// Errors of the cluster's control methods.
var (
	// ErrNotReady: a started process did not serve within the ready
	// timeout, or exited first.
	ErrNotReady = errors.New("broker not ready")
	// ErrNoSuchNode: a node id outside 1..Brokers.
	ErrNoSuchNode = errors.New("no such node")
)

// Options describe a cluster to start.
type Options struct {
	// Brokers is the number of nodes, ids 1..Brokers; 0 means 3. Every
	// node is a metadata voter and a broker.
	Brokers int
	// Set holds extra `--set key=value` settings for every node, applied
	// over DefaultSettings (a key set here wins; an empty value drops the
	// default).
	Set map[string]string
	// SSLListener gives every node a second Kafka listener, SSL, next to
	// PLAINTEXT; Set must then hold its ssl.* files (see SSLAddr).
	SSLListener bool
	// LogLevel of the brokers ("debug", "info", ...); "" means info.
	LogLevel string
	// ReadyTimeout bounds how long a starting process may take to serve
	// (it waits for a Raft quorum first); 0 means 30 s.
	ReadyTimeout time.Duration
	// StopTimeout bounds a SIGTERM stop (a controlled shutdown moves
	// leadership first); 0 means 60 s.
	StopTimeout time.Duration
}

// DefaultSettings are the timeouts every test cluster runs with: short, so
// failures are detected in about a second and tests stay fast on CI.
func DefaultSettings() map[string]string {
	return map[string]string{
		"broker.session.timeout.ms":        "1500",
		"broker.heartbeat.interval.ms":     "200",
		"replica.lag.time.max.ms":          "1500",
		"group.initial.rebalance.delay.ms": "0",
		"offsets.topic.num.partitions":     "3",
	}
}

// Cluster is a running set of `spool serve` processes and the proxies
// between them. Node ids are 1..N; every method takes a node id.
type Cluster struct {
	t       testing.TB
	bin     string
	opts    Options
	nodes   []*node         // nodes[id-1]
	proxies map[link]*Proxy // one per ordered pair
	logDir  string

	mu      sync.Mutex
	clients map[int]*kgo.Client // per-node inspection clients, seeded with that node only
}

// link is the ordered pair (from, to) of one proxy.
type link struct{ from, to int }

// Start starts opts.Brokers processes, waits until each serves Kafka
// requests, and registers a cleanup that kills them all. It fails t if any
// process does not come up.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c := prepare(t, opts, Build(t))
	// All at once: each waits for a Raft quorum before it serves.
	for _, n := range c.nodes {
		if err := n.launch(c.bin); err != nil {
			t.Fatalf("node %d: %v", n.id, err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.nodes))
	for i, n := range c.nodes {
		wg.Go(func() { errs[i] = n.waitReady(c.opts.ReadyTimeout) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("starting a %d-node cluster: %v", c.opts.Brokers, err)
	}
	return c
}

// prepare allocates ports, directories and proxies and builds every
// node's command line, without starting processes.
func prepare(t testing.TB, opts Options, bin string) *Cluster {
	t.Helper()
	if opts.Brokers == 0 {
		opts.Brokers = 3
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 60 * time.Second
	}
	c := &Cluster{t: t, bin: bin, opts: opts, proxies: make(map[link]*Proxy),
		logDir: t.TempDir(), clients: make(map[int]*kgo.Client)}
	// One cleanup for everything, so the order is fixed: processes die
	// before their logs are printed and before the proxies close.
	t.Cleanup(c.cleanup)

	dataRoot := t.TempDir()
	for id := 1; id <= opts.Brokers; id++ {
		c.nodes = append(c.nodes, &node{
			id:          id,
			kafkaAddr:   freeAddr(t),
			sslAddr:     sslAddr(t, opts.SSLListener),
			httpAddr:    freeAddr(t),
			clusterAddr: freeAddr(t),
			dataDir:     fmt.Sprintf("%s/node-%d", dataRoot, id),
			logPath:     fmt.Sprintf("%s/node-%d.log", c.logDir, id),
		})
	}
	for _, from := range c.nodes {
		for _, to := range c.nodes {
			if from == to {
				continue
			}
			p, err := NewProxy(to.clusterAddr)
			if err != nil {
				t.Fatalf("proxy %d->%d: %v", from.id, to.id, err)
			}
			c.proxies[link{from.id, to.id}] = p
		}
	}
	for _, n := range c.nodes {
		if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		n.args = c.args(n)
	}
	return c
}

// args is node n's `spool serve` command line. Its voters list names
// itself at its real cluster address and every peer at the proxy for that
// ordered pair, so all of n's inter-broker traffic goes through proxies the
// cluster can cut.
func (c *Cluster) args(n *node) []string {
	var voters []string
	for _, peer := range c.nodes {
		addr := peer.clusterAddr
		if peer != n {
			addr = c.proxies[link{n.id, peer.id}].Addr()
		}
		voters = append(voters, fmt.Sprintf("%d@%s", peer.id, addr))
	}
	args := []string{"serve",
		"--node-id", strconv.Itoa(n.id),
		"--data-dir", n.dataDir,
		"--kafka-addr", n.listeners(),
		"--http-addr", n.httpAddr,
		"--controller-addr", n.clusterAddr,
		"--voters", strings.Join(voters, ","),
		"--log-level", c.opts.LogLevel,
	}
	set := DefaultSettings()
	maps.Copy(set, c.opts.Set)
	keys := slices.Sorted(maps.Keys(set))
	for _, k := range keys {
		if set[k] != "" {
			args = append(args, "--set", k+"="+set[k])
		}
	}
	return args
}

// cleanup kills every process, reports processes that died on their own,
// prints log tails if the test failed, and closes proxies and clients.
func (c *Cluster) cleanup() {
	t := c.t
	for _, n := range c.nodes {
		for _, r := range n.allRuns() {
			if r.exitedOnItsOwn() {
				t.Errorf("node %d (pid %d) exited on its own while the test ran: %v", n.id, r.pid(), r.state)
			}
			r.kill()
		}
	}
	if t.Failed() {
		for _, n := range c.nodes {
			t.Logf("---- node %d: last %d lines of %s ----\n%s", n.id, tailLines, n.logPath, tail(n.logPath, tailLines))
		}
	}
	c.mu.Lock()
	for _, cl := range c.clients {
		cl.Close()
	}
	clear(c.clients)
	c.mu.Unlock()
	for _, p := range c.proxies {
		p.Close()
	}
}

// tailLines is how much of each log a failed test prints.
const tailLines = 80

// N is the number of nodes.
func (c *Cluster) N() int { return len(c.nodes) }

// IDs are the node ids, 1..N.
func (c *Cluster) IDs() []int {
	ids := make([]int, len(c.nodes))
	for i := range ids {
		ids[i] = i + 1
	}
	return ids
}

func (c *Cluster) node(id int) *node {
	c.t.Helper()
	if id < 1 || id > len(c.nodes) {
		c.t.Fatalf("%v: %d (cluster has nodes 1..%d)", ErrNoSuchNode, id, len(c.nodes))
	}
	return c.nodes[id-1]
}

// KafkaAddr is node id's Kafka listener.
func (c *Cluster) KafkaAddr(id int) string { return c.node(id).kafkaAddr }

// SSLAddr is node id's SSL listener ("" without Options.SSLListener).
func (c *Cluster) SSLAddr(id int) string { return c.node(id).sslAddr }

// sslAddr is a free address for an SSL listener, if wanted.
func sslAddr(t testing.TB, want bool) string {
	if !want {
		return ""
	}
	return freeAddr(t)
}

// listeners is the node's --kafka-addr: its plaintext address, or both
// listeners by name when it has an SSL one.
func (n *node) listeners() string {
	if n.sslAddr == "" {
		return n.kafkaAddr
	}
	return "PLAINTEXT://" + n.kafkaAddr + ",SSL://" + n.sslAddr
}

// ClusterAddr is node id's real cluster (Raft/controller/replication) port.
func (c *Cluster) ClusterAddr(id int) string { return c.node(id).clusterAddr }

// DataDir is node id's data directory.
func (c *Cluster) DataDir(id int) string { return c.node(id).dataDir }

// LogPath is the file node id's output goes to (all incarnations).
func (c *Cluster) LogPath(id int) string { return c.node(id).logPath }

// LogTail returns the last n lines of node id's output.
func (c *Cluster) LogTail(id, n int) string { return tail(c.node(id).logPath, n) }

// Running reports whether node id's process is alive (paused counts as
// alive).
func (c *Cluster) Running(id int) bool { return c.node(id).running() }

// Running returns the ids of the nodes whose process is alive.
func (c *Cluster) RunningIDs() []int {
	var ids []int
	for _, n := range c.nodes {
		if n.running() {
			ids = append(ids, n.id)
		}
	}
	return ids
}

// Seeds are every node's Kafka address, for client bootstrap lists.
func (c *Cluster) Seeds() []string {
	s := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		s[i] = n.kafkaAddr
	}
	return s
}

// freeAddr is a port for a node to bind (see testkit.FreeAddr).
func freeAddr(t testing.TB) string { return testkit.FreeAddr(t) }

// sortedIDs returns ids as a sorted copy.
func sortedIDs(ids []int32) []int32 {
	s := slices.Clone(ids)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}
