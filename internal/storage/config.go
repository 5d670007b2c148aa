package storage

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/vfs"
)

// TopicPartition names a partition log. Its directory is
// "<topic>-<partition>".
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String is the log's directory name.
func (tp TopicPartition) String() string {
	return tp.Topic + "-" + strconv.FormatInt(int64(tp.Partition), 10)
}

// validate rejects names that are not legal Kafka topic names (ASCII
// letters, digits, '.', '_', '-'; at most 249), which also keeps a name
// from escaping the data directory or breaking the checkpoint format.
func (tp TopicPartition) validate() error {
	t := tp.Topic
	if t == "" || t == "." || t == ".." || len(t) > 249 || tp.Partition < 0 {
		return fmt.Errorf("%w: %q partition %d", ErrInvalidName, t, tp.Partition)
	}
	for _, c := range []byte(t) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q", ErrInvalidName, t)
		}
	}
	return nil
}

// parseDirName parses "<topic>-<partition>". The partition must be written
// canonically, so exactly one directory name maps to each TopicPartition.
func parseDirName(name string) (TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil {
		return TopicPartition{}, false
	}
	tp := TopicPartition{Topic: name[:i], Partition: int32(p)}
	if tp.String() != name || tp.validate() != nil {
		return TopicPartition{}, false
	}
	return tp, true
}

// Defaults, as in Kafka.
const (
	DefaultSegmentBytes       = 1 << 30
	DefaultSegmentMs          = 7 * 24 * 60 * 60 * 1000
	DefaultRetentionMs        = 7 * 24 * 60 * 60 * 1000
	DefaultRetentionBytes     = -1
	DefaultIndexIntervalBytes = 4096
	DefaultSegmentIndexBytes  = 10 << 20
	DefaultFileDeleteDelayMs  = 60000

	DefaultDeleteRetentionMs      = 24 * 60 * 60 * 1000
	DefaultMinCompactionLagMs     = 0
	DefaultMaxCompactionLagMs     = math.MaxInt64
	DefaultMinCleanableDirtyRatio = 0.5

	// DefaultCleanerMaxMapEntries bounds the cleaner's key map (about 40
	// bytes an entry).
	DefaultCleanerMaxMapEntries = 1 << 20
)

// maxSegmentBytes keeps positions within the uint32 index field with room
// for the position check arithmetic.
const maxSegmentBytes = math.MaxInt32

// LogConfig is the per-topic storage configuration.
type LogConfig struct {
	// SegmentBytes: roll when the active segment would grow past this.
	// A single append larger than this still goes into one (new) segment.
	SegmentBytes int64
	// SegmentMs: roll when the active segment's first batch was appended
	// this long ago.
	SegmentMs int64
	// RetentionMs: delete segments whose largest timestamp is older than
	// this; -1 keeps them forever. 0 is honoured (delete everything not in
	// the active segment), so do not pass a zero LogConfig: start from
	// DefaultLogConfig.
	RetentionMs int64
	// RetentionBytes: delete the oldest segments while the log stays at or
	// above this size without them; -1 is unlimited.
	RetentionBytes int64
	// IndexIntervalBytes is the spacing of offset-index entries.
	IndexIntervalBytes int32
	// SegmentIndexBytes (segment.index.bytes) is the largest an index of
	// a segment may grow: the active segment rolls once its offset index
	// (8-byte entries) or time index (12-byte entries) holds as many
	// entries as fit, as in Kafka, so dense indexes (a small
	// index.interval.bytes) cannot grow without bound in memory and on
	// disk. A multi-batch append may add a few entries past the limit
	// before the roll.
	SegmentIndexBytes int32
	// FileDeleteDelayMs (file.delete.delay.ms): a segment removed by
	// retention or by compaction is first renamed to <file>.deleted and
	// removed this long after, as in Kafka, so whatever still reads the
	// files by name (an operator's tool, a backup) finishes; the broker's
	// own readers hold the open file and are safe either way. 0 removes
	// at once. Recovery removes leftover .deleted files.
	FileDeleteDelayMs int64

	// CleanupDelete and CleanupCompact are cleanup.policy. Time and size
	// retention apply only with CleanupDelete (Kafka: "compact" alone
	// never deletes by retention); a config with neither set (a
	// LogConfig built by hand) is treated as "delete", Kafka's default.
	// CleanupCompact makes the log cleaner keep only the latest record
	// per key (see clean.go).
	CleanupDelete  bool
	CleanupCompact bool
	// DeleteRetentionMs is how long a tombstone survives after the
	// cleaner first cleaned the part of the log holding it.
	DeleteRetentionMs int64
	// MinCompactionLagMs: a segment whose largest timestamp is newer
	// than this is not cleaned yet.
	MinCompactionLagMs int64
	// MaxCompactionLagMs: once the oldest uncleaned batch is this old the
	// log is cleaned whatever its dirty ratio, and the active segment of
	// a compacted log rolls after this long (KIP-354).
	MaxCompactionLagMs int64
	// MinCleanableDirtyRatio: the log is cleaned when uncleaned bytes are
	// at least this fraction of the cleanable bytes.
	MinCleanableDirtyRatio float64
}

// deletes reports whether time and size retention apply.
func (c *LogConfig) deletes() bool { return c.CleanupDelete || !c.CleanupCompact }

// DefaultLogConfig is Kafka's default topic storage configuration.
func DefaultLogConfig() LogConfig {
	return LogConfig{
		SegmentBytes:       DefaultSegmentBytes,
		SegmentMs:          DefaultSegmentMs,
		RetentionMs:        DefaultRetentionMs,
		RetentionBytes:     DefaultRetentionBytes,
		IndexIntervalBytes: DefaultIndexIntervalBytes,
		SegmentIndexBytes:  DefaultSegmentIndexBytes,
		FileDeleteDelayMs:  DefaultFileDeleteDelayMs,

		CleanupDelete:          true,
		DeleteRetentionMs:      DefaultDeleteRetentionMs,
		MinCompactionLagMs:     DefaultMinCompactionLagMs,
		MaxCompactionLagMs:     DefaultMaxCompactionLagMs,
		MinCleanableDirtyRatio: DefaultMinCleanableDirtyRatio,
	}
}

// normalized replaces values that have no meaning with defaults and clamps
// SegmentBytes to what the index format can address.
func (c LogConfig) normalized() LogConfig {
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	c.SegmentBytes = min(c.SegmentBytes, maxSegmentBytes)
	if c.SegmentMs <= 0 {
		c.SegmentMs = DefaultSegmentMs
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if c.SegmentIndexBytes <= 0 {
		c.SegmentIndexBytes = DefaultSegmentIndexBytes
	}
	c.FileDeleteDelayMs = max(c.FileDeleteDelayMs, 0)
	if c.RetentionMs < -1 {
		c.RetentionMs = -1
	}
	if c.RetentionBytes < -1 {
		c.RetentionBytes = -1
	}
	c.DeleteRetentionMs = max(c.DeleteRetentionMs, 0)
	c.MinCompactionLagMs = max(c.MinCompactionLagMs, 0)
	if c.MaxCompactionLagMs <= 0 {
		c.MaxCompactionLagMs = DefaultMaxCompactionLagMs
	}
	if !(c.MinCleanableDirtyRatio >= 0) { // also NaN
		c.MinCleanableDirtyRatio = 0
	}
	c.MinCleanableDirtyRatio = min(c.MinCleanableDirtyRatio, 1)
	return c
}

// Options are the dependencies of a Manager.
type Options struct {
	// FS is where logs live; nil means the real filesystem.
	FS vfs.FS
	// Logger receives recovery warnings and the like; nil discards.
	Logger *slog.Logger
	// Now is the clock for retention and time-based rolls; nil is
	// time.Now.
	Now func() time.Time

	// PerFileSync turns the group commit's whole-file-system sync
	// (vfs.WholeSyncer) off: every round fsyncs each log's files.
	PerFileSync bool

	// CleanerMaxMapEntries bounds how many distinct keys one cleaning
	// pass maps (memory: about 40 bytes each); a log with more keys in
	// its uncleaned part is cleaned over several passes. 0 means
	// DefaultCleanerMaxMapEntries.
	CleanerMaxMapEntries int
	// CleanerIOBytesPerSecond throttles the cleaner's reads and writes;
	// 0 is unlimited.
	CleanerIOBytesPerSecond int64
	// Decoder reads records for the cleaner; its limit (the broker's
	// message.max.decompressed.bytes) bounds how large a batch's records
	// may decompress. Nil means record.NewDecoder.
	Decoder *record.Decoder
}

func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = vfs.NewOS()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CleanerMaxMapEntries <= 0 {
		o.CleanerMaxMapEntries = DefaultCleanerMaxMapEntries
	}
	o.CleanerIOBytesPerSecond = max(o.CleanerIOBytesPerSecond, 0)
	return o
}
