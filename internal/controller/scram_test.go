package controller

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/spool-mq/spool/internal/auth"
)

func testCredential(t *testing.T, m auth.Mechanism, password string) auth.Credential {
	t.Helper()
	c, err := auth.NewCredential(m, password, []byte("salt-"+password), auth.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// addUsers stores alice (both mechanisms) and bob (SHA-256) on c.
func addUsers(t *testing.T, c *Controller) {
	t.Helper()
	_, errs := c.AlterScramCredentials(testCtx(t), nil, []ScramUpsert{
		{User: "alice", Credential: testCredential(t, auth.ScramSHA256, "a")},
		{User: "alice", Credential: testCredential(t, auth.ScramSHA512, "a")},
		{User: "bob", Credential: testCredential(t, auth.ScramSHA256, "b")},
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestScramCredentialsApply(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	addUsers(t, c)
	img := c.Image()
	if got := img.ScramUsers(); len(got) != 2 || got[0] != "alice" || got[1] != "bob" {
		t.Fatalf("users %v", got)
	}
	want := testCredential(t, auth.ScramSHA512, "a")
	got, ok := img.ScramCredential("alice", auth.ScramSHA512)
	if !ok || string(got.StoredKey) != string(want.StoredKey) || got.Iterations != auth.MinIterations {
		t.Fatalf("alice's SHA-512 credential %+v, %v", got, ok)
	}

	ctx := testCtx(t)
	bad := testCredential(t, auth.ScramSHA256, "x")
	bad.Iterations = auth.MaxIterations + 1
	short := testCredential(t, auth.ScramSHA256, "x")
	short.Iterations = 1000
	plain := testCredential(t, auth.ScramSHA256, "x")
	plain.Mechanism = auth.Plain
	delErrs, upErrs := c.AlterScramCredentials(ctx,
		[]ScramDeletion{{User: "bob", Mechanism: auth.ScramSHA256}, {User: "bob", Mechanism: auth.ScramSHA512}, {User: "carol", Mechanism: auth.ScramSHA256}},
		[]ScramUpsert{{User: "x", Credential: bad}, {User: "x", Credential: short}, {User: "x", Credential: plain}, {User: "", Credential: testCredential(t, auth.ScramSHA256, "x")}})
	wantDel := []error{nil, ErrScramCredentialNotFound, ErrScramCredentialNotFound}
	for i, err := range delErrs {
		if !errors.Is(err, wantDel[i]) || (wantDel[i] == nil) != (err == nil) {
			t.Errorf("deletion %d: %v, want %v", i, err, wantDel[i])
		}
	}
	wantUp := []error{ErrUnacceptableCredential, ErrUnacceptableCredential, ErrUnsupportedScramMechanism, ErrUnacceptableCredential}
	for i, err := range upErrs {
		if !errors.Is(err, wantUp[i]) {
			t.Errorf("upsert %d: %v, want %v", i, err, wantUp[i])
		}
	}
	img = c.Image()
	if _, ok := img.ScramCredential("bob", auth.ScramSHA256); ok {
		t.Fatal("bob's credential survived its deletion")
	}
	if got := img.ScramUsers(); len(got) != 1 || got[0] != "alice" {
		t.Fatalf("users after deleting bob's only credential: %v", got)
	}
}

func TestScramCredentialsSurviveRestartAndSnapshot(t *testing.T) {
	cfg := singleConfig(t.TempDir())
	c := start(t, cfg)
	addUsers(t, c)
	if err := c.Snapshot(); err != nil {
		t.Fatal(err)
	}
	// One change after the snapshot comes back from the log.
	if delErrs, _ := c.AlterScramCredentials(testCtx(t), []ScramDeletion{{User: "alice", Mechanism: auth.ScramSHA256}}, nil); delErrs[0] != nil {
		t.Fatal(delErrs[0])
	}
	before := c.Image()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := start(t, cfg)
	assertSameImage(t, before, c2.Image())
	if _, ok := c2.Image().ScramCredential("alice", auth.ScramSHA512); !ok {
		t.Fatal("alice's SHA-512 credential lost over a restart")
	}
	if _, ok := c2.Image().ScramCredential("alice", auth.ScramSHA256); ok {
		t.Fatal("deleted credential is back after a restart")
	}
}

func TestScramCredentialsForwardedFromFollower(t *testing.T) {
	nodes := startCluster(t, 3)
	f := followerOf(t, nodes)
	addUsers(t, f)
	if _, ok := f.Image().ScramCredential("bob", auth.ScramSHA256); !ok {
		t.Fatal("credential written through a follower is not in its image on return")
	}
	waitUntil(t, nodes, "every node has bob", func() bool {
		for _, n := range nodes {
			if _, ok := n.Image().ScramCredential("bob", auth.ScramSHA256); !ok {
				return false
			}
		}
		return true
	})
	// Errors keep their identity across the forward.
	delErrs, _ := f.AlterScramCredentials(testCtx(t), []ScramDeletion{{User: "nobody", Mechanism: auth.ScramSHA512}}, nil)
	if !errors.Is(delErrs[0], ErrScramCredentialNotFound) {
		t.Fatalf("forwarded deletion of a missing credential: %v", delErrs[0])
	}
}

// TestSnapshotWithoutScramUsersRestores: snapshots written before SCRAM
// credentials existed have no scram_users field and restore with no users.
func TestSnapshotWithoutScramUsersRestores(t *testing.T) {
	old := `{"v":1,"index":7,"cluster_id":"abc","next_producer_id":5,"brokers":[],"topics":[]}`
	var snap snapshotData
	if err := json.Unmarshal([]byte(old), &snap); err != nil {
		t.Fatal(err)
	}
	img := snap.image()
	if len(img.ScramUsers()) != 0 || img.Index != 7 || img.NextProducerID != 5 {
		t.Fatalf("restored image: users %v, index %d, next producer id %d", img.ScramUsers(), img.Index, img.NextProducerID)
	}
	// And an image with users round-trips through the snapshot form.
	c := start(t, singleConfig(t.TempDir()))
	addUsers(t, c)
	data, err := json.Marshal(snapshotOf(c.Image()))
	if err != nil {
		t.Fatal(err)
	}
	var back snapshotData
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.image().ScramUsers(); len(got) != 2 {
		t.Fatalf("users after a snapshot round trip: %v", got)
	}
	if strings.Contains(string(data), "password") {
		t.Fatal("snapshot mentions a password")
	}
}
