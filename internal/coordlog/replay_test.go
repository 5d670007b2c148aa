package coordlog

import (
	"errors"
	"slices"
	"testing"

	"github.com/spool-mq/spool/internal/record"
)

// memLog is a Log over batches laid end to end from offset 0.
type memLog struct{ data []byte }

func (l *memLog) add(batch []byte) {
	record.SetBaseOffset(batch, l.EndOffset())
	l.data = append(l.data, batch...)
}

func (l *memLog) Append(batch []byte) error { l.add(batch); return nil }
func (l *memLog) StartOffset() int64        { return 0 }
func (l *memLog) EndOffset() int64 {
	var end int64
	record.Batches(l.data, func(h record.Header, _ []byte) error { end = h.NextOffset(); return nil })
	return end
}

// Read ignores offset and maxBytes: Replay must skip what it has seen.
func (l *memLog) Read(int64, int) ([]byte, error) { return slices.Clone(l.data), nil }

func batchOf(kvs ...string) []byte {
	b := record.NewBuilder(1_700_000_000_000)
	for i := 0; i < len(kvs); i += 2 {
		b.Add([]byte(kvs[i]), []byte(kvs[i+1]))
	}
	return b.Build()
}

// Replay hands over every data record once, in order, skipping markers,
// and stops with fn's error or when aborted.
func TestReplay(t *testing.T) {
	l := &memLog{}
	l.add(batchOf("a", "1", "b", "2"))
	l.add(record.BuildMarker(7, 0, true, 0, 1_700_000_000_000))
	l.add(batchOf("a", "3"))
	var got []string
	err := Replay(l, record.NewDecoder(), nil, func(k, v []byte) error {
		got = append(got, string(k)+"="+string(v))
		return nil
	})
	if err != nil || !slices.Equal(got, []string{"a=1", "b=2", "a=3"}) {
		t.Fatalf("replayed %v, %v; want a=1 b=2 a=3", got, err)
	}

	stop := errors.New("stop")
	n := 0
	err = Replay(l, record.NewDecoder(), nil, func(k, v []byte) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("fn's error: replay returned %v after %d records", err, n)
	}
	if err := Replay(l, record.NewDecoder(), func() bool { return true }, func(k, v []byte) error { return nil }); !errors.Is(err, ErrReplayAborted) {
		t.Fatalf("aborted replay returned %v", err)
	}
}
