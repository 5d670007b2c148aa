package handlers_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/config"
)

func TestCreateTopics(t *testing.T) {
	tb := startBroker(t, func(c *config.Broker) { c.DefaultPartitions = 2 })

	t.Run("created with configs and usable at once", func(t *testing.T) {
		resp := tb.createTopic("orders", 3, map[string]*string{"retention.ms": ptr("1000")})
		if resp.NumPartitions != 3 || resp.ReplicationFactor != 1 {
			t.Errorf("partitions %d rf %d, want 3 and 1", resp.NumPartitions, resp.ReplicationFactor)
		}
		if resp.ID == [16]byte{} {
			t.Error("no topic id in the v7 response")
		}
		c, ok := resp.Configs["retention.ms"]
		if !ok || c.Value == nil || *c.Value != "1000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("retention.ms in response = %+v, want 1000 from the topic", c)
		}
		if c := resp.Configs["cleanup.policy"]; c.Value == nil || *c.Value != "delete" || c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("cleanup.policy in response = %+v, want the default delete", c)
		}
		if md := tb.topicMeta("orders"); md.TopicID != resp.ID || len(md.Partitions) != 3 {
			t.Errorf("metadata = %+v, want 3 partitions with id %v", md, resp.ID)
		}
		// The replicas exist before the response: producing succeeds
		// immediately, without retries on NOT_LEADER.
		if off := tb.produce("orders", 2, 1, []byte("x")); off != 0 {
			t.Errorf("first record at offset %d, want 0", off)
		}
	})

	t.Run("already exists", func(t *testing.T) {
		wantErr(t, "second create", tb.tryCreate("orders", 1, 1, nil).Err, kerr.TopicAlreadyExists)
	})

	t.Run("broker defaults", func(t *testing.T) {
		resp := tb.createTopic("defaults", -1, nil)
		if resp.NumPartitions != 2 || resp.ReplicationFactor != 1 {
			t.Errorf("partitions %d rf %d, want num.partitions=2 and rf 1", resp.NumPartitions, resp.ReplicationFactor)
		}
	})

	t.Run("validate only", func(t *testing.T) {
		resps, err := tb.adm.ValidateCreateTopics(ctx(t), 4, 1, map[string]*string{"cleanup.policy": ptr("compact")}, "dry")
		if err != nil {
			t.Fatal(err)
		}
		resp := resps["dry"]
		if resp.Err != nil || resp.NumPartitions != 4 {
			t.Errorf("validation = %+v, want success with 4 partitions", resp)
		}
		if c := resp.Configs["cleanup.policy"]; c.Value == nil || *c.Value != "compact" {
			t.Errorf("cleanup.policy = %+v, want compact", c)
		}
		wantCode(t, "metadata of a validated topic", tb.topicMeta("dry").ErrorCode, kerr.UnknownTopicOrPartition)
	})

	t.Run("rejected", func(t *testing.T) {
		for _, tc := range []struct {
			name       string
			topic      string
			partitions int32
			rf         int16
			configs    map[string]*string
			want       *kerr.Error
		}{
			{"bad name", "bad/name", 1, 1, nil, kerr.InvalidTopicException},
			{"dot name", "..", 1, 1, nil, kerr.InvalidTopicException},
			{"zero partitions", "zero", 0, 1, nil, kerr.InvalidPartitions},
			{"negative partitions", "negative", -2, 1, nil, kerr.InvalidPartitions},
			{"rf above brokers", "rf2", 1, 2, nil, kerr.InvalidReplicationFactor},
			{"rf zero", "rf0", 1, 0, nil, kerr.InvalidReplicationFactor},
			{"bad config value", "badcfg", 1, 1, map[string]*string{"retention.ms": ptr("soon")}, kerr.InvalidConfig},
			{"unknown config", "unknowncfg", 1, 1, map[string]*string{"retention.msec": ptr("1")}, kerr.InvalidConfig},
			{"null config", "nullcfg", 1, 1, map[string]*string{"retention.ms": nil}, kerr.InvalidConfig},
			{"internal name", "__consumer_offsets", 1, 1, nil, kerr.InvalidRequest},
			{"internal prefix", "__transaction_state_x", 1, 1, nil, kerr.InvalidRequest},
			// "orders" exists; "orders_x" vs "orders.x" is checked below.
		} {
			resp := tb.tryCreate(tc.topic, tc.partitions, tc.rf, tc.configs)
			wantErr(t, tc.name, resp.Err, tc.want)
			if resp.Err != nil && resp.ErrMessage == "" {
				t.Errorf("%s: no error message", tc.name)
			}
		}
		// Other __ names are ordinary topics, as in Kafka.
		tb.createTopic("__mine", 1, nil)
		// '.' and '_' collide (they map to the same metric names).
		tb.createTopic("my.topic", 1, nil)
		wantErr(t, "collision", tb.tryCreate("my_topic", 1, 1, nil).Err, kerr.InvalidTopicException)
	})

	t.Run("duplicate in request", func(t *testing.T) {
		req := kmsg.NewPtrCreateTopicsRequest()
		for range 2 {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "twice", 1, 1
			req.Topics = append(req.Topics, rt)
		}
		resp := tb.send(nil, req).(*kmsg.CreateTopicsResponse)
		if len(resp.Topics) != 2 {
			t.Fatalf("%d topics in response, want 2", len(resp.Topics))
		}
		for _, rt := range resp.Topics {
			wantCode(t, "duplicate", rt.ErrorCode, kerr.InvalidRequest)
		}
	})

	t.Run("manual assignment", func(t *testing.T) {
		assign := func(topic string, parts int32, rf int16, replicas ...[]int32) kmsg.CreateTopicsResponseTopic {
			req := kmsg.NewPtrCreateTopicsRequest()
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, parts, rf
			for i, r := range replicas {
				a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
				a.Partition, a.Replicas = int32(i), r
				rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
			}
			req.Topics = append(req.Topics, rt)
			return tb.send(nil, req).(*kmsg.CreateTopicsResponse).Topics[0]
		}
		ok := assign("manual", -1, -1, []int32{nodeID}, []int32{nodeID})
		wantCode(t, "manual", ok.ErrorCode, errNone)
		if ok.NumPartitions != 2 || ok.ReplicationFactor != 1 {
			t.Errorf("manual: %d partitions rf %d, want 2 and 1", ok.NumPartitions, ok.ReplicationFactor)
		}
		wantCode(t, "counts with assignment", assign("both", 2, -1, []int32{nodeID}, []int32{nodeID}).ErrorCode, kerr.InvalidRequest)
		wantCode(t, "unknown broker", assign("nobroker", -1, -1, []int32{7}).ErrorCode, kerr.InvalidReplicaAssignment)
		wantCode(t, "duplicate replica", assign("dupreplica", -1, -1, []int32{nodeID, nodeID}).ErrorCode, kerr.InvalidReplicaAssignment)

		// Partitions must be numbered from 0 without gaps.
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "gap", -1, -1
		for _, p := range []int32{0, 2} {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = p, []int32{nodeID}
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		req.Topics = append(req.Topics, rt)
		wantCode(t, "gap", tb.send(nil, req).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode, kerr.InvalidReplicaAssignment)
	})

	t.Run("old versions", func(t *testing.T) {
		create := func(version int16, topic string, parts int32, rf int16) kmsg.CreateTopicsResponseTopic {
			req := kmsg.NewPtrCreateTopicsRequest()
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, parts, rf
			req.Topics = append(req.Topics, rt)
			return tb.send(tb.pinned(req.Key(), version), req).(*kmsg.CreateTopicsResponse).Topics[0]
		}
		// Before v4, -1 is not "the broker default".
		wantCode(t, "v3 default partitions", create(3, "v3defaults", -1, 1).ErrorCode, kerr.InvalidPartitions)
		wantCode(t, "v3 default rf", create(3, "v3defaultrf", 1, -1).ErrorCode, kerr.InvalidReplicationFactor)
		wantCode(t, "v4 defaults", create(4, "v4defaults", -1, -1).ErrorCode, errNone)
		if rt := create(0, "v0topic", 1, 1); rt.ErrorCode != 0 {
			t.Errorf("v0 create: %v", kerr.ErrorForCode(rt.ErrorCode))
		}
		// v4 answers carry no configs or counts (KIP-525 is v5).
		rt := create(4, "v4topic", 1, 1)
		if rt.ErrorCode != 0 || len(rt.Configs) != 0 || rt.NumPartitions != -1 {
			t.Errorf("v4 create = %+v, want success without v5 details", rt)
		}
		if n := len(tb.topicMeta("v0topic").Partitions); n != 1 {
			t.Errorf("v0topic has %d partitions, want 1", n)
		}
		if n := len(tb.topicMeta("v4defaults").Partitions); n != 2 {
			t.Errorf("v4defaults has %d partitions, want num.partitions=2", n)
		}
	})
}

func TestDeleteTopics(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("a", 2, nil)
	b := tb.createTopic("b", 1, nil)
	tb.produce("a", 0, 3, []byte("old"))

	t.Run("by name", func(t *testing.T) {
		resp, err := tb.adm.DeleteTopic(ctx(t), "a")
		if err != nil || resp.Err != nil {
			t.Fatalf("delete: %v %v", err, resp.Err)
		}
		wantCode(t, "metadata after delete", tb.topicMeta("a").ErrorCode, kerr.UnknownTopicOrPartition)
		// The local replicas went with it.
		dirs, err := tb.adm.DescribeAllLogDirs(ctx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		dirs.Each(func(d kadm.DescribedLogDir) {
			if _, ok := d.Topics["a"]; ok {
				t.Error("log dir still lists deleted topic a")
			}
		})
	})

	t.Run("recreated topic starts empty", func(t *testing.T) {
		tb.createTopic("a", 1, nil)
		ends, err := tb.adm.ListEndOffsets(ctx(t), "a")
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := ends.Lookup("a", 0); o.Err != nil || o.Offset != 0 {
			t.Errorf("end offset of recreated topic = %+v, want 0", o)
		}
	})

	t.Run("unknown", func(t *testing.T) {
		resps, err := tb.adm.DeleteTopics(ctx(t), "nope")
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "unknown topic", resps["nope"].Err, kerr.UnknownTopicOrPartition)
		if resps["nope"].ErrMessage == "" {
			t.Error("v6 error without a message")
		}
	})

	t.Run("by id (v6)", func(t *testing.T) {
		req := kmsg.NewPtrDeleteTopicsRequest()
		byID := kmsg.NewDeleteTopicsRequestTopic()
		byID.TopicID = b.ID
		unknown := kmsg.NewDeleteTopicsRequestTopic()
		unknown.TopicID = [16]byte{1, 2, 3}
		both := kmsg.NewDeleteTopicsRequestTopic()
		both.Topic, both.TopicID = ptr("x"), [16]byte{9}
		req.Topics = append(req.Topics, byID, unknown, both)
		resp := tb.send(nil, req).(*kmsg.DeleteTopicsResponse)
		if len(resp.Topics) != 3 {
			t.Fatalf("%d topics in response", len(resp.Topics))
		}
		got := resp.Topics[0]
		wantCode(t, "by id", got.ErrorCode, errNone)
		if got.Topic == nil || *got.Topic != "b" || got.TopicID != b.ID {
			t.Errorf("by id: answered %v %v, want b and its id", got.Topic, got.TopicID)
		}
		wantCode(t, "unknown id", resp.Topics[1].ErrorCode, kerr.UnknownTopicID)
		wantCode(t, "name and id", resp.Topics[2].ErrorCode, kerr.InvalidRequest)
		if resp.Topics[1].ErrorMessage == nil {
			t.Error("v6 error without a message")
		}
		wantCode(t, "b after delete by id", tb.topicMeta("b").ErrorCode, kerr.UnknownTopicOrPartition)
	})

	t.Run("duplicate and old version", func(t *testing.T) {
		tb.createTopic("c", 1, nil)
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TopicNames = []string{"c", "c"}
		resp := tb.send(tb.pinned(req.Key(), 0), req).(*kmsg.DeleteTopicsResponse)
		for _, rt := range resp.Topics {
			wantCode(t, "duplicate", rt.ErrorCode, kerr.InvalidRequest)
		}
		req.TopicNames = []string{"c"}
		resp = tb.send(tb.pinned(req.Key(), 0), req).(*kmsg.DeleteTopicsResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || *resp.Topics[0].Topic != "c" {
			t.Errorf("v0 delete = %+v", resp.Topics)
		}
	})
}

func TestCreatePartitions(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("grow", 1, nil)

	t.Run("grow", func(t *testing.T) {
		resps, err := tb.adm.UpdatePartitions(ctx(t), 3, "grow")
		if err != nil {
			t.Fatal(err)
		}
		if err := resps["grow"].Err; err != nil {
			t.Fatalf("grow: %v", err)
		}
		if n := len(tb.topicMeta("grow").Partitions); n != 3 {
			t.Fatalf("%d partitions after growing to 3", n)
		}
		if off := tb.produce("grow", 2, 1, []byte("x")); off != 0 {
			t.Errorf("new partition: first offset %d", off)
		}
	})

	t.Run("validate only", func(t *testing.T) {
		resps, err := tb.adm.ValidateUpdatePartitions(ctx(t), 5, "grow")
		if err != nil || resps["grow"].Err != nil {
			t.Fatalf("validate: %v %v", err, resps["grow"].Err)
		}
		if n := len(tb.topicMeta("grow").Partitions); n != 3 {
			t.Errorf("%d partitions after a validate-only request, want 3", n)
		}
	})

	send := func(version int16, validateOnly bool, topics ...kmsg.CreatePartitionsRequestTopic) []kmsg.CreatePartitionsResponseTopic {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.Topics, req.ValidateOnly = topics, validateOnly
		return tb.send(tb.pinned(req.Key(), version), req).(*kmsg.CreatePartitionsResponse).Topics
	}
	topic := func(name string, count int32, assignment ...[]int32) kmsg.CreatePartitionsRequestTopic {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, count
		for _, r := range assignment {
			a := kmsg.NewCreatePartitionsRequestTopicAssignment()
			a.Replicas = r
			rt.Assignment = append(rt.Assignment, a)
		}
		return rt
	}

	t.Run("rejected", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			topic kmsg.CreatePartitionsRequestTopic
			want  *kerr.Error
		}{
			{"decrease", topic("grow", 2), kerr.InvalidPartitions},
			{"no change", topic("grow", 3), kerr.InvalidPartitions},
			{"unknown topic", topic("nope", 4), kerr.UnknownTopicOrPartition},
			{"invalid name", topic("bad/name", 2), kerr.InvalidTopicException},
			{"assignment count", topic("grow", 5, []int32{nodeID}), kerr.InvalidReplicaAssignment},
			{"unknown broker", topic("grow", 4, []int32{42}), kerr.InvalidReplicaAssignment},
			{"replica count", topic("grow", 4, []int32{nodeID, nodeID}), kerr.InvalidReplicaAssignment},
		} {
			got := send(3, false, tc.topic)[0]
			wantCode(t, tc.name, got.ErrorCode, tc.want)
			if got.ErrorMessage == nil {
				t.Errorf("%s: no error message", tc.name)
			}
		}
		got := send(3, false, topic("grow", 4), topic("grow", 5))
		for _, rt := range got {
			wantCode(t, "duplicate topic", rt.ErrorCode, kerr.InvalidRequest)
		}
	})

	t.Run("manual assignment, v0", func(t *testing.T) {
		got := send(0, false, topic("grow", 5, []int32{nodeID}, []int32{nodeID}))
		wantCode(t, "manual", got[0].ErrorCode, errNone)
		if n := len(tb.topicMeta("grow").Partitions); n != 5 {
			t.Errorf("%d partitions, want 5", n)
		}
	})
}
