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
//	harness_test.go     TestMain (builds the binary, checks for leaked
//	                    goroutines), in-process brokers, clients, consume helpers
//	process_test.go     the spool binary as a subprocess (start, SIGKILL, SIGTERM)
//	wire_test.go        raw protocol frames and an independent record-batch codec
//	produce_test.go     keyed produce/consume, codecs, max.message.bytes, acks
//	fetch_test.go       long polling, ListOffsets, consuming by offset/time,
//	                    LogAppendTime
//	concurrency_test.go producers and a tailing consumer at once
//	admin_test.go       auto-create and the admin APIs through kadm
//	segments_test.go    segment rolls, clean restarts, periodic-flush mode
//	retention_test.go   time and size retention
//	kcat_test.go        librdkafka interoperability through kcat
//	clients_test.go     IBM/sarama and segmentio/kafka-go
//	crash_test.go       SIGKILL/SIGTERM restarts, torn segment tails, metadata
//	badinput_test.go    malformed frames and invalid requests over raw TCP
//	disk_test.go        a full disk through an error-injecting filesystem
//	ops_test.go         operator mistakes (data dir in use, wrong node id, port
//	                    taken), max.connections, pipelining, shutdown
//	http_test.go        /livez, /readyz, /metrics
//
// Subprocess tests are used where a broker must die for real (SIGKILL) and
// where a broker bug would otherwise crash the test binary itself (acks=0,
// startup failures), so one bug fails one test.
package e2e
