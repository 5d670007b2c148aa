package testcluster

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// node is one broker's fixed identity: its ports and directories stay the
// same across restarts, like an operator's flags.
type node struct {
	id                               int
	kafkaAddr, httpAddr, clusterAddr string
	sslAddr                          string // "" without Options.SSLListener
	dataDir, logPath                 string
	args                             []string

	mu   sync.Mutex
	runs []*run // every incarnation, the latest last
}

// run is one incarnation of a node's process.
type run struct {
	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{} // closed once the process has been waited for
	state   error         // cmd.Wait's result, valid once exited is closed
	// stopping is set before the harness kills or stops the process; an
	// exit without it is a crash, which fails the test at cleanup.
	stopping atomic.Bool
	paused   atomic.Bool
}

// launch starts a new incarnation of n; its output is appended to n's log
// file after a banner, so one file tells the node's whole story.
func (n *node) launch(bin string) error {
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	n.mu.Lock()
	incarnation := len(n.runs) + 1
	n.mu.Unlock()
	fmt.Fprintf(f, "==== testcluster: node %d incarnation %d at %s: spool %s\n",
		n.id, incarnation, time.Now().Format(time.RFC3339Nano), strings.Join(n.args, " "))
	r := &run{logFile: f, exited: make(chan struct{})}
	r.cmd = exec.Command(bin, n.args...)
	r.cmd.Stdout, r.cmd.Stderr = f, f
	r.cmd.Env = childEnv()
	r.cmd.SysProcAttr = sysProcAttr()
	if err := r.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting spool serve: %w", err)
	}
	go func() {
		r.state = r.cmd.Wait()
		fmt.Fprintf(f, "==== testcluster: node %d incarnation %d exited at %s: %v\n",
			n.id, incarnation, time.Now().Format(time.RFC3339Nano), exitDescription(r.state))
		f.Close()
		close(r.exited)
	}()
	n.mu.Lock()
	n.runs = append(n.runs, r)
	n.mu.Unlock()
	return nil
}

// childEnv is this process's environment without SPOOL_* variables, which
// would otherwise change the brokers' configuration behind the test's back.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SPOOL_") {
			env = append(env, kv)
		}
	}
	return env
}

func exitDescription(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// cur is the latest incarnation (nil before the first launch).
func (n *node) cur() *run {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.runs) == 0 {
		return nil
	}
	return n.runs[len(n.runs)-1]
}

func (n *node) allRuns() []*run {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*run(nil), n.runs...)
}

func (n *node) running() bool {
	r := n.cur()
	return r != nil && !r.hasExited()
}

// waitReady polls /readyz until it answers 200, the process exits, or the
// timeout passes.
func (n *node) waitReady(timeout time.Duration) error {
	r := n.cur()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for {
		select {
		case <-r.exited:
			r.stopping.Store(true) // reported here, not again at cleanup
			return fmt.Errorf("%w: node %d exited while starting (%v); last lines of its log:\n%s",
				ErrNotReady, n.id, exitDescription(r.state), tail(n.logPath, 30))
		default:
		}
		resp, err := client.Get("http://" + n.httpAddr + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz: %s", resp.Status)
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: node %d not ready after %v (last: %v); last lines of its log:\n%s",
				ErrNotReady, n.id, timeout, last, tail(n.logPath, 30))
		}
		select {
		case <-r.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *run) hasExited() bool {
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}

func (r *run) exitedOnItsOwn() bool { return r.hasExited() && !r.stopping.Load() }

func (r *run) pid() int {
	if r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// kill sends SIGKILL (harmless if the process is gone) and waits for it.
func (r *run) kill() {
	r.stopping.Store(true)
	if !r.hasExited() {
		r.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-r.exited
}

// tail returns the last n lines of the file at path ("" if unreadable).
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", path, err)
	}
	b = bytes.TrimRight(b, "\n")
	idx := len(b)
	for range n {
		i := bytes.LastIndexByte(b[:idx], '\n')
		if i < 0 {
			return string(b)
		}
		idx = i
	}
	return string(b[idx+1:])
}
