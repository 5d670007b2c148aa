package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spool-mq/spool/internal/bench"
)

// This file only maps `spool bench` flags onto internal/bench options and
// prints the results; the measuring lives in internal/bench.

func newBenchCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a Kafka-compatible cluster, or this machine's limits",
		Long: `Load generators in the manner of kafka-producer-perf-test and the OpenMessaging
Benchmark. They work against any Kafka-compatible cluster (--brokers).

Throughput is reported in records/s and MB/s (MB = 2^20 bytes of keys plus
values, as the Kafka tools count). Latency percentiles come from a histogram
with under 1% error. With --rate, sending is open-loop: every record has an
intended send time and latency is measured from it, so broker stalls show up
in the percentiles instead of quietly slowing the sender down.

A progress line goes to stderr every --progress interval; the result goes to
stdout, as one JSON object with --json.`,
		Example: `  spool bench baseline --dir /var/lib/spool
  spool bench produce --records 1000000 --record-size 1024 --partitions 6
  spool bench produce --duration 60s --rate 50000 --producers 4 --json
  spool bench consume --group bench --consumers 3
  spool bench e2e --duration 30s --rate 10000`,
	}
	cmd.AddCommand(newBenchProduceCmd(env), newBenchConsumeCmd(env), newBenchE2ECmd(env), newBenchBaselineCmd(env))
	requireSubcommand(cmd)
	return cmd
}

// benchFlags are the flags every cluster benchmark takes.
type benchFlags struct {
	client   *clientOptions
	topic    string
	json     bool
	progress time.Duration
}

func addBenchFlags(cmd *cobra.Command, env *Env) *benchFlags {
	b := &benchFlags{client: addClientFlags(cmd, env)}
	f := cmd.Flags()
	f.StringVarP(&b.topic, "topic", "t", bench.DefaultTopic, "benchmark topic")
	f.BoolVar(&b.json, "json", false, "print the result as one JSON object on stdout")
	f.DurationVar(&b.progress, "progress", bench.DefaultProgressInterval, "interval between progress lines on stderr (0 disables them)")
	return b
}

// common validates the shared flags and maps them onto bench.Common.
func (b *benchFlags) common(env *Env) (bench.Common, error) {
	if err := b.client.validate(); err != nil {
		return bench.Common{}, err
	}
	if b.progress < 0 {
		return bench.Common{}, usageErrorf("--progress %s: must not be negative", b.progress)
	}
	seeds, _ := b.client.seeds()
	level, _ := parseLogLevel(b.client.logLevel)
	tc, err := b.client.tlsConfig()
	if err != nil {
		return bench.Common{}, err
	}
	c := bench.Common{
		Brokers: seeds,
		ClientOpts: []kgo.Opt{
			kgo.DialTimeout(min(b.client.timeout, 10*time.Second)),
			kgo.WithLogger(kgoLogger{log: env.logger(), level: level}),
		},
		Timeout:          b.client.timeout,
		Topic:            b.topic,
		TLS:              tc,
		Progress:         env.Stderr,
		ProgressInterval: b.progress,
	}
	if b.progress == 0 {
		c.Progress = nil
	}
	if tc != nil {
		c.ClientOpts = append(c.ClientOpts, kgo.DialTLSConfig(tc))
	}
	return c, nil
}

// producerFlags registers the produce-side flags shared by produce and e2e.
func producerFlags(cmd *cobra.Command, p *bench.ProducerConfig, keys *string) {
	f := cmd.Flags()
	*p = bench.DefaultProducerConfig()
	*keys = string(p.Keys)
	f.Int64Var(&p.Records, "records", 0, "stop after this many records (0: no limit; with no --duration either, run 10s)")
	f.DurationVar(&p.Duration, "duration", 0, "stop after this long (0: no limit)")
	f.IntVar(&p.RecordSize, "record-size", p.RecordSize, "value size in bytes (random upper-case letters)")
	f.StringVar(keys, "keys", *keys, "record keys: none, random or seq (decimal numbers below --key-space)")
	f.Int64Var(&p.KeySpace, "key-space", p.KeySpace, "number of distinct keys for --keys random or seq")
	f.Int32Var(&p.BatchMaxBytes, "batch-max-bytes", 0, "largest record batch in bytes (0: client default, 1000012)")
	f.Int32Var(&p.StickyBytes, "sticky-bytes", 0, "bytes of keyless records sent to one partition before moving to the next (0: client default, 64 KiB)")
	f.DurationVar(&p.Linger, "linger", p.Linger, "how long a batch waits for more records")
	f.StringVar(&p.Compression, "compression", p.Compression, "batch compression: none, gzip, snappy, lz4 or zstd")
	f.StringVar(&p.Acks, "acks", p.Acks, "acknowledgement to wait for: all, 1 or 0")
	f.BoolVar(&p.Idempotent, "idempotent", p.Idempotent, "idempotent producer (needs --acks all; off by default with other acks)")
	f.IntVar(&p.Producers, "producers", p.Producers, "number of producer clients sharing the send schedule")
	f.Int32Var(&p.Partitions, "partitions", 0, "create the topic with this many partitions if it is missing (0: broker default)")
	f.Int16Var(&p.ReplicationFactor, "replication-factor", p.ReplicationFactor, "replication factor if the topic is created (-1: broker default)")
	f.Float64Var(&p.Rate, "rate", 0, "target records/s over all producers, open-loop (0: as fast as possible)")
}

// finishProducer applies the flag interplay the library leaves to callers:
// --acks other than all turns idempotence off unless --idempotent was given.
func finishProducer(cmd *cobra.Command, p *bench.ProducerConfig, keys string) {
	p.Keys = bench.KeyMode(strings.ToLower(keys))
	if !cmd.Flags().Changed("idempotent") {
		switch strings.ToLower(p.Acks) {
		case "all", "-1":
		default:
			p.Idempotent = false
		}
	}
}

func newBenchProduceCmd(env *Env) *cobra.Command {
	var o bench.ProduceOptions
	var keys string
	var b *benchFlags
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce as fast as possible, or at --rate, and report throughput and ack latency",
		Long: `Produce records to --topic (created with --partitions if missing) until
--records or --duration, then report throughput and the latency from each
record's intended send time to its acknowledgement.`,
		Example: `  spool bench produce --records 1000000
  spool bench produce --duration 30s --rate 20000 --acks 1 --compression zstd`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := b.common(env)
			if err != nil {
				return err
			}
			o.Common = c
			finishProducer(cmd, &o.ProducerConfig, keys)
			res, err := bench.RunProduce(cmd.Context(), o)
			return printBench(env, b.json, res, err)
		},
	}
	b = addBenchFlags(cmd, env)
	producerFlags(cmd, &o.ProducerConfig, &keys)
	return cmd
}

func newBenchConsumeCmd(env *Env) *cobra.Command {
	var o bench.ConsumeOptions
	var raw bench.RawConsumeOptions
	var useRaw bool
	var b *benchFlags
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Consume a topic and report throughput",
		Long: `Consume --topic and report throughput. Without --group the partitions are
divided among --consumers directly; with it the consumers join that group
(which resumes from its committed offsets, if any).

It stops at --records or --duration; with neither, a run from the start reads
up to the end offsets found when it began (exactly what was there), and a
--tail run lasts 10s.

With --raw it sends Fetch requests itself and only walks record-batch headers
instead of decoding records, to measure what the broker serves independent of
client decoding cost; MB/s then counts whole record batches.`,
		Example: `  spool bench consume
  spool bench consume --group bench --consumers 3 --records 1000000
  spool bench consume --tail --duration 1m
  spool bench consume --raw --consumers 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := b.common(env)
			if err != nil {
				return err
			}
			o.Common = c
			if useRaw {
				raw.ConsumeOptions = o
				res, err := bench.RunRawConsume(cmd.Context(), raw)
				if res == nil {
					return benchError(err)
				}
				if perr := printResult(env, b.json, res); perr != nil {
					return perr
				}
				return benchError(err)
			}
			res, err := bench.RunConsume(cmd.Context(), o)
			return printBench(env, b.json, res, err)
		},
	}
	b = addBenchFlags(cmd, env)
	f := cmd.Flags()
	f.StringVarP(&o.Group, "group", "g", "", "consume as members of this consumer group (default: assign partitions directly)")
	f.IntVar(&o.Consumers, "consumers", 1, "number of consumer clients")
	f.BoolVar(&o.Tail, "tail", false, "start at the end of each partition instead of the start")
	f.Int64Var(&o.Records, "records", 0, "stop after at least this many records (0: no limit)")
	f.DurationVar(&o.Duration, "duration", 0, "stop after this long (0: no limit)")
	f.BoolVar(&useRaw, "raw", false, "fetch with raw requests and count record batches without decoding them")
	f.Int32Var(&raw.FetchMaxBytes, "fetch-max-bytes", bench.DefaultFetchMaxBytes, "with --raw: most bytes per fetch response")
	f.Int32Var(&raw.PartitionMaxBytes, "partition-max-bytes", bench.DefaultPartitionMaxBytes, "with --raw: most bytes per partition per fetch")
	f.DurationVar(&raw.MaxWait, "max-wait", bench.DefaultFetchMaxWait, "with --raw: longest the broker may hold a fetch that has nothing to return")
	return cmd
}

func newBenchE2ECmd(env *Env) *cobra.Command {
	var o bench.E2EOptions
	var keys string
	var b *benchFlags
	cmd := &cobra.Command{
		Use:   "e2e",
		Short: "Produce and consume at once and report end-to-end latency",
		Long: `Produce to --topic and consume it at the same time. Each record's value starts
with its intended send time; the consumers report the latency from then to
receipt, next to the producers' ack latency. Use --rate for a steady load:
without it the producers saturate the cluster and the latency mostly measures
queueing.`,
		Example: `  spool bench e2e --duration 30s --rate 10000
  spool bench e2e --records 100000 --rate 5000 --consumers 2 --partitions 4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := b.common(env)
			if err != nil {
				return err
			}
			o.Common = c
			finishProducer(cmd, &o.ProducerConfig, keys)
			res, err := bench.RunE2E(cmd.Context(), o)
			return printBench(env, b.json, res, err)
		},
	}
	b = addBenchFlags(cmd, env)
	producerFlags(cmd, &o.ProducerConfig, &keys)
	cmd.Flags().IntVar(&o.Consumers, "consumers", 1, "number of consumer clients (partitions are divided among them)")
	return cmd
}

func newBenchBaselineCmd(env *Env) *cobra.Command {
	var o bench.BaselineOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "baseline --dir DIR",
		Short: "Measure this machine's fsync'd write and loopback TCP limits",
		Long: `Measure what this machine can do at best, to read broker benchmarks against:
sequential writes with an fsync after each write in DIR (1 MiB writes, as a
large batch, and 64 KiB writes, as many small batches sharing a group commit),
then loopback TCP bandwidth and 64-byte round-trip time.

Each disk test stops at --disk-bytes or --disk-duration and removes its file;
the TCP test runs for --tcp-duration. Put DIR on the disk the broker's data
directory uses.`,
		Example: `  spool bench baseline --dir /var/lib/spool
  spool bench baseline --dir . --disk-bytes 64MiB --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Dir == "" {
				return usageErrorf("--dir: required (where the disk tests write their temporary files)")
			}
			o.Progress = env.Stderr
			res, err := bench.RunBaseline(cmd.Context(), o)
			if err != nil {
				return benchError(err)
			}
			return printResult(env, asJSON, res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "directory for the disk tests' temporary files (required)")
	f.Var(&byteSize{&o.DiskBytes}, "disk-bytes", "most bytes each disk test writes, e.g. 256MiB (default 256MiB)")
	f.DurationVar(&o.DiskDuration, "disk-duration", 3*time.Second, "longest each disk test runs")
	f.DurationVar(&o.TCPDuration, "tcp-duration", 2*time.Second, "how long the loopback bandwidth test runs")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON object on stdout")
	return cmd
}

// textResult is a result that can print itself for people.
type textResult interface{ WriteText(io.Writer) error }

// printBench prints a cluster benchmark's result, even when err reports
// failed records alongside it, and returns err for the exit status.
func printBench(env *Env, asJSON bool, res *bench.Result, err error) error {
	if res == nil {
		return benchError(err)
	}
	if perr := printResult(env, asJSON, res); perr != nil {
		return perr
	}
	return benchError(err)
}

func printResult(env *Env, asJSON bool, res textResult) error {
	if !asJSON {
		return res.WriteText(env.Stdout)
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// benchError marks option errors as usage errors (exit 2).
func benchError(err error) error {
	if errors.Is(err, bench.ErrInvalidOptions) {
		return usageError(err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// byteSize is a flag value accepting a byte count with an optional KiB, MiB
// or GiB suffix.
type byteSize struct{ n *int64 }

func (b *byteSize) String() string {
	if b.n == nil || *b.n == 0 {
		return ""
	}
	return fmt.Sprint(*b.n)
}

func (b *byteSize) Type() string { return "bytes" }

func (b *byteSize) Set(s string) error {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || v <= 0 || v > (1<<62)/mult {
		return fmt.Errorf("%q: want a positive byte count such as 1048576 or 64MiB", s)
	}
	*b.n = v * mult
	return nil
}
