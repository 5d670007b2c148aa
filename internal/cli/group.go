package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

var (
	// ErrNoSuchGroup is returned by group describe for a group the
	// coordinator does not know: Kafka describes such a group as Dead with
	// no members and no offsets rather than failing, which would let a
	// typo pass as an empty table.
	ErrNoSuchGroup = errors.New("no such group")

	// ErrGroupActive is returned by group reset-offsets for a group that
	// has members. Kafka only lets offsets of inactive (Empty or Dead)
	// groups be changed from outside: a running consumer would overwrite
	// them with its next commit.
	ErrGroupActive = errors.New("group is active")

	// ErrNoOffsets is returned when an operation that works on a group's
	// committed offsets (--all-topics, --shift-by) finds none to work on.
	ErrNoOffsets = errors.New("no committed offset")
)

// groupStates are the classic group states ListGroups can filter on, as
// Kafka spells them.
var groupStates = []string{"PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Empty"}

func newGroupCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe and delete consumer groups; reset and delete their offsets",
		Long: `Manage consumer groups on any Kafka-compatible cluster through the Kafka admin
API (ListGroups, DescribeGroups, OffsetFetch, ListOffsets, OffsetCommit,
DeleteGroups, OffsetDelete).`,
		Example: `  spool group list
  spool group describe audit
  spool group reset-offsets audit --topic orders --to-earliest            # dry run: show the plan
  spool group reset-offsets audit --topic orders:0,1 --shift-by -10 --execute
  spool group delete-offsets audit --topic old-orders
  spool group delete audit`,
	}
	cmd.AddCommand(
		newGroupListCmd(env),
		newGroupDescribeCmd(env),
		newGroupDeleteCmd(env),
		newGroupResetOffsetsCmd(env),
		newGroupDeleteOffsetsCmd(env),
	)
	requireSubcommand(cmd)
	return cmd
}

func newGroupListCmd(env *Env) *cobra.Command {
	var states []string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List consumer groups",
		Long: `List groups as a table: name, state, protocol type and member count.
--state keeps only groups in the given states (` + strings.Join(groupStates, ", ") + `;
case does not matter; repeatable or comma-separated).`,
		Example: `  spool group list
  spool group list --state Stable --state Empty`,
		Args: exactArgs(0, "no arguments"),
	}
	co := addClientFlags(cmd, env)
	cmd.Flags().StringSliceVar(&states, "state", nil, "only groups in this state (repeatable)")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		filter, err := parseGroupStates(states)
		if err != nil {
			return err
		}
		adm, cl, err := co.newAdmin(env)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := co.withTimeout(cmd.Context())
		defer cancel()

		listed, err := adm.ListGroups(ctx, filter...)
		if err != nil {
			return co.clusterError(err)
		}
		// ListGroups has no member counts; describe the listed groups.
		// A group that cannot be described is still listed, with "-".
		var described kadm.DescribedGroups
		var errs []error
		if names := listed.Groups(); len(names) > 0 {
			if described, err = adm.DescribeGroups(ctx, names...); err != nil {
				errs = append(errs, fmt.Errorf("describing groups: %w", co.clusterError(err)))
			}
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL-TYPE\tMEMBERS")
		for _, g := range listed.Sorted() {
			members := "-"
			if d, ok := described[g.Group]; ok && d.Err == nil {
				members = strconv.Itoa(len(d.Members))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Group, dash(g.State), dash(g.ProtocolType), members)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		return errors.Join(errs...)
	}
	return cmd
}

// parseGroupStates checks --state values against Kafka's states and
// returns them in Kafka's spelling.
func parseGroupStates(states []string) ([]string, error) {
	var out []string
	for _, s := range states {
		i := slices.IndexFunc(groupStates, func(k string) bool { return strings.EqualFold(k, strings.TrimSpace(s)) })
		if i < 0 {
			return nil, usageErrorf("--state %q: want one of %s", s, strings.Join(groupStates, ", "))
		}
		if !slices.Contains(out, groupStates[i]) {
			out = append(out, groupStates[i])
		}
	}
	return out, nil
}

func newGroupDescribeCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's members, committed offsets and lag",
		Long: `Describe consumer groups: state, assignment protocol, coordinator, and each
member (member id, group instance id, client id, host, assigned partitions);
then every partition of the topics the group is assigned or has committed
offsets for: the committed offset ("-" if none), the log end offset (high
watermark), the lag between them (from the log start when nothing is
committed), the member that owns the partition and the metadata stored with
the commit.

Assignments are known only while the group is Stable; an Empty group shows
its committed offsets with no member.`,
		Example: `  spool group describe audit
  spool group describe audit billing --brokers kafka1:9092`,
		Args: minArgs(1, "at least one GROUP"),
	}
	co := addClientFlags(cmd, env)
	cmd.RunE = co.runAdmin(env, func(ctx context.Context, adm *kadm.Client, names []string) error {
		names = uniq(names)
		lags, err := adm.Lag(ctx, names...)
		if err != nil {
			return co.clusterError(err)
		}
		var errs []error
		printed := 0
		for _, name := range names {
			l, ok := lags[name]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("group %q: broker sent no description of it", name))
				continue
			case l.Error() != nil:
				errs = append(errs, fmt.Errorf("group %q: %w", name, co.clusterError(l.Error())))
				continue
			case l.State == "Dead" && len(l.Members) == 0 && len(l.Lag) == 0:
				errs = append(errs, fmt.Errorf("group %q: %w", name, ErrNoSuchGroup))
				continue
			}
			if printed > 0 {
				fmt.Fprintln(env.Stdout)
			}
			printed++
			if err := printGroupLag(env.Stdout, l); err != nil {
				return err
			}
		}
		return errors.Join(errs...)
	})
	return cmd
}

// printGroupLag writes one described group: a header, the members table and
// the per-partition offsets table.
func printGroupLag(w io.Writer, l kadm.DescribedGroupLag) error {
	fmt.Fprintf(w, "Group: %s\n", l.Group)
	fmt.Fprintf(w, "State: %s\n", dash(l.State))
	fmt.Fprintf(w, "Protocol type: %s\n", dash(l.ProtocolType))
	fmt.Fprintf(w, "Protocol: %s\n", dash(l.Protocol))
	fmt.Fprintf(w, "Coordinator: %d (%s:%d)\n", l.Coordinator.NodeID, l.Coordinator.Host, l.Coordinator.Port)
	fmt.Fprintf(w, "Members: %d\n", len(l.Members))
	fmt.Fprintf(w, "Total lag: %d\n", l.Lag.Total())

	if len(l.Members) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MEMBER-ID\tINSTANCE-ID\tCLIENT-ID\tHOST\tASSIGNED")
		for _, m := range l.Members {
			instance := "-"
			if m.InstanceID != nil {
				instance = *m.InstanceID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.MemberID, instance, dash(m.ClientID), dash(m.ClientHost), assignedPartitions(m))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	rows := l.Lag.Sorted()
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCOMMITTED\tLOG-END\tLAG\tMEMBER\tMETADATA\tERROR")
	for _, r := range rows {
		committed, end, lag, member := "-", "-", "-", "-"
		if r.Commit.At >= 0 {
			committed = strconv.FormatInt(r.Commit.At, 10)
		}
		if r.End.Err == nil {
			end = strconv.FormatInt(r.End.Offset, 10)
		}
		if r.Lag >= 0 {
			lag = strconv.FormatInt(r.Lag, 10)
		}
		if r.Member != nil {
			member = r.Member.MemberID
		}
		var problem string
		if r.Err != nil {
			problem = r.Err.Error()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Topic, r.Partition, committed, end, lag, member, metadataCell(r.Commit.Metadata), problem)
	}
	return tw.Flush()
}

// assignedPartitions renders a member's assignment as "topic:0,1 other:2",
// or "-" when there is none or it is not in the consumer protocol's format.
func assignedPartitions(m kadm.DescribedGroupMember) string {
	c, ok := m.Assigned.AsConsumer()
	if !ok || c == nil {
		return "-"
	}
	var parts []string
	for _, t := range c.Topics {
		if len(t.Partitions) == 0 {
			continue
		}
		ps := slices.Clone(t.Partitions)
		slices.Sort(ps)
		parts = append(parts, t.Topic+":"+joinIDs(ps))
	}
	if len(parts) == 0 {
		return "-"
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// metadataCell renders commit metadata for a table cell: "-" when empty,
// quoted when it holds whitespace or control characters that would break
// the columns.
func metadataCell(s string) string {
	if s == "" {
		return "-"
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || !strconv.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

// dash renders an empty string as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newGroupDeleteCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete consumer groups and their committed offsets",
		Long: `Delete one or more groups with all their committed offsets. A group must be
empty (no running consumers) to be deleted; the broker answers NON_EMPTY_GROUP
otherwise. Each group is reported separately; the command fails if any of them
could not be deleted.`,
		Example: `  spool group delete audit
  spool group delete audit billing`,
		Args: minArgs(1, "at least one GROUP"),
	}
	co := addClientFlags(cmd, env)
	cmd.RunE = co.runAdmin(env, func(ctx context.Context, adm *kadm.Client, names []string) error {
		names = uniq(names)
		resps, err := adm.DeleteGroups(ctx, names...)
		// As with topics, report what did come back before a shard error.
		var errs []error
		for _, name := range names {
			resp, ok := resps[name]
			switch {
			case !ok:
				if err == nil {
					errs = append(errs, fmt.Errorf("group %q: broker sent no result for it", name))
				}
			case resp.Err != nil:
				errs = append(errs, fmt.Errorf("group %q: %w", name, brokerError(resp.Err, resp.ErrMessage)))
			default:
				fmt.Fprintf(env.Stdout, "Deleted group %q\n", name)
			}
		}
		if err != nil {
			errs = append(errs, co.clusterError(err))
		}
		return errors.Join(errs...)
	})
	return cmd
}

func newGroupDeleteOffsetsCmd(env *Env) *cobra.Command {
	var topics []string
	cmd := &cobra.Command{
		Use:   "delete-offsets GROUP --topic TOPIC[:PARTITION,...]...",
		Short: "Delete a group's committed offsets for some partitions",
		Long: `Delete a group's committed offsets (OffsetDelete), for example for a topic the
group no longer reads, so it stops showing up as lag. --topic TOPIC means
every partition of the topic; TOPIC:0,2 only those partitions.

The broker keeps the offsets of topics an active group still subscribes to
(GROUP_SUBSCRIBED_TO_TOPIC for those partitions).`,
		Example: `  spool group delete-offsets audit --topic old-orders
  spool group delete-offsets audit --topic orders:0,1 --topic payments`,
		Args: exactArgs(1, "one GROUP"),
	}
	co := addClientFlags(cmd, env)
	cmd.Flags().StringArrayVarP(&topics, "topic", "t", nil, "TOPIC or TOPIC:PARTITION,... whose offsets to delete (repeatable)")

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(topics) == 0 {
			return usageErrorf("name the offsets to delete with --topic TOPIC[:PARTITION,...]")
		}
		specs, err := parseTopicPartitions(topics)
		if err != nil {
			return err
		}
		adm, cl, err := co.newAdmin(env)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := co.withTimeout(cmd.Context())
		defer cancel()

		group := args[0]
		set, err := resolveTopicPartitions(ctx, adm, co, specs)
		if err != nil {
			return err
		}
		resps, err := adm.DeleteOffsets(ctx, group, set)
		if err != nil {
			return fmt.Errorf("group %q: %w", group, co.clusterError(err))
		}
		var errs []error
		for _, tp := range set.Sorted() {
			slices.Sort(tp.Partitions)
			for _, p := range tp.Partitions {
				perr, ok := resps.Lookup(tp.Topic, p)
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("group %q: %s[%d]: broker sent no result for it", group, tp.Topic, p))
				case perr != nil:
					errs = append(errs, fmt.Errorf("group %q: %s[%d]: %w", group, tp.Topic, p, perr))
				default:
					fmt.Fprintf(env.Stdout, "Deleted committed offset of group %q for %s[%d]\n", group, tp.Topic, p)
				}
			}
		}
		return errors.Join(errs...)
	}
	return cmd
}

// topicPartitions is one --topic value: a topic and the partitions named
// (nil means all of them).
type topicPartitions struct {
	topic      string
	partitions []int32
}

// parseTopicPartitions parses repeated --topic TOPIC[:P,P...] values,
// merging repeats of a topic (a bare TOPIC wins over a partition list).
// Kafka topic names cannot contain ':', so the first one separates them.
func parseTopicPartitions(values []string) ([]topicPartitions, error) {
	var out []topicPartitions
	index := make(map[string]int)
	for _, v := range values {
		topic, list, hasList := strings.Cut(strings.TrimSpace(v), ":")
		if topic == "" {
			return nil, usageErrorf("--topic %q: want TOPIC or TOPIC:PARTITION,...", v)
		}
		var ps []int32
		if hasList {
			for s := range strings.SplitSeq(list, ",") {
				p, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
				if err != nil || p < 0 {
					return nil, usageErrorf("--topic %q: partition %q is not a partition number", v, s)
				}
				ps = append(ps, int32(p))
			}
		}
		i, seen := index[topic]
		if !seen {
			index[topic] = len(out)
			out = append(out, topicPartitions{topic: topic, partitions: ps})
			continue
		}
		switch {
		case out[i].partitions == nil:
			// already all partitions
		case !hasList:
			out[i].partitions = nil
		default:
			out[i].partitions = append(out[i].partitions, ps...)
		}
	}
	for i := range out {
		if out[i].partitions != nil {
			slices.Sort(out[i].partitions)
			out[i].partitions = slices.Compact(out[i].partitions)
		}
	}
	return out, nil
}

// resolveTopicPartitions checks the named topics and partitions against
// the cluster's metadata and expands bare topics to all their partitions.
func resolveTopicPartitions(ctx context.Context, adm *kadm.Client, co *clientOptions, specs []topicPartitions) (kadm.TopicsSet, error) {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.topic
	}
	details, err := adm.ListTopicsWithInternal(ctx, names...)
	if err != nil {
		return nil, co.clusterError(err)
	}
	set := make(kadm.TopicsSet)
	var errs []error
	for _, s := range specs {
		d, ok := details[s.topic]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %q: broker sent no metadata for it", s.topic))
			continue
		case d.Err != nil:
			errs = append(errs, fmt.Errorf("topic %q: %w", s.topic, d.Err))
			continue
		}
		if s.partitions == nil {
			for p := range d.Partitions {
				set.Add(s.topic, p)
			}
			continue
		}
		for _, p := range s.partitions {
			if _, ok := d.Partitions[p]; !ok {
				errs = append(errs, fmt.Errorf("topic %q partition %d: %w (the topic has %d)", s.topic, p, ErrNoSuchPartition, len(d.Partitions)))
				continue
			}
			set.Add(s.topic, p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}
