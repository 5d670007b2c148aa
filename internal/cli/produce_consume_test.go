package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// consumed is one line of `consume --format json`.
type consumed struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
	Timestamp int64   `json:"timestamp"`
	Key       *string `json:"key"`
	Value     *string `json:"value"`
	Headers   []struct {
		Key   string  `json:"key"`
		Value *string `json:"value"`
	} `json:"headers"`
}

// consumeJSON reads a topic to its current end and decodes every record.
func (h *harness) consumeJSON(topic string, extra ...string) []consumed {
	h.t.Helper()
	out := h.mustRun("", append([]string{"consume", topic, "--exit", "--format", "json"}, extra...)...)
	var recs []consumed
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var c consumed
		if err := dec.Decode(&c); err == io.EOF {
			return recs
		} else if err != nil {
			h.t.Fatalf("decoding consume output: %v\n%s", err, out)
		}
		recs = append(recs, c)
	}
}

func TestProduceConsumeFormats(t *testing.T) {
	h := newHarness(t, testCluster(t))
	topic := topicName(t, "fmt")
	h.createTopic(topic, 4)

	r := h.run("alice:one\nbob:two\nalice:three\ncarol:a:b\n", "produce", topic,
		"--key-separator", ":", "--header", "h1=x", "--header", "h2=y=z")
	if r.code != ExitOK || r.stderr != fmt.Sprintf("produced 4 records to topic %q\n", topic) {
		t.Fatalf("produce: %s", r)
	}

	// json: every field, and keys split at the first separator only.
	recs := h.consumeJSON(topic)
	if len(recs) != 4 {
		t.Fatalf("consumed %d records, want 4: %+v", len(recs), recs)
	}
	byValue := map[string]consumed{}
	for _, c := range recs {
		if c.Topic != topic || c.Key == nil || c.Value == nil || c.Timestamp <= 0 {
			t.Fatalf("bad record %+v", c)
		}
		if len(c.Headers) != 2 || c.Headers[0].Key != "h1" || *c.Headers[0].Value != "x" ||
			c.Headers[1].Key != "h2" || *c.Headers[1].Value != "y=z" {
			t.Fatalf("headers of %q: %+v", *c.Value, c.Headers)
		}
		byValue[*c.Value] = c
	}
	wantKeys := map[string]string{"one": "alice", "two": "bob", "three": "alice", "a:b": "carol"}
	for v, k := range wantKeys {
		if c, ok := byValue[v]; !ok || *c.Key != k {
			t.Errorf("value %q: got record %+v, want key %q", v, c, k)
		}
	}
	// The same key lands in the same partition, in produce order.
	one, three := byValue["one"], byValue["three"]
	if one.Partition != three.Partition || one.Offset >= three.Offset {
		t.Errorf("key alice: %q at %d/%d, %q at %d/%d", "one", one.Partition, one.Offset, "three", three.Partition, three.Offset)
	}

	// The other formats print the same records; compare as sets because
	// partitions interleave in any order.
	for _, tc := range []struct {
		format string
		line   func(c consumed) string
	}{
		{"value", func(c consumed) string { return *c.Value }},
		{"kv", func(c consumed) string { return *c.Key + "\t" + *c.Value }},
		{`{{.Partition}}/{{.Offset}} {{.Key}}={{.Value}} h2={{.Header "h2"}} n={{len .Headers}} ms={{.Timestamp.UnixMilli}}`,
			func(c consumed) string {
				return fmt.Sprintf("%d/%d %s=%s h2=y=z n=2 ms=%d", c.Partition, c.Offset, *c.Key, *c.Value, c.Timestamp)
			}},
	} {
		var want []string
		for _, c := range recs {
			want = append(want, tc.line(c))
		}
		out := h.mustRun("", "consume", topic, "--exit", "--format", tc.format)
		got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("--format %s:\ngot  %q\nwant %q", tc.format, got, want)
		}
	}
}

func TestConsumeFrom(t *testing.T) {
	h := newHarness(t, testCluster(t))
	topic := topicName(t, "from")
	h.createTopic(topic, 1)
	var in strings.Builder
	for i := range 10 {
		fmt.Fprintf(&in, "r%d\n", i)
	}
	h.mustRun(in.String(), "produce", topic)

	recs := h.consumeJSON(topic)
	if len(recs) != 10 {
		t.Fatalf("consumed %d records, want 10", len(recs))
	}
	// @TIMESTAMP starts at the first record at or after it; compute that
	// from the records' real timestamps (several may share a millisecond).
	ts := recs[6].Timestamp
	firstAtTS := slices.IndexFunc(recs, func(c consumed) bool { return c.Timestamp >= ts })

	values := func(from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "r%d\n", i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "beginning"}, values(0, 10)},
		{nil, values(0, 10)}, // beginning is the default
		{[]string{"--from", "end"}, ""},
		{[]string{"--from", "7"}, values(7, 10)},
		{[]string{"--from", "0"}, values(0, 10)},
		{[]string{"--from", "100"}, ""}, // beyond the end: only new records
		{[]string{"--from", "-3"}, values(7, 10)},
		{[]string{"--from=-3"}, values(7, 10)},
		{[]string{"--from", "-100"}, values(0, 10)},
		{[]string{"--from", "@0"}, values(0, 10)},
		{[]string{"--from", fmt.Sprintf("@%d", ts)}, values(firstAtTS, 10)},
		{[]string{"--from", fmt.Sprintf("@%d", time.Now().Add(time.Hour).UnixMilli())}, ""},
		{[]string{"--count", "4"}, values(0, 4)},
		{[]string{"--from", "2", "--count", "3"}, values(2, 5)},
		{[]string{"--from", "-2", "--count", "5"}, values(8, 10)}, // --exit comes first
	} {
		args := append([]string{"consume", topic, "--exit"}, tc.args...)
		if got := h.mustRun("", args...); got != tc.want {
			t.Errorf("consume %s:\ngot  %q\nwant %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}

func TestProduceConsumePartitions(t *testing.T) {
	h := newHarness(t, testCluster(t))
	topic := topicName(t, "parts")
	h.createTopic(topic, 3)
	h.mustRun("a\nb\n", "produce", topic, "--partition", "2")
	h.mustRun("c\n", "produce", topic, "--partition", "0")

	for _, c := range h.consumeJSON(topic, "--partition", "2") {
		if c.Partition != 2 {
			t.Errorf("--partition 2 consumed %+v", c)
		}
	}
	if got := h.mustRun("", "consume", topic, "--exit", "--partition", "2"); got != "a\nb\n" {
		t.Errorf("partition 2 holds %q, want a, b", got)
	}
	got := h.mustRun("", "consume", topic, "--exit", "--partition", "0", "--partition", "1", "--format", "{{.Partition}}:{{.Value}}")
	if got != "0:c\n" {
		t.Errorf("partitions 0 and 1 hold %q, want 0:c", got)
	}

	r := h.run("x\n", "produce", topic, "--partition", "7")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "partition 7: no such partition (the topic has 3)") {
		t.Errorf("produce to missing partition: %s", r)
	}
	r = h.run("", "consume", topic, "--partition", "3", "--exit")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "partition 3: no such partition") {
		t.Errorf("consume missing partition: %s", r)
	}
}

func TestProduceOptions(t *testing.T) {
	h := newHarness(t, testCluster(t))
	topic := topicName(t, "opts")
	h.createTopic(topic, 1)
	var want strings.Builder
	for _, acks := range []string{"all", "1", "0"} {
		for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
			line := acks + "-" + codec + "-" + strings.Repeat("compressible ", 20)
			r := h.run(line+"\n", "produce", topic, "--acks", acks, "--compression", codec, "--linger", "0s")
			if r.code != ExitOK || !strings.HasPrefix(r.stderr, "produced 1 record ") {
				t.Fatalf("produce --acks %s --compression %s: %s", acks, codec, r)
			}
			want.WriteString(line + "\n")
		}
	}
	// acks=0 gives no confirmation, so the last records may land a moment
	// after produce exits: read again (bounded) until they are there.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := h.mustRun("", "consume", topic, "--exit")
		if got == want.String() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumed:\n%s\nwant:\n%s", got, want.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProduceRecordFailures(t *testing.T) {
	h := newHarness(t, testCluster(t))
	topic := topicName(t, "fail")
	h.createTopic(topic, 1)

	r := h.run("k:v\nno separator\nk2:v2\n", "produce", topic, "--key-separator", ":")
	if r.code != ExitFailure {
		t.Fatalf("produce with a bad line: %s", r)
	}
	wantErr := fmt.Sprintf("spool: topic %q: 1 of 3 records failed, first: line 2: line has no key separator\n", topic)
	if r.stderr != fmt.Sprintf("produced 2 records to topic %q, 1 failed\n", topic)+wantErr {
		t.Errorf("stderr:\n%s\nwant summary then %q", r.stderr, wantErr)
	}
	if got := h.mustRun("", "consume", topic, "--exit", "--format", "kv"); got != "k\tv\nk2\tv2\n" {
		t.Errorf("good lines were not all produced: %q", got)
	}
}

func TestProduceMaxLineBytes(t *testing.T) {
	h := newHarness(t, testCluster(t))
	topic := topicName(t, "long")
	h.createTopic(topic, 1)

	exact := strings.Repeat("x", 16)
	h.mustRun(exact+"\r\n", "produce", topic, "--max-line-bytes", "16")
	r := h.run("ok\n"+exact+"y\n", "produce", topic, "--max-line-bytes", "16")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "line 2: line exceeds --max-line-bytes (16)") {
		t.Fatalf("too long line: %s", r)
	}
	// A line far beyond the scanner's buffer is reported the same way.
	r = h.run(strings.Repeat("z", 200_000), "produce", topic, "--max-line-bytes", "100000")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "line 1: line exceeds --max-line-bytes (100000)") {
		t.Fatalf("very long line: %s", r)
	}
	// The default allows a 1 MiB line minus the broker's record overhead.
	big := strings.Repeat("b", 900_000)
	h.mustRun(big+"\n", "produce", topic)

	if got := h.mustRun("", "consume", topic, "--exit"); got != exact+"\nok\n"+big+"\n" {
		t.Errorf("consumed %d bytes, want the exact line, ok and the big line", len(got))
	}
}

func TestConsumeGroup(t *testing.T) {
	h := newHarness(t, testCluster(t))
	topic, group := topicName(t, "grp"), topicName(t, "g")
	h.createTopic(topic, 1)
	h.mustRun("a\nb\nc\nd\n", "produce", topic)

	if got := h.mustRun("", "consume", topic, "--group", group, "--count", "2"); got != "a\nb\n" {
		t.Fatalf("first group read: %q", got)
	}
	// The group committed what was printed, so it resumes after b.
	if got := h.mustRun("", "consume", topic, "--group", group, "--count", "2"); got != "c\nd\n" {
		t.Fatalf("second group read: %q", got)
	}
	// A new group starts where --from says.
	if got := h.mustRun("", "consume", topic, "--group", group+"-new", "--from", "-1", "--count", "1"); got != "d\n" {
		t.Fatalf("new group with --from -1: %q", got)
	}
}

// Without --exit, consume runs until its context is cancelled (Ctrl-C in
// Main) and then stops cleanly with what it printed.
func TestConsumeUntilCancelled(t *testing.T) {
	h := newHarness(t, testCluster(t))
	topic := topicName(t, "follow")
	h.createTopic(topic, 1)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &watchWriter{want: "late\n", seen: make(chan struct{})}
	done := make(chan int)
	go func() {
		env := &Env{Stdin: strings.NewReader(""), Stdout: out, Stderr: io.Discard, Getenv: func(string) string { return strings.Join(h.brokers, ",") }}
		done <- Run(ctx, env, []string{"consume", topic})
	}()
	h.mustRun("late\n", "produce", topic)
	select {
	case <-out.seen:
	case code := <-done:
		t.Fatalf("consume exited with %d before printing the record", code)
	}
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("consume after cancel: exit %d", code)
	}
}

// Cancelling produce (Ctrl-C) while stdin is still open ends the input:
// what was read is sent and the command succeeds.
func TestProduceCancelled(t *testing.T) {
	h := newHarness(t, testCluster(t))
	topic := topicName(t, "stdin")
	h.createTopic(topic, 1)

	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result)
	go func() { done <- h.runContext(ctx, pr, "produce", topic) }()
	if _, err := io.WriteString(pw, "first\n"); err != nil {
		t.Fatal(err)
	}
	// Wait for the record to be stored (consume --count 1 blocks until
	// it is), then cancel while produce still waits for more input.
	if got := h.mustRun("", "consume", topic, "--count", "1"); got != "first\n" {
		t.Fatalf("consumed %q", got)
	}
	cancel()
	r := <-done
	if r.code != ExitOK || r.stderr != fmt.Sprintf("produced 1 record to topic %q\n", topic) {
		t.Fatalf("cancelled produce: %s", r)
	}
}

// watchWriter collects output and closes seen once it contains want.
type watchWriter struct {
	mu   sync.Mutex
	buf  strings.Builder
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}
