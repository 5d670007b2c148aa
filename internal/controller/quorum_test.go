package controller

import (
	"testing"
	"time"
)

func TestQuorumInfo(t *testing.T) {
	nodes := startClusterWith(t, 3, func(c *Config) { c.BrokerHeartbeatInterval = 50 * time.Millisecond })
	runBrokers(t, nodes)
	f := followerOf(t, nodes)
	var info QuorumInfo
	waitUntil(t, nodes, "every voter to have reported", func() bool {
		var err error
		info, err = f.QuorumInfo(testCtx(t))
		if err != nil {
			t.Fatalf("QuorumInfo on follower %d: %v", f.cfg.NodeID, err)
		}
		if len(info.Voters) != 3 {
			t.Fatalf("QuorumInfo voters %+v, want 3", info.Voters)
		}
		for _, v := range info.Voters {
			if v.LastContact.IsZero() || v.AppliedIndex == 0 {
				return false
			}
		}
		return true
	})
	leader := leaderOf(nodes)
	if leader == nil || info.LeaderID != leader.cfg.NodeID {
		t.Fatalf("QuorumInfo leader %d, current leader %v", info.LeaderID, leader)
	}
	if info.Term == 0 || info.CommitIndex == 0 {
		t.Fatalf("QuorumInfo term %d commit index %d", info.Term, info.CommitIndex)
	}
	for i, v := range info.Voters {
		if v.ID != int32(i+1) {
			t.Fatalf("voters %+v not sorted by id", info.Voters)
		}
		if v.AppliedIndex > info.CommitIndex {
			t.Errorf("voter %d applied %d beyond the commit index %d", v.ID, v.AppliedIndex, info.CommitIndex)
		}
	}
}
