package group

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPartitionForMatchesJava(t *testing.T) {
	for _, tc := range []struct {
		group string
		n     int
		want  int32
	}{
		{"", 50, 0},
		{"hello", 1 << 30, 99162322},          // "hello".hashCode() == 99162322
		{"Aa", 100000, 2112},                  // "Aa" and "BB" collide in Java
		{"BB", 100000, 2112},                  //
		{"polygenelubricants", 50, 0},         // hashCode is Integer.MIN_VALUE; Utils.abs maps it to 0
		{"\U0001F600", 1 << 30, 1772899},      // a surrogate pair: 0xD83D*31 + 0xDE00
		{"hello", 50, 99162322 % 50},          //
		{"any", 0, 0},                         // no partitions yet
		{"zzzzzzzzzz", 1<<31 - 1, 1580979136}, // the hash overflows to -1580979136 in Java
	} {
		if got := PartitionFor(tc.group, tc.n); got != tc.want {
			t.Errorf("PartitionFor(%q, %d) = %d, want %d", tc.group, tc.n, got, tc.want)
		}
	}
}

func TestJoinSyncHeartbeatLifecycle(t *testing.T) {
	h := newHarness(t, nil)

	// KIP-394: a new member first gets its id, then joins with it.
	m1, ch1 := h.joinNew("g", "client1")
	if !strings.HasPrefix(m1, "client1-") || len(m1) != len("client1-")+36 {
		t.Fatalf("member id %q is not clientID-uuid", m1)
	}
	o := recv(t, ch1)
	if o.err != nil || o.res.Generation != 1 || o.res.Leader != m1 || o.res.Protocol != "range" || o.res.ProtocolType != "consumer" {
		t.Fatalf("first join = %+v %v", o.res, o.err)
	}
	if len(o.res.Members) != 1 || o.res.Members[0].MemberID != m1 {
		t.Fatalf("leader's members = %+v", o.res.Members)
	}
	if got := h.state("g"); got != "CompletingRebalance" {
		t.Fatalf("state = %s", got)
	}
	// Heartbeats are fine while the assignment is pending.
	if err := h.c.Heartbeat("g", m1, "", 1); err != nil {
		t.Fatalf("heartbeat in CompletingRebalance: %v", err)
	}
	so := recv(t, h.sync(SyncRequest{Group: "g", MemberID: m1, Generation: 1, Assignments: map[string][]byte{m1: []byte("a1")}}))
	if so.err != nil || string(so.res.Assignment) != "a1" || so.res.Protocol != "range" {
		t.Fatalf("sync = %+v %v", so.res, so.err)
	}
	if got := h.state("g"); got != "Stable" {
		t.Fatalf("state = %s", got)
	}

	// A second member starts a rebalance; the first learns of it from its
	// heartbeat and rejoins.
	m2, ch2 := h.joinNew("g", "client2")
	parked(t, ch2)
	if err := h.c.Heartbeat("g", m1, "", 1); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("heartbeat during rebalance = %v", err)
	}
	ch1 = h.join(joinReq("g", m1, "client1"))
	o1, o2 := recv(t, ch1), recv(t, ch2)
	if o1.err != nil || o2.err != nil || o1.res.Generation != 2 || o2.res.Generation != 2 {
		t.Fatalf("rejoin = %+v %v / %+v %v", o1.res, o1.err, o2.res, o2.err)
	}
	if o1.res.Leader != m1 || len(o1.res.Members) != 2 || o2.res.Members != nil || o2.res.Leader != m1 {
		t.Fatalf("only the leader gets members: %+v / %+v", o1.res, o2.res)
	}

	// The follower waits for the leader's assignment.
	s2 := h.sync(SyncRequest{Group: "g", MemberID: m2, Generation: 2})
	parked(t, s2)
	s1 := h.sync(SyncRequest{Group: "g", MemberID: m1, Generation: 2, Assignments: map[string][]byte{m1: []byte("x"), m2: []byte("y"), "stranger": []byte("z")}})
	if a, b := recv(t, s1), recv(t, s2); string(a.res.Assignment) != "x" || string(b.res.Assignment) != "y" {
		t.Fatalf("assignments = %q %q", a.res.Assignment, b.res.Assignment)
	}
	if err := h.c.Heartbeat("g", m2, "", 2); err != nil {
		t.Fatal(err)
	}
	if err := h.c.Heartbeat("g", m2, "", 1); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("stale generation heartbeat = %v", err)
	}
	if err := h.c.Heartbeat("g", "nobody", "", 2); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("unknown member heartbeat = %v", err)
	}
	if err := h.c.Heartbeat("other", m2, "", 2); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("unknown group heartbeat = %v", err)
	}
	// A SyncGroup of a stable group returns the current assignment.
	if o := recv(t, h.sync(SyncRequest{Group: "g", MemberID: m2, Generation: 2})); string(o.res.Assignment) != "y" {
		t.Fatalf("stable sync = %+v", o)
	}
	if _, err := h.c.syncAsync(SyncRequest{Group: "g", MemberID: m2, Generation: 1}); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("stale sync = %v", err)
	}
	proto := "roundrobin"
	if _, err := h.c.syncAsync(SyncRequest{Group: "g", MemberID: m2, Generation: 2, Protocol: &proto}); !errors.Is(err, ErrInconsistentProtocol) {
		t.Fatalf("sync with another protocol = %v", err)
	}
}

func TestJoinValidation(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSessionTimeout = time.Minute })
	req := joinReq("g", "", "c")
	req.SessionTimeout = 500 * time.Millisecond
	if _, err := h.c.joinAsync(req); !errors.Is(err, ErrInvalidSessionTimeout) {
		t.Fatalf("short session = %v", err)
	}
	req.SessionTimeout = 2 * time.Minute
	if _, err := h.c.joinAsync(req); !errors.Is(err, ErrInvalidSessionTimeout) {
		t.Fatalf("long session = %v", err)
	}
	if _, err := h.c.joinAsync(joinReq("", "", "c")); !errors.Is(err, ErrInvalidGroupID) {
		t.Fatalf("empty group = %v", err)
	}
}

func TestJoinUnknownMemberOfUnknownGroup(t *testing.T) {
	h := newHarness(t, nil)
	if _, err := h.c.joinAsync(joinReq("g", "made-up", "c")); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("join with made-up id = %v", err)
	}
	// The refused join leaves no group behind.
	if l, _ := h.c.ListGroups(nil, nil); len(l) != 0 {
		t.Fatalf("groups = %+v", l)
	}
}

func TestProtocolMismatch(t *testing.T) {
	h := newHarness(t, nil)
	h.stableGroup("g", 1)
	for name, req := range map[string]JoinRequest{
		"no common protocol": joinReq("g", "", "c", protocols("roundrobin")...),
		"other type":         func() JoinRequest { r := joinReq("g", "", "c"); r.ProtocolType = "connect"; return r }(),
		"no protocols":       func() JoinRequest { r := joinReq("g", "", "c"); r.Protocols = []Protocol{}; return r }(),
	} {
		if _, err := h.c.joinAsync(req); !errors.Is(err, ErrInconsistentProtocol) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := h.c.joinAsync(func() JoinRequest { r := joinReq("new", "", "c"); r.ProtocolType = ""; return r }()); !errors.Is(err, ErrInconsistentProtocol) {
		t.Errorf("empty protocol type for a new group: %v", err)
	}
}

func TestProtocolSelection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members [][]string
		want    string
	}{
		{"only common one", [][]string{{"roundrobin", "range"}, {"range", "roundrobin"}, {"range"}}, "range"},
		{"most votes", [][]string{{"roundrobin", "range"}, {"roundrobin", "range"}, {"range", "roundrobin"}}, "roundrobin"},
		{"tie goes to leader's preference", [][]string{{"sticky", "range"}, {"range", "sticky"}}, "sticky"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			var chans []<-chan joinOutcome
			id0, ch := h.joinNew("g", "c0", protocols(tc.members[0]...)...)
			recv(t, ch)
			for i, ps := range tc.members[1:] {
				_, ch := h.joinNew("g", "c"+string(rune('1'+i)), protocols(ps...)...)
				chans = append(chans, ch)
			}
			chans = append(chans, h.join(joinReq("g", id0, "c0", protocols(tc.members[0]...)...)))
			for _, ch := range chans {
				if o := recv(t, ch); o.err != nil || o.res.Protocol != tc.want {
					t.Fatalf("join = %+v %v, want protocol %s", o.res, o.err, tc.want)
				}
			}
		})
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	ch1 := h.join(joinReq("g", "", "c1"))
	h.tick(2 * time.Second)
	parked(t, ch1)
	// A member arriving during the delay extends it by another delay.
	ch2 := h.join(joinReq("g", "", "c2"))
	h.tick(time.Second) // 3 s: the first delay ends, extended to 6 s
	parked(t, ch1)
	parked(t, ch2)
	h.tick(2 * time.Second) // 5 s
	parked(t, ch1)
	h.tick(time.Second) // 6 s: no new member in the extension, done
	o1, o2 := recv(t, ch1), recv(t, ch2)
	if o1.err != nil || o2.err != nil || o1.res.Generation != 1 || o2.res.Generation != 1 {
		t.Fatalf("joins = %+v %v / %+v %v", o1.res, o1.err, o2.res, o2.err)
	}
	leaderMembers := len(o1.res.Members) + len(o2.res.Members)
	if leaderMembers != 2 {
		t.Fatalf("the leader should see both members in one generation, got %d", leaderMembers)
	}
}

func TestInitialDelayBoundedByRebalanceTimeout(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	req := joinReq("g", "", "c")
	req.RebalanceTimeout = 4 * time.Second
	ch := h.join(req)
	for i := range 3 {
		h.tick(time.Second)
		h.join(joinReq("g", "", "other"+string(rune('0'+i)))) // keeps extending
	}
	h.tick(time.Second) // 4 s: the rebalance timeout caps the extensions
	if o := recv(t, ch); o.err != nil || o.res.Generation != 1 {
		t.Fatalf("join = %+v %v", o.res, o.err)
	}
}

func TestSessionExpiryTriggersRebalance(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup("g", 2)
	leader, follower := ids[0], ids[1]
	// The leader keeps heartbeating; the follower went silent.
	for range 3 {
		h.tick(4 * time.Second)
		if err := h.c.Heartbeat("g", leader, "", gen); err != nil && !errors.Is(err, ErrRebalanceInProgress) {
			t.Fatal(err)
		}
	}
	if got := h.state("g"); got != "PreparingRebalance" {
		t.Fatalf("state after the follower's session expired = %s", got)
	}
	if err := h.c.Heartbeat("g", follower, "", gen); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("expired member heartbeat = %v", err)
	}
	o := recv(t, h.join(joinReq("g", leader, "client0")))
	if o.err != nil || o.res.Generation != gen+1 || len(o.res.Members) != 1 {
		t.Fatalf("rejoin = %+v %v", o.res, o.err)
	}
}

func TestRebalanceTimeoutRemovesMembersThatDoNotRejoin(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup("g", 2)
	leader, follower := ids[0], ids[1]
	// The leader rejoins (forcing a rebalance); the follower heartbeats
	// but never rejoins.
	ch := h.join(joinReq("g", leader, "client0"))
	parked(t, ch)
	for range 7 {
		h.tick(4 * time.Second) // 28 s, rebalance timeout is 30 s
		if err := h.c.Heartbeat("g", follower, "", gen); !errors.Is(err, ErrRebalanceInProgress) {
			t.Fatalf("heartbeat during rebalance = %v", err)
		}
	}
	parked(t, ch)
	h.tick(2 * time.Second)
	o := recv(t, ch)
	if o.err != nil || o.res.Generation != gen+1 || len(o.res.Members) != 1 || o.res.Members[0].MemberID != leader {
		t.Fatalf("join after timeout = %+v %v", o.res, o.err)
	}
	if err := h.c.Heartbeat("g", follower, "", gen); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("removed member heartbeat = %v", err)
	}
}

func TestLeaderLeavingElectsJoinedMember(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup("g", 3)
	leader := ids[0]
	// Two followers rejoin, then the leader leaves: the round completes
	// with a follower leading.
	ch1 := h.join(joinReq("g", ids[1], "x", changedProtocols()...))
	ch2 := h.join(joinReq("g", ids[2], "y", changedProtocols()...))
	errs, err := h.c.Leave("g", []LeaveMember{{MemberID: leader}})
	if err != nil || errs[0] != nil {
		t.Fatalf("leave: %v %v", errs, err)
	}
	o1, o2 := recv(t, ch1), recv(t, ch2)
	if o1.res.Generation != gen+1 || o1.res.Leader == leader || o1.res.Leader != o2.res.Leader {
		t.Fatalf("after leader left: %+v / %+v", o1.res, o2.res)
	}
}

func TestLeaveGroup(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup("g", 2)
	errs, err := h.c.Leave("g", []LeaveMember{{MemberID: ids[1]}, {MemberID: "nobody"}})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], ErrUnknownMember) {
		t.Fatalf("leave = %v %v", errs, err)
	}
	if got := h.state("g"); got != "PreparingRebalance" {
		t.Fatalf("state = %s", got)
	}
	o := recv(t, h.join(joinReq("g", ids[0], "client0")))
	if o.res.Generation != gen+1 || len(o.res.Members) != 1 {
		t.Fatalf("rejoin = %+v", o.res)
	}
	// The last member leaving empties the group (a new generation).
	if errs, err := h.c.Leave("g", []LeaveMember{{MemberID: ids[0]}}); err != nil || errs[0] != nil {
		t.Fatal(errs, err)
	}
	if got := h.state("g"); got != "Empty" {
		t.Fatalf("state = %s", got)
	}
	if h.generation("g") != gen+2 {
		t.Fatalf("generation = %d", h.generation("g"))
	}
	if errs, _ := h.c.Leave("nothere", []LeaveMember{{MemberID: "x"}}); !errors.Is(errs[0], ErrUnknownMember) {
		t.Fatalf("leave unknown group = %v", errs)
	}
}

func TestLeaveWhileJoiningAnswersParkedJoin(t *testing.T) {
	h := newHarness(t, nil)
	ids, _ := h.stableGroup("g", 2)
	ch := h.join(joinReq("g", ids[1], "client1", changedProtocols()...))
	if errs, err := h.c.Leave("g", []LeaveMember{{MemberID: ids[1]}}); err != nil || errs[0] != nil {
		t.Fatal(errs, err)
	}
	if o := recv(t, ch); !errors.Is(o.err, ErrUnknownMember) {
		t.Fatalf("parked join of a member that left = %+v", o)
	}
}

func TestPendingMemberExpires(t *testing.T) {
	h := newHarness(t, nil)
	ids, _ := h.stableGroup("g", 1)
	// A new member gets an id but never joins with it: the rebalance it
	// would hold up does not start, and the id expires.
	req := joinReq("g", "", "c")
	req.RequireKnownMemberID = true
	o := recv(t, h.join(req))
	if !errors.Is(o.err, ErrMemberIDRequired) {
		t.Fatal(o.err)
	}
	if got := h.state("g"); got != "Stable" {
		t.Fatalf("state = %s", got)
	}
	h.tick(5 * time.Second)
	if err := h.c.Heartbeat("g", ids[0], "", 1); err != nil {
		t.Fatal(err)
	}
	h.tick(6 * time.Second)
	req.MemberID = o.res.MemberID
	if _, err := h.c.joinAsync(req); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("join with an expired pending id = %v", err)
	}
}

func TestMaxGroupSize(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxGroupSize = 2 })
	ids, _ := h.stableGroup("g", 2)
	if _, err := h.c.joinAsync(joinReq("g", "", "c3")); !errors.Is(err, ErrGroupMaxSize) {
		t.Fatalf("third member = %v", err)
	}
	// Members already in are always let back in.
	ch0 := h.join(joinReq("g", ids[0], "client0"))
	ch1 := h.join(joinReq("g", ids[1], "client1"))
	if o := recv(t, ch0); o.err != nil {
		t.Fatal(o.err)
	}
	recv(t, ch1)
}

func TestStableRejoinWithoutChangeIsNoRebalance(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.stableGroup("g", 2)
	follower := ids[1]
	// Same metadata: answered at once, no rebalance.
	o := recv(t, h.join(joinReq("g", follower, "client1")))
	if o.err != nil || o.res.Generation != gen || o.res.Members != nil {
		t.Fatalf("no-op rejoin = %+v %v", o.res, o.err)
	}
	if got := h.state("g"); got != "Stable" {
		t.Fatalf("state = %s", got)
	}
	// Changed metadata (a cooperative member that revoked partitions
	// encodes different owned partitions): a rebalance.
	changed := []Protocol{{Name: "range", Metadata: consumerMeta("t", "u")}}
	ch := h.join(joinReq("g", follower, "client1", changed...))
	parked(t, ch)
	if got := h.state("g"); got != "PreparingRebalance" {
		t.Fatalf("state = %s", got)
	}
	lo := recv(t, h.join(joinReq("g", ids[0], "client0")))
	fo := recv(t, ch)
	if lo.res.Generation != gen+1 || fo.res.Generation != gen+1 {
		t.Fatalf("generations %d %d", lo.res.Generation, fo.res.Generation)
	}
	for _, m := range lo.res.Members {
		if m.MemberID == follower && !bytes.Equal(m.Metadata, changed[0].Metadata) {
			t.Fatal("leader did not get the follower's new metadata")
		}
	}
}

func TestRetriedJoinInCompletingRebalance(t *testing.T) {
	h := newHarness(t, nil)
	id, ch := h.joinNew("g", "c")
	first := recv(t, ch)
	again := recv(t, h.join(joinReq("g", id, "c")))
	if again.err != nil || again.res.Generation != first.res.Generation || len(again.res.Members) != 1 {
		t.Fatalf("retried join = %+v %v", again.res, again.err)
	}
}

func TestRebalanceAbandonsPendingSyncs(t *testing.T) {
	h := newHarness(t, nil)
	id0, ch := h.joinNew("g", "c0")
	recv(t, ch)
	id1, ch1 := h.joinNew("g", "c1")
	ch0 := h.join(joinReq("g", id0, "c0"))
	recv(t, ch0)
	recv(t, ch1)
	gen := h.generation("g")
	follower := id1
	if h.leader("g") == id1 {
		follower = id0
	}
	s := h.sync(SyncRequest{Group: "g", MemberID: follower, Generation: gen})
	parked(t, s)
	// A new member arrives before the leader syncs.
	h.join(joinReq("g", "", "c2"))
	if o := recv(t, s); !errors.Is(o.err, ErrRebalanceInProgress) {
		t.Fatalf("parked sync = %+v", o)
	}
}

func TestUnloadAnswersParkedRequests(t *testing.T) {
	h := newHarness(t, nil)
	ids, _ := h.stableGroup("g", 2)
	ch := h.join(joinReq("g", ids[1], "client1", changedProtocols()...))
	parked(t, ch)
	h.c.SetPartitions(1, nil)
	if o := recv(t, ch); !errors.Is(o.err, ErrNotCoordinator) {
		t.Fatalf("parked join after unload = %+v", o)
	}
	if err := h.c.Heartbeat("g", ids[0], "", 2); !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("heartbeat after unload = %v", err)
	}
}

func TestNotCoordinatorAndLoading(t *testing.T) {
	clock := newFakeClock()
	cfg := testConfig(clock)
	c, err := newCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Heartbeat("g", "m", "", 1); !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("before any partition = %v", err)
	}
	// Own partition 0 of 2 only; find groups on each.
	log := &memLog{}
	b := newBatch(clock.Now())
	b.Add(offsetKey("x", TopicPartition{"t", 0}), offsetValue(offset{offset: 5, expireTime: -1}))
	if err := log.Append(b.Build()); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	log.readGate = gate
	c.SetPartitions(2, []OwnedPartition{{Index: 0, Log: log}})
	var mine, theirs string
	for _, g := range []string{"a", "b", "c", "d", "e", "f"} {
		if PartitionFor(g, 2) == 0 {
			mine = g
		} else {
			theirs = g
		}
	}
	if err := c.Heartbeat(theirs, "m", "", 1); !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("group of another partition = %v", err)
	}
	if err := c.Heartbeat(mine, "m", "", 1); !errors.Is(err, ErrCoordinatorLoading) {
		t.Fatalf("group while loading = %v", err)
	}
	if _, err := c.ListGroups(nil, nil); !errors.Is(err, ErrCoordinatorLoading) {
		t.Fatalf("list while loading = %v", err)
	}
	close(gate)
	if err := c.WaitLoaded(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Heartbeat(mine, "m", "", 1); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("group after loading = %v", err)
	}
}
