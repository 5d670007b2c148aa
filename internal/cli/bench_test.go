package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestBenchCLI(t *testing.T) {
	h := newHarness(t, testCluster(t))
	run := func(args ...string) result {
		var stdout, stderr lockedBuffer
		env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
			Getenv: func(k string) string {
				if k == brokersEnv {
					return strings.Join(h.brokers, ",")
				}
				return ""
			}}
		code := Run(t.Context(), env, args, []func(*Env) *cobra.Command{newBenchCmd}...)
		return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	}
	r := run("bench", "produce", "--records", "500", "--record-size", "64", "--partitions", "2", "--json", "--topic", "clibench")
	if r.code != 0 {
		t.Fatal(r)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err, r)
	}
	if res["produce"].(map[string]any)["records"].(float64) != 500 {
		t.Fatal(r)
	}
	t.Log(r.stdout)
	r = run("bench", "consume", "--topic", "clibench", "--consumers", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "500 records") {
		t.Fatal(r)
	}
	t.Log(r.stdout)
	r = run("bench", "e2e", "--topic", "clibench", "--records", "300", "--rate", "3000", "--acks", "1", "--progress", "50ms")
	if r.code != 0 || !strings.Contains(r.stdout, "e2e ") {
		t.Fatal(r)
	}
	t.Log(r.stdout, r.stderr)
	r = run("bench", "produce", "--keys", "bogus")
	if r.code != 2 {
		t.Fatal(r)
	}
	t.Log(r.stderr)
	r = run("bench", "produce", "--acks", "1", "--idempotent")
	if r.code != 2 {
		t.Fatal(r)
	}
	t.Log(r.stderr)
	r = run("bench", "baseline", "--dir", t.TempDir(), "--disk-bytes", "1MiB", "--tcp-duration", "100ms")
	if r.code != 0 {
		t.Fatal(r)
	}
	t.Log(r.stdout, r.stderr)
	r = run("bench", "baseline")
	if r.code != 2 {
		t.Fatal(r)
	}
	r = run("bench", "baseline", "--dir", ".", "--disk-bytes", "12x")
	if r.code != 2 {
		t.Fatal(r)
	}
	t.Log(r.stderr)
	r = run("bench")
	if r.code != 2 {
		t.Fatal(r)
	}
}
