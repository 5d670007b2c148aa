package cli

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/broker"
	"github.com/spool-mq/spool/internal/config"
)

// groupTestTimeout bounds each group scenario, so a hung rebalance fails
// with a message instead of stalling the package.
const groupTestTimeout = 60 * time.Second

// startSpool starts a real single-node Spool broker for the group tests
// (kfake, the default test cluster, is not the broker under test). Groups
// rebalance at once and __consumer_offsets has few partitions, to keep the
// tests quick.
func startSpool(t *testing.T) string {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.ControllerAddr = "127.0.0.1:0"
	cfg.HTTPAddr = ""
	cfg.AutoCreateTopics = false
	cfg.OffsetsTopicNumPartitions = 3
	cfg.GroupInitialRebalanceDelayMs = 0
	cfg.GroupMinSessionTimeoutMs = 100
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg, broker.Options{})
	if err != nil {
		t.Fatalf("starting the broker: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing the broker: %v", err)
		}
	})
	return b.KafkaAddr()
}

// groupFixture is a broker with a 3-partition topic holding records 0-9 in
// every partition.
type groupFixture struct {
	t     *testing.T
	ctx   context.Context
	h     *harness
	addr  string
	topic string
	adm   *kadm.Client
}

func newGroupFixture(t *testing.T) *groupFixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), groupTestTimeout)
	t.Cleanup(cancel)
	addr := startSpool(t)
	f := &groupFixture{t: t, ctx: ctx, h: newHarness(t, []string{addr}), addr: addr, topic: topicName(t, "orders")}
	f.h.createTopic(f.topic, 3)
	for p := range 3 {
		var lines strings.Builder
		for i := range 10 {
			fmt.Fprintf(&lines, "p%d-r%d\n", p, i)
		}
		f.h.mustRun(lines.String(), "produce", f.topic, "--partition", fmt.Sprint(p))
	}
	adminClient, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adminClient.Close)
	f.adm = kadm.NewClient(adminClient)
	return f
}

// consumer joins group with franz-go and reads until it has n records. It
// starts from the log start where the group has no committed offset and
// never commits on its own. Close it to leave the group.
func (f *groupFixture) consumer(group string, n int) (*kgo.Client, []*kgo.Record) {
	f.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.addr), kgo.ClientID("group-cli-test"),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(f.topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(cl.Close)
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(f.ctx)
		if f.ctx.Err() != nil {
			f.t.Fatalf("group %s: read %d of %d records before the deadline", group, len(recs), n)
		}
		for _, e := range fs.Errors() {
			f.t.Fatalf("group %s: fetch error on %s[%d]: %v", group, e.Topic, e.Partition, e.Err)
		}
		recs = append(recs, fs.Records()...)
	}
	return cl, recs
}

// commit commits offsets as a member of cl's group.
func (f *groupFixture) commit(cl *kgo.Client, offsets map[int32]int64) {
	f.t.Helper()
	m := make(map[int32]kgo.EpochOffset)
	for p, o := range offsets {
		m[p] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var commitErr error
	cl.CommitOffsetsSync(f.ctx, map[string]map[int32]kgo.EpochOffset{f.topic: m},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
			if err == nil {
				for _, t := range resp.Topics {
					for _, p := range t.Partitions {
						if p.ErrorCode != 0 && commitErr == nil {
							commitErr = fmt.Errorf("partition %d: error code %d", p.Partition, p.ErrorCode)
						}
					}
				}
			}
		})
	if commitErr != nil {
		f.t.Fatalf("committing %v: %v", offsets, commitErr)
	}
}

// committed returns the group's committed offsets of the topic, asked
// directly with kadm rather than through the command under test.
func (f *groupFixture) committed(group string) map[int32]int64 {
	f.t.Helper()
	resps, err := f.adm.FetchOffsets(f.ctx, group)
	if err != nil {
		f.t.Fatalf("fetching offsets of %s: %v", group, err)
	}
	out := make(map[int32]int64)
	resps.Each(func(r kadm.OffsetResponse) {
		if r.Err != nil {
			f.t.Fatalf("fetching offsets of %s: %s[%d]: %v", group, r.Topic, r.Partition, r.Err)
		}
		if r.Topic == f.topic && r.At >= 0 {
			out[r.Partition] = r.At
		}
	})
	return out
}

func (f *groupFixture) wantCommitted(group string, want map[int32]int64) {
	f.t.Helper()
	if got := f.committed(group); !mapsEqual(got, want) {
		f.t.Fatalf("group %s committed %v, want %v", group, got, want)
	}
}

func mapsEqual(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// tableRows returns the fields of the lines of out whose first field is
// key, keyed by their second field (the partition in per-partition tables).
func tableRows(out, key string) map[string][]string {
	rows := make(map[string][]string)
	for l := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == key {
			rows[f[1]] = f
		}
	}
	return rows
}

// TestGroupDescribeAndList: list and describe show a live franz-go group's
// state, member, assignment, committed offsets and lag; once the consumer
// leaves, the group is Empty and shows its offsets and commit metadata
// without a member.
func TestGroupDescribeAndList(t *testing.T) {
	f := newGroupFixture(t)
	group := topicName(t, "g")
	cl, recs := f.consumer(group, 30)
	if len(recs) != 30 {
		t.Fatalf("consumer read %d records, want 30", len(recs))
	}
	f.commit(cl, map[int32]int64{0: 4, 1: 10, 2: 7})

	out := f.h.mustRun("", "group", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if strings.Join(strings.Fields(lines[0]), " ") != "GROUP STATE PROTOCOL-TYPE MEMBERS" {
		t.Fatalf("list header: %q", lines[0])
	}
	if row := findRow(lines, group); strings.Join(row, " ") != group+" Stable consumer 1" {
		t.Fatalf("list row for %s: %q in\n%s", group, row, out)
	}
	if out := f.h.mustRun("", "group", "list", "--state", "empty,dead"); strings.Contains(out, group) {
		t.Fatalf("--state Empty,Dead lists the stable group:\n%s", out)
	}
	if out := f.h.mustRun("", "group", "list", "--state", "Stable"); !strings.Contains(out, group) {
		t.Fatalf("--state Stable does not list the group:\n%s", out)
	}

	out = f.h.mustRun("", "group", "describe", group)
	for _, want := range []string{"Group: " + group + "\n", "State: Stable\n", "Protocol type: consumer\n", "Members: 1\n", "Total lag: 9\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	// MEMBER-ID INSTANCE-ID CLIENT-ID HOST ASSIGNED
	var member []string
	for l := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(l); len(f) == 5 && f[2] == "group-cli-test" {
			member = f
		}
	}
	if member == nil || member[1] != "-" || !strings.Contains(member[3], "127.0.0.1") || member[4] != f.topic+":0,1,2" {
		t.Fatalf("describe member row %q in:\n%s", member, out)
	}
	// TOPIC PARTITION COMMITTED LOG-END LAG MEMBER METADATA. franz-go
	// stores its member id as the commit metadata.
	committed, err := f.adm.FetchOffsets(f.ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	rows := tableRows(out, f.topic)
	for p, want := range map[int32]string{0: "4 10 6", 1: "10 10 0", 2: "7 10 3"} {
		c, _ := committed.Lookup(f.topic, p)
		r := rows[fmt.Sprint(p)]
		if len(r) != 7 || strings.Join(r[2:5], " ") != want || r[5] != member[0] || r[6] != metadataCell(c.Metadata) {
			t.Errorf("partition %d row %q, want committed/end/lag %s owned by %s with metadata %q:\n%s", p, r, want, member[0], c.Metadata, out)
		}
	}

	cl.Close() // leaves the group
	if _, err := f.adm.CommitOffsets(f.ctx, group, kadm.Offsets{f.topic: {2: {Topic: f.topic, Partition: 2, At: 8, LeaderEpoch: -1, Metadata: "checkpoint 8"}}}); err != nil {
		t.Fatalf("committing metadata to the empty group: %v", err)
	}
	out = f.h.mustRun("", "group", "describe", group)
	if !strings.Contains(out, "State: Empty\n") || !strings.Contains(out, "Members: 0\n") || strings.Contains(out, "MEMBER-ID") {
		t.Fatalf("describe after the consumer left:\n%s", out)
	}
	rows = tableRows(out, f.topic)
	if r := rows["0"]; len(r) != 7 || strings.Join(r[:6], " ") != f.topic+" 0 4 10 6 -" {
		t.Errorf("empty group partition 0 row %q:\n%s", r, out)
	}
	if r := rows["2"]; !strings.HasSuffix(strings.Join(r, " "), ` 2 8 10 2 - "checkpoint 8"`) {
		t.Errorf("empty group partition 2 row %q (want the commit metadata):\n%s", r, out)
	}
	if out := f.h.mustRun("", "group", "list", "--state", "Empty"); findRow(strings.Split(out, "\n"), group) == nil {
		t.Errorf("--state Empty does not list the group that was left:\n%s", out)
	}

	// An unknown group is an error, not an empty description; the groups
	// that exist are still shown.
	r := f.h.run("", "group", "describe", "no-such-group", group)
	if r.code != ExitFailure || !strings.Contains(r.stderr, `spool: group "no-such-group": no such group`) || !strings.Contains(r.stdout, "Group: "+group) {
		t.Fatalf("describe of an unknown group: %s", r)
	}
}

// TestGroupResetOffsets: a dry run prints the plan and changes nothing; an
// active group is refused; --execute on the empty group commits the plan,
// and a consumer of the group resumes there.
func TestGroupResetOffsets(t *testing.T) {
	f := newGroupFixture(t)
	group := topicName(t, "g")
	cl, _ := f.consumer(group, 30)
	f.commit(cl, map[int32]int64{0: 4, 1: 10, 2: 7})
	before := map[int32]int64{0: 4, 1: 10, 2: 7}

	// Active: refused in either mode, nothing changes.
	for _, mode := range []string{"--dry-run", "--execute"} {
		r := f.h.run("", "group", "reset-offsets", group, "--topic", f.topic, "--to-earliest", mode)
		if r.code != ExitFailure || !strings.Contains(r.stderr, "group is active: it is Stable with 1 member") || r.stdout != "" {
			t.Fatalf("reset %s of an active group: %s", mode, r)
		}
	}
	f.wantCommitted(group, before)
	r := f.h.run("", "group", "delete", group)
	if r.code != ExitFailure || !strings.Contains(r.stderr, `spool: group "`+group+`": NON_EMPTY_GROUP`) {
		t.Fatalf("delete of an active group: %s", r)
	}
	cl.Close()

	plan := func(r result) string {
		t.Helper()
		var rows []string
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
			rows = append(rows, strings.Join(strings.Fields(l), " "))
		}
		return strings.Join(rows, "; ")
	}
	// Dry runs (explicit, or by default) print the plan and change nothing.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--topic", f.topic, "--to-earliest", "--dry-run"}, "0 4 0; 1 10 0; 2 7 0"},
		{[]string{"--topic", f.topic + ":2", "--to-latest"}, "2 7 10"},
		{[]string{"--all-topics", "--shift-by", "-5"}, "0 4 0; 1 10 5; 2 7 2"},
		{[]string{"--all-topics", "--shift-by", "9223372036854775807"}, "0 4 10; 1 10 10; 2 7 10"},
		{[]string{"--topic", f.topic + ":0,1", "--to-offset", "1000"}, "0 4 10; 1 10 10"},
		{[]string{"--topic", f.topic + ":1", "--topic", f.topic + ":0", "--to-offset", "3"}, "0 4 3; 1 10 3"},
		{[]string{"--topic", f.topic, "--to-datetime", "@0"}, "0 4 0; 1 10 0; 2 7 0"},
		{[]string{"--topic", f.topic, "--to-datetime", "2999-01-01T00:00:00Z"}, "0 4 10; 1 10 10; 2 7 10"},
	} {
		r := f.h.run("", append([]string{"group", "reset-offsets", group}, tc.args...)...)
		header := strings.Fields(strings.SplitN(r.stdout, "\n", 2)[0])
		if r.code != ExitOK || strings.Join(header, " ") != "TOPIC PARTITION CURRENT NEW" || !strings.Contains(r.stderr, "Dry run") {
			t.Fatalf("reset %v: %s", tc.args, r)
		}
		if got := strings.ReplaceAll(plan(r), f.topic+" ", ""); got != tc.want {
			t.Errorf("reset %v plan %q, want %q", tc.args, got, tc.want)
		}
	}
	f.wantCommitted(group, before)

	// Execute: only the named partitions change.
	f.h.mustRun("", "group", "reset-offsets", group, "--topic", f.topic+":0,1", "--to-offset", "5", "--execute")
	f.wantCommitted(group, map[int32]int64{0: 5, 1: 5, 2: 7})
	f.h.mustRun("", "group", "reset-offsets", group, "--all-topics", "--shift-by", "-2", "--execute")
	f.wantCommitted(group, map[int32]int64{0: 3, 1: 3, 2: 5})

	// The consumer resumes at the new offsets (it would start at 0
	// without them).
	cl, recs := f.consumer(group, 7+7+5)
	first := make(map[int32]int64)
	for _, r := range recs {
		if o, ok := first[r.Partition]; !ok || r.Offset < o {
			first[r.Partition] = r.Offset
		}
	}
	if !mapsEqual(first, map[int32]int64{0: 3, 1: 3, 2: 5}) || len(recs) != 19 {
		t.Fatalf("after the reset the consumer started at %v and read %d records; want 3, 3, 5 and 19", first, len(recs))
	}
	cl.Close()

	// A group nobody has used yet (Dead) can be given offsets up front.
	fresh := topicName(t, "fresh")
	f.h.mustRun("", "group", "reset-offsets", fresh, "--topic", f.topic, "--to-latest", "--execute")
	f.wantCommitted(fresh, map[int32]int64{0: 10, 1: 10, 2: 10})
	// --shift-by needs a committed offset to shift from.
	r = f.h.run("", "group", "reset-offsets", topicName(t, "unused"), "--topic", f.topic, "--shift-by", "1")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "no committed offset to shift") {
		t.Fatalf("--shift-by on a group without offsets: %s", r)
	}
	// Partitions are checked against the topic.
	r = f.h.run("", "group", "reset-offsets", group, "--topic", f.topic+":3", "--to-earliest")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "partition 3: no such partition") {
		t.Fatalf("reset of a partition the topic lacks: %s", r)
	}
	r = f.h.run("", "group", "reset-offsets", group, "--topic", "no-such-topic", "--to-earliest")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("reset of an unknown topic: %s", r)
	}
}

// TestGroupDeleteOffsetsAndDelete: delete-offsets removes only the named
// partitions' offsets; delete removes an empty group entirely.
func TestGroupDeleteOffsetsAndDelete(t *testing.T) {
	f := newGroupFixture(t)
	group := topicName(t, "g")
	f.h.mustRun("", "group", "reset-offsets", group, "--topic", f.topic, "--to-offset", "6", "--execute")
	f.wantCommitted(group, map[int32]int64{0: 6, 1: 6, 2: 6})

	out := f.h.mustRun("", "group", "delete-offsets", group, "--topic", f.topic+":1")
	if out != fmt.Sprintf("Deleted committed offset of group %q for %s[1]\n", group, f.topic) {
		t.Fatalf("delete-offsets output %q", out)
	}
	f.wantCommitted(group, map[int32]int64{0: 6, 2: 6})

	out = f.h.mustRun("", "group", "delete", group)
	if out != fmt.Sprintf("Deleted group %q\n", group) {
		t.Fatalf("delete output %q", out)
	}
	f.wantCommitted(group, map[int32]int64{})
	if r := f.h.run("", "group", "describe", group); r.code != ExitFailure || !strings.Contains(r.stderr, "no such group") {
		t.Fatalf("describe of the deleted group: %s", r)
	}
	r := f.h.run("", "group", "delete", group)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "GROUP_ID_NOT_FOUND") {
		t.Fatalf("deleting the group again: %s", r)
	}
	r = f.h.run("", "group", "delete-offsets", group, "--topic", f.topic)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "GROUP_ID_NOT_FOUND") {
		t.Fatalf("delete-offsets of a deleted group: %s", r)
	}
}

// Mistakes in a group command line exit 2 without contacting the cluster
// (the harness points at a port nothing listens on).
func TestGroupUsageErrors(t *testing.T) {
	h := newHarness(t, []string{"127.0.0.1:1"})
	reset := func(args ...string) []string { return append([]string{"group", "reset-offsets", "g"}, args...) }
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"group"}, `"spool group" needs one of: delete, delete-offsets, describe, list, reset-offsets`},
		{[]string{"group", "list", "--state", "Running"}, `--state "Running": want one of PreparingRebalance, CompletingRebalance, Stable, Dead, Empty`},
		{[]string{"group", "list", "x"}, "want no arguments"},
		{[]string{"group", "describe"}, "want at least one GROUP"},
		{[]string{"group", "delete"}, "want at least one GROUP"},
		{[]string{"group", "delete-offsets", "g"}, "name the offsets to delete with --topic"},
		{[]string{"group", "delete-offsets", "g", "--topic", "t:x"}, `--topic "t:x": partition "x" is not a partition number`},
		{[]string{"group", "reset-offsets", "--topic", "t", "--to-earliest"}, "want one GROUP, got 0"},
		{reset("--topic", "t"), "no reset target: give one of --to-earliest"},
		{reset("--topic", "t", "--to-earliest", "--to-latest"), "--to-earliest and --to-latest: give only one reset target"},
		{reset("--topic", "t", "--to-offset", "3", "--shift-by", "1"), "--to-offset and --shift-by: give only one reset target"},
		{reset("--topic", "t", "--to-offset", "-1"), "--to-offset -1: must not be negative"},
		{reset("--topic", "t", "--to-offset", "x"), `invalid argument "x" for "--to-offset"`},
		{reset("--topic", "t", "--to-datetime", "yesterday"), `--to-datetime "yesterday": want an RFC 3339 time`},
		{reset("--topic", "t", "--to-datetime", "2026-11-22T10:00:00"), `--to-datetime "2026-11-22T10:00:00"`},
		{reset("--topic", "t", "--to-datetime", "1969-12-31T23:59:59Z"), `--to-datetime "1969-12-31T23:59:59Z"`},
		{reset("--topic", "t", "--to-datetime", "@-5"), `--to-datetime "@-5"`},
		{reset("--to-earliest"), "name the partitions to reset with --topic"},
		{reset("--topic", "t", "--all-topics", "--to-earliest"), "--topic and --all-topics cannot be combined"},
		{reset("--topic", "t", "--to-earliest", "--dry-run", "--execute"), "--dry-run and --execute cannot be combined"},
		{reset("--topic", "t:", "--to-earliest"), `--topic "t:": partition "" is not a partition number`},
		{reset("--topic", ":0", "--to-earliest"), `--topic ":0": want TOPIC or TOPIC:PARTITION`},
		{reset("--topic", "t:-1", "--to-earliest"), `--topic "t:-1": partition "-1"`},
	} {
		r := h.run("", tc.args...)
		if r.code != ExitUsage || !strings.HasPrefix(r.stderr, "spool: ") || !strings.Contains(strings.SplitN(r.stderr, "\n", 2)[0], tc.msg) ||
			!strings.Contains(r.stderr, "--help' for usage.") || r.stdout != "" {
			t.Errorf("spool %s: want exit 2 and %q; got %s", strings.Join(tc.args, " "), tc.msg, r)
		}
	}
	for _, args := range [][]string{{"group", "--help"}, {"group", "reset-offsets", "--help"}, {"group", "describe", "--help"}} {
		if r := h.run("", args...); r.code != ExitOK || !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("spool %s: %s", strings.Join(args, " "), r)
		}
	}
}

func TestResetTargetNewOffset(t *testing.T) {
	// The partition holds [10, 20).
	for _, tc := range []struct {
		target           resetTarget
		current, atTime  int64
		want             int64
		wantNoCommitment bool
	}{
		{resetTarget{kind: resetEarliest}, 15, -1, 10, false},
		{resetTarget{kind: resetLatest}, 15, -1, 20, false},
		{resetTarget{kind: resetOffset, n: 12}, -1, -1, 12, false},
		{resetTarget{kind: resetOffset, n: 3}, 15, -1, 10, false},  // deleted: clamped up
		{resetTarget{kind: resetOffset, n: 99}, 15, -1, 20, false}, // beyond the end: clamped down
		{resetTarget{kind: resetTime, n: 1}, 15, 13, 13, false},
		{resetTarget{kind: resetTime, n: 1}, 15, -1, 20, false}, // nothing that new: the end
		{resetTarget{kind: resetShift, n: -2}, 15, -1, 13, false},
		{resetTarget{kind: resetShift, n: -100}, 15, -1, 10, false},
		{resetTarget{kind: resetShift, n: math.MaxInt64}, 15, -1, 20, false},
		{resetTarget{kind: resetShift, n: 0}, 25, -1, 20, false}, // committed past the end
		{resetTarget{kind: resetShift, n: 1}, -1, -1, 0, true},
	} {
		got, err := tc.target.newOffset(tc.current, 10, 20, tc.atTime)
		if tc.wantNoCommitment {
			if err == nil || !strings.Contains(err.Error(), ErrNoOffsets.Error()) {
				t.Errorf("%+v from %d: got %d, %v; want ErrNoOffsets", tc.target, tc.current, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v from %d (atTime %d): got %d, %v; want %d", tc.target, tc.current, tc.atTime, got, err, tc.want)
		}
	}
}

func TestParseTopicPartitions(t *testing.T) {
	got, err := parseTopicPartitions([]string{"a:2,0", "b", "a:1,2", "c:5", "c", "b:3"})
	if err != nil {
		t.Fatal(err)
	}
	want := []topicPartitions{{"a", []int32{0, 1, 2}}, {"b", nil}, {"c", nil}}
	if !slices.EqualFunc(got, want, func(x, y topicPartitions) bool {
		return x.topic == y.topic && slices.Equal(x.partitions, y.partitions) && (x.partitions == nil) == (y.partitions == nil)
	}) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestParseDatetime(t *testing.T) {
	for in, want := range map[string]int64{
		"@0":                            0,
		"@1700000000000":                1700000000000,
		"2026-11-22T10:00:00Z":          time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).UnixMilli(),
		"2026-11-22T11:00:00.250+01:00": time.Date(2026, 11, 22, 10, 0, 0, 250e6, time.UTC).UnixMilli(),
	} {
		if got, err := parseDatetime(in); err != nil || got != want {
			t.Errorf("parseDatetime(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestMetadataCell(t *testing.T) {
	for in, want := range map[string]string{"": "-", "ckpt-8": "ckpt-8", "a b": `"a b"`, "tab\there": `"tab\there"`} {
		if got := metadataCell(in); got != want {
			t.Errorf("metadataCell(%q) = %q, want %q", in, got, want)
		}
	}
}
