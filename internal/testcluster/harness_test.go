package testcluster

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Every node names itself at its real cluster address and each peer at the
// proxy for that ordered pair, which forwards to the peer's real address.
func TestVotersRouteThroughProxies(t *testing.T) {
	c := prepare(t, Options{Brokers: 3, Set: map[string]string{"num.partitions": "2", "offsets.topic.num.partitions": ""}}, "/nonexistent")
	for _, n := range c.nodes {
		voters := argValue(t, n.args, "--voters")
		entries := strings.Split(voters, ",")
		if len(entries) != 3 {
			t.Fatalf("node %d voters %q: want 3 entries", n.id, voters)
		}
		for _, e := range entries {
			idStr, addr, _ := strings.Cut(e, "@")
			peer := int(idStr[0] - '0')
			if peer == n.id {
				if addr != n.clusterAddr {
					t.Errorf("node %d names itself at %s, want its cluster address %s", n.id, addr, n.clusterAddr)
				}
				continue
			}
			p := c.Proxy(n.id, peer)
			if addr != p.Addr() {
				t.Errorf("node %d names node %d at %s, want proxy %s", n.id, peer, addr, p.Addr())
			}
			if p.Target() != c.ClusterAddr(peer) {
				t.Errorf("proxy %d->%d forwards to %s, want %s", n.id, peer, p.Target(), c.ClusterAddr(peer))
			}
		}
		sets := allArgValues(n.args, "--set")
		for _, want := range []string{"broker.session.timeout.ms=1500", "broker.heartbeat.interval.ms=200", "replica.lag.time.max.ms=1500", "num.partitions=2"} {
			if !slices.Contains(sets, want) {
				t.Errorf("node %d: --set %s missing from %v", n.id, want, sets)
			}
		}
		for _, s := range sets {
			if strings.HasPrefix(s, "offsets.topic.num.partitions=") {
				t.Errorf("node %d: an empty Set value should drop the default, got --set %s", n.id, s)
			}
		}
		if got := argValue(t, n.args, "--node-id"); got != string(rune('0'+n.id)) {
			t.Errorf("node %d: --node-id %s", n.id, got)
		}
	}
}

// Cut and Heal act on both directions of one link; Isolate on all of a
// node's links; HealAll on every link.
func TestCutIsolateHeal(t *testing.T) {
	c := prepare(t, Options{Brokers: 3}, "/nonexistent")
	cut := func() []string {
		var out []string
		for l, p := range c.proxies {
			if p.IsCut() {
				out = append(out, string(rune('0'+l.from))+">"+string(rune('0'+l.to)))
			}
		}
		slices.Sort(out)
		return out
	}
	c.Cut(1, 2)
	if got := cut(); !slices.Equal(got, []string{"1>2", "2>1"}) {
		t.Fatalf("after Cut(1,2): cut links %v", got)
	}
	c.Heal(2, 1)
	if got := cut(); len(got) != 0 {
		t.Fatalf("after Heal(2,1): cut links %v", got)
	}
	c.Isolate(3)
	if got := cut(); !slices.Equal(got, []string{"1>3", "2>3", "3>1", "3>2"}) {
		t.Fatalf("after Isolate(3): cut links %v", got)
	}
	c.HealAll()
	if got := cut(); len(got) != 0 {
		t.Fatalf("after HealAll: cut links %v", got)
	}
}

// One real node: start, inspect, load, kill -9, restart, verify.
func TestSingleNodeKillRestartVerify(t *testing.T) {
	c := Start(t, Options{Brokers: 1})
	if got := c.Seeds(); len(got) != 1 || got[0] != c.KafkaAddr(1) {
		t.Fatalf("Seeds = %v", got)
	}
	if id := c.ControllerID(t); id != 1 {
		t.Fatalf("ControllerID = %d, want 1", id)
	}
	topic := topicName(t, "load")
	createTopic(t, c, topicSpec{Name: topic, Partitions: 3, RF: 1})
	if l := c.Leader(t, topic, 2); l != 1 {
		t.Fatalf("Leader = %d, want 1", l)
	}
	c.WaitHealthy(t, 20*time.Second)

	w := c.StartWorkload(t, WorkloadOptions{Topic: topic, Producers: 2, Rate: 200})
	w.WaitAcked(t, 100, 20*time.Second)
	c.Kill(1)
	if c.Running(1) {
		t.Fatal("Running(1) after Kill")
	}
	killed := time.Now()
	c.Restart(1)
	t.Logf("restart took %v", time.Since(killed).Round(time.Millisecond))
	c.WaitHealthy(t, 20*time.Second)
	w.WaitAcked(t, 100, 30*time.Second)
	rep := w.Verify(t)
	if rep.Acked < 200 || rep.Read < rep.Acked {
		t.Fatalf("verify read %d of %d acknowledged records (want >= 200 acked)", rep.Read, rep.Acked)
	}
	// Everything the node ever wrote is in one log file, both incarnations.
	if log := readFile(t, c.LogPath(1)); !strings.Contains(log, "node 1 incarnation 1 exited") || !strings.Contains(log, "node 1 incarnation 2 at") {
		t.Fatalf("log file does not show 2 incarnations:\n%s", c.LogTail(1, 20))
	}
}

// A paused node answers nothing; a resumed one answers again. Stop is a
// clean exit; Wipe empties the data directory, so the restarted node is a
// new cluster without the old topic.
func TestSingleNodePauseStopWipe(t *testing.T) {
	c := Start(t, Options{Brokers: 1})
	topic := topicName(t, "gone")
	createTopic(t, c, topicSpec{Name: topic, Partitions: 1, RF: 1})

	c.Pause(1)
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	_, err := c.NodeMetadata(ctx, 1)
	cancel()
	if err == nil {
		t.Fatal("a paused node answered Metadata")
	}
	if ok, why := c.Healthy(t.Context()); ok || !strings.Contains(why, "paused") {
		t.Fatalf("Healthy while paused = %v, %q", ok, why)
	}
	c.Resume(1)
	c.WaitHealthy(t, 20*time.Second)

	c.Stop(1)
	if c.Running(1) {
		t.Fatal("Running(1) after Stop")
	}
	if ok, why := c.Healthy(t.Context()); ok || !strings.Contains(why, "not running") {
		t.Fatalf("Healthy while stopped = %v, %q", ok, why)
	}
	if entries, _ := os.ReadDir(c.DataDir(1)); len(entries) == 0 {
		t.Fatal("data dir empty before Wipe")
	}
	c.Wipe(1)
	if entries, _ := os.ReadDir(c.DataDir(1)); len(entries) != 0 {
		t.Fatalf("data dir after Wipe holds %d entries", len(entries))
	}
	c.Restart(1)
	c.WaitHealthy(t, 20*time.Second)
	md, err := c.NodeMetadata(testContext(t, 10*time.Second), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range md.Topics {
		if tp.Topic != nil && *tp.Topic == topic {
			t.Fatalf("topic %s survived Wipe", topic)
		}
	}
	if _, err := os.Stat(filepath.Join(c.DataDir(1), "__cluster_metadata")); err != nil {
		t.Fatalf("restarted node has no metadata dir: %v", err)
	}
	// Raw requests reach the node through its own client.
	resp, err := c.Request(testContext(t, 10*time.Second), 1, kmsg.NewPtrApiVersionsRequest())
	if err != nil || resp.(*kmsg.ApiVersionsResponse).ErrorCode != 0 {
		t.Fatalf("ApiVersions: %v", err)
	}
}

func TestCheck(t *testing.T) {
	rec := func(p int32, off int64, prod, seq int) readRecord {
		return readRecord{p, off, encodeValue(prod, seq)}
	}
	ledger := map[recordID]position{
		{0, 0}: {0, 0}, {0, 1}: {0, 1}, {1, 0}: {1, 0}, {0, 2}: {0, 3},
	}
	clean := []readRecord{rec(0, 0, 0, 0), rec(0, 1, 0, 1), rec(0, 2, 1, 5), rec(0, 3, 0, 2), rec(1, 0, 1, 0),
		{0, 4, []byte("probe")}}
	rep := check(ledger, slices.Clone(clean))
	if len(rep.Problems) != 0 || rep.Acked != 4 || rep.Read != 5 || rep.UnackedPresent != 1 || rep.Foreign != 1 {
		t.Fatalf("clean: %+v", rep)
	}

	cases := []struct {
		name string
		read []readRecord
		want string
	}{
		{"missing", []readRecord{rec(0, 0, 0, 0), rec(0, 3, 0, 2), rec(1, 0, 1, 0)}, "w0:1 at partition 0 offset 1 is missing"},
		{"wrong offset", []readRecord{rec(0, 0, 0, 0), rec(0, 1, 1, 7), rec(0, 2, 0, 1), rec(0, 3, 0, 2), rec(1, 0, 1, 0)}, "found at partition 0 offset 2"},
		{"overwritten", []readRecord{rec(0, 0, 0, 0), rec(0, 1, 1, 9), rec(0, 3, 0, 2), rec(1, 0, 1, 0)}, "that offset holds w1:9"},
		{"duplicate", append(slices.Clone(clean), rec(1, 1, 0, 1)), "w0:1 appears twice"},
		{"reordered", []readRecord{rec(0, 0, 0, 0), rec(0, 1, 0, 1), rec(0, 2, 0, 7), rec(0, 3, 0, 2), rec(1, 0, 1, 0)}, "order lost"},
	}
	for _, tc := range cases {
		rep := check(ledger, tc.read)
		if !slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
			t.Errorf("%s: problems %q, want one containing %q", tc.name, rep.Problems, tc.want)
		}
	}
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := range 200 {
		b.WriteString(strings.Repeat("x", i%7) + "line\n")
	}
	os.WriteFile(path, []byte(b.String()), 0o644)
	got := tail(path, 80)
	if n := strings.Count(got, "\n") + 1; n != 80 {
		t.Fatalf("tail returned %d lines", n)
	}
	if !strings.HasSuffix(b.String(), got+"\n") {
		t.Fatal("tail is not the end of the file")
	}
	os.WriteFile(path, []byte("a\nb\n"), 0o644)
	if got := tail(path, 80); got != "a\nb" {
		t.Fatalf("short file: %q", got)
	}
}

func TestValueRoundTrip(t *testing.T) {
	for _, id := range []recordID{{0, 0}, {3, 123456}} {
		got, ok := decodeValue(encodeValue(id.producer, id.seq))
		if !ok || got != id {
			t.Fatalf("round trip %v: %v %v", id, got, ok)
		}
	}
	for _, bad := range []string{"", "probe", "w1", "wx:1", "w1:y"} {
		if _, ok := decodeValue([]byte(bad)); ok {
			t.Fatalf("%q decoded", bad)
		}
	}
}

func argValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("%s not in %v", flag, args)
	}
	return args[i+1]
}

func allArgValues(args []string, flag string) []string {
	var out []string
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			out = append(out, args[i+1])
		}
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The proxies carry the Raft traffic: isolating the quorum leader makes
// the other two elect a new one; killing that one moves leadership again;
// healing and restarting bring the cluster back to health.
func TestThreeNodeQuorumThroughProxies(t *testing.T) {
	c := Start(t, Options{Brokers: 3})
	c.WaitHealthy(t, 30*time.Second)
	first := c.ControllerID(t)

	c.Isolate(first)
	var second int
	c.WaitFor(t, 20*time.Second, "a new quorum leader after isolating the old one", func(ctx context.Context) (bool, string) {
		id, err := c.controllerID(ctx)
		if err != nil {
			return false, err.Error()
		}
		second = id
		return id != first, "leader still " + itoa(id)
	})
	for _, l := range c.proxies {
		if l.IsCut() && l.Conns() != 0 {
			t.Fatalf("a cut proxy carries %d connections", l.Conns())
		}
	}
	c.HealAll()
	c.WaitHealthy(t, 30*time.Second)

	c.Kill(second)
	c.WaitFor(t, 20*time.Second, "a new quorum leader after killing the old one", func(ctx context.Context) (bool, string) {
		id, err := c.controllerID(ctx)
		if err != nil {
			return false, err.Error()
		}
		return id != second && id > 0, "leader " + itoa(id)
	})
	c.Restart(second)
	c.WaitHealthy(t, 30*time.Second)
}

func itoa(n int) string { return strconv.Itoa(n) }
