package server

import (
	"encoding/binary"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceFrame encodes a Produce v9 request (header and body, without the
// size prefix) with parts partitions of batchBytes each.
func produceFrame(parts, batchBytes int) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, 30000
	t := kmsg.NewProduceRequestTopic()
	t.Topic = "bench"
	for i := range parts {
		p := kmsg.NewProduceRequestTopicPartition()
		p.Partition, p.Records = int32(i), make([]byte, batchBytes)
		t.Partitions = append(t.Partitions, p)
	}
	req.Topics = append(req.Topics, t)
	var frame []byte
	frame = binary.BigEndian.AppendUint16(frame, uint16(req.Key()))
	frame = binary.BigEndian.AppendUint16(frame, uint16(req.GetVersion()))
	frame = binary.BigEndian.AppendUint32(frame, 1) // correlation id
	frame = binary.BigEndian.AppendUint16(frame, 5) // client id length
	frame = append(frame, "bench"...)
	frame = append(frame, 0) // header tags (flexible)
	return req.AppendTo(frame)
}

// BenchmarkDecodeProduce decodes a 1 MiB Produce request (8 partitions of
// 128 KiB): header parsing plus kmsg decoding, which aliases the record
// bytes instead of copying them, so the cost should not grow with size.
func BenchmarkDecodeProduce(b *testing.B) {
	s := New(Config{}, echoHandler{}, slog.New(slog.DiscardHandler), NewMetrics(prometheus.NewRegistry()))
	frame := produceFrame(8, 128<<10)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := s.decode(frame)
		if err != nil {
			b.Fatal(err)
		}
		if got := len(r.req.(*kmsg.ProduceRequest).Topics[0].Partitions); got != 8 {
			b.Fatalf("%d partitions decoded", got)
		}
	}
}
