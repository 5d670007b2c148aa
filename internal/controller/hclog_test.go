package controller

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// recorder is a slog.Handler that keeps records.
type recorder struct {
	mu      sync.Mutex
	min     slog.Level
	records []slog.Record
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.min }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func attrs(rec slog.Record) map[string]string {
	m := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

func TestHCLogLevels(t *testing.T) {
	rec := &recorder{min: slog.LevelDebug}
	l := newHCLogAdapter(slog.New(rec)).Named("raft").With("node", "1")
	l.Info("entering leader state", "term", 2)
	l.Warn("heartbeat timeout reached, starting election", "x", 1)
	l.Warn("failed to contact", "server-id", "2")
	l.Error("failed to take snapshot", "error", "disk full")
	l.Error("failed to heartbeat to", "peer", "127.0.0.1:9093")
	l.Trace("tiny detail")

	want := []struct {
		msg   string
		level slog.Level
	}{
		{"entering leader state", slog.LevelDebug},
		{"heartbeat timeout reached, starting election", slog.LevelDebug},
		{"failed to contact", slog.LevelWarn},
		{"failed to take snapshot", slog.LevelError},
		{"failed to heartbeat to", slog.LevelDebug},
		{"tiny detail", slog.LevelDebug},
	}
	if len(rec.records) != len(want) {
		t.Fatalf("%d records, want %d", len(rec.records), len(want))
	}
	for i, w := range want {
		r := rec.records[i]
		if r.Message != w.msg || r.Level != w.level {
			t.Errorf("record %d = %q at %v, want %q at %v", i, r.Message, r.Level, w.msg, w.level)
		}
		if a := attrs(r); a["logger"] != "raft" || a["node"] != "1" {
			t.Errorf("record %d attrs %v lack logger/node", i, a)
		}
	}
	if a := attrs(rec.records[0]); a["term"] != "2" {
		t.Errorf("call args lost: %v", a)
	}
}

func TestHCLogRespectsHandlerLevel(t *testing.T) {
	rec := &recorder{min: slog.LevelInfo}
	l := newHCLogAdapter(slog.New(rec))
	l.Info("chatter")
	l.Warn("rejecting vote request since we have a leader")
	l.Warn("real warning")
	if len(rec.records) != 1 || rec.records[0].Message != "real warning" {
		t.Fatalf("records at Info: %v", rec.records)
	}
	if l.IsDebug() || !l.IsWarn() || l.GetLevel() != hclog.Warn {
		t.Errorf("IsDebug=%v IsWarn=%v GetLevel=%v", l.IsDebug(), l.IsWarn(), l.GetLevel())
	}
	if l.Named("a").Named("b").Name() != "a.b" || l.Named("a").ResetNamed("c").Name() != "c" {
		t.Error("logger names do not nest")
	}
}
