package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/spool-mq/spool/internal/broker"
	"github.com/spool-mq/spool/internal/config"
)

// serveFlags maps each `spool serve` flag onto the config key it sets, so
// flags, the properties file and SPOOL_* variables share one vocabulary.
var serveFlags = []struct{ flag, key, usage string }{
	{"node-id", "node.id", "this node's id (unique in the cluster)"},
	{"data-dir", "log.dirs", "directory for logs and metadata"},
	{"kafka-addr", "listeners", "Kafka listeners: host:port, or NAME://host:port,... (PLAINTEXT, SSL)"},
	{"advertised-kafka-addr", "advertised.listeners", "host:port (or NAME://host:port,...) clients are told to connect to (default: --kafka-addr)"},
	{"http-addr", "http.addr", "HTTP listener for /metrics, /livez, /readyz (empty disables)"},
	{"controller-addr", "controller.listener", "Raft listener host:port for the metadata quorum"},
	{"voters", "controller.quorum.voters", "metadata quorum voters as id@host:port,... (default: this node alone)"},
	{"durability", "log.durability", "fsync (acknowledge after fsync, group commit) or periodic-flush (acknowledge after write)"},
	{"log-level", "log.level", "debug, info, warn or error"},
	{"log-format", "log.format", "text or json"},
}

func newServeCmd(env *Env) *cobra.Command {
	var configFile string
	var sets []string
	values := make([]string, len(serveFlags))
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Spool broker",
		Long: `Run a Spool broker. With no flags it is a complete single-node cluster:
Kafka on 127.0.0.1:9092, HTTP (metrics, health) on 127.0.0.1:8080, data in ./spool-data.

Settings come from, in increasing precedence: built-in defaults, a Kafka-style
properties file (--config), SPOOL_* environment variables (SPOOL_LOG_DIRS for
log.dirs), --set key=value, and the flags below.`,
		Example: `  spool serve
  spool serve --data-dir /var/lib/spool --kafka-addr 0.0.0.0:9092 --advertised-kafka-addr kafka1:9092
  spool serve --config server.properties --set log.retention.ms=3600000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.Default()
			if configFile != "" {
				if err := config.LoadFile(configFile, &cfg); err != nil {
					return err
				}
			}
			if err := config.ApplyEnv(os.Environ(), &cfg); err != nil {
				return err
			}
			for _, kv := range sets {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return usageError(fmt.Errorf("--set %q: want key=value", kv))
				}
				if err := cfg.Set(strings.TrimSpace(k), strings.TrimSpace(v)); err != nil {
					return err
				}
			}
			for i, f := range serveFlags {
				if cmd.Flags().Changed(f.flag) {
					if err := cfg.Set(f.key, values[i]); err != nil {
						return fmt.Errorf("--%s: %w", f.flag, err)
					}
				}
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			logger, err := newLogger(env, cfg.LogLevel, cfg.LogFormat)
			if err != nil {
				return err
			}
			return runBroker(cmd.Context(), cfg, logger)
		},
	}
	def := config.Default()
	for i, f := range serveFlags {
		dv, _ := def.Get(f.key)
		cmd.Flags().StringVar(&values[i], f.flag, dv, f.usage+" ["+f.key+"]")
	}
	cmd.Flags().StringVar(&configFile, "config", "", "Kafka-style properties file (key=value lines)")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "set any config key, e.g. --set num.partitions=3 (repeatable)")
	return cmd
}

// runBroker starts the broker and stops it gracefully on SIGINT/SIGTERM.
func runBroker(ctx context.Context, cfg config.Broker, logger *slog.Logger) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := broker.Start(ctx, cfg, broker.Options{Logger: logger})
	if err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info("shutting down")
	return b.Close()
}

func newLogger(env *Env, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log.level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(env.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log.format %q: want text or json", format)
}
