package group

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func commit(groupID string, gen int32, member string, offsets ...OffsetCommit) CommitRequest {
	return CommitRequest{Group: groupID, Generation: gen, MemberID: member, Offsets: offsets}
}

func oc(topic string, p int32, off int64) OffsetCommit {
	return OffsetCommit{TopicPartition: TopicPartition{topic, p}, Offset: off, LeaderEpoch: -1}
}

func (h *harness) mustCommit(req CommitRequest) {
	h.t.Helper()
	errs, err := h.c.CommitOffsets(h.t.Context(), req)
	if err != nil {
		h.t.Fatalf("commit: %v", err)
	}
	for _, e := range errs {
		if e != nil {
			h.t.Fatalf("commit: %v", errs)
		}
	}
}

func (h *harness) offsets(groupID string, want ...TopicPartition) map[TopicPartition]int64 {
	h.t.Helper()
	got, err := h.c.FetchOffsets(groupID, want)
	if err != nil {
		h.t.Fatal(err)
	}
	out := make(map[TopicPartition]int64)
	for _, o := range got {
		out[o.TopicPartition] = o.Offset
	}
	return out
}

func TestSimpleCommitAndFetch(t *testing.T) {
	h := newHarness(t, nil)
	// Generation -1 commits create a group that only stores offsets.
	h.mustCommit(CommitRequest{Group: "simple", Generation: -1, Offsets: []OffsetCommit{
		{TopicPartition: TopicPartition{"t", 0}, Offset: 10, LeaderEpoch: 3, Metadata: "m"},
		oc("t", 1, 20),
	}})
	got, err := h.c.FetchOffsets("simple", []TopicPartition{{"t", 1}, {"t", 0}, {"t", 9}})
	if err != nil {
		t.Fatal(err)
	}
	want := []CommittedOffset{
		{TopicPartition{"t", 1}, 20, -1, ""},
		{TopicPartition{"t", 0}, 10, 3, "m"},
		{TopicPartition{"t", 9}, -1, -1, ""},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("offset %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	all, _ := h.c.FetchOffsets("simple", nil)
	if len(all) != 2 || all[0].Partition != 0 || all[1].Partition != 1 {
		t.Fatalf("all offsets = %+v", all)
	}
	if none, _ := h.c.FetchOffsets("nobody", nil); len(none) != 0 {
		t.Fatalf("unknown group = %+v", none)
	}
	if d, _ := h.c.DescribeGroup("simple"); d.State != "Empty" || d.ProtocolType != "" {
		t.Fatalf("simple group = %+v", d)
	}
	// A later commit replaces the offset.
	h.mustCommit(commit("simple", -1, "", oc("t", 0, 11)))
	if got := h.offsets("simple", TopicPartition{"t", 0}); got[TopicPartition{"t", 0}] != 11 {
		t.Fatalf("after recommit: %v", got)
	}
}

func TestCommitValidation(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxMetadataBytes = 4 })
	if _, err := h.c.CommitOffsets(t.Context(), commit("unknown", 3, "m", oc("t", 0, 1))); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("generation for an unknown group = %v", err)
	}
	ids, gen := h.stableGroup("g", 2)
	h.mustCommit(commit("g", gen, ids[1], oc("t", 0, 5)))
	for name, tc := range map[string]struct {
		req  CommitRequest
		want error
	}{
		"stale generation":            {commit("g", gen-1, ids[1], oc("t", 0, 6)), ErrIllegalGeneration},
		"unknown member":              {commit("g", gen, "nobody", oc("t", 0, 6)), ErrUnknownMember},
		"simple commit to live group": {commit("g", -1, "", oc("t", 0, 6)), ErrUnknownMember},
	} {
		if _, err := h.c.CommitOffsets(t.Context(), tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	errs, err := h.c.CommitOffsets(t.Context(), commit("g", gen, ids[0],
		OffsetCommit{TopicPartition: TopicPartition{"t", 1}, Offset: 1, Metadata: "too long"}, oc("t", 2, 2)))
	if err != nil || !errors.Is(errs[0], ErrMetadataTooLarge) || errs[1] != nil {
		t.Fatalf("metadata too large: %v %v", errs, err)
	}
	if got := h.offsets("g"); len(got) != 2 || got[TopicPartition{"t", 0}] != 5 || got[TopicPartition{"t", 2}] != 2 {
		t.Fatalf("offsets = %v", got)
	}

	// During a rebalance commits still work (an eager member commits
	// before rejoining); once the join completes they must wait.
	ch := h.join(joinReq("g", ids[0], "client0"))
	h.mustCommit(commit("g", gen, ids[1], oc("t", 0, 7)))
	recv(t, h.join(joinReq("g", ids[1], "client1")))
	recv(t, ch)
	if _, err := h.c.CommitOffsets(t.Context(), commit("g", gen+1, ids[1], oc("t", 0, 8))); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("commit in CompletingRebalance = %v", err)
	}
}

func TestCommitIsDurableFirst(t *testing.T) {
	h := newHarness(t, nil)
	h.mustCommit(commit("g", -1, "", oc("t", 0, 1)))
	h.log.setFail(errDiskBroken)
	errs, err := h.c.CommitOffsets(t.Context(), commit("g", -1, "", oc("t", 0, 2)))
	if err != nil || !errors.Is(errs[0], ErrCoordinatorNotAvailable) || !errors.Is(errs[0], errDiskBroken) {
		t.Fatalf("commit on a broken disk = %v %v", errs, err)
	}
	if got := h.offsets("g", TopicPartition{"t", 0}); got[TopicPartition{"t", 0}] != 1 {
		t.Fatalf("a failed commit changed the offset: %v", got)
	}
	h.log.setFail(nil)
	h.log.maxBatch = 100
	errs, _ = h.c.CommitOffsets(t.Context(), commit("g", -1, "", OffsetCommit{TopicPartition: TopicPartition{"t", 0}, Offset: 3, Metadata: strings.Repeat("x", 200)}))
	if !errors.Is(errs[0], ErrRecordTooLarge) {
		t.Fatalf("oversized commit = %v", errs)
	}
}

func TestSyncStoreFailureRebalances(t *testing.T) {
	h := newHarness(t, nil)
	id, ch := h.joinNew("g", "c")
	recv(t, ch)
	h.log.setFail(errDiskBroken)
	o := recv(t, h.sync(SyncRequest{Group: "g", MemberID: id, Generation: 1, Assignments: map[string][]byte{id: []byte("a")}}))
	if !errors.Is(o.err, ErrCoordinatorNotAvailable) {
		t.Fatalf("sync with a failed store = %+v", o)
	}
	if got := h.state("g"); got != "PreparingRebalance" {
		t.Fatalf("state = %s", got)
	}
	h.log.setFail(nil)
	o2 := recv(t, h.join(joinReq("g", id, "c")))
	if o2.err != nil || o2.res.Generation != 2 {
		t.Fatalf("rejoin = %+v %v", o2.res, o2.err)
	}
	if so := recv(t, h.sync(SyncRequest{Group: "g", MemberID: id, Generation: 2, Assignments: map[string][]byte{id: []byte("a")}})); so.err != nil {
		t.Fatal(so.err)
	}
}

func TestDeleteOffsets(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup("g", 1) // subscribed to topic "t"
	h.mustCommit(commit("g", gen, ids[0], oc("t", 0, 1), oc("old", 0, 2)))
	errs, err := h.c.DeleteOffsets(t.Context(), "g", []TopicPartition{{"t", 0}, {"old", 0}, {"never", 0}})
	if err != nil || !errors.Is(errs[0], ErrSubscribedToTopic) || errs[1] != nil || errs[2] != nil {
		t.Fatalf("delete offsets = %v %v", errs, err)
	}
	if got := h.offsets("g"); len(got) != 1 || got[TopicPartition{"t", 0}] != 1 {
		t.Fatalf("offsets = %v", got)
	}
	if _, err := h.c.DeleteOffsets(t.Context(), "nope", []TopicPartition{{"t", 0}}); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("unknown group = %v", err)
	}
	// Once the group is empty, anything goes.
	h.c.Leave("g", []LeaveMember{{MemberID: ids[0]}})
	if errs, err := h.c.DeleteOffsets(t.Context(), "g", []TopicPartition{{"t", 0}}); err != nil || errs[0] != nil {
		t.Fatalf("delete from empty group = %v %v", errs, err)
	}
	if got := h.offsets("g"); len(got) != 0 {
		t.Fatalf("offsets = %v", got)
	}
	// The deletions are tombstones in the log.
	h2 := h.restart()
	if got := h2.offsets("g"); len(got) != 0 {
		t.Fatalf("after restart offsets = %v", got)
	}
}

func TestDeleteGroup(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup("g", 1)
	h.mustCommit(commit("g", gen, ids[0], oc("t", 0, 1)))
	if err := h.c.DeleteGroup(t.Context(), "g"); !errors.Is(err, ErrNonEmptyGroup) {
		t.Fatalf("delete live group = %v", err)
	}
	if err := h.c.DeleteGroup(t.Context(), "nope"); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("delete unknown group = %v", err)
	}
	h.c.Leave("g", []LeaveMember{{MemberID: ids[0]}})
	h.c.wg.Wait() // the empty group's metadata write
	if err := h.c.DeleteGroup(t.Context(), "g"); err != nil {
		t.Fatal(err)
	}
	if d, _ := h.c.DescribeGroup("g"); d.State != "Dead" {
		t.Fatalf("deleted group = %+v", d)
	}
	if got := h.offsets("g", TopicPartition{"t", 0}); got[TopicPartition{"t", 0}] != -1 {
		t.Fatalf("offsets of a deleted group = %v", got)
	}
	h2 := h.restart()
	if l, _ := h2.c.ListGroups(nil, nil); len(l) != 0 {
		t.Fatalf("groups after restart = %+v", l)
	}
}

func TestOffsetExpiry(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.OffsetsRetention = time.Hour })
	// A group that only stores offsets: each expires an hour after its
	// commit.
	h.mustCommit(commit("simple", -1, "", oc("t", 0, 1)))
	h.clock.Advance(30 * time.Minute)
	h.mustCommit(commit("simple", -1, "", oc("t", 1, 1)))
	// A commit with its own retention (OffsetCommit v2-v4).
	retained := commit("short", -1, "", oc("t", 0, 1))
	retained.Retention = 10 * time.Minute
	h.mustCommit(retained)
	// A consumer group that became empty: everything expires an hour
	// after it emptied.
	ids, gen := h.stableGroup("consumers", 1)
	h.mustCommit(commit("consumers", gen, ids[0], oc("t", 0, 1)))
	h.c.Leave("consumers", []LeaveMember{{MemberID: ids[0]}})
	// A stable consumer group keeps its subscribed topic "t" but loses
	// "gone" an hour after the commit.
	sids, sgen := h.stableGroup("active", 1)
	h.mustCommit(commit("active", sgen, sids[0], oc("t", 0, 1), oc("gone", 0, 1)))
	h.c.wg.Wait()

	h.clock.Advance(20 * time.Minute) // t = 50 min
	h.c.expireOffsets()
	if l := h.offsets("short"); len(l) != 0 {
		t.Fatalf("offset with 10 min retention = %v", l)
	}
	if d, _ := h.c.DescribeGroup("short"); d.State != "Dead" {
		t.Fatalf("group without offsets left = %+v", d)
	}
	if l := h.offsets("simple"); len(l) != 2 {
		t.Fatalf("simple offsets at 50 min = %v", l)
	}

	h.clock.Advance(15 * time.Minute) // 65 min: the first simple offset is 65 min old
	h.c.expireOffsets()
	if l := h.offsets("simple"); len(l) != 1 || l[TopicPartition{"t", 1}] != 1 {
		t.Fatalf("simple offsets at 65 min = %v", l)
	}
	if l := h.offsets("consumers"); len(l) != 1 {
		t.Fatalf("offsets of the group empty for 35 min = %v", l)
	}
	if l := h.offsets("active"); len(l) != 2 {
		t.Fatalf("active group offsets at 65 min = %v", l)
	}

	h.clock.Advance(30 * time.Minute) // 95 min
	h.c.expireOffsets()
	if l := h.offsets("consumers"); len(l) != 0 {
		t.Fatalf("offsets of the group empty for 65 min = %v", l)
	}
	if l := h.offsets("active"); len(l) != 1 || l[TopicPartition{"t", 0}] != 1 {
		t.Fatalf("active group offsets at 95 min = %v", l)
	}
	groups, _ := h.c.ListGroups(nil, nil)
	if len(groups) != 1 || groups[0].Group != "active" {
		t.Fatalf("groups left = %+v", groups)
	}
	// Expiry wrote tombstones: a restart sees the same.
	h2 := h.restart()
	if l := h2.offsets("simple"); len(l) != 0 {
		t.Fatalf("after restart simple = %v", l)
	}
	if l := h2.offsets("consumers"); len(l) != 0 {
		t.Fatalf("after restart consumers = %v", l)
	}
	if l := h2.offsets("active"); len(l) != 1 {
		t.Fatalf("after restart active = %v", l)
	}
	if groups, _ := h2.c.ListGroups(nil, nil); len(groups) != 1 {
		t.Fatalf("groups after restart = %+v", groups)
	}
}

func TestDescribeAndList(t *testing.T) {
	h := newHarness(t, nil)
	ids, _ := h.stableGroup("b-stable", 2)
	h.mustCommit(commit("a-simple", -1, "", oc("t", 0, 1)))
	_, ch := h.joinNew("c-joining", "x")
	recv(t, ch)

	d, err := h.c.DescribeGroup("b-stable")
	if err != nil || d.State != "Stable" || d.Protocol != "range" || d.ProtocolType != "consumer" || len(d.Members) != 2 {
		t.Fatalf("describe = %+v %v", d, err)
	}
	m := d.Members[0]
	if m.MemberID != ids[0] && m.MemberID != ids[1] || m.ClientHost != "/127.0.0.1" || len(m.Metadata) == 0 || !strings.HasPrefix(string(m.Assignment), "assignment-of-") {
		t.Fatalf("member = %+v", m)
	}
	// Not stable: no protocol, metadata or assignment.
	d, _ = h.c.DescribeGroup("c-joining")
	if d.State != "CompletingRebalance" || d.Protocol != "" || len(d.Members) != 1 || d.Members[0].Metadata != nil {
		t.Fatalf("describe joining = %+v", d)
	}
	if d, _ := h.c.DescribeGroup("missing"); d.State != "Dead" || d.Members != nil {
		t.Fatalf("describe missing = %+v", d)
	}

	all, err := h.c.ListGroups(nil, nil)
	if err != nil || len(all) != 3 || all[0].Group != "a-simple" || all[1].State != "Stable" || all[1].ProtocolType != "consumer" {
		t.Fatalf("list = %+v %v", all, err)
	}
	if l, _ := h.c.ListGroups([]string{"stable", "empty"}, nil); len(l) != 2 {
		t.Fatalf("state filter = %+v", l)
	}
	if l, _ := h.c.ListGroups(nil, []string{"consumer"}); len(l) != 0 {
		t.Fatalf("type filter consumer = %+v", l)
	}
	if l, _ := h.c.ListGroups(nil, []string{"Classic"}); len(l) != 3 {
		t.Fatalf("type filter classic = %+v", l)
	}
}
