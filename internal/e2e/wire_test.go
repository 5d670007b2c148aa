package e2e

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/wire"
)

// rawConn speaks the Kafka protocol by hand: frames built with kmsg, no
// client library in between, so a test controls every byte the broker sees.
// It is a wire.Conn that fails the test on errors.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	w    *wire.Conn
}

// rawIOTimeout bounds each raw read and write, so a broker that neither
// answers nor closes fails the test instead of hanging it.
const rawIOTimeout = 15 * time.Second

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return newRawConn(t, c)
}

func newRawConn(t *testing.T, c net.Conn) *rawConn {
	return &rawConn{t: t, conn: c, w: wire.New(c, wire.Options{ClientID: "spool-e2e", MaxResponseBytes: 64 << 20})}
}

// writeBytes writes b as is.
func (c *rawConn) writeBytes(b []byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(rawIOTimeout))
	_, err := c.conn.Write(b)
	return err
}

// send writes req as one frame and returns its correlation id.
func (c *rawConn) send(req kmsg.Request) int32 {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(rawIOTimeout))
	corr, err := c.w.Send(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return corr
}

// readFrame reads one response frame and checks its correlation id.
func (c *rawConn) readFrame(corr int32) ([]byte, error) {
	c.conn.SetReadDeadline(time.Now().Add(rawIOTimeout))
	return c.w.ReadFrame(corr)
}

// roundTrip sends req and decodes the response at the request's version.
func (c *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	corr := c.send(req)
	body, err := c.readFrame(corr)
	if err != nil {
		c.t.Fatalf("reading %s v%d response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	resp := req.ResponseKind()
	if err := wire.Decode(req, resp, body); err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// expectClosed asserts that the broker closes the connection: a read ends
// with EOF or a reset, not with the deadline. Any bytes the broker sends
// first are a failure too (it must not answer a malformed request).
func (c *rawConn) expectClosed(why string) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(rawIOTimeout))
	buf := make([]byte, 512)
	n, err := c.conn.Read(buf)
	switch {
	case n > 0:
		c.t.Fatalf("%s: broker answered %d bytes instead of closing the connection", why, n)
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.t.Fatalf("%s: connection still open after %v", why, rawIOTimeout)
	case err == nil:
		c.t.Fatalf("%s: read returned nothing and no error", why)
	}
	// io.EOF or ECONNRESET: closed, as expected.
}

// checkServes proves the broker still answers a fresh connection.
func checkServes(t *testing.T, addr string) {
	t.Helper()
	c := dialRaw(t, addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "spool-e2e", "1"
	resp := c.roundTrip(req).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions on a fresh connection: error %d, %d apis", resp.ErrorCode, len(resp.ApiKeys))
	}
	c.conn.Close()
}

// testRecord is one record for encodeBatch.
type testRecord struct {
	key, value []byte
	timestamp  int64 // absolute, ms
	headers    []kmsg.Header
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeBatch builds an uncompressed magic-v2 record batch with base offset
// 0 and no producer id, the way a non-idempotent producer sends one. It is
// written here from the protocol spec, independently of the broker's own
// record package, so the two cannot share a misreading.
func encodeBatch(recs []testRecord) []byte {
	if len(recs) == 0 {
		panic("encodeBatch: no records")
	}
	base, maxTS := recs[0].timestamp, recs[0].timestamp
	for _, r := range recs {
		base, maxTS = min(base, r.timestamp), max(maxTS, r.timestamp)
	}
	var records []byte
	for i, r := range recs {
		rec := kmsg.Record{
			TimestampDelta64: r.timestamp - base,
			OffsetDelta:      int32(i),
			Key:              r.key,
			Value:            r.value,
			Headers:          r.headers,
		}
		// The length prefix counts what follows it: encode once with a
		// zero (one-byte) length to measure, then for real.
		rec.Length = int32(len(rec.AppendTo(nil)) - 1)
		records = rec.AppendTo(records)
	}
	b := make([]byte, 0, 61+len(records))
	b = binary.BigEndian.AppendUint64(b, 0)          // base offset
	b = binary.BigEndian.AppendUint32(b, 0)          // batch length, set below
	b = binary.BigEndian.AppendUint32(b, 0xffffffff) // partition leader epoch -1
	b = append(b, 2)                                 // magic
	b = binary.BigEndian.AppendUint32(b, 0)          // crc, set below
	b = binary.BigEndian.AppendUint16(b, 0)          // attributes: no codec, CreateTime
	b = binary.BigEndian.AppendUint32(b, uint32(len(recs)-1))
	b = binary.BigEndian.AppendUint64(b, uint64(base))
	b = binary.BigEndian.AppendUint64(b, uint64(maxTS))
	b = binary.BigEndian.AppendUint64(b, 0xffffffffffffffff) // producer id -1
	b = binary.BigEndian.AppendUint16(b, 0xffff)             // producer epoch -1
	b = binary.BigEndian.AppendUint32(b, 0xffffffff)         // base sequence -1
	b = binary.BigEndian.AppendUint32(b, uint32(len(recs)))
	b = append(b, records...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

// batchInfo is what a test needs from a stored batch's header.
type batchInfo struct {
	baseOffset int64
	records    int32
	codec      int8
}

// parseBatches splits fetched bytes into batch headers. A partial batch at
// the end (allowed in fetch responses) is ignored.
func parseBatches(t *testing.T, data []byte) []batchInfo {
	t.Helper()
	var out []batchInfo
	for len(data) >= 61 {
		size := 12 + int(int32(binary.BigEndian.Uint32(data[8:])))
		if size > len(data) {
			break
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(data[:size]); err != nil {
			t.Fatalf("fetched batch does not decode: %v", err)
		}
		if got := crc32.Checksum(data[21:size], castagnoli); got != uint32(rb.CRC) {
			t.Fatalf("fetched batch at offset %d: CRC %08x, computed %08x", rb.FirstOffset, uint32(rb.CRC), got)
		}
		out = append(out, batchInfo{baseOffset: rb.FirstOffset, records: rb.NumRecords, codec: int8(rb.Attributes & 0x07)})
		data = data[size:]
	}
	return out
}

// produceRequest is a Produce v9 request for one partition.
func produceRequest(topic string, partition int32, acks int16, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = acks
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// fetchRequest is a Fetch v11 request for one partition that does not wait.
func fetchRequest(topic string, partition int32, offset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(11)
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 50 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.LogStartOffset = -1
	rp.CurrentLeaderEpoch = -1
	rp.PartitionMaxBytes = 10 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// rawFetch fetches one partition from offset over a raw connection and
// fails the test on a partition error.
func rawFetch(t *testing.T, addr, topic string, partition int32, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	c := dialRaw(t, addr)
	defer c.conn.Close()
	resp := c.roundTrip(fetchRequest(topic, partition, offset)).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("raw fetch: top-level error %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("raw fetch: response has %d topics, want 1 with 1 partition", len(resp.Topics))
	}
	part := resp.Topics[0].Partitions[0]
	if part.ErrorCode != 0 {
		t.Fatalf("raw fetch of %s[%d] at %d: %v", topic, partition, offset, kerr.ErrorForCode(part.ErrorCode))
	}
	return part
}
