package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// followerOf returns a node that is not the ready leader.
func followerOf(t *testing.T, nodes []*Controller) *Controller {
	t.Helper()
	var leader *Controller
	waitUntil(t, nodes, "a leader", func() bool { leader = leaderOf(nodes); return leader != nil })
	for _, c := range nodes {
		if c != leader {
			return c
		}
	}
	t.Fatal("no follower")
	return nil
}

func TestFollowerWritesAreForwarded(t *testing.T) {
	nodes := startCluster(t, 3)
	runBrokers(t, nodes) // registrations through followers already forward
	ctx := testCtx(t)
	f := followerOf(t, nodes)

	// Visible on the follower as soon as the call returns.
	if err := createOne(t, f, TopicSpec{Name: "fwd", NumPartitions: 2, ReplicationFactor: 3}); err != nil {
		t.Fatalf("create on follower %d: %v", f.cfg.NodeID, err)
	}
	if f.Image().Topic("fwd") == nil {
		t.Fatal("topic created through a follower is not in its image on return")
	}
	if err := f.CreatePartitions(ctx, "fwd", 3, false); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Image().Topic("fwd").Partitions); n != 3 {
		t.Fatalf("follower sees %d partitions after growing to 3", n)
	}
	v := "1000"
	if err := f.AlterTopicConfigs(ctx, "fwd", []ConfigOp{{Key: "retention.ms", Value: &v}}, false); err != nil {
		t.Fatal(err)
	}
	if got := f.Image().Topic("fwd").Configs["retention.ms"]; got != "1000" {
		t.Fatalf("config on follower = %q", got)
	}
	first, err := f.AllocateProducerIDs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if next := f.Image().NextProducerID; next != first+10 {
		t.Fatalf("follower's next producer id %d after allocating [%d, %d)", next, first, first+10)
	}
	if errs := f.DeleteTopics(ctx, []string{"fwd"}); errs[0] != nil || f.Image().Topic("fwd") != nil {
		t.Fatalf("delete on follower: %v", errs[0])
	}
	// validateOnly runs locally and changes nothing.
	if err := createOne(t, f, TopicSpec{Name: "fwd", NumPartitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	if errs := f.CreateTopics(ctx, []TopicSpec{{Name: "dry", NumPartitions: 1, ReplicationFactor: 1}}, true); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if f.Image().Topic("dry") != nil {
		t.Fatal("validate-only create made a topic")
	}
}

func TestForwardedErrorsKeepIdentity(t *testing.T) {
	nodes := startCluster(t, 3)
	runBrokers(t, nodes)
	ctx := testCtx(t)
	f := followerOf(t, nodes)
	if err := createOne(t, f, TopicSpec{Name: "dup", NumPartitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	// Bypass the follower's own planning so the leader's apply decides.
	res, err := f.submit(ctx, &createTopicsCmd{Topics: []newTopic{{Name: "dup", ID: newUUID(), Replicas: [][]int32{{1}}}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	got := res.Errs[0]
	if !errors.Is(got, ErrTopicExists) || got.Error() != `topic already exists: "dup"` {
		t.Fatalf("forwarded create of an existing topic = %v (%T), want ErrTopicExists with the leader's message", got, got)
	}
	// A manual assignment naming an unknown broker is checked in apply,
	// on the leader: the per-item error comes back intact.
	errs := f.CreateTopics(ctx, []TopicSpec{
		{Name: "ok", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "bad", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {99}}},
	}, false)
	if errs[0] != nil || !errors.Is(errs[1], ErrInvalidReplicaAssignment) || !strings.Contains(errs[1].Error(), "broker 99") {
		t.Fatalf("mixed create through a follower = %v", errs)
	}
	// A registration refused by the leader.
	if err := f.RegisterBroker(ctx, BrokerRegistration{ID: 7, Host: "h", Port: 0}); !errors.Is(err, ErrInvalidBrokerRegistration) {
		t.Fatalf("bad registration through a follower = %v", err)
	}
}

func TestErrorEncodingRoundTrip(t *testing.T) {
	cases := []error{
		ErrTopicExists,
		fmt.Errorf("%w: %q", ErrUnknownTopic, "x"),
		fmt.Errorf("%w: bad: %w", ErrInvalidConfigValue, ErrInvalidVoters),
		&NotLeaderError{LeaderID: 3},
		&NotLeaderError{LeaderID: -1},
		fmt.Errorf("metadata write x: %w", &NotLeaderError{LeaderID: 2}),
		fmt.Errorf("waiting: %w", context.DeadlineExceeded),
		errors.New("something without a sentinel"),
	}
	for _, orig := range cases {
		raw, err := json.Marshal(encodeError(orig))
		if err != nil {
			t.Fatal(err)
		}
		var w wireError
		if err := json.Unmarshal(raw, &w); err != nil {
			t.Fatal(err)
		}
		got := decodeError(&w)
		if got.Error() != orig.Error() {
			t.Errorf("message %q became %q", orig, got)
		}
		for _, s := range forwardedSentinels {
			if errors.Is(orig, s.err) != errors.Is(got, s.err) {
				t.Errorf("%q: errors.Is(%s) was %v, is %v", orig, s.name, errors.Is(orig, s.err), errors.Is(got, s.err))
			}
		}
		var want, have *NotLeaderError
		if errors.As(orig, &want) {
			if !errors.As(got, &have) || have.LeaderID != want.LeaderID {
				t.Errorf("%q: NotLeaderError %+v became %+v", orig, want, have)
			}
		}
	}
	if decodeError(encodeError(nil)) != nil {
		t.Error("nil error did not stay nil")
	}
	if got := decodeError(encodeError(ErrTopicExists)); got != ErrTopicExists {
		t.Errorf("bare sentinel came back as %#v, want the sentinel itself", got)
	}
}

// TestForwardedSentinelsComplete makes sure every exported Err* variable of
// the package keeps its identity across forwarding.
func TestForwardedSentinelsComplete(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, s := range forwardedSentinels {
		listed[s.name] = true
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				for _, id := range spec.(*ast.ValueSpec).Names {
					if strings.HasPrefix(id.Name, "Err") && id.IsExported() && !listed[id.Name] {
						t.Errorf("%s (%s) is missing from forwardedSentinels in forward_errors.go", id.Name, name)
					}
				}
			}
		}
	}
}

func TestWriteDuringLeaderCloseDoesNotHang(t *testing.T) {
	nodes := startCluster(t, 3)
	var leader *Controller
	waitUntil(t, nodes, "a leader", func() bool { leader = leaderOf(nodes); return leader != nil })
	var writer *Controller
	for _, c := range nodes {
		if c != leader {
			writer = c
			break
		}
	}

	type result struct {
		first int64
		err   error
	}
	var mu sync.Mutex
	var results []result
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			first, err := writer.AllocateProducerIDs(ctx, 1)
			cancel()
			mu.Lock()
			results = append(results, result{first, err})
			mu.Unlock()
		}
	}()
	// Let a few writes through, then close the leader mid-stream.
	waitFor := func(n int) {
		waitUntil(t, nodes, fmt.Sprintf("%d writes", n), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(results) >= n
		})
	}
	waitFor(5)
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	before := len(results)
	mu.Unlock()
	// Writes go on succeeding under the new leader.
	waitUntil(t, nodes, "a write after the failover", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range results[before:] {
			if r.err == nil {
				return true
			}
		}
		return false
	})
	close(stop)
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("a write hung across the leader change")
	}
	last := int64(-1)
	for _, r := range results {
		switch {
		case r.err == nil:
			if r.first <= last {
				t.Errorf("producer id block %d after %d: blocks must increase", r.first, last)
			}
			last = r.first
		case !errors.Is(r.err, ErrNotLeader) && !errors.Is(r.err, context.DeadlineExceeded):
			t.Errorf("write failed with an unclear error: %v", r.err)
		}
	}
}
