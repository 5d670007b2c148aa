// Package bench measures a Kafka-compatible cluster the way its users do
// (kafka-producer-perf-test, kafka-consumer-perf-test, the OpenMessaging
// Benchmark), and measures the machine's own limits to compare against.
//
// It is a library: each benchmark takes an options struct and returns a
// Result; `spool bench` (internal/cli) only maps flags onto the options and
// prints. It talks to the cluster through franz-go's kgo like any client, so
// it works against Spool, Apache Kafka or anything else speaking the protocol.
//
//   - RunProduce: N producer clients share one send schedule. With a target
//     rate the schedule is open-loop: each record has an intended send time
//     and its latency is measured from that time, so a stall in the broker
//     shows up in the percentiles instead of silently lowering the send rate
//     (coordinated omission; see schedule).
//   - RunConsume: direct partition assignment or a consumer group, from the
//     start or the tail.
//   - RunE2E: both at once; each value starts with a 16-byte stamp (run id,
//     intended send time) and the consumers report send-to-receipt latency.
//   - RunBaseline: sequential write+fsync bandwidth in a directory and
//     loopback TCP bandwidth and round trip, bounded and self-cleaning.
//
// Latencies go into a log-linear histogram (Histogram) with under 1%
// relative error and no configured range. Throughput is records/s and MB/s,
// where MB is 2^20 bytes of keys plus values, as the Kafka tools count it.
package bench
