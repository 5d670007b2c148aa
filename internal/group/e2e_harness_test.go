package group_test

// The harness of the end-to-end tests (e2e_test.go): a real broker
// (broker.Start) and franz-go group consumers over TCP, with a tracker of
// who owns which partition and which records were processed.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spool-mq/spool/internal/broker"
	"github.com/spool-mq/spool/internal/config"
)

// waitLimit bounds every wait for a group to settle.
const waitLimit = 90 * time.Second

type testBroker struct {
	t   *testing.T
	cfg config.Broker
	b   *broker.Broker
}

func startBroker(t *testing.T, dataDir string) *testBroker {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.ControllerAddr = "127.0.0.1:0"
	cfg.HTTPAddr = ""
	cfg.AutoCreateTopics = false
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg, broker.Options{})
	if err != nil {
		t.Fatalf("starting broker: %v", err)
	}
	tb := &testBroker{t: t, cfg: cfg, b: b}
	t.Cleanup(func() { b.Close() })
	return tb
}

func (tb *testBroker) client(opts ...kgo.Opt) *kgo.Client {
	tb.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tb.b.KafkaAddr())}, opts...)...)
	if err != nil {
		tb.t.Fatal(err)
	}
	return cl
}

func (tb *testBroker) createTopic(name string, partitions int32) {
	tb.t.Helper()
	cl := tb.client()
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(testCtx(tb.t), partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		tb.t.Fatalf("creating %s: %v", name, err)
	}
}

// produce writes n records with values prefix-0 .. prefix-(n-1), spread
// over the partitions, and returns the values.
func (tb *testBroker) produce(topic, prefix string, n int) []string {
	tb.t.Helper()
	cl := tb.client(kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	defer cl.Close()
	var recs []*kgo.Record
	var values []string
	for i := range n {
		v := fmt.Sprintf("%s-%d", prefix, i)
		values = append(values, v)
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(v)})
	}
	if err := cl.ProduceSync(testCtx(tb.t), recs...).FirstErr(); err != nil {
		tb.t.Fatalf("producing: %v", err)
	}
	return values
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// tracker records, across the members of a group, who owns which
// partition and which records were processed. Every change wakes waiters.
type tracker struct {
	mu        sync.Mutex
	owned     map[string]map[int32]bool // member name -> partitions
	processed []string
	changed   chan struct{}
}

func newTracker() *tracker {
	return &tracker{owned: make(map[string]map[int32]bool), changed: make(chan struct{})}
}

func (tr *tracker) update(fn func()) {
	tr.mu.Lock()
	fn()
	close(tr.changed)
	tr.changed = make(chan struct{})
	tr.mu.Unlock()
}

func (tr *tracker) assign(name string, ps map[string][]int32, add bool) {
	tr.update(func() {
		if tr.owned[name] == nil {
			tr.owned[name] = make(map[int32]bool)
		}
		for _, parts := range ps {
			for _, p := range parts {
				if add {
					tr.owned[name][p] = true
				} else {
					delete(tr.owned[name], p)
				}
			}
		}
	})
}

func (tr *tracker) forget(name string) { tr.update(func() { delete(tr.owned, name) }) }

// waitFor waits until cond (called under the lock) holds.
func (tr *tracker) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		tr.mu.Lock()
		ok, ch := cond(), tr.changed
		state := fmt.Sprint(tr.owned)
		tr.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; ownership: %s", what, state)
		}
	}
}

// balanced reports whether exactly the members in live own the n
// partitions, each partition once and each member at least one. The
// caller holds the lock.
func (tr *tracker) balanced(live []string, n int) bool {
	seen := make(map[int32]int)
	for name, ps := range tr.owned {
		if len(ps) == 0 {
			continue
		}
		if !slices.Contains(live, name) {
			return false
		}
		for p := range ps {
			seen[p]++
		}
	}
	for _, name := range live {
		if len(tr.owned[name]) == 0 {
			return false
		}
	}
	for p := range int32(n) {
		if seen[p] != 1 {
			return false
		}
	}
	return len(seen) == n
}

// member is one group consumer with a poll loop.
type member struct {
	name   string
	cl     *kgo.Client
	dialer *killableDialer
	cancel context.CancelFunc
	done   chan struct{}

	closeOnce sync.Once
}

type memberOpts struct {
	balancer kgo.GroupBalancer
	// commitOnRevoke processes records strictly between polls and
	// commits them before giving partitions away.
	commitOnRevoke bool
	// manualCommit disables every automatic commit.
	manualCommit bool
}

func (tb *testBroker) startMember(t *testing.T, tr *tracker, name, groupID, topic string, mo memberOpts) *member {
	t.Helper()
	m := &member{name: name, dialer: &killableDialer{}, done: make(chan struct{})}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(groupID),
		kgo.ConsumeTopics(topic),
		kgo.ClientID(name),
		kgo.Dialer(m.dialer.DialContext),
		kgo.SessionTimeout(6 * time.Second),
		kgo.HeartbeatInterval(500 * time.Millisecond),
		kgo.RebalanceTimeout(20 * time.Second),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { tr.assign(name, ps, true) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { tr.assign(name, ps, false) }),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, ps map[string][]int32) {
			if mo.commitOnRevoke {
				if err := cl.CommitUncommittedOffsets(ctx); err != nil {
					t.Errorf("%s: commit on revoke: %v", name, err)
				}
			}
			tr.assign(name, ps, false)
		}),
	}
	if mo.balancer != nil {
		opts = append(opts, kgo.Balancers(mo.balancer))
	}
	if mo.commitOnRevoke {
		opts = append(opts, kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll())
	}
	if mo.manualCommit {
		opts = append(opts, kgo.DisableAutoCommit())
	}
	m.cl = tb.client(opts...)
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fetches := m.cl.PollRecords(ctx, 100)
			var values []string
			fetches.EachRecord(func(r *kgo.Record) { values = append(values, string(r.Value)) })
			if len(values) > 0 {
				tr.update(func() { tr.processed = append(tr.processed, values...) })
			}
			if mo.commitOnRevoke {
				m.cl.AllowRebalance()
			}
		}
	}()
	t.Cleanup(func() { m.stop() })
	return m
}

// stop ends the poll loop and closes the client (leaving the group).
func (m *member) stop() {
	m.cancel()
	<-m.done
	m.closeOnce.Do(m.cl.Close)
}

// leave stops the member cleanly, committing what it processed first.
func (m *member) leave(t *testing.T, commit bool) {
	t.Helper()
	m.cancel()
	<-m.done
	if commit {
		if err := m.cl.CommitUncommittedOffsets(testCtx(t)); err != nil {
			t.Fatalf("%s: final commit: %v", m.name, err)
		}
	}
	m.closeOnce.Do(m.cl.CloseAllowingRebalance)
}

// kill cuts the member off the network without a LeaveGroup, like a
// crashed process: the coordinator only notices when its session expires.
func (m *member) kill() {
	m.dialer.kill()
	m.cancel()
	<-m.done
	// Leaving with a canceled context stops the client's group
	// management at once without sending anything (it could not
	// anyway); the client is closed when the test ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m.cl.LeaveGroupContext(ctx)
}

type killableDialer struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

var errKilled = errors.New("member killed")

func (d *killableDialer) DialContext(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return nil, errKilled
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *killableDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = true
	for _, c := range d.conns {
		c.Close()
	}
}

// describe returns the group's state and member client ids.
func (tb *testBroker) describe(t *testing.T, groupID string) (string, []string) {
	t.Helper()
	cl := tb.client()
	defer cl.Close()
	groups, err := kadm.NewClient(cl).DescribeGroups(testCtx(t), groupID)
	if err != nil {
		t.Fatal(err)
	}
	g := groups[groupID]
	if g.Err != nil {
		t.Fatalf("describing %s: %v", groupID, g.Err)
	}
	var ids []string
	for _, m := range g.Members {
		ids = append(ids, m.ClientID)
	}
	slices.Sort(ids)
	return g.State, ids
}
