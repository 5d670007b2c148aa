package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newACLCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Create, list and delete ACLs",
		Long: `Manage ACLs (CreateAcls, DescribeAcls, DeleteAcls), enforced by brokers with
authorizer.class.name set. Principals are User:<name> (User:* for everyone);
operations are Kafka's: all, read, write, create, delete, alter, describe,
cluster_action, describe_configs, alter_configs, idempotent_write.`,
		Example: `  spool acl create --allow-principal User:alice --operation read --operation describe --topic orders
  spool acl create --allow-principal User:alice --operation all --topic team-a- --resource-pattern-type prefixed
  spool acl create --deny-principal User:bob --operation read --topic orders
  spool acl list --topic orders
  spool acl delete --allow-principal User:alice --topic orders`,
	}
	cmd.AddCommand(newACLCreateCmd(env), newACLListCmd(env), newACLDeleteCmd(env))
	requireSubcommand(cmd)
	return cmd
}

// aclFlags are the flags the three subcommands share.
type aclFlags struct {
	allow, deny, ops, hosts       []string
	topics, groups, txnIDs        []string
	cluster                       bool
	pattern                       string
	resourceGiven, principalGiven bool
}

func addACLFlags(cmd *cobra.Command, defaultPattern string) *aclFlags {
	a := &aclFlags{}
	f := cmd.Flags()
	f.StringArrayVar(&a.allow, "allow-principal", nil, "principal to allow, User:<name> or User:* (repeatable)")
	f.StringArrayVar(&a.deny, "deny-principal", nil, "principal to deny (repeatable)")
	f.StringArrayVar(&a.ops, "operation", nil, "operation (repeatable): all, read, write, create, delete, alter, describe, cluster_action, describe_configs, alter_configs, idempotent_write")
	f.StringArrayVar(&a.hosts, "host", nil, "client IP the ACL applies to (repeatable; default * when creating, any when listing or deleting)")
	f.StringArrayVar(&a.topics, "topic", nil, "topic (repeatable; * for every topic)")
	f.StringArrayVar(&a.groups, "group", nil, "consumer group (repeatable)")
	f.StringArrayVar(&a.txnIDs, "transactional-id", nil, "transactional id (repeatable)")
	f.BoolVar(&a.cluster, "cluster", false, "the cluster resource")
	f.StringVar(&a.pattern, "resource-pattern-type", defaultPattern, "literal or prefixed (listing and deleting also: any, match)")
	return a
}

// builder turns the flags into kadm's ACL builder; filter selects the
// list/delete semantics (nothing given matches anything).
func (a *aclFlags) builder(filter bool) (*kadm.ACLBuilder, error) {
	b := kadm.NewACLs()
	a.resourceGiven = len(a.topics)+len(a.groups)+len(a.txnIDs) > 0 || a.cluster
	a.principalGiven = len(a.allow)+len(a.deny) > 0
	for _, p := range append(append([]string(nil), a.allow...), a.deny...) {
		if name, ok := strings.CutPrefix(p, "User:"); !ok || name == "" {
			return nil, usageErrorf("principal %q: want User:<name> or User:*", p)
		}
	}
	if !filter && !a.principalGiven {
		return nil, usageErrorf("give --allow-principal or --deny-principal")
	}
	if !filter && !a.resourceGiven {
		return nil, usageErrorf("give a resource: --topic, --group, --transactional-id or --cluster")
	}
	if len(a.topics) > 0 {
		b.Topics(a.topics...)
	}
	if len(a.groups) > 0 {
		b.Groups(a.groups...)
	}
	if len(a.txnIDs) > 0 {
		b.TransactionalIDs(a.txnIDs...)
	}
	if a.cluster {
		b.Clusters()
	}
	if filter && !a.resourceGiven {
		b.AnyResource()
	}
	if filter && !a.principalGiven {
		b.Allow().AllowHosts(a.hosts...).Deny().DenyHosts(a.hosts...)
	} else {
		if len(a.allow) > 0 {
			b.Allow(a.allow...).AllowHosts(a.hosts...)
		}
		if len(a.deny) > 0 {
			b.Deny(a.deny...).DenyHosts(a.hosts...)
		}
	}
	pattern, err := kmsg.ParseACLResourcePatternType(a.pattern)
	if err != nil || (!filter && pattern != kmsg.ACLResourcePatternTypeLiteral && pattern != kmsg.ACLResourcePatternTypePrefixed) {
		return nil, usageErrorf("--resource-pattern-type %q: want literal or prefixed%s", a.pattern, map[bool]string{true: ", any or match"}[filter])
	}
	b.ResourcePatternType(pattern)
	var ops []kadm.ACLOperation
	for _, o := range a.ops {
		op, err := kmsg.ParseACLOperation(o)
		if err != nil || op == kmsg.ACLOperationUnknown || (!filter && op == kmsg.ACLOperationAny) {
			return nil, usageErrorf("--operation %q: unknown operation", o)
		}
		ops = append(ops, op)
	}
	if len(ops) == 0 {
		if !filter {
			return nil, usageErrorf("give at least one --operation")
		}
		ops = []kadm.ACLOperation{kmsg.ACLOperationAny}
	}
	b.Operations(ops...)
	return b, nil
}

func newACLCreateCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create ACLs: every principal x operation x resource given",
		Long: `Create one ACL for each combination of the principals, operations, hosts and
resources given. Creating an existing ACL succeeds. Needs ALTER on the cluster
(or a super user).`,
		Example: `  spool acl create --allow-principal User:alice --operation write --topic orders
  spool acl create --allow-principal User:alice --operation read --group app --topic app- --resource-pattern-type prefixed`,
		Args: exactArgs(0, "no arguments"),
	}
	co := addClientFlags(cmd, env)
	af := addACLFlags(cmd, "literal")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		b, err := af.builder(false)
		if err != nil {
			return err
		}
		return co.runAdmin(env, func(ctx context.Context, adm *kadm.Client, _ []string) error {
			res, err := adm.CreateACLs(ctx, b)
			if err != nil {
				return co.clusterError(err)
			}
			for _, r := range res {
				if r.Err != nil {
					return co.clusterError(fmt.Errorf("%s %s on %s %q: %w %s", r.Permission, r.Principal, r.Type, r.Name, r.Err, r.ErrMessage))
				}
			}
			fmt.Fprintf(env.Stdout, "Created %d ACL(s)\n", len(res))
			return nil
		})(cmd, args)
	}
	return cmd
}

func newACLListCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the ACLs matching the flags (all without any)",
		Long: `List ACLs as a table. Each flag narrows the filter; --resource-pattern-type match
with --topic NAME lists every ACL that applies to NAME (literal, * and prefixes).
Needs DESCRIBE on the cluster.`,
		Example: `  spool acl list
  spool acl list --topic orders --resource-pattern-type match`,
		Args: exactArgs(0, "no arguments"),
	}
	co := addClientFlags(cmd, env)
	af := addACLFlags(cmd, "any")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		b, err := af.builder(true)
		if err != nil {
			return err
		}
		return co.runAdmin(env, func(ctx context.Context, adm *kadm.Client, _ []string) error {
			res, err := adm.DescribeACLs(ctx, b)
			if err != nil {
				return co.clusterError(err)
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PRINCIPAL\tHOST\tPERMISSION\tOPERATION\tRESOURCE\tPATTERN\tNAME")
			seen := map[kadm.DescribedACL]bool{}
			for _, r := range res {
				if r.Err != nil {
					return co.clusterError(r.Err)
				}
				for _, d := range r.Described {
					if seen[d] {
						continue
					}
					seen[d] = true
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Principal, d.Host, d.Permission, d.Operation, d.Type, d.Pattern, d.Name)
				}
			}
			return tw.Flush()
		})(cmd, args)
	}
	return cmd
}

func newACLDeleteCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete the ACLs matching the flags",
		Long: `Delete every ACL the flags match (the list filter). A resource flag is
required, so that a bare "spool acl delete" cannot remove every ACL. Needs
ALTER on the cluster.`,
		Example: `  spool acl delete --allow-principal User:alice --topic orders
  spool acl delete --topic team-a- --resource-pattern-type prefixed`,
		Args: exactArgs(0, "no arguments"),
	}
	co := addClientFlags(cmd, env)
	af := addACLFlags(cmd, "any")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		b, err := af.builder(true)
		if err != nil {
			return err
		}
		if !af.resourceGiven {
			return usageErrorf("give a resource: --topic, --group, --transactional-id or --cluster")
		}
		return co.runAdmin(env, func(ctx context.Context, adm *kadm.Client, _ []string) error {
			res, err := adm.DeleteACLs(ctx, b)
			if err != nil {
				return co.clusterError(err)
			}
			n := 0
			for _, r := range res {
				if r.Err != nil {
					return co.clusterError(r.Err)
				}
				n += len(r.Deleted)
			}
			fmt.Fprintf(env.Stdout, "Deleted %d ACL(s)\n", n)
			return nil
		})(cmd, args)
	}
	return cmd
}
