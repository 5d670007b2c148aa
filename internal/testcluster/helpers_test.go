package testcluster

import (
	"context"
	"fmt"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var topicSeq atomic.Int64

var unsafeTopicChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// topicName is a unique, valid topic name that says which test made it.
func topicName(t *testing.T, suffix string) string {
	name := unsafeTopicChars.ReplaceAllString(t.Name()+"-"+suffix, "_")
	if len(name) > 180 {
		name = name[len(name)-180:]
	}
	return fmt.Sprintf("%s-%d", name, topicSeq.Add(1))
}

// testContext is t's context bounded by d.
func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// topicSpec is a topic to create: either Partitions x RF, or explicit
// Assignment (partition i -> replicas, preferred leader first).
type topicSpec struct {
	Name       string
	Partitions int32
	RF         int16
	Assignment [][]int32
	Configs    map[string]string
}

// createTopic creates a topic with a raw CreateTopics request (kadm has no
// manual assignment) and waits until the cluster reports a leader for every
// partition.
func createTopic(t *testing.T, c *Cluster, spec topicSpec) {
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 20000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = spec.Name
	rt.NumPartitions, rt.ReplicationFactor = spec.Partitions, spec.RF
	if len(spec.Assignment) > 0 {
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		for p, replicas := range spec.Assignment {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(p), replicas
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
	}
	for k, v := range spec.Configs {
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, cfg)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c.Client(t))
	if err != nil {
		t.Fatalf("creating topic %s: %v", spec.Name, err)
	}
	if len(resp.Topics) != 1 {
		t.Fatalf("creating topic %s: %d results", spec.Name, len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("creating topic %s: %v (%s)", spec.Name, err, deref(resp.Topics[0].ErrorMessage))
	}
	n := spec.Partitions
	if len(spec.Assignment) > 0 {
		n = int32(len(spec.Assignment))
	}
	for p := range n {
		c.Leader(t, spec.Name, p)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
