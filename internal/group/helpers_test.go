package group

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/spool-mq/spool/internal/testkit"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/record"
)

// fakeClock is the shared fake clock.
type fakeClock = testkit.Clock

func newFakeClock() *fakeClock { return testkit.NewClock() }

// memLog is an in-memory Log. Appended batches are checked with the same
// rules the partition applies to producers, so what the coordinator
// writes would be accepted by a real partition.
type memLog struct {
	mu      sync.Mutex
	batches [][]byte
	next    int64
	// failAppend, if set, fails appends with it.
	failAppend error
	// maxBatch, if positive, refuses larger batches like max.message.bytes.
	maxBatch int
	// readGate, if set, blocks reads until it is closed.
	readGate chan struct{}
}

func (l *memLog) Append(batch []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failAppend != nil {
		return l.failAppend
	}
	if l.maxBatch > 0 && len(batch) > l.maxBatch {
		return fmt.Errorf("%w: %d bytes", ErrRecordTooLarge, len(batch))
	}
	h, err := record.ValidateProduced(batch)
	if err != nil {
		return fmt.Errorf("coordinator wrote an invalid batch: %w", err)
	}
	b := append([]byte(nil), batch...)
	record.SetBaseOffset(b, l.next)
	l.next += int64(h.NumRecords)
	l.batches = append(l.batches, b)
	return nil
}

func (l *memLog) Read(offset int64, maxBytes int) ([]byte, error) {
	if l.readGate != nil {
		<-l.readGate
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for _, b := range l.batches {
		h, _ := record.ParseHeader(b)
		if h.NextOffset() <= offset {
			continue
		}
		if len(out) > 0 && len(out)+len(b) > maxBytes {
			break
		}
		out = append(out, b...)
	}
	return out, nil
}

func (l *memLog) StartOffset() int64 { return 0 }

func (l *memLog) EndOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

func (l *memLog) setFail(err error) {
	l.mu.Lock()
	l.failAppend = err
	l.mu.Unlock()
}

// logRecord is one decoded record of a memLog.
type logRecord struct {
	key, value []byte
}

func (l *memLog) records(t *testing.T) []logRecord {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logRecord
	dec := record.NewDecoder()
	for _, b := range l.batches {
		if err := dec.Records(b, func(r *kmsg.Record) bool {
			out = append(out, logRecord{key: r.Key, value: r.Value})
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

var errDiskBroken = errors.New("disk broken")

// harness is a coordinator owning every group (one partition) over a
// memLog, with a fake clock and no background loops.
type harness struct {
	t     *testing.T
	c     *Coordinator
	clock *fakeClock
	log   *memLog
	cfg   Config
}

func testConfig(clock *fakeClock) Config {
	cfg := DefaultConfig()
	cfg.NumPartitions = 1
	cfg.MinSessionTimeout = time.Second
	cfg.InitialRebalanceDelay = 0
	cfg.Now = clock.Now
	return cfg
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	clock := newFakeClock()
	cfg := testConfig(clock)
	if mutate != nil {
		mutate(&cfg)
	}
	return startHarness(t, cfg, clock, &memLog{})
}

func startHarness(t *testing.T, cfg Config, clock *fakeClock, log *memLog) *harness {
	t.Helper()
	c, err := newCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Cleanup(func() { checkCounts(t, c) }) // runs before Close
	c.SetPartitions(1, []OwnedPartition{{Index: 0, Log: log}})
	c.wg.Wait() // the load
	return &harness{t: t, c: c, clock: clock, log: log, cfg: cfg}
}

// restart replays the harness's log into a fresh coordinator, as a
// broker restart would.
func (h *harness) restart() *harness {
	h.t.Helper()
	h.c.wg.Wait()
	h.c.Close()
	return startHarness(h.t, h.cfg, h.clock, h.log)
}

// tick advances the clock and fires due timers.
func (h *harness) tick(d time.Duration) {
	h.clock.Advance(d)
	h.c.tick()
}

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

func protocols(names ...string) []Protocol {
	var ps []Protocol
	for _, n := range names {
		ps = append(ps, Protocol{Name: n, Metadata: consumerMeta("t")})
	}
	return ps
}

// changedProtocols is "range" with metadata other than protocols'
// default: a rejoin with it forces a rebalance.
func changedProtocols() []Protocol {
	return []Protocol{{Name: "range", Metadata: consumerMeta("t", "other")}}
}

func joinReq(groupID, memberID, clientID string, ps ...Protocol) JoinRequest {
	if ps == nil {
		ps = protocols("range")
	}
	return JoinRequest{
		Group: groupID, MemberID: memberID, ClientID: clientID, ClientHost: "/127.0.0.1",
		ProtocolType: "consumer", Protocols: ps,
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 30 * time.Second,
	}
}

// join sends a JoinGroup and returns the channel it will be answered on.
func (h *harness) join(req JoinRequest) <-chan joinOutcome {
	h.t.Helper()
	ch, err := h.c.joinAsync(req)
	if err != nil {
		h.t.Fatalf("join %+v: %v", req, err)
	}
	return ch
}

// joinNew runs the KIP-394 handshake for a new dynamic member and returns
// its parked join.
func (h *harness) joinNew(groupID, clientID string, ps ...Protocol) (string, <-chan joinOutcome) {
	h.t.Helper()
	req := joinReq(groupID, "", clientID, ps...)
	req.RequireKnownMemberID = true
	o := recv(h.t, h.join(req))
	if !errors.Is(o.err, ErrMemberIDRequired) || o.res.MemberID == "" {
		h.t.Fatalf("first join: %+v %v, want MEMBER_ID_REQUIRED with an id", o.res, o.err)
	}
	req.MemberID = o.res.MemberID
	return o.res.MemberID, h.join(req)
}

func (h *harness) sync(req SyncRequest) <-chan syncOutcome {
	h.t.Helper()
	ch, err := h.c.syncAsync(req)
	if err != nil {
		h.t.Fatalf("sync %+v: %v", req, err)
	}
	return ch
}

// stableGroup forms a group of n members with a completed sync, returning
// the member ids (leader first) and the generation.
func (h *harness) stableGroup(groupID string, n int) ([]string, int32) {
	h.t.Helper()
	// The first member's join completes alone (no initial delay). Each
	// later member starts a rebalance; once the first rejoins, everyone
	// has joined and the round completes.
	id0, ch0 := h.joinNew(groupID, "client0")
	recv(h.t, ch0)
	ids := []string{id0}
	var chans []<-chan joinOutcome
	for i := 1; i < n; i++ {
		id, ch := h.joinNew(groupID, fmt.Sprintf("client%d", i))
		ids, chans = append(ids, id), append(chans, ch)
	}
	if n > 1 {
		chans = append(chans, h.join(joinReq(groupID, id0, "client0")))
		for _, ch := range chans {
			if o := recv(h.t, ch); o.err != nil {
				h.t.Fatalf("join: %v", o.err)
			}
		}
	}
	d, _ := h.c.DescribeGroup(groupID)
	if d.State != "CompletingRebalance" {
		h.t.Fatalf("state after joins = %s", d.State)
	}
	gen := h.generation(groupID)
	assign := make(map[string][]byte)
	for _, id := range ids {
		assign[id] = []byte("assignment-of-" + id)
	}
	var syncs []<-chan syncOutcome
	leader := h.leader(groupID)
	for _, id := range ids {
		if id == leader {
			continue
		}
		syncs = append(syncs, h.sync(SyncRequest{Group: groupID, MemberID: id, Generation: gen}))
	}
	syncs = append(syncs, h.sync(SyncRequest{Group: groupID, MemberID: leader, Generation: gen, Assignments: assign}))
	for _, ch := range syncs {
		if o := recv(h.t, ch); o.err != nil {
			h.t.Fatalf("sync: %v", o.err)
		}
	}
	// Leader first.
	for i, id := range ids {
		if id == leader {
			ids[0], ids[i] = ids[i], ids[0]
		}
	}
	return ids, gen
}

func (h *harness) generation(groupID string) int32 {
	s, err := h.c.shardFor(groupID)
	if err != nil {
		h.t.Fatal(err)
	}
	defer s.mu.Unlock()
	return s.groups[groupID].generation
}

func (h *harness) leader(groupID string) string {
	s, err := h.c.shardFor(groupID)
	if err != nil {
		h.t.Fatal(err)
	}
	defer s.mu.Unlock()
	return s.groups[groupID].leader
}

func (h *harness) state(groupID string) string {
	h.t.Helper()
	d, err := h.c.DescribeGroup(groupID)
	if err != nil {
		h.t.Fatal(err)
	}
	return d.State
}

// recv waits for a parked request's answer. Answers are produced
// synchronously by the calls that complete a round, so in these tests they
// are normally there already; the timeout only turns a bug into a failure
// instead of a hang.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
	panic("unreachable")
}

// parked asserts that a request has not been answered yet.
func parked[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("answered early: %+v", v)
	default:
	}
}
