package controller

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter routes hashicorp/raft's hclog output into a slog.Logger.
// Raft narrates its normal operation (state changes, elections, snapshots)
// at Info and even Warn; in spool's logs that is Debug, while real warnings
// and errors keep their level. The controller logs the events operators
// care about (leader changes) itself.
type hclogAdapter struct {
	log  *slog.Logger
	name string
	args []any
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLogAdapter(l *slog.Logger) hclog.Logger { return &hclogAdapter{log: l} }

// routineWarnings are raft warnings that describe ordinary elections and
// follower catch-up rather than trouble.
var routineWarnings = []string{
	"heartbeat timeout reached, starting election",
	"Election timeout reached, restarting election",
	"rejecting vote request since",
	"rejecting pre-vote request since",
	"duplicate requestVote",
	"appendEntries rejected, sending older logs",
	"previous log term mis-match",
	"clearing log suffix",
}

// unreachablePeer are raft errors it repeats every few hundred
// milliseconds while a voter is down. The outage is reported once by the
// controller (the broker is fenced); repeating it at Error would bury
// everything else in the log.
var unreachablePeer = []string{
	"failed to heartbeat to",
	"failed to appendEntries to",
	"failed to make requestVote RPC",
	"failed to make requestPreVote RPC",
}

// slogLevel maps an hclog level (and, for warnings, the message) to the
// level spool logs it at.
func slogLevel(level hclog.Level, msg string) slog.Level {
	switch {
	case level >= hclog.Warn && hasAnyPrefix(msg, unreachablePeer):
		return slog.LevelDebug
	case level >= hclog.Error:
		return slog.LevelError
	case level == hclog.Warn:
		if hasAnyPrefix(msg, routineWarnings) {
			return slog.LevelDebug
		}
		return slog.LevelWarn
	default:
		return slog.LevelDebug
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	lvl := slogLevel(level, msg)
	ctx := context.Background()
	if !a.log.Enabled(ctx, lvl) {
		return
	}
	all := make([]any, 0, len(a.args)+len(args)+2)
	if a.name != "" {
		all = append(all, "logger", a.name)
	}
	all = append(all, a.args...)
	all = append(all, args...)
	a.log.Log(ctx, lvl, msg, all...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) enabled(l slog.Level) bool { return a.log.Enabled(context.Background(), l) }

func (a *hclogAdapter) IsTrace() bool { return a.enabled(slog.LevelDebug) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(slog.LevelDebug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(slog.LevelDebug) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(slog.LevelWarn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(slog.LevelError) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.args }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	next := *a
	next.args = append(append([]any(nil), a.args...), args...)
	return &next
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	next := *a
	if a.name != "" {
		name = a.name + "." + name
	}
	next.name = name
	return &next
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	next := *a
	next.name = name
	return &next
}

// SetLevel is ignored: the slog handler decides what is shown.
func (a *hclogAdapter) SetLevel(hclog.Level) {}

func (a *hclogAdapter) GetLevel() hclog.Level {
	switch {
	case a.enabled(slog.LevelDebug):
		return hclog.Trace
	case a.enabled(slog.LevelWarn):
		return hclog.Warn
	case a.enabled(slog.LevelError):
		return hclog.Error
	}
	return hclog.Off
}

func (a *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)
}

func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return a.StandardLogger(opts).Writer()
}
