package e2e

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Committed group offsets are acknowledged only once durable in
// __consumer_offsets, so they survive a SIGKILL of the broker.
func TestCommittedOffsetsSurviveKill(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p := startProcess(t, t.TempDir())
	adm := newAdmin(t, p.kafkaAddr)
	createTopic(t, ctx, adm, "kill-offsets", 3, nil)

	commits := kadm.Offsets{}
	for part, at := range map[int32]int64{0: 7, 1: 11, 2: 0} {
		commits.Add(kadm.Offset{Topic: "kill-offsets", Partition: part, At: at, LeaderEpoch: -1, Metadata: "m"})
	}
	resp, err := adm.CommitOffsets(ctx, "survivors", commits)
	if err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}

	p.kill()
	p.restart()

	adm = newAdmin(t, p.kafkaAddr)
	got, err := adm.FetchOffsets(ctx, "survivors")
	if err != nil || got.Error() != nil {
		t.Fatalf("fetch offsets after kill -9: %v %v", err, got.Error())
	}
	for part, want := range map[int32]int64{0: 7, 1: 11, 2: 0} {
		o, ok := got.Lookup("kill-offsets", part)
		if !ok || o.At != want || o.Metadata != "m" {
			t.Fatalf("partition %d after kill -9: %+v (found %v), want offset %d with metadata", part, o, ok, want)
		}
	}
}
