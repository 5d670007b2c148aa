package e2e

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
)

// clientRecord is a record as another client library reports it.
type clientRecord struct {
	key, value []byte
	offset     int64
	header     []byte // value of header "h"
}

func wantClientRecords(n int) []clientRecord {
	var out []clientRecord
	for i := range n {
		out = append(out, clientRecord{
			key:    fmt.Appendf(nil, "key-%d", i),
			value:  fmt.Appendf(nil, "value-%d", i),
			offset: int64(i),
			header: fmt.Appendf(nil, "h-%d", i),
		})
	}
	return out
}

// checkClientRecords compares what a client read with what was produced,
// and what franz-go reads from the same topic.
func checkClientRecords(t *testing.T, lib string, got, want []clientRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s read %d records, produced %d", lib, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !bytes.Equal(g.key, w.key) || !bytes.Equal(g.value, w.value) || g.offset != w.offset || !bytes.Equal(g.header, w.header) {
			t.Fatalf("%s record %d: key %q value %q offset %d header %q; want %q %q %d %q",
				lib, i, g.key, g.value, g.offset, g.header, w.key, w.value, w.offset, w.header)
		}
	}
}

// TestSarama: IBM/sarama produces (sync producer, acks=all) and consumes
// (partition consumer from the oldest offset).
func TestSarama(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	topic := topicName(t, "sarama")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 1, nil)
	want := wantClientRecords(20)

	cfg := sarama.NewConfig()
	cfg.ClientID = "spool-e2e"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Compression = sarama.CompressionSnappy
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond

	producer, err := sarama.NewSyncProducer([]string{b.KafkaAddr()}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewSyncProducer: %v", err)
	}
	var msgs []*sarama.ProducerMessage
	for _, r := range want {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(r.key), Value: sarama.ByteEncoder(r.value),
			Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: r.header}}})
	}
	if err := producer.SendMessages(msgs); err != nil {
		producer.Close()
		t.Fatalf("sarama SendMessages: %v", err)
	}
	for i, m := range msgs {
		if m.Offset != int64(i) || m.Partition != 0 {
			t.Errorf("sarama message %d acknowledged at %d/%d, want 0/%d", i, m.Partition, m.Offset, i)
		}
	}
	if err := producer.Close(); err != nil {
		t.Fatalf("sarama producer close: %v", err)
	}

	consumer, err := sarama.NewConsumer([]string{b.KafkaAddr()}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewConsumer: %v", err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("sarama ConsumePartition: %v", err)
	}
	defer pc.Close()
	var got []clientRecord
	for len(got) < len(want) {
		select {
		case m := <-pc.Messages():
			var h []byte
			for _, rh := range m.Headers {
				if string(rh.Key) == "h" {
					h = rh.Value
				}
			}
			got = append(got, clientRecord{key: m.Key, value: m.Value, offset: m.Offset, header: h})
		case err := <-pc.Errors():
			t.Fatalf("sarama consumer: %v", err)
		case <-ctx.Done():
			t.Fatalf("sarama consumer read %d of %d records before the deadline", len(got), len(want))
		}
	}
	checkClientRecords(t, "sarama", got, want)
	checkClientRecords(t, "franz-go (reading sarama's records)", kgoClientRecords(t, b.KafkaAddr(), topic), want)
}

// TestKafkaGo: segmentio/kafka-go produces (Writer, acks=all) and consumes
// (Reader on partition 0 from the first offset).
func TestKafkaGo(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	topic := topicName(t, "kafkago")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 1, nil)
	want := wantClientRecords(20)

	transport := &kafka.Transport{ClientID: "spool-e2e"}
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(b.KafkaAddr()),
		Topic:        topic,
		RequiredAcks: kafka.RequireAll,
		Balancer:     &kafka.Hash{},
		BatchTimeout: 10 * time.Millisecond,
		Transport:    transport,
		Compression:  kafka.Lz4,
	}
	var msgs []kafka.Message
	for _, r := range want {
		msgs = append(msgs, kafka.Message{Key: r.key, Value: r.value, Headers: []kafka.Header{{Key: "h", Value: r.header}}})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		w.Close()
		t.Fatalf("kafka-go WriteMessages: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("kafka-go writer close: %v", err)
	}

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   []string{b.KafkaAddr()},
		Topic:     topic,
		Partition: 0,
		MinBytes:  1,
		MaxBytes:  10 << 20,
		MaxWait:   200 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		t.Fatalf("kafka-go SetOffset: %v", err)
	}
	var got []clientRecord
	for len(got) < len(want) {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("kafka-go ReadMessage after %d records: %v", len(got), err)
		}
		var h []byte
		for _, rh := range m.Headers {
			if rh.Key == "h" {
				h = rh.Value
			}
		}
		got = append(got, clientRecord{key: m.Key, value: m.Value, offset: m.Offset, header: h})
	}
	checkClientRecords(t, "kafka-go", got, want)
	checkClientRecords(t, "franz-go (reading kafka-go's records)", kgoClientRecords(t, b.KafkaAddr(), topic), want)
}

// kgoClientRecords reads a topic with franz-go in clientRecord form.
func kgoClientRecords(t *testing.T, addr, topic string) []clientRecord {
	t.Helper()
	var out []clientRecord
	for _, r := range consumeAll(t, testContext(t), addr, topic) {
		var h []byte
		for _, rh := range r.Headers {
			if rh.Key == "h" {
				h = rh.Value
			}
		}
		out = append(out, clientRecord{key: r.Key, value: r.Value, offset: r.Offset, header: h})
	}
	return out
}
