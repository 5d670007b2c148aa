package group

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime/debug"
	"time"
)

// JoinRequest is a JoinGroup.
type JoinRequest struct {
	Group string
	// MemberID is "" for a member joining for the first time.
	MemberID string
	// InstanceID is group.instance.id for static members (KIP-345), "" for
	// dynamic ones.
	InstanceID string
	ClientID   string
	ClientHost string
	// ProtocolType is the kind of group ("consumer" for consumers); all
	// members must agree.
	ProtocolType     string
	Protocols        []Protocol
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	// RequireKnownMemberID (JoinGroup v4+, KIP-394) makes a new dynamic
	// member first receive its id with ErrMemberIDRequired and join
	// again with it, so a client that keeps failing does not pile up
	// members.
	RequireKnownMemberID bool
	// Reason is why the member (re)joins (v8+), for the log.
	Reason string
}

// JoinResult is a successful JoinGroup, or the member id that goes with
// ErrMemberIDRequired.
type JoinResult struct {
	MemberID     string
	Generation   int32
	ProtocolType string
	Protocol     string
	Leader       string
	// SkipAssignment (v9+, KIP-814) tells a static leader that rejoined
	// without changes to keep the current assignment.
	SkipAssignment bool
	// Members is non-nil only for the leader: everyone's metadata for the
	// selected protocol, which it turns into assignments.
	Members []MemberMetadata
}

// MemberMetadata is one member as the leader sees it.
type MemberMetadata struct {
	MemberID   string
	InstanceID string
	Metadata   []byte
}

type joinOutcome struct {
	res JoinResult
	err error
}

// Join handles a JoinGroup. It blocks until the group's join phase ends
// (all members rejoined or the rebalance timeout passed) or ctx is done.
func (c *Coordinator) Join(ctx context.Context, req JoinRequest) (JoinResult, error) {
	ch, err := c.joinAsync(req)
	if err != nil {
		return JoinResult{MemberID: req.MemberID, Generation: -1}, err
	}
	select {
	case o := <-ch:
		return o.res, o.err
	case <-ctx.Done():
		return JoinResult{MemberID: req.MemberID, Generation: -1}, ctx.Err()
	}
}

// joinAsync registers a JoinGroup and returns the channel its answer
// arrives on (already filled if it is answered at once).
func (c *Coordinator) joinAsync(req JoinRequest) (<-chan joinOutcome, error) {
	if req.Group == "" {
		return nil, ErrInvalidGroupID
	}
	s, err := c.shardFor(req.Group)
	if err != nil {
		return nil, err
	}
	if req.SessionTimeout < c.cfg.MinSessionTimeout || req.SessionTimeout > c.cfg.MaxSessionTimeout {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %v is outside [%v, %v]", ErrInvalidSessionTimeout, req.SessionTimeout, c.cfg.MinSessionTimeout, c.cfg.MaxSessionTimeout)
	}
	if req.RebalanceTimeout <= 0 {
		req.RebalanceTimeout = req.SessionTimeout
	}
	ch, persist, err := s.join(req)
	s.mu.Unlock()
	if persist != nil {
		persist()
	}
	return ch, err
}

// join is JoinGroup under s.mu. persist, if not nil, must be run after
// unlocking: it stores the group and then answers ch.
func (s *shard) join(req JoinRequest) (ch <-chan joinOutcome, persist func(), err error) {
	now := s.now()
	g := s.groups[req.Group]
	if g == nil {
		if req.MemberID != "" {
			return nil, nil, ErrUnknownMember
		}
		if g, err = s.addGroup(req.Group, now); err != nil {
			return nil, nil, err
		}
		defer func() {
			// A group that a refused join would leave behind empty is
			// not worth keeping.
			if err != nil && len(g.members) == 0 && len(g.pending) == 0 {
				s.dropGroup(g)
			}
		}()
	}
	if g.state == StateDead {
		// Deleted while we looked: the client retries and finds the
		// group recreated.
		return nil, nil, ErrCoordinatorNotAvailable
	}
	if !s.acceptJoiningMember(g, req.MemberID) {
		if m := g.members[req.MemberID]; m != nil {
			s.removeMemberAndUpdate(g, m, ErrGroupMaxSize, now)
		}
		return nil, nil, ErrGroupMaxSize
	}
	if !g.supportsProtocols(req.MemberID, req.ProtocolType, req.Protocols) {
		return nil, nil, ErrInconsistentProtocol
	}
	if req.MemberID == "" {
		ch, persist, err = s.joinNewMember(g, req, now)
	} else {
		ch, persist, err = s.joinKnownMember(g, req, now)
	}
	s.advanceJoin(g, now)
	return ch, persist, err
}

// acceptJoiningMember applies group.max.size the way Kafka does: members
// already counted are always let back in.
func (s *shard) acceptJoiningMember(g *group, memberID string) bool {
	limit := s.c.cfg.MaxGroupSize
	m := g.members[memberID]
	switch g.state {
	case StatePreparingRebalance:
		return (m != nil && m.awaitingJoin()) || g.numAwaitingJoin < limit
	case StateCompletingRebalance, StateStable:
		return m != nil || len(g.members) < limit
	}
	return true
}

// maxPendingMembers bounds the member ids one group has handed out with
// MEMBER_ID_REQUIRED and not yet seen again (KIP-394). Each lives a
// session timeout (up to group.max.session.timeout.ms, 30 minutes), and
// a JoinGroup with an empty member id costs a client nothing, so without
// a bound a loop of them grows the group by thousands of ids a second.
// Past it the id closest to expiring is forgotten: that member's rejoin
// gets UNKNOWN_MEMBER_ID and it starts over with an empty id, which
// clients do by themselves. Kafka has no such bound; 1000 members
// joining in the same instant is far beyond the groups Spool expects.
const maxPendingMembers = 1000

// evictPendingOver forgets the pending member ids closest to expiring
// until at most n remain.
func (g *group) evictPendingOver(n int) {
	for len(g.pending) > n {
		var oldest string
		var at time.Time
		for id, deadline := range g.pending {
			if oldest == "" || deadline.Before(at) {
				oldest, at = id, deadline
			}
		}
		g.dropPending(oldest)
	}
}

func (s *shard) joinNewMember(g *group, req JoinRequest, now time.Time) (<-chan joinOutcome, func(), error) {
	prefix := req.ClientID
	if req.InstanceID != "" {
		prefix = req.InstanceID
	}
	newID := prefix + "-" + newUUID()
	if req.InstanceID != "" {
		if oldID, ok := g.static[req.InstanceID]; ok {
			return s.replaceStaticMember(g, g.members[oldID], newID, req, now)
		}
	}
	if err := s.admitMember(g); err != nil {
		return nil, nil, err
	}
	if req.InstanceID != "" {
		return s.addMemberAndRebalance(g, newID, req, now), nil, nil
	}
	if req.RequireKnownMemberID {
		// The pending id expires after one session timeout unless the
		// member comes back with it.
		g.evictPendingOver(maxPendingMembers - 1)
		g.addPending(newID, now.Add(req.SessionTimeout))
		ch := make(chan joinOutcome, 1)
		ch <- joinOutcome{res: JoinResult{MemberID: newID, Generation: -1}, err: ErrMemberIDRequired}
		return ch, nil, nil
	}
	return s.addMemberAndRebalance(g, newID, req, now), nil, nil
}

func (s *shard) joinKnownMember(g *group, req JoinRequest, now time.Time) (<-chan joinOutcome, func(), error) {
	if g.isFenced(req.MemberID, req.InstanceID) {
		return nil, nil, ErrFencedInstance
	}
	if _, ok := g.pending[req.MemberID]; ok {
		g.dropPending(req.MemberID)
		return s.addMemberAndRebalance(g, req.MemberID, req, now), nil, nil
	}
	if req.InstanceID != "" && g.static[req.InstanceID] == "" {
		return nil, nil, ErrUnknownMember
	}
	m := g.members[req.MemberID]
	if m == nil {
		return nil, nil, ErrUnknownMember
	}
	switch g.state {
	case StatePreparingRebalance:
		return s.updateMemberAndRebalance(g, m, req, now), nil, nil
	case StateCompletingRebalance:
		if m.matches(req.Protocols) {
			// A retry of a JoinGroup whose answer was lost: answer it
			// again for the current generation.
			return answered(s.joinResult(g, m, false)), nil, nil
		}
		return s.updateMemberAndRebalance(g, m, req, now), nil, nil
	case StateStable:
		if m.id == g.leader || !m.matches(req.Protocols) {
			// A leader rejoins to force a rebalance (say its metadata
			// changed); anyone with new metadata needs one too.
			return s.updateMemberAndRebalance(g, m, req, now), nil, nil
		}
		m.lastHeartbeat = now
		return answered(s.joinResult(g, m, false)), nil, nil
	}
	return nil, nil, ErrUnknownMember
}

func (s *shard) addMemberAndRebalance(g *group, id string, req JoinRequest, now time.Time) <-chan joinOutcome {
	m := &member{
		id:               id,
		instanceID:       req.InstanceID,
		clientID:         req.ClientID,
		clientHost:       req.ClientHost,
		protocolType:     req.ProtocolType,
		protocols:        req.Protocols,
		sessionTimeout:   req.SessionTimeout,
		rebalanceTimeout: req.RebalanceTimeout,
		lastHeartbeat:    now,
		isNew:            true,
	}
	ch := make(chan joinOutcome, 1)
	m.joinWaiter = ch
	g.add(m)
	if g.state == StatePreparingRebalance && g.initialDelay {
		g.newMemberAdded = true
	}
	s.c.log.Info("member joining group", "group", g.id, "member", id, "instance", req.InstanceID, "client", req.ClientID, "reason", req.Reason)
	s.maybePrepareRebalance(g, now)
	return ch
}

func (s *shard) updateMemberAndRebalance(g *group, m *member, req JoinRequest, now time.Time) <-chan joinOutcome {
	m.protocols = req.Protocols
	m.sessionTimeout, m.rebalanceTimeout = req.SessionTimeout, req.RebalanceTimeout
	m.lastHeartbeat = now
	ch := g.startJoin(m)
	s.c.log.Debug("member rejoining group", "group", g.id, "member", m.id, "state", g.state, "reason", req.Reason)
	s.maybePrepareRebalance(g, now)
	return ch
}

// replaceStaticMember handles a new incarnation of a known static member
// (it joined without a member id): the old id is fenced and the new one
// takes over its place, keeping its assignment. A stable group whose
// protocol would not change avoids a rebalance altogether; that is the
// point of static membership.
func (s *shard) replaceStaticMember(g *group, m *member, newID string, req JoinRequest, now time.Time) (<-chan joinOutcome, func(), error) {
	oldID := m.id
	old := *m
	g.answerJoin(m, joinOutcome{res: JoinResult{MemberID: oldID, Generation: -1}, err: ErrFencedInstance})
	if m.syncWaiter != nil {
		m.syncWaiter <- syncOutcome{err: ErrFencedInstance}
		m.syncWaiter = nil
	}
	g.renameMember(m, newID)
	m.protocols = req.Protocols
	m.sessionTimeout, m.rebalanceTimeout = req.SessionTimeout, req.RebalanceTimeout
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	m.lastHeartbeat = now
	s.c.log.Info("static member replaced", "group", g.id, "instance", m.instanceID, "old_member", oldID, "member", newID)

	if g.state != StateStable || g.selectProtocol() != g.protocol {
		// In CompletingRebalance the leader may already hold the old id:
		// only a new round gives the new id an assignment.
		ch := g.startJoin(m)
		s.maybePrepareRebalance(g, now)
		return ch, nil, nil
	}

	ch := make(chan joinOutcome, 1)
	gen := g.generation
	persist := func() {
		g.writeMu.Lock()
		defer g.writeMu.Unlock()
		s.mu.Lock()
		if err := s.current(g); err != nil || g.generation != gen || g.members[newID] != m {
			s.mu.Unlock()
			ch <- joinOutcome{res: JoinResult{MemberID: newID, Generation: -1}, err: ErrRebalanceInProgress}
			return
		}
		batch := s.groupBatch(g, nil, s.now())
		s.mu.Unlock()
		err := s.write(batch, func(err error) {
			if err != nil {
				// Undo, so the old incarnation's id stays valid.
				if g.members[newID] == m {
					g.renameMember(m, oldID)
					m.protocols, m.sessionTimeout, m.rebalanceTimeout = old.protocols, old.sessionTimeout, old.rebalanceTimeout
					m.clientID, m.clientHost = old.clientID, old.clientHost
				}
				ch <- joinOutcome{res: JoinResult{MemberID: newID, Generation: -1}, err: err}
				return
			}
			if g.generation != gen || g.state != StateStable {
				// A rebalance began while we wrote: join it.
				ch <- joinOutcome{res: JoinResult{MemberID: newID, Generation: -1}, err: ErrRebalanceInProgress}
				return
			}
			ch <- joinOutcome{res: s.joinResult(g, m, true)}
		})
		if err != nil && len(ch) == 0 {
			ch <- joinOutcome{res: JoinResult{MemberID: newID, Generation: -1}, err: err}
		}
	}
	return ch, persist, nil
}

// joinResult is the answer for m in the current generation. The leader
// gets the members; with skipAssignment it is told to keep the current
// assignment.
func (s *shard) joinResult(g *group, m *member, skipAssignment bool) JoinResult {
	res := JoinResult{
		MemberID:     m.id,
		Generation:   g.generation,
		ProtocolType: g.protocolType,
		Protocol:     g.protocol,
		Leader:       g.leader,
	}
	if m.id == g.leader {
		res.Members = g.memberMetadata()
		res.SkipAssignment = skipAssignment
	}
	return res
}

func (s *shard) maybePrepareRebalance(g *group, now time.Time) {
	if g.canRebalance() {
		s.prepareRebalance(g, now)
	}
}

// prepareRebalance starts a join phase. Members still waiting for a
// SyncGroup of the abandoned generation are told to rejoin.
func (s *shard) prepareRebalance(g *group, now time.Time) {
	if g.state == StateCompletingRebalance {
		s.failSyncs(g, ErrRebalanceInProgress)
	}
	rebalance := g.maxRebalanceTimeout()
	if g.state == StateEmpty {
		delay := min(s.c.cfg.InitialRebalanceDelay, rebalance)
		g.initialDelay, g.initialRemaining, g.newMemberAdded = true, rebalance-delay, false
		g.joinDeadline = now.Add(delay)
	} else {
		g.initialDelay = false
		g.joinDeadline = now.Add(rebalance)
	}
	s.c.log.Debug("preparing rebalance", "group", g.id, "from", g.state, "generation", g.generation, "members", len(g.members))
	g.transition(StatePreparingRebalance, now)
}

// advanceJoin ends g's join phase if it can: everyone rejoined (outside
// the initial delay) or the deadline passed. It runs after every change
// and on every tick.
func (s *shard) advanceJoin(g *group, now time.Time) {
	if g.state != StatePreparingRebalance {
		return
	}
	if g.initialDelay {
		if now.Before(g.joinDeadline) {
			return
		}
		if g.newMemberAdded && g.initialRemaining > 0 {
			d := min(s.c.cfg.InitialRebalanceDelay, g.initialRemaining)
			g.initialRemaining -= d
			g.newMemberAdded = false
			g.joinDeadline = now.Add(d)
			return
		}
		s.completeJoin(g, now)
		return
	}
	if g.allJoined() || !now.Before(g.joinDeadline) {
		s.completeJoin(g, now)
	}
}

// completeJoin ends the join phase: dynamic members that did not rejoin
// are dropped (static ones keep their place until their session
// expires), a new generation starts and every parked JoinGroup is
// answered.
func (s *shard) completeJoin(g *group, now time.Time) {
	for _, id := range append([]string(nil), g.order...) {
		m := g.members[id]
		if !m.awaitingJoin() && m.instanceID == "" {
			s.c.log.Info("removing member that did not rejoin in time", "group", g.id, "member", id)
			g.remove(m, ErrUnknownMember)
		}
	}
	if len(g.members) > 0 && !s.electJoinedLeader(g) {
		// Nobody rejoined: wait another round; session expiry will
		// remove the silent members.
		g.initialDelay = false
		g.joinDeadline = now.Add(g.maxRebalanceTimeout())
		return
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol = ""
		g.subscribed = nil
		g.transition(StateEmpty, now)
		s.c.log.Info("group is empty", "group", g.id, "generation", g.generation)
		s.persistAsync(g)
		return
	}
	g.protocol = g.selectProtocol()
	g.subscribed = g.computeSubscribed()
	g.transition(StateCompletingRebalance, now)
	s.c.log.Info("group rebalanced", "group", g.id, "generation", g.generation, "protocol", g.protocol,
		"leader", g.leader, "members", len(g.members))
	for _, id := range g.order {
		m := g.members[id]
		g.answerJoin(m, joinOutcome{res: s.joinResult(g, m, false)})
		m.lastHeartbeat = now
		m.isNew = false
	}
}

// electJoinedLeader makes sure the leader is a member that rejoined, so
// that it will compute the assignment; false if nobody rejoined.
func (s *shard) electJoinedLeader(g *group) bool {
	if m := g.members[g.leader]; m != nil && m.awaitingJoin() {
		return true
	}
	for _, id := range g.order {
		if g.members[id].awaitingJoin() {
			g.leader = id
			return true
		}
	}
	return false
}

// persistAsync stores g's metadata in the background (a group that became
// empty: its generation must survive a restart).
func (s *shard) persistAsync(g *group) {
	s.c.wg.Add(1)
	go func() {
		defer s.c.wg.Done()
		// Started by a request: a bug here must not end the process.
		defer func() {
			if p := recover(); p != nil {
				s.c.log.Error("persisting a group panicked", "group", g.id, "panic", p, "stack", string(debug.Stack()))
			}
		}()
		g.writeMu.Lock()
		defer g.writeMu.Unlock()
		s.mu.Lock()
		if s.current(g) != nil {
			s.mu.Unlock()
			return
		}
		batch := s.groupBatch(g, nil, s.now())
		s.mu.Unlock()
		_ = s.write(batch, func(error) {})
	}()
}

func answered(res JoinResult) <-chan joinOutcome {
	ch := make(chan joinOutcome, 1)
	ch <- joinOutcome{res: res}
	return ch
}

// newUUID returns a random UUID in Java's textual form, the suffix Kafka
// gives member ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
