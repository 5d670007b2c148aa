package record

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recBody encodes one record without its length prefix; hdrs are key,
// value pairs.
func recBody(tsDelta, offDelta int64, key, value []byte, hdrs ...[]byte) []byte {
	b := []byte{0}
	b = binary.AppendVarint(b, tsDelta)
	b = binary.AppendVarint(b, offDelta)
	b = appendVarBytes(b, key)
	b = appendVarBytes(b, value)
	b = binary.AppendVarint(b, int64(len(hdrs)/2))
	for i := 0; i+1 < len(hdrs); i += 2 {
		b = appendVarBytes(b, hdrs[i])
		b = appendVarBytes(b, hdrs[i+1])
	}
	return b
}

// framed prefixes a record body with its length.
func framed(body []byte) []byte {
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

// goodRecords encodes n well-formed records with keys and one header each.
func goodRecords(n int) []byte {
	var b []byte
	for i := range n {
		b = append(b, framed(recBody(int64(i), int64(i), []byte("k"), []byte("value"), []byte("h"), []byte("v")))...)
	}
	return b
}

// compress compresses records with codec c through franz-go's compressors,
// as a producer would.
func compress(t testing.TB, c Codec, records []byte) []byte {
	t.Helper()
	var cs compressors
	return cs.compress(t, c, records)
}

// compressors keeps one franz-go compressor per codec, for callers that
// compress often (a fuzz target: a fresh zstd compressor per input costs
// megabytes).
type compressors [CodecZstd + 1]kgo.Compressor

func (cs *compressors) compress(t testing.TB, c Codec, records []byte) []byte {
	t.Helper()
	if c == CodecNone {
		return records
	}
	if cs[c] == nil {
		comp, err := kgo.DefaultCompressor(c.kgoCodec())
		if err != nil {
			t.Fatal(err)
		}
		cs[c] = comp
	}
	var buf bytes.Buffer
	out, used := cs[c].Compress(&buf, records)
	if int8(used) != int8(c) {
		t.Fatalf("compressing with %s used codec %d", c, used)
	}
	return bytes.Clone(out)
}

// rawBatch wraps an (already compressed) records body in a v2 header with
// count records, lastOffsetDelta last and base timestamp ts, CRC set.
func rawBatch(c Codec, ts int64, count, last int32, body []byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(body))
	b = append(b, body...)
	be := binary.BigEndian
	be.PutUint32(b[8:], uint32(len(b)-lengthFieldEnd))
	be.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	be.PutUint16(b[21:], uint16(c))
	be.PutUint32(b[23:], uint32(last))
	be.PutUint64(b[27:], uint64(ts))
	be.PutUint64(b[35:], uint64(ts))
	be.PutUint64(b[43:], 0xffffffffffffffff)
	be.PutUint16(b[51:], 0xffff)
	be.PutUint32(b[53:], 0xffffffff)
	be.PutUint32(b[57:], uint32(count))
	be.PutUint32(b[17:], crc32.Checksum(b[crcStart:], castagnoli))
	return b
}

// batchOf compresses records (count of them) with c into a batch whose
// header agrees with the count.
func batchOf(t testing.TB, c Codec, ts int64, count int32, records []byte) []byte {
	return rawBatch(c, ts, count, count-1, compress(t, c, records))
}

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}
