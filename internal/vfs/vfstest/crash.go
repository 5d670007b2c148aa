package vfstest

import (
	"bytes"
	"maps"
	"math/rand/v2"
	"slices"
)

// CrashOptions choose what a simulated power cut leaves behind.
type CrashOptions struct {
	// Torn models a disk that persisted some unsynced work before power
	// was lost. For each directory, either its synced or its current
	// entries survive (a journal commits a directory's changes together).
	// For each file whose unsynced changes are pure appends, a random
	// prefix of the appended bytes survives, and sometimes the end of
	// that prefix reads back as zeros (the size reached the disk before
	// the data blocks did). Files changed in other ways since their last
	// Sync fall back to their synced contents.
	//
	// Without Torn only synced state survives.
	Torn bool
	// Seed makes the Torn choices reproducible.
	Seed uint64
}

// CrashClone returns a new MemFS holding what a power cut at this moment
// would leave on disk: data made durable with Sync and directory entries
// made durable with SyncDir, plus, with opts.Torn, a random part of what
// was not synced. The receiver is not changed and can keep being used.
// Everything in the clone counts as synced, and it holds no locks.
func (m *MemFS) CrashClone(opts CrashOptions) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := &crasher{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15)),
		seen: make(map[*memNode]*memNode)}
	out := NewMem()
	out.root = c.dir(m.root)
	return out
}

type crasher struct {
	opts CrashOptions
	rng  *rand.Rand
	seen map[*memNode]*memNode // one inode reachable under two names stays one
}

func (c *crasher) dir(n *memNode) *memNode {
	out := newDirNode(n.mode)
	out.modTime = n.modTime
	entries := n.syncedChildren
	if c.opts.Torn && c.rng.IntN(2) == 0 {
		entries = n.children
	}
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		child := entries[name]
		cc, ok := c.seen[child]
		if !ok {
			if child.dir {
				cc = c.dir(child)
			} else {
				cc = c.file(child)
			}
			c.seen[child] = cc
		}
		out.children[name] = cc
		out.syncedChildren[name] = cc
	}
	return out
}

func (c *crasher) file(n *memNode) *memNode {
	data := bytes.Clone(n.synced)
	s := len(n.synced)
	if c.opts.Torn && len(n.data) > s && bytes.Equal(n.data[:s], n.synced) {
		keep := c.rng.IntN(len(n.data) - s + 1)
		data = append(data, n.data[s:s+keep]...)
		if keep > 0 && c.rng.IntN(4) == 0 {
			clear(data[s+c.rng.IntN(keep):])
		}
	}
	if data == nil {
		data = []byte{}
	}
	return &memNode{mode: n.mode, modTime: n.modTime, data: data, synced: bytes.Clone(data)}
}
