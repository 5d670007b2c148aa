package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fromHelp describes --from, shared by the flag and its errors.
const fromHelp = "beginning, end, an OFFSET, @TIMESTAMP_MS (first record at or after it) or -N (the last N records of each partition)"

// startKind says how a --from value picks the first offset of a partition.
type startKind int

const (
	startBeginning startKind = iota // log start offset
	startEnd                        // high watermark: only new records
	startOffset                     // an absolute offset
	startTime                       // first record at or after a timestamp
	startTail                       // N records before the end
)

// startSpec is a parsed --from value; n is the offset, timestamp or count.
type startSpec struct {
	kind startKind
	n    int64
}

func parseFrom(s string) (startSpec, error) {
	bad := func() (startSpec, error) {
		return startSpec{}, usageErrorf("--from %q: want %s", s, fromHelp)
	}
	switch {
	case s == "beginning":
		return startSpec{kind: startBeginning}, nil
	case s == "end":
		return startSpec{kind: startEnd}, nil
	case strings.HasPrefix(s, "@"):
		ms, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || ms < 0 {
			return bad()
		}
		return startSpec{kind: startTime, n: ms}, nil
	case strings.HasPrefix(s, "-"):
		n, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || n <= 0 {
			return bad()
		}
		return startSpec{kind: startTail, n: n}, nil
	}
	off, err := strconv.ParseInt(s, 10, 64)
	if err != nil || off < 0 {
		return bad()
	}
	return startSpec{kind: startOffset, n: off}, nil
}

// kgoOffset is the spec as a kgo reset offset, used in group mode where the
// group's committed offsets take precedence and the spec applies only to
// partitions the group has never committed.
func (s startSpec) kgoOffset() kgo.Offset {
	switch s.kind {
	case startEnd:
		return kgo.NewOffset().AtEnd()
	case startOffset:
		return kgo.NewOffset().At(s.n)
	case startTime:
		return kgo.NewOffset().AfterMilli(s.n)
	case startTail:
		return kgo.NewOffset().AtEnd().Relative(-s.n)
	}
	return kgo.NewOffset().AtStart()
}

// partitionRange is where consumption of one partition starts and the high
// watermark when the command started (the stop point for --exit).
type partitionRange struct {
	start, end int64
}

// startFor picks the first offset to read from a partition whose log spans
// [logStart, logEnd). atTime is the ListOffsets answer for a timestamp spec
// (negative when no record is that new). Results are clamped into
// [logStart, logEnd]: an offset already deleted starts at the oldest record,
// one beyond the end waits for new records.
func (s startSpec) startFor(logStart, logEnd, atTime int64) int64 {
	var off int64
	switch s.kind {
	case startBeginning:
		off = logStart
	case startEnd:
		off = logEnd
	case startOffset:
		off = s.n
	case startTime:
		off = atTime
		if off < 0 {
			off = logEnd
		}
	case startTail:
		off = logEnd - s.n
	}
	return min(max(off, logStart), logEnd)
}

// resolveRanges looks up the log start and end (and, for @TIMESTAMP, the
// offset at that time) of each partition and applies the spec.
func resolveRanges(ctx context.Context, adm *kadm.Client, topic string, partitions []int32, spec startSpec) (map[int32]partitionRange, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	var times kadm.ListedOffsets
	if spec.kind == startTime {
		if times, err = adm.ListOffsetsAfterMilli(ctx, spec.n, topic); err != nil {
			return nil, err
		}
	}
	lookup := func(offsets kadm.ListedOffsets, p int32, what string) (int64, error) {
		o, ok := offsets.Lookup(topic, p)
		if !ok {
			return 0, fmt.Errorf("topic %q partition %d: broker sent no %s offset", topic, p, what)
		}
		if o.Err != nil {
			return 0, fmt.Errorf("topic %q partition %d: %s offset: %w", topic, p, what, o.Err)
		}
		return o.Offset, nil
	}
	ranges := make(map[int32]partitionRange, len(partitions))
	for _, p := range partitions {
		logStart, err := lookup(starts, p, "log start")
		if err != nil {
			return nil, err
		}
		logEnd, err := lookup(ends, p, "log end")
		if err != nil {
			return nil, err
		}
		atTime := int64(-1)
		if spec.kind == startTime {
			if atTime, err = lookup(times, p, "timestamp"); err != nil {
				return nil, err
			}
		}
		ranges[p] = partitionRange{start: spec.startFor(logStart, logEnd, atTime), end: logEnd}
	}
	return ranges, nil
}
