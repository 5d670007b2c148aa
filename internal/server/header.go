package server

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsKey is special-cased by the protocol: its response header is
// always v0 so that a client can read it before knowing what the broker speaks.
const apiVersionsKey = 18

var (
	// ErrMalformedRequest means a frame could not be decoded. The
	// connection is closed: the stream can no longer be trusted.
	ErrMalformedRequest = errors.New("malformed request")
	// ErrFrameTooLarge means a frame exceeded socket.request.max.bytes.
	ErrFrameTooLarge = errors.New("request frame too large")
	// ErrHandlerPanic reports a panic in a goroutine a handler started
	// (see ConnInfo.Recover): a bug, answered as UNKNOWN_SERVER_ERROR.
	ErrHandlerPanic = errors.New("request handler panicked")
)

// RequestHeader is the decoded header of a request frame.
//
// Header v1 is api_key, api_version, correlation_id, client_id (nullable
// int16 string); header v2 (flexible versions) appends tagged fields.
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	ClientID      string
}

// parseHeader decodes the header at the start of frame and returns the body
// that follows it. flexible says whether the request version uses header v2.
func parseHeader(frame []byte) (RequestHeader, []byte, error) {
	var h RequestHeader
	if len(frame) < 10 {
		return h, nil, fmt.Errorf("%w: %d-byte frame is shorter than a request header", ErrMalformedRequest, len(frame))
	}
	h.APIKey = int16(binary.BigEndian.Uint16(frame[0:]))
	h.APIVersion = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	idLen := int(int16(binary.BigEndian.Uint16(frame[8:])))
	rest := frame[10:]
	if idLen > 0 {
		if len(rest) < idLen {
			return h, nil, fmt.Errorf("%w: client id overruns the frame", ErrMalformedRequest)
		}
		h.ClientID = string(rest[:idLen])
		rest = rest[idLen:]
	}
	return h, rest, nil
}

// skipTags skips a tagged-fields section (header v2).
func skipTags(b []byte) ([]byte, error) {
	n, sz := binary.Uvarint(b)
	if sz <= 0 {
		return nil, fmt.Errorf("%w: bad tag count", ErrMalformedRequest)
	}
	b = b[sz:]
	for i := uint64(0); i < n; i++ {
		_, sz = binary.Uvarint(b)
		if sz <= 0 {
			return nil, fmt.Errorf("%w: bad tag key", ErrMalformedRequest)
		}
		b = b[sz:]
		l, sz := binary.Uvarint(b)
		if sz <= 0 || uint64(len(b)-sz) < l {
			return nil, fmt.Errorf("%w: bad tag length", ErrMalformedRequest)
		}
		b = b[sz+int(l):]
	}
	return b, nil
}

// appendResponse frames resp for the request it answers: size, correlation
// id, the header's tagged fields when flexible (never for ApiVersions), body.
func appendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
