package group_test

// End-to-end tests: franz-go group consumers against a real broker. The
// broker runs the coordinator with its defaults (a 3 s initial rebalance
// delay, sessions of at least 6 s), so each test takes seconds; they run
// in parallel.

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMembersComeAndGo runs a group through its life with each kind of
// balancer: members join one by one, one leaves cleanly, one dies without
// leaving. After every rebalance each partition has exactly one owner.
func TestMembersComeAndGo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"roundrobin", kgo.RoundRobinBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const partitions = 6
			tb := startBroker(t, t.TempDir())
			tb.createTopic("events", partitions)
			tr := newTracker()
			mo := memberOpts{balancer: tc.balancer}
			settled := func(what string, live ...string) {
				t.Helper()
				tr.waitFor(t, what, func() bool { return tr.balanced(live, partitions) })
				state, ids := tb.describe(t, "g")
				if want := slices.Sorted(slices.Values(live)); state != "Stable" || !slices.Equal(ids, want) {
					t.Fatalf("%s: group is %s with %v, want Stable with %v", what, state, ids, want)
				}
			}

			tb.startMember(t, tr, "a", "g", "events", mo)
			settled("a alone", "a")
			b := tb.startMember(t, tr, "b", "g", "events", mo)
			settled("b joined", "a", "b")
			c := tb.startMember(t, tr, "c", "g", "events", mo)
			settled("c joined", "a", "b", "c")

			b.leave(t, false)
			tr.forget("b")
			settled("b left", "a", "c")

			c.kill()
			tr.forget("c")
			settled("c's session expired", "a")
		})
	}
}

// TestGroupsAreIndependent: several groups on one topic each receive
// every record.
func TestGroupsAreIndependent(t *testing.T) {
	t.Parallel()
	tb := startBroker(t, t.TempDir())
	tb.createTopic("orders", 3)
	values := tb.produce("orders", "order", 300)

	trackers := map[string]*tracker{"billing": newTracker(), "shipping": newTracker()}
	tb.startMember(t, trackers["billing"], "billing-1", "billing", "orders", memberOpts{})
	tb.startMember(t, trackers["billing"], "billing-2", "billing", "orders", memberOpts{})
	tb.startMember(t, trackers["shipping"], "shipping-1", "shipping", "orders", memberOpts{})
	for name, tr := range trackers {
		tr.waitFor(t, name+" consumed everything", func() bool { return len(tr.processed) >= len(values) })
		tr.mu.Lock()
		got := slices.Sorted(slices.Values(tr.processed))
		tr.mu.Unlock()
		if !slices.Equal(got, slices.Sorted(slices.Values(values))) {
			t.Errorf("group %s got %d records, not exactly the %d produced", name, len(got), len(values))
		}
	}
}

// TestCommitsSurviveRestart: committed offsets are
// durable; after a broker restart a consumer of the group resumes exactly
// there.
func TestCommitsSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tb := startBroker(t, dir)
	tb.createTopic("jobs", 2)
	values := tb.produce("jobs", "job", 100) // round robin: 50 per partition

	tr := newTracker()
	m := tb.startMember(t, tr, "worker", "workers", "jobs", memberOpts{manualCommit: true})
	tr.waitFor(t, "everything consumed", func() bool { return len(tr.processed) == len(values) })
	m.cancel()
	<-m.done
	// Commit positions of our own choosing, as a member of the group.
	commit := map[string]map[int32]kgo.EpochOffset{"jobs": {0: {Epoch: -1, Offset: 30}, 1: {Epoch: -1, Offset: 20}}}
	var commitErr error
	m.cl.CommitOffsetsSync(testCtx(t), commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		commitErr = err
		if err != nil {
			return
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil && commitErr == nil {
					commitErr = err
				}
			}
		}
	})
	if commitErr != nil {
		t.Fatalf("commit: %v", commitErr)
	}
	m.cl.Close()

	if err := tb.b.Close(); err != nil {
		t.Fatal(err)
	}
	tb = startBroker(t, dir)

	cl := tb.client()
	defer cl.Close()
	adm := kadm.NewClient(cl)
	offsets, err := adm.FetchOffsets(testCtx(t), "workers")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]int64{0: 30, 1: 20} {
		if o, ok := offsets.Lookup("jobs", p); !ok || o.Err != nil || o.At != want {
			t.Errorf("partition %d after restart: %+v (found %v), want offset %d", p, o, ok, want)
		}
	}
	groups, err := adm.ListGroups(testCtx(t))
	if err != nil || !slices.Contains(groups.Groups(), "workers") {
		t.Fatalf("groups after restart: %v %v", groups.Groups(), err)
	}

	tr2 := newTracker()
	tb.startMember(t, tr2, "worker-2", "workers", "jobs", memberOpts{})
	want := len(values) - 30 - 20
	tr2.waitFor(t, "the rest consumed", func() bool { return len(tr2.processed) >= want })
	tr2.mu.Lock()
	got := len(tr2.processed)
	tr2.mu.Unlock()
	if got != want {
		t.Fatalf("resumed consumer got %d records, want the %d after the committed offsets", got, want)
	}
}

// TestNoLossNoDuplicatesAcrossCleanRebalances: members that commit what
// they processed before giving partitions away neither lose nor repeat a
// record while the group rebalances around them.
func TestNoLossNoDuplicatesAcrossCleanRebalances(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"eager", kgo.RangeBalancer()},
		{"cooperative", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := startBroker(t, t.TempDir())
			tb.createTopic("ledger", 4)
			tr := newTracker()
			mo := memberOpts{balancer: tc.balancer, commitOnRevoke: true}
			var all []string
			consumedAll := func(what string) {
				t.Helper()
				tr.waitFor(t, what, func() bool { return len(tr.processed) >= len(all) })
			}

			tb.startMember(t, tr, "a", "g", "ledger", mo)
			all = append(all, tb.produce("ledger", "one", 200)...)
			consumedAll("a consumed the first batch")

			// b joins while records keep coming.
			b := tb.startMember(t, tr, "b", "g", "ledger", mo)
			for i := range 10 {
				all = append(all, tb.produce("ledger", "two-"+string(rune('a'+i)), 20)...)
			}
			tr.waitFor(t, "a and b share the partitions", func() bool { return tr.balanced([]string{"a", "b"}, 4) })
			all = append(all, tb.produce("ledger", "three", 200)...)
			consumedAll("a and b consumed the second batch")

			// b leaves cleanly while records keep coming.
			b.leave(t, true)
			tr.forget("b")
			for i := range 10 {
				all = append(all, tb.produce("ledger", "four-"+string(rune('a'+i)), 20)...)
			}
			tr.waitFor(t, "a owns everything again", func() bool { return tr.balanced([]string{"a"}, 4) })
			consumedAll("a consumed the rest")

			tr.mu.Lock()
			got := slices.Clone(tr.processed)
			tr.mu.Unlock()
			slices.Sort(got)
			if dup := firstDuplicate(got); dup != "" {
				t.Fatalf("record %s was processed twice (%d processed, %d produced)", dup, len(got), len(all))
			}
			if !slices.Equal(got, slices.Sorted(slices.Values(all))) {
				t.Fatalf("processed %d records, produced %d", len(got), len(all))
			}
		})
	}
}

func firstDuplicate(sorted []string) string {
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return sorted[i]
		}
	}
	return ""
}
