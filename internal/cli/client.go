package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spool-mq/spool/internal/tlsconf"
)

// Defaults shared by every client command.
const (
	defaultBrokers = "127.0.0.1:9092"
	defaultTimeout = 30 * time.Second
	brokersEnv     = "SPOOL_BROKERS"
)

// clientOptions are the flags every client command takes: where the cluster
// is, how long to wait for it, and how chatty the Kafka client may be.
type clientOptions struct {
	brokers  string
	timeout  time.Duration
	logLevel string
	sasl     saslOptions
	tls      tlsFlags
}

// tlsFlags connect to SSL listeners: any of them turns TLS on.
type tlsFlags struct {
	ca, cert, key string
	// insecure skips verifying the broker's certificate. For tests
	// against self-signed brokers only: it lets anyone in the path
	// impersonate the broker.
	insecure bool
}

func (f tlsFlags) enabled() bool { return f.ca != "" || f.cert != "" || f.key != "" || f.insecure }

// addClientFlags registers --brokers, --timeout and --log-level on cmd. The
// --brokers default comes from SPOOL_BROKERS when set, so `--help` shows the
// value that will actually be used.
func addClientFlags(cmd *cobra.Command, env *Env) *clientOptions {
	o := &clientOptions{}
	brokers := defaultBrokers
	if v := strings.TrimSpace(env.getenv(brokersEnv)); v != "" {
		brokers = v
	}
	f := cmd.Flags()
	f.StringVarP(&o.brokers, "brokers", "b", brokers, "comma-separated bootstrap brokers, host:port (env "+brokersEnv+")")
	f.DurationVar(&o.timeout, "timeout", defaultTimeout, "how long to wait for the cluster before giving up")
	f.StringVar(&o.logLevel, "log-level", "none", "Kafka client log level: none, error, warn, info or debug (logs go to stderr)")
	o.sasl.addFlags(cmd, env)
	f.StringVar(&o.tls.ca, "tls-ca", "", "connect over TLS, verifying brokers with the CA certificates in this PEM file")
	f.StringVar(&o.tls.cert, "tls-cert", "", "connect over TLS with this PEM client certificate (mTLS; needs --tls-key)")
	f.StringVar(&o.tls.key, "tls-key", "", "PEM private key of --tls-cert")
	f.BoolVar(&o.tls.insecure, "tls-insecure-skip-verify", false, "connect over TLS without verifying the broker's certificate (testing only: anyone can impersonate the broker)")
	return o
}

// seeds returns the --brokers list, rejecting an empty one.
func (o *clientOptions) seeds() ([]string, error) {
	var seeds []string
	for s := range strings.SplitSeq(o.brokers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, usageErrorf("--brokers: need at least one host:port")
	}
	return seeds, nil
}

// validate checks the flags that do not depend on the cluster.
func (o *clientOptions) validate() error {
	if _, err := o.seeds(); err != nil {
		return err
	}
	if o.timeout <= 0 {
		return usageErrorf("--timeout %s: must be positive", o.timeout)
	}
	if _, err := parseLogLevel(o.logLevel); err != nil {
		return err
	}
	if _, err := o.sasl.saslMechanism(); err != nil {
		return err
	}
	return nil
}

// newClient builds a kgo client for the flags plus any command-specific
// options. It does not connect; the first request does.
func (o *clientOptions) newClient(env *Env, extra ...kgo.Opt) (*kgo.Client, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	seeds, _ := o.seeds()
	level, _ := parseLogLevel(o.logLevel)
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("spool-cli"),
		// Connecting, and the handshake on a new connection, do not
		// watch the request's context; bound them by --timeout too so a
		// silent broker cannot hold the command for kgo's 10s defaults.
		kgo.DialTimeout(min(o.timeout, 10*time.Second)),
		kgo.RequestTimeoutOverhead(min(max(o.timeout, 100*time.Millisecond), 10*time.Second)),
		kgo.WithLogger(kgoLogger{log: env.logger(), level: level}),
	}
	saslOpts, _ := o.sasl.opts()
	opts = append(opts, saslOpts...)
	tc, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		// kgo sets the server name from each broker's host.
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		// kgo rejects only invalid option combinations, which flags
		// produce; say so as a usage error.
		return nil, usageError(err)
	}
	return cl, nil
}

// tlsConfig is the client TLS configuration of the --tls-* flags, nil
// when none is given (plaintext).
func (o *clientOptions) tlsConfig() (*tls.Config, error) {
	if !o.tls.enabled() {
		return nil, nil
	}
	tc, err := tlsconf.ClientConfig(o.tls.ca, o.tls.cert, o.tls.key, o.tls.insecure)
	if err != nil {
		return nil, usageErrorf("--tls-ca/--tls-cert/--tls-key: %w", err)
	}
	return tc, nil
}

// newAdmin builds an admin client whose broker-side request timeout matches
// --timeout. Close the returned kgo client when done.
func (o *clientOptions) newAdmin(env *Env) (*kadm.Client, *kgo.Client, error) {
	cl, err := o.newClient(env)
	if err != nil {
		return nil, nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(min(o.timeout, time.Hour).Milliseconds()))
	return adm, cl, nil
}

// runAdmin adapts fn into a command's RunE: it builds the admin client,
// bounds the work by --timeout and closes the client afterwards.
func (o *clientOptions) runAdmin(env *Env, fn func(ctx context.Context, adm *kadm.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return o.runRaw(cmd, env, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
			return fn(ctx, adm, args)
		})
	}
}

// withTimeout bounds a cluster operation by --timeout.
func (o *clientOptions) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, o.timeout)
}

// clusterError turns a request failure into the error the user sees. A
// request cut off by --timeout reports what the client was trying and
// where, instead of a bare "context deadline exceeded".
func (o *clientOptions) clusterError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w after %s waiting for brokers %s: %w", ErrTimeout, o.timeout, o.brokers, err)
	}
	return err
}

// parseLogLevel maps --log-level onto kgo's levels.
func parseLogLevel(s string) (kgo.LogLevel, error) {
	switch strings.ToLower(s) {
	case "none", "":
		return kgo.LogLevelNone, nil
	case "error":
		return kgo.LogLevelError, nil
	case "warn":
		return kgo.LogLevelWarn, nil
	case "info":
		return kgo.LogLevelInfo, nil
	case "debug":
		return kgo.LogLevelDebug, nil
	}
	return 0, usageErrorf("--log-level %q: want none, error, warn, info or debug", s)
}

// kgoLogger forwards franz-go's log lines to the Env's slog logger, at or
// above the chosen level.
type kgoLogger struct {
	log   *slog.Logger
	level kgo.LogLevel
}

func (l kgoLogger) Level() kgo.LogLevel { return l.level }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var sl slog.Level
	switch level {
	case kgo.LogLevelError:
		sl = slog.LevelError
	case kgo.LogLevelWarn:
		sl = slog.LevelWarn
	case kgo.LogLevelInfo:
		sl = slog.LevelInfo
	default:
		sl = slog.LevelDebug
	}
	l.log.Log(context.Background(), sl, msg, keyvals...)
}

// parseKeyValues parses repeated key=value flag values. Keys must be
// non-empty and unique; the value is everything after the first '='.
func parseKeyValues(flag string, pairs []string) ([][2]string, error) {
	seen := make(map[string]bool, len(pairs))
	out := make([][2]string, 0, len(pairs))
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, usageErrorf("%s %q: want key=value", flag, kv)
		}
		if seen[k] {
			return nil, usageErrorf("%s: key %q given twice", flag, k)
		}
		seen[k] = true
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// exactArgs is cobra.ExactArgs with a usage error naming what is missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s: want %s, got %d argument(s)", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

// minArgs is cobra.MinimumNArgs with a usage error naming what is missing.
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s: want %s", cmd.CommandPath(), what)
		}
		return nil
	}
}
