package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// resetKind says how reset-offsets picks a partition's new offset.
type resetKind int

const (
	resetEarliest resetKind = iota // log start offset
	resetLatest                    // log end offset (high watermark)
	resetOffset                    // an absolute offset
	resetTime                      // first record at or after a timestamp
	resetShift                     // the committed offset moved by n
)

// resetTarget is the parsed reset target; n is the offset, the timestamp
// in ms or the shift.
type resetTarget struct {
	kind resetKind
	n    int64
}

// resetOptions are the flags of `spool group reset-offsets`.
type resetOptions struct {
	client    *clientOptions
	topics    []string
	allTopics bool
	earliest  bool
	latest    bool
	toOffset  int64
	datetime  string
	shiftBy   int64
	dryRun    bool
	execute   bool
}

func newGroupResetOffsetsCmd(env *Env) *cobra.Command {
	o := &resetOptions{}
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP (--topic TOPIC[:PARTITION,...]... | --all-topics) TARGET [--dry-run | --execute]",
		Short: "Move a group's committed offsets",
		Long: `Change where an inactive group resumes: compute new committed offsets for the
chosen partitions and, with --execute, commit them. Without --execute (or with
--dry-run) the plan is printed (topic, partition, current and new offset) and
nothing changes.

The group must be inactive (Empty, or Dead: not known yet): a running consumer
would overwrite the new offsets with its next commit, so stop it first.

Partitions: --topic TOPIC (every partition; repeatable), --topic TOPIC:0,2
(those partitions), or --all-topics (every partition the group has committed).

TARGET is exactly one of:
  --to-earliest       the oldest offset still stored
  --to-latest         the log end offset: skip everything not yet read
  --to-offset N       offset N
  --to-datetime TIME  the first record at or after TIME (RFC 3339 such as
                      2026-11-22T10:00:00Z, or @UNIX_MS)
  --shift-by N        the committed offset plus N (negative N re-reads)

New offsets are clamped to what the partition holds, [log start, log end], as
Kafka does.`,
		Example: `  spool group reset-offsets audit --topic orders --to-earliest
  spool group reset-offsets audit --topic orders --to-earliest --execute
  spool group reset-offsets audit --topic orders:0,1 --to-offset 1500 --execute
  spool group reset-offsets audit --all-topics --to-datetime 2026-11-22T10:00:00Z --execute
  spool group reset-offsets audit --all-topics --shift-by -100 --execute`,
		Args: exactArgs(1, "one GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := o.validate(cmd)
			if err != nil {
				return err
			}
			return o.run(cmd.Context(), env, args[0], target)
		},
	}
	o.client = addClientFlags(cmd, env)
	f := cmd.Flags()
	f.StringArrayVarP(&o.topics, "topic", "t", nil, "TOPIC or TOPIC:PARTITION,... to reset (repeatable)")
	f.BoolVar(&o.allTopics, "all-topics", false, "reset every partition the group has committed offsets for")
	f.BoolVar(&o.earliest, "to-earliest", false, "reset to the log start offset")
	f.BoolVar(&o.latest, "to-latest", false, "reset to the log end offset")
	f.Int64Var(&o.toOffset, "to-offset", 0, "reset to this offset")
	f.StringVar(&o.datetime, "to-datetime", "", "reset to the first record at or after this time (RFC 3339 or @UNIX_MS)")
	f.Int64Var(&o.shiftBy, "shift-by", 0, "move the committed offset by this many records (negative: back)")
	f.BoolVar(&o.dryRun, "dry-run", false, "only print the plan (the default)")
	f.BoolVar(&o.execute, "execute", false, "commit the new offsets")
	return cmd
}

// validate checks everything that does not need the cluster and returns
// the reset target.
func (o *resetOptions) validate(cmd *cobra.Command) (resetTarget, error) {
	changed := cmd.Flags().Changed
	var given []string
	var target resetTarget
	if o.earliest {
		given, target = append(given, "--to-earliest"), resetTarget{kind: resetEarliest}
	}
	if o.latest {
		given, target = append(given, "--to-latest"), resetTarget{kind: resetLatest}
	}
	if changed("to-offset") {
		if o.toOffset < 0 {
			return target, usageErrorf("--to-offset %d: must not be negative", o.toOffset)
		}
		given, target = append(given, "--to-offset"), resetTarget{kind: resetOffset, n: o.toOffset}
	}
	if changed("to-datetime") {
		ms, err := parseDatetime(o.datetime)
		if err != nil {
			return target, err
		}
		given, target = append(given, "--to-datetime"), resetTarget{kind: resetTime, n: ms}
	}
	if changed("shift-by") {
		given, target = append(given, "--shift-by"), resetTarget{kind: resetShift, n: o.shiftBy}
	}
	switch len(given) {
	case 0:
		return target, usageErrorf("no reset target: give one of --to-earliest, --to-latest, --to-offset N, --to-datetime TIME or --shift-by N")
	case 1:
	default:
		return target, usageErrorf("%s: give only one reset target", strings.Join(given, " and "))
	}
	switch {
	case len(o.topics) > 0 && o.allTopics:
		return target, usageErrorf("--topic and --all-topics cannot be combined")
	case len(o.topics) == 0 && !o.allTopics:
		return target, usageErrorf("name the partitions to reset with --topic TOPIC[:PARTITION,...] or --all-topics")
	case o.dryRun && o.execute:
		return target, usageErrorf("--dry-run and --execute cannot be combined")
	}
	return target, nil
}

// parseDatetime parses a --to-datetime value into Unix milliseconds. A time
// zone is required: a bare local time would mean different instants on
// different machines. Times before 1970 are refused because ListOffsets
// reserves negative timestamps for "latest" and "earliest".
func parseDatetime(s string) (int64, error) {
	bad := func() (int64, error) {
		return 0, usageErrorf("--to-datetime %q: want an RFC 3339 time with a zone, such as 2026-11-22T10:00:00Z, or @UNIX_MS, not before 1970", s)
	}
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		ms, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || ms < 0 {
			return bad()
		}
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.UnixMilli() < 0 {
		return bad()
	}
	return t.UnixMilli(), nil
}

// newOffset computes one partition's new offset. current is the committed
// offset (-1 if none), the log spans [logStart, logEnd), and atTime is the
// ListOffsets answer for a timestamp target (negative when no record is
// that new). The result is clamped into [logStart, logEnd].
func (t resetTarget) newOffset(current, logStart, logEnd, atTime int64) (int64, error) {
	var off int64
	switch t.kind {
	case resetEarliest:
		off = logStart
	case resetLatest:
		off = logEnd
	case resetOffset:
		off = t.n
	case resetTime:
		off = atTime
		if off < 0 {
			off = logEnd
		}
	case resetShift:
		if current < 0 {
			return 0, fmt.Errorf("%w to shift (use --to-earliest, --to-latest or --to-offset)", ErrNoOffsets)
		}
		off = saturatingAdd(current, t.n)
	}
	return min(max(off, logStart), logEnd), nil
}

// saturatingAdd is a+b, pinned to the int64 range instead of wrapping, so
// --shift-by 9223372036854775807 means "to the end".
func saturatingAdd(a, b int64) int64 {
	switch {
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}

// resetRow is one line of the plan.
type resetRow struct {
	topic     string
	partition int32
	current   int64 // -1: no committed offset
	next      int64
}

func (o *resetOptions) run(ctx context.Context, env *Env, group string, target resetTarget) error {
	var specs []topicPartitions
	if len(o.topics) > 0 {
		var err error
		if specs, err = parseTopicPartitions(o.topics); err != nil {
			return err
		}
	}
	co := o.client
	adm, cl, err := co.newAdmin(env)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := co.withTimeout(ctx)
	defer cancel()

	if err := checkGroupInactive(ctx, adm, co, group); err != nil {
		return err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return fmt.Errorf("group %q: committed offsets: %w", group, co.clusterError(err))
	}
	var set kadm.TopicsSet
	if o.allTopics {
		set = make(kadm.TopicsSet)
		committed.Each(func(r kadm.OffsetResponse) {
			if r.Err == nil && r.At >= 0 {
				set.Add(r.Topic, r.Partition)
			}
		})
		if len(set) == 0 {
			return fmt.Errorf("group %q: %w for --all-topics to reset; name the partitions with --topic", group, ErrNoOffsets)
		}
	} else if set, err = resolveTopicPartitions(ctx, adm, co, specs); err != nil {
		return err
	}

	rows, err := planReset(ctx, adm, co, group, target, set, committed)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT\tNEW")
	for _, r := range rows {
		current := "-"
		if r.current >= 0 {
			current = strconv.FormatInt(r.current, 10)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", r.topic, r.partition, current, r.next)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !o.execute {
		fmt.Fprintf(env.Stderr, "Dry run: no offsets changed; run again with --execute to commit them.\n")
		return nil
	}
	return commitReset(ctx, env, adm, co, group, rows)
}

// checkGroupInactive refuses groups with members, as Kafka does for offset
// resets: only Empty groups and Dead ones (unknown, or just deleted) may
// have their offsets changed from outside.
func checkGroupInactive(ctx context.Context, adm *kadm.Client, co *clientOptions, group string) error {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("group %q: %w", group, co.clusterError(err))
	}
	d, err := described.On(group, nil)
	if err != nil {
		return fmt.Errorf("group %q: broker sent no description of it", group)
	}
	if d.Err != nil {
		return fmt.Errorf("group %q: %w", group, brokerError(d.Err, d.ErrMessage))
	}
	if d.State != "Empty" && d.State != "Dead" {
		return fmt.Errorf("group %q: %w: it is %s with %s; offsets can only be reset while the group is inactive (Empty or Dead), so stop its consumers first",
			group, ErrGroupActive, d.State, plural(int64(len(d.Members)), "member"))
	}
	return nil
}

// planReset computes the new offset of every partition in set.
func planReset(ctx context.Context, adm *kadm.Client, co *clientOptions, group string, target resetTarget,
	set kadm.TopicsSet, committed kadm.OffsetResponses) ([]resetRow, error) {
	topics := set.Topics()
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("log start offsets: %w", co.clusterError(err))
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("log end offsets: %w", co.clusterError(err))
	}
	var times kadm.ListedOffsets
	if target.kind == resetTime {
		if times, err = adm.ListOffsetsAfterMilli(ctx, target.n, topics...); err != nil {
			return nil, fmt.Errorf("offsets by time: %w", co.clusterError(err))
		}
	}
	lookup := func(offsets kadm.ListedOffsets, topic string, p int32, what string) (int64, error) {
		o, ok := offsets.Lookup(topic, p)
		if !ok {
			return 0, fmt.Errorf("%s[%d]: broker sent no %s offset", topic, p, what)
		}
		if o.Err != nil {
			return 0, fmt.Errorf("%s[%d]: %s offset: %w", topic, p, what, o.Err)
		}
		return o.Offset, nil
	}

	var rows []resetRow
	for _, tp := range set.Sorted() {
		slices.Sort(tp.Partitions)
		for _, p := range tp.Partitions {
			row := resetRow{topic: tp.Topic, partition: p, current: -1}
			if c, ok := committed.Lookup(tp.Topic, p); ok {
				if c.Err != nil {
					return nil, fmt.Errorf("group %q: %s[%d]: committed offset: %w", group, tp.Topic, p, c.Err)
				}
				row.current = max(c.At, -1)
			}
			logStart, err := lookup(starts, tp.Topic, p, "log start")
			if err != nil {
				return nil, err
			}
			logEnd, err := lookup(ends, tp.Topic, p, "log end")
			if err != nil {
				return nil, err
			}
			atTime := int64(-1)
			if target.kind == resetTime {
				if atTime, err = lookup(times, tp.Topic, p, "timestamp"); err != nil {
					return nil, err
				}
			}
			if row.next, err = target.newOffset(row.current, logStart, logEnd, atTime); err != nil {
				return nil, fmt.Errorf("group %q: %s[%d]: %w", group, tp.Topic, p, err)
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// commitReset commits the planned offsets. The commit carries no member id
// or generation, which a Kafka coordinator accepts only for a group without
// members; a consumer that joined since the state check makes it fail.
func commitReset(ctx context.Context, env *Env, adm *kadm.Client, co *clientOptions, group string, rows []resetRow) error {
	var offsets kadm.Offsets
	for _, r := range rows {
		offsets.Add(kadm.Offset{Topic: r.topic, Partition: r.partition, At: r.next, LeaderEpoch: -1})
	}
	resps, err := adm.CommitOffsets(ctx, group, offsets)
	if err != nil {
		return fmt.Errorf("group %q: committing offsets: %w", group, co.clusterError(err))
	}
	var errs []error
	for _, r := range rows {
		resp, ok := resps.Lookup(r.topic, r.partition)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("group %q: %s[%d]: broker sent no result for it", group, r.topic, r.partition))
		case resp.Err != nil:
			errs = append(errs, fmt.Errorf("group %q: %s[%d]: %w", group, r.topic, r.partition, resp.Err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	fmt.Fprintf(env.Stderr, "Committed %s for group %q.\n", plural(int64(len(rows)), "offset"), group)
	return nil
}
