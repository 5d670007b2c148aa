package group

import (
	"context"
	"time"
)

// SyncRequest is a SyncGroup. Only the leader sends Assignments.
type SyncRequest struct {
	Group      string
	MemberID   string
	InstanceID string
	Generation int32
	// ProtocolType and Protocol (v5+) must match the group's when set.
	ProtocolType *string
	Protocol     *string
	Assignments  map[string][]byte
}

// SyncResult is a member's assignment for the generation.
type SyncResult struct {
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

type syncOutcome struct {
	res SyncResult
	err error
}

// Sync handles a SyncGroup. Members wait until the leader's assignment is
// stored; a rebalance starting meanwhile answers them with
// ErrRebalanceInProgress.
func (c *Coordinator) Sync(ctx context.Context, req SyncRequest) (SyncResult, error) {
	ch, err := c.syncAsync(req)
	if err != nil {
		return SyncResult{}, err
	}
	select {
	case o := <-ch:
		return o.res, o.err
	case <-ctx.Done():
		return SyncResult{}, ctx.Err()
	}
}

func (c *Coordinator) syncAsync(req SyncRequest) (<-chan syncOutcome, error) {
	if req.Group == "" {
		return nil, ErrInvalidGroupID
	}
	s, err := c.shardFor(req.Group)
	if err != nil {
		return nil, err
	}
	ch, persist, err := s.sync(req)
	s.mu.Unlock()
	if persist != nil {
		persist()
	}
	return ch, err
}

func (s *shard) sync(req SyncRequest) (<-chan syncOutcome, func(), error) {
	now := s.now()
	g := s.groups[req.Group]
	if g == nil {
		return nil, nil, ErrUnknownMember
	}
	if g.state == StateDead {
		return nil, nil, ErrCoordinatorNotAvailable
	}
	if g.isFenced(req.MemberID, req.InstanceID) {
		return nil, nil, ErrFencedInstance
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		return nil, nil, ErrUnknownMember
	case req.Generation != g.generation:
		return nil, nil, ErrIllegalGeneration
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		return nil, nil, ErrInconsistentProtocol
	}
	switch g.state {
	case StatePreparingRebalance:
		return nil, nil, ErrRebalanceInProgress
	case StateStable:
		m.lastHeartbeat = now
		ch := make(chan syncOutcome, 1)
		ch <- syncOutcome{res: SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment}}
		return ch, nil, nil
	case StateCompletingRebalance:
		if m.syncWaiter != nil {
			m.syncWaiter <- syncOutcome{err: ErrRebalanceInProgress}
		}
		ch := make(chan syncOutcome, 1)
		m.syncWaiter = ch
		if m.id != g.leader {
			return ch, nil, nil
		}
		// Members the leader left out get an empty assignment; ids
		// that are not members are ignored.
		assignments := make(map[string][]byte, len(g.members))
		for id := range g.members {
			a := req.Assignments[id]
			if a == nil {
				a = []byte{}
			}
			assignments[id] = a
		}
		gen := g.generation
		return ch, func() { s.storeAssignments(g, gen, assignments) }, nil
	}
	return nil, nil, ErrUnknownMember
}

// storeAssignments writes the generation's members and assignments; only
// once that is durable do the members get their assignments, so a
// coordinator restart never forgets a generation its members run.
func (s *shard) storeAssignments(g *group, gen int32, assignments map[string][]byte) {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	s.mu.Lock()
	if s.current(g) != nil || g.state != StateCompletingRebalance || g.generation != gen {
		// The round was abandoned; prepareRebalance already told the
		// parked members.
		s.mu.Unlock()
		return
	}
	batch := s.groupBatch(g, assignments, s.now())
	s.mu.Unlock()
	_ = s.write(batch, func(err error) {
		if g.state != StateCompletingRebalance || g.generation != gen || s.groups[g.id] != g {
			return
		}
		now := s.now()
		if err != nil {
			s.failSyncs(g, err)
			s.maybePrepareRebalance(g, now)
			return
		}
		for _, id := range g.order {
			m := g.members[id]
			m.assignment = assignments[id]
			if m.syncWaiter != nil {
				m.syncWaiter <- syncOutcome{res: SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment}}
				m.syncWaiter = nil
				m.lastHeartbeat = now
			}
		}
		g.transition(StateStable, now)
		s.c.log.Debug("group stable", "group", g.id, "generation", g.generation)
	})
}

// failSyncs abandons a generation's assignment: parked SyncGroups get err.
func (s *shard) failSyncs(g *group, err error) {
	for _, m := range g.members {
		m.assignment = nil
		if m.syncWaiter != nil {
			m.syncWaiter <- syncOutcome{err: err}
			m.syncWaiter = nil
		}
	}
}

// Heartbeat handles a Heartbeat: it keeps the member's session alive and
// tells it (ErrRebalanceInProgress) when it must rejoin.
func (c *Coordinator) Heartbeat(groupID, memberID, instanceID string, generation int32) error {
	if groupID == "" {
		return ErrInvalidGroupID
	}
	s, err := c.shardFor(groupID)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	g := s.groups[groupID]
	switch {
	case g == nil:
		return ErrUnknownMember
	case g.state == StateDead:
		return ErrCoordinatorNotAvailable
	case g.isFenced(memberID, instanceID):
		return ErrFencedInstance
	}
	m := g.members[memberID]
	switch {
	case m == nil:
		return ErrUnknownMember
	case generation != g.generation:
		return ErrIllegalGeneration
	}
	m.lastHeartbeat = s.now()
	if g.state == StatePreparingRebalance {
		return ErrRebalanceInProgress
	}
	return nil
}

// LeaveMember identifies a member leaving: by member id, or for static
// members by instance id (v3+, which may leave on behalf of others).
type LeaveMember struct {
	MemberID   string
	InstanceID string
	Reason     string
}

// Leave removes members from a group, which starts a rebalance. It
// returns one error per member; the second result is a group-level error.
func (c *Coordinator) Leave(groupID string, members []LeaveMember) ([]error, error) {
	if groupID == "" {
		return nil, ErrInvalidGroupID
	}
	s, err := c.shardFor(groupID)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	errs := make([]error, len(members))
	g := s.groups[groupID]
	if g == nil {
		for i := range errs {
			errs[i] = ErrUnknownMember
		}
		return errs, nil
	}
	if g.state == StateDead {
		return nil, ErrCoordinatorNotAvailable
	}
	now := s.now()
	for i, lm := range members {
		id := lm.MemberID
		if lm.InstanceID != "" {
			staticID, ok := g.static[lm.InstanceID]
			switch {
			case !ok:
				errs[i] = ErrUnknownMember
				continue
			case id != "" && id != staticID:
				errs[i] = ErrFencedInstance
				continue
			}
			id = staticID
		}
		if _, ok := g.pending[id]; ok && id != "" {
			g.dropPending(id)
			s.advanceJoin(g, now)
			continue
		}
		m := g.members[id]
		if m == nil {
			errs[i] = ErrUnknownMember
			continue
		}
		s.c.log.Info("member leaving group", "group", g.id, "member", id, "instance", m.instanceID, "reason", lm.Reason)
		s.removeMemberAndUpdate(g, m, ErrUnknownMember, now)
	}
	return errs, nil
}

// removeMemberAndUpdate removes m and moves the group on: a stable or
// completing group rebalances; a rebalancing group may now be complete.
func (s *shard) removeMemberAndUpdate(g *group, m *member, err error, now time.Time) {
	g.remove(m, err)
	switch g.state {
	case StateStable, StateCompletingRebalance:
		s.prepareRebalance(g, now)
	}
	s.advanceJoin(g, now)
}

// expireMembers removes members whose session ran out and pending member
// ids that were never used.
func (s *shard) expireMembers(g *group, now time.Time) {
	for id, deadline := range g.pending {
		if !now.Before(deadline) {
			g.dropPending(id)
		}
	}
	for _, id := range append([]string(nil), g.order...) {
		m := g.members[id]
		if m != nil && !m.keepAlive(now) {
			s.c.log.Info("member session expired", "group", g.id, "member", id, "instance", m.instanceID)
			s.removeMemberAndUpdate(g, m, ErrUnknownMember, now)
		}
	}
}
