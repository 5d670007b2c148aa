package testcluster

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Report is what Verify found.
type Report struct {
	Acked          int // records the cluster acknowledged
	Failed         int // records the producers gave up on
	Read           int // workload records read back
	Foreign        int // other records in the topic (probes)
	UnackedPresent int // records stored although their ack never arrived (allowed)
	Partitions     int
	Problems       []string // empty when every check passed
}

func (r Report) String() string {
	return fmt.Sprintf("%d acked, %d failed, %d read back (%d present without an ack, %d foreign) over %d partitions, %d problems",
		r.Acked, r.Failed, r.Read, r.UnackedPresent, r.Foreign, r.Partitions, len(r.Problems))
}

// readRecord is one record as consumed.
type readRecord struct {
	partition int32
	offset    int64
	value     []byte
}

// maxProblems caps the problems listed, so a total loss does not print
// tens of thousands of lines.
const maxProblems = 30

// Verify stops the workload, reads every partition of the topic from its
// start to its end with a fresh client, and checks that every acknowledged
// record is present exactly once at its acknowledged offset, that each
// producer's records appear in increasing sequence within a partition, and
// that no record appears twice. Each problem fails t; the counts are logged
// and returned.
func (w *Workload) Verify(t testing.TB) Report {
	t.Helper()
	w.Stop()
	ledger := w.snapshot()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	cl := w.c.Client(t)
	adm := kadm.NewClient(cl)
	topic := w.opts.Topic

	// The acknowledged end must be visible: after a failover the new
	// leader's high watermark can trail the old one until its followers
	// fetch again.
	need := make(map[int32]int64)
	for _, pos := range ledger {
		need[pos.partition] = max(need[pos.partition], pos.offset+1)
	}
	var ends, starts kadm.ListedOffsets
	w.c.WaitFor(t, 30*time.Second, "end offsets covering every acknowledged record", func(ctx context.Context) (bool, string) {
		var err error
		if ends, err = adm.ListEndOffsets(ctx, topic); err != nil {
			return false, err.Error()
		}
		if err := ends.Error(); err != nil {
			return false, err.Error()
		}
		if len(ends[topic]) == 0 {
			return false, "no partitions listed"
		}
		for p, n := range need {
			if o, ok := ends.Lookup(topic, p); !ok || o.Offset < n {
				return false, fmt.Sprintf("partition %d: end offset %d, acknowledged up to %d", p, o.Offset, n-1)
			}
		}
		return true, ""
	})
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		t.Fatalf("listing start offsets of %s: %v", topic, err)
	}

	read := w.c.readAll(t, ctx, topic, starts, ends)
	rep := check(ledger, read)
	rep.Failed = int(w.Failed())
	rep.Partitions = len(ends[topic])
	t.Logf("workload on %s: %s; producer failures: %s", topic, rep, w.failureSummary())
	for _, p := range rep.Problems {
		t.Errorf("verify %s: %s", topic, p)
	}
	return rep
}

// readAll consumes every partition of topic from starts to ends.
func (c *Cluster) readAll(t testing.TB, ctx context.Context, topic string, starts, ends kadm.ListedOffsets) []readRecord {
	t.Helper()
	from := make(map[int32]kgo.Offset)
	remaining := make(map[int32]int64) // partition -> end offset still to reach
	for p, e := range ends[topic] {
		s, _ := starts.Lookup(topic, p)
		if e.Offset > s.Offset {
			from[p] = kgo.NewOffset().At(s.Offset)
			remaining[p] = e.Offset
		}
	}
	if len(remaining) == 0 {
		return nil
	}
	cl := c.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))
	defer cl.Close()
	var out []readRecord
	var fetchErrs []string
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s back: timed out with partitions %v not read to their end (fetch errors: %v)", topic, remaining, fetchErrs)
		}
		for _, e := range fs.Errors() {
			fetchErrs = append(fetchErrs, fmt.Sprintf("%s[%d]: %v", e.Topic, e.Partition, e.Err))
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := remaining[r.Partition]
			if r.Offset >= ends[topic][r.Partition].Offset {
				return // written after the snapshot (none expected)
			}
			out = append(out, readRecord{r.Partition, r.Offset, r.Value})
			if ok && r.Offset >= end-1 {
				delete(remaining, r.Partition)
			}
		})
	}
	return out
}

// check compares the ledger with what was read back.
func check(ledger map[recordID]position, read []readRecord) Report {
	rep := Report{Acked: len(ledger)}
	problem := func(format string, args ...any) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		} else if len(rep.Problems) == maxProblems {
			rep.Problems = append(rep.Problems, "... more problems not listed")
		}
	}
	sort.Slice(read, func(i, j int) bool {
		a, b := read[i], read[j]
		return a.partition < b.partition || a.partition == b.partition && a.offset < b.offset
	})
	at := make(map[position]recordID, len(read))
	seen := make(map[recordID]position, len(read))
	last := make(map[int32]map[int]readRecord) // partition -> producer -> last record
	for _, r := range read {
		id, ok := decodeValue(r.value)
		if !ok {
			rep.Foreign++
			continue
		}
		rep.Read++
		pos := position{r.partition, r.offset}
		if prev, dup := at[pos]; dup {
			problem("offset %d of partition %d read twice (w%d:%d)", r.offset, r.partition, prev.producer, prev.seq)
			continue
		}
		at[pos] = id
		if first, dup := seen[id]; dup {
			problem("record w%d:%d appears twice: partition %d offset %d and partition %d offset %d",
				id.producer, id.seq, first.partition, first.offset, r.partition, r.offset)
			continue
		}
		seen[id] = pos
		if _, acked := ledger[id]; !acked {
			rep.UnackedPresent++
		}
		byProducer := last[r.partition]
		if byProducer == nil {
			byProducer = make(map[int]readRecord)
			last[r.partition] = byProducer
		}
		if prev, ok := byProducer[id.producer]; ok {
			prevID, _ := decodeValue(prev.value)
			if id.seq <= prevID.seq {
				problem("partition %d: producer %d's record %d at offset %d comes after its record %d at offset %d (order lost)",
					r.partition, id.producer, id.seq, r.offset, prevID.seq, prev.offset)
			}
		}
		byProducer[id.producer] = r
	}
	ids := make([]recordID, 0, len(ledger))
	for id := range ledger {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b recordID) int {
		if a.producer != b.producer {
			return a.producer - b.producer
		}
		return a.seq - b.seq
	})
	for _, id := range ids {
		pos := ledger[id]
		got, ok := at[pos]
		where, elsewhere := seen[id]
		switch {
		case ok && got == id:
		case elsewhere:
			problem("acknowledged record w%d:%d at partition %d offset %d was found at partition %d offset %d instead",
				id.producer, id.seq, pos.partition, pos.offset, where.partition, where.offset)
		case ok:
			problem("acknowledged record w%d:%d at partition %d offset %d is missing: that offset holds w%d:%d",
				id.producer, id.seq, pos.partition, pos.offset, got.producer, got.seq)
		default:
			problem("acknowledged record w%d:%d at partition %d offset %d is missing",
				id.producer, id.seq, pos.partition, pos.offset)
		}
	}
	return rep
}
