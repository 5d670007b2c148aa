package config

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	b := Default()
	if err := b.Validate(); err != nil {
		t.Fatalf("Default().Validate(): %v", err)
	}
	if b.NodeID != 1 || b.DataDir != "./spool-data" || b.KafkaAddr != "127.0.0.1:9092" || b.HTTPAddr != "127.0.0.1:8080" ||
		b.ControllerAddr != "127.0.0.1:9093" || b.Durability != DurabilityFsync || b.MaxRequestBytes != 100<<20 ||
		!b.AutoCreateTopics || b.DefaultPartitions != 1 || b.DefaultReplicationFactor != 1 || b.MaxConnections != 10000 ||
		b.FlushIntervalMs != 1000 || b.RetentionCheckIntervalMs != 300000 || b.CheckpointIntervalMs != 60000 || b.HWMCheckpointIntervalMs != 5000 || b.CleanerBackoffMs != 15000 ||
		b.LogLevel != "info" || b.LogFormat != "text" || b.Voters != "" || b.AdvertisedKafkaAddr != "" {
		t.Fatalf("unexpected defaults: %+v", b)
	}
}

func TestHeartbeatMustBeShorterThanSession(t *testing.T) {
	b := Default()
	if err := b.Set("broker.heartbeat.interval.ms", "4000"); err != nil {
		t.Fatal(err)
	}
	err := b.Validate()
	if err == nil || !strings.Contains(err.Error(), "broker.heartbeat.interval.ms: must be less than broker.session.timeout.ms") {
		t.Fatalf("Validate() = %v, want the heartbeat/session error", err)
	}
}

func TestDecompressedLimitFollowsMessageMaxBytes(t *testing.T) {
	b := Default()
	if err := b.Set("message.max.bytes", "100000000"); err != nil {
		t.Fatal(err)
	}
	err := b.Validate()
	if err == nil || !strings.Contains(err.Error(), "message.max.decompressed.bytes: must be >= message.max.bytes (100000000)") {
		t.Fatalf("Validate() = %v, want the decompressed limit error", err)
	}
	if err := b.Set("message.max.decompressed.bytes", "100000000"); err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
}

// brokerSetCases has good and bad values for every broker key; the test
// fails if a key is missing so new keys get validator tests.
var brokerSetCases = map[string]struct{ good, bad []string }{
	"advertised.listeners":                          {[]string{"", "kafka1:9092", "PLAINTEXT://kafka1:9092", "[::1]:9092"}, []string{"kafka1", "SSL://kafka1", "a:1,b:2", "h:99999", "A://a:1,a://b:2", "BAD NAME://h:1"}},
	"auto.create.topics.enable":                     {[]string{"true", "false", "TRUE"}, []string{"yes", ""}},
	"controller.listener":                           {[]string{"127.0.0.1:9093", "ctl:0"}, []string{"", "ctl", "ctl:x"}},
	"controller.quorum.voters":                      {[]string{"", "1@a:9093", "1@a:9093,2@b:9093, 3@c:9093"}, []string{"a:9093", "x@a:9093", "-1@a:9093", "1@a", "1@a:9093,"}},
	"default.replication.factor":                    {[]string{"1", "3", "32767"}, []string{"0", "-1", "32768", "three"}},
	"http.addr":                                     {[]string{"", "127.0.0.1:8080", ":8080"}, []string{"8080", "http://x:80"}},
	"listeners":                                     {[]string{"127.0.0.1:9092", "PLAINTEXT://127.0.0.1:9092", "plaintext://h:1", ":9092"}, []string{"", "9092", "a:1,b:2", "PLAINTEXT://a:1,PLAINTEXT://a:2", "SSL://h"}},
	"log.cleaner.backoff.ms":                        {[]string{"1", "15000"}, []string{"0", "-1", "15s"}},
	"log.dirs":                                      {[]string{"/var/lib/spool", "./d"}, []string{"", "/a,/b"}},
	"log.durability":                                {[]string{"fsync", "periodic-flush"}, []string{"x", "", "FSYNC", "periodic"}},
	"log.flush.interval.ms":                         {[]string{"1", "1000"}, []string{"0", "-1", "1s"}},
	"log.flush.offset.checkpoint.interval.ms":       {[]string{"1", "60000"}, []string{"0", "x"}},
	"replica.high.watermark.checkpoint.interval.ms": {[]string{"1", "5000"}, []string{"0", "x"}},
	"log.format":                                    {[]string{"text", "json"}, []string{"yaml", ""}},
	"log.level":                                     {[]string{"debug", "info", "warn", "error"}, []string{"trace", "INFO", ""}},
	"log.retention.check.interval.ms":               {[]string{"1", "300000"}, []string{"0", "-5"}},
	"max.connections":                               {[]string{"1", "10000"}, []string{"0", "-1", "lots"}},
	"node.id":                                       {[]string{"0", "1", "2147483647"}, []string{"-1", "2147483648", "one", ""}},
	"num.partitions":                                {[]string{"1", "64"}, []string{"0", "-1", "x"}},
	"socket.request.max.bytes":                      {[]string{"1", "104857600"}, []string{"0", "100MB"}},
	"offsets.topic.num.partitions":                  {[]string{"1", "50", "2147483647"}, []string{"0", "-1", "2147483648", "fifty"}},
	"offsets.topic.replication.factor":              {[]string{"1", "3", "32767"}, []string{"0", "-3", "32768", ""}},
	"group.min.session.timeout.ms":                  {[]string{"1", "6000"}, []string{"0", "-1", "6s"}},
	"group.max.session.timeout.ms":                  {[]string{"6000", "1800000", "2147483647"}, []string{"0", "2147483648", "30m"}},
	"group.initial.rebalance.delay.ms":              {[]string{"0", "3000"}, []string{"-1", "3s", ""}},
	"group.max.size":                                {[]string{"1", "2147483647"}, []string{"0", "-1", "2147483648"}},
	"offsets.retention.minutes":                     {[]string{"1", "10080", "2147483647"}, []string{"0", "-1", "7d"}},
	"offsets.retention.check.interval.ms":           {[]string{"1", "600000", "9223372036854775807"}, []string{"0", "-1", "10m"}},
	"offset.metadata.max.bytes":                     {[]string{"0", "4096"}, []string{"-1", "4KB"}},
	"broker.session.timeout.ms":                     {[]string{"1000", "9000"}, []string{"9", "-1", "9s"}},
	"broker.heartbeat.interval.ms":                  {[]string{"1", "2000"}, []string{"0", "2s"}},
	"replica.lag.time.max.ms":                       {[]string{"10", "30000"}, []string{"0", "30s"}},
	"replica.fetch.max.bytes":                       {[]string{"1024", "1048576"}, []string{"1023", "1MB"}},
	"replica.fetch.response.max.bytes":              {[]string{"1024", "10485760"}, []string{"0", "10MB"}},
	"replica.fetch.wait.max.ms":                     {[]string{"0", "500"}, []string{"-1", "0.5s"}},
	"auto.leader.rebalance.enable":                  {[]string{"true", "false"}, []string{"on", ""}},
	"leader.imbalance.check.interval.seconds":       {[]string{"1", "300"}, []string{"0", "5m"}},
	"controlled.shutdown.enable":                    {[]string{"true", "false"}, []string{"1x", ""}},
	"log.flush.syncfs":                              {[]string{"true", "false"}, []string{"sometimes", ""}},
	"controlled.shutdown.timeout.ms":                {[]string{"0", "30000"}, []string{"-1", "30s"}},
	// queued.max.request.bytes must also cover socket.request.max.bytes (100 MiB by default).
	"queued.max.request.bytes":                                    {[]string{"104857600", "536870912"}, []string{"0", "104857599", "512MB"}},
	"connections.first.request.timeout.ms":                        {[]string{"0", "10000"}, []string{"-1", "10s"}},
	"sasl.authentication.timeout.ms":                              {[]string{"0", "10000"}, []string{"-1", "10s"}},
	"connection.failed.authentication.delay.ms":                   {[]string{"0", "1000"}, []string{"-1", "1s"}},
	"sasl.enabled.mechanisms":                                     {[]string{"", "PLAIN", "SCRAM-SHA-256, SCRAM-SHA-512,PLAIN"}, []string{"GSSAPI", "PLAIN,OAUTHBEARER"}},
	"connections.max.idle.ms":                                     {[]string{"0", "600000"}, []string{"-1", "10m"}},
	"socket.request.read.timeout.ms":                              {[]string{"0", "60000"}, []string{"-1", "1m"}},
	"socket.response.write.timeout.ms":                            {[]string{"0", "60000"}, []string{"-1", "1m"}},
	"fetch.max.bytes":                                             {[]string{"1024", "57671680"}, []string{"1023", "55MB"}},
	"fetch.memory.max.bytes":                                      {[]string{"1048576", "1073741824"}, []string{"1048575", "1GB"}},
	"fetch.wait.max.ms":                                           {[]string{"0", "30000"}, []string{"-1", "30s"}},
	"produce.timeout.max.ms":                                      {[]string{"1", "120000"}, []string{"0", "2m"}},
	"message.max.decompressed.bytes":                              {[]string{"1048588", "67108864", "9223372036854775807"}, []string{"1023", "-1", "64MB"}},
	"listener.security.protocol.map":                              {[]string{"PLAINTEXT:PLAINTEXT,SSL:SSL", "internal:ssl,PLAINTEXT:PLAINTEXT"}, []string{"", "PLAINTEXT", "A:TLS", "A:SSL,a:PLAINTEXT"}},
	"ssl.certificate.location":                                    {[]string{"", "/etc/spool/cert.pem"}, nil},
	"ssl.key.location":                                            {[]string{"", "/etc/spool/key.pem"}, nil},
	"ssl.ca.location":                                             {[]string{"", "/etc/spool/ca.pem"}, nil},
	"ssl.client.auth":                                             {[]string{"none", "requested", "required"}, []string{"", "true", "REQUIRED"}},
	"ssl.handshake.timeout.ms":                                    {[]string{"1", "10000"}, []string{"0", "-1", "10s"}},
	"transaction.state.log.num.partitions":                        {[]string{"1", "50"}, []string{"0", "x"}},
	"transaction.state.log.replication.factor":                    {[]string{"1", "3"}, []string{"0", "x"}},
	"transaction.max.timeout.ms":                                  {[]string{"1", "900000"}, []string{"0", "15m"}},
	"transaction.abort.timed.out.transaction.cleanup.interval.ms": {[]string{"1", "10000"}, []string{"0", "10s"}},
	"transaction.coordinator.max.ids":                             {[]string{"1", "100000"}, []string{"0", "x"}},
	"authorizer.class.name":                                       {[]string{"", "spool", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"}, []string{"com.example.Mine"}},
	"super.users":                                                 {[]string{"", "User:admin", "User:admin; User:ops"}, []string{"admin", "User:a;bob"}},
	"allow.everyone.if.no.acl.found":                              {[]string{"true", "false"}, []string{"maybe"}},
	"authorizer.max.acls":                                         {[]string{"1", "100000"}, []string{"0", "many"}},
}

func TestBrokerSetValidators(t *testing.T) {
	for _, k := range brokerKeys {
		tc, ok := brokerSetCases[k.name]
		if !ok {
			t.Errorf("%s: no test cases", k.name)
			continue
		}
		for _, v := range tc.good {
			b := Default()
			b.AdvertisedKafkaAddr = "kafka1:9092" // keep listeners=:9092 valid
			if err := b.Set(k.name, v); err != nil {
				t.Errorf("Set(%s, %q): %v", k.name, v, err)
				continue
			}
			if err := b.Validate(); err != nil {
				t.Errorf("Set(%s, %q) then Validate: %v", k.name, v, err)
			}
		}
		for _, v := range tc.bad {
			b := Default()
			before := b
			err := b.Set(k.name, v)
			if !errors.Is(err, ErrInvalidConfigValue) {
				t.Errorf("Set(%s, %q): got %v, want ErrInvalidConfigValue", k.name, v, err)
				continue
			}
			if !strings.HasPrefix(err.Error(), k.name+": ") {
				t.Errorf("Set(%s, %q): message %q should start with the key", k.name, v, err)
			}
			if got, _ := b.Get(k.name); got != mustGet(t, &before, k.name) {
				t.Errorf("Set(%s, %q) failed but changed the value to %q", k.name, v, got)
			}
		}
	}
}

func mustGet(t *testing.T, b *Broker, key string) string {
	t.Helper()
	v, ok := b.Get(key)
	if !ok {
		t.Fatalf("Get(%q): unknown", key)
	}
	return v
}

func TestSetStoresTypedValues(t *testing.T) {
	b := Default()
	for k, v := range map[string]string{
		"node.id": "7", "log.dirs": "/data", "listeners": "PLAINTEXT://0.0.0.0:9092", "advertised.listeners": "PLAINTEXT://kafka7:9092",
		"http.addr": "", "auto.create.topics.enable": "false", "num.partitions": "6", "default.replication.factor": "3",
		"socket.request.max.bytes": "1048576", "max.connections": "50", "log.durability": "periodic-flush", "log.flush.interval.ms": "250",
	} {
		if err := b.Set(k, v); err != nil {
			t.Fatalf("Set(%s, %q): %v", k, v, err)
		}
	}
	if b.NodeID != 7 || b.DataDir != "/data" || b.KafkaAddr != "0.0.0.0:9092" || b.AdvertisedKafkaAddr != "kafka7:9092" ||
		b.HTTPAddr != "" || b.AutoCreateTopics || b.DefaultPartitions != 6 || b.DefaultReplicationFactor != 3 ||
		b.MaxRequestBytes != 1<<20 || b.MaxConnections != 50 || b.Durability != DurabilityPeriodicFlush || b.FlushIntervalMs != 250 {
		t.Fatalf("fields not set: %+v", b)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
}

// The group coordinator's keys default to Kafka's values and land in
// their fields.
func TestGroupKeys(t *testing.T) {
	b := Default()
	for key, want := range map[string]string{
		"offsets.topic.num.partitions":        "50",
		"offsets.topic.replication.factor":    "3",
		"group.min.session.timeout.ms":        "6000",
		"group.max.session.timeout.ms":        "1800000",
		"group.initial.rebalance.delay.ms":    "3000",
		"group.max.size":                      "2147483647",
		"offsets.retention.minutes":           "10080",
		"offsets.retention.check.interval.ms": "600000",
		"offset.metadata.max.bytes":           "4096",
	} {
		if got := mustGet(t, &b, key); got != want {
			t.Errorf("default %s = %s, want %s", key, got, want)
		}
	}
	for k, v := range map[string]string{
		"offsets.topic.num.partitions": "3", "offsets.topic.replication.factor": "1",
		"group.min.session.timeout.ms": "100", "group.max.session.timeout.ms": "60000",
		"group.initial.rebalance.delay.ms": "0", "group.max.size": "10", "offsets.retention.minutes": "60",
		"offsets.retention.check.interval.ms": "1000", "offset.metadata.max.bytes": "16",
	} {
		if err := b.Set(k, v); err != nil {
			t.Fatalf("Set(%s, %q): %v", k, v, err)
		}
	}
	if b.OffsetsTopicNumPartitions != 3 || b.OffsetsTopicReplicationFactor != 1 || b.GroupMinSessionTimeoutMs != 100 ||
		b.GroupMaxSessionTimeoutMs != 60000 || b.GroupInitialRebalanceDelayMs != 0 || b.GroupMaxSize != 10 ||
		b.OffsetsRetentionMinutes != 60 || b.OffsetsRetentionCheckIntervalMs != 1000 || b.OffsetMetadataMaxBytes != 16 {
		t.Fatalf("group fields not set: %+v", b)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}

	// Each bound is valid alone; together they must leave a range.
	b = Default()
	if err := b.Set("group.max.session.timeout.ms", "5000"); err != nil {
		t.Fatalf("Set alone: %v", err)
	}
	err := b.Validate()
	if !errors.Is(err, ErrInvalidConfigValue) || err.Error() != "group.max.session.timeout.ms: must be >= group.min.session.timeout.ms (6000), got 5000" {
		t.Fatalf("max below min: %v", err)
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		unit time.Duration
		want time.Duration
	}{
		{0, time.Minute, 0},
		{10080, time.Minute, 7 * 24 * time.Hour},
		{600000, time.Millisecond, 10 * time.Minute},
		{-5, time.Second, -5 * time.Second},
		// offsets.retention.minutes=MaxInt32 overflows int64 nanoseconds:
		// it saturates to "forever" instead of wrapping negative.
		{math.MaxInt32, time.Minute, math.MaxInt64},
		{math.MaxInt64, time.Millisecond, math.MaxInt64},
		{math.MinInt64, time.Millisecond, math.MinInt64},
		{int64(math.MaxInt64 / time.Minute), time.Minute, time.Duration(math.MaxInt64/time.Minute) * time.Minute},
	} {
		if got := Duration(tc.n, tc.unit); got != tc.want {
			t.Errorf("Duration(%d, %v) = %v, want %v", tc.n, tc.unit, got, tc.want)
		}
	}
}

func TestSetTopicDefaults(t *testing.T) {
	b := Default()
	if err := b.Set("log.retention.ms", "3600000"); err != nil {
		t.Fatal(err)
	}
	if err := b.Set("message.max.bytes", "2097152"); err != nil {
		t.Fatal(err)
	}
	if err := b.Set("min.insync.replicas", "2"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"retention.ms": "3600000", "max.message.bytes": "2097152", "min.insync.replicas": "2"}
	if len(b.TopicDefaults) != len(want) {
		t.Fatalf("TopicDefaults = %v, want %v", b.TopicDefaults, want)
	}
	for k, v := range want {
		if b.TopicDefaults[k] != v {
			t.Errorf("TopicDefaults[%s] = %q, want %q", k, b.TopicDefaults[k], v)
		}
	}
	if v, _ := b.Get("log.retention.ms"); v != "3600000" {
		t.Errorf("Get(log.retention.ms) = %q", v)
	}
	if v, _ := b.Get("log.segment.bytes"); v != "1073741824" {
		t.Errorf("Get(log.segment.bytes) unset = %q, want Kafka default", v)
	}

	err := b.Set("log.retention.ms", "-2")
	if !errors.Is(err, ErrInvalidConfigValue) || !strings.HasPrefix(err.Error(), "log.retention.ms: ") {
		t.Fatalf("bad broker topic default: %v", err)
	}
	if b.TopicDefaults["retention.ms"] != "3600000" {
		t.Fatal("rejected value was stored")
	}
	// The topic-level name is not a broker property.
	if err := b.Set("retention.ms", "1"); !errors.Is(err, ErrUnknownConfig) {
		t.Fatalf("Set(retention.ms): %v, want ErrUnknownConfig", err)
	}
	tc, err := ResolveTopicConfig(nil, b.TopicDefaults)
	if err != nil || tc.RetentionMs != 3600000 || tc.MaxMessageBytes != 2097152 || tc.MinInsyncReplicas != 2 {
		t.Fatalf("resolve with broker defaults: %+v, %v", tc, err)
	}
}

func TestSetUnknown(t *testing.T) {
	b := Default()
	err := b.Set("num.network.threads", "3")
	if !errors.Is(err, ErrUnknownConfig) || !strings.Contains(err.Error(), "num.network.threads") {
		t.Fatalf("got %v", err)
	}
	if _, ok := b.Get("num.network.threads"); ok {
		t.Fatal("Get of unknown key reported ok")
	}
}

func TestValidateMessages(t *testing.T) {
	b := Default()
	b.Durability = "x"
	err := b.Validate()
	if !errors.Is(err, ErrInvalidConfigValue) || err.Error() != `log.durability: must be fsync or periodic-flush, got "x"` {
		t.Fatalf("got %q", err)
	}

	// Every problem is reported, not just the first.
	b = Default()
	b.NodeID = -1
	b.LogLevel = "loud"
	b.DataDir = ""
	err = b.Validate()
	for _, key := range []string{"node.id", "log.level", "log.dirs"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("joined error %q does not mention %s", err, key)
		}
	}

	// Invalid TopicDefaults set directly on the struct.
	b = Default()
	b.TopicDefaults = map[string]string{"segment.ms": "0", "bogus": "1"}
	err = b.Validate()
	if !errors.Is(err, ErrInvalidConfigValue) || !errors.Is(err, ErrUnknownConfig) ||
		!strings.Contains(err.Error(), "log.roll.ms") || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("TopicDefaults errors: %v", err)
	}
}

func TestValidateAdvertised(t *testing.T) {
	cases := []struct {
		listen, advertised string
		ok                 bool
	}{
		{"127.0.0.1:9092", "", true},
		{"127.0.0.1:0", "", true},
		{"0.0.0.0:9092", "", false},
		{":9092", "", false},
		{"[::]:9092", "", false},
		{"0.0.0.0:9092", "kafka1:9092", true},
		{"0.0.0.0:9092", "0.0.0.0:9092", false},
		{"127.0.0.1:9092", ":9092", false},
	}
	for _, c := range cases {
		b := Default()
		b.KafkaAddr, b.AdvertisedKafkaAddr = c.listen, c.advertised
		err := b.Validate()
		if (err == nil) != c.ok {
			t.Errorf("listeners=%q advertised=%q: err=%v, want ok=%v", c.listen, c.advertised, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "advertised.listeners") {
			t.Errorf("error %q should ask for advertised.listeners", err)
		}
	}
}

func TestProperties(t *testing.T) {
	b := Default()
	if err := b.Set("node.id", "3"); err != nil {
		t.Fatal(err)
	}
	if err := b.Set("log.retention.ms", "1000"); err != nil {
		t.Fatal(err)
	}
	props := b.Properties()
	by := map[string]Property{}
	for i, p := range props {
		if i > 0 && props[i-1].Key >= p.Key {
			t.Fatalf("not sorted at %s", p.Key)
		}
		if p.Doc == "" || p.Type == "" || !p.ReadOnly {
			t.Errorf("%s: incomplete %+v", p.Key, p)
		}
		by[p.Key] = p
	}
	if p := by["node.id"]; p.Value != "3" || p.IsDefault {
		t.Errorf("node.id: %+v", p)
	}
	if p := by["log.dirs"]; p.Value != "./spool-data" || !p.IsDefault {
		t.Errorf("log.dirs: %+v", p)
	}
	if p := by["log.retention.ms"]; p.Value != "1000" || p.IsDefault {
		t.Errorf("log.retention.ms: %+v", p)
	}
	if p := by["log.segment.bytes"]; p.Value != "1073741824" || !p.IsDefault {
		t.Errorf("log.segment.bytes: %+v", p)
	}
	// Every property listed can be read back and set to its own value.
	for _, p := range props {
		if v, ok := b.Get(p.Key); !ok || v != p.Value {
			t.Errorf("Get(%s) = %q, %v; Properties says %q", p.Key, v, ok, p.Value)
		}
		c := Default()
		if err := c.Set(p.Key, p.Value); err != nil {
			t.Errorf("Set(%s, own value %q): %v", p.Key, p.Value, err)
		}
	}
}

func TestKeysEnvNamesUnique(t *testing.T) {
	seen := map[string]string{}
	for _, k := range Keys() {
		if other, dup := seen[k.Env]; dup {
			t.Errorf("%s and %s share env var %s", k.Key, other, k.Env)
		}
		seen[k.Env] = k.Key
	}
	if EnvName("log.dirs") != "SPOOL_LOG_DIRS" || EnvName("node.id") != "SPOOL_NODE_ID" {
		t.Fatalf("EnvName: %s %s", EnvName("log.dirs"), EnvName("node.id"))
	}
}
