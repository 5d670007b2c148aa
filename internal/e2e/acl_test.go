package e2e

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/spool-mq/spool/internal/config"
)

// TestACLs: a broker with a SASL_PLAINTEXT listener for clients, the
// authorizer on, and the documented bootstrap: the loopback PLAINTEXT
// operator listener's User:ANONYMOUS and User:admin are super users; the
// operator creates the users, admin the topics and ACLs. Then alice and
// bob meet the ACL matrix: produce, fetch, hidden topics, create topic,
// group consume, describe configs, prefixed vs literal, deny over allow.
func TestACLs(t *testing.T) {
	ctx := testContext(t)
	b := startBroker(t, withConfig(func(c *config.Broker) {
		c.KafkaAddr = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"
		c.SASL.EnabledMechanisms = "SCRAM-SHA-512"
		c.SASL.FailedAuthenticationDelayMs = 50
		c.Authorizer.ClassName = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
		c.Authorizer.SuperUsers = "User:admin;User:ANONYMOUS"
	}))
	operator, addr := b.ListenerAddr("PLAINTEXT"), b.ListenerAddr("SASL_PLAINTEXT")
	var ups []kadm.UpsertSCRAM
	for _, u := range []string{"admin", "alice", "bob"} {
		ups = append(ups, kadm.UpsertSCRAM{User: u, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: u + "-pw"})
	}
	if res, err := newAdmin(t, operator).AlterUserSCRAMs(ctx, nil, ups); err != nil || res.Error() != nil {
		t.Fatalf("creating users: %v %v", err, res.Error())
	}
	as := func(user string, opts ...kgo.Opt) *kgo.Client {
		mech := scram.Auth{User: user, Pass: user + "-pw"}.AsSha512Mechanism()
		return newClient(t, addr, append([]kgo.Opt{kgo.SASL(mech), kgo.RetryTimeout(3 * time.Second)}, opts...)...)
	}
	admin := kadm.NewClient(as("admin"))
	// The broker is this test's own: fixed names keep prefixes simple.
	orders, secret, teamA, teamNew, other := "orders", "secret", "team-a-events", "team-a-new", "other"
	for _, tp := range []string{orders, secret, teamA} {
		createTopic(t, ctx, admin, tp, 1, nil)
	}
	group := "g-alice"
	acls := []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:alice").Topics(orders).Operations(kadm.OpWrite, kadm.OpRead, kadm.OpDescribeConfigs),
		kadm.NewACLs().Allow("User:alice").Topics("team-a-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpAll),
		kadm.NewACLs().Allow("User:alice").Groups(group).Operations(kadm.OpRead),
		kadm.NewACLs().Allow("User:*").Topics(orders).Operations(kadm.OpRead),
		kadm.NewACLs().Deny("User:bob").Topics(orders).Operations(kadm.OpRead),
	}
	for _, a := range acls {
		res, err := admin.CreateACLs(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("creating ACL %+v: %v", r, r.Err)
			}
		}
	}
	descReq := kmsg.NewPtrDescribeACLsRequest()
	descReq.ResourceType, descReq.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	descReq.Operation, descReq.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	described, err := descReq.RequestWith(ctx, as("admin"))
	n := 0
	if err == nil {
		for _, r := range described.Resources {
			n += len(r.ACLs)
		}
	}
	if err != nil || described.ErrorCode != 0 || n != 7 {
		t.Fatalf("described %+v, %v", described, err)
	}

	// The authenticated client cannot reach the ACL APIs.
	alice := as("alice")
	aliceAdm := kadm.NewClient(alice)
	if res, err := aliceAdm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics(secret).Operations(kadm.OpRead)); err == nil {
		if len(res) == 0 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
			t.Fatalf("alice created an ACL: %+v", res)
		}
	}

	// Produce: literal ACL allowed, no ACL denied.
	produceSync(t, ctx, alice, &kgo.Record{Topic: orders, Value: []byte("o1")})
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: secret, Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice producing to %s: %v", secret, err)
	}
	// Prefixed ALL: produce and create topics under the prefix, not beside it.
	produceSync(t, ctx, alice, &kgo.Record{Topic: teamA, Value: []byte("t1")})
	created, err := aliceAdm.CreateTopics(ctx, 1, 1, nil, teamNew, other)
	if err != nil {
		t.Fatal(err)
	}
	if r := created[teamNew]; r.Err != nil {
		t.Fatalf("alice creating under her prefix: %v", r.Err)
	}
	if r := created[other]; !errors.Is(r.Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice creating outside her prefix: %v", r.Err)
	}

	// Metadata: topics alice cannot describe are hidden.
	listed, err := aliceAdm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !listed.Has(orders) || !listed.Has(teamA) || listed.Has(secret) {
		t.Fatalf("alice lists %v", listed.Names())
	}
	if all, _ := admin.ListTopics(ctx); !all.Has(secret) {
		t.Fatal("the super user does not see every topic")
	}

	// DescribeConfigs: allowed on orders, refused on secret.
	dc := kmsg.NewPtrDescribeConfigsRequest()
	for _, name := range []string{orders, secret} {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, name
		dc.Resources = append(dc.Resources, r)
	}
	dcResp, err := dc.RequestWith(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range dcResp.Resources {
		want := int16(0)
		if r.ResourceName == secret {
			want = kerr.TopicAuthorizationFailed.Code
		}
		if r.ErrorCode != want || (want == 0 && len(r.Configs) == 0) {
			t.Fatalf("describe configs of %s: code %d, %d configs; want code %d", r.ResourceName, r.ErrorCode, len(r.Configs), want)
		}
	}

	// Group consume with READ on the group and the topic, and a commit.
	consumer := as("alice", kgo.ConsumerGroup(group), kgo.ConsumeTopics(orders), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if got := string(pollN(t, ctx, consumer, 1)[0].Value); got != "o1" {
		t.Fatalf("alice's group consumed %q", got)
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("alice's commit: %v", err)
	}
	// ListGroups shows alice only the groups she can describe; admin sees all.
	groups, err := aliceAdm.ListGroups(ctx)
	if err != nil || len(groups) != 1 || groups[group].Group != group {
		t.Fatalf("alice lists groups %v, %v", groups, err)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{group}
	// franz-go asks FindCoordinator first, which already refuses bob.
	dgResp, err := dg.RequestWith(ctx, as("bob"))
	if !errors.Is(err, kerr.GroupAuthorizationFailed) && (err != nil || len(dgResp.Groups) != 1 || dgResp.Groups[0].ErrorCode != kerr.GroupAuthorizationFailed.Code) {
		t.Fatalf("bob describing alice's group: %+v, %v", dgResp, err)
	}
	// A group without READ is refused.
	otherGroup := as("alice", kgo.ConsumerGroup("g-other"), kgo.ConsumeTopics(orders))
	waitFetchError(t, ctx, otherGroup, kerr.GroupAuthorizationFailed)

	// Deny beats allow: bob's READ on orders comes from User:*, and his
	// DENY wins.
	bob := as("bob", kgo.ConsumeTopics(orders), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	waitFetchError(t, ctx, bob, kerr.TopicAuthorizationFailed)

	// The super user may read anything.
	root := as("admin", kgo.ConsumeTopics(secret, orders), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	pollN(t, ctx, root, 1)

	// kcat (librdkafka) as alice: allowed on orders, refused on secret.
	args := []string{"-b", addr, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-512",
		"-X", "sasl.username=alice", "-X", "sasl.password=alice-pw"}
	kcat(t, ctx, "k1\n", append(args, "-P", "-t", orders)...)
	if out := kcat(t, ctx, "", append(args, "-C", "-t", orders, "-e", "-o", "beginning", "-f", "%s\n")...); out != "o1\nk1\n" {
		t.Fatalf("kcat as alice read back %q", out)
	}
	if out, err := kcatFails(ctx, "x\n", append(args, "-P", "-t", secret)...); !strings.Contains(out, "uthoriz") {
		t.Fatalf("kcat as alice producing to %s: %v\n%s", secret, err, out)
	}

	// Deleting the ACLs closes orders to alice again.
	if _, err := admin.DeleteACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts("*").Topics(orders).Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternLiteral)); err != nil {
		t.Fatal(err)
	}
	if err := as("alice").ProduceSync(ctx, &kgo.Record{Topic: orders, Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice producing after her ACLs were deleted: %v", err)
	}
}

// waitFetchError polls cl until a fetch fails with want.
func waitFetchError(t *testing.T, ctx context.Context, cl *kgo.Client, want error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var seen []error
	for ctx.Err() == nil {
		for _, fe := range cl.PollFetches(ctx).Errors() {
			if errors.Is(fe.Err, want) {
				return
			}
			seen = append(seen, fe.Err)
		}
	}
	t.Fatalf("no %v from polling; saw %v", want, seen)
}

// kcatFails runs kcat expecting it to fail; it returns stdout and stderr
// together.
func kcatFails(ctx context.Context, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, kcatTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
