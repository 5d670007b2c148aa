package handlers

// SaslHandshake (key 17, KIP-43).
//
// The client names a mechanism; the answer lists the enabled ones. v1 means
// the tokens that follow travel in SaslAuthenticate requests; v0 meant raw
// tokens on the socket without Kafka framing, which Spool does not read: a
// v0 handshake is answered UNSUPPORTED_VERSION (with the mechanisms) and
// the connection closed. franz-go, librdkafka, sarama and the Java client
// use v1. Every error closes the connection after the (delayed) response,
// as in Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleSaslHandshake(h *Handlers, _ context.Context, rc *reqContext, req *kmsg.SASLHandshakeRequest) *kmsg.SASLHandshakeResponse {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	s := rc.conn.SASL
	if s == nil {
		// A listener without SASL (Kafka answers the same on PLAINTEXT).
		resp.ErrorCode = kerr.IllegalSaslState.Code
		rc.conn.FailAuthentication()
		return resp
	}
	for _, m := range s.Enabled() {
		resp.SupportedMechanisms = append(resp.SupportedMechanisms, string(m))
	}
	if req.Version == 0 {
		h.Logger.Info("refusing SASL handshake v0 (unframed tokens are not supported)", "remote", rc.conn.Remote)
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		rc.conn.FailAuthentication()
		return resp
	}
	if err := s.Handshake(req.Mechanism); err != nil {
		resp.ErrorCode = errorCode(err)
		rc.conn.FailAuthentication()
	}
	return resp
}
