// Package e2e holds Spool's end-to-end tests: a real broker (in-process via
// internal/broker, or the built `spool` binary as a subprocess) driven over
// real TCP by real Kafka clients — franz-go (kgo/kadm), librdkafka (kcat),
// IBM/sarama and segmentio/kafka-go — plus hand-built protocol frames for
// input no well-behaved client would send.
//
// Every test asserts what a user of the broker sees: records come back
// byte-identical and exactly once, acknowledged writes survive a SIGKILL,
// bad input gets a Kafka error code or a closed connection and never takes
// the broker down. The package has no non-test code; this file only
// documents it.
//
// Layout:
//
//	harness_test.go   in-process brokers, clients, consume helpers, TestMain
//	process_test.go   the spool binary as a subprocess (start, SIGKILL, SIGTERM)
//	wire_test.go      raw protocol frames and a record-batch encoder
//	produce_test.go   keyed produce/consume, codecs, max.message.bytes, acks
//	fetch_test.go     long polling, ListOffsets and consuming by offset/time
//	admin_test.go     auto-create and the admin APIs through kadm
//	kcat_test.go      librdkafka interoperability through kcat
//	crash_test.go     SIGKILL/SIGTERM restarts and torn segment tails
//	badinput_test.go  malformed frames and invalid requests over raw TCP
//	disk_test.go      a full disk through an error-injecting filesystem
//	http_test.go      /livez, /readyz, /metrics
//	clients_test.go   sarama and kafka-go
package e2e
