package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/wire"
)

// rawConn is the raw consumer's own connection to one broker: a wire.Conn
// that reads every response into one buffer it reuses. A kgo client
// allocates a fresh buffer for each multi-megabyte fetch response, and on
// the two cores this benchmark shares with the broker that allocation (and
// the GC behind it) took CPU the broker could have used; the raw consumer exists to measure
// the broker, so its own cost per byte is kept to a socket read and a
// header walk.
type rawConn struct {
	*wire.Conn
	stop     func() bool // detaches the context watch
	fetchVer int16
}

const rawClientID = "spool-bench-raw"

// dialRaw connects to addr and learns the Fetch version to use (ApiVersions
// v0, which every broker answers), over TLS when tlsCfg is set. Cancelling
// ctx unblocks any read or write on the connection.
func dialRaw(ctx context.Context, addr string, timeout time.Duration, tlsCfg *tls.Config) (*rawConn, error) {
	d := net.Dialer{Timeout: timeout}
	var c net.Conn
	var err error
	if tlsCfg != nil {
		cfg := tlsCfg.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		c, err = (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", addr)
	} else {
		c, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	rc := &rawConn{Conn: wire.New(c, wire.Options{ClientID: rawClientID, ReuseBuffer: true}),
		stop: context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })}
	req := kmsg.NewPtrApiVersionsRequest()
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := rc.RoundTrip(req, resp); err != nil {
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
	rc.Close()
}

// fetch sends req at the negotiated version and decodes the answer. The
// response's record bytes live in the connection's read buffer: they are
// valid until the next call.
func (rc *rawConn) fetch(req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	req.SetVersion(rc.fetchVer)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	return resp, rc.RoundTrip(req, resp)
}
