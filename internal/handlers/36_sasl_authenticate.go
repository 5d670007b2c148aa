package handlers

// SaslAuthenticate (key 36, KIP-152).
//
// Carries one token of the mechanism chosen by SaslHandshake v1 each way.
// v1 added SessionLifetimeMillis (KIP-368 re-authentication); Spool
// answers 0, meaning the session does not expire and is never
// re-authenticated. v2 is flexible. A failure is answered with its code
// and message (SASL_AUTHENTICATION_FAILED says nothing about whether the
// user exists), delayed by connection.failed.authentication.delay.ms, and
// the connection is closed after it.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/auth"
)

func handleSaslAuthenticate(h *Handlers, _ context.Context, rc *reqContext, req *kmsg.SASLAuthenticateRequest) *kmsg.SASLAuthenticateResponse {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	s := rc.conn.SASL
	if s == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = errorMessage(errors.New("this listener does not offer SASL"))
		rc.conn.FailAuthentication()
		return resp
	}
	reply, done, err := s.Authenticate(req.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		if errors.Is(err, auth.ErrAuthenticationFailed) {
			msg := "Authentication failed: invalid credentials with SASL mechanism " + string(s.Mechanism())
			resp.ErrorMessage = &msg
		}
		h.Logger.Info("SASL authentication failed", "remote", rc.conn.Remote, "mechanism", s.Mechanism(), "err", err)
		rc.conn.FailAuthentication()
		return resp
	}
	resp.SASLAuthBytes = reply
	if done {
		rc.conn.Principal = s.Principal()
		h.Logger.Debug("SASL authentication succeeded", "remote", rc.conn.Remote, "principal", rc.conn.Principal, "mechanism", s.Mechanism())
	}
	return resp
}
