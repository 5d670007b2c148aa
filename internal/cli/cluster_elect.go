package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrElectionFailed is returned by cluster elect-leaders when at least one
// partition could not get the leader asked for.
var ErrElectionFailed = errors.New("leader election failed")

func newClusterElectCmd(env *Env) *cobra.Command {
	var (
		typ       string
		topic     string
		partition int32
	)
	cmd := &cobra.Command{
		Use:   "elect-leaders",
		Short: "Move leadership to preferred replicas, or elect unclean leaders",
		Long: `Trigger leader elections (ElectLeaders). --type preferred (the default) makes
each partition's preferred replica (the first in its replica list) the leader
where it is in sync; --type unclean gives leaderless partitions a leader from
any live replica, accepting the loss of records that replica did not have.

Without --topic every partition is considered. A partition whose leader is
already the right one is reported as such and is not a failure.`,
		Example: `  spool cluster elect-leaders
  spool cluster elect-leaders --topic orders --partition 0
  spool cluster elect-leaders --type unclean --topic orders`,
		Args: exactArgs(0, "no arguments"),
	}
	co := addClientFlags(cmd, env)
	f := cmd.Flags()
	f.StringVar(&typ, "type", "preferred", "election type: preferred or unclean")
	f.StringVar(&topic, "topic", "", "only this topic's partitions")
	f.Int32Var(&partition, "partition", -1, "only this partition (needs --topic)")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var how kadm.ElectLeadersHow
		switch strings.ToLower(typ) {
		case "preferred":
			how = kadm.ElectPreferredReplica
		case "unclean":
			how = kadm.ElectLiveReplica
		default:
			return usageErrorf("--type %q: want preferred or unclean", typ)
		}
		if cmd.Flags().Changed("partition") && topic == "" {
			return usageErrorf("--partition needs --topic")
		}
		if partition < -1 {
			return usageErrorf("--partition %d: must be >= 0", partition)
		}
		return co.runAdmin(env, func(ctx context.Context, adm *kadm.Client, _ []string) error {
			var set kadm.TopicsSet
			if topic != "" {
				parts, err := partitionsOf(ctx, adm, topic)
				if err != nil {
					return co.clusterError(err)
				}
				if partition >= 0 {
					if !slices.Contains(parts, partition) {
						return fmt.Errorf("topic %q: %w %d (it has %d)", topic, ErrNoSuchPartition, partition, len(parts))
					}
					parts = []int32{partition}
				}
				set = make(kadm.TopicsSet)
				set.Add(topic, parts...)
			}
			res, err := adm.ElectLeaders(ctx, how, set)
			if err != nil {
				return fmt.Errorf("ElectLeaders: %w", co.clusterError(err))
			}
			return printElections(env, res)
		})(cmd, nil)
	}
	return cmd
}

// partitionsOf lists topic's partition numbers, failing if it does not
// exist.
func partitionsOf(ctx context.Context, adm *kadm.Client, topic string) ([]int32, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := md.Topics[topic]
	if !ok {
		return nil, fmt.Errorf("topic %q: %w", topic, kerr.UnknownTopicOrPartition)
	}
	if td.Err != nil {
		return nil, fmt.Errorf("topic %q: %w", topic, td.Err)
	}
	var parts []int32
	for _, p := range td.Partitions.Sorted() {
		parts = append(parts, p.Partition)
	}
	return parts, nil
}

// printElections prints one line per partition; partitions that needed no
// election are not failures.
func printElections(env *Env, res kadm.ElectLeadersResults) error {
	var all []kadm.ElectLeadersResult
	for _, ps := range res {
		for _, r := range ps {
			all = append(all, r)
		}
	}
	slices.SortFunc(all, func(a, b kadm.ElectLeadersResult) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	if len(all) == 0 {
		fmt.Fprintln(env.Stdout, "No partition needed an election")
		return nil
	}
	var failed []string
	for _, r := range all {
		switch {
		case r.Err == nil:
			fmt.Fprintf(env.Stdout, "%s[%d]: leader elected\n", r.Topic, r.Partition)
		case errors.Is(r.Err, kerr.ElectionNotNeeded):
			fmt.Fprintf(env.Stdout, "%s[%d]: %v\n", r.Topic, r.Partition, brokerError(r.Err, r.ErrMessage))
		default:
			fmt.Fprintf(env.Stdout, "%s[%d]: failed: %v\n", r.Topic, r.Partition, brokerError(r.Err, r.ErrMessage))
			failed = append(failed, fmt.Sprintf("%s[%d]", r.Topic, r.Partition))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w for %d partition(s): %s", ErrElectionFailed, len(failed), strings.Join(failed, ", "))
	}
	return nil
}
