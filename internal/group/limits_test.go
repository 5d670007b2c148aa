package group

import (
	"errors"
	"testing"
	"time"
)

// TestGroupCountCapped: new group ids stop creating groups at MaxGroups
// (both ways a group is born: JoinGroup and a simple OffsetCommit), known
// groups keep working, deleting one makes room again, and groups loaded
// from the log are kept (and counted) even above the cap.
func TestGroupCountCapped(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxGroups = 2 })
	h.mustCommit(commit("a", -1, "", oc("t", 0, 1)))
	ids, gen := h.stableGroup("b", 1)
	if n := h.c.GroupCount(); n != 2 {
		t.Fatalf("%d groups, want 2", n)
	}

	_, err := h.c.CommitOffsets(t.Context(), commit("c", -1, "", oc("t", 0, 1)))
	if !errors.Is(err, ErrTooManyGroups) || !errors.Is(err, ErrCoordinatorNotAvailable) {
		t.Fatalf("commit creating a third group: %v, want ErrTooManyGroups (COORDINATOR_NOT_AVAILABLE)", err)
	}
	if _, err := h.c.joinAsync(joinReq("d", "", "client")); !errors.Is(err, ErrTooManyGroups) {
		t.Fatalf("join creating a third group: %v, want ErrTooManyGroups", err)
	}
	if d, _ := h.c.DescribeGroup("c"); d.State != "Dead" {
		t.Fatalf("refused group exists: %+v", d)
	}
	if n := h.c.GroupCount(); n != 2 {
		t.Fatalf("%d groups after refusals, want 2", n)
	}

	// Existing groups are unaffected.
	h.mustCommit(commit("a", -1, "", oc("t", 0, 2)))
	h.mustCommit(commit("b", gen, ids[0], oc("t", 0, 5)))

	// Deleting a group frees its slot.
	if err := h.c.DeleteGroup(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if n := h.c.GroupCount(); n != 1 {
		t.Fatalf("%d groups after delete, want 1", n)
	}
	h.mustCommit(commit("c", -1, "", oc("t", 0, 1)))

	// A coordinator with a lower cap still loads every stored group.
	h.cfg.MaxGroups = 1
	h2 := h.restart()
	if n := h2.c.GroupCount(); n != 2 {
		t.Fatalf("%d groups loaded, want 2 (b and c)", n)
	}
	if got := h2.offsets("c", TopicPartition{"t", 0}); got[TopicPartition{"t", 0}] != 1 {
		t.Fatalf("loaded offsets of c: %v", got)
	}
	if _, err := h2.c.CommitOffsets(t.Context(), commit("e", -1, "", oc("t", 0, 1))); !errors.Is(err, ErrTooManyGroups) {
		t.Fatalf("new group over the cap after load: %v", err)
	}
}

// TestPendingMembersBounded: a loop of JoinGroups with an empty member id
// (KIP-394) leaves at most maxPendingMembers pending ids in the group; the
// newest is still usable and the evicted oldest is unknown.
func TestPendingMembersBounded(t *testing.T) {
	h := newHarness(t, nil)
	req := joinReq("g", "", "looper")
	req.RequireKnownMemberID = true
	var first, last string
	for i := range maxPendingMembers + 10 {
		h.clock.Advance(time.Millisecond) // distinct deadlines: oldest first
		o := recv(t, h.join(req))
		if !errors.Is(o.err, ErrMemberIDRequired) {
			t.Fatalf("join %d: %v", i, o.err)
		}
		if i == 0 {
			first = o.res.MemberID
		}
		last = o.res.MemberID
	}
	s, err := h.c.shardFor("g")
	if err != nil {
		t.Fatal(err)
	}
	n := len(s.groups["g"].pending)
	s.mu.Unlock()
	if n != maxPendingMembers {
		t.Fatalf("%d pending member ids, want the cap %d", n, maxPendingMembers)
	}
	old := joinReq("g", first, "looper")
	if _, err := h.c.joinAsync(old); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("evicted pending id rejoined: %v, want ErrUnknownMember", err)
	}
	if o := recv(t, h.join(joinReq("g", last, "looper"))); o.err != nil {
		t.Fatalf("newest pending id: %v", o.err)
	}
}

// TestMemberCountCapped: members and pending member ids of all groups
// count towards MaxMembers; a new member past it is refused (and its new
// group not kept), expiry frees room, and loaded members are all kept.
func TestMemberCountCapped(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxMembers = 2 })
	_, ch := h.joinNew("a", "c0") // pending, then a member: counts once
	if o := recv(t, ch); o.err != nil {
		t.Fatal(o.err)
	}
	pend := joinReq("b", "", "c1")
	pend.RequireKnownMemberID = true
	if o := recv(t, h.join(pend)); !errors.Is(o.err, ErrMemberIDRequired) {
		t.Fatalf("pending join: %v", o.err)
	}
	if n := h.c.MemberCount(); n != 2 {
		t.Fatalf("%d members counted, want 2 (a member and a pending id)", n)
	}
	_, err := h.c.joinAsync(joinReq("c", "", "c2"))
	if !errors.Is(err, ErrTooManyMembers) || !errors.Is(err, ErrCoordinatorNotAvailable) {
		t.Fatalf("third member: %v, want ErrTooManyMembers (COORDINATOR_NOT_AVAILABLE)", err)
	}
	if _, err := h.c.joinAsync(pend); !errors.Is(err, ErrTooManyMembers) {
		t.Fatalf("another pending id: %v, want ErrTooManyMembers", err)
	}
	if n := h.c.GroupCount(); n != 2 {
		t.Fatalf("%d groups, want 2: the refused join must not leave group c", n)
	}
	// Nobody heartbeats: the member and the pending id expire.
	h.tick(11 * time.Second)
	if n := h.c.MemberCount(); n != 0 {
		t.Fatalf("%d members after expiry, want 0", n)
	}
	if o := recv(t, h.join(pend)); !errors.Is(o.err, ErrMemberIDRequired) {
		t.Fatalf("join after expiry: %v", o.err)
	}

	// Loaded members are kept even over a lower cap.
	h2 := newHarness(t, nil)
	h2.stableGroup("s", 3)
	h2.cfg.MaxMembers = 1
	h3 := h2.restart()
	if n := h3.c.MemberCount(); n != 3 {
		t.Fatalf("%d members loaded, want 3", n)
	}
	if _, err := h3.c.joinAsync(joinReq("s2", "", "x")); !errors.Is(err, ErrTooManyMembers) {
		t.Fatalf("new member over the cap after load: %v", err)
	}
}

// checkCounts fails the test if the coordinator's group and member counts
// drifted from what its shards hold. Every harness checks it at the end,
// so each coordinator test also tests the counting.
func checkCounts(t *testing.T, c *Coordinator) {
	t.Helper()
	c.wg.Wait() // background writes apply their changes
	c.mu.RLock()
	defer c.mu.RUnlock()
	groups, members := 0, 0
	for _, s := range c.shards {
		s.mu.Lock()
		for _, g := range s.groups {
			groups++
			members += g.size()
			if g.counter != &c.members {
				t.Errorf("group %q is not counted", g.id)
			}
		}
		s.mu.Unlock()
	}
	if groups != c.GroupCount() || members != c.MemberCount() {
		t.Errorf("coordinator counts %d groups and %d members; its shards hold %d and %d",
			c.GroupCount(), c.MemberCount(), groups, members)
	}
}
