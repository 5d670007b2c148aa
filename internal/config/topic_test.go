package config

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// validatorCases lists accepted and rejected values for every topic config.
// TestTopicValidators fails if a config in the table has no entry here, so
// a new config cannot ship without validator tests.
var validatorCases = map[string]struct{ good, bad []string }{
	"cleanup.policy":                  {[]string{"delete", "compact", "delete,compact", "compact, delete"}, []string{"", "keep", "delete,keep", ",", "Delete"}},
	"compression.type":                {[]string{"producer"}, []string{"", "none", "GZIP", "brotli", "uncompressed", "gzip", "snappy", "lz4", "zstd"}},
	"delete.retention.ms":             {[]string{"0", "86400000", "9223372036854775807"}, []string{"-1", "1.5", "x", "", "9223372036854775808"}},
	"file.delete.delay.ms":            {[]string{"0", "60000"}, []string{"-1", "soon"}},
	"flush.messages":                  {[]string{"1", "9223372036854775807"}, []string{"0", "-1", "many"}},
	"flush.ms":                        {[]string{"0", "1000"}, []string{"-1", "1s"}},
	"index.interval.bytes":            {[]string{"0", "4096", "2147483647"}, []string{"-1", "2147483648", "4k"}},
	"max.compaction.lag.ms":           {[]string{"1", "9223372036854775807"}, []string{"0", "-1"}},
	"max.message.bytes":               {[]string{"0", "1048588", "2147483647"}, []string{"-1", "2147483648", "1MB"}},
	"message.timestamp.after.max.ms":  {[]string{"0", "3600000"}, []string{"-1", "x"}},
	"message.timestamp.before.max.ms": {[]string{"0", "9223372036854775807"}, []string{"-1", "x"}},
	"message.timestamp.type":          {[]string{"CreateTime", "LogAppendTime"}, []string{"", "createtime", "LogAppend"}},
	"min.cleanable.dirty.ratio":       {[]string{"0", "0.5", "1", "1.0"}, []string{"-0.1", "1.01", "NaN", "half"}},
	"min.compaction.lag.ms":           {[]string{"0", "1000"}, []string{"-1", "x"}},
	"min.insync.replicas":             {[]string{"1", "3"}, []string{"0", "-1", "2147483648", "two"}},
	"retention.bytes":                 {[]string{"-1", "0", "1073741824"}, []string{"-2", "1GB"}},
	"retention.ms":                    {[]string{"-1", "0", "604800000"}, []string{"-2", "7d", ""}},
	"segment.bytes":                   {[]string{"1024", "1073741824", "2147483647"}, []string{"1023", "14", "0", "2147483648", "1G"}},
	"segment.index.bytes":             {[]string{"4", "10485760"}, []string{"3", "0", "big"}},
	"segment.ms":                      {[]string{"1", "604800000"}, []string{"0", "-1", "1h"}},
	"unclean.leader.election.enable":  {[]string{"true", "false", "TRUE", "False"}, []string{"", "yes", "1"}},
}

func TestTopicValidators(t *testing.T) {
	for _, d := range TopicConfigDefs() {
		tc, ok := validatorCases[d.Name]
		if !ok {
			t.Errorf("%s: no validator test cases", d.Name)
			continue
		}
		for _, v := range tc.good {
			if err := d.Validate(v); err != nil {
				t.Errorf("%s=%q: unexpected error %v", d.Name, v, err)
			}
			if err := ValidateTopicConfigs(map[string]string{d.Name: v}); err != nil {
				t.Errorf("ValidateTopicConfigs %s=%q: unexpected error %v", d.Name, v, err)
			}
		}
		for _, v := range tc.bad {
			err := ValidateTopicConfigs(map[string]string{d.Name: v})
			if !errors.Is(err, ErrInvalidConfigValue) {
				t.Errorf("%s=%q: got %v, want ErrInvalidConfigValue", d.Name, v, err)
				continue
			}
			msg := err.Error()
			if !strings.Contains(msg, d.Name) || !strings.Contains(msg, "\""+v+"\"") || !strings.Contains(msg, "must be") {
				t.Errorf("%s=%q: message %q should name key, value and rule", d.Name, v, msg)
			}
		}
	}
	for name := range validatorCases {
		if _, ok := LookupTopicConfig(name); !ok {
			t.Errorf("test case for unknown config %s", name)
		}
	}
}

func TestTopicDefaultsAreValidAndMatchKafka(t *testing.T) {
	kafka := map[string]string{
		"retention.ms": "604800000", "retention.bytes": "-1", "segment.bytes": "1073741824",
		"segment.ms": "604800000", "max.message.bytes": "1048588", "message.timestamp.type": "CreateTime",
		"cleanup.policy": "delete", "min.insync.replicas": "1", "delete.retention.ms": "86400000",
		"min.compaction.lag.ms": "0", "max.compaction.lag.ms": "9223372036854775807",
		"min.cleanable.dirty.ratio": "0.5", "index.interval.bytes": "4096",
		"segment.index.bytes": "10485760", "file.delete.delay.ms": "60000", "compression.type": "producer",
		"unclean.leader.election.enable": "false",
	}
	for _, d := range TopicConfigDefs() {
		if err := d.Validate(d.Default); err != nil {
			t.Errorf("%s: default %q invalid: %v", d.Name, d.Default, err)
		}
		if want, ok := kafka[d.Name]; ok && d.Default != want {
			t.Errorf("%s: default %q, Kafka's is %q", d.Name, d.Default, want)
		}
		if d.Doc == "" || d.Type == "" || KafkaConfigType(d.Type) == 0 {
			t.Errorf("%s: missing doc or type (%q)", d.Name, d.Type)
		}
	}
}

func TestTopicConfigDefsSortedAndLookup(t *testing.T) {
	defs := TopicConfigDefs()
	if !sort.SliceIsSorted(defs, func(i, j int) bool { return defs[i].Name < defs[j].Name }) {
		t.Fatal("TopicConfigDefs not sorted by name")
	}
	for _, d := range defs {
		got, ok := LookupTopicConfig(d.Name)
		if !ok || got.Name != d.Name {
			t.Errorf("LookupTopicConfig(%q) = %v, %v", d.Name, got.Name, ok)
		}
	}
	if _, ok := LookupTopicConfig("log.retention.ms"); ok {
		t.Error("broker-level name must not be a topic config")
	}
	defs[0].Name = "mutated"
	if TopicConfigDefs()[0].Name == "mutated" {
		t.Error("TopicConfigDefs returned the shared table")
	}
}

func TestValidateTopicConfigsUnknownKey(t *testing.T) {
	err := ValidateTopicConfigs(map[string]string{"retention.ms": "1000", "retention.msec": "1"})
	if !errors.Is(err, ErrUnknownConfig) || !strings.Contains(err.Error(), "retention.msec") {
		t.Fatalf("got %v, want ErrUnknownConfig naming retention.msec", err)
	}
	if errors.Is(err, ErrInvalidConfigValue) {
		t.Fatal("unknown key must not also be an invalid value")
	}
	if err := ValidateTopicConfigs(nil); err != nil {
		t.Fatalf("nil overrides: %v", err)
	}
}

func TestCompactionLagConflict(t *testing.T) {
	err := ValidateTopicConfigs(map[string]string{"min.compaction.lag.ms": "5000", "max.compaction.lag.ms": "1000"})
	if !errors.Is(err, ErrInvalidConfigValue) {
		t.Fatalf("min > max: got %v", err)
	}
	if err := ValidateTopicConfigs(map[string]string{"min.compaction.lag.ms": "1000", "max.compaction.lag.ms": "1000"}); err != nil {
		t.Fatalf("min == max: %v", err)
	}
	// The conflict may come from mixing an override with a broker default.
	_, err = ResolveTopicConfig(map[string]string{"min.compaction.lag.ms": "5000"}, map[string]string{"max.compaction.lag.ms": "1000"})
	if !errors.Is(err, ErrInvalidConfigValue) {
		t.Fatalf("resolve min > max: got %v", err)
	}
}

func TestResolveDefaults(t *testing.T) {
	got, err := ResolveTopicConfig(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := TopicConfig{
		RetentionMs: 604800000, RetentionBytes: -1, SegmentBytes: 1073741824, SegmentMs: 604800000,
		MaxMessageBytes: 1048588, CleanupDelete: true, MinInsyncReplicas: 1, DeleteRetentionMs: 86400000,
		MaxCompactionLagMs: 9223372036854775807, MinCleanableDirtyRatio: 0.5, SegmentIndexBytes: 10485760,
		IndexIntervalBytes: 4096, FileDeleteDelayMs: 60000, CompressionType: "producer",
		FlushMessages: 9223372036854775807, FlushMs: 9223372036854775807,
		TimestampBeforeMaxMs: 9223372036854775807, TimestampAfterMaxMs: 3600000,
	}
	if got != want {
		t.Fatalf("defaults:\n got %+v\nwant %+v", got, want)
	}
	if DefaultTopicConfig() != want {
		t.Fatalf("DefaultTopicConfig differs from ResolveTopicConfig(nil, nil)")
	}
}

// TestCompressionTypeOnlyProducer: every codec is refused when set, at
// the topic and in the broker config, while a value an older version
// stored still resolves (the topic keeps opening).
func TestCompressionTypeOnlyProducer(t *testing.T) {
	for _, v := range []string{"uncompressed", "gzip", "snappy", "lz4", "zstd"} {
		err := ValidateTopicConfigs(map[string]string{"compression.type": v})
		if !errors.Is(err, ErrInvalidConfigValue) || !strings.Contains(err.Error(), "does not recompress") {
			t.Errorf("topic compression.type=%s: %v, want a refusal saying why", v, err)
		}
		b := Default()
		err = b.Set("compression.type", v)
		if !errors.Is(err, ErrInvalidConfigValue) || !strings.HasPrefix(err.Error(), "compression.type: must be producer") {
			t.Errorf("broker compression.type=%s: %v", v, err)
		}
		b.TopicDefaults = map[string]string{"compression.type": v}
		if err := b.Validate(); !errors.Is(err, ErrInvalidConfigValue) {
			t.Errorf("broker TopicDefaults compression.type=%s validated: %v", v, err)
		}
		if c, err := ResolveTopicConfig(map[string]string{"compression.type": v}, nil); err != nil || c.CompressionType != v {
			t.Errorf("stored compression.type=%s no longer resolves: %+v, %v", v, c.CompressionType, err)
		}
	}
	b := Default()
	if err := b.Set("compression.type", "producer"); err != nil {
		t.Fatal(err)
	}
}

func TestResolvePrecedence(t *testing.T) {
	broker := map[string]string{"retention.ms": "3600000", "segment.bytes": "1048576", "cleanup.policy": "compact"}
	overrides := map[string]string{"retention.ms": "-1", "message.timestamp.type": "LogAppendTime", "cleanup.policy": "compact,delete", "min.cleanable.dirty.ratio": "0.25", "unclean.leader.election.enable": "true", "compression.type": "zstd"}
	got, err := ResolveTopicConfig(overrides, broker)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"override beats broker", got.RetentionMs, int64(-1)},
		{"broker beats default", got.SegmentBytes, int64(1048576)},
		{"default when neither", got.SegmentMs, int64(604800000)},
		{"timestamp type", got.LogAppendTime, true},
		{"cleanup delete", got.CleanupDelete, true},
		{"cleanup compact", got.CleanupCompact, true},
		{"ratio", got.MinCleanableDirtyRatio, 0.25},
		{"unclean", got.UncleanLeaderElection, true},
		{"compression", got.CompressionType, "zstd"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	onlyBroker, err := ResolveTopicConfig(nil, broker)
	if err != nil {
		t.Fatal(err)
	}
	if onlyBroker.CleanupDelete || !onlyBroker.CleanupCompact || onlyBroker.RetentionMs != 3600000 {
		t.Errorf("broker defaults not applied: %+v", onlyBroker)
	}
}

func TestResolveErrors(t *testing.T) {
	cases := []struct {
		name              string
		overrides, broker map[string]string
		want              error
		mention           string
	}{
		{"unknown override", map[string]string{"nope": "1"}, nil, ErrUnknownConfig, "nope"},
		{"unknown broker default", nil, map[string]string{"log.retention.ms": "1"}, ErrUnknownConfig, "log.retention.ms"},
		{"bad override", map[string]string{"segment.ms": "0"}, nil, ErrInvalidConfigValue, "segment.ms"},
		{"bad broker default names broker key", nil, map[string]string{"retention.ms": "-5"}, ErrInvalidConfigValue, "log.retention.ms"},
	}
	for _, c := range cases {
		_, err := ResolveTopicConfig(c.overrides, c.broker)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: got %v, want %v mentioning %q", c.name, err, c.want, c.mention)
		}
	}
}

func TestDescribeTopicConfigs(t *testing.T) {
	overrides := map[string]string{"retention.ms": "1000"}
	broker := map[string]string{"retention.ms": "2000", "segment.bytes": "1048576"}
	entries := DescribeTopicConfigs(overrides, broker)
	if len(entries) != len(TopicConfigDefs()) {
		t.Fatalf("%d entries, want one per config (%d)", len(entries), len(TopicConfigDefs()))
	}
	by := map[string]ConfigEntry{}
	for i, e := range entries {
		if i > 0 && entries[i-1].Name >= e.Name {
			t.Fatalf("entries not sorted at %s", e.Name)
		}
		by[e.Name] = e
	}

	ret := by["retention.ms"]
	if ret.Value != "1000" || ret.Source != SourceDynamicTopic || ret.Type != TypeLong {
		t.Errorf("retention.ms: %+v", ret)
	}
	wantSyn := []Synonym{
		{"retention.ms", "1000", SourceDynamicTopic},
		{"log.retention.ms", "2000", SourceStaticBroker},
		{"log.retention.ms", "604800000", SourceDefault},
	}
	if !reflect.DeepEqual(ret.Synonyms, wantSyn) {
		t.Errorf("retention.ms synonyms:\n got %+v\nwant %+v", ret.Synonyms, wantSyn)
	}

	seg := by["segment.bytes"]
	if seg.Value != "1048576" || seg.Source != SourceStaticBroker || len(seg.Synonyms) != 2 {
		t.Errorf("segment.bytes: %+v", seg)
	}
	ct := by["cleanup.policy"]
	if ct.Value != "delete" || ct.Source != SourceDefault || len(ct.Synonyms) != 1 || ct.Synonyms[0].Name != "log.cleanup.policy" {
		t.Errorf("cleanup.policy: %+v", ct)
	}
	fl := by["flush.ms"]
	if fl.Source != SourceDefault || fl.Synonyms[0].Name != "flush.ms" {
		t.Errorf("flush.ms without broker synonym: %+v", fl)
	}
}

func TestConfigSourceCodes(t *testing.T) {
	// Wire values from Kafka's DescribeConfigs ConfigSource enum.
	codes := map[ConfigSource]int8{SourceDynamicTopic: 1, SourceDynamicBroker: 2, SourceDynamicDefaultBroker: 3, SourceStaticBroker: 4, SourceDefault: 5}
	for s, want := range codes {
		if int8(s) != want {
			t.Errorf("%v = %d, want %d", s, int8(s), want)
		}
	}
	if SourceStaticBroker.String() != "STATIC_BROKER_CONFIG" || ConfigSource(42).String() != "UNKNOWN" {
		t.Error("ConfigSource.String")
	}
	types := map[string]int8{TypeBoolean: 1, TypeString: 2, TypeInt: 3, TypeShort: 4, TypeLong: 5, TypeDouble: 6, TypeList: 7, TypePassword: 9, "class": 0}
	for typ, want := range types {
		if got := KafkaConfigType(typ); got != want {
			t.Errorf("KafkaConfigType(%q) = %d, want %d", typ, got, want)
		}
	}
}
