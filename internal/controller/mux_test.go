package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// errorWatch is a slog.Handler that reports Error records containing want
// on a channel (dropping them when nobody is listening).
type errorWatch struct {
	want string
	ch   chan string
}

func newErrorWatch(want string) *errorWatch {
	return &errorWatch{want: want, ch: make(chan string, 1)}
}

func (w *errorWatch) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (w *errorWatch) Handle(_ context.Context, rec slog.Record) error {
	text := rec.Message
	rec.Attrs(func(a slog.Attr) bool { text += " " + a.Value.String(); return true })
	if strings.Contains(text, w.want) {
		select {
		case w.ch <- text:
		default:
		}
	}
	return nil
}
func (w *errorWatch) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *errorWatch) WithGroup(string) slog.Handler      { return w }

func (w *errorWatch) wait(t *testing.T, what string) string {
	t.Helper()
	select {
	case text := <-w.ch:
		return text
	case <-time.After(testTimeout):
		t.Fatalf("no error logged about %s", what)
		return ""
	}
}

func TestHelloRejectsDifferentVoterSet(t *testing.T) {
	cfgs := clusterConfigs(t, 3, nil)
	// Node 3 believes in a fourth voter.
	extra := freeAddrs(t, 1)[0]
	cfgs[2].Voters = append(append([]Voter(nil), cfgs[2].Voters...), Voter{ID: 4, Addr: extra})
	watch1 := newErrorWatch("voters list disagrees")
	cfgs[0].Logger = slog.New(watch1)
	watch3 := newErrorWatch("voters list disagrees")
	cfgs[2].Logger = slog.New(watch3)

	good := startNodes(t, cfgs[:2])
	odd, err := New(cfgs[2])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = odd.Close() })

	ctx := testCtx(t)
	if _, err := odd.Dial(ctx, 1, StreamControl); !errors.Is(err, ErrPeerMismatch) || !strings.Contains(err.Error(), "voters list disagrees") {
		t.Fatalf("node 3 dialing node 1 = %v, want ErrPeerMismatch about the voters", err)
	}
	if _, err := good[0].Dial(ctx, 3, StreamReplication); !errors.Is(err, ErrPeerMismatch) {
		t.Fatalf("node 1 dialing node 3 = %v, want ErrPeerMismatch", err)
	}
	// Both sides log the refusal.
	watch1.wait(t, "node 3's hello on node 1")
	watch3.wait(t, "the refusal on node 3")

	// The two agreeing nodes form the quorum; node 3 never joins: every
	// raft connection to or from it is refused, so it has no cluster id
	// even after the others committed writes.
	leader := onLeader(t, good, func(c *Controller) error {
		_, err := c.AllocateProducerIDs(ctx, 1)
		return err
	})
	if leader.Image().ClusterID == "" {
		t.Fatal("the two agreeing nodes have no cluster id")
	}
	if id := odd.Image().ClusterID; id != "" || odd.Image().Index != 0 {
		t.Fatalf("node 3 with another voter set applied the log: cluster id %q, index %d", id, odd.Image().Index)
	}
}

func TestHelloRejectsWrongNodeID(t *testing.T) {
	cfgs := clusterConfigs(t, 3, nil)
	// Node 1 has the addresses of nodes 2 and 3 swapped.
	a2, a3 := cfgs[0].Voters[1].Addr, cfgs[0].Voters[2].Addr
	cfgs[0].Voters = []Voter{cfgs[0].Voters[0], {ID: 2, Addr: a3}, {ID: 3, Addr: a2}}
	startNodes(t, cfgs[1:])
	bad, err := New(cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bad.Close() })

	_, err = bad.Dial(testCtx(t), 2, StreamControl)
	want := fmt.Sprintf("dialed node 2 at %s but reached node 3", a3)
	if !errors.Is(err, ErrPeerMismatch) || !strings.Contains(err.Error(), want) {
		t.Fatalf("dial of node 2 at node 3's address = %v, want ErrPeerMismatch containing %q", err, want)
	}
}

func TestDialAndReplicationListener(t *testing.T) {
	nodes := startCluster(t, 2)
	ctx := testCtx(t)
	conn, err := nodes[0].Dial(ctx, 2, StreamReplication)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.(interface{ PeerNodeID() int32 }).PeerNodeID(); p != 2 {
		t.Fatalf("dialed conn PeerNodeID = %d, want 2", p)
	}
	ln := nodes[1].ReplicationListener()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := <-accepted
	if got == nil {
		t.FailNow()
	}
	defer got.Close()
	if p := got.(interface{ PeerNodeID() int32 }).PeerNodeID(); p != 1 {
		t.Fatalf("accepted conn PeerNodeID = %d, want 1", p)
	}
	buf := make([]byte, 4)
	if _, err := got.Read(buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}

	// Close unblocks Accept.
	done := make(chan error, 1)
	go func() { _, err := ln.Accept(); done <- err }()
	if err := nodes[1].Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
	}
}

func TestClusterPortDropsNonHelloConnections(t *testing.T) {
	nodes := startCluster(t, 1)
	conn, err := net.Dial("tcp", nodes[0].Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A Kafka request (or an old node's raft rpc) instead of a hello.
	if _, err := conn.Write([]byte{0, 0, 0, 10, 0, 18, 0, 3, 0, 0, 0, 1, 0, 0}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatalf("cluster port answered %d bytes to a non-hello", n)
	}
	// The node still works.
	if _, err := nodes[0].AllocateProducerIDs(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
}
