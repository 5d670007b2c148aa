package e2e

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/config"
)

// TestAutoCreate: with auto.create.topics.enable (the default) a producer
// can write to a topic nobody created; with it off the producer gets
// UNKNOWN_TOPIC_OR_PARTITION and nothing is created.
func TestAutoCreate(t *testing.T) {
	t.Parallel()
	t.Run("on", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t)
		b := startBroker(t)

		// Metadata with allow_auto_topic_creation creates the topic.
		viaMetadata := topicName(t, "via-metadata")
		raw := dialRaw(t, b.KafkaAddr())
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(9)
		req.AllowAutoTopicCreation = true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(viaMetadata)
		req.Topics = append(req.Topics, rt)
		resp := raw.roundTrip(req).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) == 0 {
			t.Fatalf("metadata with auto-create for %q: %+v", viaMetadata, resp.Topics)
		}

		// A producer writing to a new name just works.
		viaProduce := topicName(t, "via-produce")
		cl := newClient(t, b.KafkaAddr(), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic(viaProduce))
		produceSync(t, ctx, cl, &kgo.Record{Value: []byte("first")})
		topics := listTopics(t, b.KafkaAddr())
		for _, name := range []string{viaMetadata, viaProduce} {
			td, ok := topics[name]
			if !ok {
				t.Fatalf("auto-created topic %q is not listed (have %v)", name, topics)
			}
			if td.partitions != int(config.Default().DefaultPartitions) {
				t.Errorf("auto-created %q has %d partitions, want num.partitions=%d", name, td.partitions, config.Default().DefaultPartitions)
			}
		}
		recs := consumeAll(t, ctx, b.KafkaAddr(), viaProduce)
		if len(recs) != 1 || string(recs[0].Value) != "first" {
			t.Fatalf("auto-created topic holds %d records, want the one produced", len(recs))
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		ctx := testContext(t)
		b := startBroker(t, withConfig(func(c *config.Broker) { c.AutoCreateTopics = false }))
		topic := topicName(t, "nope")
		cl := newClient(t, b.KafkaAddr(), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic(topic),
			kgo.UnknownTopicRetries(2))
		err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("produce to a missing topic with auto-create off: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
		// A raw produce says the same per partition.
		raw := dialRaw(t, b.KafkaAddr())
		pr := raw.roundTrip(produceRequest(topic, 0, -1, encodeBatch([]testRecord{{value: []byte("x"), timestamp: 1}}))).(*kmsg.ProduceResponse)
		if code := pr.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("raw produce to a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(code))
		}
		if _, ok := listTopics(t, b.KafkaAddr())[topic]; ok {
			t.Fatalf("topic %q was created although auto.create.topics.enable=false", topic)
		}
	})
}

// TestAdminLifecycle drives a topic through its life with kadm: validate-only
// create, create, list, describe and alter configs, add partitions, delete
// records, delete and recreate.
func TestAdminLifecycle(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	addr := b.KafkaAddr()
	adm := newAdmin(t, addr)
	topic := topicName(t, "life")

	// Validate-only creates nothing.
	vr, err := adm.ValidateCreateTopics(ctx, 3, 1, nil, topic)
	if err == nil {
		err = vr.Error()
	}
	if err != nil {
		t.Fatalf("validate-only create: %v", err)
	}
	if _, ok := listTopics(t, addr)[topic]; ok {
		t.Fatalf("validate-only create made topic %q", topic)
	}

	// Invalid configs are refused with INVALID_CONFIG.
	bad, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("soon")}, topicName(t, "badcfg"))
	if !errors.Is(err, kerr.InvalidConfig) {
		t.Errorf("create with retention.ms=soon: %v (%+v), want INVALID_CONFIG", err, bad)
	}
	_, err = adm.CreateTopic(ctx, 1, 1, map[string]*string{"no.such.config": kadm.StringPtr("1")}, topicName(t, "badkey"))
	if !errors.Is(err, kerr.InvalidConfig) {
		t.Errorf("create with an unknown config key: %v, want INVALID_CONFIG", err)
	}

	createTopic(t, ctx, adm, topic, 2, map[string]string{"retention.ms": "3600000", "segment.bytes": "1048576"})
	_, err = adm.CreateTopic(ctx, 2, 1, nil, topic)
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Errorf("creating %q twice: %v, want TOPIC_ALREADY_EXISTS", topic, err)
	}
	td := listTopics(t, addr)[topic]
	if td.partitions != 2 || td.id == [16]byte{} {
		t.Fatalf("listed topic: %d partitions, id %x; want 2 partitions and an id", td.partitions, td.id)
	}

	// Describe shows the override as a dynamic topic config and a default
	// as a default.
	expectConfig(t, adm, topic, "retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	expectConfig(t, adm, topic, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)

	// Incremental alter: set one key, delete another.
	alter, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("7200000")},
		{Op: kadm.DeleteConfig, Name: "segment.bytes"},
	}, topic)
	if err == nil {
		_, err = alter.On(topic, func(r *kadm.AlterConfigsResponse) error { return r.Err })
	}
	if err != nil {
		t.Fatalf("incremental alter configs: %v", err)
	}
	expectConfig(t, adm, topic, "retention.ms", "7200000", kmsg.ConfigSourceDynamicTopicConfig)
	expectConfig(t, adm, topic, "segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig)

	// Add partitions; the new one takes writes.
	cp, err := adm.CreatePartitions(ctx, 2, topic)
	if err == nil {
		err = cp.Error()
	}
	if err != nil {
		t.Fatalf("create partitions: %v", err)
	}
	if got := listTopics(t, addr)[topic].partitions; got != 4 {
		t.Fatalf("after adding 2 partitions the topic has %d, want 4", got)
	}
	cp, err = adm.UpdatePartitions(ctx, 3, topic)
	if err == nil {
		err = cp.Error()
	}
	if !errors.Is(err, kerr.InvalidPartitions) {
		t.Errorf("shrinking to 3 partitions: %v, want INVALID_PARTITIONS", err)
	}
	manual := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceSync(t, ctx, manual, &kgo.Record{Partition: 3, Value: []byte("on the new partition")})
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Partition: 0, Value: fmt.Appendf(nil, "p0-%d", i)})
	}
	produceSync(t, ctx, manual, recs...)

	// Delete records before offset 4 on partition 0.
	dr, err := adm.DeleteRecords(ctx, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: 4}}})
	if err == nil {
		err = dr.Error()
	}
	if err != nil {
		t.Fatalf("delete records: %v", err)
	}
	if r, _ := dr.On(topic, 0, nil); r.LowWatermark != 4 {
		t.Errorf("delete records before 4: low watermark %d, want 4", r.LowWatermark)
	}
	if got := listOffsets(t, addr, topic)[0]; got.start != 4 || got.end != 10 {
		t.Errorf("after delete records: partition 0 offsets [%d, %d), want [4, 10)", got.start, got.end)
	}
	consumer := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	checkFrom(t, pollN(t, ctx, consumer, 6), 4, 10)
	consumer.Close()
	// A consumer positioned below the new log start gets
	// OFFSET_OUT_OF_RANGE and resets to the earliest offset.
	stale := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(1)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	checkFrom(t, pollN(t, ctx, stale, 6), 4, 10)
	stale.Close()
	// Deleting beyond the high watermark is refused.
	dr, err = adm.DeleteRecords(ctx, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: 11}}})
	if err == nil {
		err = dr.Error()
	}
	if !errors.Is(err, kerr.OffsetOutOfRange) {
		t.Errorf("delete records beyond the end: %v, want OFFSET_OUT_OF_RANGE", err)
	}

	// Delete the topic: gone from metadata; the same name recreated is empty.
	oldID := listTopics(t, addr)[topic].id
	del, err := adm.DeleteTopics(ctx, topic)
	if err == nil {
		err = del.Error()
	}
	if err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	if _, ok := listTopics(t, addr)[topic]; ok {
		t.Fatalf("deleted topic %q is still listed", topic)
	}
	// Asked raw: kadm may answer from the metadata its client cached
	// a few milliseconds before the delete.
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.SetVersion(12)
	mreq.AllowAutoTopicCreation = false
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	md := dialRaw(t, addr).roundTrip(mreq).(*kmsg.MetadataResponse)
	if len(md.Topics) != 1 || md.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("metadata for the deleted topic: %+v, want UNKNOWN_TOPIC_OR_PARTITION", md.Topics)
	}
	_, err = adm.DeleteTopic(ctx, topic)
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("deleting %q twice: %v, want UNKNOWN_TOPIC_OR_PARTITION", topic, err)
	}
	createTopic(t, ctx, adm, topic, 1, nil)
	if newTD := listTopics(t, addr)[topic]; newTD.id == oldID {
		t.Errorf("recreated topic has the old topic id %x", oldID)
	}
	if got := listOffsets(t, addr, topic)[0]; got.start != 0 || got.end != 0 {
		t.Fatalf("recreated topic: partition 0 offsets [%d, %d), want empty [0, 0)", got.start, got.end)
	}
	expectConfig(t, adm, topic, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	// And it works from offset 0.
	produceSync(t, ctx, newClient(t, addr, kgo.DefaultProduceTopic(topic)), &kgo.Record{Value: []byte("reborn")})
	got := consumeAll(t, ctx, addr, topic)
	if len(got) != 1 || got[0].Offset != 0 || string(got[0].Value) != "reborn" {
		t.Fatalf("recreated topic holds %d records (first at offset %d), want just \"reborn\" at 0", len(got), firstOffset(got))
	}
}

func firstOffset(recs []*kgo.Record) int64 {
	if len(recs) == 0 {
		return -1
	}
	return recs[0].Offset
}

// topicInfo is a topic as a fresh Metadata request reports it.
type topicInfo struct {
	id         [16]byte
	partitions int
}

// listTopics lists all topics with a Metadata request on a new raw
// connection. It deliberately avoids kadm.ListTopics, which answers from the
// client's metadata cache (and, when that cache holds no topics at all,
// never refreshes it).
func listTopics(t *testing.T, addr string) map[string]topicInfo {
	t.Helper()
	c := dialRaw(t, addr)
	defer c.conn.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	req.Topics = nil // all
	resp := c.roundTrip(req).(*kmsg.MetadataResponse)
	out := make(map[string]topicInfo)
	for _, rt := range resp.Topics {
		if rt.ErrorCode != 0 || rt.Topic == nil {
			t.Fatalf("metadata for all topics: topic %v has error %v", ptrStr(rt.Topic), kerr.ErrorForCode(rt.ErrorCode))
		}
		out[*rt.Topic] = topicInfo{id: rt.TopicID, partitions: len(rt.Partitions)}
	}
	return out
}

// expectConfig asserts a topic config's value and source in DescribeConfigs.
func expectConfig(t *testing.T, adm *kadm.Client, topic, key, value string, source kmsg.ConfigSource) {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(t.Context(), topic)
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatalf("describe configs of %q: %v", topic, err)
	}
	i := slices.IndexFunc(rc.Configs, func(c kadm.Config) bool { return c.Key == key })
	if i < 0 {
		t.Fatalf("describe configs of %q has no %s", topic, key)
	}
	c := rc.Configs[i]
	if c.Value == nil || *c.Value != value || c.Source != source {
		t.Fatalf("%s of %q: value %v source %v, want %q from %v", key, topic, ptrStr(c.Value), c.Source, value, source)
	}
}

func ptrStr(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *s)
}
