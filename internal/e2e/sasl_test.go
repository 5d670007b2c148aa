package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/spool-mq/spool/internal/broker"
	"github.com/spool-mq/spool/internal/config"
)

const (
	saslUser     = "alice"
	saslPassword = "alice-secret"
)

// startSASLBroker is one documented bootstrap: a broker without SASL
// stores the first user's credentials in the metadata, then restarts on
// the same data directory with a SASL_PLAINTEXT listener only.
func startSASLBroker(t *testing.T) *broker.Broker {
	t.Helper()
	ctx := testContext(t)
	dir := t.TempDir()
	open := startBroker(t, withDataDir(dir))
	adm := newAdmin(t, open.KafkaAddr())
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: saslUser, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: saslPassword},
		{User: saslUser, Mechanism: kadm.ScramSha512, Iterations: 8192, Password: saslPassword},
	})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("creating the first user: %v", err)
	}
	if err := open.Close(); err != nil {
		t.Fatal(err)
	}
	return startBroker(t, withDataDir(dir), withConfig(func(c *config.Broker) {
		c.KafkaAddr = "SASL_PLAINTEXT://127.0.0.1:0"
		c.SASL.EnabledMechanisms = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
		c.SASL.FailedAuthenticationDelayMs = 50
	}))
}

func saslMechanisms(user, pass string) []sasl.Mechanism {
	return []sasl.Mechanism{
		plain.Auth{User: user, Pass: pass}.AsMechanism(),
		scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(),
		scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(),
	}
}

// TestSASLFranzGo: with SASL required, franz-go authenticated with PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512 creates a topic, produces and consumes;
// a wrong password or an unknown user gets SASL_AUTHENTICATION_FAILED.
func TestSASLFranzGo(t *testing.T) {
	ctx := testContext(t)
	b := startSASLBroker(t)
	addr := b.KafkaAddr()
	for _, mech := range saslMechanisms(saslUser, saslPassword) {
		t.Run(mech.Name(), func(t *testing.T) {
			topic := topicName(t, "sasl")
			adm := kadm.NewClient(newClient(t, addr, kgo.SASL(mech)))
			createTopic(t, ctx, adm, topic, 1, nil)
			cl := newClient(t, addr, kgo.SASL(mech), kgo.ConsumeTopics(topic))
			produceSync(t, ctx, cl, &kgo.Record{Topic: topic, Value: []byte("via " + mech.Name())})
			recs := pollN(t, ctx, cl, 1)
			if got := string(recs[0].Value); got != "via "+mech.Name() {
				t.Fatalf("consumed %q", got)
			}
		})
	}
	for _, creds := range [][2]string{{saslUser, "wrong"}, {"mallory", saslPassword}} {
		for _, mech := range saslMechanisms(creds[0], creds[1]) {
			t.Run(fmt.Sprintf("refused %s %s", creds[0], mech.Name()), func(t *testing.T) {
				cl := newClient(t, addr, kgo.SASL(mech), kgo.RequestRetries(0))
				err := cl.Ping(ctx)
				if !errors.Is(err, kerr.SaslAuthenticationFailed) {
					t.Fatalf("ping with bad credentials: %v, want SASL_AUTHENTICATION_FAILED", err)
				}
				if strings.Contains(err.Error(), "mallory") || strings.Contains(strings.ToLower(err.Error()), "unknown user") {
					t.Fatalf("error tells whether the user exists: %v", err)
				}
			})
		}
	}
}

// TestSASLUnauthenticatedRequestsClose: before authenticating, a client
// may ask for ApiVersions, but a Produce (or Metadata) closes the
// connection, as in Kafka.
func TestSASLUnauthenticatedRequestsClose(t *testing.T) {
	b := startSASLBroker(t)

	c := dialRaw(t, b.KafkaAddr())
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "raw", "1"
	if resp := c.roundTrip(req).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions before authenticating: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	produce := kmsg.NewPtrProduceRequest()
	produce.SetVersion(9)
	produce.Acks, produce.TimeoutMillis = -1, 1000
	c.send(produce)
	c.expectClosed("Produce before SASL authentication")

	c = dialRaw(t, b.KafkaAddr())
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(9)
	c.send(meta)
	c.expectClosed("Metadata before SASL authentication")

	// Out of order: SaslAuthenticate without a handshake.
	c = dialRaw(t, b.KafkaAddr())
	authReq := kmsg.NewPtrSASLAuthenticateRequest()
	authReq.SetVersion(1)
	authReq.SASLAuthBytes = []byte("\x00alice\x00alice-secret")
	if resp := c.roundTrip(authReq).(*kmsg.SASLAuthenticateResponse); resp.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("SaslAuthenticate before SaslHandshake: %v, want ILLEGAL_SASL_STATE", kerr.ErrorForCode(resp.ErrorCode))
	}
	c.expectClosed("after ILLEGAL_SASL_STATE")

	// An unknown mechanism is refused with the enabled ones listed.
	c = dialRaw(t, b.KafkaAddr())
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "GSSAPI"
	resp := c.roundTrip(hs).(*kmsg.SASLHandshakeResponse)
	if resp.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(resp.SupportedMechanisms) != 3 {
		t.Fatalf("handshake GSSAPI: %v, mechanisms %v", kerr.ErrorForCode(resp.ErrorCode), resp.SupportedMechanisms)
	}
}

// TestSASLUserAdmin: an authenticated admin lists users (mechanisms and
// iterations, nothing secret), adds one, and deleting a credential ends
// logins with it; Kafka's error codes for bad requests.
func TestSASLUserAdmin(t *testing.T) {
	ctx := testContext(t)
	b := startSASLBroker(t)
	addr := b.KafkaAddr()
	adm := kadm.NewClient(newClient(t, addr, kgo.SASL(scram.Auth{User: saslUser, Pass: saslPassword}.AsSha512Mechanism())))

	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "bob-pw"}})
	if err != nil || res.Error() != nil {
		t.Fatalf("create bob: %v %v", err, res.Error())
	}
	described, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil || described.Error() != nil {
		t.Fatalf("describe: %v %v", err, described.Error())
	}
	if got := described["alice"].CredInfos; len(got) != 2 || got[1].Iterations != 8192 {
		t.Fatalf("alice's credentials: %v", got)
	}
	if got := described["bob"].CredInfos; len(got) != 1 || got[0].Mechanism != kadm.ScramSha256 {
		t.Fatalf("bob's credentials: %v", got)
	}
	bob := newClient(t, addr, kgo.SASL(scram.Auth{User: "bob", Pass: "bob-pw"}.AsSha256Mechanism()))
	if err := bob.Ping(ctx); err != nil {
		t.Fatalf("bob logs in: %v", err)
	}

	// Kafka's codes for refused changes (a raw request: kadm checks
	// iterations itself).
	salted := make([]byte, 32)
	up := func(user string, iters int32) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = user, 1, iters, []byte("salt"), salted
		return u
	}
	del := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
	del.Name, del.Mechanism = "carol", 1
	badMech := up("frank", 4096)
	badMech.Mechanism = 3
	alter := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	alter.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{del}
	alter.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up("dave", 100), up("erin", 4096), up("erin", 4096), badMech, up("", 4096)}
	raw, err := alter.RequestWith(ctx, newClient(t, addr, kgo.SASL(plain.Auth{User: saslUser, Pass: saslPassword}.AsMechanism())))
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, r := range raw.Results {
		codes[r.User] = r.ErrorCode
	}
	for user, want := range map[string]*kerr.Error{"carol": kerr.ResourceNotFound, "dave": kerr.UnacceptableCredential,
		"erin": kerr.DuplicateResource, "frank": kerr.UnsupportedSaslMechanism, "": kerr.UnacceptableCredential} {
		if got, ok := codes[user]; !ok || got != want.Code {
			t.Errorf("%q: %v, want %v", user, kerr.ErrorForCode(got), want)
		}
	}
	if d, _ := adm.DescribeUserSCRAMs(ctx, "erin"); !errors.Is(d["erin"].Err, kerr.ResourceNotFound) {
		t.Errorf("erin was created by a refused request: %v", d["erin"])
	}
	if d, _ := adm.DescribeUserSCRAMs(ctx, "carol"); !errors.Is(d["carol"].Err, kerr.ResourceNotFound) {
		t.Errorf("describe unknown user: %v, want RESOURCE_NOT_FOUND", d["carol"].Err)
	}

	res, err = adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha256}}, nil)
	if err != nil || res.Error() != nil {
		t.Fatalf("delete bob: %v %v", err, res.Error())
	}
	again := newClient(t, addr, kgo.SASL(scram.Auth{User: "bob", Pass: "bob-pw"}.AsSha256Mechanism()), kgo.RequestRetries(0))
	if err := again.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("bob after deletion: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
}

// TestSASLKcat: librdkafka authenticates with SCRAM-SHA-256 and PLAIN,
// produces and consumes.
func TestSASLKcat(t *testing.T) {
	ctx := testContext(t)
	b := startSASLBroker(t)
	addr := b.KafkaAddr()
	for _, mech := range []string{"SCRAM-SHA-256", "PLAIN"} {
		topic := topicName(t, mech)
		saslArgs := []string{"-b", addr, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=" + mech,
			"-X", "sasl.username=" + saslUser, "-X", "sasl.password=" + saslPassword}
		adm := kadm.NewClient(newClient(t, addr, kgo.SASL(plain.Auth{User: saslUser, Pass: saslPassword}.AsMechanism())))
		createTopic(t, ctx, adm, topic, 1, nil)
		kcat(t, ctx, "one\ntwo\n", append(saslArgs, "-P", "-t", topic)...)
		out := kcat(t, ctx, "", append(saslArgs, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%s\n")...)
		if out != "one\ntwo\n" {
			t.Fatalf("%s: kcat read back %q", mech, out)
		}
	}
}

// TestSASLSarama: sarama (SaslHandshake v1, PLAIN) produces and consumes.
func TestSASLSarama(t *testing.T) {
	ctx := testContext(t)
	b := startSASLBroker(t)
	addr := b.KafkaAddr()
	topic := topicName(t, "sarama")
	createTopic(t, ctx, kadm.NewClient(newClient(t, addr, kgo.SASL(plain.Auth{User: saslUser, Pass: saslPassword}.AsMechanism()))), topic, 1, nil)

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	cfg.Net.SASL.Version = sarama.SASLHandshakeV1
	cfg.Net.SASL.User, cfg.Net.SASL.Password = saslUser, saslPassword
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	producer, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewSyncProducer: %v", err)
	}
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("from sarama")}); err != nil {
		t.Fatalf("sarama SendMessage: %v", err)
	}
	producer.Close()
	consumer, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewConsumer: %v", err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("sarama ConsumePartition: %v", err)
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		if string(m.Value) != "from sarama" {
			t.Fatalf("sarama consumed %q", m.Value)
		}
	case err := <-pc.Errors():
		t.Fatalf("sarama consumer: %v", err)
	case <-ctx.Done():
		t.Fatal("sarama consumed nothing before the deadline")
	}
}
