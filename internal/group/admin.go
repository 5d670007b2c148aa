package group

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// GroupDescription is a group as DescribeGroups shows it. Member metadata
// and assignments are only filled in while the group is Stable, as in
// Kafka, because in other states they are not settled.
type GroupDescription struct {
	Group        string
	State        string
	ProtocolType string
	Protocol     string
	Members      []MemberDescription
}

// MemberDescription is one member of a described group.
type MemberDescription struct {
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	Metadata   []byte
	Assignment []byte
}

// DescribeGroup describes a group. An unknown group is described as Dead
// with no members, which is what Kafka answers.
func (c *Coordinator) DescribeGroup(groupID string) (GroupDescription, error) {
	s, err := c.shardFor(groupID)
	if err != nil {
		return GroupDescription{Group: groupID}, err
	}
	defer s.mu.Unlock()
	d := GroupDescription{Group: groupID, State: StateDead.String()}
	g := s.groups[groupID]
	if g == nil {
		return d, nil
	}
	d.State, d.ProtocolType = g.state.String(), g.protocolType
	stable := g.state == StateStable
	if stable {
		d.Protocol = g.protocol
	}
	for _, id := range g.order {
		m := g.members[id]
		md := MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if stable {
			md.Metadata, md.Assignment = m.metadataFor(g.protocol), m.assignment
		}
		d.Members = append(d.Members, md)
	}
	return d, nil
}

// GroupListing is one group in ListGroups.
type GroupListing struct {
	Group        string
	ProtocolType string
	State        string
}

// ClassicGroupType is the group type (ListGroups v5) of every group this
// coordinator runs.
const ClassicGroupType = "classic"

// ListGroups lists the groups of every partition this broker coordinates,
// sorted by id, keeping those whose state is in states and whose type is
// in types (case-insensitively; empty filters keep everything). If a
// partition is still loading its groups are missing and the error is
// ErrCoordinatorLoading.
func (c *Coordinator) ListGroups(states, types []string) ([]GroupListing, error) {
	match := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	if !match(types, ClassicGroupType) {
		return nil, nil
	}
	var out []GroupListing
	var loadErr error
	for _, s := range c.snapshotShards() {
		s.mu.Lock()
		switch err := s.usable(); {
		case err == nil:
			for _, g := range s.groups {
				if g.state != StateDead && match(states, g.state.String()) {
					out = append(out, GroupListing{Group: g.id, ProtocolType: g.protocolType, State: g.state.String()})
				}
			}
		case errors.Is(err, ErrCoordinatorLoading):
			loadErr = err
		}
		s.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b GroupListing) int { return strings.Compare(a.Group, b.Group) })
	return out, loadErr
}

// DeleteGroup deletes an empty group and its offsets (DeleteGroups).
func (c *Coordinator) DeleteGroup(_ context.Context, groupID string) error {
	s, err := c.shardFor(groupID)
	if err != nil {
		return err
	}
	g := s.groups[groupID]
	s.mu.Unlock()
	if g == nil {
		return ErrGroupNotFound
	}
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	s.mu.Lock()
	switch err := s.current(g); {
	case errors.Is(err, ErrCoordinatorNotAvailable):
		s.mu.Unlock()
		return ErrGroupNotFound
	case err != nil:
		s.mu.Unlock()
		return err
	case g.state != StateEmpty:
		s.mu.Unlock()
		return ErrNonEmptyGroup
	}
	now, emptySince := s.now(), g.stateTime
	b := newBatch(now)
	for _, tp := range g.sortedTopicPartitions() {
		b.Add(offsetKey(g.id, tp), nil)
	}
	b.Add(groupKey(g.id), nil)
	// Dead while the tombstones are written, so nobody joins the group
	// or commits to it meanwhile (they get COORDINATOR_NOT_AVAILABLE and
	// retry, then find a fresh group).
	g.transition(StateDead, now)
	s.mu.Unlock()
	return s.write(b.Build(), func(err error) {
		if err != nil {
			g.transition(StateEmpty, emptySince)
			return
		}
		s.dropGroup(g)
		s.c.log.Info("deleted group", "group", g.id)
	})
}
