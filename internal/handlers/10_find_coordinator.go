package handlers

// FindCoordinator (key 10).
//
// v1 added the key type (0 group, 1 transactional id), throttle time and an
// error message; v2 changed only throttling; v3 is flexible; v4 batches
// keys (KIP-699: CoordinatorKeys in, Coordinators out); v5 and v6 added
// error codes and share-group keys (type 2, KIP-932) that Spool does not
// produce or serve.
//
// A group's coordinator is the leader of the __consumer_offsets partition
// the group id hashes to; a transactional id's is the leader of its
// __transaction_state partition (same hash). The first lookup creates the
// topic, as Kafka does, but waits for it, so the client gets an answer
// instead of a retry.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/group"
	"github.com/spool-mq/spool/internal/txn"
)

// Coordinator key types.
const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
)

func handleFindCoordinator(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.FindCoordinatorRequest) *kmsg.FindCoordinatorResponse {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port = key, -1, -1
		b, err := h.findCoordinator(ctx, req.CoordinatorType, key)
		if err != nil {
			c.ErrorCode, c.ErrorMessage = errorCode(err), errorMessage(err)
		} else {
			c.NodeID, c.Host, c.Port = b.ID, b.Host, b.Port
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
		if req.Version >= 1 {
			resp.ErrorMessage = c.ErrorMessage
		}
	}
	return resp
}

// findCoordinator returns the broker coordinating key: the leader of the
// partition of __consumer_offsets (groups) or __transaction_state
// (transactional ids) the key hashes to. Both hash the same way.
func (h *Handlers) findCoordinator(ctx context.Context, keyType int8, key string) (controller.Broker, error) {
	var (
		topic string
		spec  func(*controller.Image) controller.TopicSpec
	)
	switch keyType {
	case coordinatorGroup:
		if h.Groups == nil {
			return controller.Broker{}, newRequestError(kerr.CoordinatorNotAvailable, "this broker runs no group coordinator")
		}
		topic, spec = group.TopicName, h.Groups.TopicSpec
	case coordinatorTransaction:
		if h.Txn == nil {
			return controller.Broker{}, newRequestError(kerr.CoordinatorNotAvailable, "this broker runs no transaction coordinator")
		}
		if key == "" || len(key) > txn.MaxTransactionalIDLen {
			return controller.Broker{}, newRequestError(kerr.InvalidRequest, "transactional id must be 1 to %d bytes", txn.MaxTransactionalIDLen)
		}
		topic, spec = txn.TopicName, h.Txn.TopicSpec
	default:
		return controller.Broker{}, newRequestError(kerr.InvalidRequest, "unsupported coordinator key type %d", keyType)
	}
	img := h.image()
	t := img.Topic(topic)
	if t == nil {
		if err := h.createCoordinatorTopic(ctx, spec(img)); err != nil {
			return controller.Broker{}, err
		}
		img = h.image()
		if t = img.Topic(topic); t == nil {
			return controller.Broker{}, newRequestError(kerr.CoordinatorNotAvailable, "%s is being created", topic)
		}
	}
	p := t.Partitions[group.PartitionFor(key, len(t.Partitions))]
	b, ok := img.Brokers[p.Leader]
	if !ok || b.Fenced {
		return controller.Broker{}, newRequestError(kerr.CoordinatorNotAvailable, "partition %d of %s has no live leader", p.Index, topic)
	}
	return b, nil
}

// createCoordinatorTopic creates a coordinator's internal topic
// (__consumer_offsets, __transaction_state) and opens this broker's
// replicas of it (which also hands the led partitions to the coordinator).
func (h *Handlers) createCoordinatorTopic(ctx context.Context, spec controller.TopicSpec) error {
	err := h.Controller.CreateTopics(ctx, []controller.TopicSpec{spec}, false)[0]
	switch {
	case err == nil:
		h.Logger.Info("created a coordinator topic", "topic", spec.Name, "partitions", spec.NumPartitions,
			"replication_factor", spec.ReplicationFactor)
	case errors.Is(err, controller.ErrTopicExists):
		// Another request created it first.
	default:
		h.Logger.Warn("creating a coordinator topic failed", "topic", spec.Name, "err", err)
		return newRequestError(kerr.CoordinatorNotAvailable, "could not create %s (see the broker log)", spec.Name)
	}
	if h.SyncReplicas != nil {
		h.SyncReplicas()
	}
	return nil
}
