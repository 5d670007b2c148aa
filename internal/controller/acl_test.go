package controller

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/auth"
)

func topicACL(name string, pattern kmsg.ACLResourcePatternType, principal string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) auth.ACL {
	return auth.ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: name, PatternType: pattern,
		Principal: principal, Host: "*", Operation: op, Permission: perm}
}

var testACLs = []auth.ACL{
	topicACL("orders", kmsg.ACLResourcePatternTypeLiteral, "User:alice", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow),
	topicACL("logs-", kmsg.ACLResourcePatternTypePrefixed, "User:bob", kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeAllow),
	topicACL("orders", kmsg.ACLResourcePatternTypeLiteral, "User:bob", kmsg.ACLOperationAll, kmsg.ACLPermissionTypeDeny),
}

func createTestACLs(t *testing.T, c *Controller) {
	t.Helper()
	for i, err := range c.CreateACLs(testCtx(t), testACLs, 0) {
		if err != nil {
			t.Fatalf("ACL %d: %v", i, err)
		}
	}
}

func TestACLsApply(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	createTestACLs(t, c)
	if n := c.Image().ACLs().Len(); n != 3 {
		t.Fatalf("%d ACLs, want 3", n)
	}
	// Creating an existing ACL again succeeds and adds nothing; invalid
	// bindings and the cap are refused one by one.
	bad := topicACL("*", kmsg.ACLResourcePatternTypePrefixed, "User:x", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	unknown := testACLs[0]
	unknown.ResourceType = kmsg.ACLResourceTypeAny
	extra := topicACL("new", kmsg.ACLResourcePatternTypeLiteral, "User:x", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	errs := c.CreateACLs(testCtx(t), []auth.ACL{testACLs[0], bad, unknown, extra}, 3)
	if errs[0] != nil || !errors.Is(errs[1], auth.ErrInvalidACL) || !errors.Is(errs[2], auth.ErrInvalidACL) || !errors.Is(errs[3], ErrTooManyACLs) {
		t.Fatalf("errors %v", errs)
	}
	if n := c.Image().ACLs().Len(); n != 3 {
		t.Fatalf("%d ACLs, want 3", n)
	}

	bob := "User:bob"
	matched, err := c.DeleteACLs(testCtx(t), []auth.ACLFilter{{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny,
		Principal: &bob, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}})
	if err != nil || len(matched[0]) != 2 {
		t.Fatalf("deleted %v, %v", matched, err)
	}
	if got := c.Image().ACLs().All(); len(got) != 1 || got[0] != testACLs[0] {
		t.Fatalf("left %v", got)
	}
}

func TestACLsSurviveRestartAndSnapshot(t *testing.T) {
	cfg := singleConfig(t.TempDir())
	c := start(t, cfg)
	createTestACLs(t, c)
	if err := c.Snapshot(); err != nil {
		t.Fatal(err)
	}
	// One change after the snapshot comes back from the log.
	extra := topicACL("after", kmsg.ACLResourcePatternTypeLiteral, "User:x", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	if errs := c.CreateACLs(testCtx(t), []auth.ACL{extra}, 0); errs[0] != nil {
		t.Fatal(errs[0])
	}
	before := c.Image()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := start(t, cfg)
	assertSameImage(t, before, c2.Image())
	if !c2.Image().ACLs().Contains(extra) || !c2.Image().ACLs().Contains(testACLs[2]) {
		t.Fatal("ACLs lost over a restart")
	}
}

func TestACLsForwardedFromFollower(t *testing.T) {
	nodes := startCluster(t, 3)
	f := followerOf(t, nodes)
	createTestACLs(t, f)
	if f.Image().ACLs().Len() != 3 {
		t.Fatal("ACLs written through a follower are not in its image on return")
	}
	waitUntil(t, nodes, "every node has the ACLs", func() bool {
		for _, n := range nodes {
			if n.Image().ACLs().Len() != 3 {
				return false
			}
		}
		return true
	})
	// Errors keep their identity across the forward.
	extra := topicACL("x", kmsg.ACLResourcePatternTypeLiteral, "User:x", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	if errs := f.CreateACLs(testCtx(t), []auth.ACL{extra}, 3); !errors.Is(errs[0], ErrTooManyACLs) {
		t.Fatalf("over the cap through a follower: %v", errs[0])
	}
}
