package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"slices"
	"sync"
)

// Lookup returns the stored credential of user for a SCRAM mechanism; ok
// is false when there is none. It must be safe for concurrent use (the
// broker reads the current metadata image).
type Lookup func(user string, m Mechanism) (c Credential, ok bool)

// Authenticator verifies SASL exchanges for the mechanisms it enables. It
// is shared by every connection of a listener.
type Authenticator struct {
	enabled []Mechanism
	lookup  Lookup
	// secret makes the credentials of unknown users up (see decoy): random
	// per process, so they cannot be told from real ones by their salt.
	secret [32]byte
}

// NewAuthenticator enables the given mechanisms, verified through lookup.
func NewAuthenticator(enabled []Mechanism, lookup Lookup) (*Authenticator, error) {
	if len(enabled) == 0 {
		return nil, fmt.Errorf("%w: no mechanism enabled", ErrUnsupportedMechanism)
	}
	for _, m := range enabled {
		if m != Plain && !m.IsScram() {
			return nil, fmt.Errorf("%w: %q", ErrUnsupportedMechanism, m)
		}
	}
	a := &Authenticator{enabled: slices.Clone(enabled), lookup: lookup}
	if _, err := rand.Read(a.secret[:]); err != nil {
		return nil, fmt.Errorf("auth: reading random secret: %w", err)
	}
	return a, nil
}

// Enabled lists the enabled mechanisms, in configuration order (the order
// SaslHandshake reports them in).
func (a *Authenticator) Enabled() []Mechanism { return slices.Clone(a.enabled) }

// credential is lookup, answering unknown users with a decoy so that the
// exchange runs to its end either way and fails the same way.
func (a *Authenticator) credential(user string, m Mechanism) (Credential, bool) {
	if c, ok := a.lookup(user, m); ok && c.Mechanism == m && c.Iterations > 0 {
		return c, true
	}
	return a.decoy(user, m), false
}

// decoyIterations is the iteration count of made-up credentials: that of
// `spool user create`, so an unknown user looks like a user created with
// the default and a PLAIN attempt for one costs the same PBKDF2.
const decoyIterations = 8192

// decoy is a made-up credential for an unknown user: its salt is stable
// per user and process, as a real one is, and 24 bytes long, as the salts
// franz-go's kadm (and so `spool user create`) makes; no password is
// accepted for it (see known in credential's callers).
func (a *Authenticator) decoy(user string, m Mechanism) Credential {
	d := func(label string) []byte {
		h := hmac.New(sha256.New, a.secret[:])
		h.Write([]byte(label + "\x00" + string(m) + "\x00" + user))
		return h.Sum(nil)
	}
	n := max(m.KeyLen(), 32)
	key := func(label string) []byte { return bytes.Repeat(d(label), 2)[:n] }
	return Credential{Mechanism: m, Iterations: decoyIterations, Salt: d("salt")[:24],
		StoredKey: key("stored"), ServerKey: key("server")}
}

// verifyPlain checks a PLAIN password against the user's SCRAM credential
// (SHA-512 preferred): it derives the salted password with the stored salt
// and iterations and compares the StoredKey in constant time. Unknown users
// cost the same derivation, against a decoy.
func (a *Authenticator) verifyPlain(user, password string) bool {
	c, known := a.credential(user, ScramSHA512)
	if !known {
		c, known = a.credential(user, ScramSHA256)
	}
	got, err := NewCredential(c.Mechanism, password, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got.StoredKey, c.StoredKey) == 1 && known
}

// sessionState is where a connection is in KIP-43's sequence.
type sessionState int

const (
	awaitingHandshake sessionState = iota
	authenticating
	authenticated
	failed
)

// Session is one connection's SASL state: SaslHandshake picks the
// mechanism, then SaslAuthenticate requests carry its tokens. A session is
// used by the connection's worker only, but Authenticated may be read by
// another goroutine (the authentication timeout), hence the mutex.
type Session struct {
	auth *Authenticator

	mu        sync.Mutex
	state     sessionState
	mech      Mechanism
	conv      *scramConv
	principal string
}

// NewSession starts a connection's SASL state.
func (a *Authenticator) NewSession() *Session { return &Session{auth: a} }

// Handshake selects the mechanism (SaslHandshake). It may be called once.
func (s *Session) Handshake(mechanism string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != awaitingHandshake {
		return fmt.Errorf("%w: SaslHandshake after the handshake", ErrIllegalState)
	}
	m := Mechanism(mechanism)
	if !slices.Contains(s.auth.enabled, m) {
		return fmt.Errorf("%w: %q is not enabled (enabled: %v)", ErrUnsupportedMechanism, mechanism, s.auth.enabled)
	}
	s.mech, s.state = m, authenticating
	if m.IsScram() {
		s.conv = &scramConv{auth: s.auth, mech: m}
	}
	return nil
}

// Authenticate takes one client token (SaslAuthenticate) and returns the
// server's answer. done reports that authentication succeeded. Any failure
// ends the session: the connection must be closed after the response.
func (s *Session) Authenticate(token []byte) (reply []byte, done bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case awaitingHandshake:
		return nil, false, fmt.Errorf("%w: SaslAuthenticate before SaslHandshake", ErrIllegalState)
	case authenticated:
		return nil, false, fmt.Errorf("%w: already authenticated (re-authentication is not supported)", ErrIllegalState)
	case failed:
		return nil, false, fmt.Errorf("%w: authentication already failed", ErrIllegalState)
	}
	if s.mech == Plain {
		return s.plain(token)
	}
	out, done, err := s.conv.stepMsg(string(token))
	if err != nil {
		s.state = failed
		return nil, false, ErrAuthenticationFailed
	}
	if !done {
		return []byte(out), false, nil
	}
	if s.conv.authzID != "" && s.conv.authzID != s.conv.user {
		s.state = failed
		return nil, false, ErrAuthenticationFailed
	}
	s.state, s.principal = authenticated, UserPrincipal(s.conv.user)
	return []byte(out), true, nil
}

// plain verifies "authzid NUL user NUL password" (RFC 4616). An authzid
// other than the user itself is refused: nobody may act as someone else.
func (s *Session) plain(token []byte) ([]byte, bool, error) {
	s.state = failed
	parts := bytes.Split(token, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return nil, false, fmt.Errorf("%w: malformed PLAIN token", ErrAuthenticationFailed)
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && authz != user {
		return nil, false, ErrAuthenticationFailed
	}
	if !s.auth.verifyPlain(user, pass) {
		return nil, false, ErrAuthenticationFailed
	}
	s.state, s.principal = authenticated, UserPrincipal(user)
	return nil, true, nil
}

// Mechanism is the mechanism chosen in the handshake, or "".
func (s *Session) Mechanism() Mechanism {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mech
}

// Principal is "User:<name>" once authenticated, AnonymousPrincipal before.
func (s *Session) Principal() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != authenticated {
		return AnonymousPrincipal
	}
	return s.principal
}

// Authenticated reports whether the exchange has succeeded.
func (s *Session) Authenticated() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == authenticated
}

// Enabled lists the mechanisms the session's authenticator enables, for
// the SaslHandshake response.
func (s *Session) Enabled() []Mechanism { return s.auth.Enabled() }
