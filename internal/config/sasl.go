package config

import (
	"strings"
)

// SASL configures authentication on the Kafka listener. Until the
// listener-protocol configuration (SASL_PLAINTEXT://...) exists, a
// non-empty sasl.enabled.mechanisms turns SASL on for the Kafka listener
// and requires it of every client; the cluster port is authenticated on
// its own and is unaffected.
type SASL struct {
	// EnabledMechanisms (sasl.enabled.mechanisms, Kafka's key) is a comma
	// separated list of PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512; empty
	// means no SASL.
	EnabledMechanisms string
	// AuthenticationTimeoutMs (sasl.authentication.timeout.ms, Spool's
	// own) closes a connection that has not authenticated this long after
	// connecting, however many handshake requests it sends.
	AuthenticationTimeoutMs int64
	// FailedAuthenticationDelayMs
	// (connection.failed.authentication.delay.ms, Kafka's key) holds back
	// the answer to a failed authentication before the connection is
	// closed, so each password guess costs a connection and this delay.
	FailedAuthenticationDelayMs int64
}

// DefaultSASL is SASL off, with the bounds used once it is turned on.
// The delay is Spool's default, ten times Kafka's 100 ms: a legitimate
// client fails rarely, a guesser every time.
func DefaultSASL() SASL {
	return SASL{AuthenticationTimeoutMs: 10000, FailedAuthenticationDelayMs: 1000}
}

// Mechanisms are the enabled mechanism names, trimmed, in order.
func (s *SASL) Mechanisms() []string {
	var out []string
	for _, m := range strings.Split(s.EnabledMechanisms, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

func saslKeys() []brokerKey {
	s := func(f func(*SASL) *int64) func(*Broker) *int64 {
		return func(b *Broker) *int64 { return f(&b.SASL) }
	}
	return []brokerKey{
		stringKey("sasl.enabled.mechanisms", "SASL mechanisms the Kafka listener requires clients to authenticate with: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (comma separated; empty: no SASL).",
			func(b *Broker) *string { return &b.SASL.EnabledMechanisms },
			func(name, v string) error {
				for _, m := range (&SASL{EnabledMechanisms: v}).Mechanisms() {
					switch m {
					case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
					default:
						return invalid(name, "unsupported mechanism %q (supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", m)
					}
				}
				return nil
			}),
		int64Key("sasl.authentication.timeout.ms", "Close a connection that has not completed SASL authentication this long after connecting (0: never).",
			s(func(x *SASL) *int64 { return &x.AuthenticationTimeoutMs }), 0),
		int64Key("connection.failed.authentication.delay.ms", "Delay the answer to a failed SASL authentication by this long before closing the connection.",
			s(func(x *SASL) *int64 { return &x.FailedAuthenticationDelayMs }), 0),
	}
}
