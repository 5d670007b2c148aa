package auth

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	kscram "github.com/twmb/franz-go/pkg/sasl/scram"
)

// store is a one-user credential store for the tests.
func store(t *testing.T, user, password string) Lookup {
	t.Helper()
	creds := map[Mechanism]Credential{}
	for _, m := range scramMechanisms {
		c, err := NewCredential(m, password, []byte("salt-"+string(m)), MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		creds[m] = c
	}
	return func(u string, m Mechanism) (Credential, bool) {
		if u != user {
			return Credential{}, false
		}
		c, ok := creds[m]
		return c, ok
	}
}

func newAuth(t *testing.T) *Authenticator {
	t.Helper()
	a, err := NewAuthenticator([]Mechanism{Plain, ScramSHA256, ScramSHA512}, store(t, "alice", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// run drives franz-go's client mechanism against a server session and
// returns the principal or the server's error.
func run(t *testing.T, a *Authenticator, mech sasl.Mechanism) (string, error) {
	t.Helper()
	s := a.NewSession()
	if err := s.Handshake(mech.Name()); err != nil {
		return "", err
	}
	cs, msg, err := mech.Authenticate(context.Background(), "broker:9092")
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		reply, done, err := s.Authenticate(msg)
		if err != nil {
			return "", err
		}
		clientDone, next, err := cs.Challenge(reply)
		if err != nil {
			t.Fatalf("client rejected the server's answer: %v", err)
		}
		if done {
			if !clientDone {
				t.Fatal("server done before client")
			}
			return s.Principal(), nil
		}
		msg = next
	}
	t.Fatal("exchange did not finish")
	return "", nil
}

func mechanisms(user, pass string) []sasl.Mechanism {
	return []sasl.Mechanism{
		plain.Auth{User: user, Pass: pass}.AsMechanism(),
		kscram.Auth{User: user, Pass: pass}.AsSha256Mechanism(),
		kscram.Auth{User: user, Pass: pass}.AsSha512Mechanism(),
	}
}

func TestFranzClientAuthenticates(t *testing.T) {
	a := newAuth(t)
	for _, m := range mechanisms("alice", "s3cret") {
		p, err := run(t, a, m)
		if err != nil || p != "User:alice" {
			t.Errorf("%s: principal %q, err %v; want User:alice", m.Name(), p, err)
		}
	}
}

func TestWrongPasswordAndUnknownUserFailAlike(t *testing.T) {
	a := newAuth(t)
	for _, creds := range [][2]string{{"alice", "wrong"}, {"mallory", "s3cret"}} {
		for _, m := range mechanisms(creds[0], creds[1]) {
			_, err := run(t, a, m)
			if !errors.Is(err, ErrAuthenticationFailed) {
				t.Errorf("%s as %s: err %v, want ErrAuthenticationFailed", m.Name(), creds[0], err)
				continue
			}
			if err.Error() != ErrAuthenticationFailed.Error() {
				t.Errorf("%s as %s: message %q says more than %q", m.Name(), creds[0], err, ErrAuthenticationFailed)
			}
		}
	}
}

func TestOutOfOrderMessages(t *testing.T) {
	a := newAuth(t)
	s := a.NewSession()
	if _, _, err := s.Authenticate([]byte("n,,n=alice,r=abc")); !errors.Is(err, ErrIllegalState) {
		t.Fatalf("authenticate before handshake: %v, want ErrIllegalState", err)
	}
	if err := s.Handshake("GSSAPI"); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Fatalf("handshake GSSAPI: %v, want ErrUnsupportedMechanism", err)
	}
	if err := s.Handshake("SCRAM-SHA-256"); err != nil {
		t.Fatal(err)
	}
	if err := s.Handshake("SCRAM-SHA-256"); !errors.Is(err, ErrIllegalState) {
		t.Fatalf("second handshake: %v, want ErrIllegalState", err)
	}
	// A client-final message in place of the client-first one.
	if _, _, err := s.Authenticate([]byte("c=biws,r=abc,p=AAAA")); !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("final message first: %v, want ErrAuthenticationFailed", err)
	}
	if _, _, err := s.Authenticate([]byte("n,,n=alice,r=abc")); !errors.Is(err, ErrIllegalState) {
		t.Fatalf("authenticate after failure: %v, want ErrIllegalState", err)
	}
	if s.Authenticated() || s.Principal() != AnonymousPrincipal {
		t.Fatalf("failed session is authenticated as %q", s.Principal())
	}

	// After success, another token is out of order too.
	s = a.NewSession()
	if err := s.Handshake("PLAIN"); err != nil {
		t.Fatal(err)
	}
	if _, done, err := s.Authenticate([]byte("\x00alice\x00s3cret")); err != nil || !done {
		t.Fatalf("PLAIN: done %v err %v", done, err)
	}
	if _, _, err := s.Authenticate([]byte("\x00alice\x00s3cret")); !errors.Is(err, ErrIllegalState) {
		t.Fatalf("authenticate after success: %v, want ErrIllegalState", err)
	}
}

func TestPlainRefusesOtherAuthzID(t *testing.T) {
	a := newAuth(t)
	s := a.NewSession()
	if err := s.Handshake("PLAIN"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Authenticate([]byte("admin\x00alice\x00s3cret")); !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("authzid admin: %v, want ErrAuthenticationFailed", err)
	}
}

func TestDisabledMechanismRefused(t *testing.T) {
	a, err := NewAuthenticator([]Mechanism{ScramSHA512}, store(t, "alice", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.NewSession().Handshake("PLAIN"); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Fatalf("PLAIN not enabled: %v", err)
	}
}

func TestCredentialFromSaltedMatchesRFC7677(t *testing.T) {
	// RFC 7677 section 3: user, pencil, salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096.
	salt := []byte{0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81}
	c, err := NewCredential(ScramSHA256, "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	// Verify through a full exchange with franz-go's client.
	lookup := func(string, Mechanism) (Credential, bool) { return c, true }
	a, err := NewAuthenticator([]Mechanism{ScramSHA256}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := run(t, a, kscram.Auth{User: "user", Pass: "pencil"}.AsSha256Mechanism()); err != nil || p != "User:user" {
		t.Fatalf("principal %q err %v", p, err)
	}
}
