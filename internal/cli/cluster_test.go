package cli

import (
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// The cluster commands run against a real single-node Spool broker: kfake
// has no metadata quorum. Multi-node behaviour (three brokers, drains that
// move replicas) is tested in internal/testcluster.

func TestClusterStatusSingleNode(t *testing.T) {
	addr := startSpool(t)
	h := newHarness(t, []string{addr})
	topic := topicName(t, "t")
	h.createTopic(topic, 2)

	out := h.mustRun("", "cluster", "status")
	for _, want := range []string{"controller 1", "Metadata quorum: leader 1", "under-replicated: 0, offline: 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	if !regexpLine(out, `^1\s+127\.0\.0\.1:\d+\s+-\s+alive$`) {
		t.Errorf("status output has no alive row for broker 1:\n%s", out)
	}

	var st clusterStatus
	if err := json.Unmarshal([]byte(h.mustRun("", "cluster", "status", "--json")), &st); err != nil {
		t.Fatalf("status --json: %v", err)
	}
	if len(st.Brokers) != 1 || st.Brokers[0].ID != 1 || st.Brokers[0].Fenced || !st.Brokers[0].Alive {
		t.Errorf("brokers = %+v, want broker 1 alive", st.Brokers)
	}
	if st.ControllerID != 1 {
		t.Errorf("controller = %d, want 1", st.ControllerID)
	}
	if st.Quorum == nil {
		t.Fatalf("no quorum in status (%s)", st.QuorumError)
	}
	if st.Quorum.LeaderID != 1 || len(st.Quorum.Voters) != 1 || st.Quorum.Voters[0].ID != 1 || st.Quorum.CommitIndex <= 0 {
		t.Errorf("quorum = %+v, want leader 1, one voter, a commit index", *st.Quorum)
	}
	if st.Partitions < 2 || len(st.UnderReplicated) != 0 || len(st.Offline) != 0 {
		t.Errorf("partitions %d, under-replicated %v, offline %v", st.Partitions, st.UnderReplicated, st.Offline)
	}
}

func TestClusterElectLeadersSingleNode(t *testing.T) {
	addr := startSpool(t)
	h := newHarness(t, []string{addr})
	topic := topicName(t, "t")
	h.createTopic(topic, 2)

	out := h.mustRun("", "cluster", "elect-leaders", "--topic", topic)
	for p := range 2 {
		line := topic + "[" + string(rune('0'+p)) + "]: "
		if !strings.Contains(out, line) || !strings.Contains(out, "ELECTION_NOT_NEEDED") {
			t.Errorf("elect-leaders output lacks %sELECTION_NOT_NEEDED:\n%s", line, out)
		}
	}
	out = h.mustRun("", "cluster", "elect-leaders", "--topic", topic, "--partition", "1")
	if strings.Contains(out, topic+"[0]") || !strings.Contains(out, topic+"[1]") {
		t.Errorf("--partition 1 output:\n%s", out)
	}
	if r := h.run("", "cluster", "elect-leaders", "--topic", topic, "--partition", "9"); r.code != ExitFailure || !strings.Contains(r.stderr, "no such partition") {
		t.Errorf("--partition 9: %s", r)
	}
}

func TestClusterUsageErrors(t *testing.T) {
	h := newHarness(t, []string{"127.0.0.1:1"}) // never reached
	for _, args := range [][]string{
		{"cluster"},
		{"cluster", "elect-leaders", "--type", "bogus"},
		{"cluster", "elect-leaders", "--partition", "0"},
		{"cluster", "drain"},
		{"topic", "reassign"},
		{"topic", "reassign", "--topic", "t", "--partition", "0"},
		{"topic", "reassign", "--topic", "t", "--partition", "0", "--replicas", "1,2", "--cancel"},
		{"topic", "reassign", "--topic", "t", "--partition", "0", "--replicas", "1,1"},
		{"topic", "reassign", "--topic", "t", "--partition", "0", "--replicas", "1,x"},
		{"topic", "reassign", "--list", "--cancel"},
	} {
		if r := h.run("", args...); r.code != ExitUsage {
			t.Errorf("spool %s: %s, want exit %d", strings.Join(args, " "), r, ExitUsage)
		}
	}
}

func TestTopicReassignSingleNode(t *testing.T) {
	addr := startSpool(t)
	h := newHarness(t, []string{addr})
	topic := topicName(t, "t")
	h.createTopic(topic, 1)

	if out := h.mustRun("", "topic", "reassign", "--list"); strings.TrimSpace(out) != "No reassignments in progress" {
		t.Errorf("reassign --list: %q", out)
	}
	if out := h.mustRun("", "topic", "reassign", "--list", "--topic", topic); strings.TrimSpace(out) != "No reassignments in progress" {
		t.Errorf("reassign --list --topic: %q", out)
	}
	// Moving to the replica it already has completes at once.
	out := h.mustRun("", "topic", "reassign", "--topic", topic, "--partition", "0", "--replicas", "1", "--wait")
	if !strings.Contains(out, "complete") {
		t.Errorf("reassign --wait: %q", out)
	}
	// A broker that does not exist is refused by the cluster.
	r := h.run("", "topic", "reassign", "--topic", topic, "--partition", "0", "--replicas", "7")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "reassignment failed") {
		t.Errorf("reassign to broker 7: %s", r)
	}
	r = h.run("", "topic", "reassign", "--topic", topic, "--partition", "0", "--cancel")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "NO_REASSIGNMENT_IN_PROGRESS") {
		t.Errorf("cancel with nothing in progress: %s", r)
	}
}

func TestClusterDrainOnlyBroker(t *testing.T) {
	addr := startSpool(t)
	h := newHarness(t, []string{addr})
	h.createTopic(topicName(t, "t"), 1)
	r := h.run("", "cluster", "drain", "--broker", "1")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "cannot drain broker 1") || !strings.Contains(r.stderr, "it is the only broker") {
		t.Errorf("drain the only broker: %s", r)
	}
	r = h.run("", "cluster", "drain", "--broker", "7")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "unknown broker") {
		t.Errorf("drain broker 7: %s", r)
	}
}

func TestPlanDrain(t *testing.T) {
	md := kadm.Metadata{
		Brokers: kadm.BrokerDetails{{NodeID: 1}, {NodeID: 2}, {NodeID: 3}, {NodeID: 4}},
		Topics: kadm.TopicDetails{
			"a": {Topic: "a", Partitions: kadm.PartitionDetails{
				0: {Partition: 0, Replicas: []int32{1, 2}},
				1: {Partition: 1, Replicas: []int32{2, 3}},
				2: {Partition: 2, Replicas: []int32{3, 1}},
			}},
			"b": {Topic: "b", Partitions: kadm.PartitionDetails{
				0: {Partition: 0, Replicas: []int32{1, 4, 2}},
			}},
		},
	}
	plan, err := planDrain(1, md)
	if err != nil {
		t.Fatal(err)
	}
	// Loads before: 2->3, 3->2, 4->1. a[0] [1,2]: candidates 3(2),4(1) -> 4.
	// a[2] [3,1]: candidates 2(3),4(2) -> 4. b[0] [1,4,2]: only 3 -> 3.
	want := []move{
		{"a", 0, []int32{1, 2}, []int32{4, 2}},
		{"a", 2, []int32{3, 1}, []int32{3, 4}},
		{"b", 0, []int32{1, 4, 2}, []int32{3, 4, 2}},
	}
	if len(plan) != len(want) {
		t.Fatalf("plan %+v, want %+v", plan, want)
	}
	for i := range want {
		if plan[i].topic != want[i].topic || plan[i].partition != want[i].partition || !slices.Equal(plan[i].to, want[i].to) {
			t.Errorf("move %d = %+v, want %+v", i, plan[i], want[i])
		}
	}

	// RF 3 on three brokers: nowhere to go.
	md.Brokers = md.Brokers[:3]
	delete(md.Topics, "a")
	md.Topics["b"].Partitions[0] = kadm.PartitionDetail{Partition: 0, Replicas: []int32{1, 3, 2}}
	if _, err := planDrain(1, md); !errors.Is(err, ErrNoDrainTarget) || !strings.Contains(err.Error(), "b[0]") {
		t.Errorf("undrainable: %v", err)
	}
	if _, err := planDrain(9, md); !errors.Is(err, ErrUnknownBroker) {
		t.Errorf("unknown broker: %v", err)
	}
	// A broker missing from Metadata (fenced) that still holds replicas
	// can be drained.
	md.Brokers = kadm.BrokerDetails{{NodeID: 2}, {NodeID: 3}, {NodeID: 4}}
	md.Topics["b"].Partitions[0] = kadm.PartitionDetail{Partition: 0, Replicas: []int32{1, 3}}
	plan, err = planDrain(1, md)
	if err != nil || len(plan) != 1 || !slices.Equal(plan[0].to, []int32{2, 3}) {
		t.Errorf("drain a fenced broker: %+v, %v", plan, err)
	}
}

// regexpLine reports whether any line of out matches pattern.
func regexpLine(out, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for line := range strings.SplitSeq(out, "\n") {
		if re.MatchString(strings.TrimRight(line, " ")) {
			return true
		}
	}
	return false
}
