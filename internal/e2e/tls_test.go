package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/broker"
	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/testkit"
)

// tlsBroker is a broker with a PLAINTEXT and an SSL listener and the
// certificates of its test: the CA, the server pair it serves (copied to
// files of its own, which the reload test overwrites) and a client pair.
type tlsBroker struct {
	*broker.Broker
	ca                *testkit.CA
	certFile, keyFile string
	client            *testkit.KeyPair
	plain, ssl        string // listener addresses
}

// startTLSBroker starts a broker whose SSL listener uses clientAuth
// (ssl.client.auth).
func startTLSBroker(t *testing.T, clientAuth string) *tlsBroker {
	t.Helper()
	ca := testkit.NewCA(t, "spool-test")
	server := ca.Server(t, "broker")
	dir := t.TempDir()
	tb := &tlsBroker{ca: ca, certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), client: ca.Client(t, "alice")}
	server.WriteTo(t, tb.certFile, tb.keyFile)
	tb.Broker = startBroker(t, withConfig(func(c *config.Broker) {
		c.KafkaAddr = "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0"
		c.SSL.CertificateLocation, c.SSL.KeyLocation, c.SSL.CALocation = tb.certFile, tb.keyFile, ca.CertFile
		c.SSL.ClientAuth = clientAuth
		c.SSL.HandshakeTimeoutMs = 2000
	}))
	tb.plain, tb.ssl = tb.ListenerAddr("PLAINTEXT"), tb.ListenerAddr("SSL")
	return tb
}

// clientTLS is a client configuration trusting the test CA, presenting
// kp when it is not nil.
func (tb *tlsBroker) clientTLS(t *testing.T, kp *testkit.KeyPair) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(tb.ca.Cert)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if kp != nil {
		cert, err := tls.LoadX509KeyPair(kp.CertFile, kp.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// portOf is addr's port.
func portOf(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}

// refused asserts that a TLS connection with cfg to addr is not served:
// the handshake fails, or (TLS 1.3, where the client finishes first) the
// first response never comes and the connection is closed instead.
func refused(t *testing.T, addr string, cfg *tls.Config, what string) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// An ApiVersions v0 request.
	req := []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0, 0}
	if _, err := c.Write(req); err == nil {
		_, err = c.Read(make([]byte, 4))
		if err == nil {
			t.Fatalf("%s: the broker answered a request", what)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: the connection was left open instead of refused", what)
		}
	}
}

// malformed is spool_kafka_malformed_requests_total summed over the
// listeners, from /metrics.
func malformed(t *testing.T, b *broker.Broker) float64 {
	t.Helper()
	resp, err := http.Get("http://" + b.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, m := range regexp.MustCompile(`(?m)^spool_kafka_malformed_requests_total\{[^}]*\} (\S+)$`).FindAllSubmatch(body, -1) {
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		sum += v
	}
	return sum
}

// TestTLSProduceConsume: franz-go produces and consumes over the SSL
// listener; Metadata and DescribeCluster on each listener name that
// listener's address, so SSL clients stay on TLS.
func TestTLSProduceConsume(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tb := startTLSBroker(t, config.ClientAuthNone)
	topic := topicName(t, "tls")
	cl := newClient(t, tb.ssl, kgo.DialTLSConfig(tb.clientTLS(t, nil)), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, &kgo.Record{Value: []byte("secret-" + strconv.Itoa(i))})
	}
	produceSync(t, ctx, cl, recs...)
	consumer := newClient(t, tb.ssl, kgo.DialTLSConfig(tb.clientTLS(t, nil)), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := pollN(t, ctx, consumer, len(recs))
	if len(got) != len(recs) || string(got[7].Value) != "secret-7" {
		t.Fatalf("consumed %d records over TLS, want %d", len(got), len(recs))
	}

	for _, c := range []struct {
		addr string
		opts []kgo.Opt
	}{{tb.ssl, []kgo.Opt{kgo.DialTLSConfig(tb.clientTLS(t, nil))}}, {tb.plain, nil}} {
		cl := newClient(t, c.addr, c.opts...)
		md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Brokers) != 1 || md.Brokers[0].Host != "127.0.0.1" || md.Brokers[0].Port != portOf(t, c.addr) {
			t.Errorf("Metadata on %s lists brokers %+v, want 127.0.0.1:%d", c.addr, md.Brokers, portOf(t, c.addr))
		}
		dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(dc.Brokers) != 1 || dc.Brokers[0].Port != portOf(t, c.addr) {
			t.Errorf("DescribeCluster on %s lists brokers %+v, want port %d", c.addr, dc.Brokers, portOf(t, c.addr))
		}
	}
}

// TestTLSClientAuthRequired: with ssl.client.auth=required, a client
// certificate from the broker's CA is served; no certificate, or one
// from another CA, is refused.
func TestTLSClientAuthRequired(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tb := startTLSBroker(t, config.ClientAuthRequired)
	topic := topicName(t, "mtls")
	cl := newClient(t, tb.ssl, kgo.DialTLSConfig(tb.clientTLS(t, tb.client)), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	produceSync(t, ctx, cl, &kgo.Record{Value: []byte("with a certificate")})

	before := malformed(t, tb.Broker)
	refused(t, tb.ssl, tb.clientTLS(t, nil), "no client certificate")
	other := testkit.NewCA(t, "other").Client(t, "mallory")
	refused(t, tb.ssl, tb.clientTLS(t, other), "a client certificate from another CA")
	// The failed handshakes are counted once the server has seen them.
	deadline := time.Now().Add(5 * time.Second)
	for malformed(t, tb.Broker) < before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("refused handshakes not counted as malformed: %v -> %v", before, malformed(t, tb.Broker))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTLSWrongProtocol: a plaintext client on the SSL port, and a TLS
// client on the plaintext port, are closed (and counted), and the broker
// goes on serving both listeners.
func TestTLSWrongProtocol(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tb := startTLSBroker(t, config.ClientAuthNone)
	before := malformed(t, tb.Broker)

	c, err := net.Dial("tcp", tb.ssl)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0, 0})
	n, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || len(n) >= 8 && bytes.Equal(n[4:8], []byte{0, 0, 0, 1}) {
		t.Fatalf("plaintext request on the SSL port: read %q, %v; want the connection closed unanswered", n, err)
	}
	c.Close()
	refused(t, tb.plain, tb.clientTLS(t, nil), "a TLS client on the plaintext port")

	// A client that connects to the SSL port and says nothing is closed
	// after ssl.handshake.timeout.ms (2 s here).
	silent, err := net.Dial("tcp", tb.ssl)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	silent.SetDeadline(start.Add(10 * time.Second))
	if _, err := io.ReadAll(silent); errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a silent connection to the SSL port was not closed by ssl.handshake.timeout.ms")
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("a silent connection was closed after %v, before ssl.handshake.timeout.ms", waited)
	}

	deadline := time.Now().Add(5 * time.Second)
	for malformed(t, tb.Broker) < before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("wrong-protocol connections not counted as malformed: %v -> %v", before, malformed(t, tb.Broker))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, cl := range []*kgo.Client{newClient(t, tb.ssl, kgo.DialTLSConfig(tb.clientTLS(t, nil))), newClient(t, tb.plain)} {
		if _, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl); err != nil {
			t.Fatalf("the broker stopped serving after wrong-protocol clients: %v", err)
		}
	}
}

// TestTLSCertificateReload: a certificate written over the configured
// files is served to new connections without a restart.
func TestTLSCertificateReload(t *testing.T) {
	t.Parallel()
	tb := startTLSBroker(t, config.ClientAuthNone)
	served := func() string {
		c, err := tls.Dial("tcp", tb.ssl, tb.clientTLS(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := served()
	next := tb.ca.Server(t, "broker-next")
	next.WriteTo(t, tb.certFile, tb.keyFile)
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := served()
		if got == next.Cert.SerialNumber.String() {
			break
		}
		if got != first || time.Now().After(deadline) {
			t.Fatalf("serving certificate %s, want the rotated %s", got, next.Cert.SerialNumber)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTLSKcat: librdkafka produces and consumes over SSL.
func TestTLSKcat(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tb := startTLSBroker(t, config.ClientAuthRequired)
	topic := topicName(t, "kcat")
	ssl := []string{"-b", tb.ssl, "-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + tb.ca.CertFile,
		"-X", "ssl.certificate.location=" + tb.client.CertFile, "-X", "ssl.key.location=" + tb.client.KeyFile}
	kcat(t, ctx, "one\ntwo\nthree\n", append(ssl, "-P", "-t", topic)...)
	out := kcat(t, ctx, "", append(ssl, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%s\n")...)
	if out != "one\ntwo\nthree\n" {
		t.Fatalf("kcat over SSL consumed %q", out)
	}
}

// TestTLSCLI: spool produce and consume with --tls-* flags on the SSL
// listener (mTLS required).
func TestTLSCLI(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tb := startTLSBroker(t, config.ClientAuthRequired)
	topic := topicName(t, "cli")
	createTopic(t, ctx, newAdmin(t, tb.plain), topic, 1, nil)
	flags := []string{"--brokers", tb.ssl, "--tls-ca", tb.ca.CertFile, "--tls-cert", tb.client.CertFile, "--tls-key", tb.client.KeyFile, "--timeout", "20s"}
	run := func(stdin string, args ...string) string {
		cmd := exec.CommandContext(ctx, needBinary(t), append(args, flags...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("spool %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String()
	}
	run("a\nb\n", "produce", topic)
	if out := run("", "consume", topic, "--exit"); out != "a\nb\n" {
		t.Fatalf("spool consume over TLS printed %q", out)
	}
	// Without the client certificate the command fails.
	cmd := exec.CommandContext(ctx, needBinary(t), "consume", topic, "--exit", "--brokers", tb.ssl, "--tls-ca", tb.ca.CertFile, "--timeout", "3s")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("spool consume without a client certificate succeeded:\n%s", out)
	}
}

// TestTLSServeRefusals: `spool serve` refuses a SASL listener without
// sasl.enabled.mechanisms (it could authenticate nobody) and an SSL
// listener whose certificate does not load, each with a message naming the
// cause.
func TestTLSServeRefusals(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	ca := testkit.NewCA(t, "refusals")
	kp := ca.Server(t, "broker")
	common := []string{"--data-dir", t.TempDir(), "--http-addr", freeAddr(t), "--controller-addr", freeAddr(t)}
	out := serveMustFail(t, ctx, append(common, "--kafka-addr", "PLAINTEXT://"+freeAddr(t)+",SASL_SSL://"+freeAddr(t),
		"--set", "ssl.certificate.location="+kp.CertFile, "--set", "ssl.key.location="+kp.KeyFile)...)
	if !strings.Contains(out, "sasl.enabled.mechanisms") {
		t.Errorf("a SASL_SSL listener without mechanisms was not refused:\n%s", out)
	}
	out = serveMustFail(t, ctx, append(common, "--kafka-addr", "SSL://"+freeAddr(t),
		"--set", "ssl.certificate.location="+kp.CertFile, "--set", "ssl.key.location="+ca.CertFile)...)
	if !strings.Contains(out, "ssl.key.location") {
		t.Errorf("a key file that does not match was not reported:\n%s", out)
	}
}
