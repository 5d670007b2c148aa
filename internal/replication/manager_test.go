package replication

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/spool-mq/spool/internal/storage"
)

var topicB = [16]byte{0xb}

func tps(topic string, parts ...int32) []storage.TopicPartition {
	var out []storage.TopicPartition
	for _, p := range parts {
		out = append(out, storage.TopicPartition{Topic: topic, Partition: p})
	}
	return out
}

func equalFollowing(got map[int32][]storage.TopicPartition, want map[int32][]storage.TopicPartition) bool {
	return maps.EqualFunc(got, want, slices.Equal)
}

func TestReconcileStartsAndStopsFetchersPerLeader(t *testing.T) {
	h := newHarness(t, nil)
	l2, l3 := h.leader(2), h.leader(3)
	lg0 := l2.addPartition("a", topicA, 0, 1)
	lg1 := l3.addPartition("a", topicA, 1, 1)
	lg3 := l2.addPartition("a", topicA, 3, 1)
	for _, x := range []struct {
		l  *fakeLeader
		lg *fakeLog
	}{{l2, lg0}, {l3, lg1}, {l2, lg3}} {
		x.l.fill(x.lg, [2]int{1, 2})
	}
	r0, r1 := h.replica("a", 0, topicA), h.replica("a", 1, topicA)
	r2, r3 := h.replica("a", 2, topicA), h.replica("a", 3, topicA)

	img := topic("a", topicA, []int32{2, 3, self, 2}, []int32{1, 1, 1, 1})
	h.reconcile(img)
	want := map[int32][]storage.TopicPartition{2: tps("a", 0, 3), 3: tps("a", 1)}
	if got := h.m.following(); !equalFollowing(got, want) {
		t.Fatalf("following %v, want %v", got, want)
	}
	h.caughtUp(r0, lg0)
	h.caughtUp(r1, lg1)
	h.caughtUp(r3, lg3)
	for i, r := range []*fakeReplica{r0, r1, r2, r3} {
		_, _, applied, _ := r.snapshot()
		if len(applied) != 1 || applied[0].Leader != img.Partitions[i].Leader ||
			applied[0].LeaderEpoch != 1 || !slices.Equal(applied[0].Replicas, []int32{1, 2, 3}) {
			t.Fatalf("partition %d: applied %+v", i, applied)
		}
	}
	if r2.LogEndOffset() != 0 {
		t.Fatal("a partition led here was fetched")
	}

	// p0 moves to this node, p1 goes offline, p3 stays: only node 2's
	// fetcher remains, following p3 alone.
	img = topic("a", topicA, []int32{self, -1, self, 2}, []int32{2, 2, 1, 1})
	h.reconcile(img)
	want = map[int32][]storage.TopicPartition{2: tps("a", 3)}
	if got := h.m.following(); !equalFollowing(got, want) {
		t.Fatalf("following %v, want %v", got, want)
	}
	// Once Reconcile returns, nothing fetches for p0 or p1 any more.
	end0, end1 := r0.LogEndOffset(), r1.LogEndOffset()
	l2.fill(lg0, [2]int{1, 2})
	l3.fill(lg1, [2]int{1, 2})
	l2.fill(lg3, [2]int{1, 2})
	h.caughtUp(r3, lg3)
	if r0.LogEndOffset() != end0 || r1.LogEndOffset() != end1 {
		t.Fatal("a partition kept being fetched after it stopped being followed")
	}

	// The replica of p3 is removed from this node: no fetchers at all.
	h.removeReplica(r3)
	h.reconcile(topic("a", topicA, []int32{self, -1, self}, []int32{2, 2, 1}))
	if got := h.m.following(); len(got) != 0 {
		t.Fatalf("following %v, want nothing", got)
	}
	if n := h.m.running.Load(); n != 0 {
		t.Fatalf("%d fetcher goroutines still running", n)
	}

	// p0 is led by 3 now: a fetcher for node 3 starts again.
	l3.addPartition("a", topicA, 0, 3)
	h.reconcile(topic("a", topicA, []int32{3, -1, self}, []int32{3, 2, 1}))
	want = map[int32][]storage.TopicPartition{3: tps("a", 0)}
	if got := h.m.following(); !equalFollowing(got, want) {
		t.Fatalf("following %v, want %v", got, want)
	}
}

func TestReconcileSkipsOtherTopicsAndRecreatedTopics(t *testing.T) {
	h := newHarness(t, nil)
	l2 := h.leader(2)
	l2.addPartition("b", topicB, 0, 0)
	ra := h.replica("a", 0, topicA)
	rb := h.replica("b", 0, topicB)
	// Topic a was deleted and recreated under the same name with a new id:
	// the old replica's metadata must not be applied.
	h.reconcile(topic("a", [16]byte{0xee}, []int32{2}, []int32{0}), topic("b", topicB, []int32{2}, []int32{0}))
	if _, _, applied, _ := ra.snapshot(); len(applied) != 0 {
		t.Fatalf("stale replica got metadata %+v", applied)
	}
	if _, _, applied, _ := rb.snapshot(); len(applied) != 1 {
		t.Fatalf("replica of b got %d metadata updates, want 1", len(applied))
	}
	want := map[int32][]storage.TopicPartition{2: tps("b", 0)}
	if got := h.m.following(); !equalFollowing(got, want) {
		t.Fatalf("following %v, want %v", got, want)
	}
}

func TestReconcileIgnoresPartitionsNotReplicatedHere(t *testing.T) {
	h := newHarness(t, nil)
	h.leader(2)
	r := h.replica("a", 0, topicA)
	tp := topic("a", topicA, []int32{2}, []int32{0})
	tp.Partitions[0].Replicas = []int32{2, 3} // being moved off this node
	h.reconcile(tp)
	if got := h.m.following(); len(got) != 0 {
		t.Fatalf("following %v, want nothing", got)
	}
	if _, _, applied, _ := r.snapshot(); len(applied) != 1 {
		t.Fatal("metadata not applied to a replica that is no longer assigned here")
	}
}

func TestISRCheckRunsPeriodically(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ISRCheckInterval = time.Millisecond })
	r0, r1 := h.replica("a", 0, topicA), h.replica("a", 1, topicA)
	waitFor(t, h.ch, "ISR checks", func() bool {
		_, _, _, s0 := r0.snapshot()
		_, _, _, s1 := r1.snapshot()
		return s0 >= 3 && s1 >= 3
	})
	h.m.Close()
	_, _, _, before := r0.snapshot()
	h.reconcile(topic("a", topicA, []int32{2, 2}, []int32{0, 0})) // no-op after Close
	if _, _, applied, _ := r0.snapshot(); len(applied) != 0 {
		t.Fatal("Reconcile after Close applied metadata")
	}
	// Close waited for the ISR loop: no check runs after it returned.
	if _, _, _, after := r0.snapshot(); after != before {
		t.Fatalf("ISR check ran after Close (%d -> %d)", before, after)
	}
}

func TestCloseStopsFetchers(t *testing.T) {
	h := newHarness(t, nil)
	l := h.leader(2)
	lg := l.addPartition("a", topicA, 0, 0)
	l.fill(lg, [2]int{0, 2})
	r := h.replica("a", 0, topicA)
	h.reconcile(topic("a", topicA, []int32{2}, []int32{0}))
	h.caughtUp(r, lg) // a long poll is now parked on the leader
	h.m.Close()
	if n := h.m.running.Load(); n != 0 {
		t.Fatalf("%d fetcher goroutines after Close", n)
	}
	if got := h.m.following(); len(got) != 0 {
		t.Fatalf("following %v after Close", got)
	}
}
