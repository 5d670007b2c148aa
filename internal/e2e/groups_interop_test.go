package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/config"
)

// Consumer groups driven by other clients' group implementations:
// librdkafka's balanced consumer (kcat -G), IBM/sarama's ConsumerGroup and
// segmentio/kafka-go's Reader with a GroupID. Each runs against a broker
// whose groups rebalance at once and accept short session timeouts, so the
// scenarios take seconds.

// withFastGroups configures the broker for quick group tests.
func withFastGroups() brokerOption {
	return withConfig(func(c *config.Broker) {
		c.GroupInitialRebalanceDelayMs = 0
		c.GroupMinSessionTimeoutMs = 100
		c.OffsetsTopicNumPartitions = 3
	})
}

// groupRecord identifies a consumed record and carries its value.
type groupRecord struct {
	partition int32
	offset    int64
	value     string
}

// produceSpread writes perPartition records to each of partitions
// partitions of topic, with values "p<partition>-<n>" (n continuing from
// first).
func produceSpread(t *testing.T, ctx context.Context, addr, topic string, partitions int32, first, perPartition int) {
	t.Helper()
	cl := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for p := range partitions {
		for i := range perPartition {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, first+i)})
		}
	}
	produceSync(t, ctx, cl, recs...)
	cl.Close()
}

// wantCommitted checks a group's committed offsets of topic with kadm.
func wantCommitted(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string, want map[int32]int64) {
	t.Helper()
	resps, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetching the offsets of group %s: %v", group, err)
	}
	got := make(map[int32]int64)
	resps.Each(func(r kadm.OffsetResponse) {
		if r.Topic == topic && r.Err == nil && r.At >= 0 {
			got[r.Partition] = r.At
		}
	})
	if !maps.Equal(got, want) {
		t.Fatalf("group %s committed %v on %s, want %v", group, got, topic, want)
	}
}

// waitForGroup waits until group is Stable with n members that each have
// partitions assigned: the moment a consumer group has settled.
func waitForGroup(t *testing.T, ctx context.Context, adm *kadm.Client, group string, n int) {
	t.Helper()
	var last string
	for {
		described, err := adm.DescribeGroups(ctx, group)
		if err == nil {
			d := described[group]
			last = fmt.Sprintf("state %s, %d members", d.State, len(d.Members))
			settled := d.Err == nil && d.State == "Stable" && len(d.Members) == n
			for _, m := range d.Members {
				if c, ok := m.Assigned.AsConsumer(); !ok || len(c.Topics) == 0 {
					settled = false
				}
			}
			if settled {
				return
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s did not settle with %d members: %s", group, n, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kcatMember is one `kcat -G` process: a librdkafka balanced consumer
// printing "partition offset value" lines.
type kcatMember struct {
	cmd    *exec.Cmd
	stderr lockedBuffer
	out    *lineCollector
}

// lineCollector is kcat's stdout: it keeps complete lines and nudges
// notify after each write that completed one.
type lineCollector struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	notify  chan struct{}
}

func (c *lineCollector) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.partial = append(c.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.lines = append(c.lines, string(c.partial[:i]))
		c.partial = c.partial[i+1:]
		added = true
	}
	c.mu.Unlock()
	if added {
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func (c *lineCollector) records(t *testing.T) []groupRecord {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]groupRecord, 0, len(c.lines))
	for _, l := range c.lines {
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 {
			t.Fatalf("kcat printed %q, want \"partition offset value\"", l)
		}
		p, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("kcat printed %q, want \"partition offset value\"", l)
		}
		out = append(out, groupRecord{partition: int32(p), offset: o, value: f[2]})
	}
	return out
}

// startKcatMember starts `kcat -G group topic`. It reads from the earliest
// offset where the group has none, heartbeats every 500 ms so rebalances
// are quick, and prints each record unbuffered. It is killed, if still
// running, when the test ends.
func startKcatMember(t *testing.T, addr, group, topic string, notify chan struct{}) *kcatMember {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is required for the librdkafka interoperability tests (apt-get install kcat): %v", err)
	}
	m := &kcatMember{out: &lineCollector{notify: notify}}
	m.cmd = exec.Command(path, "-b", addr, "-G", group, "-u",
		"-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
		"-f", "%p %o %s\n", topic)
	m.cmd.Stdout, m.cmd.Stderr = m.out, &m.stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("starting kcat -G: %v", err)
	}
	t.Cleanup(func() {
		if m.cmd.ProcessState == nil {
			m.cmd.Process.Kill()
			m.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("---- kcat -G (pid %d) stderr ----\n%s", m.cmd.Process.Pid, m.stderr.String())
		}
	})
	return m
}

// stop asks kcat to stop (SIGTERM: it closes its consumer, committing its
// offsets and leaving the group) and waits for it to exit.
func (m *kcatMember) stop(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signalling kcat: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- m.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("kcat -G exited with %v after SIGTERM", err)
		}
	case <-ctx.Done():
		m.cmd.Process.Kill()
		<-exited
		t.Fatalf("kcat -G did not exit after SIGTERM")
	}
}

// TestKcatConsumerGroup: two librdkafka balanced consumers (kcat -G) share
// a 4-partition topic. The group settles with both members; then every
// record produced reaches exactly one of them, each member reads only its
// own partitions, and on shutdown they commit the end offsets.
func TestKcatConsumerGroup(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t, withFastGroups())
	addr := b.KafkaAddr()
	adm := newAdmin(t, addr)
	topic := topicName(t, "kcat-group")
	group := topicName(t, "kcat-g")
	createTopic(t, ctx, adm, topic, 4, nil)

	notify := make(chan struct{}, 1)
	members := []*kcatMember{
		startKcatMember(t, addr, group, topic, notify),
		startKcatMember(t, addr, group, topic, notify),
	}
	waitForGroup(t, ctx, adm, group, 2)

	const perPartition = 25
	produceSpread(t, ctx, addr, topic, 4, 0, perPartition)
	total := func() int {
		n := 0
		for _, m := range members {
			n += len(m.out.records(t))
		}
		return n
	}
	for total() < 4*perPartition {
		select {
		case <-notify:
		case <-ctx.Done():
			t.Fatalf("the kcat members received %d of %d records", total(), 4*perPartition)
		}
	}
	for _, m := range members {
		m.stop(t, ctx)
	}

	// Every record exactly once, each from the member owning its partition.
	seen := make(map[groupRecord]int)
	owner := make(map[int32]int)
	for i, m := range members {
		recs := m.out.records(t)
		if len(recs) == 0 {
			t.Errorf("kcat member %d received nothing: the partitions were not shared", i)
		}
		for _, r := range recs {
			seen[r]++
			if o, ok := owner[r.partition]; ok && o != i {
				t.Errorf("partition %d was read by both members", r.partition)
			}
			owner[r.partition] = i
		}
	}
	for p := range int32(4) {
		for i := range perPartition {
			r := groupRecord{partition: p, offset: int64(i), value: fmt.Sprintf("p%d-%d", p, i)}
			if seen[r] != 1 {
				t.Errorf("record %+v received %d times, want once", r, seen[r])
			}
			delete(seen, r)
		}
	}
	if len(seen) > 0 {
		t.Errorf("records nobody produced: %v", seen)
	}
	wantCommitted(t, ctx, adm, group, topic, map[int32]int64{0: perPartition, 1: perPartition, 2: perPartition, 3: perPartition})
}

// saramaHandler marks (so commits) records below markBelow in each
// partition and reports every record it receives.
type saramaHandler struct {
	markBelow int64
	records   chan<- groupRecord
}

func (h saramaHandler) Setup(sarama.ConsumerGroupSession) error { return nil }

// Cleanup commits what was marked: auto-commit is off, so the offsets
// the test checks are exactly the marked ones.
func (h saramaHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	s.Commit()
	return nil
}

func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			if m.Offset < h.markBelow {
				s.MarkMessage(m, "")
			}
			select {
			case h.records <- groupRecord{partition: m.Partition, offset: m.Offset, value: string(m.Value)}:
			case <-s.Context().Done():
				return nil
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

// saramaConsume runs a sarama ConsumerGroup member of group until it has
// received n records, then closes it (leaving the group), and returns
// the records.
func saramaConsume(t *testing.T, ctx context.Context, addr, group, topic string, markBelow int64, n int) []groupRecord {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.ClientID = "spool-e2e-sarama-group"
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatalf("sarama.NewConsumerGroup: %v", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	records := make(chan groupRecord)
	consumed := make(chan error, 1)
	go func() {
		// Consume returns at every rebalance; run it until cancelled.
		for runCtx.Err() == nil {
			if err := cg.Consume(runCtx, []string{topic}, saramaHandler{markBelow: markBelow, records: records}); err != nil {
				consumed <- err
				return
			}
		}
		consumed <- nil
	}()
	var got []groupRecord
	var failure error
	for len(got) < n && failure == nil {
		select {
		case r := <-records:
			got = append(got, r)
		case err := <-cg.Errors():
			failure = fmt.Errorf("sarama consumer group: %w", err)
		case err := <-consumed:
			failure = fmt.Errorf("sarama Consume returned early: %v", err)
			consumed <- err
		case <-ctx.Done():
			failure = fmt.Errorf("sarama received %d of %d records before the deadline", len(got), n)
		}
	}
	cancel()
	if err := <-consumed; err != nil && failure == nil && !errors.Is(err, context.Canceled) {
		failure = fmt.Errorf("sarama Consume: %w", err)
	}
	if err := cg.Close(); err != nil && failure == nil {
		failure = fmt.Errorf("closing the sarama consumer group: %w", err)
	}
	if failure != nil {
		t.Fatal(failure)
	}
	return got
}

// byPartition returns the offsets received per partition, in arrival order.
func byPartition(recs []groupRecord) map[int32][]int64 {
	out := make(map[int32][]int64)
	for _, r := range recs {
		out[r.partition] = append(out[r.partition], r.offset)
	}
	return out
}

// wantOffsets checks that each partition delivered exactly offsets
// [from, to) in order.
func wantOffsets(t *testing.T, lib string, recs []groupRecord, partitions int32, from, to int64) {
	t.Helper()
	got := byPartition(recs)
	for p := range partitions {
		var want []int64
		for o := from; o < to; o++ {
			want = append(want, o)
		}
		if !slices.Equal(got[p], want) {
			t.Errorf("%s: partition %d delivered offsets %v, want %d..%d", lib, p, got[p], from, to-1)
		}
	}
	if len(got) > int(partitions) {
		t.Errorf("%s: records from unexpected partitions: %v", lib, got)
	}
}

// TestSaramaConsumerGroup: a sarama ConsumerGroup member reads everything
// and commits the first half; a new member of the group resumes right
// after the committed offsets.
func TestSaramaConsumerGroup(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t, withFastGroups())
	addr := b.KafkaAddr()
	adm := newAdmin(t, addr)
	topic := topicName(t, "sarama-group")
	group := topicName(t, "sarama-g")
	createTopic(t, ctx, adm, topic, 2, nil)
	produceSpread(t, ctx, addr, topic, 2, 0, 10)

	first := saramaConsume(t, ctx, addr, group, topic, 5, 20)
	wantOffsets(t, "sarama (first member)", first, 2, 0, 10)
	wantCommitted(t, ctx, adm, group, topic, map[int32]int64{0: 5, 1: 5})

	second := saramaConsume(t, ctx, addr, group, topic, 10, 10)
	wantOffsets(t, "sarama (after restart)", second, 2, 5, 10)
	wantCommitted(t, ctx, adm, group, topic, map[int32]int64{0: 10, 1: 10})
}

// kafkaGoConsume runs a kafka-go Reader in group until it has read n
// records, committing (synchronously) those below commitBelow, then
// closes it, and returns the records.
func kafkaGoConsume(t *testing.T, ctx context.Context, addr, group, topic string, commitBelow int64, n int) []groupRecord {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{addr},
		GroupID:           group,
		Topic:             topic,
		MinBytes:          1,
		MaxBytes:          10 << 20,
		MaxWait:           200 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  10 * time.Second,
	})
	var got []groupRecord
	var failure error
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			failure = fmt.Errorf("kafka-go FetchMessage after %d records: %w", len(got), err)
			break
		}
		got = append(got, groupRecord{partition: int32(m.Partition), offset: m.Offset, value: string(m.Value)})
		if m.Offset < commitBelow {
			if err := r.CommitMessages(ctx, m); err != nil {
				failure = fmt.Errorf("kafka-go CommitMessages: %w", err)
				break
			}
		}
	}
	if err := r.Close(); err != nil && failure == nil {
		failure = fmt.Errorf("closing the kafka-go reader: %w", err)
	}
	if failure != nil {
		t.Fatal(failure)
	}
	return got
}

// TestKafkaGoConsumerGroup: a kafka-go Reader with a GroupID reads
// everything and commits the first half; a new Reader of the group resumes
// right after the committed offsets.
func TestKafkaGoConsumerGroup(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t, withFastGroups())
	addr := b.KafkaAddr()
	adm := newAdmin(t, addr)
	topic := topicName(t, "kafkago-group")
	group := topicName(t, "kafkago-g")
	createTopic(t, ctx, adm, topic, 2, nil)
	produceSpread(t, ctx, addr, topic, 2, 0, 10)

	first := kafkaGoConsume(t, ctx, addr, group, topic, 5, 20)
	wantOffsets(t, "kafka-go (first reader)", first, 2, 0, 10)
	wantCommitted(t, ctx, adm, group, topic, map[int32]int64{0: 5, 1: 5})

	second := kafkaGoConsume(t, ctx, addr, group, topic, 10, 10)
	wantOffsets(t, "kafka-go (after restart)", second, 2, 5, 10)
	wantCommitted(t, ctx, adm, group, topic, map[int32]int64{0: 10, 1: 10})
}

// TestGroupBrokerConfig: the group settings of the broker configuration
// reach the coordinator, as a client sees them: a commit with metadata
// longer than offset.metadata.max.bytes and a JoinGroup with a session
// timeout outside [group.min.session.timeout.ms, group.max.session.timeout.ms]
// are refused with Kafka's codes.
func TestGroupBrokerConfig(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t, withFastGroups(), withConfig(func(c *config.Broker) {
		c.OffsetMetadataMaxBytes = 8
		c.GroupMinSessionTimeoutMs = 1000
		c.GroupMaxSessionTimeoutMs = 2000
	}))
	addr := b.KafkaAddr()
	adm := newAdmin(t, addr)
	topic := topicName(t, "cfg")
	group := topicName(t, "cfg-g")
	createTopic(t, ctx, adm, topic, 1, nil)

	commit := func(metadata string) error {
		resps, err := adm.CommitOffsets(ctx, group, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: 0, LeaderEpoch: -1, Metadata: metadata}}})
		if err != nil {
			t.Fatalf("OffsetCommit: %v", err)
		}
		return resps.Error()
	}
	if err := commit("12345678"); err != nil {
		t.Fatalf("commit with 8 bytes of metadata: %v", err)
	}
	if err := commit("123456789"); !errors.Is(err, kerr.OffsetMetadataTooLarge) {
		t.Fatalf("commit with 9 bytes of metadata: %v, want OFFSET_METADATA_TOO_LARGE", err)
	}

	cl := newClient(t, addr)
	for timeout, want := range map[int32]error{999: kerr.InvalidSessionTimeout, 2001: kerr.InvalidSessionTimeout, 1500: kerr.MemberIDRequired} {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = topicName(t, "join"), timeout, 5000, "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", (&kmsg.ConsumerMemberMetadata{Topics: []string{topic}}).AppendTo(nil)
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("JoinGroup: %v", err)
		}
		if got := kerr.ErrorForCode(resp.ErrorCode); !errors.Is(got, want) {
			t.Errorf("JoinGroup with session timeout %d ms: %v, want %v", timeout, got, want)
		}
	}
}
