package vfstest

import (
	"syscall"
)

// Write-back errors. When the kernel fails to write a file's dirty pages
// back (an I/O error during background write-back or during another
// process's syncfs), Linux marks the pages clean anyway, so those bytes
// never reach the disk, and records the error in two error sequences: the
// file's (address_space.wb_err), which every open descriptor reports once
// from its next fsync, and the file system's (super_block.s_wb_err), which
// the next syncfs reports once. A syncfs after that returns 0 although the
// lost bytes are still not on disk; only fsync of the file itself tells.
// FailWriteBack lets tests reproduce exactly that.

// FailWriteBack simulates a failed write-back of name's unsynced contents
// with err (EIO if nil): the bytes changed since its last Sync will never
// become durable (a later Sync or SyncFS leaves the old contents, or
// zeros, in their place unless they are written again), the next Sync
// through each descriptor open on the file now fails once with err, and
// the next SyncFS fails once with err.
func (m *MemFS) FailWriteBack(name string, err error) error {
	if err == nil {
		err = syscall.EIO
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, lerr := m.lookup(cleanPath(name))
	if lerr != nil {
		return pathErr("failwriteback", name, lerr)
	}
	if n.dir {
		return pathErr("failwriteback", name, syscall.EISDIR)
	}
	if a, b := dirtyRange(n); a < b {
		n.lost = append(n.lost, [2]int64{a, b})
	}
	n.wbErr = err
	n.wbSeq++
	m.sbErr = err
	return nil
}

// dirtyRange is the smallest range of n.data that differs from n.synced.
func dirtyRange(n *memNode) (int64, int64) {
	a := 0
	for a < len(n.data) && a < len(n.synced) && n.data[a] == n.synced[a] {
		a++
	}
	if a == len(n.data) {
		return 0, 0
	}
	return int64(a), int64(len(n.data))
}

// syncNode makes n's current contents durable, except the bytes whose
// write-back was lost: those keep their durable contents (zeros past the
// old end).
func syncNode(n *memNode) {
	old := n.synced
	n.synced = append(n.synced[:0:0], n.data...)
	for _, r := range n.lost {
		for i := r[0]; i < r[1] && i < int64(len(n.synced)); i++ {
			if i < int64(len(old)) {
				n.synced[i] = old[i]
			} else {
				n.synced[i] = 0
			}
		}
	}
}

// rewritten forgets lost write-back for the bytes [off, end): they are
// dirty again and the next sync writes them.
func rewritten(n *memNode, off, end int64) {
	if len(n.lost) == 0 {
		return
	}
	var keep [][2]int64
	for _, r := range n.lost {
		if r[1] <= off || r[0] >= end {
			keep = append(keep, r)
			continue
		}
		if r[0] < off {
			keep = append(keep, [2]int64{r[0], off})
		}
		if r[1] > end {
			keep = append(keep, [2]int64{end, r[1]})
		}
	}
	n.lost = keep
}

// takeFileErr reports a write-back error of f's file that f has not seen
// yet, once.
func (f *memFile) takeFileErr() error {
	if f.n.wbSeq == f.wbSeen {
		return nil
	}
	f.wbSeen = f.n.wbSeq
	return pathErr("sync", f.name, f.n.wbErr)
}

// takeFSErr reports a write-back error on the file system that no SyncFS
// has reported yet, once.
func (m *MemFS) takeFSErr(dir string) error {
	err := m.sbErr
	m.sbErr = nil
	if err != nil {
		return pathErr("syncfs", dir, err)
	}
	return nil
}
