package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeOptions are the flags of `spool consume`.
type consumeOptions struct {
	client     *clientOptions
	from       string
	partitions []int32
	format     string
	exit       bool
	count      int64
	group      string
}

func newConsumeCmd(env *Env) *cobra.Command {
	o := &consumeOptions{}
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records from a topic",
		Long: `Read records from TOPIC and print them to stdout, one per line.

--from picks where each partition starts:
  beginning      the oldest record still stored (default)
  end            only records produced from now on
  OFFSET         this offset (clamped to what the partition holds)
  @TIMESTAMP_MS  the first record with a timestamp at or after this Unix time in ms
  -N             the last N records of each partition

--format picks the output:
  value          the record value (default)
  kv             key, a TAB, the value
  json           {"topic","partition","offset","timestamp","key","value","headers":[{"key","value"}]}
  a Go template  e.g. '{{.Offset}} {{.Key}}={{.Value}} {{.Header "trace"}}' (a newline is added);
                 fields: .Topic .Partition .Offset .Timestamp (time.Time) .Key .Value .Headers

The command runs until Ctrl-C, or with --exit until it has printed everything
up to the end offsets of the moment it started, or with --count until it has
printed N records. With --group it joins a consumer group: the group assigns
partitions and remembers progress (committed offsets, used instead of --from
for partitions the group has read before).`,
		Example: `  spool consume orders --exit
  spool consume orders --from end
  spool consume orders --from -10 --exit --format kv
  spool consume orders --partition 0 --from 1500 --count 100 --format json
  spool consume orders --from @1700000000000 --format '{{.Timestamp}} {{.Value}}'
  spool consume orders --group audit`,
		Args: exactArgs(1, "one TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), env, args[0])
		},
	}
	o.client = addClientFlags(cmd, env)
	f := cmd.Flags()
	f.StringVarP(&o.from, "from", "f", "beginning", "where to start: "+fromHelp)
	f.Int32SliceVarP(&o.partitions, "partition", "p", nil, "read only this partition (repeatable; default all)")
	f.StringVarP(&o.format, "format", "o", "value", "output: "+formatHelp)
	f.BoolVarP(&o.exit, "exit", "e", false, "stop at the end offsets as they were when the command started")
	f.Int64VarP(&o.count, "count", "n", 0, "stop after printing this many records (0: no limit)")
	f.StringVarP(&o.group, "group", "g", "", "consume as a member of this consumer group, committing progress")
	return cmd
}

// validate checks the flags that do not need the cluster.
func (o *consumeOptions) validate() (startSpec, recordFormatter, error) {
	spec, err := parseFrom(o.from)
	if err != nil {
		return spec, nil, err
	}
	format, err := newFormatter(o.format)
	if err != nil {
		return spec, nil, err
	}
	if o.count < 0 {
		return spec, nil, usageErrorf("--count %d: must not be negative", o.count)
	}
	for _, p := range o.partitions {
		if p < 0 {
			return spec, nil, usageErrorf("--partition %d: must not be negative", p)
		}
	}
	if o.group != "" && len(o.partitions) > 0 {
		return spec, nil, usageErrorf("--partition cannot be combined with --group: the group assigns partitions")
	}
	if o.group != "" && o.exit {
		return spec, nil, usageErrorf("--exit cannot be combined with --group: the group, not this command, decides which partitions it reads; use --count")
	}
	return spec, format, o.client.validate()
}

func (o *consumeOptions) run(ctx context.Context, env *Env, topic string) error {
	spec, format, err := o.validate()
	if err != nil {
		return err
	}
	partitions, ranges, err := o.plan(ctx, env, topic, spec)
	if err != nil {
		return err
	}

	// Control records (transaction markers) are kept so that --exit sees
	// every offset up to the end; they are never printed.
	opts := []kgo.Opt{kgo.KeepControlRecords()}
	pending := make(map[int32]int64) // --exit: partition -> end offset still to reach
	if o.group != "" {
		opts = append(opts,
			kgo.ConsumerGroup(o.group),
			kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(spec.kgoOffset()),
			// Commit only what was printed, not everything polled,
			// so --count does not skip records for the next run.
			kgo.AutoCommitMarks(),
		)
	} else {
		offsets := make(map[int32]kgo.Offset, len(partitions))
		for _, p := range partitions {
			r := ranges[p]
			if o.exit {
				if r.start >= r.end {
					continue // nothing to read before the stop point
				}
				pending[p] = r.end
			}
			offsets[p] = kgo.NewOffset().At(r.start)
		}
		if len(offsets) == 0 {
			return nil
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	}
	cl, err := o.client.newClient(env, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	out := bufio.NewWriter(env.Stdout)
	err = o.loop(ctx, cl, env, out, format, pending)
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("writing output: %w", ferr)
	}
	if o.group != "" {
		// Commit even after Ctrl-C: the user saw these records.
		cctx, cancel := o.client.withTimeout(context.WithoutCancel(ctx))
		defer cancel()
		if cerr := cl.CommitMarkedOffsets(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("group %q: committing offsets: %w", o.group, o.client.clusterError(cerr))
		}
	}
	return err
}

// plan checks that the topic and the requested partitions exist and, for
// direct (non-group) consumption, resolves --from into per-partition
// ranges. It fails within --timeout when the cluster cannot be reached,
// rather than letting the consumer wait forever.
func (o *consumeOptions) plan(ctx context.Context, env *Env, topic string, spec startSpec) ([]int32, map[int32]partitionRange, error) {
	adm, cl, err := o.client.newAdmin(env)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	ctx, cancel := o.client.withTimeout(ctx)
	defer cancel()

	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, nil, fmt.Errorf("topic %q: %w", topic, o.client.clusterError(err))
	}
	d, ok := details[topic]
	if !ok {
		return nil, nil, fmt.Errorf("topic %q: broker sent no metadata for it", topic)
	}
	if d.Err != nil {
		return nil, nil, fmt.Errorf("topic %q: %w", topic, d.Err)
	}
	partitions := slices.Sorted(maps.Keys(d.Partitions))
	if len(o.partitions) > 0 {
		for _, p := range o.partitions {
			if _, ok := d.Partitions[p]; !ok {
				return nil, nil, fmt.Errorf("topic %q: partition %d: %w (the topic has %d)", topic, p, ErrNoSuchPartition, len(d.Partitions))
			}
		}
		partitions = slices.Compact(slices.Sorted(slices.Values(o.partitions)))
	}
	if o.group != "" {
		return partitions, nil, nil
	}
	ranges, err := resolveRanges(ctx, adm, topic, partitions, spec)
	if err != nil {
		return nil, nil, o.client.clusterError(err)
	}
	return partitions, ranges, nil
}

// loop polls and prints until Ctrl-C, --count, or (with --exit) every
// partition in pending has reached its end offset.
func (o *consumeOptions) loop(ctx context.Context, cl *kgo.Client, env *Env, out *bufio.Writer, format recordFormatter, pending map[int32]int64) error {
	var printed int64
	for {
		if o.exit && len(pending) == 0 {
			return nil
		}
		limit := 0 // no limit
		if o.count > 0 {
			limit = int(min(o.count-printed, 1<<20))
		}
		fetches := cl.PollRecords(ctx, limit)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil // Ctrl-C: a clean stop
		}
		for _, fe := range fetches.Errors() {
			if _, ok := errors.AsType[*kgo.ErrDataLoss](fe.Err); ok {
				// The client already moved on; say what was skipped.
				fmt.Fprintf(env.Stderr, "spool: warning: %v\n", fe.Err)
				continue
			}
			return fmt.Errorf("topic %q partition %d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		for it := fetches.RecordIter(); !it.Done(); {
			r := it.Next()
			if o.exit {
				end, ok := pending[r.Partition]
				if !ok || r.Offset >= end {
					continue // past the stop point, or partition finished
				}
				if r.Offset >= end-1 {
					delete(pending, r.Partition)
					cl.PauseFetchPartitions(map[string][]int32{r.Topic: {r.Partition}})
				}
			}
			if r.Attrs.IsControl() {
				if o.group != "" {
					cl.MarkCommitRecords(r)
				}
				continue
			}
			if err := format(out, r); err != nil {
				return fmt.Errorf("formatting offset %d of partition %d: %w", r.Offset, r.Partition, err)
			}
			if o.group != "" {
				cl.MarkCommitRecords(r)
			}
			printed++
			if o.count > 0 && printed >= o.count {
				return nil
			}
			if o.exit && len(pending) == 0 {
				return nil
			}
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
	}
}
