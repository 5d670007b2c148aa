package controller

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// QuorumInfo describes the metadata quorum as the Raft leader sees it
// (DescribeQuorum).
type QuorumInfo struct {
	LeaderID    int32
	Term        uint64
	CommitIndex uint64
	// Voters are sorted by id.
	Voters []VoterInfo
}

// VoterInfo is one voter's progress as last reported to the leader.
type VoterInfo struct {
	ID int32
	// AppliedIndex is the Raft index the voter had applied at its last
	// heartbeat (the leader's own is current).
	AppliedIndex uint64
	// LastContact is when the leader last heard from the voter's broker
	// heartbeat; zero if it never has in this term. The leader's own is now.
	LastContact time.Time
}

// QuorumInfo returns the quorum's state from the Raft leader, forwarding
// when this node does not lead. Voters' progress comes from broker
// heartbeats, so a voter whose broker does not heartbeat shows none.
func (c *Controller) QuorumInfo(ctx context.Context) (QuorumInfo, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.ApplyTimeout)
		defer cancel()
	}
	var info QuorumInfo
	err := c.onLeader(ctx, "quorum info",
		func(context.Context) (err error) {
			info, err = c.localQuorumInfo()
			return err
		},
		func(ctx context.Context, leader int32) error {
			return c.call(ctx, leader, opQuorum, struct{}{}, &info)
		})
	return info, err
}

// localQuorumInfo answers QuorumInfo on the leader.
func (c *Controller) localQuorumInfo() (QuorumInfo, error) {
	term, ok := c.leaderReady()
	if !ok {
		return QuorumInfo{}, &NotLeaderError{LeaderID: c.LeaderID()}
	}
	future := c.raft.GetConfiguration()
	if err := future.Error(); err != nil {
		return QuorumInfo{}, fmt.Errorf("reading the raft configuration: %w", err)
	}
	info := QuorumInfo{LeaderID: c.cfg.NodeID, Term: term, CommitIndex: c.raft.CommitIndex()}
	c.live.mu.Lock()
	sessions := c.live.sessions
	if c.live.term != term {
		sessions = nil
	}
	for _, srv := range future.Configuration().Servers {
		if srv.Suffrage != raft.Voter {
			continue
		}
		n, err := strconv.ParseInt(string(srv.ID), 10, 32)
		if err != nil {
			continue
		}
		v := VoterInfo{ID: int32(n)}
		if v.ID == c.cfg.NodeID {
			v.AppliedIndex, v.LastContact = c.raft.AppliedIndex(), time.Now()
		} else if s := sessions[v.ID]; s != nil && s.heard {
			v.AppliedIndex, v.LastContact = s.appliedIndex, s.lastContact
		}
		info.Voters = append(info.Voters, v)
	}
	c.live.mu.Unlock()
	slices.SortFunc(info.Voters, func(a, b VoterInfo) int { return cmp.Compare(a.ID, b.ID) })
	return info, nil
}
