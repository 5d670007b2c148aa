package group

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func staticReq(groupID, memberID, instance string, ps ...Protocol) JoinRequest {
	r := joinReq(groupID, memberID, "client-"+instance, ps...)
	r.InstanceID = instance
	r.RequireKnownMemberID = true // static members are exempt from KIP-394
	return r
}

// staticGroup forms a stable group "g" of two static members, i1 and i2;
// it returns their member ids, leader (i1) first.
func (h *harness) staticGroup(ps ...Protocol) ([]string, int32) {
	h.t.Helper()
	return h.staticGroupOf("g", []string{"i1", "i2"}, ps...)
}

// staticGroupOf forms a stable group of static members with the given
// instance ids; the first leads. It returns the member ids in instance
// order.
func (h *harness) staticGroupOf(groupID string, instances []string, ps ...Protocol) ([]string, int32) {
	h.t.Helper()
	o := recv(h.t, h.join(staticReq(groupID, "", instances[0], ps...)))
	if o.err != nil || !strings.HasPrefix(o.res.MemberID, instances[0]+"-") {
		h.t.Fatalf("static join = %+v %v", o.res, o.err)
	}
	chans := make([]<-chan joinOutcome, len(instances))
	for i, inst := range instances[1:] {
		chans[i+1] = h.join(staticReq(groupID, "", inst, ps...))
	}
	chans[0] = h.join(staticReq(groupID, o.res.MemberID, instances[0], ps...))
	ids := make([]string, len(instances))
	var gen int32
	for i, ch := range chans {
		o := recv(h.t, ch)
		if o.err != nil {
			h.t.Fatal(o.err)
		}
		ids[i], gen = o.res.MemberID, o.res.Generation
	}
	assign := make(map[string][]byte)
	for i, id := range ids {
		assign[id] = []byte(fmt.Sprintf("p%d", i))
	}
	var syncs []<-chan syncOutcome
	for i := len(ids) - 1; i >= 0; i-- { // the leader last
		req := SyncRequest{Group: groupID, MemberID: ids[i], InstanceID: instances[i], Generation: gen}
		if i == 0 {
			req.Assignments = assign
		}
		syncs = append(syncs, h.sync(req))
	}
	for _, ch := range syncs {
		if o := recv(h.t, ch); o.err != nil {
			h.t.Fatal(o.err)
		}
	}
	return ids, gen
}

func TestStaticMemberRestartKeepsAssignmentWithoutRebalance(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.staticGroup()
	// Instance i2 restarts: it joins without its member id and replaces
	// the old incarnation in place.
	o := recv(t, h.join(staticReq("g", "", "i2")))
	if o.err != nil || o.res.Generation != gen || o.res.MemberID == ids[1] || o.res.Members != nil || o.res.SkipAssignment {
		t.Fatalf("static rejoin = %+v %v", o.res, o.err)
	}
	if got := h.state("g"); got != "Stable" {
		t.Fatalf("state = %s, want no rebalance", got)
	}
	newID := o.res.MemberID
	if err := h.c.Heartbeat("g", ids[1], "i2", gen); !errors.Is(err, ErrFencedInstance) {
		t.Fatalf("old incarnation heartbeat = %v", err)
	}
	if _, err := h.c.CommitOffsets(t.Context(), CommitRequest{Group: "g", Generation: gen, MemberID: ids[1], InstanceID: "i2",
		Offsets: []OffsetCommit{{TopicPartition: TopicPartition{"t", 0}, Offset: 1}}}); !errors.Is(err, ErrFencedInstance) {
		t.Fatalf("old incarnation commit = %v", err)
	}
	so := recv(t, h.sync(SyncRequest{Group: "g", MemberID: newID, InstanceID: "i2", Generation: gen}))
	if so.err != nil || string(so.res.Assignment) != "p1" {
		t.Fatalf("new incarnation's assignment = %+v %v", so.res, so.err)
	}
	// The leader restarting gets the members and is told to skip the
	// assignment.
	lo := recv(t, h.join(staticReq("g", "", "i1")))
	if lo.err != nil || !lo.res.SkipAssignment || len(lo.res.Members) != 2 || lo.res.Leader != lo.res.MemberID {
		t.Fatalf("static leader rejoin = %+v %v", lo.res, lo.err)
	}
	// Both replacements were persisted: a restarted coordinator knows the
	// new ids.
	h2 := h.restart()
	if err := h2.c.Heartbeat("g", newID, "i2", gen); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if err := h2.c.Heartbeat("g", lo.res.MemberID, "i1", gen); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestStaticMemberWithNewProtocolRebalances(t *testing.T) {
	h := newHarness(t, nil)
	both := protocols("range", "roundrobin")
	ids, gen := h.staticGroup(both...)
	// A restarted i2 that supports the same protocols, in another order,
	// does not change the group's choice: no rebalance.
	o := recv(t, h.join(staticReq("g", "", "i2", protocols("roundrobin", "range")...)))
	if o.err != nil || o.res.Generation != gen || h.state("g") != "Stable" {
		t.Fatalf("rejoin = %+v %v, state %s", o.res, o.err, h.state("g"))
	}
	// One that only speaks roundrobin does: the group must rebalance to
	// switch protocols.
	ch := h.join(staticReq("g", "", "i2", protocols("roundrobin")...))
	parked(t, ch)
	if got := h.state("g"); got != "PreparingRebalance" {
		t.Fatalf("state = %s", got)
	}
	lo := recv(t, h.join(staticReq("g", ids[0], "i1", both...)))
	o = recv(t, ch)
	if lo.err != nil || o.err != nil || o.res.Generation != gen+1 || o.res.Protocol != "roundrobin" {
		t.Fatalf("joins = %+v %v / %+v %v", lo.res, lo.err, o.res, o.err)
	}
}

func TestStaticMemberFencing(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.staticGroup()
	if _, err := h.c.joinAsync(staticReq("g", "made-up", "i1")); !errors.Is(err, ErrFencedInstance) {
		t.Fatalf("join with another id for i1 = %v", err)
	}
	if _, err := h.c.joinAsync(staticReq("g", ids[0], "unknown-instance")); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("join with an unknown instance = %v", err)
	}
	if _, err := h.c.syncAsync(SyncRequest{Group: "g", MemberID: "made-up", InstanceID: "i1", Generation: gen}); !errors.Is(err, ErrFencedInstance) {
		t.Fatalf("sync = %v", err)
	}
	errs, err := h.c.Leave("g", []LeaveMember{{MemberID: "made-up", InstanceID: "i1"}, {InstanceID: "nope"}})
	if err != nil || !errors.Is(errs[0], ErrFencedInstance) || !errors.Is(errs[1], ErrUnknownMember) {
		t.Fatalf("leave = %v %v", errs, err)
	}
}

func TestStaticMemberLeavesByInstanceID(t *testing.T) {
	h := newHarness(t, nil)
	_, _ = h.staticGroup()
	// LeaveGroup v3+ can remove a static member by instance id alone
	// (an admin removing it, say).
	errs, err := h.c.Leave("g", []LeaveMember{{InstanceID: "i2"}})
	if err != nil || errs[0] != nil {
		t.Fatalf("leave = %v %v", errs, err)
	}
	d, _ := h.c.DescribeGroup("g")
	if d.State != "PreparingRebalance" || len(d.Members) != 1 || d.Members[0].InstanceID != "i1" {
		t.Fatalf("after leave: %+v", d)
	}
}

func TestStaticMemberSurvivesRebalanceUntilSessionExpires(t *testing.T) {
	h := newHarness(t, nil)
	ids, gen := h.staticGroup()
	// The leader forces a rebalance; static member i2 does not rejoin in
	// time but keeps its place (and would keep its partitions) until its
	// session runs out.
	ch := h.join(staticReq("g", ids[0], "i1"))
	for range 3 {
		h.tick(8 * time.Second)
		if err := h.c.Heartbeat("g", ids[1], "i2", gen); !errors.Is(err, ErrRebalanceInProgress) {
			t.Fatalf("heartbeat = %v", err)
		}
	}
	h.tick(8 * time.Second) // past the 30 s rebalance timeout
	o := recv(t, ch)
	if o.err != nil || len(o.res.Members) != 2 {
		t.Fatalf("join = %+v %v, want both static members", o.res, o.err)
	}
	// The leader syncs and heartbeats; i2 stays silent, so its session
	// (restarted when the round completed) expires and the group
	// rebalances without it.
	if so := recv(t, h.sync(SyncRequest{Group: "g", MemberID: ids[0], InstanceID: "i1", Generation: o.res.Generation})); so.err != nil {
		t.Fatal(so.err)
	}
	h.tick(6 * time.Second)
	if err := h.c.Heartbeat("g", ids[0], "i1", o.res.Generation); err != nil {
		t.Fatal(err)
	}
	h.tick(5 * time.Second)
	d, _ := h.c.DescribeGroup("g")
	if d.State != "PreparingRebalance" || len(d.Members) != 1 {
		t.Fatalf("after expiry: %+v", d)
	}
}
