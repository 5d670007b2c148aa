package handlers_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/config"
)

func aclCreation(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) kmsg.CreateACLsRequestCreation {
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = rt, name, pt
	c.Principal, c.Host, c.Operation, c.PermissionType = principal, "*", op, perm
	return c
}

func (tb *testBroker) createACLs(cs ...kmsg.CreateACLsRequestCreation) []int16 {
	req := kmsg.NewPtrCreateACLsRequest()
	req.Creations = cs
	resp := tb.send(nil, req).(*kmsg.CreateACLsResponse)
	var codes []int16
	for _, r := range resp.Results {
		codes = append(codes, r.ErrorCode)
	}
	return codes
}

// TestAuthorization runs the rules against a plaintext client
// (User:ANONYMOUS) with allow.everyone.if.no.acl.found, so that it can
// bootstrap its own cluster ACL: resources without any ACL are open, those
// with ACLs only to whom they name.
func TestAuthorization(t *testing.T) {
	tb := startBroker(t, func(c *config.Broker) {
		c.Authorizer.ClassName = "spool"
		c.Authorizer.AllowEveryoneIfNoACLFound = true
	})
	const (
		lit   = kmsg.ACLResourcePatternTypeLiteral
		allow = kmsg.ACLPermissionTypeAllow
		anon  = "User:ANONYMOUS"
	)
	cluster := kmsg.ACLResourceTypeCluster
	topic := kmsg.ACLResourceTypeTopic
	codes := tb.createACLs(
		aclCreation(cluster, "kafka-cluster", lit, anon, kmsg.ACLOperationAlter, allow),
		aclCreation(cluster, "kafka-cluster", lit, "User:other", kmsg.ACLOperationDescribe, allow),
		aclCreation(topic, "*", kmsg.ACLResourcePatternTypePrefixed, anon, kmsg.ACLOperationRead, allow),
		aclCreation(kmsg.ACLResourceTypeAny, "x", lit, anon, kmsg.ACLOperationRead, allow),
		aclCreation(topic, "x", lit, "bob", kmsg.ACLOperationRead, allow),
	)
	want := []int16{0, 0, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("creation codes %v, want %v", codes, want)
		}
	}
	for _, name := range []string{"visible", "hidden", "open"} {
		tb.createTopic(name, 1, nil)
	}
	if codes := tb.createACLs(
		aclCreation(topic, "visible", lit, anon, kmsg.ACLOperationRead, allow),
		aclCreation(topic, "hidden", lit, "User:other", kmsg.ACLOperationRead, allow),
	); codes[0] != 0 || codes[1] != 0 {
		t.Fatalf("topic ACLs: %v", codes)
	}

	// Metadata: hidden is left out of the listing and refused by name.
	md := tb.send(nil, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
	names := map[string]int16{}
	for _, tp := range md.Topics {
		names[*tp.Topic] = tp.ErrorCode
	}
	if _, ok := names["hidden"]; ok || len(names) != 2 {
		t.Fatalf("listed %v", names)
	}
	mreq := kmsg.NewPtrMetadataRequest()
	for _, n := range []string{"hidden", "visible"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		mreq.Topics = append(mreq.Topics, rt)
	}
	md = tb.send(nil, mreq).(*kmsg.MetadataResponse)
	for _, tp := range md.Topics {
		want := errNone
		if *tp.Topic == "hidden" {
			want = kerr.TopicAuthorizationFailed
		}
		wantCode(t, "metadata of "+*tp.Topic, tp.ErrorCode, want)
	}

	// Produce: per topic; visible has ACLs but no WRITE, open has none.
	preq := kmsg.NewPtrProduceRequest()
	preq.Acks, preq.TimeoutMillis = -1, 5000
	for _, n := range []string{"visible", "open"} {
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = n
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = validBatch()
		rt.Partitions = append(rt.Partitions, rp)
		preq.Topics = append(preq.Topics, rt)
	}
	presp := tb.send(nil, preq).(*kmsg.ProduceResponse)
	if len(presp.Topics) != 2 {
		t.Fatalf("produce answered %d topics", len(presp.Topics))
	}
	for _, rt := range presp.Topics {
		want := errNone
		if rt.Topic == "visible" {
			want = kerr.TopicAuthorizationFailed
		}
		wantCode(t, "produce to "+rt.Topic, rt.Partitions[0].ErrorCode, want)
	}

	// Take away the cluster ACL: the cluster resource still has an ACL
	// (other's), so the cluster APIs are closed to ANONYMOUS now.
	dreq := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType, f.Principal = cluster, lit, kmsg.StringPtr(anon)
	f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	dreq.Filters = append(dreq.Filters, f)
	dresp := tb.send(nil, dreq).(*kmsg.DeleteACLsResponse)
	if dresp.Results[0].ErrorCode != 0 || len(dresp.Results[0].MatchingACLs) != 1 {
		t.Fatalf("delete: %+v", dresp.Results)
	}
	wantCode(t, "DescribeCluster", tb.send(nil, kmsg.NewPtrDescribeClusterRequest()).(*kmsg.DescribeClusterResponse).ErrorCode, kerr.ClusterAuthorizationFailed)
	wantCode(t, "DescribeAcls", tb.send(nil, &kmsg.DescribeACLsRequest{ResourceType: kmsg.ACLResourceTypeAny, ResourcePatternType: kmsg.ACLResourcePatternTypeAny,
		Operation: kmsg.ACLOperationAny, PermissionType: kmsg.ACLPermissionTypeAny}).(*kmsg.DescribeACLsResponse).ErrorCode, kerr.ClusterAuthorizationFailed)
	if codes := tb.createACLs(aclCreation(topic, "open", lit, anon, kmsg.ACLOperationAll, allow)); codes[0] != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("CreateAcls without ALTER: %v", codes)
	}
	// An API without a rule of its own needs ALTER on the cluster.
	wantCode(t, "ElectLeaders (default rule)", tb.send(nil, kmsg.NewPtrElectLeadersRequest()).(*kmsg.ElectLeadersResponse).ErrorCode, kerr.ClusterAuthorizationFailed)
	// ApiVersions is always allowed.
	wantCode(t, "ApiVersions", tb.send(nil, kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse).ErrorCode, errNone)
}

// TestACLsWithoutAuthorizer: the ACL APIs store and list ACLs without an
// authorizer (so they can be prepared before it is turned on), and
// nothing is enforced.
func TestACLsWithoutAuthorizer(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("t", 1, nil)
	if codes := tb.createACLs(aclCreation(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral, "User:alice",
		kmsg.ACLOperationRead, kmsg.ACLPermissionTypeDeny)); codes[0] != 0 {
		t.Fatalf("create: %v", codes)
	}
	resp := tb.send(nil, &kmsg.DescribeACLsRequest{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: kmsg.StringPtr("t"),
		ResourcePatternType: kmsg.ACLResourcePatternTypeMatch, Operation: kmsg.ACLOperationAny, PermissionType: kmsg.ACLPermissionTypeAny}).(*kmsg.DescribeACLsResponse)
	if resp.ErrorCode != 0 || len(resp.Resources) != 1 || len(resp.Resources[0].ACLs) != 1 || resp.Resources[0].ACLs[0].Principal != "User:alice" {
		t.Fatalf("describe: %+v", resp)
	}
	bad := tb.send(nil, &kmsg.DescribeACLsRequest{ResourceType: 42, ResourcePatternType: kmsg.ACLResourcePatternTypeAny,
		Operation: kmsg.ACLOperationAny, PermissionType: kmsg.ACLPermissionTypeAny}).(*kmsg.DescribeACLsResponse)
	wantCode(t, "describe with an unknown resource type", bad.ErrorCode, kerr.InvalidRequest)
	tb.produce("t", 0, 1, []byte("v")) // not enforced
}
