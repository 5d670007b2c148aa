package storage

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/record"
)

// krec is one record as the cleaner tests model it: a nil key is a null
// key, a nil value a tombstone. txn marks records of transactional or
// control batches, which the cleaner leaves alone.
type krec struct {
	offset, ts int64
	key, value []byte
	txn        bool
}

func (r krec) String() string {
	return fmt.Sprintf("{%d %q=%q ts=%d}", r.offset, r.key, r.value, r.ts)
}

// kv is a record to produce.
type kv struct{ key, value []byte }

func keyed(k, v string) kv  { return kv{[]byte(k), []byte(v)} }
func tombstone(k string) kv { return kv{key: []byte(k)} }

// plainHeader is the header template of a non-idempotent producer batch.
func plainHeader(codec record.Codec) record.Header {
	return record.Header{PartitionLeaderEpoch: -1, Attributes: int16(codec), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
}

// encodeKV encodes records at offsets 0.. (the log assigns the real ones)
// and timestamps ts, ts+1, ...
func encodeKV(t testing.TB, tmpl record.Header, ts int64, kvs ...kv) []byte {
	t.Helper()
	recs := make([]record.Rec, len(kvs))
	for i, r := range kvs {
		recs[i] = record.Rec{Offset: int64(i), Timestamp: ts + int64(i), Key: r.key, Value: r.value,
			Headers: []kmsg.Header{{Key: "i", Value: []byte{byte(i)}}}}
	}
	b, err := record.NewRewriter().AppendBatch(nil, tmpl, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kmodel is everything appended to a log, in offset order. randomKeyed
// names its keys prefix + a number ("key-" if prefix is empty).
type kmodel struct {
	recs   []krec
	prefix string
}

// add appends one batch of kvs with header template tmpl at timestamp ts
// and records it in the model.
func (m *kmodel) add(t testing.TB, l *Log, tmpl record.Header, ts int64, kvs ...kv) {
	t.Helper()
	res, err := l.Append(encodeKV(t, tmpl, ts, kvs...), AppendOptions{AssignOffsets: true, LeaderEpoch: 0})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	txn := tmpl.Attributes&0x30 != 0
	for i, r := range kvs {
		m.recs = append(m.recs, krec{offset: res.BaseOffset + int64(i), ts: ts + int64(i), key: r.key, value: r.value, txn: txn})
	}
}

// put appends a single plain uncompressed batch.
func (m *kmodel) put(t testing.TB, l *Log, ts int64, kvs ...kv) {
	t.Helper()
	m.add(t, l, plainHeader(record.CodecNone), ts, kvs...)
}

// randomKeyed appends n batches of 1-4 records over nkeys keys, with
// about one tombstone in ten, at rising timestamps from ts.
func (m *kmodel) randomKeyed(t testing.TB, l *Log, rng *rand.Rand, n, nkeys int, ts int64) int64 {
	t.Helper()
	for range n {
		var kvs []kv
		for range 1 + rng.IntN(4) {
			prefix := m.prefix
			if prefix == "" {
				prefix = "key-"
			}
			k := fmt.Sprintf("%s%03d", prefix, rng.IntN(nkeys))
			if rng.IntN(10) == 0 {
				kvs = append(kvs, tombstone(k))
			} else {
				kvs = append(kvs, keyed(k, fmt.Sprintf("v%d-%s", ts, bytes.Repeat([]byte("x"), rng.IntN(60)))))
			}
		}
		m.put(t, l, ts, kvs...)
		ts += int64(len(kvs))
	}
	return ts
}

// compacted returns what one cleaning of the model's records below end
// keeps: records at or past end, transactional ones, and below end the
// latest record of each non-null key, tombstones only at or past
// horizon.
func compacted(recs []krec, end, horizon int64) []krec {
	latest := map[string]int64{}
	for _, r := range recs {
		if r.offset < end && r.key != nil && !r.txn {
			latest[string(r.key)] = r.offset
		}
	}
	var out []krec
	for _, r := range recs {
		switch {
		case r.offset >= end || r.txn:
		case r.key == nil:
			continue
		case latest[string(r.key)] != r.offset:
			continue
		case r.value == nil && r.offset < horizon:
			continue
		}
		out = append(out, r)
	}
	return out
}

// readRecords reads the whole log (checking every batch with
// record.Validate) and decodes its records.
func readRecords(t testing.TB, l *Log) []krec {
	t.Helper()
	var out []krec
	dec := record.NewDecoder()
	last := int64(-1)
	for _, b := range readAll(t, l) {
		if b.h.BaseOffset <= last {
			t.Fatalf("batch at %d does not follow offset %d", b.h.BaseOffset, last)
		}
		last = b.h.LastOffset()
		txn := b.h.Transactional() || b.h.Control()
		n := 0
		err := dec.Records(b.data, func(r *kmsg.Record) bool {
			out = append(out, krec{offset: b.h.BaseOffset + int64(r.OffsetDelta), ts: b.h.BaseTimestamp + r.TimestampDelta64,
				key: bytes.Clone(r.Key), value: bytes.Clone(r.Value), txn: txn})
			n++
			return true
		})
		if err != nil || n != int(b.h.NumRecords) || n == 0 {
			t.Fatalf("batch at %d: %d of %d records decoded: %v", b.h.BaseOffset, n, b.h.NumRecords, err)
		}
		if got := out[len(out)-1].offset; got != b.h.LastOffset() {
			t.Fatalf("batch at %d: last record at %d, header says %d", b.h.BaseOffset, got, b.h.LastOffset())
		}
	}
	return out
}

func sameRecords(t testing.TB, got, want []krec) {
	t.Helper()
	if d := diffRecords(got, want); d != "" {
		t.Fatal(d)
	}
}

func diffRecords(got, want []krec) string {
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.offset != w.offset || g.ts != w.ts || !bytes.Equal(g.key, w.key) || (g.key == nil) != (w.key == nil) ||
			!bytes.Equal(g.value, w.value) || (g.value == nil) != (w.value == nil) {
			return fmt.Sprintf("record %d: got %v, want %v", i, g, w)
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("got %d records, want %d", len(got), len(want))
	}
	return ""
}

// latestValues folds records into each key's latest value (tombstones
// delete), as a consumer rebuilding a table would.
func latestValues(recs []krec) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		if r.key == nil || r.txn {
			continue
		}
		if r.value == nil {
			delete(out, string(r.key))
		} else {
			out[string(r.key)] = string(r.value)
		}
	}
	return out
}

// compactConfig is smallConfig with cleanup.policy=compact, cleaning at
// any dirty ratio.
func compactConfig() LogConfig {
	cfg := smallConfig()
	cfg.CleanupCompact = true
	cfg.DeleteRetentionMs = 3_600_000
	cfg.MaxCompactionLagMs = DefaultMaxCompactionLagMs
	return cfg
}

// rollLog seals the active segment and starts a new one, as a size or
// time roll would.
func rollLog(t testing.TB, l *Log) {
	t.Helper()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.roll(l.logEnd.Load()); err != nil {
		t.Fatal(err)
	}
}

func mustClean(t testing.TB, l *Log, c *fakeClock) CleanResult {
	t.Helper()
	res, err := l.Clean(c.Now())
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	return res
}
