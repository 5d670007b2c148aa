package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func newTopicCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, reconfigure and delete topics",
		Long: `Manage topics on any Kafka-compatible cluster through the Kafka admin API
(CreateTopics, Metadata, ListOffsets, DescribeConfigs, IncrementalAlterConfigs,
DeleteTopics).`,
		Example: `  spool topic create orders --partitions 3 --config retention.ms=86400000
  spool topic list
  spool topic describe orders
  spool topic alter-config orders --set retention.ms=3600000 --delete cleanup.policy
  spool topic delete orders`,
	}
	cmd.AddCommand(
		newTopicCreateCmd(env),
		newTopicListCmd(env),
		newTopicDescribeCmd(env),
		newTopicAlterConfigCmd(env),
		newTopicDeleteCmd(env),
		newTopicReassignCmd(env),
	)
	requireSubcommand(cmd)
	return cmd
}

func newTopicCreateCmd(env *Env) *cobra.Command {
	var (
		partitions  int32
		replication int16
		configs     []string
		ifNotExists bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Long: `Create a topic. Partitions and replication factor default to the broker's
defaults (num.partitions, default.replication.factor). Topic configs are
given as repeated --config key=value.`,
		Example: `  spool topic create orders
  spool topic create orders --partitions 6 --replication-factor 3
  spool topic create events --config cleanup.policy=compact --config min.insync.replicas=2
  spool topic create orders --if-not-exists   # succeed if it is already there`,
		Args: exactArgs(1, "one topic NAME"),
	}
	co := addClientFlags(cmd, env)
	f := cmd.Flags()
	f.Int32VarP(&partitions, "partitions", "p", -1, "number of partitions (-1: broker default)")
	f.Int16VarP(&replication, "replication-factor", "r", -1, "replicas per partition (-1: broker default)")
	f.StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable)")
	f.BoolVar(&ifNotExists, "if-not-exists", false, "do not fail if the topic already exists")

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if partitions == 0 || partitions < -1 {
			return usageErrorf("--partitions %d: must be positive (or -1 for the broker default)", partitions)
		}
		if replication == 0 || replication < -1 {
			return usageErrorf("--replication-factor %d: must be positive (or -1 for the broker default)", replication)
		}
		kvs, err := parseKeyValues("--config", configs)
		if err != nil {
			return err
		}
		var cfg map[string]*string
		if len(kvs) > 0 {
			cfg = make(map[string]*string, len(kvs))
			for _, kv := range kvs {
				cfg[kv[0]] = kadm.StringPtr(kv[1])
			}
		}
		adm, cl, err := co.newAdmin(env)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := co.withTimeout(cmd.Context())
		defer cancel()

		name := args[0]
		resps, err := adm.CreateTopics(ctx, partitions, replication, cfg, name)
		if err != nil {
			return fmt.Errorf("topic %q: %w", name, co.clusterError(err))
		}
		resp, ok := resps[name]
		if !ok {
			return fmt.Errorf("topic %q: broker sent no result for it", name)
		}
		if ifNotExists && errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			fmt.Fprintf(env.Stdout, "Topic %q already exists\n", name)
			return nil
		}
		if resp.Err != nil {
			return fmt.Errorf("topic %q: %w", name, brokerError(resp.Err, resp.ErrMessage))
		}
		fmt.Fprintf(env.Stdout, "Created topic %q (%s, replication factor %s, id %s)\n",
			name, countOrDefault(int64(resp.NumPartitions), "partition"), numOrDefault(int64(resp.ReplicationFactor)), topicID(resp.ID))
		return nil
	}
	return cmd
}

// topicID renders a topic id the way Kafka's own tools do (unpadded
// URL-safe base64), so ids can be compared across tools; "-" when the
// broker does not assign ids.
func topicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return "-"
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// plural renders "1 record", "3 records".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}

// countOrDefault renders "3 partitions", or "default partitions" when an old
// broker did not report the number it chose (-1).
func countOrDefault(n int64, noun string) string {
	if n < 0 {
		return "default " + noun + "s"
	}
	return plural(n, noun)
}

func numOrDefault(n int64) string {
	if n < 0 {
		return "default"
	}
	return strconv.FormatInt(n, 10)
}

func newTopicListCmd(env *Env) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Long: `List topics as a table: name, partition count, replication factor and topic id.
Internal topics (such as __consumer_offsets) are shown only with --internal.`,
		Example: `  spool topic list
  spool topic list --internal --brokers kafka1:9092,kafka2:9092`,
		Args: exactArgs(0, "no arguments"),
	}
	co := addClientFlags(cmd, env)
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics")

	cmd.RunE = co.runAdmin(env, func(ctx context.Context, adm *kadm.Client, _ []string) error {
		list := adm.ListTopics
		if internal {
			list = adm.ListTopicsWithInternal
		}
		topics, err := list(ctx)
		if err != nil {
			return co.clusterError(err)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tPARTITIONS\tRF\tID")
		for _, t := range topics.Sorted() {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", t.Topic, len(t.Partitions), replicationFactor(t), topicID(t.ID))
		}
		return tw.Flush()
	})
	return cmd
}

// replicationFactor is the largest replica count of any partition; they are
// normally all equal, and during a reassignment the larger one is what the
// topic is moving to or from.
func replicationFactor(t kadm.TopicDetail) string {
	rf := -1
	for _, p := range t.Partitions {
		rf = max(rf, len(p.Replicas))
	}
	if rf < 0 {
		return "-"
	}
	return strconv.Itoa(rf)
}

func newTopicDeleteCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics",
		Long: `Delete one or more topics and all their records. Each topic is reported
separately; the command fails if any of them could not be deleted.`,
		Example: `  spool topic delete orders
  spool topic delete orders payments`,
		Args: minArgs(1, "at least one topic NAME"),
	}
	co := addClientFlags(cmd, env)
	cmd.RunE = co.runAdmin(env, func(ctx context.Context, adm *kadm.Client, names []string) error {
		names = uniq(names)
		resps, err := adm.DeleteTopics(ctx, names...)
		if err != nil {
			return co.clusterError(err)
		}
		var errs []error
		for _, name := range names {
			resp, ok := resps[name]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("topic %q: broker sent no result for it", name))
			case resp.Err != nil:
				errs = append(errs, fmt.Errorf("topic %q: %w", name, brokerError(resp.Err, resp.ErrMessage)))
			default:
				fmt.Fprintf(env.Stdout, "Deleted topic %q\n", name)
			}
		}
		return errors.Join(errs...)
	})
	return cmd
}

func newTopicAlterConfigCmd(env *Env) *cobra.Command {
	var sets, deletes []string
	cmd := &cobra.Command{
		Use:   "alter-config NAME... (--set key=value | --delete key)...",
		Short: "Change or remove topic configs",
		Long: `Change topic configs incrementally (IncrementalAlterConfigs): --set overrides a
key, --delete removes the override so the broker default applies again. Keys
not named are left as they are.`,
		Example: `  spool topic alter-config orders --set retention.ms=3600000
  spool topic alter-config orders --set cleanup.policy=compact --delete retention.bytes`,
		Args: minArgs(1, "at least one topic NAME"),
	}
	co := addClientFlags(cmd, env)
	cmd.Flags().StringArrayVarP(&sets, "set", "s", nil, "set config key=value (repeatable)")
	cmd.Flags().StringArrayVarP(&deletes, "delete", "d", nil, "remove the override for key (repeatable)")

	cmd.RunE = func(cmd *cobra.Command, names []string) error {
		alters, summary, err := configAlterations(sets, deletes)
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

		names = uniq(names)
		resps, err := adm.AlterTopicConfigs(ctx, alters, names...)
		// kadm may return per-broker shard errors together with the
		// responses it did get; report what we have before the error.
		var errs []error
		for _, name := range names {
			i := slices.IndexFunc(resps, func(r kadm.AlterConfigsResponse) bool { return r.Name == name })
			switch {
			case i < 0:
				if err == nil {
					errs = append(errs, fmt.Errorf("topic %q: broker sent no result for it", name))
				}
			case resps[i].Err != nil:
				errs = append(errs, fmt.Errorf("topic %q: %w", name, brokerError(resps[i].Err, resps[i].ErrMessage)))
			default:
				fmt.Fprintf(env.Stdout, "Updated topic %q: %s\n", name, summary)
			}
		}
		if err != nil {
			errs = append(errs, co.clusterError(err))
		}
		return errors.Join(errs...)
	}
	return cmd
}

// configAlterations turns --set and --delete into IncrementalAlterConfigs
// operations and a one-line summary of them.
func configAlterations(sets, deletes []string) ([]kadm.AlterConfig, string, error) {
	if len(sets) == 0 && len(deletes) == 0 {
		return nil, "", usageErrorf("nothing to change: give --set key=value or --delete key")
	}
	kvs, err := parseKeyValues("--set", sets)
	if err != nil {
		return nil, "", err
	}
	var alters []kadm.AlterConfig
	var parts []string
	seen := make(map[string]bool)
	for _, kv := range kvs {
		seen[kv[0]] = true
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv[0], Value: kadm.StringPtr(kv[1])})
		parts = append(parts, "set "+kv[0]+"="+kv[1])
	}
	for _, k := range deletes {
		k = strings.TrimSpace(k)
		if k == "" || strings.Contains(k, "=") {
			return nil, "", usageErrorf("--delete %q: want a config key", k)
		}
		if seen[k] {
			return nil, "", usageErrorf("config %q is both set and deleted", k)
		}
		seen[k] = true
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
		parts = append(parts, "deleted "+k)
	}
	return alters, strings.Join(parts, ", "), nil
}

// uniq drops repeated names, keeping the first occurrence's position, so
// `delete a a` asks once and reports once.
func uniq(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
