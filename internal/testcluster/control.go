package testcluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// Kill sends SIGKILL to node id and waits until it is gone: a crash, with
// no shutdown code running.
func (c *Cluster) Kill(id int) {
	c.t.Helper()
	r := c.live(id, "Kill")
	r.kill()
}

// Stop sends SIGTERM to node id (a controlled shutdown) and waits for a
// clean exit; a non-zero exit status or a hang beyond StopTimeout fails the
// test.
func (c *Cluster) Stop(id int) {
	c.t.Helper()
	r := c.live(id, "Stop")
	r.stopping.Store(true)
	if r.paused.Load() {
		r.cmd.Process.Signal(syscall.SIGCONT) // a stopped process cannot act on SIGTERM
		r.paused.Store(false)
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatalf("node %d: SIGTERM: %v", id, err)
	}
	select {
	case <-r.exited:
	case <-time.After(c.opts.StopTimeout):
		r.kill()
		c.t.Fatalf("node %d did not exit within %v of SIGTERM (killed it)", id, c.opts.StopTimeout)
	}
	if r.state != nil {
		c.t.Fatalf("node %d exited after SIGTERM with %v, want status 0", id, r.state)
	}
}

// Pause freezes node id with SIGSTOP: its sockets stay open but nothing
// answers, like a machine stalled by GC, swap or a hypervisor.
func (c *Cluster) Pause(id int) {
	c.t.Helper()
	r := c.live(id, "Pause")
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		c.t.Fatalf("node %d: SIGSTOP: %v", id, err)
	}
	waitStopped(r.cmd.Process.Pid)
	r.paused.Store(true)
}

// waitStopped waits (bounded) until the kernel reports pid as stopped:
// signal delivery is asynchronous, and a request sent in between would
// still be answered. Without /proc it returns at once.
func waitStopped(pid int) {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	for range 200 {
		data, err := os.ReadFile(path)
		if err != nil {
			return
		}
		// The state follows the parenthesised command name.
		if i := bytes.LastIndexByte(data, ')'); i >= 0 && i+2 < len(data) && (data[i+2] == 'T' || data[i+2] == 't') {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Resume continues a paused node with SIGCONT.
func (c *Cluster) Resume(id int) {
	c.t.Helper()
	r := c.live(id, "Resume")
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		c.t.Fatalf("node %d: SIGCONT: %v", id, err)
	}
	r.paused.Store(false)
}

// Restart starts node id again, on the same ports, data directory and log
// file, and waits until it serves. The previous process must have exited
// (Kill or Stop first).
func (c *Cluster) Restart(id int) {
	c.t.Helper()
	n := c.node(id)
	if n.running() {
		c.t.Fatalf("Restart(%d): the node is still running; Kill or Stop it first", id)
	}
	if err := n.launch(c.bin); err != nil {
		c.t.Fatalf("node %d: %v", id, err)
	}
	if err := n.waitReady(c.opts.ReadyTimeout); err != nil {
		c.t.Fatalf("restarting node %d: %v", id, err)
	}
}

// RestartAll starts every listed node again at once and waits until each
// serves: a node waits for a Raft quorum before it serves, so restarting a
// whole stopped cluster one node at a time would never finish.
func (c *Cluster) RestartAll(ids ...int) {
	c.t.Helper()
	for _, id := range ids {
		n := c.node(id)
		if n.running() {
			c.t.Fatalf("RestartAll: node %d is still running; Kill or Stop it first", id)
		}
		if err := n.launch(c.bin); err != nil {
			c.t.Fatalf("node %d: %v", id, err)
		}
	}
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { errs[i] = c.node(id).waitReady(c.opts.ReadyTimeout) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.t.Fatalf("restarting nodes %v: %v", ids, err)
	}
}

// Wipe deletes node id's data directory (partition logs and its copy of
// the metadata log), as if its disk had been replaced. Only while stopped.
func (c *Cluster) Wipe(id int) {
	c.t.Helper()
	n := c.node(id)
	if n.running() {
		c.t.Fatalf("Wipe(%d): the node is running; Kill or Stop it first", id)
	}
	if err := os.RemoveAll(n.dataDir); err != nil {
		c.t.Fatalf("wiping node %d: %v", id, err)
	}
	if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
		c.t.Fatalf("wiping node %d: %v", id, err)
	}
}

// Cut breaks the link between nodes a and b in both directions: live
// connections are reset and new ones refused until Heal.
func (c *Cluster) Cut(a, b int) {
	c.t.Helper()
	c.proxy(a, b).Cut()
	c.proxy(b, a).Cut()
}

// Heal restores the link between nodes a and b in both directions.
func (c *Cluster) Heal(a, b int) {
	c.t.Helper()
	c.proxy(a, b).Heal()
	c.proxy(b, a).Heal()
}

// Isolate cuts every link of node id to the other nodes. Clients still
// reach it: only inter-broker traffic goes through the proxies.
func (c *Cluster) Isolate(id int) {
	c.t.Helper()
	for _, other := range c.IDs() {
		if other != id {
			c.Cut(id, other)
		}
	}
}

// HealAll restores every link.
func (c *Cluster) HealAll() {
	for _, p := range c.proxies {
		p.Heal()
	}
}

// Proxy returns the proxy that carries node from's traffic to node to.
func (c *Cluster) Proxy(from, to int) *Proxy {
	c.t.Helper()
	return c.proxy(from, to)
}

func (c *Cluster) proxy(from, to int) *Proxy {
	c.t.Helper()
	c.node(from)
	c.node(to)
	p, ok := c.proxies[link{from, to}]
	if !ok {
		c.t.Fatalf("no link %d->%d", from, to)
	}
	return p
}

// live returns node id's running process or fails the test.
func (c *Cluster) live(id int, op string) *run {
	c.t.Helper()
	n := c.node(id)
	r := n.cur()
	if r == nil || r.hasExited() {
		c.t.Fatalf("%s(%d): the node is not running", op, id)
	}
	return r
}
