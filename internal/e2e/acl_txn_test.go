package e2e

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/spool-mq/spool/internal/config"
)

// TestACLsTransactions: a transactional producer needs WRITE on its
// transactional id (and on the topics it writes), as in Kafka. Alice may
// use "pay-1" and commits; with "pay-2" she is refused at once.
func TestACLsTransactions(t *testing.T) {
	ctx := testContext(t)
	b := startBroker(t, withConfig(func(c *config.Broker) {
		c.KafkaAddr = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"
		c.SASL.EnabledMechanisms = "SCRAM-SHA-512"
		c.Authorizer.ClassName = "spool"
		c.Authorizer.SuperUsers = "User:ANONYMOUS"
		c.TransactionStateLogNumPartitions = 3
	}))
	operator, addr := b.ListenerAddr("PLAINTEXT"), b.ListenerAddr("SASL_PLAINTEXT")
	adm := newAdmin(t, operator)
	if res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-pw"}}); err != nil || res.Error() != nil {
		t.Fatalf("creating alice: %v %v", err, res.Error())
	}
	createTopic(t, ctx, adm, "payments", 1, nil)
	for _, a := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:alice").Topics("payments").Operations(kadm.OpWrite),
		kadm.NewACLs().Allow("User:alice").TransactionalIDs("pay-1").Operations(kadm.OpWrite),
	} {
		res, err := adm.CreateACLs(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("creating ACL: %v", r.Err)
			}
		}
	}
	asAlice := func(txnID string) *kgo.Client {
		mech := scram.Auth{User: "alice", Pass: "alice-pw"}.AsSha512Mechanism()
		return newClient(t, addr, kgo.SASL(mech), kgo.TransactionalID(txnID), kgo.DefaultProduceTopic("payments"),
			kgo.RetryTimeout(5*time.Second))
	}

	ok := asAlice("pay-1")
	if err := ok.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceSync(t, ctx, ok, &kgo.Record{Value: []byte("paid")})
	if err := ok.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("alice committing with WRITE on pay-1: %v", err)
	}
	cons := newClient(t, operator, kgo.ConsumeTopics("payments"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	got := pollN(t, ctx, cons, 1)
	if len(got) != 1 || string(got[0].Value) != "paid" {
		t.Fatalf("read_committed after the commit: %v", got)
	}

	denied := asAlice("pay-2")
	err := denied.BeginTransaction()
	if err == nil {
		err = denied.ProduceSync(ctx, &kgo.Record{Value: []byte("nope")}).FirstErr()
	}
	if !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Fatalf("alice with pay-2 (no ACL): %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
	}
}
