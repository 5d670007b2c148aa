package partition_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/storage"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// single opens one leader replica with topic config cfg, the decoder dec
// and a clock at now.
func single(t *testing.T, cfg config.TopicConfig, dec *record.Decoder, now time.Time) *partition.Partition {
	t.Helper()
	mgr, err := storage.OpenManager("/data", storage.Options{FS: vfstest.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close() })
	l, err := mgr.GetOrCreate(testTP, [16]byte{1}, partition.LogConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return partition.New(l, [16]byte{1}, cfg, 0, partition.Options{NodeID: 1, Decoder: dec,
		Now: func() time.Time { return now }})
}

// withRecords replaces a batch's records with body (count records).
func withRecords(b []byte, codec record.Codec, count int32, body []byte) []byte {
	out := append(bytes.Clone(b[:record.HeaderSize]), body...)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint16(out[21:], uint16(codec))
	binary.BigEndian.PutUint32(out[23:], uint32(count-1))
	binary.BigEndian.PutUint32(out[57:], uint32(count))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], castagnoli))
	return out
}

func zstdCompress(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	w, err := zstd.NewWriter(&out, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func TestProduceValidatesRecords(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	cfg := config.DefaultTopicConfig()
	p := single(t, cfg, record.NewDecoderLimit(1<<20), now)
	good := record.NewBuilder(now.UnixMilli())
	good.Add([]byte("k"), []byte("a value that is long enough"))
	good.Add([]byte("k"), []byte("v"))
	gb := good.Build()
	records := gb[record.HeaderSize:]

	// Offset delta of record 0 (after length, attributes, timestamp) is 2.
	broken := bytes.Clone(records)
	broken[3] = 4
	// 2 MiB of zeros in one record value: past the 1 MiB limit.
	bomb := []byte{0, 0, 0, 2, 'k'}
	bomb = binary.AppendVarint(bomb, 2<<20)
	bomb = append(bomb, make([]byte, 2<<20)...)
	bomb = append(bomb, 0)
	bomb = append(binary.AppendVarint(nil, int64(len(bomb))), bomb...)

	for name, tc := range map[string]struct {
		data []byte
		want error
	}{
		"broken framing":            {withRecords(gb, record.CodecNone, 2, broken), partition.ErrInvalidRecord},
		"broken framing compressed": {withRecords(gb, record.CodecZstd, 2, zstdCompress(t, broken)), partition.ErrInvalidRecord},
		"count above records":       {withRecords(gb, record.CodecNone, 3, records), partition.ErrInvalidRecord},
		"bomb":                      {withRecords(gb, record.CodecZstd, 1, zstdCompress(t, bomb)), partition.ErrDecompressedTooLarge},
		"good after bad":            {append(bytes.Clone(gb), withRecords(gb, record.CodecNone, 2, broken)...), partition.ErrInvalidRecord},
	} {
		if _, err := p.Produce(tc.data, 1, time.Second); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
	if p.LogEndOffset() != 0 {
		t.Fatalf("refused produces appended: log end %d", p.LogEndOffset())
	}
	if _, err := p.Produce(withRecords(gb, record.CodecZstd, 2, zstdCompress(t, records)), 1, time.Second); err != nil {
		t.Fatalf("good compressed batch: %v", err)
	}
}

func TestProduceTimestampBounds(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	at := func(ts time.Time) []byte {
		b := record.NewBuilder(ts.UnixMilli())
		b.Add([]byte("k"), []byte("v"))
		return b.Build()
	}
	cfg := config.DefaultTopicConfig()
	cfg.TimestampBeforeMaxMs, cfg.TimestampAfterMaxMs = time.Hour.Milliseconds(), time.Minute.Milliseconds()
	p := single(t, cfg, nil, now)
	for _, tc := range []struct {
		ts   time.Time
		want error
	}{
		{now, nil},
		{now.Add(-time.Hour), nil},
		{now.Add(time.Minute), nil},
		{now.Add(-time.Hour - time.Millisecond), partition.ErrInvalidTimestamp},
		{now.Add(time.Minute + time.Millisecond), partition.ErrInvalidTimestamp},
	} {
		if _, err := p.Produce(at(tc.ts), 1, time.Second); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("timestamp now%+v: got %v, want %v", tc.ts.Sub(now), err, tc.want)
		}
	}
	// LogAppendTime topics do not check producer timestamps.
	cfg.LogAppendTime = true
	p.SetConfig(cfg)
	if _, err := p.Produce(at(now.Add(-48*time.Hour)), 1, time.Second); err != nil {
		t.Fatalf("LogAppendTime topic refused an old timestamp: %v", err)
	}
}

func TestProduceCompactedRequiresKeys(t *testing.T) {
	cfg := config.DefaultTopicConfig()
	cfg.CleanupCompact = true
	p := single(t, cfg, nil, time.Now())
	b := record.NewBuilder(time.Now().UnixMilli())
	b.Add([]byte("k"), []byte("v"))
	b.Add(nil, []byte("no key"))
	if _, err := p.Produce(b.Build(), 1, time.Second); !errors.Is(err, partition.ErrInvalidRecord) {
		t.Fatalf("got %v, want ErrInvalidRecord", err)
	}
}
