package partition

import (
	"sort"
	"sync"

	"github.com/spool-mq/spool/internal/storage"
)

// Manager indexes the partition replicas hosted by this broker. The broker's
// reconciler adds and removes them as the metadata image changes; request
// handlers only look them up.
type Manager struct {
	mu    sync.RWMutex
	parts map[storage.TopicPartition]*Partition
}

// NewManager returns an empty manager.
func NewManager() *Manager {
	return &Manager{parts: make(map[storage.TopicPartition]*Partition)}
}

// Get returns the local replica of topic/index, or nil.
func (m *Manager) Get(topic string, index int32) *Partition {
	m.mu.RLock()
	p := m.parts[storage.TopicPartition{Topic: topic, Partition: index}]
	m.mu.RUnlock()
	return p
}

// Put adds or replaces a replica.
func (m *Manager) Put(p *Partition) {
	m.mu.Lock()
	m.parts[p.tp] = p
	m.mu.Unlock()
}

// Remove drops a replica from the index and returns it (nil if absent).
func (m *Manager) Remove(tp storage.TopicPartition) *Partition {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.parts[tp]
	delete(m.parts, tp)
	return p
}

// All returns every replica, sorted by topic and partition.
func (m *Manager) All() []*Partition {
	m.mu.RLock()
	out := make([]*Partition, 0, len(m.parts))
	for _, p := range m.parts {
		out = append(out, p)
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].tp, out[j].tp
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return out
}
