package handlers_test

// The handler tests run a real single-node broker (broker.Start: storage,
// Raft controller, reconciler, Kafka listener on 127.0.0.1:0) and talk to
// it over TCP with franz-go, asserting on what a client sees.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/spool-mq/spool/internal/broker"
	"github.com/spool-mq/spool/internal/config"
)

const nodeID = 1

// errNone is the "no error" code, for wantCode.
var errNone = &kerr.Error{Message: "NONE", Code: 0}

type testBroker struct {
	t   *testing.T
	cfg config.Broker
	b   *broker.Broker
	cl  *kgo.Client
	adm *kadm.Client
}

// startBroker starts a broker in a fresh data directory; mutate may adjust
// the configuration first. Everything is closed when the test ends.
func startBroker(t *testing.T, mutate func(*config.Broker)) *testBroker {
	t.Helper()
	cfg := config.Default()
	cfg.NodeID = nodeID
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.ControllerAddr = "127.0.0.1:0"
	cfg.HTTPAddr = ""
	cfg.AutoCreateTopics = false
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg, broker.Options{})
	if err != nil {
		t.Fatalf("starting broker: %v", err)
	}
	tb := &testBroker{t: t, cfg: cfg, b: b}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing broker: %v", err)
		}
	})
	tb.cl = tb.client()
	tb.adm = kadm.NewClient(tb.cl)
	return tb
}

// client returns a new client of the broker, closed at the end of the test.
func (tb *testBroker) client(opts ...kgo.Opt) *kgo.Client {
	tb.t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(tb.b.KafkaAddr()), kgo.RetryTimeout(10 * time.Second)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		tb.t.Fatalf("creating client: %v", err)
	}
	tb.t.Cleanup(cl.Close)
	return cl
}

// pinned returns a client that sends API key at most at version.
func (tb *testBroker) pinned(key, version int16) *kgo.Client {
	v := kversion.Stable()
	v.SetMaxKeyVersion(key, version)
	return tb.client(kgo.MaxVersions(v))
}

// send issues req straight to the broker (no sharding, no client-side
// checks or retries) with cl, or the default client if cl is nil.
func (tb *testBroker) send(cl *kgo.Client, req kmsg.Request) kmsg.Response {
	tb.t.Helper()
	if cl == nil {
		cl = tb.cl
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := cl.Broker(nodeID).Request(ctx, req)
	if err != nil {
		tb.t.Fatalf("request key %d: %v", req.Key(), err)
	}
	if got, want := resp.GetVersion(), req.GetVersion(); got != want {
		tb.t.Fatalf("response version %d for request version %d", got, want)
	}
	return resp
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

// createTopic creates a topic and fails the test if that fails.
func (tb *testBroker) createTopic(name string, partitions int32, configs map[string]*string) kadm.CreateTopicResponse {
	tb.t.Helper()
	resp, err := tb.adm.CreateTopic(ctx(tb.t), partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		tb.t.Fatalf("creating topic %s: %v (%s)", name, err, resp.ErrMessage)
	}
	return resp
}

// tryCreate creates a topic and returns the per-topic outcome; only a
// failure to issue the request fails the test.
func (tb *testBroker) tryCreate(name string, partitions int32, rf int16, configs map[string]*string) kadm.CreateTopicResponse {
	tb.t.Helper()
	resps, err := tb.adm.CreateTopics(ctx(tb.t), partitions, rf, configs, name)
	if err != nil {
		tb.t.Fatalf("create topics request: %v", err)
	}
	return resps[name]
}

// produce writes n records to a partition and returns the last offset.
func (tb *testBroker) produce(topic string, partition int32, n int, value []byte) int64 {
	tb.t.Helper()
	var recs []*kgo.Record
	for range n {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: partition, Value: value})
	}
	cl := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	res := cl.ProduceSync(ctx(tb.t), recs...)
	if err := res.FirstErr(); err != nil {
		tb.t.Fatalf("producing to %s/%d: %v", topic, partition, err)
	}
	return recs[len(recs)-1].Offset
}

// wantCode fails the test unless code is want.
func wantCode(t *testing.T, what string, code int16, want *kerr.Error) {
	t.Helper()
	if code != want.Code {
		t.Errorf("%s: error code %v, want %v", what, kerr.ErrorForCode(code), want)
	}
}

// wantErr fails the test unless err is want.
func wantErr(t *testing.T, what string, err error, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

func ptr(s string) *string { return &s }

// topicMeta asks the broker for one topic's metadata, bypassing the
// client's metadata cache (raw requests do not invalidate it).
func (tb *testBroker) topicMeta(topic string) kmsg.MetadataResponseTopic {
	tb.t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = &topic
	req.Topics = append(req.Topics, rt)
	resp := tb.send(nil, req).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 {
		tb.t.Fatalf("metadata for %s: %d topics", topic, len(resp.Topics))
	}
	return resp.Topics[0]
}
