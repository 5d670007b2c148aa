package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// clientFinal builds a SCRAM-SHA-256 client-final-message by hand for the
// given nonce, to test what the server accepts as the nonce.
func clientFinal(t *testing.T, password, clientFirstBare, serverFirst, nonce string) string {
	t.Helper()
	attrs := map[string]string{}
	for _, f := range strings.Split(serverFirst, ",") {
		attrs[f[:1]] = f[2:]
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil {
		t.Fatal(err)
	}
	iters, _ := strconv.Atoi(attrs["i"])
	salted, err := SaltedPassword(ScramSHA256, password, salt, iters)
	if err != nil {
		t.Fatal(err)
	}
	clientKey := mac(sha256.New, salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	withoutProof := "c=biws,r=" + nonce
	sig := mac(sha256.New, stored[:], clientFirstBare+","+serverFirst+","+withoutProof)
	proof := make([]byte, len(sig))
	subtle.XORBytes(proof, clientKey, sig)
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)
}

func startScram(t *testing.T) (*Session, string) {
	t.Helper()
	s := newAuth(t).NewSession()
	if err := s.Handshake("SCRAM-SHA-256"); err != nil {
		t.Fatal(err)
	}
	sf, done, err := s.Authenticate([]byte("n,,n=alice,r=clientnonce"))
	if err != nil || done {
		t.Fatalf("client-first: %v", err)
	}
	return s, string(sf)
}

// TestScramAcceptsLibrdkafkaNonce: librdkafka sends its own nonce in front
// of the combined one; Kafka accepts any nonce that ends with the
// server's, and so does Spool. The proof still covers what was sent.
func TestScramAcceptsLibrdkafkaNonce(t *testing.T) {
	s, sf := startScram(t)
	combined := strings.TrimPrefix(strings.Split(sf, ",")[0], "r=")
	if !strings.HasPrefix(combined, "clientnonce") {
		t.Fatalf("server nonce %q does not start with the client's", combined)
	}
	reply, done, err := s.Authenticate([]byte(clientFinal(t, "s3cret", "n=alice,r=clientnonce", sf, "clientnonce"+combined)))
	if err != nil || !done {
		t.Fatalf("librdkafka-style nonce: done %v err %v", done, err)
	}
	if !strings.HasPrefix(string(reply), "v=") {
		t.Fatalf("server-final %q", reply)
	}
}

func TestScramRefusesWrongNonce(t *testing.T) {
	s, sf := startScram(t)
	_, _, err := s.Authenticate([]byte(clientFinal(t, "s3cret", "n=alice,r=clientnonce", sf, "clientnonce-not-the-servers")))
	if !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("wrong nonce: %v, want ErrAuthenticationFailed", err)
	}
}

func TestScramRefusesTokenAuthExtension(t *testing.T) {
	s := newAuth(t).NewSession()
	if err := s.Handshake("SCRAM-SHA-256"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Authenticate([]byte("n,,n=alice,r=abc,tokenauth=true")); !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("tokenauth: %v, want ErrAuthenticationFailed", err)
	}
}

func TestDecodeSaslName(t *testing.T) {
	for in, want := range map[string]string{"plain": "plain", "a=2Cb=3Dc": "a,b=c"} {
		if got, err := decodeSaslName(in); err != nil || got != want {
			t.Errorf("decodeSaslName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := decodeSaslName("bad=XX"); err == nil {
		t.Error("bad escape accepted")
	}
}
