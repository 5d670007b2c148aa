package controller

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// populate makes a varied state: brokers, topics with configs, a deleted
// topic, extra partitions and producer ids.
func populate(t *testing.T, c *Controller) {
	t.Helper()
	ctx := testCtx(t)
	rack := "rack-a"
	for id := int32(1); id <= 2; id++ {
		registerLive(t, c, BrokerRegistration{ID: id, Host: "10.0.0.1", Port: 9090 + id, Rack: &rack})
	}
	for _, err := range c.CreateTopics(ctx, []TopicSpec{
		{Name: "alpha", NumPartitions: 4, ReplicationFactor: 2, Configs: map[string]string{"cleanup.policy": "compact"}},
		{Name: "beta", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "__consumer_offsets", NumPartitions: 2, ReplicationFactor: 1},
		{Name: "gone", NumPartitions: 1, ReplicationFactor: 1},
	}, false) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if errs := c.DeleteTopics(ctx, []string{"gone"}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if err := c.CreatePartitions(ctx, "beta", 3, false); err != nil {
		t.Fatal(err)
	}
	v := "1000"
	if err := c.AlterTopicConfigs(ctx, "beta", []ConfigOp{{Key: "retention.ms", Value: &v}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AllocateProducerIDs(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	addUsers(t, c)
}

// assertSameImage compares the replicated state of two images (everything
// a snapshot holds) plus ControllerID.
func assertSameImage(t *testing.T, want, got *Image) {
	t.Helper()
	wantJSON, _ := json.Marshal(snapshotOf(want))
	gotJSON, _ := json.Marshal(snapshotOf(got))
	if !bytes.Equal(wantJSON, gotJSON) {
		t.Fatalf("images differ:\nwant %s\ngot  %s", wantJSON, gotJSON)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("images differ beyond their snapshot form:\nwant %+v\ngot  %+v", want, got)
	}
}

func TestRestartKeepsImage(t *testing.T) {
	cfg := singleConfig(t.TempDir())
	c := start(t, cfg)
	populate(t, c)
	before := c.Image()
	if !before.Topic("__consumer_offsets").Internal || before.Topic("alpha").Internal {
		t.Fatal("internal flag wrong")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2 := start(t, cfg)
	after := c2.Image()
	assertSameImage(t, before, after)

	// The restarted node keeps going from where it was.
	first, err := c2.AllocateProducerIDs(testCtx(t), 1)
	if err != nil || first != before.NextProducerID {
		t.Fatalf("first producer id after restart = %d, %v; want %d", first, err, before.NextProducerID)
	}
}

func TestSnapshotRestoreOnRestart(t *testing.T) {
	cfg := singleConfig(t.TempDir())
	c := start(t, cfg)
	populate(t, c)
	atSnapshot := c.Image()
	if err := c.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	snaps, err := os.ReadDir(filepath.Join(cfg.Dir, "snapshots"))
	if err != nil || len(snaps) == 0 {
		t.Fatalf("no snapshot on disk (%v)", err)
	}
	// A change after the snapshot must come back from the log.
	if err := createOne(t, c, TopicSpec{Name: "after-snapshot", NumPartitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	final := c.Image()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Close() })
	// Raft restores the snapshot inside New; the log tail is applied only
	// once this node is leader again.
	restored := c2.Image()
	if restored.Index != atSnapshot.Index || restored.Topic("alpha") == nil || restored.ClusterID != atSnapshot.ClusterID {
		t.Fatalf("image right after New: index %d (want snapshot index %d), alpha %v, cluster %q",
			restored.Index, atSnapshot.Index, restored.Topic("alpha") != nil, restored.ClusterID)
	}
	if err := c2.WaitReady(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	assertSameImage(t, final, c2.Image())
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

func TestFSMSnapshotRoundTrip(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	populate(t, c)
	src := &fsm{st: c.st, log: c.log}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil || !sink.closed || sink.cancelled {
		t.Fatalf("Persist: %v closed=%v cancelled=%v", err, sink.closed, sink.cancelled)
	}
	snap.Release()

	dst := &fsm{st: newState(), log: c.log}
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	want := c.Image().withControllerID(-1) // ControllerID is not replicated
	assertSameImage(t, want, dst.st.cur.Load())

	// Restore replaces everything, it does not merge.
	empty := &fsm{st: newState(), log: c.log}
	esnap, _ := empty.Snapshot()
	var esink memSink
	if err := esnap.Persist(&esink); err != nil {
		t.Fatal(err)
	}
	if err := dst.Restore(io.NopCloser(&esink)); err != nil {
		t.Fatal(err)
	}
	if img := dst.st.cur.Load(); img.NumTopics() != 0 || len(img.Brokers) != 0 || img.ClusterID != "" {
		t.Fatalf("restore of an empty snapshot left state behind: %+v", img)
	}

	if err := dst.Restore(io.NopCloser(bytes.NewReader([]byte(`{"v":99}`)))); !errors.Is(err, ErrUnsupportedCommand) {
		t.Fatalf("restore of a future snapshot version = %v", err)
	}
}

func TestFSMApplyIsDeterministicAndSkipsUnknownCommands(t *testing.T) {
	// Two independent state machines fed the same log end up equal.
	var entries [][]byte
	add := func(cmd command) {
		data, err := encodeCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, data)
	}
	add(&setClusterIDCmd{ClusterID: "first"})
	add(&setClusterIDCmd{ClusterID: "second"}) // ignored: the first id sticks
	add(&registerBrokerCmd{ID: 3, Host: "h", Port: 9, Incarnation: uuid(newUUID())})
	add(&createTopicsCmd{Topics: []newTopic{{Name: "x", ID: uuid(newUUID()), Replicas: [][]int32{{3}, {3}}}}})
	entries = append(entries, []byte(`{"type":"create_topics","v":2,"data":{}}`), []byte(`{"type":"teleport","v":1,"data":{}}`), []byte(`garbage`))
	add(&allocateProducerIDsCmd{Count: 7})

	run := func() (*Image, []applyResult) {
		f := &fsm{st: newState(), log: discardLogger()}
		var results []applyResult
		for i, data := range entries {
			res := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data})
			results = append(results, res.(applyResult))
		}
		return f.st.cur.Load(), results
	}
	img1, results := run()
	img2, _ := run()
	assertSameImage(t, img1, img2)

	if img1.ClusterID != "first" || img1.Index != uint64(len(entries)) || img1.NextProducerID != 7 {
		t.Fatalf("cluster %q index %d next pid %d", img1.ClusterID, img1.Index, img1.NextProducerID)
	}
	if x := img1.Topic("x"); x == nil || len(x.Partitions) != 2 {
		t.Fatalf("topic x = %+v", x)
	}
	for i := 4; i <= 6; i++ {
		if !errors.Is(results[i].Err, ErrUnsupportedCommand) {
			t.Errorf("entry %d result = %+v, want ErrUnsupportedCommand", i, results[i])
		}
	}
	if results[7].First != 0 || results[7].Err != nil {
		t.Errorf("allocation result = %+v", results[7])
	}
}

func TestCommandEncodingRoundTrip(t *testing.T) {
	v := "v"
	id := newUUID()
	cmds := []command{
		&setClusterIDCmd{ClusterID: "abc"},
		&registerBrokerCmd{ID: 1, Host: "h", Port: 2, Rack: &v, Incarnation: uuid(newUUID())},
		&createTopicsCmd{Topics: []newTopic{{Name: "t", ID: uuid(id), Replicas: [][]int32{{1, 2}}, Configs: map[string]string{"k": "v"}}}},
		&deleteTopicsCmd{IDs: []uuid{uuid(id)}},
		&createPartitionsCmd{TopicID: uuid(id), Current: 1, Replicas: [][]int32{{2, 1}}},
		&alterConfigsCmd{TopicID: uuid(id), Ops: []ConfigOp{{Key: "k", Value: &v, Op: ConfigSet}, {Key: "j", Op: ConfigDelete}}},
		&alterConfigsCmd{TopicID: uuid(id), Replace: true, Configs: map[string]string{"a": "b"}},
		&allocateProducerIDsCmd{Count: 3},
	}
	for _, cmd := range cmds {
		data, err := encodeCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCommand(data)
		if err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
		if !reflect.DeepEqual(got, cmd) {
			t.Errorf("round trip of %s:\nwant %+v\ngot  %+v", data, cmd, got)
		}
	}
	var u uuid
	if err := u.UnmarshalText([]byte("too-short")); err == nil {
		t.Error("a short topic id was accepted")
	}
}
