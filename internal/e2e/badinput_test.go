package e2e

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/broker"
	"github.com/spool-mq/spool/internal/config"
)

// TestBadInput sends what no well-behaved client sends, over raw TCP. A
// malformed frame closes that connection (and only that one); a well-formed
// request with bad content gets a Kafka error code.
func TestBadInput(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	addr := b.KafkaAddr()
	topic := topicName(t, "bad")
	createTopic(t, ctx, newAdmin(t, addr), topic, 1, nil)

	// A connection opened before the bad ones must keep working.
	bystander := dialRaw(t, addr)
	bystanderWorks := func(t *testing.T) {
		t.Helper()
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(9)
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp := bystander.roundTrip(req).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("bystander connection: metadata for %q failed", topic)
		}
	}

	header := func(key, version int16) []byte {
		h := binary.BigEndian.AppendUint16(nil, uint16(key))
		h = binary.BigEndian.AppendUint16(h, uint16(version))
		h = binary.BigEndian.AppendUint32(h, 1) // correlation id
		h = binary.BigEndian.AppendUint16(h, 3) // client id length
		return append(h, "bad"...)
	}
	frame := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}

	closes := []struct {
		name string
		send func(c *rawConn) error
	}{
		{"frame larger than socket.request.max.bytes", func(c *rawConn) error {
			// 200 MiB announced; the broker must not wait for (or
			// allocate) the body.
			return c.writeBytes(append(binary.BigEndian.AppendUint32(nil, 200<<20), header(3, 9)...))
		}},
		{"negative frame size", func(c *rawConn) error {
			return c.writeBytes(binary.BigEndian.AppendUint32(nil, 0xfffffff0))
		}},
		{"frame cut off by the client", func(c *rawConn) error {
			full := frame(append(header(3, 9), make([]byte, 100)...))
			if err := c.writeBytes(full[:40]); err != nil {
				return err
			}
			return c.conn.(interface{ CloseWrite() error }).CloseWrite()
		}},
		{"frame shorter than a header", func(c *rawConn) error {
			return c.writeBytes(frame([]byte{0, 3, 0}))
		}},
		{"garbage header", func(c *rawConn) error {
			return c.writeBytes(frame([]byte("\xde\xad\xbe\xef this is not kafka at all \x00\x01")))
		}},
		{"client id longer than the frame", func(c *rawConn) error {
			h := header(18, 3)
			binary.BigEndian.PutUint16(h[8:], 5000)
			return c.writeBytes(frame(h))
		}},
		{"truncated body", func(c *rawConn) error {
			body := produceRequest(topic, 0, -1, encodeBatch([]testRecord{{value: []byte("v"), timestamp: 1}})).AppendTo(nil)
			h := append(header(0, 9), 0) // flexible header: empty tags
			return c.writeBytes(frame(append(h, body[:len(body)/2]...)))
		}},
		{"unknown api key 999", func(c *rawConn) error {
			return c.writeBytes(frame(header(999, 0)))
		}},
		{"unsupported produce version 2", func(c *rawConn) error {
			return c.writeBytes(frame(append(header(0, 2), make([]byte, 20)...)))
		}},
	}
	for _, tc := range closes {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			if err := tc.send(c); err != nil {
				t.Fatalf("sending: %v", err)
			}
			c.expectClosed(tc.name)
			checkServes(t, addr)
			bystanderWorks(t)
		})
	}

	t.Run("ApiVersions v99", func(t *testing.T) {
		c := dialRaw(t, addr)
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(99) // encodes like the newest version we know
		corr := c.send(req)
		body, err := c.readFrame(corr)
		if err != nil {
			t.Fatalf("no answer to ApiVersions v99: %v", err)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(0)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("answer to ApiVersions v99 is not a v0 response: %v", err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Errorf("ApiVersions v99: error %v, want UNSUPPORTED_VERSION", kerr.ErrorForCode(resp.ErrorCode))
		}
		found := false
		for _, k := range resp.ApiKeys {
			if k.ApiKey == 18 {
				found = k.MaxVersion >= 3 && k.MinVersion == 0
			}
		}
		if !found {
			t.Errorf("ApiVersions v99 answer does not list ApiVersions 0..3+: %+v", resp.ApiKeys)
		}
		// The client can now downgrade on the same connection.
		ok := kmsg.NewPtrApiVersionsRequest()
		ok.SetVersion(3)
		ok.ClientSoftwareName, ok.ClientSoftwareVersion = "e2e", "1"
		if r := c.roundTrip(ok).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
			t.Errorf("ApiVersions v3 after v99: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	})

	t.Run("produce with a bad CRC", func(t *testing.T) {
		c := dialRaw(t, addr)
		batch := encodeBatch([]testRecord{{key: []byte("k"), value: []byte("a value to corrupt"), timestamp: 1700000000000}})
		batch[len(batch)-3] ^= 0xff // inside the record, covered by the CRC
		resp := c.roundTrip(produceRequest(topic, 0, -1, batch)).(*kmsg.ProduceResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.CorruptMessage.Code {
			t.Fatalf("produce with a bad CRC: %v, want CORRUPT_MESSAGE", kerr.ErrorForCode(code))
		}
		// Nothing was stored; a good batch on the same connection works.
		good := encodeBatch([]testRecord{{value: []byte("good"), timestamp: 1700000000000}})
		resp = c.roundTrip(produceRequest(topic, 0, -1, good)).(*kmsg.ProduceResponse)
		if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 0 {
			t.Fatalf("good produce after a corrupt one: error %v, offset %d; want offset 0", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
		}
	})

	t.Run("produce with bad arguments", func(t *testing.T) {
		c := dialRaw(t, addr)
		batch := func() []byte { return encodeBatch([]testRecord{{value: []byte("x"), timestamp: 1700000000000}}) }
		for _, tc := range []struct {
			name      string
			topic     string
			partition int32
			acks      int16
			want      *kerr.Error
		}{
			{"partition beyond the topic", topic, 7, -1, kerr.UnknownTopicOrPartition},
			{"negative partition", topic, -1, -1, kerr.UnknownTopicOrPartition},
			{"acks=2", topic, 0, 2, kerr.InvalidRequiredAcks},
		} {
			resp := c.roundTrip(produceRequest(tc.topic, tc.partition, tc.acks, batch())).(*kmsg.ProduceResponse)
			if code := resp.Topics[0].Partitions[0].ErrorCode; code != tc.want.Code {
				t.Errorf("produce, %s: %v, want %v", tc.name, kerr.ErrorForCode(code), tc.want)
			}
		}
	})

	t.Run("create topics with bad arguments", func(t *testing.T) {
		c := dialRaw(t, addr)
		var rejected []string
		for _, tc := range []struct {
			name       string
			partitions int32
			want       *kerr.Error
		}{
			{"bad/name", 1, kerr.InvalidTopicException},
			{"spaces are not allowed", 1, kerr.InvalidTopicException},
			{".", 1, kerr.InvalidTopicException},
			{strings.Repeat("x", 250), 1, kerr.InvalidTopicException},
			{"", 1, kerr.InvalidTopicException},
			{topicName(t, "zero"), 0, kerr.InvalidPartitions},
			{topicName(t, "negative"), -5, kerr.InvalidPartitions},
		} {
			rejected = append(rejected, tc.name)
			req := kmsg.NewPtrCreateTopicsRequest()
			req.SetVersion(5)
			req.TimeoutMillis = 10000
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = tc.name, tc.partitions, 1
			req.Topics = append(req.Topics, rt)
			resp := c.roundTrip(req).(*kmsg.CreateTopicsResponse)
			if len(resp.Topics) != 1 {
				t.Fatalf("create %q: %d topics in the response", tc.name, len(resp.Topics))
			}
			if code := resp.Topics[0].ErrorCode; code != tc.want.Code {
				t.Errorf("create %.30q with %d partitions: %v, want %v", tc.name, tc.partitions, kerr.ErrorForCode(code), tc.want)
			}
		}
		topics := listTopics(t, addr)
		for _, name := range rejected {
			if _, ok := topics[name]; ok {
				t.Errorf("the rejected create of %.30q left a topic behind", name)
			}
		}
	})
	checkServes(t, addr)
}

// TestUnwritableDataDir: a data directory that cannot be created makes
// broker.Start fail with an error naming it. (Tests may run as root, which
// ignores permission bits; a path under a regular file fails for anyone.)
func TestUnwritableDataDir(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(file, "data")
	cfg.KafkaAddr, cfg.HTTPAddr, cfg.ControllerAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	b, err := broker.Start(t.Context(), cfg, broker.Options{Logger: testLogger(t, "broker")})
	if err == nil {
		b.Close()
		t.Fatalf("broker.Start with data dir %s succeeded", cfg.DataDir)
	}
	if !strings.Contains(err.Error(), cfg.DataDir) {
		t.Fatalf("broker.Start error does not name the data dir %s: %v", cfg.DataDir, err)
	}
	if os.Geteuid() != 0 {
		// Not root: permission bits are honoured too.
		ro := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		cfg.DataDir = ro
		b, err := broker.Start(t.Context(), cfg, broker.Options{Logger: testLogger(t, "broker")})
		if err == nil {
			b.Close()
			t.Fatalf("broker.Start with read-only data dir %s succeeded", ro)
		}
	}
}
