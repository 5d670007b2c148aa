package server

// Vectored responses: writing large byte fields without copying them.
//
// A Fetch response is mostly record batches that the handler read into
// pooled buffers. Encoding it with kmsg AppendTo would memmove every record
// byte into the response buffer before the socket write copies it again
// into the kernel. Instead, the server encodes the response with kmsg while
// each large field holds a 16-byte placeholder, then cuts the encoding at
// the placeholders and writes framing and record buffers with one writev.
//
// Placeholder k is a 12-byte nonce, drawn afresh for every response from a
// cryptographic generator, followed by k. Clients cannot predict the nonce,
// so no topic name or record they wrote holds it, but the splice does not
// rest on that: the nonce is drawn so that no two occurrences of it can
// overlap (it has no border: no proper prefix equal to a suffix), so a
// left-to-right search that resumes after each nonce found sees every
// occurrence in the encoding. The cut requires those to be exactly
// placeholder 0, 1, ... n-1, in order, each behind its length prefix. The n
// placeholders are n occurrences, so if the walk finds n and no more, every
// one it found is a placeholder: a foreign copy anywhere makes the count or
// the order wrong and the response is encoded the plain way instead. A
// mis-splice is impossible whatever the response holds; at worst it is
// copied.
//
// (Encoding twice with different placeholders and diffing the two finds
// them deterministically without a nonce, but kmsg's flexible Fetch encoder
// costs about a microsecond per partition, spliced or not, in
// reflect.DeepEqual; a second encoding of a response with many small
// partitions and one large one would cost more than the copy it saves.)

import (
	"bytes"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// spliceMinBytes is the smallest field written by reference. Smaller fields
// are copied into the encoded response with the framing: referencing them
// would save a memmove of under 16 KiB (about a microsecond) but cost an
// iovec each, a write system call each on connections that cannot writev,
// and for responses of many small partitions the 1024-iovec limit splits
// one writev into several.
const spliceMinBytes = 16 << 10

const (
	nonceLen       = 12
	placeholderLen = nonceLen + 4 // nonce, then the field's index
)

// VectoredResponse is implemented by responses whose large byte fields the
// server may write from where they lie instead of copying them into the
// encoded response (Fetch record batches). Release, when the response
// implements Releaser, runs only after the write has completed, so the
// fields may point into pooled buffers.
type VectoredResponse interface {
	kmsg.Response
	// VectoredFields appends pointers to the fields the server may write
	// by reference, in the order AppendTo encodes them. Each must be
	// encoded as bytes: int32 length prefix, or uvarint length+1 when the
	// response is flexible (nullable or not). While encoding, the server
	// temporarily stores placeholders in fields of 16 KiB or more; it
	// restores them before the write.
	VectoredFields(dst []*[]byte) []*[]byte
}

// BuffersWriter is implemented by connection wrappers that can hand a
// vectored write to the socket beneath them (net.Buffers.WriteTo uses
// writev only on the net package's own connection types). WriteBuffers
// must write all of v, in order, like v.WriteTo on the wrapped connection.
type BuffersWriter interface {
	WriteBuffers(v *net.Buffers) (int64, error)
}

// errSplice means a VectoredResponse's encoding did not hold its
// placeholders where VectoredFields promised (a bug in the response type).
// The response is then encoded the plain way.
var errSplice = errors.New("vectored response: placeholders not where expected")

// splicer encodes vectored responses. Each connection's worker has one and
// reuses its slices, so a response costs no allocation.
type splicer struct {
	rng     *rand.ChaCha8 // nonces; seeded from crypto/rand on first use
	nonce   [nonceLen]byte
	fields  []*[]byte // VectoredFields
	spliced []*[]byte // the fields written by reference; placeholder k is spliced[k]
	saved   [][]byte  // their real contents
	marks   []byte    // placeholder k is marks[16k:16k+16]
	pieces  [][]byte  // the response to write: framing, field, framing, ...
}

// encode appends resp, framed for correlationID, to dst. If resp has fields
// to write by reference, the framing goes to dst and pieces is the whole
// frame in write order: slices of the returned buffer alternating with the
// fields' own bytes (valid until resp is released). Otherwise pieces is nil
// and the frame is in dst alone, exactly as appendResponse puts it; that is
// also the fallback, with an error, if the placeholders were not where
// VectoredFields promised.
func (sp *splicer) encode(dst []byte, correlationID int32, resp VectoredResponse) (out []byte, pieces [][]byte, err error) {
	sp.fields = resp.VectoredFields(sp.fields[:0])
	sp.spliced, sp.saved = sp.spliced[:0], sp.saved[:0]
	for _, f := range sp.fields {
		if len(*f) >= spliceMinBytes {
			sp.spliced = append(sp.spliced, f)
			sp.saved = append(sp.saved, *f)
		}
	}
	clear(sp.fields)
	if len(sp.spliced) == 0 {
		return appendResponse(dst, correlationID, resp), nil, nil
	}
	defer sp.restore() // also if the encoder panics

	sp.newNonce()
	n := len(sp.spliced)
	if cap(sp.marks) < placeholderLen*n {
		sp.marks = make([]byte, placeholderLen*n)
	}
	sp.marks = sp.marks[:placeholderLen*n]
	for k, f := range sp.spliced {
		m := sp.marks[placeholderLen*k : placeholderLen*(k+1) : placeholderLen*(k+1)]
		copy(m, sp.nonce[:])
		binary.BigEndian.PutUint32(m[nonceLen:], uint32(k))
		*f = m
	}
	start := len(dst)
	dst = appendResponse(dst, correlationID, resp)
	sp.restore()
	if pieces, err = sp.cut(dst[start:], resp.IsFlexible()); err != nil {
		return appendResponse(dst[:start], correlationID, resp), nil, err
	}
	return dst, pieces, nil
}

// newNonce draws a nonce without a border, so that two occurrences of it
// can never overlap. About one draw in 250 has one and is drawn again.
func (sp *splicer) newNonce() {
	if sp.rng == nil {
		var seed [32]byte
		crand.Read(seed[:])
		sp.rng = rand.NewChaCha8(seed)
	}
	for {
		sp.rng.Read(sp.nonce[:])
		if !hasBorder(sp.nonce[:]) {
			return
		}
	}
}

// hasBorder reports whether some proper prefix of b is also a suffix of it.
func hasBorder(b []byte) bool {
	for l := 1; l < len(b); l++ {
		if bytes.Equal(b[:l], b[len(b)-l:]) {
			return true
		}
	}
	return false
}

// restore puts the real contents back into the spliced fields.
func (sp *splicer) restore() {
	for k, f := range sp.spliced {
		*f = sp.saved[k]
	}
}

// cut turns a, the frame encoded with placeholders, into pieces. It walks
// every occurrence of the nonce and requires the placeholders, in order,
// and nothing else (see the top of this file). Each placeholder and its
// length prefix are replaced by the real field's length prefix, written
// over the old one (it is never longer than prefix and placeholder
// together), and a reference to the field. The frame size at the start of
// a is rewritten to the size of what pieces hold.
func (sp *splicer) cut(a []byte, flexible bool) ([][]byte, error) {
	if len(a) < 4 {
		return nil, fmt.Errorf("%w: %d-byte frame", errSplice, len(a))
	}
	n := len(sp.spliced)
	pieces := sp.pieces[:0]
	seg, pos, total := 0, 0, 0
	for k := 0; ; k++ {
		i := bytes.Index(a[pos:], sp.nonce[:])
		if i < 0 {
			if k != n {
				return nil, fmt.Errorf("%w: found %d of %d", errSplice, k, n)
			}
			break
		}
		p := pos + i
		if k >= n || p+placeholderLen > len(a) || binary.BigEndian.Uint32(a[p+nonceLen:]) != uint32(k) {
			return nil, fmt.Errorf("%w: placeholder %d of %d does not match at offset %d", errSplice, k, n, p)
		}
		data := sp.saved[k]
		var q int // where the field's length prefix starts
		if flexible {
			q = p - 1
			if q < 0 || a[q] != placeholderLen+1 {
				return nil, fmt.Errorf("%w: placeholder %d lacks its compact length", errSplice, k)
			}
			var v [binary.MaxVarintLen64]byte
			m := binary.PutUvarint(v[:], uint64(len(data))+1)
			if m > 1+placeholderLen {
				return nil, fmt.Errorf("%w: field %d is %d bytes", errSplice, k, len(data))
			}
			q += copy(a[q:], v[:m])
		} else {
			q = p - 4
			if q < 0 || binary.BigEndian.Uint32(a[q:]) != placeholderLen {
				return nil, fmt.Errorf("%w: placeholder %d lacks its int32 length", errSplice, k)
			}
			if len(data) > math.MaxInt32 {
				return nil, fmt.Errorf("%w: field %d is %d bytes", errSplice, k, len(data))
			}
			binary.BigEndian.PutUint32(a[q:], uint32(len(data)))
			q += 4
		}
		pieces = append(pieces, a[seg:q], data)
		total += q - seg + len(data)
		// The next search starts right after this nonce, not after
		// the index, so that every occurrence is seen: one cannot
		// overlap this one, but it could start inside the index.
		seg, pos = p+placeholderLen, p+nonceLen
	}
	pieces = append(pieces, a[seg:])
	total += len(a) - seg
	if total-4 > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %d-byte response", errSplice, total)
	}
	binary.BigEndian.PutUint32(a, uint32(total-4))
	sp.pieces = pieces
	return pieces, nil
}

// release drops the references the last encode kept to the response.
func (sp *splicer) release() {
	clear(sp.pieces)
	clear(sp.saved)
	clear(sp.spliced)
	sp.pieces = sp.pieces[:0]
}
