package replication

import (
	"bytes"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/storage"
)

const self int32 = 1

var topicA = [16]byte{0xa}

// harness runs a Manager for node 1 over fake replicas and fake leaders.
type harness struct {
	t      *testing.T
	ch     *changes
	dialer *fakeDialer
	m      *Manager

	mu     sync.Mutex
	locals []local
}

func newHarness(t *testing.T, tweak func(*Config)) *harness {
	h := &harness{t: t, ch: newChanges()}
	h.dialer = newFakeDialer(h.ch)
	cfg := Config{
		NodeID: self, Dialer: h.dialer,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		FetchWait: 100 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		ErrorBackoff: 20 * time.Millisecond, ISRCheckInterval: time.Hour,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	h.m = newManager(cfg, func() []local {
		h.mu.Lock()
		defer h.mu.Unlock()
		return slices.Clone(h.locals)
	})
	t.Cleanup(h.m.Close)
	return h
}

func (h *harness) leader(node int32) *fakeLeader {
	l := newFakeLeader(h.t, h.ch)
	h.dialer.set(node, l.addr)
	return l
}

func (h *harness) replica(topic string, partition int32, id [16]byte) *fakeReplica {
	r := newFakeReplica(h.ch, topic, partition, id)
	h.mu.Lock()
	h.locals = append(h.locals, r)
	h.mu.Unlock()
	return r
}

func (h *harness) removeReplica(r *fakeReplica) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.locals = slices.DeleteFunc(h.locals, func(l local) bool { return l == local(r) })
}

// reconcile applies an image made of topics.
func (h *harness) reconcile(topics ...*controller.Topic) {
	byName := map[string]*controller.Topic{}
	for _, t := range topics {
		byName[t.Name] = t
	}
	h.m.reconcile(func(name string) *controller.Topic { return byName[name] })
}

// topic builds an image topic whose partitions have the given leaders
// and epochs, replicated on nodes 1..3.
func topic(name string, id [16]byte, leaders []int32, epochs []int32) *controller.Topic {
	t := &controller.Topic{Name: name, ID: id}
	for i := range leaders {
		t.Partitions = append(t.Partitions, controller.Partition{Index: int32(i), Leader: leaders[i],
			LeaderEpoch: epochs[i], PartitionEpoch: epochs[i], Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}})
	}
	return t
}

// caughtUp waits until the follower holds exactly the leader's log.
func (h *harness) caughtUp(r *fakeReplica, lg *fakeLog) {
	h.t.Helper()
	waitFor(h.t, h.ch, "follower to catch up", func() bool {
		return bytes.Equal(r.content(), lg.content()) && r.HighWatermark() == lg.LogEndOffset()
	})
}

func TestFollowerAppendsInOrderAndFollowsNewData(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.PartitionMaxBytes = 200 }) // several rounds
	l := h.leader(2)
	lg := l.addPartition("a", topicA, 0, 3)
	off := int64(0)
	for e := range int32(4) {
		for range 3 {
			l.appendTo(lg, batch(off, 2, e))
			off += 2
		}
	}
	r := h.replica("a", 0, topicA)
	h.reconcile(topic("a", topicA, []int32{2}, []int32{3}))
	h.caughtUp(r, lg)

	// New data arriving later is followed too.
	l.appendTo(lg, batch(off, 1, 3))
	h.caughtUp(r, lg)

	fetches := l.fetchRequests()
	if len(fetches) < 3 {
		t.Fatalf("expected several fetch rounds, got %d", len(fetches))
	}
	prev := int64(-1)
	for _, f := range fetches {
		if f.Version != 13 || f.ReplicaID != self || f.MinBytes != 1 || len(f.Topics) != 1 || f.Topics[0].TopicID != topicA {
			t.Fatalf("bad fetch request: %+v", f)
		}
		p := f.Topics[0].Partitions[0]
		if p.CurrentLeaderEpoch != 3 || p.PartitionMaxBytes != 200 {
			t.Fatalf("bad fetch partition: %+v", p)
		}
		if p.FetchOffset < prev {
			t.Fatalf("fetch offset went back from %d to %d", prev, p.FetchOffset)
		}
		prev = p.FetchOffset
	}
	// The truncation step ran first, at the follower's (empty) state.
	if got := l.epochRequests(); len(got) != 0 {
		t.Fatalf("an empty follower has no epoch to ask about, yet sent %d OffsetForLeaderEpoch", len(got))
	}
	if tr, _, _, _ := r.snapshot(); len(tr) != 0 {
		t.Fatalf("unexpected truncations %v", tr)
	}
}

func TestFlushBeforeNextFetchReportsOffset(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.PartitionMaxBytes = 100 })
	l := h.leader(2)
	lg := l.addPartition("a", topicA, 0, 0)
	for i := range int64(20) {
		l.appendTo(lg, batch(i, 1, 0))
	}
	r := h.replica("a", 0, topicA)
	var mu sync.Mutex
	var violations []string
	l.onFetch = func(req *kmsg.FetchRequest) {
		p := req.Topics[0].Partitions[0]
		if flushed := r.flushedOffset(); p.FetchOffset > flushed {
			mu.Lock()
			violations = append(violations, "fetch offset above durable offset")
			mu.Unlock()
		}
	}
	h.reconcile(topic("a", topicA, []int32{2}, []int32{0}))
	h.caughtUp(r, lg)
	mu.Lock()
	defer mu.Unlock()
	if len(violations) > 0 {
		t.Fatalf("%d fetches reported unflushed data: %v", len(violations), violations[0])
	}
	r.fmu.Lock()
	flushes := r.flushes
	r.fmu.Unlock()
	if flushes < 2 {
		t.Fatalf("expected a flush per round with data, got %d", flushes)
	}
	if fetched := l.fetchRequests(); fetched[len(fetched)-1].Topics[0].Partitions[0].FetchOffset > r.flushedOffset() {
		t.Fatal("last fetch offset above flushed offset")
	}
}

// follower builds a replica whose log holds the given (epoch, count)
// runs of one-record batches.
func (h *harness) follower(runs ...[2]int) *fakeReplica {
	r := h.replica("a", 0, topicA)
	off := int64(0)
	for _, run := range runs {
		for range run[1] {
			if _, err := r.appendData(batch(off, 1, int32(run[0]))); err != nil {
				h.t.Fatal(err)
			}
			off++
		}
	}
	r.flushed, r.hwm = off, 0
	return r
}

func (l *fakeLeader) fill(lg *fakeLog, runs ...[2]int) {
	off := lg.LogEndOffset()
	for _, run := range runs {
		for range run[1] {
			l.appendTo(lg, batch(off, 1, int32(run[0])))
			off++
		}
	}
}

func TestTruncationKIP279(t *testing.T) {
	cases := []struct {
		name        string
		follower    [][2]int // (epoch, records)
		leader      [][2]int
		leaderEpoch int32
		truncations []int64
		askedEpochs []int32
	}{
		{
			// Follower wrote epoch 1 the leader never saw: the leader's
			// epoch 0 ends at 5, so everything from 5 goes.
			name:     "unknown epoch on leader",
			follower: [][2]int{{0, 5}, {1, 5}}, leader: [][2]int{{0, 5}, {2, 4}}, leaderEpoch: 2,
			truncations: []int64{5}, askedEpochs: []int32{1},
		},
		{
			// Both know epoch 1, the leader's ends at 7, the follower's at
			// 10: min(7, 10).
			name:     "shorter leader epoch",
			follower: [][2]int{{0, 5}, {1, 5}}, leader: [][2]int{{0, 5}, {1, 2}, {2, 3}}, leaderEpoch: 2,
			truncations: []int64{7}, askedEpochs: []int32{1},
		},
		{
			// The leader's answer (epoch 1) is unknown to the follower:
			// truncate to the end of its epoch below (0, at 5), ask about
			// epoch 0, and agree there.
			name:     "intermediate step",
			follower: [][2]int{{0, 5}, {2, 5}}, leader: [][2]int{{0, 5}, {1, 3}, {3, 2}}, leaderEpoch: 3,
			truncations: []int64{5}, askedEpochs: []int32{2, 0},
		},
		{
			// The follower's epoch 1 ended (at 7) before the leader's (at
			// 9): min(9, 7) keeps nothing of the follower's epoch 2.
			name:     "shorter follower epoch",
			follower: [][2]int{{0, 5}, {1, 2}, {2, 3}}, leader: [][2]int{{0, 5}, {1, 4}, {3, 2}}, leaderEpoch: 3,
			truncations: []int64{7}, askedEpochs: []int32{2},
		},
		{
			// A follower that is a prefix of the leader truncates nothing.
			name:     "prefix",
			follower: [][2]int{{0, 3}}, leader: [][2]int{{0, 5}, {1, 2}}, leaderEpoch: 1,
			askedEpochs: []int32{0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			l := h.leader(2)
			lg := l.addPartition("a", topicA, 0, tc.leaderEpoch)
			l.fill(lg, tc.leader...)
			r := h.follower(tc.follower...)
			h.reconcile(topic("a", topicA, []int32{2}, []int32{tc.leaderEpoch}))
			h.caughtUp(r, lg)
			tr, _, _, _ := r.snapshot()
			if !slices.Equal(tr, tc.truncations) {
				t.Errorf("truncations %v, want %v", tr, tc.truncations)
			}
			var asked []int32
			for _, req := range l.epochRequests() {
				if req.Version != 4 || req.ReplicaID != self {
					t.Errorf("bad OffsetForLeaderEpoch request %+v", req)
				}
				p := req.Topics[0].Partitions[0]
				if p.CurrentLeaderEpoch != tc.leaderEpoch {
					t.Errorf("current leader epoch %d, want %d", p.CurrentLeaderEpoch, tc.leaderEpoch)
				}
				asked = append(asked, p.LeaderEpoch)
			}
			if !slices.Equal(asked, tc.askedEpochs) {
				t.Errorf("asked about epochs %v, want %v", asked, tc.askedEpochs)
			}
		})
	}
}

func TestDivergingEpochInFetchTruncates(t *testing.T) {
	h := newHarness(t, nil)
	l := h.leader(2)
	lg := l.addPartition("a", topicA, 0, 2)
	l.fill(lg, [2]int{0, 5}, [2]int{2, 3})
	r := h.follower([2]int{0, 5}, [2]int{1, 4})
	// Make OffsetForLeaderEpoch useless (it echoes the follower's own
	// end), so only the fetch response's DivergingEpoch can fix the log.
	l.epochHook = func(_ *kmsg.OffsetForLeaderEpochRequest, resp *kmsg.OffsetForLeaderEpochResponse) {
		p := &resp.Topics[0].Partitions[0]
		p.LeaderEpoch, p.EndOffset = 1, 9
	}
	h.reconcile(topic("a", topicA, []int32{2}, []int32{2}))
	h.caughtUp(r, lg)
	tr, _, _, _ := r.snapshot()
	if !slices.Equal(tr, []int64{5}) {
		t.Fatalf("truncations %v, want [5]", tr)
	}
	var sawLastFetched bool
	for _, f := range l.fetchRequests() {
		if p := f.Topics[0].Partitions[0]; p.LastFetchedEpoch == 1 && p.FetchOffset == 9 {
			sawLastFetched = true
		}
	}
	if !sawLastFetched {
		t.Fatal("no fetch carried LastFetchedEpoch 1 at offset 9")
	}
}

func TestOutOfRangeRestartsAtLeaderLogStart(t *testing.T) {
	for _, tc := range []struct {
		name                          string
		viaListOffsets, cannotRestart bool
	}{
		{name: "log start in fetch response"},
		{name: "log start from ListOffsets", viaListOffsets: true},
		{name: "replica cannot restart its log", cannotRestart: true},
	} {
		viaListOffsets := tc.viaListOffsets
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			l := h.leader(2)
			lg := l.addPartition("a", topicA, 0, 3)
			lg.restartAt(100)
			l.fill(lg, [2]int{3, 5})
			if viaListOffsets {
				l.fetchHook = func(_ *kmsg.FetchRequest, resp *kmsg.FetchResponse) {
					for i := range resp.Topics[0].Partitions {
						if p := &resp.Topics[0].Partitions[i]; p.ErrorCode == kerr.OffsetOutOfRange.Code {
							p.LogStartOffset = -1
						}
					}
				}
			}
			r := h.follower([2]int{3, 4})
			r.noFullRestart = tc.cannotRestart
			h.reconcile(topic("a", topicA, []int32{2}, []int32{3}))
			h.caughtUp(r, lg)
			truncations, restarts, _, _ := r.snapshot()
			if tc.cannotRestart {
				// Emptied instead, and fetched from 100 over the gap.
				if !slices.Equal(truncations, []int64{0}) || len(restarts) != 0 {
					t.Fatalf("truncations %v restarts %v, want [0] and none", truncations, restarts)
				}
				return
			}
			if !slices.Equal(restarts, []int64{100}) {
				t.Fatalf("restarts %v, want [100]", restarts)
			}
			if r.LogStartOffset() != 100 {
				t.Fatalf("log start %d, want 100", r.LogStartOffset())
			}
			if got := l.listRequests() > 0; got != viaListOffsets {
				t.Fatalf("ListOffsets used: %v, want %v", got, viaListOffsets)
			}
		})
	}
}

func TestReconnectsAfterLeaderDropsConnection(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.PartitionMaxBytes = 100 })
	l := h.leader(2)
	lg := l.addPartition("a", topicA, 0, 0)
	l.fill(lg, [2]int{0, 3})
	r := h.replica("a", 0, topicA)
	h.reconcile(topic("a", topicA, []int32{2}, []int32{0}))
	h.caughtUp(r, lg)

	for i := range 3 {
		l.dropConnections()
		l.fill(lg, [2]int{0, 2})
		h.caughtUp(r, lg)
		if d := h.dialer.count(2); d < i+2 {
			t.Fatalf("after drop %d: %d dials, want >= %d", i+1, d, i+2)
		}
	}
}

func TestLeaderUnreachableBacksOffAndRecovers(t *testing.T) {
	h := newHarness(t, nil)
	r := h.replica("a", 0, topicA)
	h.reconcile(topic("a", topicA, []int32{2}, []int32{0})) // node 2 has no address yet
	waitFor(t, h.ch, "dial attempts", func() bool { return h.dialer.count(2) >= 3 })
	l := h.leader(2)
	lg := l.addPartition("a", topicA, 0, 0)
	l.fill(lg, [2]int{0, 3})
	h.caughtUp(r, lg)
}

func TestPartitionErrorWaitsForNewMetadata(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ErrorBackoff = time.Hour })
	l := h.leader(2)
	lg := l.addPartition("a", topicA, 0, 5) // the leader is at epoch 5
	l.fill(lg, [2]int{5, 3})
	r := h.replica("a", 0, topicA)
	h.reconcile(topic("a", topicA, []int32{2}, []int32{4})) // we know only epoch 4: fenced
	waitFor(t, h.ch, "fenced fetch", func() bool { return len(l.fetchRequests()) >= 1 })
	if n := len(l.fetchRequests()); n != 1 {
		t.Fatalf("%d fetches after FENCED_LEADER_EPOCH, want 1 until metadata changes", n)
	}
	if r.LogEndOffset() != 0 {
		t.Fatal("fenced fetch appended data")
	}
	h.reconcile(topic("a", topicA, []int32{2}, []int32{5}))
	h.caughtUp(r, lg)
}

func TestLeaderEpochChangeTruncatesAgain(t *testing.T) {
	h := newHarness(t, nil)
	l := h.leader(2)
	lg := l.addPartition("a", topicA, 0, 1)
	l.fill(lg, [2]int{1, 3})
	r := h.follower([2]int{1, 1})
	h.reconcile(topic("a", topicA, []int32{2}, []int32{1}))
	h.caughtUp(r, lg)
	if n := len(l.epochRequests()); n != 1 {
		t.Fatalf("%d OffsetForLeaderEpoch requests, want 1", n)
	}
	// Same leader, same epoch: nothing new happens.
	h.reconcile(topic("a", topicA, []int32{2}, []int32{1}))
	// Same leader, new epoch: truncate again at the new epoch.
	l.setEpoch("a", 0, 2)
	h.reconcile(topic("a", topicA, []int32{2}, []int32{2}))
	waitFor(t, h.ch, "second OffsetForLeaderEpoch", func() bool { return len(l.epochRequests()) == 2 })
	if p := l.epochRequests()[1].Topics[0].Partitions[0]; p.CurrentLeaderEpoch != 2 {
		t.Fatalf("second truncation sent current epoch %d, want 2", p.CurrentLeaderEpoch)
	}
	l.fill(lg, [2]int{2, 2})
	h.caughtUp(r, lg)
}

func TestAppendFailureHoldsPartitionBack(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ErrorBackoff = time.Hour })
	l := h.leader(2)
	lg := l.addPartition("a", topicA, 0, 0)
	l.fill(lg, [2]int{0, 3})
	r := h.replica("a", 0, topicA)
	r.appendErr = storage.ErrDiskFull
	h.reconcile(topic("a", topicA, []int32{2}, []int32{0}))
	waitFor(t, h.ch, "append attempt", func() bool {
		r.fmu.Lock()
		defer r.fmu.Unlock()
		return r.appendCalls >= 1
	})
	if n := len(l.fetchRequests()); n != 1 {
		t.Fatalf("%d fetches after a failed append, want 1 (held back)", n)
	}
	if r.HighWatermark() != 0 || r.flushedOffset() != 0 {
		t.Fatal("failed append moved the high watermark or flushed offset")
	}
}

func TestFailedTruncationIsRetriedBeforeFetching(t *testing.T) {
	h := newHarness(t, nil)
	l := h.leader(2)
	lg := l.addPartition("a", topicA, 0, 2)
	l.fill(lg, [2]int{0, 5}, [2]int{2, 3})
	r := h.follower([2]int{0, 5}, [2]int{1, 4})
	r.truncateErrs = 2
	var mu sync.Mutex
	var early []int64
	l.onFetch = func(req *kmsg.FetchRequest) {
		if p := req.Topics[0].Partitions[0]; p.FetchOffset > 5 {
			mu.Lock()
			early = append(early, p.FetchOffset)
			mu.Unlock()
		}
	}
	h.reconcile(topic("a", topicA, []int32{2}, []int32{2}))
	h.caughtUp(r, lg)
	mu.Lock()
	defer mu.Unlock()
	if len(early) > 0 {
		t.Fatalf("fetched at %v before the divergent tail was truncated", early[0])
	}
	if n := len(l.epochRequests()); n != 3 {
		t.Fatalf("%d OffsetForLeaderEpoch requests, want 3 (two failed truncations)", n)
	}
}
