package controller

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Broker liveness, Raft leader side. Sessions live in the leader's memory
// only; what they conclude (fence, unfence, begin controlled shutdown) is
// written to the metadata log. Time is monotonic (Controller.now), so a
// wall-clock jump fences nobody.
//
// When a node starts leading a term, every registered broker's session
// starts "now": a broker gets a full session timeout to find the new
// leader before it is fenced.

// session is the leader's view of one registered broker.
type session struct {
	incarnation [16]byte
	// lastSeen is the last heartbeat, or when this leader started watching
	// the broker (the grace period).
	lastSeen time.Duration
	// heard: a heartbeat from this incarnation reached this leader; only
	// then does a live session block another incarnation's registration.
	heard        bool
	imageIndex   uint64
	appliedIndex uint64
	lastContact  time.Time // wall clock, for QuorumInfo only
}

type liveness struct {
	mu       sync.Mutex
	term     uint64 // the leadership term the sessions belong to
	sessions map[int32]*session
}

// syncLocked starts over when leadership moved to a new term.
func (l *liveness) syncLocked(term uint64) {
	if l.term != term || l.sessions == nil {
		l.term = term
		l.sessions = make(map[int32]*session)
	}
}

// sessionLocked returns the session of broker br, starting one (with a
// grace period from now) for a broker not seen before in this term or
// registered again with a new incarnation.
func (l *liveness) sessionLocked(br Broker, now time.Duration) *session {
	s := l.sessions[br.ID]
	if s == nil || s.incarnation != br.IncarnationID {
		s = &session{incarnation: br.IncarnationID, lastSeen: now}
		l.sessions[br.ID] = s
	}
	return s
}

// leaderReady reports whether this node leads and its image reflects
// everything committed before its term (the barrier passed).
func (c *Controller) leaderReady() (term uint64, ok bool) {
	if c.raft.State() != raft.Leader {
		return 0, false
	}
	term = c.raft.CurrentTerm()
	return term, c.readyTerm.Load() == term
}

// checkRegistration refuses (with ErrDuplicateBrokerID) a registration
// whose broker id is held by another incarnation that heartbeated to this
// leader within the session timeout. Called on the leader before proposing.
func (c *Controller) checkRegistration(cmd *registerBrokerCmd) error {
	br, ok := c.Image().Brokers[cmd.ID]
	if !ok || br.IncarnationID == [16]byte(cmd.Incarnation) {
		return nil
	}
	term := c.raft.CurrentTerm()
	l := &c.live
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.term != term {
		return nil // nothing heard from anyone in this term yet
	}
	s := l.sessions[cmd.ID]
	if s == nil || !s.heard || s.incarnation != br.IncarnationID {
		return nil
	}
	if ago := c.now() - s.lastSeen; ago <= c.cfg.BrokerSessionTimeout {
		return fmt.Errorf("%w: broker %d (incarnation %s) heartbeated %v ago; its session lasts %v",
			ErrDuplicateBrokerID, cmd.ID, uuidString(br.IncarnationID), ago.Round(time.Millisecond), c.cfg.BrokerSessionTimeout)
	}
	return nil
}

// handleHeartbeat serves a broker heartbeat on the Raft leader: it renews
// the session and proposes unfence (caught-up broker) or the start of a
// controlled shutdown when due.
func (c *Controller) handleHeartbeat(ctx context.Context, req heartbeatRequest) (heartbeatReply, error) {
	term, ok := c.leaderReady()
	if !ok {
		// Before the barrier the image may lack the registration, and
		// "unknown" would make the broker register again needlessly.
		return heartbeatReply{}, &NotLeaderError{LeaderID: c.LeaderID()}
	}
	img := c.Image()
	br, ok := img.Brokers[req.BrokerID]
	if !ok || br.IncarnationID != [16]byte(req.Incarnation) {
		return heartbeatReply{Unknown: true}, nil
	}
	l := &c.live
	l.mu.Lock()
	l.syncLocked(term)
	s := l.sessionLocked(br, c.now())
	s.lastSeen, s.heard = c.now(), true
	s.imageIndex, s.appliedIndex, s.lastContact = req.ImageIndex, req.AppliedIndex, time.Now()
	l.mu.Unlock()

	var cmd command
	switch {
	case req.WantShutdown && !br.InControlledShutdown && !br.Fenced:
		cmd = &beginControlledShutdownCmd{ID: br.ID, Epoch: br.Epoch}
	case !req.WantShutdown && br.Fenced && !br.InControlledShutdown && req.ImageIndex >= uint64(br.Epoch):
		cmd = &unfenceBrokerCmd{ID: br.ID, Epoch: br.Epoch}
	}
	if cmd != nil {
		data, err := encodeCommand(cmd)
		if err != nil {
			return heartbeatReply{}, err
		}
		if _, _, err := c.propose(ctx, cmd, data); err != nil {
			return heartbeatReply{}, err
		}
		c.log.Info("broker state changed by heartbeat", "broker_id", br.ID, "change", cmd.kind())
		img = c.Image()
		br = img.Brokers[req.BrokerID]
	}
	reply := heartbeatReply{Fenced: br.Fenced}
	if req.WantShutdown {
		reply.ShutdownReady = br.Fenced || newBuilder(img).ledByBrokerMovable(br.ID) == 0
	}
	return reply, nil
}

// runLiveness fences brokers whose sessions expired, while this node is
// the ready Raft leader. It runs until Close.
func (c *Controller) runLiveness() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.BrokerHeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-c.stop:
			return
		}
		term, ok := c.leaderReady()
		if !ok {
			continue
		}
		for _, br := range c.expiredSessions(term) {
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ApplyTimeout)
			cmd := &fenceBrokerCmd{ID: br.ID, Epoch: br.Epoch}
			data, err := encodeCommand(cmd)
			if err == nil {
				_, _, err = c.propose(ctx, cmd, data)
			}
			cancel()
			if err != nil {
				c.log.Warn("fencing a broker failed; will retry", "broker_id", br.ID, "err", err)
				continue
			}
			c.log.Warn("fenced broker: no heartbeat within the session timeout", "broker_id", br.ID,
				"session_timeout", c.cfg.BrokerSessionTimeout)
		}
	}
}

// expiredSessions returns the unfenced brokers not heard from within the
// session timeout.
func (c *Controller) expiredSessions(term uint64) []Broker {
	img := c.Image()
	now := c.now()
	l := &c.live
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncLocked(term)
	var out []Broker
	for _, br := range img.SortedBrokers() {
		s := l.sessionLocked(br, now)
		if !br.Fenced && now-s.lastSeen > c.cfg.BrokerSessionTimeout {
			out = append(out, br)
		}
	}
	// Forget brokers no longer registered.
	for id := range l.sessions {
		if _, ok := img.Brokers[id]; !ok {
			delete(l.sessions, id)
		}
	}
	return slices.Clip(out)
}

// touchSession renews broker id's session on this leader (a registration
// counts as contact).
func (c *Controller) touchSession(id int32, incarnation [16]byte) {
	term, ok := c.leaderReady()
	if !ok {
		return
	}
	l := &c.live
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncLocked(term)
	s := l.sessionLocked(Broker{ID: id, IncarnationID: incarnation}, c.now())
	s.lastSeen = c.now()
}
