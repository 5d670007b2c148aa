// Package cli implements the spool command line: the broker (`spool serve`)
// and the client commands (`topic`, `produce`, `consume`, `bench`).
//
// The client commands use a real Kafka client (franz-go kgo and kadm) and
// nothing Spool-specific, so they work against any Kafka-compatible cluster.
// Every command reads and writes only the streams in Env and takes its
// context from the caller, so tests drive the whole command line in-process.
//
// Exit codes: 0 success, 1 the operation failed (the broker refused it, a
// record was not acknowledged, the cluster could not be reached), 2 the
// command line itself was wrong (unknown flag, bad value, missing argument).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes returned by Main.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Env is everything a command may touch outside its own flags. Commands never
// use os.Stdin/os.Stdout/os.Getenv directly, so tests can run them in-process
// with buffers and a fake environment.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Logger receives diagnostics, including the Kafka client's own log
	// lines (their verbosity is chosen per command with --log-level).
	// Nil discards them.
	Logger *slog.Logger
	// Getenv looks up environment variables such as SPOOL_BROKERS. Nil means
	// an empty environment.
	Getenv func(key string) string
}

func (e *Env) getenv(key string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(key)
}

func (e *Env) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

// extraCommands lists the commands implemented outside the client-command
// files (serve.go, bench.go). Registering another one is one line here.
func extraCommands() []func(*Env) *cobra.Command {
	return []func(*Env) *cobra.Command{
		newServeCmd,
		newBenchCmd,
	}
}

// Main runs the spool command line with the process's streams and
// environment and returns the exit code. SIGINT and SIGTERM cancel the
// command's context so long-running commands (consume, produce, serve) stop
// cleanly; a second signal kills the process the usual way.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore default handling: a second Ctrl-C terminates at once
	}()
	env := &Env{
		Stdin:  stdin,
		Stdout: stdout,
		Stderr: stderr,
		// Filtering happens per command (--log-level), so the handler
		// passes everything it is given.
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Getenv: os.Getenv,
	}
	return Run(ctx, env, args, extraCommands()...)
}

// Run executes one command line against env and returns the exit code. It
// prints failures as one line per error, `spool: <what>: <why>`, on
// env.Stderr; usage errors are followed by a pointer to --help.
func Run(ctx context.Context, env *Env, args []string, extra ...func(*Env) *cobra.Command) int {
	root := rootCommand(env, extra...)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if line != "" {
			fmt.Fprintf(env.Stderr, "spool: %s\n", line)
		}
	}
	if errors.Is(err, ErrUsage) {
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(env.Stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return ExitUsage
	}
	return ExitFailure
}

// rootCommand builds the `spool` command tree. The client commands are added
// here; extra holds commands defined elsewhere in the package (serve, bench).
func rootCommand(env *Env, extra ...func(*Env) *cobra.Command) *cobra.Command {
	root := &cobra.Command{
		Use:   "spool",
		Short: "Spool: a Kafka-compatible message broker and its client",
		Long: `Spool is a Kafka-wire-compatible message broker. This one binary runs the
broker (spool serve) and is a command-line client for any Kafka-compatible
cluster (spool topic, produce, consume).

Client commands find the cluster through --brokers or the SPOOL_BROKERS
environment variable (a comma-separated host:port list, default 127.0.0.1:9092).

Exit status: 0 on success, 1 when the operation failed, 2 on a usage error.`,
		Example: `  spool serve
  spool topic create orders --partitions 3
  echo 'hello' | spool produce orders
  spool consume orders --from beginning --exit`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.AddCommand(newTopicCmd(env), newProduceCmd(env), newConsumeCmd(env), newGroupCmd(env), newClusterCmd(env), newUserCmd(env), newACLCmd(env))
	for _, newCmd := range extra {
		root.AddCommand(newCmd(env))
	}
	requireSubcommand(root)
	return root
}

// requireSubcommand makes a command that only groups subcommands reject a
// missing or unknown subcommand as a usage error. Cobra's default prints the
// help and exits 0 for `spool topic` and `spool topic bogus`, which hides
// typos in scripts.
func requireSubcommand(cmd *cobra.Command) {
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageErrorf("unknown command %q for %q", args[0], c.CommandPath())
		}
		return nil
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		return usageErrorf("%w: %q needs one of: %s", ErrMissingCommand, c.CommandPath(), strings.Join(names, ", "))
	}
}
