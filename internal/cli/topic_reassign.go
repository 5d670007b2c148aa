package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrReassignmentFailed is returned when the cluster refused to start or
// cancel a reassignment.
var ErrReassignmentFailed = errors.New("reassignment failed")

// reassignPollInterval is how often --wait and drain --execute ask whether
// reassignments are still in progress.
const reassignPollInterval = 250 * time.Millisecond

func newTopicReassignCmd(env *Env) *cobra.Command {
	var (
		topic        string
		partition    int32
		replicas     string
		cancel, list bool
		wait         bool
	)
	cmd := &cobra.Command{
		Use:   "reassign (--topic T --partition P (--replicas 1,2,3 | --cancel) | --list)",
		Short: "Move a partition's replicas to other brokers, or list moves in progress",
		Long: `Change the brokers a partition lives on (AlterPartitionAssignments). The first
broker in --replicas becomes the preferred leader. New replicas copy the data
from the leader and join the ISR; then the replicas not in the new list are
removed. --cancel stops a move in progress and goes back to the original
replicas. --list shows moves in progress (ListPartitionReassignments).`,
		Example: `  spool topic reassign --topic orders --partition 0 --replicas 2,3,1
  spool topic reassign --topic orders --partition 0 --replicas 3,1 --wait
  spool topic reassign --topic orders --partition 0 --cancel
  spool topic reassign --list`,
		Args: exactArgs(0, "no arguments (use --topic and --partition)"),
	}
	co := addClientFlags(cmd, env)
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "topic of the partition to move (with --list: only this topic)")
	f.Int32Var(&partition, "partition", -1, "partition to move")
	f.StringVar(&replicas, "replicas", "", "new replica list, comma-separated broker ids, preferred leader first")
	f.BoolVar(&cancel, "cancel", false, "cancel the move in progress for the partition")
	f.BoolVar(&list, "list", false, "list reassignments in progress")
	f.BoolVar(&wait, "wait", false, "wait until the move has completed (bounded by --timeout)")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if list {
			if replicas != "" || cancel || cmd.Flags().Changed("partition") || wait {
				return usageErrorf("--list takes only --topic")
			}
			return co.runRaw(cmd, env, func(ctx context.Context, adm *kadm.Client, cl *kgo.Client) error {
				moves, err := listReassignments(ctx, adm, cl, topic)
				if err != nil {
					return co.clusterError(err)
				}
				return printReassignments(env, moves)
			})
		}
		if topic == "" || partition < 0 {
			return usageErrorf("need --topic and --partition (or --list)")
		}
		if (replicas == "") == !cancel {
			return usageErrorf("give exactly one of --replicas and --cancel")
		}
		var ids []int32
		if !cancel {
			var err error
			if ids, err = parseIDs("--replicas", replicas); err != nil {
				return err
			}
		}
		return co.runAdmin(env, func(ctx context.Context, adm *kadm.Client, _ []string) error {
			var req kadm.AlterPartitionAssignmentsReq
			req.Assign(topic, partition, ids) // nil cancels
			if err := alterAssignments(ctx, adm, req); err != nil {
				return co.clusterError(err)
			}
			if cancel {
				fmt.Fprintf(env.Stdout, "Cancelled the reassignment of %s[%d]\n", topic, partition)
				return nil
			}
			fmt.Fprintf(env.Stdout, "Reassigning %s[%d] to replicas %s\n", topic, partition, joinIDs(ids))
			if !wait {
				return nil
			}
			if err := waitReassignments(ctx, adm, map[string][]int32{topic: {partition}}); err != nil {
				return co.clusterError(err)
			}
			fmt.Fprintf(env.Stdout, "Reassignment of %s[%d] complete\n", topic, partition)
			return nil
		})(cmd, nil)
	}
	return cmd
}

// alterAssignments sends req and turns per-partition refusals into one
// error naming each.
func alterAssignments(ctx context.Context, adm *kadm.Client, req kadm.AlterPartitionAssignmentsReq) error {
	resps, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return fmt.Errorf("AlterPartitionAssignments: %w", err)
	}
	var errs []error
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%w: %s[%d]: %w", ErrReassignmentFailed, r.Topic, r.Partition, brokerError(r.Err, r.ErrMessage)))
		}
	}
	return errors.Join(errs...)
}

// listReassignments returns the moves in progress, of topic only if it is
// not empty. kadm lists only named partitions, so this asks with a raw
// request, whose null topic list means all of them.
func listReassignments(ctx context.Context, adm *kadm.Client, cl *kgo.Client, topic string) ([]kadm.ListPartitionReassignmentsResponse, error) {
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	req.TimeoutMillis = 30000
	if topic != "" {
		parts, err := partitionsOf(ctx, adm, topic)
		if err != nil {
			return nil, err
		}
		rt := kmsg.NewListPartitionReassignmentsRequestTopic()
		rt.Topic, rt.Partitions = topic, parts
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("ListPartitionReassignments: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, brokerError(err, derefString(resp.ErrorMessage))
	}
	var out []kadm.ListPartitionReassignmentsResponse
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, kadm.ListPartitionReassignmentsResponse{Topic: t.Topic, Partition: p.Partition,
				Replicas: p.Replicas, AddingReplicas: p.AddingReplicas, RemovingReplicas: p.RemovingReplicas})
		}
	}
	slices.SortFunc(out, func(a, b kadm.ListPartitionReassignmentsResponse) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return out, nil
}

func printReassignments(env *Env, moves []kadm.ListPartitionReassignmentsResponse) error {
	if len(moves) == 0 {
		fmt.Fprintln(env.Stdout, "No reassignments in progress")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tREPLICAS\tADDING\tREMOVING")
	for _, m := range moves {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", m.Topic, m.Partition, joinIDs(m.Replicas), joinIDs(m.AddingReplicas), joinIDs(m.RemovingReplicas))
	}
	return tw.Flush()
}

// waitReassignments polls until none of parts (topic -> partitions) is
// being reassigned any more, or ctx ends.
func waitReassignments(ctx context.Context, adm *kadm.Client, parts map[string][]int32) error {
	set := make(kadm.TopicsSet)
	for t, ps := range parts {
		set.Add(t, ps...)
	}
	for {
		l, err := adm.ListPartitionReassignments(ctx, set)
		if err != nil {
			return fmt.Errorf("waiting for reassignments: %w", err)
		}
		pending := 0
		l.Each(func(r kadm.ListPartitionReassignmentsResponse) {
			if len(r.AddingReplicas)+len(r.RemovingReplicas) > 0 {
				pending++
			}
		})
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d reassignment(s) to complete: %w", pending, ctx.Err())
		case <-time.After(reassignPollInterval):
		}
	}
}
