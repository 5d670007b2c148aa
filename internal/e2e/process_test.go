package e2e

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spool-mq/spool/internal/testkit"
)

// spoolProcess is the spool binary running `spool serve` as a child
// process: what an operator runs, and the only way to kill a broker the way
// a power cut or the OOM killer does (SIGKILL: no deferred cleanup runs).
type spoolProcess struct {
	t       *testing.T
	dataDir string
	// Addresses stay the same across restarts, like an operator's flags.
	kafkaAddr, httpAddr, controllerAddr string
	extraArgs                           []string

	cur *processRun // the latest incarnation
}

// processRun is one incarnation of the process.
type processRun struct {
	cmd    *exec.Cmd
	output *lockedBuffer
	exited chan struct{} // closed when the process has been waited for
	state  error         // cmd.Wait's result, valid once exited is closed
	// stopping is set before the test kills or stops the process; an exit
	// without it is a crash and fails the test.
	stopping atomic.Bool
}

// readyTimeout bounds how long a starting broker may take to serve.
const readyTimeout = 30 * time.Second

// freeAddr is a port for a spool process to bind (see testkit.FreeAddr).
func freeAddr(t *testing.T) string { return testkit.FreeAddr(t) }

// startProcess runs `spool serve` on dataDir with fresh ports and waits for
// /readyz. The process is killed when the test ends if still running.
func startProcess(t *testing.T, dataDir string, extraArgs ...string) *spoolProcess {
	t.Helper()
	p := &spoolProcess{t: t, dataDir: dataDir, extraArgs: extraArgs,
		kafkaAddr: freeAddr(t), httpAddr: freeAddr(t), controllerAddr: freeAddr(t)}
	p.start()
	return p
}

// start launches a new incarnation and waits until it is ready.
func (p *spoolProcess) start() {
	t := p.t
	t.Helper()
	args := append([]string{"serve",
		"--data-dir", p.dataDir,
		"--kafka-addr", p.kafkaAddr,
		"--http-addr", p.httpAddr,
		"--controller-addr", p.controllerAddr,
		"--log-level", "debug",
	}, p.extraArgs...)
	r := &processRun{output: &lockedBuffer{}, exited: make(chan struct{})}
	r.cmd = exec.Command(needBinary(t), args...)
	r.cmd.Stdout, r.cmd.Stderr = r.output, r.output
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting spool serve: %v", err)
	}
	p.cur = r
	go func() {
		r.state = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-r.exited:
			if !r.stopping.Load() {
				t.Errorf("spool serve (%s) exited on its own while the test ran: %v", p.dataDir, r.state)
			}
		default:
			r.stopping.Store(true)
			r.cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() {
			t.Logf("---- spool serve (%s) output ----\n%s", p.dataDir, r.output.String())
		}
	})
	p.waitReady()
}

// waitReady polls /readyz (bounded) until it answers 200. The process
// exiting first fails the test with its output.
func (p *spoolProcess) waitReady() {
	t := p.t
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-p.cur.exited:
			p.cur.stopping.Store(true) // reported here, not again at cleanup
			t.Fatalf("spool serve exited before becoming ready: %v", p.cur.state)
		default:
		}
		resp, err := client.Get("http://" + p.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool serve not ready after %v (last: %v)", readyTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *spoolProcess) kill() {
	p.t.Helper()
	p.cur.stopping.Store(true)
	if err := p.cur.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("SIGKILL: %v", err)
	}
	<-p.cur.exited
}

// stop sends SIGTERM and expects a clean exit (status 0) within a bound.
func (p *spoolProcess) stop() {
	t := p.t
	t.Helper()
	r := p.cur
	r.stopping.Store(true)
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("spool serve did not exit within 30s of SIGTERM")
	}
	if r.state != nil {
		var ee *exec.ExitError
		if errors.As(r.state, &ee) {
			t.Fatalf("spool serve exited after SIGTERM with %v, want status 0", ee.ProcessState)
		}
		t.Fatalf("spool serve after SIGTERM: %v", r.state)
	}
}

// restart starts the process again on the same data dir and addresses.
func (p *spoolProcess) restart() {
	p.t.Helper()
	select {
	case <-p.cur.exited:
	default:
		p.t.Fatalf("restart: the previous process is still running")
	}
	p.start()
}

// watch returns a context that ends with ctx or when the current process
// exits, so a test talking to a broker that crashed fails at once instead
// of retrying until its deadline.
func (p *spoolProcess) watch(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	exited := p.cur.exited
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	p.t.Cleanup(cancel)
	return ctx
}
