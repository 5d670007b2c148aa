package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn is the raw consumer's own connection to one broker: requests are
// encoded and responses decoded with kmsg, but every response is read into
// one buffer the connection reuses. A kgo client allocates a fresh buffer
// for each multi-megabyte fetch response, and on the two cores this
// benchmark shares with the broker that allocation (and the GC behind it)
// took CPU the broker could have used; the raw consumer exists to measure
// the broker, so its own cost per byte is kept to a socket read and a
// header walk.
type rawConn struct {
	c        net.Conn
	stop     func() bool // detaches the context watch
	corr     int32
	wbuf     []byte
	rbuf     []byte
	fetchVer int16
}

const rawClientID = "spool-bench-raw"

// errRawCorrelation means a response answered another request: the
// connection is out of step and cannot be used further.
var errRawCorrelation = errors.New("response for another request")

// dialRaw connects to addr and learns the Fetch version to use (ApiVersions
// v0, which every broker answers). Cancelling ctx unblocks any read or
// write on the connection.
func dialRaw(ctx context.Context, addr string, timeout time.Duration) (*rawConn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	rc := &rawConn{c: c, stop: context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })}
	req := kmsg.NewPtrApiVersionsRequest()
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := rc.roundTrip(req, resp); err != nil {
		rc.close()
		return nil, fmt.Errorf("api versions from %s: %w", addr, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		rc.close()
		return nil, fmt.Errorf("api versions from %s: %w", addr, err)
	}
	rc.fetchVer = -1
	for _, k := range resp.ApiKeys {
		if k.ApiKey == kmsg.Fetch.Int16() {
			rc.fetchVer = min(k.MaxVersion, kmsg.NewPtrFetchRequest().MaxVersion())
		}
	}
	if rc.fetchVer < 4 {
		rc.close()
		return nil, fmt.Errorf("%s does not serve Fetch v4 or later (max %d)", addr, rc.fetchVer)
	}
	return rc, nil
}

func (rc *rawConn) close() {
	rc.stop()
	rc.c.Close()
}

// fetch sends req at the negotiated version and decodes the answer. The
// response's record bytes live in the connection's read buffer: they are
// valid until the next call.
func (rc *rawConn) fetch(req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	req.SetVersion(rc.fetchVer)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	return resp, rc.roundTrip(req, resp)
}

// roundTrip writes one framed request and reads its response into rbuf.
func (rc *rawConn) roundTrip(req kmsg.Request, resp kmsg.Response) error {
	rc.corr++
	b := append(rc.wbuf[:0], 0, 0, 0, 0) // size, set below
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(rc.corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(rawClientID)))
	b = append(b, rawClientID...)
	if req.IsFlexible() {
		b = append(b, 0) // no header tags
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	rc.wbuf = b
	if _, err := rc.c.Write(b); err != nil {
		return err
	}

	var size [4]byte
	if _, err := io.ReadFull(rc.c, size[:]); err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint32(size[:]))
	if n < 4 {
		return fmt.Errorf("%d-byte response frame", n)
	}
	if cap(rc.rbuf) < n {
		rc.rbuf = make([]byte, n)
	}
	body := rc.rbuf[:n]
	if _, err := io.ReadFull(rc.c, body); err != nil {
		return err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != rc.corr {
		return fmt.Errorf("%w: correlation id %d, sent %d", errRawCorrelation, got, rc.corr)
	}
	body = body[4:]
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		var err error
		if body, err = skipHeaderTags(body); err != nil {
			return err
		}
	}
	return resp.ReadFrom(body)
}

// skipHeaderTags skips a flexible response header's tagged fields.
func skipHeaderTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errors.New("bad response header tags")
	}
	b = b[n:]
	for range count {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, errors.New("bad response header tag")
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, errors.New("bad response header tag length")
		}
		b = b[n+int(l):]
	}
	return b, nil
}
