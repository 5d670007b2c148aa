package txn

// Records in __transaction_state use Kafka's format: key
// kmsg.TxnMetadataKey v0 {transactionalID}, value kmsg.TxnMetadataValue
// v0 {producerID, producerEpoch, timeoutMillis, state, topics with their
// partitions, lastUpdateTimestamp, startTimestamp}. Compaction keeps the
// latest record per id, so a replay from the start rebuilds the state.

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/record"
)

func metaKey(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: 0, TransactionalID: id}
	return k.AppendTo(nil)
}

func metaValue(m *meta) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = 0
	v.ProducerID, v.ProducerEpoch = m.producerID, m.epoch
	v.TimeoutMillis = int32(m.timeout.Milliseconds())
	v.State = m.state
	v.LastUpdateTimestamp = m.updated.UnixMilli()
	v.StartTimestamp = -1
	if !m.started.IsZero() {
		v.StartTimestamp = m.started.UnixMilli()
	}
	byTopic := map[string][]int32{}
	for tp := range m.partitions {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	for _, topic := range slices.Sorted(maps.Keys(byTopic)) {
		t := kmsg.NewTxnMetadataValueTopic()
		t.Topic, t.Partitions = topic, byTopic[topic]
		slices.Sort(t.Partitions)
		v.Topics = append(v.Topics, t)
	}
	return v.AppendTo(nil)
}

// metaBatch is a batch holding m's record.
func metaBatch(m *meta, now time.Time) []byte {
	b := record.NewBuilder(now.UnixMilli())
	b.Add(metaKey(m.id), metaValue(m))
	return b.Build()
}

// decodeMeta turns a replayed record into the id's state; nil for a
// tombstone.
func decodeMeta(key, value []byte) (string, *meta, error) {
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", nil, fmt.Errorf("transaction state key: %w", err)
	}
	if value == nil {
		return k.TransactionalID, nil, nil
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return "", nil, fmt.Errorf("transaction state of %q: %w", k.TransactionalID, err)
	}
	m := &meta{id: k.TransactionalID, producerID: v.ProducerID, epoch: v.ProducerEpoch,
		timeout: time.Duration(v.TimeoutMillis) * time.Millisecond, state: v.State,
		updated: time.UnixMilli(v.LastUpdateTimestamp), partitions: map[TopicPartition]struct{}{}}
	if v.StartTimestamp >= 0 {
		m.started = time.UnixMilli(v.StartTimestamp)
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.partitions[TopicPartition{t.Topic, p}] = struct{}{}
		}
	}
	return m.id, m, nil
}
