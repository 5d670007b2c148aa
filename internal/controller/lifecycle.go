package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Broker lifecycle, broker side. A broker registers with a random
// per-process incarnation id, then heartbeats to the Raft leader
// (RunHeartbeats). Every registration starts fenced; the first heartbeat
// showing that the broker's image has applied its registration unfences
// it. The leader fences a broker whose heartbeats stop for
// BrokerSessionTimeout (liveness.go). ControlledShutdown asks the leader to
// move leadership away before the process exits.

var (
	// ErrDuplicateBrokerID means another live process (a different
	// incarnation that heartbeated within the session timeout) holds the
	// broker id: Kafka's DUPLICATE_BROKER_REGISTRATION. A restarted broker
	// may see it until its previous incarnation's session expires, and
	// should retry.
	ErrDuplicateBrokerID = errors.New("broker id is registered by another live broker")

	// ErrBrokerNotRegistered means a lifecycle call needs a broker
	// registration that this controller has not made (RegisterBroker).
	ErrBrokerNotRegistered = errors.New("broker not registered")
)

// BrokerRegistration is what a broker announces about itself.
type BrokerRegistration struct {
	ID   int32
	Host string
	Port int32
	Rack *string
	// Endpoints are the broker's Kafka listeners by name; Host and Port
	// are the first of them, the address for clients that name none.
	Endpoints []Endpoint
	// IncarnationID is random per process start; registering with a new
	// one tells the controller the broker restarted (and may have lost
	// data), so its partitions treat it as fenced until it catches up.
	IncarnationID [16]byte
}

// localBroker is a registration made through this controller, which keeps
// it alive with heartbeats.
type localBroker struct {
	reg     BrokerRegistration
	lastAck time.Duration // monotonic (since Controller.born) time of the last acknowledged heartbeat
}

// RegisterBroker records (or refreshes) a broker's endpoint on any node.
// Registering again replaces host, port and rack and bumps the broker's
// epoch; the broker is fenced until a heartbeat shows it caught up. A
// different incarnation of a broker that is still heartbeating is refused
// with ErrDuplicateBrokerID. On success the registration is remembered, so
// RunHeartbeats keeps it alive.
func (c *Controller) RegisterBroker(ctx context.Context, reg BrokerRegistration) error {
	reg.Rack = cloneString(reg.Rack)
	res, err := c.submit(ctx, &registerBrokerCmd{ID: reg.ID, Host: reg.Host, Port: reg.Port, Rack: cloneString(reg.Rack),
		Endpoints: slices.Clone(reg.Endpoints), Incarnation: uuid(reg.IncarnationID)}, false)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return err
	}
	c.bmu.Lock()
	c.regs[reg.ID] = &localBroker{reg: reg, lastAck: c.now()}
	c.bmu.Unlock()
	return nil
}

// now is monotonic time for liveness: wall-clock jumps do not move it.
func (c *Controller) now() time.Duration { return time.Since(c.born) }

// RunHeartbeats heartbeats every registration made through this
// controller to the Raft leader every BrokerHeartbeatInterval until ctx
// ends or the controller closes. When the leader does not know the
// registration (it was replaced, or the metadata was lost), it registers
// again.
func (c *Controller) RunHeartbeats(ctx context.Context) {
	t := time.NewTicker(c.cfg.BrokerHeartbeatInterval)
	defer t.Stop()
	for {
		for _, lb := range c.localBrokers() {
			c.heartbeat(ctx, lb.reg, c.wantShutdown.Load())
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		case <-c.stop:
			return
		}
	}
}

func (c *Controller) localBrokers() []localBroker {
	c.bmu.Lock()
	defer c.bmu.Unlock()
	out := make([]localBroker, 0, len(c.regs))
	for _, lb := range c.regs {
		out = append(out, *lb)
	}
	return out
}

// heartbeat sends one heartbeat for reg and acts on the reply. It returns
// the reply, or ok=false when there was none.
func (c *Controller) heartbeat(ctx context.Context, reg BrokerRegistration, wantShutdown bool) (reply heartbeatReply, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.BrokerSessionTimeout)
	defer cancel()
	req := heartbeatRequest{BrokerID: reg.ID, Incarnation: uuid(reg.IncarnationID), ImageIndex: c.Image().Index,
		AppliedIndex: c.raft.AppliedIndex(), WantShutdown: wantShutdown}
	var err error
	switch leader := c.LeaderID(); {
	case leader == c.cfg.NodeID:
		reply, err = c.handleHeartbeat(ctx, req)
	case leader >= 0:
		err = c.call(ctx, leader, opHeartbeat, req, &reply)
	default:
		err = &NotLeaderError{LeaderID: -1}
	}
	if err != nil {
		if !c.isClosed() {
			c.log.Debug("broker heartbeat failed", "broker_id", reg.ID, "err", err)
		}
		return reply, false
	}
	if reply.Unknown {
		c.log.Info("the controller does not know this broker's registration; registering again", "broker_id", reg.ID)
		if err := c.RegisterBroker(ctx, reg); err != nil {
			lvl := "registering the broker again failed"
			if errors.Is(err, ErrDuplicateBrokerID) {
				c.log.Error(lvl+": another process uses this broker id", "broker_id", reg.ID, "err", err)
			} else {
				c.log.Warn(lvl, "broker_id", reg.ID, "err", err)
			}
		}
		return reply, false
	}
	c.bmu.Lock()
	if lb := c.regs[reg.ID]; lb != nil && lb.reg.IncarnationID == reg.IncarnationID {
		lb.lastAck = c.now()
	}
	c.bmu.Unlock()
	return reply, true
}

// SessionHealthy reports whether every registration made through this
// controller had a heartbeat acknowledged (or was registered) within the
// session timeout. A broker that is not healthy has probably been fenced
// by the controller, or is cut off from it. False before any registration.
func (c *Controller) SessionHealthy() bool {
	c.bmu.Lock()
	defer c.bmu.Unlock()
	if len(c.regs) == 0 {
		return false
	}
	now := c.now()
	for _, lb := range c.regs {
		if now-lb.lastAck > c.cfg.BrokerSessionTimeout {
			return false
		}
	}
	return true
}

// WaitUnfenced waits until the local image shows every registration made
// through this controller unfenced (RunHeartbeats must be running).
func (c *Controller) WaitUnfenced(ctx context.Context) error {
	for {
		changed := c.st.waitCh()
		brokers := c.localBrokers()
		if len(brokers) == 0 {
			return ErrBrokerNotRegistered
		}
		img := c.Image()
		fenced := int32(-1)
		for _, lb := range brokers {
			br, ok := img.Brokers[lb.reg.ID]
			if !ok || br.Fenced || br.IncarnationID != lb.reg.IncarnationID {
				fenced = lb.reg.ID
				break
			}
		}
		if fenced < 0 {
			return nil
		}
		select {
		case <-changed:
		case <-c.stop:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("broker %d is still fenced: %w", fenced, ctx.Err())
		}
	}
}

// ControlledShutdown asks the Raft leader to move partition leadership off
// this controller's brokers, heartbeating with want_shutdown until the
// leader answers that they lead nothing another replica could lead, or ctx
// ends. From then on heartbeats keep saying so, so the brokers are not
// unfenced again. With no registration it returns at once.
func (c *Controller) ControlledShutdown(ctx context.Context) error {
	c.wantShutdown.Store(true)
	brokers := c.localBrokers()
	if len(brokers) == 0 {
		return nil
	}
	t := time.NewTicker(c.cfg.BrokerHeartbeatInterval)
	defer t.Stop()
	pending := brokers
	for {
		var still []localBroker
		for _, lb := range pending {
			if reply, ok := c.heartbeat(ctx, lb.reg, true); !ok || !reply.ShutdownReady {
				still = append(still, lb)
			}
		}
		if pending = still; len(pending) == 0 {
			return nil
		}
		select {
		case <-t.C:
		case <-c.stop:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("controlled shutdown of broker %d not confirmed by the controller: %w", pending[0].reg.ID, ctx.Err())
		}
	}
}

// heartbeatRequest is a broker's heartbeat to the Raft leader.
type heartbeatRequest struct {
	BrokerID    int32 `json:"broker_id"`
	Incarnation uuid  `json:"incarnation"`
	// ImageIndex is the index of the last command in the broker's image;
	// the leader unfences the broker once it reaches the registration.
	ImageIndex uint64 `json:"image_index"`
	// AppliedIndex is the broker's Raft applied index (QuorumInfo).
	AppliedIndex uint64 `json:"applied_index"`
	WantShutdown bool   `json:"want_shutdown,omitempty"`
}

// heartbeatReply is the leader's answer.
type heartbeatReply struct {
	Fenced bool `json:"fenced,omitempty"`
	// Unknown: the leader has no registration with this incarnation;
	// register again.
	Unknown bool `json:"unknown,omitempty"`
	// ShutdownReady answers a heartbeat with WantShutdown: the broker leads
	// no partition another replica could lead.
	ShutdownReady bool `json:"shutdown_ready,omitempty"`
}

// registerBrokerCmd's apply: the registration replaces any earlier one and
// starts fenced, with the broker's partitions treated as after a fence (a
// new incarnation may have lost data).
func (c *registerBrokerCmd) apply(b *builder, index uint64) applyResult {
	switch {
	case c.ID < 0:
		return applyResult{Err: fmt.Errorf("%w: broker id %d is negative", ErrInvalidBrokerRegistration, c.ID)}
	case c.Host == "":
		return applyResult{Err: fmt.Errorf("%w: broker %d has no host", ErrInvalidBrokerRegistration, c.ID)}
	case c.Port < 1 || c.Port > 65535:
		return applyResult{Err: fmt.Errorf("%w: broker %d port %d is out of range", ErrInvalidBrokerRegistration, c.ID, c.Port)}
	case c.Incarnation == uuid{}:
		return applyResult{Err: fmt.Errorf("%w: broker %d has no incarnation id", ErrInvalidBrokerRegistration, c.ID)}
	}
	b.setBroker(Broker{ID: c.ID, Host: c.Host, Port: c.Port, Rack: cloneString(c.Rack), Endpoints: c.Endpoints,
		IncarnationID: [16]byte(c.Incarnation), Fenced: true, Epoch: int64(index)})
	b.fencePartitions(c.ID)
	return applyResult{}
}

// brokerEpochCmd names one registration of a broker: a command for an
// older registration (the broker re-registered meanwhile) is a no-op.
type brokerEpochCmd struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
}

// fenceBrokerCmd fences a broker whose session expired.
type fenceBrokerCmd brokerEpochCmd

// unfenceBrokerCmd unfences a broker that heartbeats and has caught up.
type unfenceBrokerCmd brokerEpochCmd

// beginControlledShutdownCmd starts a broker's controlled shutdown.
type beginControlledShutdownCmd brokerEpochCmd

func (*fenceBrokerCmd) kind() commandType             { return cmdFenceBroker }
func (*unfenceBrokerCmd) kind() commandType           { return cmdUnfenceBroker }
func (*beginControlledShutdownCmd) kind() commandType { return cmdBeginControlledShutdown }

// current returns the broker if its registration is the one named.
func (c brokerEpochCmd) current(b *builder) (Broker, bool) {
	br, ok := b.broker(c.ID)
	return br, ok && br.Epoch == c.Epoch
}

func (c *fenceBrokerCmd) apply(b *builder, _ uint64) applyResult {
	br, ok := brokerEpochCmd(*c).current(b)
	if !ok || br.Fenced {
		return applyResult{}
	}
	br.Fenced = true
	b.setBroker(br)
	b.fencePartitions(br.ID)
	return applyResult{}
}

func (c *unfenceBrokerCmd) apply(b *builder, _ uint64) applyResult {
	br, ok := brokerEpochCmd(*c).current(b)
	if !ok || (!br.Fenced && !br.InControlledShutdown) {
		return applyResult{}
	}
	br.Fenced, br.InControlledShutdown = false, false
	b.setBroker(br)
	b.unfencePartitions(br.ID)
	return applyResult{}
}

func (c *beginControlledShutdownCmd) apply(b *builder, _ uint64) applyResult {
	br, ok := brokerEpochCmd(*c).current(b)
	if !ok || br.InControlledShutdown {
		return applyResult{}
	}
	br.InControlledShutdown = true
	b.setBroker(br)
	b.shutdownPartitions(br.ID)
	return applyResult{}
}
