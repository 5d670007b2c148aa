package handlers_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestFetchVectoredRecords fetches partitions holding hundreds of
// kilobytes (record sets the server writes by reference, from the read
// buffers), an empty partition and an unknown one, at Fetch v4, v11, v12
// and v13, with raw requests and with a franz-go consumer (which checks
// every batch's CRC), and checks that every record comes back intact.
func TestFetchVectoredRecords(t *testing.T) {
	tb := startBroker(t, nil)
	const topic = "vectored"
	const parts, perPart, valueSize = 4, 30, 10 << 10
	tb.createTopic(topic, parts, nil)

	rng := rand.New(rand.NewPCG(1, 2))
	values := make(map[int32][][]byte)
	var recs []*kgo.Record
	for p := range int32(parts - 1) { // the last partition stays empty
		for range perPart {
			v := make([]byte, valueSize)
			for i := range v {
				v[i] = byte(rng.UintN(256))
			}
			values[p] = append(values[p], v)
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: v})
		}
	}
	producer := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1<<20))
	if err := producer.ProduceSync(ctx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	topicID := tb.topicMeta(topic).TopicID

	for _, version := range []int16{4, 11, 12, 13} {
		t.Run(fmt.Sprintf("raw v%d", version), func(t *testing.T) {
			req := kmsg.NewPtrFetchRequest()
			req.SetVersion(version)
			req.MaxBytes, req.MinBytes, req.MaxWaitMillis = 50<<20, 1, 100
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = topic, topicID
			for p := range int32(parts + 1) { // one past the last: unknown
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = p, 1<<20, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
			resp := tb.send(tb.pinned(1, version), req).(*kmsg.FetchResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != parts+1 {
				t.Fatalf("response shape: %+v", resp.Topics)
			}
			for _, rp := range resp.Topics[0].Partitions {
				switch {
				case rp.Partition == parts:
					wantCode(t, "unknown partition", rp.ErrorCode, kerr.UnknownTopicOrPartition)
					if rp.RecordBatches == nil || len(rp.RecordBatches) != 0 {
						t.Errorf("unknown partition: record set %v, want empty (not null)", rp.RecordBatches)
					}
				case rp.Partition == parts-1:
					wantCode(t, "empty partition", rp.ErrorCode, errNone)
					if len(rp.RecordBatches) != 0 {
						t.Errorf("empty partition: %d record bytes", len(rp.RecordBatches))
					}
				default:
					wantCode(t, "partition", rp.ErrorCode, errNone)
					got := batchValues(t, rp.RecordBatches)
					want := values[rp.Partition]
					if len(rp.RecordBatches) < 16<<10 || len(got) == 0 || len(got) > len(want) {
						t.Fatalf("partition %d: %d record bytes, %d records", rp.Partition, len(rp.RecordBatches), len(got))
					}
					for i := range got {
						if !bytes.Equal(got[i], want[i]) {
							t.Fatalf("partition %d record %d differs", rp.Partition, i)
						}
					}
				}
			}
		})

		t.Run(fmt.Sprintf("consumer v%d", version), func(t *testing.T) {
			v := kversion.Stable()
			v.SetMaxKeyVersion(1, version)
			cl := tb.client(kgo.MaxVersions(v), kgo.ConsumeTopics(topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(256<<10))
			got := make(map[int32][][]byte)
			n := 0
			deadline := time.Now().Add(30 * time.Second)
			for n < (parts-1)*perPart {
				if time.Now().After(deadline) {
					t.Fatalf("consumed %d of %d records", n, (parts-1)*perPart)
				}
				fs := cl.PollFetches(ctx(t))
				if err := fs.Err(); err != nil {
					t.Fatal(err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					if int(r.Offset) != len(got[r.Partition]) {
						t.Fatalf("partition %d: offset %d after %d records", r.Partition, r.Offset, len(got[r.Partition]))
					}
					got[r.Partition] = append(got[r.Partition], r.Value)
					n++
				})
			}
			for p, want := range values {
				for i := range want {
					if !bytes.Equal(got[p][i], want[i]) {
						t.Fatalf("partition %d record %d differs", p, i)
					}
				}
			}
		})
	}
}

// batchValues decodes uncompressed record batches (whole ones; a trailing
// partial batch is ignored, as clients do) and returns the record values.
func batchValues(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) >= 12 {
		length := int(b[8])<<24 | int(b[9])<<16 | int(b[10])<<8 | int(b[11])
		if len(b) < 12+length {
			break
		}
		var batch kmsg.RecordBatch
		if err := batch.ReadFrom(b[:12+length]); err != nil {
			t.Fatalf("decoding a record batch: %v", err)
		}
		recs := batch.Records
		for range batch.NumRecords {
			var r kmsg.Record
			n, err := readRecord(&r, recs)
			if err != nil {
				t.Fatalf("decoding a record: %v", err)
			}
			out = append(out, r.Value)
			recs = recs[n:]
		}
		b = b[12+length:]
	}
	return out
}

// readRecord decodes the record at the start of b and returns its size.
func readRecord(r *kmsg.Record, b []byte) (int, error) {
	l, n := binary.Varint(b)
	if n <= 0 || l < 0 || len(b)-n < int(l) {
		return 0, fmt.Errorf("bad record length in %d bytes", len(b))
	}
	return n + int(l), r.ReadFrom(b[:n+int(l)])
}
