package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func TestTopicLifecycle(t *testing.T) {
	h := newHarness(t, testCluster(t))
	name := topicName(t, "orders")

	out := h.mustRun("", "topic", "create", name, "--partitions", "3", "--replication-factor", "1",
		"--config", "retention.ms=3600000", "--config", "cleanup.policy=compact")
	if !strings.Contains(out, `Created topic "`+name+`" (3 partitions, replication factor 1`) {
		t.Fatalf("create output: %q", out)
	}

	// Creating it again fails with the broker's code, unless --if-not-exists.
	r := h.run("", "topic", "create", name, "--partitions", "3")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `spool: topic "`+name+`": TOPIC_ALREADY_EXISTS`) {
		t.Fatalf("duplicate create: %s", r)
	}
	out = h.mustRun("", "topic", "create", name, "--partitions", "3", "--if-not-exists")
	if !strings.Contains(out, "already exists") {
		t.Fatalf("--if-not-exists output: %q", out)
	}

	// list: a table row with name, partitions, RF and a non-empty id.
	out = h.mustRun("", "topic", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME PARTITIONS RF ID" {
		t.Fatalf("list header: %q", lines[0])
	}
	row := findRow(lines, name)
	if row == nil || row[1] != "3" || row[2] != "1" || len(row) != 4 {
		t.Fatalf("list row for %s: %q in\n%s", name, row, out)
	}
	// Topic ids print as Kafka's tools print them: 22 chars of unpadded
	// URL-safe base64.
	id := row[3]
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(id) {
		t.Fatalf("topic id %q is not unpadded URL-safe base64", id)
	}

	// Write two records to partition 1 so describe has offsets to show.
	h.mustRun("a\nb\n", "produce", name, "--partition", "1")

	out = h.mustRun("", "topic", "describe", name)
	for _, want := range []string{
		"Topic: " + name + "\n",
		"ID: " + id + "\n",
		"Partitions: 3\n",
		"Replication factor: 1\n",
		"cleanup.policy=compact",
		"retention.ms=3600000",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	lines = strings.Split(out, "\n")
	// PARTITION LEADER EPOCH REPLICAS ISR LOG-START LOG-END
	for p, wantEnd := range []string{"0", "2", "0"} {
		row := findRow(lines, []string{"0", "1", "2"}[p])
		if row == nil || len(row) < 7 {
			t.Fatalf("describe: no row for partition %d:\n%s", p, out)
		}
		if row[5] != "0" || row[6] != wantEnd {
			t.Errorf("partition %d offsets: start %s end %s, want 0 %s", p, row[5], row[6], wantEnd)
		}
		if row[3] != row[1] || row[4] != row[1] {
			t.Errorf("partition %d: leader %s, replicas %s, isr %s: want a single replica that leads", p, row[1], row[3], row[4])
		}
	}

	out = h.mustRun("", "topic", "alter-config", name, "--set", "retention.ms=1000", "--delete", "cleanup.policy")
	if !strings.Contains(out, "set retention.ms=1000, deleted cleanup.policy") {
		t.Fatalf("alter-config output: %q", out)
	}
	out = h.mustRun("", "topic", "describe", name)
	if !strings.Contains(out, "retention.ms=1000") || strings.Contains(out, "cleanup.policy=compact") {
		t.Fatalf("describe after alter-config:\n%s", out)
	}

	out = h.mustRun("", "topic", "delete", name)
	if out != `Deleted topic "`+name+`"`+"\n" {
		t.Fatalf("delete output: %q", out)
	}
	if row := findRow(strings.Split(h.mustRun("", "topic", "list"), "\n"), name); row != nil {
		t.Fatalf("topic still listed after delete: %q", row)
	}
}

func TestTopicUnknown(t *testing.T) {
	h := newHarness(t, testCluster(t))
	missing := topicName(t, "missing")
	for _, args := range [][]string{
		{"topic", "describe", missing},
		{"topic", "delete", missing},
		{"topic", "alter-config", missing, "--set", "retention.ms=1"},
		{"produce", missing},
		{"consume", missing, "--exit"},
	} {
		r := h.run("x\n", args...)
		want := `spool: topic "` + missing + `": UNKNOWN_TOPIC_OR_PARTITION: `
		if r.code != ExitFailure || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("spool %s: want exit 1 and one line starting %q, got %s", strings.Join(args, " "), want, r)
		}
	}
}

// describe of several topics shows the ones that exist and fails for the rest.
func TestTopicDescribePartial(t *testing.T) {
	h := newHarness(t, testCluster(t))
	name, missing := topicName(t, "here"), topicName(t, "gone")
	h.createTopic(name, 1)
	r := h.run("", "topic", "describe", name, missing)
	if r.code != ExitFailure || !strings.Contains(r.stdout, "Topic: "+name) ||
		!strings.Contains(r.stderr, `topic "`+missing+`": UNKNOWN_TOPIC_OR_PARTITION`) {
		t.Fatalf("describe existing+missing: %s", r)
	}
}

func TestTopicCreateRefused(t *testing.T) {
	h := newHarness(t, testCluster(t))
	name := topicName(t, "rf")
	// No test cluster has 1000 brokers.
	r := h.run("", "topic", "create", name, "--replication-factor", "1000")
	if r.code != ExitFailure || !strings.HasPrefix(r.stderr, `spool: topic "`+name+`": INVALID_REPLICATION_FACTOR`) {
		t.Fatalf("create with impossible replication factor: %s", r)
	}
}

func TestTopicListInternal(t *testing.T) {
	h := newHarness(t, testCluster(t))
	internal := internalTopic(t, h)
	row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(internal) + `\s`)
	if out := h.mustRun("", "topic", "list"); row.MatchString(out) {
		t.Errorf("list without --internal shows %s:\n%s", internal, out)
	}
	if out := h.mustRun("", "topic", "list", "--internal"); !row.MatchString(out) {
		t.Errorf("list --internal lacks %s:\n%s", internal, out)
	}
	if out := h.mustRun("", "topic", "describe", internal); !strings.Contains(out, "Internal: true") {
		t.Errorf("describe %s does not say it is internal:\n%s", internal, out)
	}
}

// internalTopic makes sure the cluster has an internal topic and returns its
// name. A real broker creates __consumer_offsets when a group first commits;
// kfake has no such topic but marks any topic internal on request.
func internalTopic(t *testing.T, h *harness) string {
	t.Helper()
	if os.Getenv(testBrokersEnv) == "" {
		name := topicName(t, "internal")
		h.mustRun("", "topic", "create", name, "--config", "kfake.is_internal=true")
		return name
	}
	name := topicName(t, "grp")
	h.createTopic(name, 1)
	h.mustRun("v\n", "produce", name)
	h.mustRun("", "consume", name, "--group", topicName(t, "g"), "--count", "1")
	return "__consumer_offsets"
}

// A broker without DescribeConfigs (as Spool was at first) still gets its
// partitions described; the missing part is reported and the exit is 1.
func TestTopicDescribeWithoutConfigsAPI(t *testing.T) {
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(kmsg.DescribeConfigs.Int16(), -1)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.MaxVersions(versions))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := newHarness(t, c.ListenAddrs())
	name := topicName(t, "nocfg")
	h.createTopic(name, 2)

	r := h.run("", "topic", "describe", name)
	if r.code != ExitFailure || !strings.Contains(r.stdout, "Configs: (unavailable)\n") ||
		findRow(strings.Split(r.stdout, "\n"), "1") == nil ||
		!strings.HasPrefix(r.stderr, "spool: configs: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("describe without DescribeConfigs: %s", r)
	}
}

func TestNonDefaultConfigs(t *testing.T) {
	v := func(s string) *string { return &s }
	got := nonDefaultConfigs([]kadm.Config{
		{Key: "segment.bytes", Value: v("1024"), Source: kmsg.ConfigSourceDefaultConfig},
		{Key: "retention.ms", Value: v("5"), Source: kmsg.ConfigSourceDynamicTopicConfig},
		{Key: "compression.type", Value: v("zstd"), Source: kmsg.ConfigSourceStaticBrokerConfig},
		{Key: "sasl.secret", Sensitive: true, Source: kmsg.ConfigSourceDynamicTopicConfig},
		{Key: "unknown.source", Value: v("x"), Source: kmsg.ConfigSourceUnknown},
	})
	if want := "compression.type=zstd (broker), retention.ms=5, sasl.secret=<sensitive>"; got != want {
		t.Errorf("nonDefaultConfigs = %q, want %q", got, want)
	}
	if got := nonDefaultConfigs(nil); got != "(none)" {
		t.Errorf("no configs: %q", got)
	}
}

// findRow returns the whitespace-separated fields of the first line whose
// first field is key.
func findRow(lines []string, key string) []string {
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && f[0] == key {
			return f
		}
	}
	return nil
}
