package controller

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestClusterMaxPartitions: creating topics or partitions past
// MaxPartitions fails with ErrInvalidPartitions and changes nothing; what
// fits is still created, in the same command as what does not.
func TestClusterMaxPartitions(t *testing.T) {
	cfg := singleConfig(t.TempDir())
	cfg.MaxPartitions = 10
	c := start(t, cfg)
	registerLive(t, c, BrokerRegistration{ID: 1, Host: "127.0.0.1", Port: 9092})
	if err := createOne(t, c, TopicSpec{Name: "a", NumPartitions: 6, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	errs := c.CreateTopics(testCtx(t), []TopicSpec{
		{Name: "b", NumPartitions: 3, ReplicationFactor: 1},
		{Name: "c", NumPartitions: 3, ReplicationFactor: 1}, // 12 > 10
		{Name: "d", NumPartitions: 1, ReplicationFactor: 1}, // 10
	}, false)
	if errs[0] != nil || !errors.Is(errs[1], ErrInvalidPartitions) || errs[2] != nil {
		t.Fatalf("create b, c, d: %v", errs)
	}
	if c.Image().Topic("c") != nil {
		t.Fatal("refused topic c exists")
	}
	if err := c.CreatePartitions(testCtx(t), "a", 7, false); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("growing a past the cluster limit: %v", err)
	}
	if err := c.CreateTopics(testCtx(t), []TopicSpec{{Name: "e", NumPartitions: 1, ReplicationFactor: 1}}, true)[0]; !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("validate-only create past the limit: %v", err)
	}
	// Deleting makes room again.
	if err := c.DeleteTopics(testCtx(t), []string{"b"})[0]; err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePartitions(testCtx(t), "a", 9, false); err != nil {
		t.Fatalf("growing a after a delete: %v", err)
	}
}

// TestProducerIDAllocatedWaits: an id is allocated once the image has
// passed it; an id beyond waits for the image and then gives up.
func TestProducerIDAllocatedWaits(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	first, err := c.AllocateProducerIDs(testCtx(t), 10)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel()
	if !c.ProducerIDAllocated(ctx, first+9) {
		t.Fatal("allocated id reported unallocated")
	}
	if c.ProducerIDAllocated(ctx, first+10) {
		t.Fatal("unallocated id reported allocated")
	}
	// An allocation arriving while a check waits answers it.
	done := make(chan bool, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- c.ProducerIDAllocated(ctx, first+10)
	}()
	if _, err := c.AllocateProducerIDs(testCtx(t), 10); err != nil {
		t.Fatal(err)
	}
	if !<-done {
		t.Fatal("waiting check missed the new allocation")
	}
}
