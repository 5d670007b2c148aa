package testcluster

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/testkit"
)

// Two brokers, each with a PLAINTEXT and an SSL listener: Metadata over
// SSL names every broker's SSL port and over PLAINTEXT every plaintext
// one (brokers register all their listeners with the controller), and a
// TLS client produces to and consumes from a replicated topic led by
// either broker.
func TestScenarioListenersAcrossBrokers(t *testing.T) {
	ca := testkit.NewCA(t, "cluster")
	kp := ca.Server(t, "brokers")
	c := Start(t, Options{Brokers: 2, SSLListener: true,
		Set: map[string]string{"ssl.certificate.location": kp.CertFile, "ssl.key.location": kp.KeyFile}})
	c.WaitHealthy(t, healthyTimeout)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	tlsOpt := kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	ctx := testContext(t, 60*time.Second)

	port := func(addr string) int32 {
		_, p, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(p)
		return int32(n)
	}
	for _, v := range []struct {
		name string
		seed string
		addr func(id int) string
		opts []kgo.Opt
	}{
		{"SSL", c.SSLAddr(1), c.SSLAddr, []kgo.Opt{tlsOpt}},
		{"PLAINTEXT", c.KafkaAddr(2), c.KafkaAddr, nil},
	} {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(v.seed)}, v.opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		cl.Close()
		if err != nil {
			t.Fatalf("%s metadata: %v", v.name, err)
		}
		if len(md.Brokers) != 2 {
			t.Fatalf("%s metadata lists %d brokers", v.name, len(md.Brokers))
		}
		for _, b := range md.Brokers {
			if want := port(v.addr(int(b.NodeID))); b.Port != want {
				t.Errorf("%s metadata: broker %d at port %d, want its %s port %d", v.name, b.NodeID, b.Port, v.name, want)
			}
		}
	}

	topic := topicName(t, "tls")
	createTopic(t, c, topicSpec{Name: topic, Assignment: [][]int32{{1, 2}, {2, 1}}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.SSLAddr(2)), tlsOpt, kgo.DefaultProduceTopic(topic),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 40
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce over TLS: %v", err)
		}
	}
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records over TLS: %v", got, n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch over TLS: %v", err) })
		got += fs.NumRecords()
	}
}
