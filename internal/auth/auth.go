// Package auth authenticates Kafka client connections with SASL: PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), all verified
// against one store of SCRAM salted credentials (KIP-554) that the
// controller keeps in the metadata log. The store never holds a password:
// PLAIN derives the salted password from the one the client sent with the
// stored salt and iterations and compares the result in constant time.
//
// The SCRAM server message flow is in scram.go; the primitives are the
// standard library's (crypto/pbkdf2, crypto/hmac, crypto/sha256/512).
package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
)

// Mechanism is a SASL mechanism name as clients send it in SaslHandshake.
type Mechanism string

// The mechanisms Spool implements.
const (
	Plain       Mechanism = "PLAIN"
	ScramSHA256 Mechanism = "SCRAM-SHA-256"
	ScramSHA512 Mechanism = "SCRAM-SHA-512"
)

// Kafka's bounds on SCRAM iterations (ScramMechanism.minIterations and
// maxIterations): fewer make guessing cheap, more make every
// authentication (and every PLAIN login) expensive for the broker.
const (
	MinIterations = 4096
	MaxIterations = 16384
)

// AnonymousPrincipal is the principal of a connection that has not
// authenticated (Kafka's KafkaPrincipal.ANONYMOUS).
const AnonymousPrincipal = "User:ANONYMOUS"

// UserPrincipal is the principal of an authenticated user.
func UserPrincipal(name string) string { return "User:" + name }

// Errors of the SASL exchange; the handlers answer them with Kafka's codes.
var (
	// ErrUnsupportedMechanism means a client asked for a mechanism this
	// broker does not enable (UNSUPPORTED_SASL_MECHANISM).
	ErrUnsupportedMechanism = errors.New("unsupported SASL mechanism")
	// ErrIllegalState means a SASL request arrived out of order: a second
	// handshake, an authenticate before the handshake or after success
	// (ILLEGAL_SASL_STATE).
	ErrIllegalState = errors.New("illegal SASL state")
	// ErrAuthenticationFailed means the credentials did not verify
	// (SASL_AUTHENTICATION_FAILED). Its text never says whether the user
	// exists, so that users cannot be enumerated.
	ErrAuthenticationFailed = errors.New("authentication failed: invalid credentials")
)

// ScramMechanisms are the mechanisms credentials can be stored for.
var scramMechanisms = []Mechanism{ScramSHA256, ScramSHA512}

// ParseMechanism returns the mechanism named s (Kafka's names, exact case).
func ParseMechanism(s string) (Mechanism, error) {
	switch m := Mechanism(s); m {
	case Plain, ScramSHA256, ScramSHA512:
		return m, nil
	}
	return "", fmt.Errorf("%w: %q (supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", ErrUnsupportedMechanism, s)
}

// IsScram reports whether m has stored credentials of its own.
func (m Mechanism) IsScram() bool { return m == ScramSHA256 || m == ScramSHA512 }

// KafkaType is the mechanism's code in the SCRAM credential APIs (KIP-554:
// 1 is SCRAM-SHA-256, 2 SCRAM-SHA-512), 0 for others.
func (m Mechanism) KafkaType() int8 {
	switch m {
	case ScramSHA256:
		return 1
	case ScramSHA512:
		return 2
	}
	return 0
}

// MechanismForKafkaType is the inverse of KafkaType; ok is false for
// unknown codes.
func MechanismForKafkaType(t int8) (m Mechanism, ok bool) {
	switch t {
	case 1:
		return ScramSHA256, true
	case 2:
		return ScramSHA512, true
	}
	return "", false
}

// hash is the mechanism's hash function; nil for PLAIN.
func (m Mechanism) hash() func() hash.Hash {
	switch m {
	case ScramSHA256:
		return sha256.New
	case ScramSHA512:
		return sha512.New
	}
	return nil
}

// KeyLen is the length of the mechanism's salted password and keys.
func (m Mechanism) KeyLen() int {
	if h := m.hash(); h != nil {
		return h().Size()
	}
	return 0
}

// Credential is a stored SCRAM credential (RFC 5802 section 3).
type Credential struct {
	Mechanism  Mechanism
	Iterations int
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
}

// SaltedPassword is Hi(password, salt, iterations) of RFC 5802: PBKDF2 with
// the mechanism's HMAC. It is what Kafka clients send in
// AlterUserScramCredentials.
func SaltedPassword(m Mechanism, password string, salt []byte, iterations int) ([]byte, error) {
	h := m.hash()
	if h == nil {
		return nil, fmt.Errorf("%w: %s has no salted credentials", ErrUnsupportedMechanism, m)
	}
	return pbkdf2.Key(h, password, salt, iterations, m.KeyLen())
}

// CredentialFromSalted builds the stored credential from a salted
// password: StoredKey = H(HMAC(salted, "Client Key")), ServerKey =
// HMAC(salted, "Server Key").
func CredentialFromSalted(m Mechanism, iterations int, salt, salted []byte) (Credential, error) {
	h := m.hash()
	if h == nil {
		return Credential{}, fmt.Errorf("%w: %s has no salted credentials", ErrUnsupportedMechanism, m)
	}
	if len(salted) != m.KeyLen() {
		return Credential{}, fmt.Errorf("salted password is %d bytes, %s needs %d", len(salted), m, m.KeyLen())
	}
	client := mac(h, salted, "Client Key")
	stored := h()
	stored.Write(client)
	return Credential{Mechanism: m, Iterations: iterations, Salt: salt,
		StoredKey: stored.Sum(nil), ServerKey: mac(h, salted, "Server Key")}, nil
}

// NewCredential derives a stored credential from a password.
func NewCredential(m Mechanism, password string, salt []byte, iterations int) (Credential, error) {
	salted, err := SaltedPassword(m, password, salt, iterations)
	if err != nil {
		return Credential{}, err
	}
	return CredentialFromSalted(m, iterations, salt, salted)
}

func mac(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
