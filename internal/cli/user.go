package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newUserCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create, list and delete SASL/SCRAM users",
		Long: `Manage SCRAM credentials (KIP-554: AlterUserScramCredentials,
DescribeUserScramCredentials). The client salts and hashes the password; the
cluster stores only the salted credential. A user authenticates with
SCRAM-SHA-256, SCRAM-SHA-512 (each needs its own credential) or PLAIN (checked
against either credential).`,
		Example: `  echo -n 's3cret' | spool user create alice --password-stdin
  spool user create alice --mechanism SCRAM-SHA-512 --password s3cret
  spool user list --sasl-mechanism SCRAM-SHA-256 --sasl-user admin --sasl-password ...
  spool user delete alice`,
	}
	cmd.AddCommand(newUserCreateCmd(env), newUserListCmd(env), newUserDeleteCmd(env))
	requireSubcommand(cmd)
	return cmd
}

// scramMechanism parses a --mechanism value.
func scramMechanism(s string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(s) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, usageErrorf("--mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", s)
}

func newUserCreateCmd(env *Env) *cobra.Command {
	var (
		mechanism, password string
		passwordStdin       bool
		iterations          int32
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a user, or set a new password for one mechanism",
		Long: `Store a SCRAM credential for NAME. Creating an existing user's credential for
the same mechanism replaces it (a password change). The password comes from
--password-stdin (first line of standard input) or --password.`,
		Example: `  echo -n 's3cret' | spool user create alice --password-stdin
  spool user create alice --mechanism SCRAM-SHA-512 --iterations 8192 --password s3cret`,
		Args: exactArgs(1, "one user NAME"),
	}
	co := addClientFlags(cmd, env)
	f := cmd.Flags()
	f.StringVar(&mechanism, "mechanism", "SCRAM-SHA-256", "SCRAM-SHA-256 or SCRAM-SHA-512")
	f.StringVar(&password, "password", "", "the password (visible to ps; prefer --password-stdin)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	f.Int32Var(&iterations, "iterations", 8192, "PBKDF2 iterations, 4096 to 16384")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		m, err := scramMechanism(mechanism)
		if err != nil {
			return err
		}
		if passwordStdin == (password != "") {
			return usageErrorf("give exactly one of --password and --password-stdin")
		}
		if passwordStdin {
			line, err := bufio.NewReader(env.Stdin).ReadString('\n')
			if err != nil && line == "" {
				return usageErrorf("--password-stdin: no password on standard input")
			}
			password = strings.TrimRight(line, "\r\n")
		}
		if password == "" {
			return usageErrorf("the password must not be empty")
		}
		if iterations < 4096 || iterations > 16384 {
			return usageErrorf("--iterations %d: must be between 4096 and 16384", iterations)
		}
		return co.runRaw(cmd, env, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
			res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: args[0], Mechanism: m, Iterations: iterations, Password: password}})
			if err == nil {
				err = res.Error()
			}
			if err != nil {
				return co.clusterError(err)
			}
			fmt.Fprintf(env.Stdout, "Stored %s credential for user %q\n", m, args[0])
			return nil
		})
	}
	return cmd
}

func newUserListCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List users and their SCRAM mechanisms",
		Long:    `List users as a table: name, mechanism and iterations. Nothing secret is shown (the cluster never returns salts or keys).`,
		Example: `  spool user list`,
		Args:    exactArgs(0, "no arguments"),
	}
	co := addClientFlags(cmd, env)
	cmd.RunE = co.runAdmin(env, func(ctx context.Context, adm *kadm.Client, _ []string) error {
		users, err := adm.DescribeUserSCRAMs(ctx)
		if err == nil {
			err = users.Error()
		}
		if err != nil {
			return co.clusterError(err)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tMECHANISM\tITERATIONS")
		for _, u := range users.Sorted() {
			for _, c := range u.CredInfos {
				fmt.Fprintf(tw, "%s\t%s\t%d\n", u.User, c.Mechanism, c.Iterations)
			}
		}
		return tw.Flush()
	})
	return cmd
}

func newUserDeleteCmd(env *Env) *cobra.Command {
	var mechanism string
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user's SCRAM credentials",
		Long: `Delete NAME's credential for --mechanism, or all of NAME's credentials without
it. Connections already authenticated stay open; new logins fail.`,
		Example: `  spool user delete alice
  spool user delete alice --mechanism SCRAM-SHA-512`,
		Args: exactArgs(1, "one user NAME"),
	}
	co := addClientFlags(cmd, env)
	cmd.Flags().StringVar(&mechanism, "mechanism", "", "delete only this mechanism's credential")
	cmd.RunE = co.runAdmin(env, func(ctx context.Context, adm *kadm.Client, args []string) error {
		var dels []kadm.DeleteSCRAM
		if mechanism != "" {
			m, err := scramMechanism(mechanism)
			if err != nil {
				return err
			}
			dels = append(dels, kadm.DeleteSCRAM{User: args[0], Mechanism: m})
		} else {
			users, err := adm.DescribeUserSCRAMs(ctx, args[0])
			if err == nil {
				err = users.Error()
			}
			if err != nil {
				return co.clusterError(err)
			}
			for _, c := range users[args[0]].CredInfos {
				dels = append(dels, kadm.DeleteSCRAM{User: args[0], Mechanism: c.Mechanism})
			}
		}
		res, err := adm.AlterUserSCRAMs(ctx, dels, nil)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			return co.clusterError(err)
		}
		fmt.Fprintf(env.Stdout, "Deleted %d credential(s) of user %q\n", len(dels), args[0])
		return nil
	})
	return cmd
}
