package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/testkit"
)

// TestSASLSSL: the secure setup. One broker with a SASL_SSL listener for
// clients and a PLAINTEXT listener on localhost for the operator, who
// creates the first user through it without a restart. franz-go and kcat
// then produce and consume over TLS with SCRAM; a TLS client that does not
// authenticate gets nothing.
func TestSASLSSL(t *testing.T) {
	ctx := testContext(t)
	ca := testkit.NewCA(t, "sasl-ssl")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Server(t, "broker").WriteTo(t, certFile, keyFile)
	b := startBroker(t, withConfig(func(c *config.Broker) {
		c.KafkaAddr = "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0"
		c.SSL.CertificateLocation, c.SSL.KeyLocation = certFile, keyFile
		c.SASL.EnabledMechanisms = "SCRAM-SHA-256,SCRAM-SHA-512"
		c.SASL.FailedAuthenticationDelayMs = 50
	}))
	operator, secure := b.ListenerAddr("PLAINTEXT"), b.ListenerAddr("SASL_SSL")

	res, err := newAdmin(t, operator).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: saslUser, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: saslPassword},
	})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("creating the first user on the operator listener: %v", err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	tlsCfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	mech := scram.Auth{User: saslUser, Pass: saslPassword}.AsSha512Mechanism()
	topic := topicName(t, "secure")
	createTopic(t, ctx, kadm.NewClient(newClient(t, secure, kgo.DialTLSConfig(tlsCfg), kgo.SASL(mech))), topic, 1, nil)
	cl := newClient(t, secure, kgo.DialTLSConfig(tlsCfg), kgo.SASL(mech), kgo.ConsumeTopics(topic))
	produceSync(t, ctx, cl, &kgo.Record{Topic: topic, Value: []byte("over SASL_SSL")})
	if got := string(pollN(t, ctx, cl, 1)[0].Value); got != "over SASL_SSL" {
		t.Fatalf("consumed %q", got)
	}

	// TLS alone is not enough on a SASL_SSL listener.
	anon := newClient(t, secure, kgo.DialTLSConfig(tlsCfg), kgo.RequestRetries(0), kgo.RetryTimeout(2*time.Second))
	if err := anon.Ping(ctx); err == nil {
		if _, err := kadm.NewClient(anon).ListTopics(ctx); err == nil {
			t.Fatal("a TLS client without SASL was served on the SASL_SSL listener")
		}
	}

	args := []string{"-b", secure, "-X", "security.protocol=SASL_SSL", "-X", "ssl.ca.location=" + ca.CertFile,
		"-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=" + saslUser, "-X", "sasl.password=" + saslPassword}
	kcat(t, ctx, "k1\n", append(args, "-P", "-t", topic)...)
	out := kcat(t, ctx, "", append(args, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%s\n")...)
	if out != "over SASL_SSL\nk1\n" {
		t.Fatalf("kcat over SASL_SSL read back %q", out)
	}
}
