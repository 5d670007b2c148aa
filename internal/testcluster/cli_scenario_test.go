package testcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spool-mq/spool/internal/cli"
)

// runCLI runs one spool command line in-process against c.
func runCLI(t *testing.T, c *Cluster, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string {
			if k == "SPOOL_BROKERS" {
				return strings.Join(c.Seeds(), ",")
			}
			return ""
		}}
	code := cli.Run(t.Context(), env, args)
	return code, stdout.String(), stderr.String()
}

// The cluster CLI against three brokers: status lists them all; a drain
// moves every replica off a broker and the topic keeps its data.
func TestScenarioClusterCLI(t *testing.T) {
	c := Start(t, Options{Brokers: 3})
	c.WaitHealthy(t, healthyTimeout)
	topic := topicName(t, "drain")
	createTopic(t, c, topicSpec{Name: topic, Assignment: [][]int32{{1, 3}, {3, 2}, {2, 1}}})
	c.WaitHealthy(t, healthyTimeout)

	code, out, errOut := runCLI(t, c, "cluster", "status", "--json")
	if code != 0 {
		t.Fatalf("cluster status: exit %d: %s", code, errOut)
	}
	var st struct {
		ControllerID int32 `json:"controller_id"`
		Brokers      []struct {
			ID     int32 `json:"id"`
			Fenced bool  `json:"fenced"`
			Alive  bool  `json:"alive"`
		} `json:"brokers"`
		Quorum *struct {
			LeaderID int32 `json:"leader_id"`
			Voters   []struct {
				ID int32 `json:"id"`
			} `json:"voters"`
		} `json:"quorum"`
		QuorumError     string            `json:"quorum_error"`
		UnderReplicated []json.RawMessage `json:"under_replicated"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	var alive []int32
	for _, b := range st.Brokers {
		if b.Alive && !b.Fenced {
			alive = append(alive, b.ID)
		}
	}
	if !slices.Equal(alive, []int32{1, 2, 3}) {
		t.Errorf("status: alive brokers %v, want [1 2 3]\n%s", alive, out)
	}
	if ctrl := c.ControllerID(t); int(st.ControllerID) != ctrl {
		t.Errorf("status: controller %d, quorum leader %d", st.ControllerID, ctrl)
	}
	if st.Quorum == nil || len(st.Quorum.Voters) != 3 {
		t.Errorf("status: quorum %+v (%s), want 3 voters", st.Quorum, st.QuorumError)
	}

	w := c.StartWorkload(t, WorkloadOptions{Topic: topic, Producers: 2})
	w.WaitAcked(t, 100, 20*time.Second)

	code, out, errOut = runCLI(t, c, "cluster", "drain", "--broker", "3")
	if code != 0 || !strings.Contains(out, "Dry run: 2 replicas would move off broker 3") {
		t.Fatalf("drain dry run: exit %d\n%s%s", code, out, errOut)
	}
	start := time.Now()
	code, out, errOut = runCLI(t, c, "cluster", "drain", "--broker", "3", "--execute", "--timeout", "60s")
	if code != 0 || !strings.Contains(out, "Moved 2 replicas off broker 3") {
		t.Fatalf("drain --execute: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("drain of broker 3 took %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	for p := range int32(3) {
		c.WaitFor(t, 20*time.Second, fmt.Sprintf("%s[%d] off broker 3 with a full ISR", topic, p), func(ctx context.Context) (bool, string) {
			st, ok, why := c.partitionState(ctx, topic, p)
			if !ok {
				return false, why
			}
			return !slices.Contains(st.Replicas, 3) && len(st.Replicas) == 2 && st.FullISR(),
				fmt.Sprintf("replicas %v ISR %v", st.Replicas, st.ISR)
		})
	}
	if code, out, _ := runCLI(t, c, "topic", "reassign", "--list"); code != 0 || !strings.Contains(out, "No reassignments in progress") {
		t.Errorf("reassign --list after the drain: exit %d\n%s", code, out)
	}
	w.WaitAcked(t, 100, 20*time.Second)
	w.Verify(t)
}
