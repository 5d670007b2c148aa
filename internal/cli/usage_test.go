package cli

import (
	"net"
	"strings"
	"sync"
	"testing"
)

// Usage errors exit 2 with one "spool: ..." line naming the problem and a
// pointer to the right --help, and never contact the cluster (the harness
// here points at a port nothing listens on, so a request would fail with
// exit 1 instead).
func TestUsageErrors(t *testing.T) {
	h := newHarness(t, []string{"127.0.0.1:1"})
	for _, tc := range []struct {
		args  []string
		msg   string // expected in the first stderr line
		usage string // the command whose --help is suggested
	}{
		{[]string{"bogus"}, `unknown command "bogus" for "spool"`, "spool"},
		{[]string{}, `missing subcommand: "spool" needs one of: `, "spool"},
		{[]string{"topic"}, `"spool topic" needs one of: alter-config, create, delete, describe, list`, "spool topic"},
		{[]string{"topic", "crate", "x"}, `unknown command "crate" for "spool topic"`, "spool topic"},
		{[]string{"topic", "create"}, "want one topic NAME, got 0 argument(s)", "spool topic create"},
		{[]string{"topic", "create", "a", "b"}, "want one topic NAME, got 2 argument(s)", "spool topic create"},
		{[]string{"topic", "create", "t", "--partitions", "0"}, "--partitions 0: must be positive", "spool topic create"},
		{[]string{"topic", "create", "t", "--partitions", "x"}, `invalid argument "x" for "-p, --partitions"`, "spool topic create"},
		{[]string{"topic", "create", "t", "--replication-factor", "-2"}, "--replication-factor -2: must be positive", "spool topic create"},
		{[]string{"topic", "create", "t", "--config", "retention.ms"}, `--config "retention.ms": want key=value`, "spool topic create"},
		{[]string{"topic", "create", "t", "--config", "a=1", "--config", "a=2"}, `--config: key "a" given twice`, "spool topic create"},
		{[]string{"topic", "list", "extra"}, "want no arguments, got 1", "spool topic list"},
		{[]string{"topic", "describe"}, "want at least one topic NAME", "spool topic describe"},
		{[]string{"topic", "delete"}, "want at least one topic NAME", "spool topic delete"},
		{[]string{"topic", "alter-config", "t"}, "nothing to change", "spool topic alter-config"},
		{[]string{"topic", "alter-config", "t", "--set", "a=1", "--delete", "a"}, `config "a" is both set and deleted`, "spool topic alter-config"},
		{[]string{"topic", "alter-config", "t", "--delete", "a=1"}, `--delete "a=1": want a config key`, "spool topic alter-config"},
		{[]string{"topic", "list", "--timeout", "0s"}, "--timeout 0s: must be positive", "spool topic list"},
		{[]string{"topic", "list", "--brokers", " , "}, "--brokers: need at least one host:port", "spool topic list"},
		{[]string{"topic", "list", "--log-level", "loud"}, `--log-level "loud"`, "spool topic list"},
		{[]string{"produce"}, "want one TOPIC", "spool produce"},
		{[]string{"produce", "t", "--nope"}, "unknown flag: --nope", "spool produce"},
		{[]string{"produce", "t", "--acks", "2"}, `--acks "2": want all, 1 or 0`, "spool produce"},
		{[]string{"produce", "t", "--compression", "brotli"}, `--compression "brotli": want none, gzip, snappy, lz4 or zstd`, "spool produce"},
		{[]string{"produce", "t", "--header", "novalue"}, `--header "novalue": want key=value`, "spool produce"},
		{[]string{"produce", "t", "--header", "=v"}, `--header "=v": want key=value`, "spool produce"},
		{[]string{"produce", "t", "--partition", "-2"}, "--partition -2: must be a partition number", "spool produce"},
		{[]string{"produce", "t", "--key-separator", ""}, "--key-separator: must not be empty", "spool produce"},
		{[]string{"produce", "t", "--max-line-bytes", "0"}, "--max-line-bytes 0: must be positive", "spool produce"},
		{[]string{"produce", "t", "--linger", "2m"}, "--linger 2m0s: must be between 0 and 1m", "spool produce"},
		{[]string{"consume", "t", "--from", "start"}, `--from "start": want beginning, end, an OFFSET`, "spool consume"},
		{[]string{"consume", "t", "--from", "-0"}, `--from "-0"`, "spool consume"},
		{[]string{"consume", "t", "--from", "@x"}, `--from "@x"`, "spool consume"},
		{[]string{"consume", "t", "--format", "yaml"}, `--format "yaml": want value, kv`, "spool consume"},
		{[]string{"consume", "t", "--format", "{{.Nope"}, "--format: template: format:1: unclosed action", "spool consume"},
		{[]string{"consume", "t", "--count", "-1"}, "--count -1: must not be negative", "spool consume"},
		{[]string{"consume", "t", "--partition", "-1"}, "--partition -1: must not be negative", "spool consume"},
		{[]string{"consume", "t", "--group", "g", "--partition", "0"}, "--partition cannot be combined with --group", "spool consume"},
		{[]string{"consume", "t", "--group", "g", "--exit"}, "--exit cannot be combined with --group", "spool consume"},
	} {
		r := h.run("", tc.args...)
		lines := strings.Split(r.stderr, "\n")
		wantHelp := "Run '" + tc.usage + " --help' for usage."
		if r.code != ExitUsage || len(lines) != 3 || !strings.HasPrefix(lines[0], "spool: ") ||
			!strings.Contains(lines[0], tc.msg) || lines[1] != wantHelp || r.stdout != "" {
			t.Errorf("spool %s: want exit 2, %q and %q; got %s", strings.Join(tc.args, " "), tc.msg, wantHelp, r)
		}
	}
}

func TestHelp(t *testing.T) {
	h := newHarness(t, []string{"127.0.0.1:1"})
	for _, args := range [][]string{
		{"--help"},
		{"topic", "--help"},
		{"topic", "create", "--help"},
		{"topic", "list", "-h"},
		{"topic", "describe", "--help"},
		{"topic", "delete", "--help"},
		{"topic", "alter-config", "--help"},
		{"produce", "--help"},
		{"consume", "--help"},
		{"help", "consume"},
	} {
		r := h.run("", args...)
		if r.code != ExitOK || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "  spool ") {
			t.Errorf("spool %s: want exit 0 and help with examples, got %s", strings.Join(args, " "), r)
		}
	}
	// Client commands show the broker default, taken from SPOOL_BROKERS.
	if out := h.mustRun("", "produce", "--help"); !strings.Contains(out, `--brokers string`) || !strings.Contains(out, `(default "127.0.0.1:1")`) {
		t.Errorf("produce --help does not show the SPOOL_BROKERS default:\n%s", out)
	}
	// Commands passed as extras are part of the tree.
	if out := h.mustRun("", "--help"); !strings.Contains(out, "extra") || !strings.Contains(out, "consume") {
		t.Errorf("root help lacks commands:\n%s", out)
	}
	if out := h.mustRun("", "extra"); out != "extra ran\n" {
		t.Errorf("extra command output %q", out)
	}
}

// An unreachable cluster is an operational failure (exit 1) reported in one
// line that names the broker address.
func TestUnreachableCluster(t *testing.T) {
	h := newHarness(t, []string{"127.0.0.1:1"})
	for _, args := range [][]string{
		{"topic", "list"},
		{"topic", "create", "t"},
		{"produce", "t"},
		{"consume", "t"},
	} {
		r := h.run("x\n", append(args, "--timeout", "5s")...)
		if r.code != ExitFailure || !strings.Contains(r.stderr, "127.0.0.1:1") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("spool %s against nothing: %s", strings.Join(args, " "), r)
		}
	}
	// --brokers overrides SPOOL_BROKERS.
	r := h.run("", "topic", "list", "--brokers", "127.0.0.1:2")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "127.0.0.1:2") {
		t.Errorf("--brokers did not override SPOOL_BROKERS: %s", r)
	}
}

// A broker that accepts connections but never answers is given up on after
// --timeout, with an error that says so and names the brokers.
func TestSilentCluster(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // hold it open, never reply
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()

	addr := ln.Addr().String()
	h := newHarness(t, []string{addr})
	for _, args := range [][]string{
		{"topic", "list"},
		{"topic", "describe", "t"},
		{"consume", "t"},
	} {
		r := h.run("", append(args, "--timeout", "200ms")...)
		if r.code != ExitFailure || !strings.Contains(r.stderr, "timed out after 200ms waiting for brokers "+addr) ||
			strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("spool %s against a silent broker: %s", strings.Join(args, " "), r)
		}
	}
}

// Main wires the process streams and the built-in extra commands (serve).
func TestMainWiring(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := Main([]string{"--help"}, strings.NewReader(""), &stdout, &stderr); code != ExitOK {
		t.Fatalf("spool --help: exit %d, stderr %q", code, stderr.String())
	}
	for _, cmd := range []string{"serve", "topic", "produce", "consume"} {
		if !strings.Contains(stdout.String(), "\n  "+cmd+" ") {
			t.Errorf("spool --help does not list %s:\n%s", cmd, stdout.String())
		}
	}
	stdout.Reset()
	if code := Main([]string{"topic", "nope"}, strings.NewReader(""), &stdout, &stderr); code != ExitUsage {
		t.Errorf("spool topic nope: exit %d, want %d", code, ExitUsage)
	}
}
