package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
)

// testBrokersEnv points the tests at an existing cluster (for example a real
// Spool broker: SPOOL_TEST_BROKERS=127.0.0.1:9092) instead of an in-process
// kfake cluster. Topic names are unique per test so a shared cluster works.
const testBrokersEnv = "SPOOL_TEST_BROKERS"

// testCluster returns the bootstrap addresses of a cluster for t: the one
// named by SPOOL_TEST_BROKERS, or a fresh in-process kfake cluster that is
// shut down when t ends.
func testCluster(t *testing.T) []string {
	t.Helper()
	if v := os.Getenv(testBrokersEnv); v != "" {
		return strings.Split(v, ",")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// harness runs spool command lines in-process against one cluster.
type harness struct {
	t       *testing.T
	brokers []string
}

func newHarness(t *testing.T, brokers []string) *harness {
	return &harness{t: t, brokers: brokers}
}

// result is what one command line produced.
type result struct {
	code   int
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run executes `spool args...` with stdin as standard input and
// SPOOL_BROKERS pointing at the harness's cluster, so commands need no
// --brokers flag.
func (h *harness) run(stdin string, args ...string) result {
	h.t.Helper()
	return h.runContext(context.Background(), strings.NewReader(stdin), args...)
}

func (h *harness) runContext(ctx context.Context, stdin io.Reader, args ...string) result {
	h.t.Helper()
	var stdout, stderr lockedBuffer
	env := &Env{
		Stdin:  stdin,
		Stdout: &stdout,
		Stderr: &stderr,
		Logger: slog.New(slog.NewTextHandler(&stderr, nil)),
		Getenv: func(k string) string {
			if k == brokersEnv {
				return strings.Join(h.brokers, ",")
			}
			return ""
		},
	}
	code := Run(ctx, env, args, testExtraCommands()...)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// testExtraCommands stands in for serve/bench, which the client tests do
// not exercise; a fake command checks that extras are wired into the tree.
func testExtraCommands() []func(*Env) *cobra.Command {
	return []func(*Env) *cobra.Command{func(env *Env) *cobra.Command {
		return &cobra.Command{Use: "extra", Short: "test extra", RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(env.Stdout, "extra ran")
			return err
		}}
	}}
}

// mustRun runs a command line that must succeed and returns its stdout.
func (h *harness) mustRun(stdin string, args ...string) string {
	h.t.Helper()
	r := h.run(stdin, args...)
	if r.code != ExitOK {
		h.t.Fatalf("spool %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// topicName returns a topic name unique to the test (and to the run, when
// the tests share a long-lived cluster).
func topicName(t *testing.T, suffix string) string {
	name := regexp.MustCompile(`[^a-zA-Z0-9._-]+`).ReplaceAllString(t.Name(), "-")
	return fmt.Sprintf("%s-%s-%d", strings.ToLower(name), suffix, time.Now().UnixNano()%1_000_000)
}

// createTopic creates a topic with n partitions through the CLI.
func (h *harness) createTopic(name string, partitions int) {
	h.t.Helper()
	h.mustRun("", "topic", "create", name, "--partitions", fmt.Sprint(partitions), "--replication-factor", "1")
}

// lockedBuffer is a bytes.Buffer safe for the concurrent writes a running
// command and its client's logger may make.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
