package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadFileSyntax(t *testing.T) {
	path := writeFile(t, `# Spool test config
! also a comment

node.id=4
log.dirs = /var/lib/spool
listeners: PLAINTEXT://0.0.0.0:9092
advertised.listeners   kafka4:9092
controller.quorum.voters=1@a:9093,\
    2@b:9093,\
    4@c:9093
log.retention.ms=3600000
num.partitions=2
num.partitions=3
http.addr
	log.level=debug
`)
	b := Default()
	if err := LoadFile(path, &b); err != nil {
		t.Fatal(err)
	}
	if b.NodeID != 4 || b.DataDir != "/var/lib/spool" || b.KafkaAddr != "0.0.0.0:9092" || b.AdvertisedKafkaAddr != "kafka4:9092" ||
		b.Voters != "1@a:9093,2@b:9093,4@c:9093" || b.TopicDefaults["retention.ms"] != "3600000" ||
		b.DefaultPartitions != 3 || b.HTTPAddr != "" || b.LogLevel != "debug" {
		t.Fatalf("loaded %+v", b)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFileErrorsNameLine(t *testing.T) {
	cases := []struct {
		name, content string
		want          error
		line          string
		mention       string
	}{
		{"unknown key", "node.id=1\n\n# comment\nnum.network.threads=3\n", ErrUnknownConfig, ":4: ", "num.network.threads"},
		{"bad value", "node.id=1\nlog.durability=always\n", ErrInvalidConfigValue, ":2: ", `log.durability: must be fsync or periodic-flush, got "always"`},
		{"missing key", "node.id=1\n=5\n", ErrSyntax, ":2: ", "missing key"},
		{"continuation reports first line", "node.id=1\ncontroller.quorum.voters=1@a:9093,\\\n  oops\n", ErrInvalidConfigValue, ":2: ", "controller.quorum.voters"},
		{"bad int", "# x\nnode.id=one\n", ErrInvalidConfigValue, ":2: ", "node.id"},
	}
	for _, c := range cases {
		path := writeFile(t, c.content)
		b := Default()
		err := LoadFile(path, &b)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, path+c.line) || !strings.Contains(msg, c.mention) {
			t.Errorf("%s: message %q should contain %q and %q", c.name, msg, path+c.line, c.mention)
		}
	}
}

func TestLoadFileMissing(t *testing.T) {
	b := Default()
	err := LoadFile(filepath.Join(t.TempDir(), "absent.properties"), &b)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want os.ErrNotExist", err)
	}
}

func TestSplitProperty(t *testing.T) {
	cases := []struct{ line, key, value string }{
		{"a=b", "a", "b"},
		{"a = b ", "a", "b"},
		{"a:b", "a", "b"},
		{"a b", "a", "b"},
		{"a =b=c", "a", "b=c"},
		{"a", "a", ""},
		{"a=", "a", ""},
		{"=b", "", "b"},
	}
	for _, c := range cases {
		k, v := splitProperty(c.line)
		if k != c.key || v != c.value {
			t.Errorf("splitProperty(%q) = %q, %q; want %q, %q", c.line, k, v, c.key, c.value)
		}
	}
	if continues(`a\\`) || !continues(`a\`) || !continues(`a\\\`) {
		t.Error("continues: escaped backslashes miscounted")
	}
}

func TestApplyEnv(t *testing.T) {
	b := Default()
	env := []string{
		"PATH=/usr/bin",
		"SPOOL_LOG_DIRS=/env/data",
		"SPOOL_LOG_RETENTION_MS=1000",
		"SPOOL_BROKERS=somewhere:9092", // a CLI client setting: not a broker property, ignored
		"SPOOL_NODE_ID=9",
		"SPOOL_NOEQUALS",
	}
	if err := ApplyEnv(env, &b); err != nil {
		t.Fatal(err)
	}
	if b.DataDir != "/env/data" || b.NodeID != 9 || b.TopicDefaults["retention.ms"] != "1000" {
		t.Fatalf("env not applied: %+v", b)
	}
	err := ApplyEnv([]string{"SPOOL_LOG_DURABILITY=sometimes"}, &b)
	if !errors.Is(err, ErrInvalidConfigValue) || !strings.Contains(err.Error(), "SPOOL_LOG_DURABILITY") || !strings.Contains(err.Error(), "log.durability") {
		t.Fatalf("bad env value: %v", err)
	}
}

// TestPrecedence checks flags > env > file > defaults, with flags simulated
// by Set calls after ApplyEnv as the serve command does.
func TestPrecedence(t *testing.T) {
	path := writeFile(t, "log.dirs=/file\nnode.id=2\nnum.partitions=4\nlog.retention.ms=111\n")
	env := []string{"SPOOL_NODE_ID=3", "SPOOL_NUM_PARTITIONS=5", "SPOOL_LOG_RETENTION_MS=222"}

	b := Default()
	if err := LoadFile(path, &b); err != nil {
		t.Fatal(err)
	}
	if err := ApplyEnv(env, &b); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"num.partitions": "6", "log.retention.ms": "333"} { // flags
		if err := b.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		key, want, why string
	}{
		{"log.level", "info", "default when nothing sets it"},
		{"log.dirs", "/file", "file over default"},
		{"node.id", "3", "env over file"},
		{"num.partitions", "6", "flag over env and file"},
		{"log.retention.ms", "333", "flag over env and file (topic default)"},
	}
	for _, c := range checks {
		if got, _ := b.Get(c.key); got != c.want {
			t.Errorf("%s: %s = %q, want %q", c.why, c.key, got, c.want)
		}
	}
}
