package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Kafka config type names, as ConfigDef.Type spells them (lower case).
const (
	TypeBoolean  = "boolean"
	TypeString   = "string"
	TypeInt      = "int"
	TypeShort    = "short"
	TypeLong     = "long"
	TypeDouble   = "double"
	TypeList     = "list"
	TypePassword = "password"
)

// KafkaConfigType maps a type name onto the DescribeConfigs (v3+)
// ConfigType code: 1 boolean, 2 string, 3 int, 4 short, 5 long, 6 double,
// 7 list, 9 password; 0 for anything else.
func KafkaConfigType(typ string) int8 {
	switch typ {
	case TypeBoolean:
		return 1
	case TypeString:
		return 2
	case TypeInt:
		return 3
	case TypeShort:
		return 4
	case TypeLong:
		return 5
	case TypeDouble:
		return 6
	case TypeList:
		return 7
	case TypePassword:
		return 9
	}
	return 0
}

// TopicConfigDef describes one Kafka topic config.
type TopicConfigDef struct {
	Name string
	Type string // one of the Type* constants
	Doc  string
	// BrokerSynonym is the broker-level name whose value, when set in the
	// broker config, is this topic config's default (retention.ms <-
	// log.retention.ms). Empty when the broker has no such setting.
	BrokerSynonym string
	// Default is Kafka's documented default, used when neither the topic
	// nor the broker sets a value.
	Default   string
	Sensitive bool
	ReadOnly  bool

	check rule
	// settable, if set, narrows check for values being set now
	// (CreateTopics, AlterConfigs, IncrementalAlterConfigs, the broker's
	// own config): check alone still admits values that older Spool
	// versions accepted and stored, so topics created then keep opening.
	settable rule
	apply    func(c *TopicConfig, v string) // v has passed check
}

// Validate checks one value for this config as stored. The error wraps
// ErrInvalidConfigValue and names the config, the value and the rule.
func (d TopicConfigDef) Validate(value string) error {
	if msg, ok := d.check(value); !ok {
		return invalid(d.Name, "%s", msg)
	}
	return nil
}

// ValidateSet checks a value someone is setting: Validate, then the
// narrower rule of configs Spool accepts only in part.
func (d TopicConfigDef) ValidateSet(value string) error {
	if err := d.Validate(value); err != nil {
		return err
	}
	if d.settable != nil {
		if msg, ok := d.settable(value); !ok {
			return invalid(d.Name, "%s", msg)
		}
	}
	return nil
}

// onlyProducerCompression refuses every compression.type but producer.
// Kafka recompresses batches into the topic's codec (or stores them
// uncompressed) when it names one; Spool stores batches byte for byte as
// the producer compressed them (offsets are assigned by rewriting the
// header in place), so it refuses the setting rather than accept and
// ignore it. Supporting it means decoding and re-encoding every batch on
// the produce path.
func onlyProducerCompression(v string) (string, bool) {
	if strings.TrimSpace(v) == "producer" {
		return "", true
	}
	return fmt.Sprintf("must be producer: Spool stores batches as the producer compressed them and does not recompress, got %q", v), false
}

// TopicConfig is the typed, effective configuration of one topic (topic
// overrides over broker defaults over Kafka defaults), read by storage and
// partition code. Build it with ResolveTopicConfig.
type TopicConfig struct {
	RetentionMs            int64 // -1: keep forever
	RetentionBytes         int64 // -1: no size limit (per partition)
	SegmentBytes           int64
	SegmentMs              int64
	MaxMessageBytes        int32 // largest record batch accepted
	LogAppendTime          bool  // message.timestamp.type=LogAppendTime
	CleanupDelete          bool
	CleanupCompact         bool
	MinInsyncReplicas      int32
	DeleteRetentionMs      int64
	MinCompactionLagMs     int64
	MaxCompactionLagMs     int64
	MinCleanableDirtyRatio float64
	SegmentIndexBytes      int32
	IndexIntervalBytes     int32
	FileDeleteDelayMs      int64
	UncleanLeaderElection  bool
	CompressionType        string // producer, uncompressed, gzip, snappy, lz4 or zstd
	FlushMessages          int64
	FlushMs                int64
	TimestampBeforeMaxMs   int64
	TimestampAfterMaxMs    int64
}

const maxLong = "9223372036854775807"

// MinSegmentBytes is Spool's lower bound for segment.bytes. Kafka only
// demands 14 bytes (one legacy record header), which produces a segment per
// batch and thousands of open files; 1 KiB keeps tests able to force rolls
// cheaply without allowing that pathology.
const MinSegmentBytes = 1024

func parseInt64(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n
}

func parseInt32(v string) int32 { return int32(parseInt64(v)) }

// topicDefs is the single table of topic configs, sorted by name.
var topicDefs = []TopicConfigDef{
	{
		Name: "cleanup.policy", Type: TypeList, Default: "delete", BrokerSynonym: "log.cleanup.policy",
		Doc:   "delete: drop old segments by retention time/size; compact: keep the latest record per key. Both may be given.",
		check: listOf("delete", "compact"),
		apply: func(c *TopicConfig, v string) {
			c.CleanupDelete, c.CleanupCompact = false, false
			for _, p := range splitList(v) {
				c.CleanupDelete = c.CleanupDelete || p == "delete"
				c.CleanupCompact = c.CleanupCompact || p == "compact"
			}
		},
	},
	{
		Name: "compression.type", Type: TypeString, Default: "producer", BrokerSynonym: "compression.type",
		Doc:      "Final compression of stored batches; producer keeps whatever the producer sent (the only value Spool accepts: it does not recompress).",
		check:    oneOf("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"),
		settable: onlyProducerCompression,
		apply:    func(c *TopicConfig, v string) { c.CompressionType = strings.TrimSpace(v) },
	},
	{
		Name: "delete.retention.ms", Type: TypeLong, Default: "86400000", BrokerSynonym: "log.cleaner.delete.retention.ms",
		Doc:   "How long tombstones are kept in compacted topics, so consumers can see deletes.",
		check: longAtLeast(0),
		apply: func(c *TopicConfig, v string) { c.DeleteRetentionMs = parseInt64(v) },
	},
	{
		Name: "file.delete.delay.ms", Type: TypeLong, Default: "60000", BrokerSynonym: "log.segment.delete.delay.ms",
		Doc:   "Segment files removed by retention or compaction are renamed to <file>.deleted and deleted this long after, so in-flight reads finish; 0 deletes at once.",
		check: longAtLeast(0),
		apply: func(c *TopicConfig, v string) { c.FileDeleteDelayMs = parseInt64(v) },
	},
	{
		Name: "flush.messages", Type: TypeLong, Default: maxLong,
		Doc:   "Accepted for Kafka compatibility; Spool's broker-wide log.durability decides when data is fsynced.",
		check: longAtLeast(1),
		apply: func(c *TopicConfig, v string) { c.FlushMessages = parseInt64(v) },
	},
	{
		Name: "flush.ms", Type: TypeLong, Default: maxLong,
		Doc:   "Accepted for Kafka compatibility; Spool's broker-wide log.durability decides when data is fsynced.",
		check: longAtLeast(0),
		apply: func(c *TopicConfig, v string) { c.FlushMs = parseInt64(v) },
	},
	{
		Name: "index.interval.bytes", Type: TypeInt, Default: "4096", BrokerSynonym: "log.index.interval.bytes",
		Doc:   "Bytes of log between offset-index entries; smaller means faster lookups and bigger indexes.",
		check: intAtLeast(0),
		apply: func(c *TopicConfig, v string) { c.IndexIntervalBytes = parseInt32(v) },
	},
	{
		Name: "max.compaction.lag.ms", Type: TypeLong, Default: maxLong, BrokerSynonym: "log.cleaner.max.compaction.lag.ms",
		Doc:   "Longest time a record may stay uncompacted.",
		check: longAtLeast(1),
		apply: func(c *TopicConfig, v string) { c.MaxCompactionLagMs = parseInt64(v) },
	},
	{
		Name: "max.message.bytes", Type: TypeInt, Default: "1048588", BrokerSynonym: "message.max.bytes",
		Doc:   "Largest record batch (after compression) the topic accepts.",
		check: intAtLeast(0),
		apply: func(c *TopicConfig, v string) { c.MaxMessageBytes = parseInt32(v) },
	},
	{
		Name: "message.timestamp.after.max.ms", Type: TypeLong, Default: "3600000", BrokerSynonym: "log.message.timestamp.after.max.ms",
		Doc:   "How far in the future a CreateTime timestamp may be (Kafka 4.0 default: one hour).",
		check: longAtLeast(0),
		apply: func(c *TopicConfig, v string) { c.TimestampAfterMaxMs = parseInt64(v) },
	},
	{
		Name: "message.timestamp.before.max.ms", Type: TypeLong, Default: maxLong, BrokerSynonym: "log.message.timestamp.before.max.ms",
		Doc:   "How far in the past a CreateTime timestamp may be.",
		check: longAtLeast(0),
		apply: func(c *TopicConfig, v string) { c.TimestampBeforeMaxMs = parseInt64(v) },
	},
	{
		Name: "message.timestamp.type", Type: TypeString, Default: "CreateTime", BrokerSynonym: "log.message.timestamp.type",
		Doc:   "CreateTime keeps the producer's timestamp; LogAppendTime stamps batches with the broker's clock.",
		check: oneOf("CreateTime", "LogAppendTime"),
		apply: func(c *TopicConfig, v string) { c.LogAppendTime = strings.TrimSpace(v) == "LogAppendTime" },
	},
	{
		Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Default: "0.5", BrokerSynonym: "log.cleaner.min.cleanable.ratio",
		Doc:   "Fraction of uncompacted log that triggers compaction.",
		check: doubleRange(0, 1),
		apply: func(c *TopicConfig, v string) {
			c.MinCleanableDirtyRatio, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		},
	},
	{
		Name: "min.compaction.lag.ms", Type: TypeLong, Default: "0", BrokerSynonym: "log.cleaner.min.compaction.lag.ms",
		Doc:   "Shortest time a record stays uncompacted.",
		check: longAtLeast(0),
		apply: func(c *TopicConfig, v string) { c.MinCompactionLagMs = parseInt64(v) },
	},
	{
		Name: "min.insync.replicas", Type: TypeInt, Default: "1", BrokerSynonym: "min.insync.replicas",
		Doc:   "Replicas that must be in sync for an acks=all produce to succeed (else NOT_ENOUGH_REPLICAS).",
		check: intAtLeast(1),
		apply: func(c *TopicConfig, v string) { c.MinInsyncReplicas = parseInt32(v) },
	},
	{
		Name: "retention.bytes", Type: TypeLong, Default: "-1", BrokerSynonym: "log.retention.bytes",
		Doc:   "Largest size a partition may grow to before old segments are deleted; -1 for no limit.",
		check: longAtLeast(-1),
		apply: func(c *TopicConfig, v string) { c.RetentionBytes = parseInt64(v) },
	},
	{
		Name: "retention.ms", Type: TypeLong, Default: "604800000", BrokerSynonym: "log.retention.ms",
		Doc:   "How long a segment is kept after its newest record; -1 keeps data forever.",
		check: longAtLeast(-1),
		apply: func(c *TopicConfig, v string) { c.RetentionMs = parseInt64(v) },
	},
	{
		Name: "segment.bytes", Type: TypeInt, Default: "1073741824", BrokerSynonym: "log.segment.bytes",
		Doc:   "Segment file size at which a new segment is rolled (Spool's minimum is 1024; Kafka's is 14).",
		check: intAtLeast(MinSegmentBytes),
		apply: func(c *TopicConfig, v string) { c.SegmentBytes = parseInt64(v) },
	},
	{
		Name: "segment.index.bytes", Type: TypeInt, Default: "10485760", BrokerSynonym: "log.index.size.max.bytes",
		Doc:   "Maximum size of a segment's offset index (8-byte entries) and time index (12-byte entries); the active segment rolls when either is full.",
		check: intAtLeast(4),
		apply: func(c *TopicConfig, v string) { c.SegmentIndexBytes = parseInt32(v) },
	},
	{
		Name: "segment.ms", Type: TypeLong, Default: "604800000", BrokerSynonym: "log.roll.ms",
		Doc:   "Age at which the active segment is rolled even if not full, so retention can delete it.",
		check: longAtLeast(1),
		apply: func(c *TopicConfig, v string) { c.SegmentMs = parseInt64(v) },
	},
	{
		Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false", BrokerSynonym: "unclean.leader.election.enable",
		Doc:   "Allow an out-of-sync replica to become leader when no in-sync one is left (may lose data).",
		check: boolean(),
		apply: func(c *TopicConfig, v string) { c.UncleanLeaderElection, _ = parseBool(v) },
	},
}

// topicIndex finds a def by topic config name.
func topicIndex(name string) int {
	i := sort.Search(len(topicDefs), func(i int) bool { return topicDefs[i].Name >= name })
	if i < len(topicDefs) && topicDefs[i].Name == name {
		return i
	}
	return -1
}

// TopicConfigDefs returns every topic config definition, sorted by name.
// The slice is a copy; callers may keep or modify it.
func TopicConfigDefs() []TopicConfigDef {
	return append([]TopicConfigDef(nil), topicDefs...)
}

// LookupTopicConfig finds a topic config by its topic-level name.
func LookupTopicConfig(name string) (TopicConfigDef, bool) {
	if i := topicIndex(name); i >= 0 {
		return topicDefs[i], true
	}
	return TopicConfigDef{}, false
}

// lookupBrokerSynonym finds the topic config whose broker-level name is key.
func lookupBrokerSynonym(key string) (TopicConfigDef, bool) {
	for _, d := range topicDefs {
		if d.BrokerSynonym != "" && d.BrokerSynonym == key {
			return d, true
		}
	}
	return TopicConfigDef{}, false
}

// ValidateTopicConfigs checks topic override keys and values, as
// CreateTopics and AlterConfigs must before anything is committed. An
// unknown key wraps ErrUnknownConfig; a bad value wraps
// ErrInvalidConfigValue. Keys are checked in sorted order so the error is
// deterministic.
func ValidateTopicConfigs(overrides map[string]string) error {
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d, ok := LookupTopicConfig(k)
		if !ok {
			return unknown(k)
		}
		if err := d.ValidateSet(overrides[k]); err != nil {
			return err
		}
	}
	return checkCompactionLags(overrides["min.compaction.lag.ms"], overrides["max.compaction.lag.ms"])
}

// checkCompactionLags rejects min.compaction.lag.ms > max.compaction.lag.ms,
// which Kafka also refuses: the cleaner could never satisfy both. Empty
// values are not checked.
func checkCompactionLags(minLag, maxLag string) error {
	if minLag == "" || maxLag == "" {
		return nil
	}
	if parseInt64(minLag) > parseInt64(maxLag) {
		return invalid("min.compaction.lag.ms", "must not exceed max.compaction.lag.ms (%s), got %q", strings.TrimSpace(maxLag), minLag)
	}
	return nil
}

// effective returns the value and source of one config: the topic override,
// else the broker default, else Kafka's default.
func effective(d TopicConfigDef, overrides, brokerDefaults map[string]string) (string, ConfigSource) {
	if v, ok := overrides[d.Name]; ok {
		return v, SourceDynamicTopic
	}
	if v, ok := brokerDefaults[d.Name]; ok {
		return v, SourceStaticBroker
	}
	return d.Default, SourceDefault
}

// ResolveTopicConfig computes a topic's effective typed configuration.
// brokerDefaults is keyed by topic config name (Broker.TopicDefaults).
// Unknown keys or bad values in either map are errors (wrapping
// ErrUnknownConfig / ErrInvalidConfigValue).
func ResolveTopicConfig(overrides, brokerDefaults map[string]string) (TopicConfig, error) {
	for _, m := range []map[string]string{overrides, brokerDefaults} {
		for k := range m {
			if topicIndex(k) < 0 {
				return TopicConfig{}, unknown(k)
			}
		}
	}
	var c TopicConfig
	values := make(map[string]string, len(topicDefs))
	for _, d := range topicDefs {
		v, src := effective(d, overrides, brokerDefaults)
		if err := d.Validate(v); err != nil {
			if src == SourceStaticBroker && d.BrokerSynonym != "" {
				return TopicConfig{}, fmt.Errorf("broker default %s: %w", d.BrokerSynonym, err)
			}
			return TopicConfig{}, err
		}
		values[d.Name] = v
		d.apply(&c, v)
	}
	if err := checkCompactionLags(values["min.compaction.lag.ms"], values["max.compaction.lag.ms"]); err != nil {
		return TopicConfig{}, err
	}
	return c, nil
}

// DefaultTopicConfig is the effective configuration of a topic with no
// overrides on a broker with no topic defaults: Kafka's defaults.
func DefaultTopicConfig() TopicConfig {
	var c TopicConfig
	for _, d := range topicDefs {
		d.apply(&c, d.Default)
	}
	return c
}

// ConfigSource is where a config value came from, using the Kafka
// DescribeConfigs source codes.
type ConfigSource int8

// Kafka DescribeConfigs (v1+) config sources.
const (
	SourceUnknown              ConfigSource = 0
	SourceDynamicTopic         ConfigSource = 1 // a topic override
	SourceDynamicBroker        ConfigSource = 2
	SourceDynamicDefaultBroker ConfigSource = 3
	SourceStaticBroker         ConfigSource = 4 // the broker's config file/env/flags
	SourceDefault              ConfigSource = 5 // built-in default
)

// String names a source as Kafka's ConfigSource enum does.
func (s ConfigSource) String() string {
	switch s {
	case SourceDynamicTopic:
		return "DYNAMIC_TOPIC_CONFIG"
	case SourceDynamicBroker:
		return "DYNAMIC_BROKER_CONFIG"
	case SourceDynamicDefaultBroker:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case SourceStaticBroker:
		return "STATIC_BROKER_CONFIG"
	case SourceDefault:
		return "DEFAULT_CONFIG"
	}
	return "UNKNOWN"
}

// Synonym is one of the places a config's value could come from, listed
// in DescribeConfigs responses when the client asks for synonyms.
type Synonym struct {
	Name   string
	Value  string
	Source ConfigSource
}

// ConfigEntry is one row of a DescribeConfigs answer.
type ConfigEntry struct {
	Name      string
	Value     string
	Source    ConfigSource
	ReadOnly  bool
	Sensitive bool
	Type      string // Type* constant; see KafkaConfigType for the wire code
	Doc       string
	// Synonyms in Kafka's precedence order: topic override, broker
	// setting, default. Only the sources that exist are listed.
	Synonyms []Synonym
}

// DescribeTopicConfigs lists every topic config with its effective value
// and source, sorted by name. Values are reported as stored; invalid ones
// are not filtered (they were validated when set).
func DescribeTopicConfigs(overrides, brokerDefaults map[string]string) []ConfigEntry {
	out := make([]ConfigEntry, 0, len(topicDefs))
	for _, d := range topicDefs {
		v, src := effective(d, overrides, brokerDefaults)
		e := ConfigEntry{
			Name: d.Name, Value: v, Source: src,
			ReadOnly: d.ReadOnly, Sensitive: d.Sensitive, Type: d.Type, Doc: d.Doc,
		}
		brokerName := d.BrokerSynonym
		if brokerName == "" {
			brokerName = d.Name
		}
		if ov, ok := overrides[d.Name]; ok {
			e.Synonyms = append(e.Synonyms, Synonym{Name: d.Name, Value: ov, Source: SourceDynamicTopic})
		}
		if bv, ok := brokerDefaults[d.Name]; ok {
			e.Synonyms = append(e.Synonyms, Synonym{Name: brokerName, Value: bv, Source: SourceStaticBroker})
		}
		e.Synonyms = append(e.Synonyms, Synonym{Name: brokerName, Value: d.Default, Source: SourceDefault})
		if d.Sensitive {
			e.Value = ""
			for i := range e.Synonyms {
				e.Synonyms[i].Value = ""
			}
		}
		out = append(out, e)
	}
	return out
}
