package controller

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/spool-mq/spool/internal/auth"
)

// Image is one immutable version of the cluster metadata. A new Image is
// published after every applied log entry (and when the Raft leader
// changes); readers take the current one with Controller.Image and use it
// without locks. Nothing reachable from an Image may be modified, including
// the Brokers map and the slices and maps inside Topics.
type Image struct {
	// ClusterID is the cluster's id (22-character base64url, as in Kafka);
	// empty only until the first leader commits one.
	ClusterID string
	// Index is the Raft index of the last command applied to this image.
	Index uint64
	// ControllerID is the node id of the current Raft leader, or -1. It is
	// local knowledge, not replicated state, so it is not in snapshots.
	ControllerID int32
	// Brokers are the registered brokers by id.
	Brokers map[int32]Broker
	// NextProducerID is the first producer id not yet handed out.
	NextProducerID int64

	topics map[string]*Topic
	byID   map[[16]byte]*Topic
	sorted []*Topic // by name
	// scram holds the SCRAM credentials by user and mechanism (scram.go).
	scram map[string]map[auth.Mechanism]auth.Credential
	// acls are the ACL bindings (acl.go); nil when there are none.
	acls *auth.ACLSet
}

// Endpoint is one Kafka listener of a broker, as clients should dial it.
type Endpoint struct {
	Name string `json:"name"`
	Host string `json:"host"`
	Port int32  `json:"port"`
}

// Endpoint returns the broker's address on the listener named name, or
// its first listener's (Host and Port) when it has no such listener:
// clients then at least get an address, and connecting to it fails
// visibly instead of a broker missing from Metadata.
func (b Broker) Endpoint(name string) (host string, port int32) {
	for _, e := range b.Endpoints {
		if e.Name == name {
			return e.Host, e.Port
		}
	}
	return b.Host, b.Port
}

// Broker is a registered broker.
type Broker struct {
	ID   int32
	Host string
	Port int32
	Rack *string
	// Endpoints are the broker's Kafka listeners by name (empty for a
	// registration from before listeners were named); never modified.
	Endpoints []Endpoint
	// Fenced brokers are registered but may not lead or host new replicas:
	// every registration starts fenced, the first heartbeat that shows the
	// broker has caught up with the metadata log unfences it, and a missed
	// session fences it again.
	Fenced bool
	// InControlledShutdown is set while the broker is shutting down
	// cleanly: leadership moves away from it and heartbeats no longer
	// unfence it.
	InControlledShutdown bool
	// IncarnationID is random per broker process start; a registration
	// with a new one is a restart.
	IncarnationID [16]byte
	// Epoch is the Raft index of the broker's latest registration; it grows
	// with every re-registration so a stale incarnation can be told apart.
	Epoch int64
}

// Topic is one topic. Configs holds only the per-topic overrides.
type Topic struct {
	Name       string
	ID         [16]byte
	Internal   bool
	Partitions []Partition
	Configs    map[string]string
}

// Partition is one partition of a topic.
type Partition struct {
	Index          int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	// Replicas lists the replicas, the preferred leader first. During a
	// reassignment it holds the target replicas followed by those being
	// removed.
	Replicas []int32
	ISR      []int32
	// AddingReplicas and RemovingReplicas are non-empty while a
	// reassignment is in progress: it completes once every adding replica
	// is in the ISR.
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// Reassigning reports whether a reassignment of p is in progress.
func (p *Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// ReplicationFactor is the number of replicas of the topic's partitions.
func (t *Topic) ReplicationFactor() int16 {
	if len(t.Partitions) == 0 {
		return 0
	}
	return int16(len(t.Partitions[0].Replicas))
}

// emptyImage is the state before anything is applied.
func emptyImage() *Image {
	return &Image{
		ControllerID: -1,
		Brokers:      map[int32]Broker{},
		topics:       map[string]*Topic{},
		byID:         map[[16]byte]*Topic{},
	}
}

// Topic returns the topic with the given name, or nil.
func (img *Image) Topic(name string) *Topic { return img.topics[name] }

// TopicByID returns the topic with the given id, or nil.
func (img *Image) TopicByID(id [16]byte) *Topic { return img.byID[id] }

// Topics returns all topics sorted by name. The slice is the caller's; the
// topics are shared and must not be modified.
func (img *Image) Topics() []*Topic { return slices.Clone(img.sorted) }

// NumTopics is the number of topics.
func (img *Image) NumTopics() int { return len(img.sorted) }

// SortedBrokers returns the registered brokers ordered by id.
func (img *Image) SortedBrokers() []Broker {
	out := slices.Collect(maps.Values(img.Brokers))
	slices.SortFunc(out, func(a, b Broker) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// activeBrokerIDs returns the ids of unfenced brokers in ascending order:
// the candidates for new replicas.
func (img *Image) activeBrokerIDs() []int32 {
	var ids []int32
	for id, b := range img.Brokers {
		if !b.Fenced {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// withControllerID returns a copy of img that differs only in ControllerID.
// The copy shares all maps and topics, which is safe because they are
// never modified once published.
func (img *Image) withControllerID(id int32) *Image {
	next := *img
	next.ControllerID = id
	return &next
}

// builder accumulates changes to a base image. Maps are copied on first
// write, so a command that only touches brokers does not copy the topics.
type builder struct {
	base *Image
	next Image // scalar fields; maps replaced when copied

	brokersCopied bool
	topicsCopied  bool
	scramCopied   bool
}

func newBuilder(base *Image) *builder {
	return &builder{base: base, next: *base}
}

func (b *builder) topic(name string) *Topic { return b.next.topics[name] }

// partitionCount is the number of partitions over all topics.
func (b *builder) partitionCount() int {
	n := 0
	for _, t := range b.next.topics {
		n += len(t.Partitions)
	}
	return n
}
func (b *builder) topicByID(id [16]byte) *Topic   { return b.next.byID[id] }
func (b *builder) broker(id int32) (Broker, bool) { br, ok := b.next.Brokers[id]; return br, ok }

// collision returns the name of an existing topic that differs from name
// only by '.' versus '_', or "".
func (b *builder) collision(name string) string {
	if !strings.ContainsAny(name, "._") {
		return ""
	}
	unified := strings.ReplaceAll(name, ".", "_")
	for other := range b.next.topics {
		if other != name && strings.ReplaceAll(other, ".", "_") == unified {
			return other
		}
	}
	return ""
}

func (b *builder) setBroker(br Broker) {
	if !b.brokersCopied {
		b.next.Brokers = maps.Clone(b.next.Brokers)
		b.brokersCopied = true
	}
	b.next.Brokers[br.ID] = br
}

func (b *builder) copyTopics() {
	if b.topicsCopied {
		return
	}
	b.next.topics = maps.Clone(b.next.topics)
	b.next.byID = maps.Clone(b.next.byID)
	b.topicsCopied = true
}

// putTopic adds or replaces a topic (matched by id).
func (b *builder) putTopic(t *Topic) {
	b.copyTopics()
	if old := b.next.byID[t.ID]; old != nil && old.Name != t.Name {
		delete(b.next.topics, old.Name)
	}
	b.next.topics[t.Name] = t
	b.next.byID[t.ID] = t
}

func (b *builder) deleteTopic(t *Topic) {
	b.copyTopics()
	delete(b.next.topics, t.Name)
	delete(b.next.byID, t.ID)
}

// build returns the new image stamped with the applied index.
func (b *builder) build(index uint64) *Image {
	img := b.next
	img.Index = index
	if b.scramCopied && len(img.scram) == 0 {
		img.scram = nil // as in a fresh or restored image
	}
	if b.topicsCopied {
		img.sorted = slices.SortedFunc(maps.Values(img.topics), func(x, y *Topic) int {
			return strings.Compare(x.Name, y.Name)
		})
	}
	return &img
}
