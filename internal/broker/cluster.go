package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/partition"
)

// isrUpdater sends a partition leader's ISR changes to the controller.
type isrUpdater struct{ ctrl *controller.Controller }

func (u isrUpdater) AlterISR(ctx context.Context, ch partition.ISRChange) error {
	_, err := u.ctrl.AlterPartition(ctx, controller.AlterPartitionRequest{
		TopicID: ch.TopicID, Partition: ch.Partition, LeaderID: ch.Leader,
		LeaderEpoch: ch.LeaderEpoch, PartitionEpoch: ch.PartitionEpoch, ISR: ch.ISR,
	})
	return err
}

// replicationDialer opens replication streams to other brokers' cluster ports.
type replicationDialer struct{ ctrl *controller.Controller }

func (d replicationDialer) DialReplication(ctx context.Context, node int32) (net.Conn, error) {
	return d.ctrl.Dial(ctx, node, controller.StreamReplication)
}

func newIncarnationID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return id
}

func ms(n int64) time.Duration { return config.Duration(n, time.Millisecond) }

// register announces this broker to the controller, starts its heartbeats
// and waits until the controller unfences it. A quick restart can find the
// previous incarnation's session still open (ErrDuplicateBrokerID); that
// clears once the session times out, so it is retried for one session.
func (b *Broker) register(ctx, runCtx context.Context, endpoints []controller.Endpoint) error {
	reg := controller.BrokerRegistration{ID: b.cfg.NodeID, Host: endpoints[0].Host, Port: endpoints[0].Port,
		Endpoints: endpoints, IncarnationID: newIncarnationID()}
	deadline := time.Now().Add(ms(int64(b.cfg.BrokerSessionTimeoutMs)) + 2*time.Second)
	for {
		err := b.ctrl.RegisterBroker(ctx, reg)
		if err == nil {
			break
		}
		if !errors.Is(err, controller.ErrDuplicateBrokerID) || time.Now().After(deadline) {
			return fmt.Errorf("registering broker %d: %w", b.cfg.NodeID, err)
		}
		b.log.Warn("another incarnation of this broker id is still registered; waiting for its session to expire", "node_id", b.cfg.NodeID)
		select {
		case <-ctx.Done():
			return fmt.Errorf("registering broker %d: %w", b.cfg.NodeID, ctx.Err())
		case <-time.After(ms(int64(b.cfg.BrokerHeartbeatIntervalMs))):
		}
	}
	b.goLoop(func() { b.ctrl.RunHeartbeats(runCtx) })
	if err := b.ctrl.WaitUnfenced(ctx); err != nil {
		return fmt.Errorf("waiting for the controller to unfence broker %d: %w", b.cfg.NodeID, err)
	}
	return nil
}

// controlledShutdown asks the controller to move leadership off this
// broker before it stops, so clients switch leaders without waiting for a
// session timeout. It is bounded by controlled.shutdown.timeout.ms.
func (b *Broker) controlledShutdown() {
	if !b.cfg.ControlledShutdown || b.ctrl == nil || !b.ready.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ms(b.cfg.ControlledShutdownTimeoutMs))
	defer cancel()
	start := time.Now()
	if err := b.ctrl.ControlledShutdown(ctx); err != nil {
		b.log.Warn("controlled shutdown did not finish; stopping anyway", "err", err)
		return
	}
	b.log.Info("controlled shutdown: leadership moved", "took", time.Since(start).Round(time.Millisecond))
}

// watchSession notices when this broker's controller session lapses (it is
// cut off from the quorum) and wakes waiting acks=all writes, which then
// fail with NOT_LEADER_OR_FOLLOWER so clients move to the new leader
// instead of waiting out their request timeouts.
func (b *Broker) watchSession(ctx context.Context) {
	t := time.NewTicker(ms(int64(b.cfg.BrokerHeartbeatIntervalMs)))
	defer t.Stop()
	healthy := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := b.ctrl.SessionHealthy()
		if now == healthy {
			continue
		}
		healthy = now
		if healthy {
			b.log.Info("controller session restored")
			continue
		}
		b.log.Warn("controller session lost: refusing writes to replicated partitions until the controller answers again")
		for _, p := range b.parts.All() {
			p.Wake()
		}
	}
}
