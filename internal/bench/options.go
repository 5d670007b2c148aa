package bench

import (
	"crypto/tls"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults applied when an option is left at its zero value (where zero has
// no meaning of its own) and by the Default* constructors.
const (
	// DefaultDuration is how long a produce or e2e run lasts when neither
	// Records nor Duration is set.
	DefaultDuration = 10 * time.Second
	// DefaultTimeout bounds admin requests, record delivery and the e2e
	// drain.
	DefaultTimeout = 30 * time.Second
	// DefaultProgressInterval is the time between progress lines.
	DefaultProgressInterval = time.Second
	// DefaultTopic is the topic every benchmark uses unless told otherwise.
	DefaultTopic = "spool-bench"
	// stampSize is the e2e header in each value: run id and send time.
	stampSize = 16
)

// KeyMode says how produced records are keyed.
type KeyMode string

// Key modes. Keys are decimal numbers in [0, KeySpace), so keyed runs
// exercise the partitioner (and, on compacted topics, the cleaner) with a
// known number of distinct keys.
const (
	KeysNone   KeyMode = "none"   // no key: sticky partitioning
	KeysRandom KeyMode = "random" // uniformly random key per record
	KeysSeq    KeyMode = "seq"    // record i gets key i mod KeySpace
)

// Common holds what every cluster benchmark needs: where the cluster is,
// which topic, and where progress goes.
type Common struct {
	// Brokers are the bootstrap host:port addresses.
	Brokers []string `json:"brokers"`
	// ClientOpts are appended to the options of every kgo client the
	// benchmark creates (logger, TLS, SASL, dial timeout) and so override
	// the benchmark's own.
	ClientOpts []kgo.Opt `json:"-"`
	// TLS, when set, is the client TLS configuration of the connections
	// the benchmark dials itself (the raw consumer's); kgo clients get
	// theirs through ClientOpts.
	TLS *tls.Config `json:"-"`
	// Timeout bounds admin requests, each record's delivery and the e2e
	// drain; 0 means DefaultTimeout.
	Timeout time.Duration `json:"-"`
	// Topic is the benchmark topic; "" means DefaultTopic.
	Topic string `json:"topic"`
	// Progress receives one line per ProgressInterval while running; nil
	// disables progress lines.
	Progress io.Writer `json:"-"`
	// ProgressInterval is the time between progress lines; 0 means
	// DefaultProgressInterval.
	ProgressInterval time.Duration `json:"-"`
}

// ProducerConfig describes the produce side of a run, as
// kafka-producer-perf-test and the OpenMessaging Benchmark describe theirs.
type ProducerConfig struct {
	// Partitions is used when the topic is created because it is missing
	// (0: the broker's default). An existing topic is used as it is.
	Partitions int32 `json:"partitions_if_created"`
	// ReplicationFactor is used when creating the topic (-1 or 0: the
	// broker's default).
	ReplicationFactor int16 `json:"replication_factor_if_created"`
	// Records stops the run after this many records (0: no limit).
	Records int64 `json:"records"`
	// Duration stops the run after this long (0: no limit). With neither
	// limit the run lasts DefaultDuration.
	Duration time.Duration `json:"duration_ns"`
	// RecordSize is the value size in bytes. Values are random upper-case
	// letters, like kafka-producer-perf-test's generated payloads, so
	// compression ratios are modest rather than flattering.
	RecordSize int `json:"record_size"`
	// Keys and KeySpace choose record keys; see KeyMode.
	Keys     KeyMode `json:"keys"`
	KeySpace int64   `json:"key_space,omitempty"`
	// BatchMaxBytes caps a record batch (0: the client default, 1,000,012).
	BatchMaxBytes int32 `json:"batch_max_bytes,omitempty"`
	// StickyBytes is how many bytes of keyless records go to one
	// partition before the producer moves to the next (franz-go's
	// uniform-bytes partitioner, as KIP-794 in the Java client, where
	// batch.size sets it). 0 keeps the client default, 64 KiB.
	StickyBytes int32 `json:"sticky_bytes,omitempty"`
	// Linger is how long a partition's batch waits for more records.
	Linger time.Duration `json:"linger_ns"`
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string `json:"compression"`
	// Acks is all (-1), 1 (leader) or 0 (none).
	Acks string `json:"acks"`
	// Idempotent enables the idempotent producer; it requires Acks all.
	// Without it each producer allows five requests in flight per broker,
	// as the Java producer does.
	Idempotent bool `json:"idempotent"`
	// Producers is the number of independent clients, each with its own
	// connections and batches, sharing one send schedule.
	Producers int `json:"producers"`
	// Rate is the target in records per second across all producers; 0
	// sends as fast as the clients accept records. With a rate, sending is
	// open-loop: latency is measured from each record's scheduled send
	// time (see schedule), so stalls show up in the percentiles. The
	// sender's own timer wake-up delay (tens of microseconds) is part of
	// what is measured, as it would be for a real client.
	Rate float64 `json:"rate,omitempty"`
}

// DefaultProducerConfig returns the producer defaults the CLI shows.
func DefaultProducerConfig() ProducerConfig {
	return ProducerConfig{
		ReplicationFactor: -1,
		RecordSize:        1024,
		Keys:              KeysNone,
		KeySpace:          1000,
		Linger:            5 * time.Millisecond, // the Java producer's default since Kafka 4.0
		Compression:       "none",
		Acks:              "all",
		Idempotent:        true,
		Producers:         1,
	}
}

// ProduceOptions configure RunProduce.
type ProduceOptions struct {
	Common
	ProducerConfig
}

// ConsumeOptions configure RunConsume.
type ConsumeOptions struct {
	Common
	// Group, when set, consumes as members of this consumer group (which
	// resumes from the group's committed offsets if it has any); otherwise
	// the partitions are divided among the consumers directly.
	Group string `json:"group,omitempty"`
	// Consumers is the number of clients. Without a group, more consumers
	// than partitions are not started.
	Consumers int `json:"consumers"`
	// Tail starts at the end of each partition instead of the start.
	Tail bool `json:"tail"`
	// Records stops after at least this many records (0: no limit).
	Records int64 `json:"records"`
	// Duration stops after this long (0: no limit). With neither limit, a
	// run from the start reads up to the end offsets found when it began;
	// a tail run lasts DefaultDuration.
	Duration time.Duration `json:"duration_ns"`
}

// E2EOptions configure RunE2E: the producer as for RunProduce, plus the
// consumers that read it back.
type E2EOptions struct {
	Common
	ProducerConfig
	// Consumers is the number of direct (group-less) consumers.
	Consumers int `json:"consumers"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
}

// withDefaults fills the zero values that mean "default".
func (c Common) withDefaults() Common {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	return c
}

// Validate checks the cluster settings.
func (c Common) Validate() error {
	if len(c.Brokers) == 0 {
		return invalid("no brokers")
	}
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			return invalid("empty broker address")
		}
	}
	if c.Timeout < 0 {
		return invalid("timeout %s: must not be negative", c.Timeout)
	}
	if c.ProgressInterval < 0 {
		return invalid("progress interval %s: must not be negative", c.ProgressInterval)
	}
	return nil
}

// Validate checks the producer settings.
func (p ProducerConfig) Validate() error {
	switch {
	case p.Partitions < 0:
		return invalid("partitions %d: must not be negative", p.Partitions)
	case p.ReplicationFactor < -1:
		return invalid("replication factor %d: want -1 (broker default) or more", p.ReplicationFactor)
	case p.Records < 0:
		return invalid("records %d: must not be negative", p.Records)
	case p.Duration < 0:
		return invalid("duration %s: must not be negative", p.Duration)
	case p.RecordSize < 0:
		return invalid("record size %d: must not be negative", p.RecordSize)
	case p.Producers < 1:
		return invalid("producers %d: need at least one", p.Producers)
	case p.Rate < 0:
		return invalid("rate %v: must not be negative", p.Rate)
	case p.Linger < 0:
		return invalid("linger %s: must not be negative", p.Linger)
	case p.BatchMaxBytes != 0 && (p.BatchMaxBytes < 512 || p.BatchMaxBytes > 1<<30):
		return invalid("batch max bytes %d: want 0 (client default) or 512..1GiB", p.BatchMaxBytes)
	case p.StickyBytes < 0:
		return invalid("sticky bytes %d: must not be negative", p.StickyBytes)
	}
	switch p.Keys {
	case KeysNone:
	case KeysRandom, KeysSeq:
		if p.KeySpace < 1 {
			return invalid("key space %d: need at least one key", p.KeySpace)
		}
	default:
		return invalid("keys %q: want none, random or seq", p.Keys)
	}
	acks, err := parseAcks(p.Acks)
	if err != nil {
		return err
	}
	if _, err := parseCompression(p.Compression); err != nil {
		return err
	}
	if p.Idempotent && acks != kgo.AllISRAcks() {
		return invalid("the idempotent producer requires acks all, not %q", p.Acks)
	}
	return nil
}

// Validate checks all produce options.
func (o ProduceOptions) Validate() error {
	if err := o.Common.Validate(); err != nil {
		return err
	}
	return o.ProducerConfig.Validate()
}

// Validate checks all consume options.
func (o ConsumeOptions) Validate() error {
	if err := o.Common.Validate(); err != nil {
		return err
	}
	switch {
	case o.Consumers < 1:
		return invalid("consumers %d: need at least one", o.Consumers)
	case o.Records < 0:
		return invalid("records %d: must not be negative", o.Records)
	case o.Duration < 0:
		return invalid("duration %s: must not be negative", o.Duration)
	}
	return nil
}

// Validate checks all e2e options.
func (o E2EOptions) Validate() error {
	if err := o.Common.Validate(); err != nil {
		return err
	}
	if err := o.ProducerConfig.Validate(); err != nil {
		return err
	}
	if o.Consumers < 1 {
		return invalid("consumers %d: need at least one", o.Consumers)
	}
	if o.RecordSize < stampSize {
		return invalid("record size %d: e2e records carry a %d-byte send stamp, so need at least that", o.RecordSize, stampSize)
	}
	return nil
}

func parseAcks(s string) (kgo.Acks, error) {
	switch strings.ToLower(s) {
	case "all", "-1":
		return kgo.AllISRAcks(), nil
	case "1", "leader":
		return kgo.LeaderAck(), nil
	case "0", "none":
		return kgo.NoAck(), nil
	}
	return kgo.Acks{}, invalid("acks %q: want all, 1 or 0", s)
}

func parseCompression(s string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(s) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, invalid("compression %q: want none, gzip, snappy, lz4 or zstd", s)
}
