package handlers_test

import (
	"crypto/rand"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/config"
)

// topicConfig describes one config of a topic through kadm.
func (tb *testBroker) topicConfig(topic, name string) kadm.Config {
	tb.t.Helper()
	rcs, err := tb.adm.DescribeTopicConfigs(ctx(tb.t), topic)
	if err != nil {
		tb.t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		tb.t.Fatalf("describing %s: %v", topic, err)
	}
	for _, c := range rc.Configs {
		if c.Key == name {
			return c
		}
	}
	tb.t.Fatalf("topic %s has no config %s", topic, name)
	return kadm.Config{}
}

// wantConfig checks a topic config's value and source.
func (tb *testBroker) wantConfig(topic, name, value string, source kmsg.ConfigSource) {
	tb.t.Helper()
	c := tb.topicConfig(topic, name)
	if c.MaybeValue() != value || c.Source != source {
		tb.t.Errorf("%s %s = %q from %v, want %q from %v", topic, name, c.MaybeValue(), c.Source, value, source)
	}
}

func TestDescribeConfigs(t *testing.T) {
	tb := startBroker(t, func(c *config.Broker) {
		c.TopicDefaults = map[string]string{"segment.bytes": "1048576"}
	})
	tb.createTopic("t", 1, map[string]*string{"retention.ms": ptr("1000")})

	t.Run("topic sources and synonyms", func(t *testing.T) {
		c := tb.topicConfig("t", "retention.ms")
		if c.MaybeValue() != "1000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("retention.ms = %+v", c)
		}
		if len(c.Synonyms) < 2 || c.Synonyms[0].Source != kmsg.ConfigSourceDynamicTopicConfig ||
			c.Synonyms[len(c.Synonyms)-1].Key != "log.retention.ms" || c.Synonyms[len(c.Synonyms)-1].Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("retention.ms synonyms = %+v, want the override then log.retention.ms's default", c.Synonyms)
		}
		tb.wantConfig("t", "segment.bytes", "1048576", kmsg.ConfigSourceStaticBrokerConfig)
		tb.wantConfig("t", "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)
	})

	describe := func(version int16, req *kmsg.DescribeConfigsRequest) []kmsg.DescribeConfigsResponseResource {
		return tb.send(tb.pinned(req.Key(), version), req).(*kmsg.DescribeConfigsResponse).Resources
	}
	resource := func(typ kmsg.ConfigResourceType, name string, keys ...string) kmsg.DescribeConfigsRequestResource {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName, r.ConfigNames = typ, name, keys
		return r
	}

	t.Run("errors", func(t *testing.T) {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.Resources = []kmsg.DescribeConfigsRequestResource{
			resource(kmsg.ConfigResourceTypeTopic, "missing"),
			resource(kmsg.ConfigResourceTypeTopic, "bad/name"),
			resource(kmsg.ConfigResourceTypeBroker, "2"),
			resource(kmsg.ConfigResourceTypeBroker, "one"),
			resource(kmsg.ConfigResourceTypeBrokerLogger, "1"),
		}
		got := describe(4, req)
		want := []*kerr.Error{kerr.UnknownTopicOrPartition, kerr.InvalidTopicException, kerr.InvalidRequest, kerr.InvalidRequest, kerr.InvalidRequest}
		for i, w := range want {
			wantCode(t, got[i].ResourceName, got[i].ErrorCode, w)
			if got[i].ErrorMessage == nil {
				t.Errorf("%s: no error message", got[i].ResourceName)
			}
		}
	})

	t.Run("filter, types and documentation (v3)", func(t *testing.T) {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.IncludeDocumentation = true
		req.Resources = []kmsg.DescribeConfigsRequestResource{resource(kmsg.ConfigResourceTypeTopic, "t", "retention.ms", "cleanup.policy", "no.such.config")}
		got := describe(3, req)[0]
		wantCode(t, "describe", got.ErrorCode, errNone)
		if len(got.Configs) != 2 {
			t.Fatalf("%d configs for a 2-key filter: %+v", len(got.Configs), got.Configs)
		}
		for _, c := range got.Configs {
			want := map[string]kmsg.ConfigType{"retention.ms": kmsg.ConfigTypeLong, "cleanup.policy": kmsg.ConfigTypeList}[c.Name]
			if c.ConfigType != want {
				t.Errorf("%s type %v, want %v", c.Name, c.ConfigType, want)
			}
			if c.Documentation == nil || *c.Documentation == "" {
				t.Errorf("%s has no documentation", c.Name)
			}
			if len(c.ConfigSynonyms) != 0 {
				t.Errorf("%s has synonyms although none were asked for", c.Name)
			}
		}
	})

	t.Run("v0 is_default", func(t *testing.T) {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.Resources = []kmsg.DescribeConfigsRequestResource{resource(kmsg.ConfigResourceTypeTopic, "t", "retention.ms", "cleanup.policy")}
		got := describe(0, req)[0]
		isDefault := map[string]bool{}
		for _, c := range got.Configs {
			isDefault[c.Name] = c.IsDefault
		}
		if isDefault["retention.ms"] || !isDefault["cleanup.policy"] {
			t.Errorf("is_default = %v, want retention.ms false and cleanup.policy true", isDefault)
		}
	})

	t.Run("broker", func(t *testing.T) {
		rcs, err := tb.adm.DescribeBrokerConfigs(ctx(t), nodeID)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On(strconv.Itoa(nodeID), nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("describe broker: %v %v", err, rc.Err)
		}
		got := map[string]kadm.Config{}
		for _, c := range rc.Configs {
			got[c.Key] = c
		}
		check := func(key, value string, source kmsg.ConfigSource) {
			t.Helper()
			c, ok := got[key]
			if !ok || c.MaybeValue() != value || c.Source != source {
				t.Errorf("broker %s = %+v, want %q from %v", key, c, value, source)
			}
		}
		check("log.dirs", tb.cfg.DataDir, kmsg.ConfigSourceStaticBrokerConfig)
		check("log.segment.bytes", "1048576", kmsg.ConfigSourceStaticBrokerConfig)
		check("num.partitions", "1", kmsg.ConfigSourceDefaultConfig)
		if syn := got["log.dirs"].Synonyms; len(syn) != 2 || syn[1].Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("log.dirs synonyms = %+v, want the configured value then the default", syn)
		}

		// The empty name asks for cluster-wide dynamic configs: none.
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.Resources = []kmsg.DescribeConfigsRequestResource{resource(kmsg.ConfigResourceTypeBroker, "")}
		all := describe(4, req)[0]
		if all.ErrorCode != 0 || len(all.Configs) != 0 {
			t.Errorf("empty broker name: error %d, %d configs; want none", all.ErrorCode, len(all.Configs))
		}
	})
}

// produceErr produces one record of size random bytes and returns the error.
func (tb *testBroker) produceErr(topic string, size int) error {
	tb.t.Helper()
	value := make([]byte, size)
	rand.Read(value)
	cl := tb.client(kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordRetries(1))
	return cl.ProduceSync(ctx(tb.t), &kgo.Record{Topic: topic, Value: value}).FirstErr()
}

func TestIncrementalAlterConfigs(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("t", 1, map[string]*string{"retention.ms": ptr("1000")})
	alter := func(topic string, cfgs ...kadm.AlterConfig) error {
		t.Helper()
		resps, err := tb.adm.AlterTopicConfigs(ctx(t), cfgs, topic)
		if err != nil {
			t.Fatal(err)
		}
		r, err := resps.On(topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.Err
	}

	t.Run("set applies to running partitions", func(t *testing.T) {
		if err := tb.produceErr("t", 4000); err != nil {
			t.Fatalf("producing before the change: %v", err)
		}
		if err := alter("t", kadm.AlterConfig{Op: kadm.SetConfig, Name: "max.message.bytes", Value: ptr("2048")}); err != nil {
			t.Fatal(err)
		}
		tb.wantConfig("t", "max.message.bytes", "2048", kmsg.ConfigSourceDynamicTopicConfig)
		wantErr(t, "4000-byte record over a 2048 limit", tb.produceErr("t", 4000), kerr.MessageTooLarge)
	})

	t.Run("delete reverts to the default", func(t *testing.T) {
		if err := alter("t", kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"}); err != nil {
			t.Fatal(err)
		}
		tb.wantConfig("t", "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	})

	t.Run("append and subtract lists", func(t *testing.T) {
		if err := alter("t", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: ptr("compact")}); err != nil {
			t.Fatal(err)
		}
		tb.wantConfig("t", "cleanup.policy", "delete,compact", kmsg.ConfigSourceDynamicTopicConfig)
		if err := alter("t", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: ptr("compact")}); err != nil {
			t.Fatal(err)
		}
		tb.wantConfig("t", "cleanup.policy", "delete,compact", kmsg.ConfigSourceDynamicTopicConfig)
		if err := alter("t", kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: ptr("delete")}); err != nil {
			t.Fatal(err)
		}
		tb.wantConfig("t", "cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig)
	})

	t.Run("rejected changes leave configs alone", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			cfgs []kadm.AlterConfig
			want *kerr.Error
		}{
			{"bad value", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.ms", Value: ptr("7")}, {Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("never")}}, kerr.InvalidConfig},
			{"unknown key", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.ms", Value: ptr("7")}, {Op: kadm.SetConfig, Name: "no.such", Value: ptr("1")}}, kerr.InvalidConfig},
			{"append to non-list", []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "segment.ms", Value: ptr("7")}}, kerr.InvalidConfig},
			{"null set", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.ms"}}, kerr.InvalidRequest},
			{"duplicate key", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.ms", Value: ptr("7")}, {Op: kadm.DeleteConfig, Name: "segment.ms"}}, kerr.InvalidRequest},
		} {
			wantErr(t, tc.name, alter("t", tc.cfgs...), tc.want)
		}
		tb.wantConfig("t", "segment.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
		wantErr(t, "unknown topic", alter("nope", kadm.AlterConfig{Op: kadm.SetConfig, Name: "segment.ms", Value: ptr("7")}), kerr.UnknownTopicOrPartition)
	})

	t.Run("validate only", func(t *testing.T) {
		resps, err := tb.adm.ValidateAlterTopicConfigs(ctx(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.ms", Value: ptr("7")}}, "t")
		if err != nil || resps[0].Err != nil {
			t.Fatalf("validate: %v %v", err, resps[0].Err)
		}
		tb.wantConfig("t", "segment.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	})

	t.Run("broker resources", func(t *testing.T) {
		resps, err := tb.adm.AlterBrokerConfigs(ctx(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "num.partitions", Value: ptr("3")}}, nodeID)
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "broker config", resps[0].Err, kerr.InvalidRequest)
		if resps[0].ErrMessage == "" {
			t.Error("no message explaining that dynamic broker configs are unsupported")
		}
	})
}

func TestAlterConfigs(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("t", 1, map[string]*string{"retention.ms": ptr("1000"), "max.message.bytes": ptr("2048")})
	replace := func(validate bool, topic string, cfgs ...kadm.AlterConfig) error {
		t.Helper()
		fn := tb.adm.AlterTopicConfigsState
		if validate {
			fn = tb.adm.ValidateAlterTopicConfigsState
		}
		resps, err := fn(ctx(t), cfgs, topic)
		if err != nil {
			t.Fatal(err)
		}
		return resps[0].Err
	}

	t.Run("replaces the whole override set", func(t *testing.T) {
		if err := replace(false, "t", kadm.AlterConfig{Name: "segment.ms", Value: ptr("60000")}); err != nil {
			t.Fatal(err)
		}
		tb.wantConfig("t", "segment.ms", "60000", kmsg.ConfigSourceDynamicTopicConfig)
		tb.wantConfig("t", "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
		tb.wantConfig("t", "max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)
		// The partition no longer enforces the 2048-byte limit.
		if err := tb.produceErr("t", 4000); err != nil {
			t.Errorf("producing 4000 bytes after the limit was removed: %v", err)
		}
	})

	t.Run("rejected", func(t *testing.T) {
		wantErr(t, "bad value", replace(false, "t", kadm.AlterConfig{Name: "segment.ms", Value: ptr("x")}), kerr.InvalidConfig)
		wantErr(t, "unknown key", replace(false, "t", kadm.AlterConfig{Name: "nope", Value: ptr("1")}), kerr.InvalidConfig)
		wantErr(t, "null value", replace(false, "t", kadm.AlterConfig{Name: "segment.ms"}), kerr.InvalidRequest)
		wantErr(t, "unknown topic", replace(false, "nope", kadm.AlterConfig{Name: "segment.ms", Value: ptr("1")}), kerr.UnknownTopicOrPartition)
		if err := replace(true, "t", kadm.AlterConfig{Name: "retention.ms", Value: ptr("5")}); err != nil {
			t.Errorf("validate only: %v", err)
		}
		tb.wantConfig("t", "segment.ms", "60000", kmsg.ConfigSourceDynamicTopicConfig)
		tb.wantConfig("t", "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	})

	t.Run("broker and duplicate resources", func(t *testing.T) {
		req := kmsg.NewPtrAlterConfigsRequest()
		for _, r := range []struct {
			typ  kmsg.ConfigResourceType
			name string
		}{{kmsg.ConfigResourceTypeBroker, "1"}, {kmsg.ConfigResourceTypeTopic, "t"}, {kmsg.ConfigResourceTypeTopic, "t"}} {
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = r.typ, r.name
			req.Resources = append(req.Resources, rr)
		}
		got := tb.send(tb.pinned(req.Key(), 0), req).(*kmsg.AlterConfigsResponse).Resources
		for _, r := range got {
			wantCode(t, r.ResourceType.String()+" "+r.ResourceName, r.ErrorCode, kerr.InvalidRequest)
		}
		tb.wantConfig("t", "segment.ms", "60000", kmsg.ConfigSourceDynamicTopicConfig)
	})
}
