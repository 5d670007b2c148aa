package handlers

// Version-by-version tests of the group API handlers against a coordinator
// over an in-memory log. FindCoordinator and OffsetCommit read the
// metadata image, so they are covered by the broker-level tests instead.

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/group"
	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/server"
)

// groupLog is an in-memory group.Log.
type groupLog struct {
	mu   sync.Mutex
	data []byte
	next int64
}

func (l *groupLog) Append(batch []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, err := record.ValidateProduced(batch)
	if err != nil {
		return err
	}
	b := append([]byte(nil), batch...)
	record.SetBaseOffset(b, l.next)
	l.next += int64(h.NumRecords)
	l.data = append(l.data, b...)
	return nil
}

func (l *groupLog) Read(offset int64, _ int) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.data...), nil
}

func (l *groupLog) StartOffset() int64 { return 0 }

func (l *groupLog) EndOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

func newGroupHandlers(t *testing.T) *Handlers {
	t.Helper()
	h, _ := newGroupHandlersLog(t)
	return h
}

func newGroupHandlersLog(t *testing.T) (*Handlers, *groupLog) {
	t.Helper()
	cfg := group.DefaultConfig()
	cfg.InitialRebalanceDelay = 0
	cfg.MinSessionTimeout = time.Millisecond
	c, err := group.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	log := &groupLog{}
	c.SetPartitions(1, []group.OwnedPartition{{Index: 0, Log: log}})
	if err := c.WaitLoaded(t.Context()); err != nil {
		t.Fatal(err)
	}
	return New(Deps{Groups: c}), log
}

// groupValues decodes the group metadata records in the log.
func (l *groupLog) groupValues(t *testing.T) []kmsg.GroupMetadataValue {
	t.Helper()
	l.mu.Lock()
	data := append([]byte(nil), l.data...)
	l.mu.Unlock()
	var out []kmsg.GroupMetadataValue
	dec := record.NewDecoder()
	_, err := record.Batches(data, func(_ record.Header, b []byte) error {
		return dec.Records(b, func(r *kmsg.Record) bool {
			if len(r.Key) > 1 && r.Key[1] == 2 && r.Value != nil {
				var v kmsg.GroupMetadataValue
				if err := v.ReadFrom(r.Value); err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// call sends one request through the dispatch table, as the server would.
func call[Resp kmsg.Response](t *testing.T, h *Handlers, req kmsg.Request) Resp {
	t.Helper()
	if !h.Supports(req.Key(), req.GetVersion()) {
		t.Fatalf("key %d v%d is not advertised", req.Key(), req.GetVersion())
	}
	rc := &server.ConnInfo{Remote: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 5555}}
	resp := h.Handle(t.Context(), rc, &server.RequestHeader{APIKey: req.Key(), APIVersion: req.GetVersion(), ClientID: "cli"}, req)
	r, ok := resp.(Resp)
	if !ok {
		t.Fatalf("response %T", resp)
	}
	if r.GetVersion() != req.GetVersion() {
		t.Fatalf("response v%d for request v%d", r.GetVersion(), req.GetVersion())
	}
	return r
}

func joinRequest(version int16, groupID, memberID string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = version
	req.Group, req.MemberID, req.ProtocolType = groupID, memberID, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 20000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	req.Protocols = []kmsg.JoinGroupRequestProtocol{p}
	return req
}

func wantGroupCode(t *testing.T, what string, code int16, want *kerr.Error) {
	t.Helper()
	if code != want.Code {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(code), want)
	}
}

func TestJoinGroupVersions(t *testing.T) {
	h := newGroupHandlers(t)

	// v0-v3 join at once: no MEMBER_ID_REQUIRED; the protocol name is
	// never null before v7.
	r := call[*kmsg.JoinGroupResponse](t, h, joinRequest(3, "v3", ""))
	wantGroupCode(t, "v3 join", r.ErrorCode, nil0)
	if r.Generation != 1 || r.MemberID == "" || r.LeaderID != r.MemberID || r.Protocol == nil || *r.Protocol != "range" || len(r.Members) != 1 {
		t.Fatalf("v3 join = %+v", r)
	}
	if r.MemberID[:4] != "cli-" {
		t.Fatalf("member id %q does not start with the client id", r.MemberID)
	}

	// v4+: MEMBER_ID_REQUIRED, with the id to use.
	r = call[*kmsg.JoinGroupResponse](t, h, joinRequest(4, "v4", ""))
	wantGroupCode(t, "v4 first join", r.ErrorCode, kerr.MemberIDRequired)
	if r.MemberID == "" || r.Generation != -1 || r.Protocol == nil || *r.Protocol != "" {
		t.Fatalf("v4 first join = %+v", r)
	}
	r = call[*kmsg.JoinGroupResponse](t, h, joinRequest(4, "v4", r.MemberID))
	wantGroupCode(t, "v4 second join", r.ErrorCode, nil0)

	// v7 carries the protocol type.
	r = call[*kmsg.JoinGroupResponse](t, h, joinRequest(7, "v7", ""))
	r = call[*kmsg.JoinGroupResponse](t, h, joinRequest(7, "v7", r.MemberID))
	if r.ProtocolType == nil || *r.ProtocolType != "consumer" || r.Protocol == nil || *r.Protocol != "range" {
		t.Fatalf("v7 join = %+v", r)
	}

	// Validation errors.
	bad := joinRequest(9, "v9", "")
	bad.SessionTimeoutMillis = 0
	wantGroupCode(t, "zero session timeout", call[*kmsg.JoinGroupResponse](t, h, bad).ErrorCode, kerr.InvalidSessionTimeout)
	wantGroupCode(t, "unknown member", call[*kmsg.JoinGroupResponse](t, h, joinRequest(9, "nope", "made-up")).ErrorCode, kerr.UnknownMemberID)
	wantGroupCode(t, "empty group", call[*kmsg.JoinGroupResponse](t, h, joinRequest(9, "", "")).ErrorCode, kerr.InvalidGroupID)
}

var nil0 = &kerr.Error{Message: "NONE", Code: 0}

func TestJoinGroupV0UsesSessionTimeoutForRebalance(t *testing.T) {
	h, log := newGroupHandlersLog(t)
	req := joinRequest(0, "g", "")
	req.SessionTimeoutMillis = 5000
	r := call[*kmsg.JoinGroupResponse](t, h, req)
	wantGroupCode(t, "v0 join", r.ErrorCode, nil0)
	s := &kmsg.SyncGroupRequest{Version: 0, Group: "g", MemberID: r.MemberID, Generation: r.Generation,
		GroupAssignment: []kmsg.SyncGroupRequestGroupAssignment{{MemberID: r.MemberID, MemberAssignment: []byte("a")}}}
	wantGroupCode(t, "v0 sync", call[*kmsg.SyncGroupResponse](t, h, s).ErrorCode, nil0)
	// The stored generation shows the member's timeouts.
	vals := log.groupValues(t)
	if len(vals) != 1 || len(vals[0].Members) != 1 {
		t.Fatalf("stored groups = %+v", vals)
	}
	if m := vals[0].Members[0]; m.RebalanceTimeoutMillis != 5000 || m.SessionTimeoutMillis != 5000 || m.ClientID != "cli" || m.ClientHost != "/10.1.2.3" {
		t.Fatalf("stored member = %+v", m)
	}
}

// formStatic joins a static member (v5+) and syncs it.
func formStatic(t *testing.T, h *Handlers, version int16, groupID, instance string) *kmsg.JoinGroupResponse {
	t.Helper()
	req := joinRequest(version, groupID, "")
	req.InstanceID = &instance
	r := call[*kmsg.JoinGroupResponse](t, h, req)
	wantGroupCode(t, "static join", r.ErrorCode, nil0)
	if len(r.Members) != 1 || r.Members[0].InstanceID == nil || *r.Members[0].InstanceID != instance {
		t.Fatalf("static join members = %+v", r.Members)
	}
	s := kmsg.NewPtrSyncGroupRequest()
	s.Version, s.Group, s.MemberID, s.InstanceID, s.Generation = 5, groupID, r.MemberID, &instance, r.Generation
	s.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: r.MemberID, MemberAssignment: []byte("mine")}}
	sr := call[*kmsg.SyncGroupResponse](t, h, s)
	wantGroupCode(t, "static sync", sr.ErrorCode, nil0)
	if string(sr.MemberAssignment) != "mine" || sr.Protocol == nil || *sr.Protocol != "range" || *sr.ProtocolType != "consumer" {
		t.Fatalf("v5 sync = %+v", sr)
	}
	return r
}

func TestJoinGroupSkipAssignment(t *testing.T) {
	h := newGroupHandlers(t)
	formStatic(t, h, 9, "g9", "i")
	// The static leader restarts: v9 is told to skip the assignment and
	// still gets the members.
	req := joinRequest(9, "g9", "")
	req.InstanceID = ptrTo("i")
	r := call[*kmsg.JoinGroupResponse](t, h, req)
	if r.ErrorCode != 0 || !r.SkipAssignment || len(r.Members) != 1 || r.Generation != 1 {
		t.Fatalf("v9 static rejoin = %+v", r)
	}
	// v8 cannot be told; it gets no members to assign.
	formStatic(t, h, 8, "g8", "i")
	req = joinRequest(8, "g8", "")
	req.InstanceID = ptrTo("i")
	r = call[*kmsg.JoinGroupResponse](t, h, req)
	if r.ErrorCode != 0 || r.SkipAssignment || len(r.Members) != 0 || r.Generation != 1 || r.LeaderID != r.MemberID {
		t.Fatalf("v8 static rejoin = %+v", r)
	}
}

func TestSyncHeartbeatLeaveVersions(t *testing.T) {
	h := newGroupHandlers(t)
	j := call[*kmsg.JoinGroupResponse](t, h, joinRequest(3, "g", ""))
	s := kmsg.NewPtrSyncGroupRequest()
	s.Version, s.Group, s.MemberID, s.Generation = 0, "g", j.MemberID, j.Generation
	s.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: j.MemberID, MemberAssignment: []byte("a")}}
	if r := call[*kmsg.SyncGroupResponse](t, h, s); r.ErrorCode != 0 || string(r.MemberAssignment) != "a" {
		t.Fatalf("v0 sync = %+v", r)
	}
	hb := &kmsg.HeartbeatRequest{Version: 4, Group: "g", MemberID: j.MemberID, Generation: j.Generation}
	wantGroupCode(t, "heartbeat", call[*kmsg.HeartbeatResponse](t, h, hb).ErrorCode, nil0)
	hb.Generation++
	wantGroupCode(t, "heartbeat", call[*kmsg.HeartbeatResponse](t, h, hb).ErrorCode, kerr.IllegalGeneration)

	// v0-v2: one member, error at the top.
	l := &kmsg.LeaveGroupRequest{Version: 2, Group: "g", MemberID: "nobody"}
	wantGroupCode(t, "v2 leave unknown", call[*kmsg.LeaveGroupResponse](t, h, l).ErrorCode, kerr.UnknownMemberID)
	// v3+: per-member errors.
	l3 := &kmsg.LeaveGroupRequest{Version: 5, Group: "g", Members: []kmsg.LeaveGroupRequestMember{
		{MemberID: j.MemberID, Reason: ptrTo("bye")}, {MemberID: "nobody"},
	}}
	r := call[*kmsg.LeaveGroupResponse](t, h, l3)
	if r.ErrorCode != 0 || len(r.Members) != 2 || r.Members[0].ErrorCode != 0 || r.Members[1].ErrorCode != kerr.UnknownMemberID.Code || r.Members[0].MemberID != j.MemberID {
		t.Fatalf("v5 leave = %+v", r)
	}
}

func TestOffsetFetchVersions(t *testing.T) {
	h := newGroupHandlers(t)
	errs, err := h.Groups.CommitOffsets(t.Context(), group.CommitRequest{Group: "g", Generation: -1, Offsets: []group.OffsetCommit{
		{TopicPartition: group.TopicPartition{Topic: "t", Partition: 0}, Offset: 7, LeaderEpoch: 2, Metadata: "m"},
		{TopicPartition: group.TopicPartition{Topic: "u", Partition: 1}, Offset: 9, LeaderEpoch: -1},
	}})
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatal(errs, err)
	}

	// v1: explicit partitions, unknown ones at -1.
	r := call[*kmsg.OffsetFetchResponse](t, h, &kmsg.OffsetFetchRequest{Version: 1, Group: "g",
		Topics: []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 5}}}})
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 2 || r.Topics[0].Partitions[0].Offset != 7 || r.Topics[0].Partitions[1].Offset != -1 {
		t.Fatalf("v1 fetch = %+v", r.Topics)
	}
	// v5: null topics = all, with leader epochs.
	r = call[*kmsg.OffsetFetchResponse](t, h, &kmsg.OffsetFetchRequest{Version: 5, Group: "g"})
	if r.ErrorCode != 0 || len(r.Topics) != 2 || r.Topics[0].Topic != "t" || r.Topics[0].Partitions[0].LeaderEpoch != 2 ||
		*r.Topics[0].Partitions[0].Metadata != "m" || r.Topics[1].Partitions[0].Offset != 9 {
		t.Fatalf("v5 fetch all = %+v", r.Topics)
	}
	// v8: several groups at once.
	r = call[*kmsg.OffsetFetchResponse](t, h, &kmsg.OffsetFetchRequest{Version: 8, Groups: []kmsg.OffsetFetchRequestGroup{
		{Group: "g", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "u", Partitions: []int32{1}}}},
		{Group: "other"},
	}})
	if len(r.Groups) != 2 || r.Groups[0].Topics[0].Partitions[0].Offset != 9 || len(r.Groups[1].Topics) != 0 || r.Groups[1].ErrorCode != 0 {
		t.Fatalf("v8 fetch = %+v", r.Groups)
	}
}

func TestDescribeListDeleteGroups(t *testing.T) {
	h := newGroupHandlers(t)
	j := call[*kmsg.JoinGroupResponse](t, h, joinRequest(3, "live", ""))
	s := &kmsg.SyncGroupRequest{Version: 3, Group: "live", MemberID: j.MemberID, Generation: j.Generation,
		GroupAssignment: []kmsg.SyncGroupRequestGroupAssignment{{MemberID: j.MemberID, MemberAssignment: []byte("a")}}}
	call[*kmsg.SyncGroupResponse](t, h, s)
	h.Groups.CommitOffsets(t.Context(), group.CommitRequest{Group: "idle", Generation: -1,
		Offsets: []group.OffsetCommit{{TopicPartition: group.TopicPartition{Topic: "t"}, Offset: 1}}})

	d := call[*kmsg.DescribeGroupsResponse](t, h, &kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"live", "missing"}, IncludeAuthorizedOperations: true})
	live, missing := d.Groups[0], d.Groups[1]
	if live.State != "Stable" || live.Protocol != "range" || len(live.Members) != 1 || string(live.Members[0].MemberAssignment) != "a" ||
		live.AuthorizedOperations != groupOperations {
		t.Fatalf("describe live = %+v", live)
	}
	if missing.ErrorCode != 0 || missing.State != "Dead" || missing.AuthorizedOperations != groupOperations {
		t.Fatalf("describe missing = %+v", missing)
	}
	if d := call[*kmsg.DescribeGroupsResponse](t, h, &kmsg.DescribeGroupsRequest{Version: 3, Groups: []string{"live"}}); d.Groups[0].AuthorizedOperations != -2147483648 {
		t.Fatalf("operations not asked for = %d", d.Groups[0].AuthorizedOperations)
	}

	l := call[*kmsg.ListGroupsResponse](t, h, &kmsg.ListGroupsRequest{Version: 5})
	if len(l.Groups) != 2 || l.Groups[0].Group != "idle" || l.Groups[0].GroupState != "Empty" || l.Groups[1].ProtocolType != "consumer" || l.Groups[1].GroupType != "classic" {
		t.Fatalf("list = %+v", l.Groups)
	}
	if l := call[*kmsg.ListGroupsResponse](t, h, &kmsg.ListGroupsRequest{Version: 4, StatesFilter: []string{"Stable"}}); len(l.Groups) != 1 || l.Groups[0].Group != "live" {
		t.Fatalf("list stable = %+v", l.Groups)
	}

	del := call[*kmsg.DeleteGroupsResponse](t, h, &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"live", "idle", "missing"}})
	wantGroupCode(t, "delete live", del.Groups[0].ErrorCode, kerr.NonEmptyGroup)
	wantGroupCode(t, "delete idle", del.Groups[1].ErrorCode, nil0)
	wantGroupCode(t, "delete missing", del.Groups[2].ErrorCode, kerr.GroupIDNotFound)
}

func TestGroupAPIsWithoutCoordinator(t *testing.T) {
	h := New(Deps{})
	wantGroupCode(t, "join", call[*kmsg.JoinGroupResponse](t, h, joinRequest(9, "g", "")).ErrorCode, kerr.CoordinatorNotAvailable)
	wantGroupCode(t, "heartbeat", call[*kmsg.HeartbeatResponse](t, h, &kmsg.HeartbeatRequest{Version: 4, Group: "g"}).ErrorCode, kerr.CoordinatorNotAvailable)
	r := call[*kmsg.OffsetFetchResponse](t, h, &kmsg.OffsetFetchRequest{Version: 1, Group: "g",
		Topics: []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}})
	if r.Topics[0].Partitions[0].ErrorCode != kerr.CoordinatorNotAvailable.Code || r.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("v1 fetch without coordinator = %+v", r.Topics)
	}
}
