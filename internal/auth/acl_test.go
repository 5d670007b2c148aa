package auth

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	lit    = kmsg.ACLResourcePatternTypeLiteral
	prefix = kmsg.ACLResourcePatternTypePrefixed
	allow  = kmsg.ACLPermissionTypeAllow
	deny   = kmsg.ACLPermissionTypeDeny
	topic  = kmsg.ACLResourceTypeTopic
	group  = kmsg.ACLResourceTypeGroup
)

func acl(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) ACL {
	return ACL{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: host, Operation: op, Permission: perm}
}

func TestAuthorize(t *testing.T) {
	set := NewACLSet([]ACL{
		acl(topic, "orders", lit, "User:alice", "*", kmsg.ACLOperationRead, allow),
		acl(topic, "orders", lit, "User:alice", "*", kmsg.ACLOperationWrite, allow),
		acl(topic, "orders", lit, "User:alice", "10.0.0.9", kmsg.ACLOperationWrite, deny),
		acl(topic, "logs-", prefix, "User:bob", "*", kmsg.ACLOperationWrite, allow),
		acl(topic, "logs-secret", prefix, "User:bob", "*", kmsg.ACLOperationAll, deny),
		acl(topic, "*", lit, "User:*", "*", kmsg.ACLOperationDescribe, allow),
		acl(topic, "public", lit, "User:*", "*", kmsg.ACLOperationAll, allow),
		acl(topic, "public", lit, "User:mallory", "*", kmsg.ACLOperationRead, deny),
		acl(topic, "cfg", lit, "User:carol", "*", kmsg.ACLOperationAlterConfigs, allow),
		acl(group, "g1", lit, "User:alice", "*", kmsg.ACLOperationRead, allow),
	})
	az := NewAuthorizer("User:admin; User:root", false)
	open := NewAuthorizer("", true)
	cases := []struct {
		name string
		az   *Authorizer
		r    Request
		want bool
	}{
		{"literal allow", az, Request{"User:alice", "1.2.3.4", kmsg.ACLOperationRead, topic, "orders"}, true},
		{"other operation", az, Request{"User:alice", "1.2.3.4", kmsg.ACLOperationDelete, topic, "orders"}, false},
		{"other principal", az, Request{"User:bob", "1.2.3.4", kmsg.ACLOperationRead, topic, "orders"}, false},
		{"host deny beats allow", az, Request{"User:alice", "10.0.0.9", kmsg.ACLOperationWrite, topic, "orders"}, false},
		{"host deny only its host", az, Request{"User:alice", "10.0.0.8", kmsg.ACLOperationWrite, topic, "orders"}, true},
		{"prefixed allow", az, Request{"User:bob", "h", kmsg.ACLOperationWrite, topic, "logs-app"}, true},
		{"prefixed is not literal", az, Request{"User:bob", "h", kmsg.ACLOperationWrite, topic, "logs"}, false},
		{"longer prefixed deny", az, Request{"User:bob", "h", kmsg.ACLOperationWrite, topic, "logs-secret-1"}, false},
		{"wildcard literal and principal", az, Request{"User:zed", "h", kmsg.ACLOperationDescribe, topic, "anything"}, true},
		{"write implies describe", az, Request{"User:bob", "h", kmsg.ACLOperationDescribe, topic, "logs-x"}, true},
		{"all allows everything", az, Request{"User:zed", "h", kmsg.ACLOperationDelete, topic, "public"}, true},
		{"deny for one user", az, Request{"User:mallory", "h", kmsg.ACLOperationRead, topic, "public"}, false},
		{"alter configs implies describe configs", az, Request{"User:carol", "h", kmsg.ACLOperationDescribeConfigs, topic, "cfg"}, true},
		{"describe configs does not imply alter", az, Request{"User:carol", "h", kmsg.ACLOperationAlter, topic, "cfg"}, false},
		{"super user", az, Request{"User:root", "h", kmsg.ACLOperationDelete, topic, "orders"}, true},
		{"no ACL on type denied", az, Request{"User:alice", "h", kmsg.ACLOperationCreate, kmsg.ACLResourceTypeCluster, ClusterResourceName}, false},
		{"no ACL on type allowed if configured", open, Request{"User:alice", "h", kmsg.ACLOperationCreate, kmsg.ACLResourceTypeCluster, ClusterResourceName}, true},
		{"no ACL on resource allowed if configured", open, Request{"User:alice", "h", kmsg.ACLOperationRead, group, "g2"}, true},
		{"ACL on resource for others", open, Request{"User:bob", "h", kmsg.ACLOperationRead, group, "g1"}, false},
		{"group literal", az, Request{"User:alice", "h", kmsg.ACLOperationRead, group, "g1"}, true},
	}
	for _, c := range cases {
		if got := c.az.Authorize(set, c.r); got != c.want {
			t.Errorf("%s: %+v allowed %v, want %v", c.name, c.r, got, c.want)
		}
	}
	if !az.AuthorizeAny(set, Request{Principal: "User:bob", Host: "h", Operation: kmsg.ACLOperationWrite, ResourceType: topic}) {
		t.Error("bob writes some topic")
	}
	if az.AuthorizeAny(set, Request{Principal: "User:zed", Host: "h", Operation: kmsg.ACLOperationWrite, ResourceType: group}) {
		t.Error("zed writes some group")
	}
	if az.Authorize(nil, Request{"User:alice", "h", kmsg.ACLOperationRead, topic, "orders"}) {
		t.Error("no ACLs at all and allow.everyone.if.no.acl.found false: denied")
	}
}

func TestACLValidate(t *testing.T) {
	good := acl(topic, "t", lit, "User:a", "*", kmsg.ACLOperationRead, allow)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*ACL){
		"prefixed wildcard": func(a *ACL) { a.PatternType, a.ResourceName = prefix, "*" },
		"any type":          func(a *ACL) { a.ResourceType = kmsg.ACLResourceTypeAny },
		"match pattern":     func(a *ACL) { a.PatternType = kmsg.ACLResourcePatternTypeMatch },
		"empty name":        func(a *ACL) { a.ResourceName = "" },
		"bad principal":     func(a *ACL) { a.Principal = "alice" },
		"any operation":     func(a *ACL) { a.Operation = kmsg.ACLOperationAny },
		"any permission":    func(a *ACL) { a.Permission = kmsg.ACLPermissionTypeAny },
		"cluster name":      func(a *ACL) { a.ResourceType = kmsg.ACLResourceTypeCluster },
		"empty host":        func(a *ACL) { a.Host = "" },
	}
	for name, f := range bad {
		a := good
		f(&a)
		if err := a.Validate(); !errors.Is(err, ErrInvalidACL) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestACLFilter(t *testing.T) {
	set := NewACLSet([]ACL{
		acl(topic, "orders", lit, "User:a", "*", kmsg.ACLOperationRead, allow),
		acl(topic, "*", lit, "User:a", "*", kmsg.ACLOperationRead, allow),
		acl(topic, "ord", prefix, "User:b", "*", kmsg.ACLOperationRead, allow),
		acl(group, "orders", lit, "User:a", "*", kmsg.ACLOperationRead, deny),
	})
	str := func(s string) *string { return &s }
	cases := []struct {
		f    ACLFilter
		want int
	}{
		{ACLFilter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}, 4},
		{ACLFilter{ResourceType: topic, ResourceName: str("orders"), PatternType: kmsg.ACLResourcePatternTypeMatch, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}, 3},
		{ACLFilter{ResourceType: topic, ResourceName: str("orders"), PatternType: lit, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}, 1},
		{ACLFilter{ResourceType: kmsg.ACLResourceTypeAny, ResourceName: str("orders"), PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: deny}, 1},
		{ACLFilter{ResourceType: topic, PatternType: prefix, Principal: str("User:b"), Operation: kmsg.ACLOperationRead, Permission: allow}, 1},
	}
	for i, c := range cases {
		if got := set.Filter(c.f); len(got) != c.want {
			t.Errorf("filter %d matched %v, want %d", i, got, c.want)
		}
	}
}

func TestPrincipalOf(t *testing.T) {
	if PrincipalOf("User:alice", "User:CN=x") != "User:alice" || PrincipalOf(AnonymousPrincipal, "User:CN=x") != "User:CN=x" ||
		PrincipalOf("", "") != AnonymousPrincipal {
		t.Fatal("principal choice")
	}
}

// BenchmarkAuthorize1000 checks one request against 1,000 ACLs: 250 users
// with literal and prefixed topic ACLs each.
func BenchmarkAuthorize1000(b *testing.B) {
	var acls []ACL
	for i := range 250 {
		u := fmt.Sprintf("User:u%d", i)
		acls = append(acls,
			acl(topic, fmt.Sprintf("topic-%d", i), lit, u, "*", kmsg.ACLOperationRead, allow),
			acl(topic, fmt.Sprintf("topic-%d", i), lit, u, "*", kmsg.ACLOperationWrite, allow),
			acl(topic, fmt.Sprintf("team-%d-", i), prefix, u, "*", kmsg.ACLOperationAll, allow),
			acl(group, fmt.Sprintf("g-%d", i), lit, u, "*", kmsg.ACLOperationRead, allow))
	}
	set := NewACLSet(acls)
	az := NewAuthorizer("User:admin", false)
	r := Request{Principal: "User:u100", Host: "10.1.2.3", Operation: kmsg.ACLOperationWrite, ResourceType: topic, ResourceName: "team-100-events"}
	b.ReportAllocs()
	for b.Loop() {
		if !az.Authorize(set, r) {
			b.Fatal("denied")
		}
	}
}
