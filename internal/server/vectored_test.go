package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// testFetch is a VectoredResponse like the Fetch handler's: a kmsg Fetch
// response whose record sets may be written by reference.
type testFetch struct {
	*kmsg.FetchResponse
	// fields, if set, replaces VectoredFields' honest answer (to test
	// misbehaving implementations).
	fields func(dst []*[]byte) []*[]byte
	// panics makes VectoredFields panic.
	panics bool
	// poison makes Release overwrite every record set with 0xEE, as a
	// recycled buffer would be: a write after Release sends wrong bytes.
	poison   bool
	released atomic.Int32
	// onRelease, if set, runs in Release.
	onRelease func()
}

func (r *testFetch) VectoredFields(dst []*[]byte) []*[]byte {
	if r.panics {
		panic("VectoredFields exploded")
	}
	if r.fields != nil {
		return r.fields(dst)
	}
	return allRecordSets(r.FetchResponse, dst)
}

func (r *testFetch) Release() {
	if r.released.Add(1) == 1 && r.poison {
		for _, f := range allRecordSets(r.FetchResponse, nil) {
			for i := range *f {
				(*f)[i] = 0xEE
			}
		}
	}
	if r.onRelease != nil {
		r.onRelease()
	}
}

func allRecordSets(r *kmsg.FetchResponse, dst []*[]byte) []*[]byte {
	for ti := range r.Topics {
		for pi := range r.Topics[ti].Partitions {
			dst = append(dst, &r.Topics[ti].Partitions[pi].RecordBatches)
		}
	}
	return dst
}

// Record set sizes for fetchShape: nilRecords is a null record set.
const nilRecords = -1

// fetchShape builds a Fetch response at version with one topic per entry
// of topics, each with a partition per record-set size. Every other field
// is filled too (error codes, offsets, aborted transactions, tags) so the
// framing around the record sets is not trivial. names, if not nil, gives
// the topic names.
func fetchShape(rng *rand.Rand, version int16, topics [][]int, names []string) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(version)
	resp.ThrottleMillis = rng.Int32N(100)
	resp.SessionID = 0
	for ti, sizes := range topics {
		t := kmsg.NewFetchResponseTopic()
		if names != nil {
			t.Topic = names[ti]
		} else {
			t.Topic = fmt.Sprintf("topic-%d", ti)
		}
		for i := range t.TopicID {
			t.TopicID[i] = byte(rng.UintN(256))
		}
		for pi, size := range sizes {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = int32(pi)
			p.ErrorCode = int16(rng.IntN(3))
			p.HighWatermark = rng.Int64N(1 << 40)
			p.LastStableOffset = p.HighWatermark
			p.LogStartOffset = rng.Int64N(1 << 20)
			p.PreferredReadReplica = -1
			if rng.IntN(3) == 0 {
				at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
				at.ProducerID, at.FirstOffset = rng.Int64(), rng.Int64N(1<<30)
				p.AbortedTransactions = append(p.AbortedTransactions, at)
			}
			if version >= 12 && rng.IntN(3) == 0 {
				p.DivergingEpoch.Epoch, p.DivergingEpoch.EndOffset = rng.Int32N(9), rng.Int64N(1<<20)
			}
			if size != nilRecords {
				p.RecordBatches = randomBytes(rng, size)
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return b[:n:n]
}

// plainFrame is what the server wrote before vectored responses: the
// response framed and encoded with kmsg alone.
func plainFrame(corr int32, resp kmsg.Response) []byte {
	return appendResponse(nil, corr, resp)
}

// spliceAndCheck encodes resp with sp (a fresh one if nil) and checks that the
// pieces concatenate to the plain encoding, that every record set of
// 16 KiB or more is written by reference (its own bytes, not a copy) and
// that the response's fields are restored afterwards.
func spliceAndCheck(t *testing.T, sp *splicer, corr int32, resp *testFetch) {
	t.Helper()
	want := plainFrame(corr, resp)
	fields := allRecordSets(resp.FetchResponse, nil)
	before := make([][]byte, len(fields))
	for i, f := range fields {
		before[i] = *f
	}
	if sp == nil {
		sp = new(splicer)
	}
	out, pieces, err := sp.encode(make([]byte, 3, 64), corr, resp)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if !bytes.Equal(out[:3], []byte{0, 0, 0}) {
		t.Fatal("encode overwrote what dst held")
	}
	var got []byte
	if pieces == nil {
		got = out[3:]
	} else {
		for _, p := range pieces {
			got = append(got, p...)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("spliced frame (%d bytes) differs from the plain encoding (%d bytes) at byte %d",
			len(got), len(want), firstDiff(got[:min(len(got), len(want))], want))
	}
	large := 0
	for i, f := range fields {
		if !sameBytes(*f, before[i]) {
			t.Fatalf("field %d not restored after encoding", i)
		}
		if len(*f) < spliceMinBytes {
			continue
		}
		large++
		referenced := false
		for _, p := range pieces {
			referenced = referenced || sameBytes(p, *f)
		}
		if !referenced {
			t.Fatalf("record set %d (%d bytes) was copied, not referenced", i, len(*f))
		}
	}
	if wantPieces := 2*large + 1; large > 0 && len(pieces) != wantPieces {
		t.Fatalf("%d pieces for %d referenced fields, want %d", len(pieces), large, wantPieces)
	}
	if large == 0 && pieces != nil {
		t.Fatalf("%d pieces for a response without large fields", len(pieces))
	}
}

// sameBytes reports whether a and b are the same slice of the same array.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.SliceData(a) == unsafe.SliceData(b))
}

func TestSpliceMatchesPlainEncoding(t *testing.T) {
	const big = 1<<20 + 12345
	shapes := map[string][][]int{
		"no topics":                nil,
		"topic without partitions": {{}},
		"one large":                {{big}},
		"one nil":                  {{nilRecords}},
		"one empty":                {{0}},
		"one small":                {{300}},
		"threshold edges":          {{spliceMinBytes - 1, spliceMinBytes, spliceMinBytes + 1}},
		"many":                     {{nilRecords, big, 0, 100, 70000}, {}, {200000, nilRecords, 5, spliceMinBytes}, {big, big}},
		"adjacent large":           {{spliceMinBytes, spliceMinBytes, spliceMinBytes, spliceMinBytes}},
	}
	for _, version := range []int16{4, 7, 11, 12, 13} {
		for name, shape := range shapes {
			t.Run(fmt.Sprintf("v%d/%s", version, name), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(version), uint64(len(name))))
				spliceAndCheck(t, nil, 42, &testFetch{FetchResponse: fetchShape(rng, version, shape, nil)})
			})
		}
	}
}

// prefixed returns placeholder-like bytes as an encoding holds them:
// bare, behind an int32 length and behind a compact length.
func prefixed(ph []byte) []string {
	return []string{
		string(ph),
		string(append([]byte{0, 0, 0, placeholderLen}, ph...)),
		string(append([]byte{placeholderLen + 1}, ph...)),
	}
}

// TestSpliceIgnoresOtherResponsesPlaceholders splices a chain of responses
// on one connection's splicer, each holding the previous response's
// placeholders, with their length prefixes, in its topic names, in small
// (inline) record sets and in large ones, and checks that nothing is
// mis-spliced.
func TestSpliceIgnoresOtherResponsesPlaceholders(t *testing.T) {
	var sp splicer
	rng := rand.New(rand.NewPCG(5, 6))
	var prev []string
	for i := range 200 {
		version := []int16{4, 11, 12, 13}[i%4]
		names := []string{"a", "b", "c"}
		if len(prev) > 0 {
			names = []string{prev[i%len(prev)], "x" + prev[(i+1)%len(prev)] + prev[(i+2)%len(prev)], prev[0] + "\x00"}
		}
		resp := fetchShape(rng, version, [][]int{{spliceMinBytes, 10}, {64, 20000}, {spliceMinBytes + 7}}, names)
		if len(prev) > 0 {
			look := prev[i%len(prev)]
			resp.Topics[0].Partitions[1].RecordBatches = []byte(look + look)
			resp.Topics[1].Partitions[0].RecordBatches = bytes.Repeat([]byte(look), 3)
			resp.Topics[1].Partitions[1].RecordBatches = bytes.Repeat([]byte(look), 20000/len(look)+1)
		}
		spliceAndCheck(t, &sp, int32(i), &testFetch{FetchResponse: resp})
		prev = prev[:0]
		for k := range len(sp.marks) / placeholderLen {
			prev = append(prev, prefixed(sp.marks[k*placeholderLen:(k+1)*placeholderLen])...)
		}
	}
}

// TestSpliceFallsBackOnForgedPlaceholders forges the placeholders of the
// very response being encoded (possible only because the test knows the
// generator's seed) into a topic name before the record sets, into an
// inline record set and after everything: the cut must notice the extra
// occurrence and encode the plain way, never mis-splice.
func TestSpliceFallsBackOnForgedPlaceholders(t *testing.T) {
	seed := [32]byte{1, 2, 3}
	next := splicer{rng: rand.NewChaCha8(seed)}
	next.newNonce() // the nonce a splicer with this seed draws first
	for _, version := range []int16{4, 12} {
		for where := range 3 {
			for form := range 3 {
				t.Run(fmt.Sprintf("v%d/where%d/form%d", version, where, form), func(t *testing.T) {
					ph := make([]byte, placeholderLen)
					copy(ph, next.nonce[:])
					forged := prefixed(ph)[form]
					rng := rand.New(rand.NewPCG(uint64(where), uint64(form)))
					names := []string{"first", "second"}
					if where == 0 {
						names[0] = forged
					}
					resp := fetchShape(rng, version, [][]int{{spliceMinBytes, 100}, {2 * spliceMinBytes}}, names)
					switch where {
					case 1:
						resp.Topics[0].Partitions[1].RecordBatches = []byte("x" + forged)
					case 2:
						resp.Topics[1].Topic = forged // after the first record set
					}
					f := &testFetch{FetchResponse: resp}
					want := plainFrame(7, f)
					sp := splicer{rng: rand.NewChaCha8(seed)}
					out, pieces, err := sp.encode(nil, 7, f)
					if !errors.Is(err, errSplice) {
						t.Fatalf("err = %v, want errSplice", err)
					}
					if pieces != nil || !bytes.Equal(out, want) {
						t.Fatal("fallback is not the plain encoding")
					}
				})
			}
		}
	}
}

// TestSpliceRandomised splices many random responses: random versions and
// sizes around the threshold.
func TestSpliceRandomised(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	sizes := []int{nilRecords, 0, 1, 61, spliceMinBytes - 1, spliceMinBytes, spliceMinBytes + 1, 3 * spliceMinBytes}
	var sp splicer
	for i := range 300 {
		version := int16(4 + rng.IntN(10))
		var shape [][]int
		for range rng.IntN(4) {
			var parts []int
			for range rng.IntN(6) {
				parts = append(parts, sizes[rng.IntN(len(sizes))])
			}
			shape = append(shape, parts)
		}
		resp := fetchShape(rng, version, shape, nil)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			spliceAndCheck(t, &sp, rng.Int32(), &testFetch{FetchResponse: resp})
		})
	}
}

func TestNonceHasNoBorder(t *testing.T) {
	for b, want := range map[string]bool{"a": false, "ab": false, "aa": true, "abca": true, "abcab": true, "abcd": false, "aab": false} {
		if got := hasBorder([]byte(b)); got != want {
			t.Errorf("hasBorder(%q) = %v", b, got)
		}
	}
	var sp splicer
	seen := make(map[[nonceLen]byte]bool)
	for range 10000 {
		sp.newNonce()
		if hasBorder(sp.nonce[:]) || seen[sp.nonce] {
			t.Fatalf("nonce %x has a border or repeats", sp.nonce)
		}
		seen[sp.nonce] = true
	}
}

// TestSpliceRejectsMisbehavingFields checks that a VectoredFields that
// lies (wrong order, a field twice, a field that is not encoded) is caught
// and the response is encoded the plain way instead, with its fields
// intact.
func TestSpliceRejectsMisbehavingFields(t *testing.T) {
	cases := map[string]func(r *kmsg.FetchResponse) func([]*[]byte) []*[]byte{
		"reversed": func(r *kmsg.FetchResponse) func([]*[]byte) []*[]byte {
			return func(dst []*[]byte) []*[]byte {
				all := allRecordSets(r, nil)
				for i := len(all) - 1; i >= 0; i-- {
					dst = append(dst, all[i])
				}
				return dst
			}
		},
		"duplicated": func(r *kmsg.FetchResponse) func([]*[]byte) []*[]byte {
			return func(dst []*[]byte) []*[]byte {
				all := allRecordSets(r, nil)
				return append(append(dst, all...), all[0])
			}
		},
		"not encoded": func(r *kmsg.FetchResponse) func([]*[]byte) []*[]byte {
			stray := make([]byte, spliceMinBytes)
			return func(dst []*[]byte) []*[]byte {
				return append(allRecordSets(r, dst), &stray)
			}
		},
	}
	for name, fields := range cases {
		for _, version := range []int16{4, 12} {
			t.Run(fmt.Sprintf("%s/v%d", name, version), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, uint64(version)))
				resp := &testFetch{FetchResponse: fetchShape(rng, version, [][]int{{spliceMinBytes, 100}, {2 * spliceMinBytes}}, nil)}
				resp.fields = fields(resp.FetchResponse)
				want := plainFrame(9, resp)
				var sp splicer
				out, pieces, err := sp.encode(nil, 9, resp)
				if !errors.Is(err, errSplice) {
					t.Fatalf("err = %v, want errSplice", err)
				}
				if pieces != nil || !bytes.Equal(out, want) {
					t.Fatal("fallback is not the plain encoding")
				}
				if !bytes.Equal(plainFrame(9, resp), want) {
					t.Fatal("fields not restored")
				}
			})
		}
	}
}

// firstDiff is the index of the first byte where a and b differ (len(a) <=
// len(b)), or -1.
func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
