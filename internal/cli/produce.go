package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceOptions are the flags of `spool produce`.
type produceOptions struct {
	client       *clientOptions
	keySeparator string
	headers      []string
	partition    int32
	acks         string
	compression  string
	linger       time.Duration
	maxLineBytes int
}

func newProduceCmd(env *Env) *cobra.Command {
	o := &produceOptions{}
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Write lines from stdin to a topic, one record per line",
		Long: `Read lines from standard input and produce each as one record to TOPIC.

Without --key-separator the whole line is the value and the record has no
key. With it, each line is split at the first separator into key and value;
a line without the separator is reported as a failed record. Records with a
key go to the partition the key hashes to (Kafka's murmur2 partitioner, as
the Java client does); records without one are spread in sticky batches.
--partition overrides both.

The topic must exist (see spool topic create). A summary (records
produced, records failed) is printed to stderr at the end. The exit status
is 1 if any record was not acknowledged. Ctrl-C ends the input: what was
read is still sent before the command exits.`,
		Example: `  echo 'hello' | spool produce greetings
  printf 'user1:clicked\nuser2:scrolled\n' | spool produce events --key-separator :
  spool produce events --header source=cli --header trace=abc < events.txt
  spool produce orders --acks 1 --compression zstd --linger 50ms < orders.txt`,
		Args: exactArgs(1, "one TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), env, args[0], cmd.Flags().Changed("key-separator"))
		},
	}
	o.client = addClientFlags(cmd, env)
	f := cmd.Flags()
	f.StringVarP(&o.keySeparator, "key-separator", "k", "", "split each line into key and value at the first occurrence of this string")
	f.StringArrayVarP(&o.headers, "header", "H", nil, "add header key=value to every record (repeatable)")
	f.Int32VarP(&o.partition, "partition", "p", -1, "write every record to this partition (-1: choose by key)")
	f.StringVar(&o.acks, "acks", "all", "acknowledgement to wait for: all, 1 (leader only) or 0 (none)")
	f.StringVar(&o.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.DurationVar(&o.linger, "linger", 10*time.Millisecond, "how long to wait for more records before sending a batch")
	f.IntVar(&o.maxLineBytes, "max-line-bytes", 1<<20, "longest accepted input line, in bytes")
	return cmd
}

// kgoOptions validates the flags and maps them onto producer options.
func (o *produceOptions) kgoOptions(separatorSet bool) ([]kgo.Opt, error) {
	if separatorSet && o.keySeparator == "" {
		return nil, usageErrorf("--key-separator: must not be empty")
	}
	if o.partition < -1 {
		return nil, usageErrorf("--partition %d: must be a partition number (or -1 to choose by key)", o.partition)
	}
	if o.maxLineBytes <= 0 {
		return nil, usageErrorf("--max-line-bytes %d: must be positive", o.maxLineBytes)
	}
	if o.linger < 0 || o.linger > time.Minute {
		return nil, usageErrorf("--linger %s: must be between 0 and 1m", o.linger)
	}
	acks, err := parseAcks(o.acks)
	if err != nil {
		return nil, err
	}
	codec, err := parseCompression(o.compression)
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.RequiredAcks(acks),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(o.linger),
		// kgo needs at least a second; a shorter --timeout still
		// bounds the metadata lookup before producing.
		kgo.RecordDeliveryTimeout(max(o.client.timeout, time.Second)),
	}
	if acks != kgo.AllISRAcks() {
		// Idempotent production requires acks=all.
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if o.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	// Room for one maximal line plus key, headers and batch overhead, so
	// the client does not refuse a line the flag allows; the broker's own
	// limit (max.message.bytes) still applies.
	const defaultBatchMax, overhead = 1_000_012, 64 << 10
	if need := int64(o.maxLineBytes) + overhead; need > defaultBatchMax {
		opts = append(opts, kgo.ProducerBatchMaxBytes(int32(min(need, 1<<30))))
	}
	return opts, nil
}

func parseAcks(s string) (kgo.Acks, error) {
	switch strings.ToLower(s) {
	case "all", "-1":
		return kgo.AllISRAcks(), nil
	case "1", "leader":
		return kgo.LeaderAck(), nil
	case "0", "none":
		return kgo.NoAck(), nil
	}
	return kgo.Acks{}, usageErrorf("--acks %q: want all, 1 or 0", s)
}

func parseCompression(s string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(s) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, usageErrorf("--compression %q: want none, gzip, snappy, lz4 or zstd", s)
}

// parseHeaders parses --header key=value values; unlike configs, a header
// key may repeat (Kafka headers are a list).
func parseHeaders(values []string) ([]kgo.RecordHeader, error) {
	hs := make([]kgo.RecordHeader, 0, len(values))
	for _, kv := range values {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--header %q: want key=value", kv)
		}
		hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return hs, nil
}

// produceTally counts record outcomes; promises run on kgo's goroutines.
type produceTally struct {
	mu       sync.Mutex
	ok       int64
	failed   int64
	firstErr error
}

func (t *produceTally) done(line int64, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		t.ok++
		return
	}
	t.failed++
	if t.firstErr == nil {
		t.firstErr = fmt.Errorf("line %d: %w", line, err)
	}
}

func (o *produceOptions) run(ctx context.Context, env *Env, topic string, separatorSet bool) error {
	headers, err := parseHeaders(o.headers)
	if err != nil {
		return err
	}
	opts, err := o.kgoOptions(separatorSet)
	if err != nil {
		return err
	}
	cl, err := o.client.newClient(env, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := o.checkTopic(ctx, cl, topic); err != nil {
		return err
	}

	// Records must not be cut off by Ctrl-C: once read, a line is sent
	// and waited for (each record is bounded by --timeout instead).
	sendCtx := context.WithoutCancel(ctx)
	tally := &produceTally{}
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	lines, readErr := readLines(readCtx, env.Stdin, o.maxLineBytes)
	var n int64
read:
	for {
		var line []byte
		select {
		case l, ok := <-lines:
			if !ok {
				break read
			}
			line = l
		case <-ctx.Done():
			// Ctrl-C ends the input; lines already read are sent.
			select {
			case l, ok := <-lines:
				if ok {
					line = l
					break
				}
				break read
			default:
				break read
			}
		}
		n++
		lineNo := n
		r := &kgo.Record{Topic: topic, Value: line, Headers: headers}
		if o.partition >= 0 {
			r.Partition = o.partition
		}
		if separatorSet {
			k, v, ok := bytes.Cut(line, []byte(o.keySeparator))
			if !ok {
				tally.done(lineNo, ErrNoKeySeparator)
				continue
			}
			r.Key, r.Value = k, v
		}
		cl.Produce(sendCtx, r, func(_ *kgo.Record, err error) { tally.done(lineNo, err) })
	}
	if err := cl.Flush(sendCtx); err != nil {
		return err
	}

	tally.mu.Lock()
	defer tally.mu.Unlock()
	fmt.Fprintf(env.Stderr, "produced %s to topic %q", plural(tally.ok, "record"), topic)
	if tally.failed > 0 {
		fmt.Fprintf(env.Stderr, ", %d failed", tally.failed)
	}
	fmt.Fprintln(env.Stderr)
	if err := readErr(); err != nil {
		return fmt.Errorf("topic %q: reading stdin: line %d: %w", topic, n+1, err)
	}
	if tally.failed > 0 {
		return fmt.Errorf("topic %q: %d of %d %w, first: %w", topic, tally.failed, tally.failed+tally.ok, ErrRecordsFailed, tally.firstErr)
	}
	return nil
}

// checkTopic fails fast, with the broker's error code, when the topic or the
// requested partition does not exist; otherwise the client would retry
// until --timeout and fail every record the same way.
func (o *produceOptions) checkTopic(ctx context.Context, cl *kgo.Client, topic string) error {
	ctx, cancel := o.client.withTimeout(ctx)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("topic %q: %w", topic, o.client.clusterError(err))
	}
	d, ok := details[topic]
	if !ok {
		return fmt.Errorf("topic %q: broker sent no metadata for it", topic)
	}
	if d.Err != nil {
		return fmt.Errorf("topic %q: %w", topic, d.Err)
	}
	if o.partition >= 0 {
		if _, ok := d.Partitions[o.partition]; !ok {
			return fmt.Errorf("topic %q: partition %d: %w (the topic has %d)", topic, o.partition, ErrNoSuchPartition, len(d.Partitions))
		}
	}
	return nil
}

// readLines delivers r's lines (without the line ending) until EOF, a read
// error, a line longer than maxLine, or ctx is cancelled. Reading happens on
// its own goroutine so that the caller can stop on Ctrl-C even while a
// terminal read is blocked. Once the channel is closed, the returned
// function reports why reading stopped (nil for EOF).
func readLines(ctx context.Context, r io.Reader, maxLine int) (<-chan []byte, func() error) {
	lines := make(chan []byte, 256)
	var readErr error
	finished := make(chan struct{})
	go func() {
		// finished closes before lines, so a caller that has seen lines
		// closed can read readErr.
		defer close(lines)
		defer close(finished)
		sc := bufio.NewScanner(r)
		// Room for the line plus "\r\n", so a line of exactly maxLine
		// bytes is accepted and one byte more is detected below.
		sc.Buffer(make([]byte, 0, min(maxLine+2, 64<<10)), maxLine+2)
		for sc.Scan() {
			if len(sc.Bytes()) > maxLine {
				readErr = fmt.Errorf("%w (%d)", ErrLineTooLong, maxLine)
				return
			}
			select {
			case lines <- bytes.Clone(sc.Bytes()):
			case <-ctx.Done():
				return
			}
		}
		if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
			readErr = fmt.Errorf("%w (%d)", ErrLineTooLong, maxLine)
		} else {
			readErr = err
		}
	}()
	return lines, func() error {
		select {
		case <-finished:
			return readErr
		default:
			return nil // cancelled while a read was still blocked
		}
	}
}
