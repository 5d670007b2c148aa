package auth

// The SCRAM server message flow (RFC 5802 section 5, RFC 7677), written
// on crypto/hmac and the mechanism's hash because the off-the-shelf
// servers check the client-final nonce for equality, while Kafka's
// ScramSaslServer accepts a nonce that ends with the server's, and
// librdkafka relies on that: it sends its own nonce in front of the
// combined one. Accepting the same keeps librdkafka (kcat, confluent-kafka)
// working, and costs nothing: the proof covers the nonce as sent.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// errMalformed is a SCRAM message that does not parse; the caller answers
// it as a failed authentication.
var errMalformed = errors.New("malformed SCRAM message")

// scramConv is one server-side SCRAM conversation.
type scramConv struct {
	auth *Authenticator
	mech Mechanism

	step        int // 0: expecting client-first, 1: client-final, 2: done
	gs2Header   string
	user        string
	authzID     string
	clientFirst string // client-first-message-bare
	serverFirst string
	nonce       string // client nonce + server nonce
	cred        Credential
	known       bool
}

// first handles client-first-message: gs2-header, n=user, r=nonce.
func (c *scramConv) first(msg string) (string, error) {
	// gs2-header is "n," [ "a=" authzid ] ","; channel binding ("p=")
	// is not offered, and "y" (client could but thinks we cannot) is
	// accepted as RFC 5802 allows when we do not advertise -PLUS.
	if len(msg) < 3 || (msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',' {
		return "", fmt.Errorf("%w: gs2 header", errMalformed)
	}
	rest := msg[2:]
	comma := strings.IndexByte(rest, ',')
	if comma < 0 {
		return "", fmt.Errorf("%w: gs2 header", errMalformed)
	}
	if az := rest[:comma]; az != "" {
		if !strings.HasPrefix(az, "a=") {
			return "", fmt.Errorf("%w: authzid", errMalformed)
		}
		name, err := decodeSaslName(az[2:])
		if err != nil {
			return "", err
		}
		c.authzID = name
	}
	c.gs2Header = msg[:2+comma+1]
	c.clientFirst = rest[comma+1:]
	fields := strings.Split(c.clientFirst, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "n=") || !strings.HasPrefix(fields[1], "r=") || len(fields[1]) < 3 {
		return "", fmt.Errorf("%w: client-first-message", errMalformed)
	}
	if len(fields) > 2 {
		// Extensions: tokenauth=true (delegation tokens) is not
		// supported, nor anything else.
		return "", fmt.Errorf("%w: unsupported extension %q", errMalformed, fields[2])
	}
	user, err := decodeSaslName(fields[0][2:])
	if err != nil {
		return "", err
	}
	c.user = user
	var sn [24]byte
	if _, err := rand.Read(sn[:]); err != nil {
		return "", err
	}
	c.nonce = fields[1][2:] + base64.RawURLEncoding.EncodeToString(sn[:])
	c.cred, c.known = c.auth.credential(user, c.mech)
	c.serverFirst = "r=" + c.nonce + ",s=" + base64.StdEncoding.EncodeToString(c.cred.Salt) + ",i=" + strconv.Itoa(c.cred.Iterations)
	return c.serverFirst, nil
}

// final handles client-final-message: c=channel binding, r=nonce, p=proof.
func (c *scramConv) final(msg string) (string, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return "", fmt.Errorf("%w: no proof", errMalformed)
	}
	withoutProof := msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil {
		return "", fmt.Errorf("%w: proof", errMalformed)
	}
	fields := strings.Split(withoutProof, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "c=") || !strings.HasPrefix(fields[1], "r=") {
		return "", fmt.Errorf("%w: client-final-message", errMalformed)
	}
	cb, err := base64.StdEncoding.DecodeString(fields[0][2:])
	if err != nil || string(cb) != c.gs2Header {
		return "", fmt.Errorf("%w: channel binding does not match the gs2 header", errMalformed)
	}
	if !strings.HasSuffix(fields[1][2:], c.nonce) {
		return "", fmt.Errorf("%w: nonce does not end with the server's", errMalformed)
	}
	h := c.mech.hash()
	authMsg := c.clientFirst + "," + c.serverFirst + "," + withoutProof
	sig := mac(h, c.cred.StoredKey, authMsg)
	if len(proof) != len(sig) {
		return "", ErrAuthenticationFailed
	}
	clientKey := make([]byte, len(sig))
	subtle.XORBytes(clientKey, proof, sig)
	stored := h()
	stored.Write(clientKey)
	if !hmac.Equal(stored.Sum(nil), c.cred.StoredKey) || !c.known {
		return "", ErrAuthenticationFailed
	}
	return "v=" + base64.StdEncoding.EncodeToString(mac(h, c.cred.ServerKey, authMsg)), nil
}

// step advances the conversation; done reports a verified client.
func (c *scramConv) stepMsg(msg string) (reply string, done bool, err error) {
	switch c.step {
	case 0:
		c.step = 1
		reply, err = c.first(msg)
		return reply, false, err
	case 1:
		c.step = 2
		reply, err = c.final(msg)
		return reply, err == nil, err
	}
	return "", false, fmt.Errorf("%w: conversation already complete", ErrIllegalState)
}

// decodeSaslName undoes RFC 5802's escaping of ',' and '=' in names.
func decodeSaslName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("%w: bad escape in name", errMalformed)
		}
		i += 2
	}
	return b.String(), nil
}
