package group

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a classic group's state, as Kafka names them.
type State int8

// The classic group states:
//
//	Empty --join--> PreparingRebalance --all joined or timeout--> CompletingRebalance
//	CompletingRebalance --leader's SyncGroup stored--> Stable
//	Stable/CompletingRebalance --member joins, leaves or expires--> PreparingRebalance
//	PreparingRebalance --nobody left--> Empty
//	Empty --deleted or expired--> Dead
const (
	StateEmpty State = iota
	StatePreparingRebalance
	StateCompletingRebalance
	StateStable
	StateDead
)

func (s State) String() string {
	switch s {
	case StateEmpty:
		return "Empty"
	case StatePreparingRebalance:
		return "PreparingRebalance"
	case StateCompletingRebalance:
		return "CompletingRebalance"
	case StateStable:
		return "Stable"
	case StateDead:
		return "Dead"
	}
	return "Unknown"
}

// consumerProtocolType is the protocol type of Kafka consumers; only their
// member metadata is parsed (to learn the subscribed topics).
const consumerProtocolType = "consumer"

// newMemberJoinTimeout bounds how long a brand-new member may wait in a
// JoinGroup: it has no member id yet, so it cannot heartbeat, and a client
// that gave up would otherwise hold the rebalance until its timeout.
const newMemberJoinTimeout = 5 * time.Minute

// Protocol is one assignment protocol a member supports, with the
// member's metadata for it (for consumers: subscription and owned
// partitions, encoded by the client).
type Protocol struct {
	Name     string
	Metadata []byte
}

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// member is one member of a group.
type member struct {
	id         string
	instanceID string // group.instance.id; "" for dynamic members
	clientID   string
	clientHost string

	protocolType     string
	protocols        []Protocol
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	assignment       []byte

	lastHeartbeat time.Time
	// isNew is set until the member's first join round completes.
	isNew bool
	// joinWaiter is the pending JoinGroup response, set while the member
	// is awaiting the end of the join phase; syncWaiter likewise for
	// SyncGroup. Both are buffered (1), so sending never blocks.
	joinWaiter chan joinOutcome
	syncWaiter chan syncOutcome
}

func (m *member) awaitingJoin() bool { return m.joinWaiter != nil }

// metadataFor returns the member's metadata for protocol.
func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether protocols are exactly what the member joined
// with: a rejoin with identical metadata needs no rebalance. Consumers
// encode their owned partitions in the metadata, so a cooperative member
// that revoked partitions differs and does trigger one.
func (m *member) matches(protocols []Protocol) bool {
	return slices.EqualFunc(m.protocols, protocols, func(a, b Protocol) bool {
		return a.Name == b.Name && bytes.Equal(a.Metadata, b.Metadata)
	})
}

func (m *member) supports(protocol string) bool {
	return slices.ContainsFunc(m.protocols, func(p Protocol) bool { return p.Name == protocol })
}

// keepAlive reports whether the member's session is still valid at now.
// A member parked in JoinGroup or SyncGroup cannot heartbeat, so it is
// kept (a new one only up to newMemberJoinTimeout); the rebalance
// timeout decides its fate instead.
func (m *member) keepAlive(now time.Time) bool {
	if m.joinWaiter != nil {
		return !m.isNew || now.Before(m.lastHeartbeat.Add(newMemberJoinTimeout))
	}
	if m.syncWaiter != nil {
		return true
	}
	return now.Before(m.lastHeartbeat.Add(m.sessionTimeout))
}

// offset is one committed offset.
type offset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitTime  int64 // ms
	expireTime  int64 // ms; -1 unless the commit asked for its own retention (v2-v4)
}

// group is one consumer group. Its fields are guarded by the shard's mutex;
// writeMu orders the group's writes to the log (see shard.write).
type group struct {
	id           string
	state        State
	stateTime    time.Time // when state last changed (Kafka's currentStateTimestamp)
	protocolType string
	protocol     string // selected protocol; "" unless CompletingRebalance or Stable
	generation   int32
	leader       string

	members map[string]*member
	order   []string          // member ids in join order, for deterministic output
	static  map[string]string // group.instance.id -> member id
	// pending are member ids handed out with MEMBER_ID_REQUIRED that have
	// not joined yet, with the time they expire; the join phase waits
	// for them, as Kafka does.
	pending         map[string]time.Time
	numAwaitingJoin int

	// Join-phase timer: joinDeadline ends the phase. During the initial
	// delay of an empty group's first rebalance the phase never ends
	// early; each new member extends it while initialRemaining lasts.
	joinDeadline     time.Time
	initialDelay     bool
	initialRemaining time.Duration
	newMemberAdded   bool

	// subscribed are the topics consumer members subscribe to in the
	// current generation (nil if unknown): their offsets neither expire
	// nor may be deleted while the group is active.
	subscribed map[string]bool
	offsets    map[TopicPartition]offset

	// counter is the coordinator's count of members and pending member
	// ids (Config.MaxMembers), which this group's changes keep current
	// while it is in a shard; nil while a load is still building it (the
	// shard then adds the group's size at once, see shard.setGroups).
	counter *atomic.Int64

	writeMu sync.Mutex
}

// size is what the group counts towards Config.MaxMembers.
func (g *group) size() int { return len(g.members) + len(g.pending) }

func (g *group) counted(delta int64) {
	if g.counter != nil {
		g.counter.Add(delta)
	}
}

// addPending records a member id handed out with MEMBER_ID_REQUIRED.
func (g *group) addPending(id string, deadline time.Time) {
	if _, ok := g.pending[id]; !ok {
		g.counted(1)
	}
	g.pending[id] = deadline
}

// dropPending forgets a pending member id.
func (g *group) dropPending(id string) {
	if _, ok := g.pending[id]; ok {
		delete(g.pending, id)
		g.counted(-1)
	}
}

func newGroup(id string, now time.Time) *group {
	return &group{
		id:        id,
		state:     StateEmpty,
		stateTime: now,
		members:   make(map[string]*member),
		static:    make(map[string]string),
		pending:   make(map[string]time.Time),
		offsets:   make(map[TopicPartition]offset),
	}
}

func (g *group) transition(s State, now time.Time) {
	g.state, g.stateTime = s, now
}

// add puts a new member in the group; the first member leads.
func (g *group) add(m *member) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	if _, ok := g.members[m.id]; !ok {
		g.counted(1)
	}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	if m.instanceID != "" {
		g.static[m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
	if m.awaitingJoin() {
		g.numAwaitingJoin++
	}
}

// remove takes a member out of the group. Its parked requests are answered
// with err; the leadership passes to the oldest remaining member.
func (g *group) remove(m *member, err error) {
	if m.joinWaiter != nil {
		m.joinWaiter <- joinOutcome{res: JoinResult{MemberID: m.id, Generation: -1}, err: err}
		m.joinWaiter = nil
		g.numAwaitingJoin--
	}
	if m.syncWaiter != nil {
		m.syncWaiter <- syncOutcome{err: err}
		m.syncWaiter = nil
	}
	if _, ok := g.members[m.id]; ok {
		delete(g.members, m.id)
		g.counted(-1)
	}
	g.order = slices.DeleteFunc(g.order, func(id string) bool { return id == m.id })
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
}

// renameMember gives a static member a new member id (a new incarnation
// of the same instance replaced it).
func (g *group) renameMember(m *member, newID string) {
	oldID := m.id
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	for i, id := range g.order {
		if id == oldID {
			g.order[i] = newID
		}
	}
	g.static[m.instanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
}

// startJoin parks a JoinGroup for m and returns the channel it is
// answered on. A JoinGroup already parked for m (a retry on another
// connection) is answered with REBALANCE_IN_PROGRESS so that it does not
// hang.
func (g *group) startJoin(m *member) chan joinOutcome {
	if m.joinWaiter != nil {
		m.joinWaiter <- joinOutcome{res: JoinResult{MemberID: m.id, Generation: -1}, err: ErrRebalanceInProgress}
	} else {
		g.numAwaitingJoin++
	}
	m.joinWaiter = make(chan joinOutcome, 1)
	return m.joinWaiter
}

// answerJoin completes m's parked JoinGroup.
func (g *group) answerJoin(m *member, o joinOutcome) {
	if m.joinWaiter == nil {
		return
	}
	m.joinWaiter <- o
	m.joinWaiter = nil
	g.numAwaitingJoin--
}

func (g *group) allJoined() bool {
	return len(g.members) == g.numAwaitingJoin && len(g.pending) == 0
}

// canRebalance reports whether a change should start a new rebalance (in
// PreparingRebalance one is already under way).
func (g *group) canRebalance() bool {
	return g.state == StateEmpty || g.state == StateStable || g.state == StateCompletingRebalance
}

// isFenced reports whether instanceID belongs to the group under a
// different member id than memberID.
func (g *group) isFenced(memberID string, instanceID string) bool {
	if instanceID == "" {
		return false
	}
	id, ok := g.static[instanceID]
	return ok && id != memberID
}

// maxRebalanceTimeout is how long the join phase waits: the longest
// rebalance timeout of any member.
func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// supportsProtocols reports whether a member joining with protocolType
// and protocols fits the group: an empty group accepts anything
// non-empty; otherwise the type must match and at least one protocol must
// be supported by every other member.
func (g *group) supportsProtocols(memberID, protocolType string, protocols []Protocol) bool {
	if protocolType == "" || len(protocols) == 0 {
		return false
	}
	others := 0
	for id := range g.members {
		if id != memberID {
			others++
		}
	}
	if others == 0 {
		return len(g.members) == 0 || g.protocolType == protocolType
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		ok := true
		for id, m := range g.members {
			if id != memberID && !m.supports(p.Name) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// selectProtocol picks the group's protocol as Kafka does: among the
// protocols every member supports, each member votes for the first one in
// its own preference order, and the most votes win. Ties go to the
// candidate the leader prefers, so the choice is deterministic.
func (g *group) selectProtocol() string {
	var candidates []string
	if len(g.order) == 0 {
		return ""
	}
	ref := g.members[g.leader]
	if ref == nil {
		ref = g.members[g.order[0]]
	}
	for _, p := range ref.protocols {
		all := true
		for _, m := range g.members {
			if !m.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.Name)
		}
	}
	votes := make(map[string]int)
	for _, id := range g.order {
		for _, p := range g.members[id].protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", -1
	for _, c := range candidates {
		if votes[c] > bestVotes {
			best, bestVotes = c, votes[c]
		}
	}
	return best
}

// memberMetadata is what the leader receives: every member with its
// metadata for the selected protocol.
func (g *group) memberMetadata() []MemberMetadata {
	out := make([]MemberMetadata, 0, len(g.order))
	for _, id := range g.order {
		m := g.members[id]
		out = append(out, MemberMetadata{MemberID: m.id, InstanceID: m.instanceID, Metadata: m.metadataFor(g.protocol)})
	}
	return out
}

// computeSubscribed parses consumer members' metadata for their topics.
// It returns nil (unknown) for other protocol types or unparsable
// metadata, which makes offsets behave as if no topic were subscribed.
func (g *group) computeSubscribed() map[string]bool {
	if g.protocolType != consumerProtocolType || g.protocol == "" {
		return nil
	}
	topics := make(map[string]bool)
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil
		}
		for _, t := range meta.Topics {
			topics[t] = true
		}
	}
	return topics
}

// sortedTopicPartitions returns the partitions the group has offsets for,
// ordered by topic and partition.
func (g *group) sortedTopicPartitions() []TopicPartition {
	tps := make([]TopicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, compareTopicPartitions)
	return tps
}

func compareTopicPartitions(a, b TopicPartition) int {
	switch {
	case a.Topic < b.Topic:
		return -1
	case a.Topic > b.Topic:
		return 1
	case a.Partition < b.Partition:
		return -1
	case a.Partition > b.Partition:
		return 1
	}
	return 0
}
