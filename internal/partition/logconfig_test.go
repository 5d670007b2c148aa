package partition_test

import (
	"testing"

	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/partition"
)

// TestLogConfigCarriesStorageTopicConfigs: the storage topic configs a
// user sets through CreateTopics or AlterConfigs reach the log, so what
// DescribeConfigs reports is what the log does.
func TestLogConfigCarriesStorageTopicConfigs(t *testing.T) {
	tc, err := config.ResolveTopicConfig(map[string]string{
		"segment.index.bytes":  "4096",
		"file.delete.delay.ms": "1234",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lc := partition.LogConfig(tc)
	if lc.SegmentIndexBytes != 4096 || lc.FileDeleteDelayMs != 1234 {
		t.Fatalf("log config: segment.index.bytes %d, file.delete.delay.ms %d; want 4096 and 1234",
			lc.SegmentIndexBytes, lc.FileDeleteDelayMs)
	}
	def := partition.LogConfig(config.DefaultTopicConfig())
	if def.SegmentIndexBytes != 10485760 || def.FileDeleteDelayMs != 60000 {
		t.Fatalf("defaults: %d, %d; want Kafka's 10485760 and 60000", def.SegmentIndexBytes, def.FileDeleteDelayMs)
	}
}
