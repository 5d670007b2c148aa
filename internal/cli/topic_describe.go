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
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newTopicDescribeCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe NAME...",
		Short: "Show a topic's partitions, offsets and configs",
		Long: `Describe topics: id, partition count, replication factor, the configs that
differ from the defaults (topic overrides, and broker settings marked
"(broker)"), and for each partition its leader, leader epoch, replicas,
in-sync replicas and log start / end offsets. The log end offset is the high
watermark: the offset the next acknowledged record will get.`,
		Example: `  spool topic describe orders
  spool topic describe orders payments --brokers kafka1:9092`,
		Args: minArgs(1, "at least one topic NAME"),
	}
	co := addClientFlags(cmd, env)
	cmd.RunE = co.runAdmin(env, func(ctx context.Context, adm *kadm.Client, names []string) error {
		return describeTopics(ctx, env.Stdout, adm, co, uniq(names))
	})
	return cmd
}

// topicDescription is everything describe prints about one topic.
type topicDescription struct {
	detail  kadm.TopicDetail
	starts  kadm.ListedOffsets
	ends    kadm.ListedOffsets
	configs []kadm.Config
	// haveConfigs is false when the configs could not be read, so
	// "(none)" is not claimed for a topic whose configs are unknown.
	haveConfigs bool
}

func describeTopics(ctx context.Context, w io.Writer, adm *kadm.Client, co *clientOptions, names []string) error {
	details, err := adm.ListTopicsWithInternal(ctx, names...)
	if err != nil {
		return co.clusterError(err)
	}
	var errs []error
	var found []string
	for _, name := range names {
		d, ok := details[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %q: broker sent no metadata for it", name))
		case d.Err != nil:
			errs = append(errs, fmt.Errorf("topic %q: %w", name, d.Err))
		default:
			found = append(found, name)
		}
	}
	if len(found) == 0 {
		return errors.Join(errs...)
	}

	// Offsets and configs are extras: if a broker cannot answer (for some
	// partitions, or at all, e.g. an API it does not implement), show what
	// there is and report the failure after the tables (exit 1). kadm
	// returns what other brokers answered alongside *ShardErrors.
	starts, err := adm.ListStartOffsets(ctx, found...)
	if err != nil {
		errs = append(errs, fmt.Errorf("log start offsets: %w", co.clusterError(err)))
	}
	ends, err := adm.ListEndOffsets(ctx, found...)
	if err != nil {
		errs = append(errs, fmt.Errorf("log end offsets: %w", co.clusterError(err)))
	}
	configs, err := adm.DescribeTopicConfigs(ctx, found...)
	if err != nil {
		errs = append(errs, fmt.Errorf("configs: %w", co.clusterError(err)))
	}

	for i, name := range found {
		if i > 0 {
			fmt.Fprintln(w)
		}
		desc := topicDescription{detail: details[name], starts: starts, ends: ends}
		if rc, err := configs.On(name, nil); err == nil {
			if rc.Err != nil {
				errs = append(errs, fmt.Errorf("topic %q: configs: %w", name, brokerError(rc.Err, rc.ErrMessage)))
			} else {
				desc.configs, desc.haveConfigs = rc.Configs, true
			}
		}
		if err := desc.print(w); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

func (d topicDescription) print(w io.Writer) error {
	t := d.detail
	fmt.Fprintf(w, "Topic: %s\n", t.Topic)
	fmt.Fprintf(w, "ID: %s\n", topicID(t.ID))
	if t.IsInternal {
		fmt.Fprintln(w, "Internal: true")
	}
	fmt.Fprintf(w, "Partitions: %d\n", len(t.Partitions))
	fmt.Fprintf(w, "Replication factor: %s\n", replicationFactor(t))
	if d.haveConfigs {
		fmt.Fprintf(w, "Configs: %s\n", nonDefaultConfigs(d.configs))
	} else {
		fmt.Fprintln(w, "Configs: (unavailable)")
	}

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tEPOCH\tREPLICAS\tISR\tLOG-START\tLOG-END\tERROR")
	for _, p := range t.Partitions.Sorted() {
		var problems []string
		if p.Err != nil {
			problems = append(problems, p.Err.Error())
		}
		start, err := offsetCell(d.starts, t.Topic, p.Partition)
		if err != nil {
			problems = append(problems, "log start: "+err.Error())
		}
		end, err := offsetCell(d.ends, t.Topic, p.Partition)
		if err != nil {
			problems = append(problems, "log end: "+err.Error())
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Partition, p.Leader, p.LeaderEpoch,
			joinIDs(p.Replicas), joinIDs(p.ISR), start, end, strings.Join(problems, "; "))
	}
	return tw.Flush()
}

// offsetCell renders one listed offset, "-" when it is unknown.
func offsetCell(offsets kadm.ListedOffsets, topic string, partition int32) (string, error) {
	o, ok := offsets.Lookup(topic, partition)
	if !ok {
		return "-", nil
	}
	if o.Err != nil {
		return "-", o.Err
	}
	return strconv.FormatInt(o.Offset, 10), nil
}

// nonDefaultConfigs lists the configs a user set somewhere, sorted by key:
// topic overrides plainly, settings inherited from broker configuration
// marked "(broker)". Built-in defaults are left out; they are the same for
// every topic and would bury the interesting lines.
func nonDefaultConfigs(configs []kadm.Config) string {
	var parts []string
	for _, c := range configs {
		var suffix string
		switch c.Source {
		case kmsg.ConfigSourceDynamicTopicConfig:
		case kmsg.ConfigSourceDynamicBrokerConfig, kmsg.ConfigSourceDynamicDefaultBrokerConfig, kmsg.ConfigSourceStaticBrokerConfig:
			suffix = " (broker)"
		default:
			continue
		}
		value := c.MaybeValue()
		if c.Sensitive {
			value = "<sensitive>"
		}
		parts = append(parts, c.Key+"="+value+suffix)
	}
	if len(parts) == 0 {
		return "(none)"
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func joinIDs(ids []int32) string {
	if len(ids) == 0 {
		return "-"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}
