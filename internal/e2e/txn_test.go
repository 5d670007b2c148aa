package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spool-mq/spool/internal/config"
)

// txnBroker is a broker with a small __transaction_state (3 partitions,
// as Kafka's own integration tests use few) and a fast timeout check.
func txnBroker(t *testing.T) string {
	t.Helper()
	b := startBroker(t, withConfig(func(c *config.Broker) {
		c.TransactionStateLogNumPartitions = 3
		c.TransactionAbortTimedOutCheckIntervalMs = 100
	}))
	return b.KafkaAddr()
}

// txnProducer is a franz-go transactional producer with manual
// partitioning, so a test decides where every record goes.
func txnProducer(t *testing.T, addr, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, addr, append([]kgo.Opt{kgo.TransactionalID(id), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
}

type tp struct {
	topic     string
	partition int32
}

const sentinel = "sentinel"

// readWithSentinels writes a non-transactional sentinel record to every
// partition of topics (parts each), then reads them all from the start
// with the isolation level given and returns the values per partition
// before the sentinel, in offset order. The sentinel follows every marker,
// so reaching it means everything decided before it was seen.
func readWithSentinels(t *testing.T, ctx context.Context, addr string, topics []string, parts int32, isolation kgo.IsolationLevel) map[tp][]string {
	t.Helper()
	plain := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := map[tp]bool{}
	for _, topic := range topics {
		for p := range parts {
			want[tp{topic, p}] = true
		}
	}
	if isolation == kgo.ReadCommitted() {
		for k := range want {
			produceSync(t, ctx, plain, &kgo.Record{Topic: k.topic, Partition: k.partition, Value: []byte(sentinel)})
		}
	}
	cl := newClient(t, addr, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(isolation))
	out := map[tp][]string{}
	pollUntil(t, ctx, cl, func(fresh []*kgo.Record) bool {
		for _, r := range fresh {
			k := tp{r.Topic, r.Partition}
			if string(r.Value) == sentinel {
				delete(want, k)
			} else if want[k] {
				out[k] = append(out[k], string(r.Value))
			}
		}
		return len(want) == 0
	}, func() string { return fmt.Sprintf("sentinels not yet read: %v", want) })
	return out
}

func beginTxn(t *testing.T, cl *kgo.Client) {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("BeginTransaction: %v", err)
	}
}

func endTxn(t *testing.T, ctx context.Context, cl *kgo.Client, commit kgo.TransactionEndTry) {
	t.Helper()
	if err := cl.EndTransaction(ctx, commit); err != nil {
		t.Fatalf("EndTransaction(%v): %v", commit, err)
	}
}

// TestTransactionsCommitAndAbort: a franz-go transactional producer
// commits, aborts, then commits again across 2 topics x 3 partitions. A
// read_committed consumer sees exactly the committed records in order; a
// read_uncommitted one sees them all.
func TestTransactionsCommitAndAbort(t *testing.T) {
	t.Parallel()
	addr := txnBroker(t)
	ctx := testContext(t)
	adm := newAdmin(t, addr)
	topics := []string{topicName(t, "a"), topicName(t, "b")}
	for _, topic := range topics {
		createTopic(t, ctx, adm, topic, 3, nil)
	}
	cl := txnProducer(t, addr, "commit-abort")
	committed, all := map[tp][]string{}, map[tp][]string{}
	round := func(name string, commit kgo.TransactionEndTry) {
		beginTxn(t, cl)
		var recs []*kgo.Record
		for _, topic := range topics {
			for p := range int32(3) {
				for i := range 2 {
					v := fmt.Sprintf("%s-%d-%d", name, p, i)
					recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)})
					k := tp{topic, p}
					all[k] = append(all[k], v)
					if commit == kgo.TryCommit {
						committed[k] = append(committed[k], v)
					}
				}
			}
		}
		produceSync(t, ctx, cl, recs...)
		endTxn(t, ctx, cl, commit)
	}
	round("first", kgo.TryCommit)
	round("aborted", kgo.TryAbort)
	round("second", kgo.TryCommit)

	if got := readWithSentinels(t, ctx, addr, topics, 3, kgo.ReadCommitted()); !equalValues(got, committed) {
		t.Errorf("read_committed saw %v, want %v", got, committed)
	}
	if got := readWithSentinels(t, ctx, addr, topics, 3, kgo.ReadUncommitted()); !equalValues(got, all) {
		t.Errorf("read_uncommitted saw %v, want %v", got, all)
	}
}

func equalValues(a, b map[tp][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// isFencing reports whether err is one of the errors a fenced
// transactional producer gets.
func isFencing(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)
}

// TestTransactionsFencing: a second producer with the same transactional
// id fences the first, whose open transaction is aborted; the first's
// next produce or commit fails with a fencing error.
func TestTransactionsFencing(t *testing.T) {
	t.Parallel()
	addr := txnBroker(t)
	ctx := testContext(t)
	topic := topicName(t, "t")
	createTopic(t, ctx, newAdmin(t, addr), topic, 2, nil)

	first := txnProducer(t, addr, "fenced")
	beginTxn(t, first)
	produceSync(t, ctx, first, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("zombie")})

	second := txnProducer(t, addr, "fenced")
	beginTxn(t, second)
	produceSync(t, ctx, second, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("winner")})
	endTxn(t, ctx, second, kgo.TryCommit)

	perr := first.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("late")}).FirstErr()
	eerr := first.EndTransaction(ctx, kgo.TryCommit)
	if !isFencing(perr) && !isFencing(eerr) {
		t.Fatalf("fenced producer: produce error %v, commit error %v; want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", perr, eerr)
	}

	want := map[tp][]string{{topic, 1}: {"winner"}}
	if got := readWithSentinels(t, ctx, addr, []string{topic}, 2, kgo.ReadCommitted()); !equalValues(got, want) {
		t.Errorf("read_committed saw %v, want %v", got, want)
	}
	got := readWithSentinels(t, ctx, addr, []string{topic}, 2, kgo.ReadUncommitted())
	if v := got[tp{topic, 0}]; len(v) == 0 || v[0] != "zombie" {
		t.Errorf("read_uncommitted saw %v on partition 0, want the aborted zombie record", got)
	}
}

// TestTransactionTimeoutAborts: a transaction left open past its
// transaction.timeout.ms is aborted by the coordinator: its records are
// never visible to read_committed, and the last stable offset moves on.
func TestTransactionTimeoutAborts(t *testing.T) {
	t.Parallel()
	addr := txnBroker(t)
	ctx := testContext(t)
	topic := topicName(t, "t")
	createTopic(t, ctx, newAdmin(t, addr), topic, 1, nil)

	cl := txnProducer(t, addr, "forgotten", kgo.TransactionTimeout(time.Second))
	beginTxn(t, cl)
	produceSync(t, ctx, cl, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("open")})
	time.Sleep(2 * time.Second)

	if got := readWithSentinels(t, ctx, addr, []string{topic}, 1, kgo.ReadCommitted()); len(got) != 0 {
		t.Errorf("read_committed saw %v, want nothing", got)
	}
	want := map[tp][]string{{topic, 0}: {"open"}}
	if got := readWithSentinels(t, ctx, addr, []string{topic}, 1, kgo.ReadUncommitted()); !equalValues(got, want) {
		t.Errorf("read_uncommitted saw %v, want %v", got, want)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Errorf("committing a transaction the coordinator aborted succeeded")
	}
}

// TestTransactionSurvivesRestart: a transaction left open when the broker
// stops is in __transaction_state after the restart: a new producer with
// the same transactional id gets it aborted (markers written by the
// reloaded coordinator) and commits its own.
func TestTransactionSurvivesRestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	cfg := withConfig(func(c *config.Broker) { c.TransactionStateLogNumPartitions = 3 })
	b1 := startBroker(t, withDataDir(dir), cfg)
	topic := topicName(t, "t")
	createTopic(t, ctx, newAdmin(t, b1.KafkaAddr()), topic, 1, nil)
	first, err := kgo.NewClient(kgo.SeedBrokers(b1.KafkaAddr()), kgo.TransactionalID("restart"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	beginTxn(t, first)
	produceSync(t, ctx, first, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("open")})
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	first.Close()

	b2 := startBroker(t, withDataDir(dir), cfg)
	second := txnProducer(t, b2.KafkaAddr(), "restart")
	beginTxn(t, second)
	produceSync(t, ctx, second, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("after")})
	endTxn(t, ctx, second, kgo.TryCommit)

	want := map[tp][]string{{topic, 0}: {"after"}}
	if got := readWithSentinels(t, ctx, b2.KafkaAddr(), []string{topic}, 1, kgo.ReadCommitted()); !equalValues(got, want) {
		t.Errorf("read_committed saw %v, want %v", got, want)
	}
	want = map[tp][]string{{topic, 0}: {"open", "after"}}
	if got := readWithSentinels(t, ctx, b2.KafkaAddr(), []string{topic}, 1, kgo.ReadUncommitted()); !equalValues(got, want) {
		t.Errorf("read_uncommitted saw %v, want %v", got, want)
	}
}
