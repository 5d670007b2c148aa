package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

var (
	// ErrUnknownBroker: cluster drain --broker names a broker the cluster
	// does not list.
	ErrUnknownBroker = errors.New("unknown broker")
	// ErrNoDrainTarget: some replica on the broker has nowhere to go (no
	// other live broker that is not already a replica of its partition).
	ErrNoDrainTarget = errors.New("no broker to move the replica to")
)

// move is one partition's planned reassignment.
type move struct {
	topic     string
	partition int32
	from, to  []int32
}

func newClusterDrainCmd(env *Env) *cobra.Command {
	var (
		broker  int32
		execute bool
	)
	cmd := &cobra.Command{
		Use:   "drain --broker N [--execute]",
		Short: "Move every replica off a broker (dry run unless --execute)",
		Long: `Plan reassignments that move every partition replica off broker N, each to the
least-loaded other live broker that is not already a replica of that
partition (the replacement takes N's place in the replica list). Without
--execute the plan is only printed; with --execute it is applied and the
command waits (bounded by --timeout) until every move has completed.`,
		Example: `  spool cluster drain --broker 3
  spool cluster drain --broker 3 --execute --timeout 10m`,
		Args: exactArgs(0, "no arguments"),
	}
	co := addClientFlags(cmd, env)
	cmd.Flags().Int32Var(&broker, "broker", -1, "id of the broker to drain")
	cmd.Flags().BoolVar(&execute, "execute", false, "apply the plan and wait until it is done (default: dry run)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if broker < 0 {
			return usageErrorf("--broker: need the id of the broker to drain")
		}
		return co.runAdmin(env, func(ctx context.Context, adm *kadm.Client, _ []string) error {
			md, err := adm.Metadata(ctx)
			if err != nil {
				return co.clusterError(err)
			}
			plan, err := planDrain(broker, md)
			if err != nil {
				return err
			}
			if len(plan) == 0 {
				fmt.Fprintf(env.Stdout, "Broker %d holds no replicas: nothing to move\n", broker)
				return nil
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOPIC\tPARTITION\tREPLICAS\tNEW-REPLICAS")
			for _, m := range plan {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", m.topic, m.partition, joinIDs(m.from), joinIDs(m.to))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if !execute {
				fmt.Fprintf(env.Stdout, "\nDry run: %s would move off broker %d. Re-run with --execute to apply.\n", plural(int64(len(plan)), "replica"), broker)
				return nil
			}
			var req kadm.AlterPartitionAssignmentsReq
			parts := make(map[string][]int32)
			for _, m := range plan {
				req.Assign(m.topic, m.partition, m.to)
				parts[m.topic] = append(parts[m.topic], m.partition)
			}
			if err := alterAssignments(ctx, adm, req); err != nil {
				return co.clusterError(err)
			}
			fmt.Fprintf(env.Stdout, "\nStarted %s; waiting for them to complete\n", plural(int64(len(plan)), "reassignment"))
			if err := waitReassignments(ctx, adm, parts); err != nil {
				return co.clusterError(err)
			}
			fmt.Fprintf(env.Stdout, "Moved %s off broker %d\n", plural(int64(len(plan)), "replica"), broker)
			return nil
		})(cmd, nil)
	}
	return cmd
}

// planDrain computes the moves that take every replica off broker. Targets
// are the other brokers Metadata lists (live ones); each replacement goes
// to the one with the fewest replicas so far, counting the moves already
// planned (ties: lowest id), so a drain spreads its load. It plans all or
// nothing: a replica with no possible target fails the whole plan.
func planDrain(broker int32, md kadm.Metadata) ([]move, error) {
	load := make(map[int32]int)
	var others []int32
	known := false
	for _, b := range md.Brokers {
		if b.NodeID == broker {
			known = true
			continue
		}
		others = append(others, b.NodeID)
		load[b.NodeID] = 0
	}
	slices.Sort(others)
	// A fenced or stopped broker is missing from Metadata but may still
	// hold replicas: it can be drained as long as some partition names it.
	for _, td := range md.Topics {
		for _, p := range td.Partitions {
			for _, r := range p.Replicas {
				if r == broker {
					known = true
				}
				if _, ok := load[r]; ok {
					load[r]++
				}
			}
		}
	}
	if !known {
		return nil, fmt.Errorf("--broker %d: %w (brokers: %s)", broker, ErrUnknownBroker, joinIDs(md.Brokers.NodeIDs()))
	}
	var plan []move
	var stuck []string
	for _, td := range md.Topics.Sorted() {
		for _, p := range td.Partitions.Sorted() {
			i := slices.Index(p.Replicas, broker)
			if i < 0 {
				continue
			}
			target := int32(-1)
			for _, b := range others {
				if slices.Contains(p.Replicas, b) {
					continue
				}
				if target < 0 || load[b] < load[target] {
					target = b
				}
			}
			if target < 0 {
				stuck = append(stuck, fmt.Sprintf("%s[%d] (replicas %s)", td.Topic, p.Partition, joinIDs(p.Replicas)))
				continue
			}
			load[target]++
			to := slices.Clone(p.Replicas)
			to[i] = target
			plan = append(plan, move{topic: td.Topic, partition: p.Partition, from: p.Replicas, to: to})
		}
	}
	if len(stuck) > 0 {
		if len(others) == 0 {
			return nil, fmt.Errorf("cannot drain broker %d: %w: it is the only broker", broker, ErrNoDrainTarget)
		}
		return nil, fmt.Errorf("cannot drain broker %d: %w for %d partition(s) (every other live broker already holds a replica): %s",
			broker, ErrNoDrainTarget, len(stuck), strings.Join(stuck, ", "))
	}
	return plan, nil
}
