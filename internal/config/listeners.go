package config

import (
	"errors"
	"net"
	"regexp"
	"strings"
)

// Kafka listeners: `listeners` is a comma list of NAME://host:port, each
// name mapped to a security protocol by listener.security.protocol.map,
// and `advertised.listeners` names what clients are told per listener.
// The single-address spellings of earlier Spool versions ("host:port",
// "PLAINTEXT://host:port") still mean one PLAINTEXT listener.

// Security protocols, Kafka's names.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// Client authentication modes of ssl.client.auth, Kafka's names.
const (
	ClientAuthNone      = "none"
	ClientAuthRequested = "requested"
	ClientAuthRequired  = "required"
)

// DefaultProtocolMap is Kafka's default listener.security.protocol.map.
const DefaultProtocolMap = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"

// SSL holds the TLS settings shared by every SSL (and SASL_SSL) listener.
// Files are PEM; they are re-read when they change, so certificates can
// be rotated without a restart.
type SSL struct {
	// CertificateLocation (ssl.certificate.location) is the server's
	// certificate chain, leaf first.
	CertificateLocation string
	// KeyLocation (ssl.key.location) is the certificate's private key
	// (unencrypted PKCS#1, PKCS#8 or EC).
	KeyLocation string
	// CALocation (ssl.ca.location) holds the CAs client certificates
	// must chain to; needed when ClientAuth is requested or required.
	CALocation string
	// ClientAuth (ssl.client.auth) is none, requested (verify a client
	// certificate if one is sent) or required (mTLS).
	ClientAuth string
	// HandshakeTimeoutMs (ssl.handshake.timeout.ms) bounds the TLS
	// handshake of a new connection, so a client that connects and goes
	// quiet cannot hold a connection slot before its first request.
	HandshakeTimeoutMs int64
}

// Listener is one parsed entry of listeners, with its advertised address.
type Listener struct {
	// Name is the listener name (PLAINTEXT, SSL, or any name the
	// protocol map knows, e.g. INTERNAL).
	Name string
	// Protocol is one of the Protocol* constants.
	Protocol string
	// Addr is the host:port to bind.
	Addr string
	// Advertised is the host:port clients are told, "" for Addr.
	Advertised string
}

// TLS reports whether the listener's protocol runs over TLS.
func (l Listener) TLS() bool {
	return l.Protocol == ProtocolSSL || l.Protocol == ProtocolSASLSSL
}

// SASL reports whether the listener's protocol requires SASL
// authentication.
func (l Listener) SASL() bool {
	return l.Protocol == ProtocolSASLPlaintext || l.Protocol == ProtocolSASLSSL
}

// listenerName is Kafka's listener name syntax (it also upper-cases
// names; Spool compares them case-insensitively by upper-casing too).
var listenerName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// listenerEntry is one NAME://host:port (or bare host:port) item.
type listenerEntry struct{ name, addr string }

// parseListenerList parses a listeners-style value. A single bare
// host:port is allowed and gets the name bare; lists must name every
// entry, since which listener an unnamed address belongs to would be a
// guess. Names are upper-cased and must be unique.
func parseListenerList(key, v, bare string) ([]listenerEntry, error) {
	items := splitList(v)
	var out []listenerEntry
	seen := map[string]bool{}
	for _, it := range items {
		name, addr, ok := strings.Cut(it, "://")
		if !ok {
			if len(items) > 1 {
				return nil, invalid(key, "entries of a list must be NAME://host:port, got %q", it)
			}
			name, addr = bare, it
		}
		name = strings.ToUpper(name)
		if !listenerName.MatchString(name) {
			return nil, invalid(key, "listener name must be letters, digits and _, got %q", it)
		}
		if seen[name] {
			return nil, invalid(key, "listener %s is given twice", name)
		}
		seen[name] = true
		if err := checkHostPort(key, addr); err != nil {
			return nil, err
		}
		out = append(out, listenerEntry{name, addr})
	}
	return out, nil
}

// parseProtocolMap parses listener.security.protocol.map.
func parseProtocolMap(v string) (map[string]string, error) {
	const key = "listener.security.protocol.map"
	m := map[string]string{}
	items := splitList(v)
	if len(items) == 0 {
		return nil, invalid(key, "must not be empty")
	}
	for _, it := range items {
		name, proto, ok := strings.Cut(it, ":")
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || !listenerName.MatchString(name) {
			return nil, invalid(key, "entries must be NAME:PROTOCOL, got %q", it)
		}
		switch proto {
		case ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL:
		default:
			return nil, invalid(key, "protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, got %q", it)
		}
		if _, dup := m[name]; dup {
			return nil, invalid(key, "listener %s is mapped twice", name)
		}
		m[name] = proto
	}
	return m, nil
}

// KafkaListeners parses listeners, advertised.listeners and the protocol
// map into one entry per Kafka listener, in the order of listeners (the
// first is the one reported where a single address is wanted). It checks
// everything that spans these keys; Validate reports its error.
func (b *Broker) KafkaListeners() ([]Listener, error) {
	protos, err := parseProtocolMap(b.ListenerSecurityProtocolMap)
	if err != nil {
		return nil, err
	}
	bound, err := parseListenerList("listeners", b.KafkaAddr, ProtocolPlaintext)
	if err != nil {
		return nil, err
	}
	if len(bound) == 0 {
		return nil, invalid("listeners", "must not be empty")
	}
	// A bare advertised address belongs to the first listener, as the
	// single address did before listeners were named.
	adv, err := parseListenerList("advertised.listeners", b.AdvertisedKafkaAddr, bound[0].name)
	if err != nil {
		return nil, err
	}
	out := make([]Listener, 0, len(bound))
	for _, e := range bound {
		p, ok := protos[e.name]
		if !ok {
			return nil, invalid("listeners", "listener %s has no protocol in listener.security.protocol.map", e.name)
		}
		out = append(out, Listener{Name: e.name, Protocol: p, Addr: e.addr})
	}
	for _, a := range adv {
		found := false
		for i := range out {
			if out[i].Name == a.name {
				out[i].Advertised, found = a.addr, true
			}
		}
		if !found {
			return nil, invalid("advertised.listeners", "listener %s is not in listeners (%q)", a.name, b.KafkaAddr)
		}
	}
	return out, nil
}

// checkListeners is Validate's share for the listener keys: the lists
// agree, every listener advertises a routable host, TLS listeners have
// their files, and SASL listeners are refused until SASL exists.
func (b *Broker) checkListeners() error {
	ls, err := b.KafkaListeners()
	if err != nil {
		return err
	}
	var errs []error
	needTLS := false
	for _, l := range ls {
		if err := checkRoutable(l); err != nil {
			errs = append(errs, err)
		}
		if l.SASL() && len(b.SASL.Mechanisms()) == 0 {
			errs = append(errs, invalid("sasl.enabled.mechanisms", "%s listener %s needs at least one mechanism", l.Protocol, l.Name))
		}
		needTLS = needTLS || l.TLS()
	}
	if needTLS {
		if b.SSL.CertificateLocation == "" || b.SSL.KeyLocation == "" {
			errs = append(errs, invalid("ssl.certificate.location", "an SSL listener needs ssl.certificate.location and ssl.key.location"))
		}
		if b.SSL.ClientAuth != ClientAuthNone && b.SSL.CALocation == "" {
			errs = append(errs, invalid("ssl.ca.location", "ssl.client.auth=%s needs the CAs that sign client certificates", b.SSL.ClientAuth))
		}
	}
	return errors.Join(errs...)
}

// checkRoutable insists clients get a host they can dial: advertising
// 0.0.0.0 makes every client fail after bootstrap, far from the cause.
func checkRoutable(l Listener) error {
	addr := l.Advertised
	if addr == "" {
		addr = l.Addr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil // reported by the listeners/advertised.listeners checks
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		if l.Advertised == "" {
			return invalid("advertised.listeners", "listener %s binds all interfaces (%q); set advertised.listeners to the host:port clients should use", l.Name, l.Addr)
		}
		return invalid("advertised.listeners", "listener %s must advertise a host clients can reach, got %q", l.Name, addr)
	}
	return nil
}

// listenersKey is listeners or advertised.listeners: the key check is
// syntax only, so the keys can be set in any order; how they fit
// together is checkListeners' job.
//
// A lone "PLAINTEXT://host:port" is stored as "host:port", as before
// listeners were named, so both spellings read back the same.
func listenersKey(name, doc string, f func(*Broker) *string, allowEmpty bool) brokerKey {
	k := stringKey(name, doc, f, func(name, v string) error {
		if v == "" {
			if allowEmpty {
				return nil
			}
			return invalid(name, "must not be empty")
		}
		_, err := parseListenerList(name, v, ProtocolPlaintext)
		return err
	})
	k.set = func(b *Broker, v string) error {
		v = strings.TrimSpace(v)
		if scheme, rest, ok := strings.Cut(v, "://"); ok && strings.EqualFold(scheme, ProtocolPlaintext) && !strings.Contains(v, ",") {
			v = rest
		}
		*f(b) = v
		return nil
	}
	return k
}

// listenerKeys are the properties of the Kafka listeners and their TLS.
func listenerKeys() []brokerKey {
	ssl := func(f func(*SSL) *string) func(*Broker) *string {
		return func(b *Broker) *string { return f(&b.SSL) }
	}
	return []brokerKey{
		listenersKey("listeners", "Kafka listeners as NAME://host:port,... (a single host:port means PLAINTEXT).", func(b *Broker) *string { return &b.KafkaAddr }, false),
		listenersKey("advertised.listeners", "Addresses clients are told, NAME://host:port per listener; missing ones use the bound address.", func(b *Broker) *string { return &b.AdvertisedKafkaAddr }, true),
		stringKey("listener.security.protocol.map", "Listener name to security protocol, NAME:PROTOCOL,...", func(b *Broker) *string { return &b.ListenerSecurityProtocolMap },
			func(name, v string) error { _, err := parseProtocolMap(v); return err }),
		stringKey("ssl.certificate.location", "PEM certificate chain of SSL listeners (reloaded when it changes).", ssl(func(s *SSL) *string { return &s.CertificateLocation }), nil),
		stringKey("ssl.key.location", "PEM private key of ssl.certificate.location (reloaded when it changes).", ssl(func(s *SSL) *string { return &s.KeyLocation }), nil),
		stringKey("ssl.ca.location", "PEM CAs client certificates must chain to (reloaded when it changes).", ssl(func(s *SSL) *string { return &s.CALocation }), nil),
		stringKey("ssl.client.auth", "Client certificates on SSL listeners: none, requested or required.", ssl(func(s *SSL) *string { return &s.ClientAuth }),
			enumCheck(ClientAuthNone, ClientAuthRequested, ClientAuthRequired)),
		int64Key("ssl.handshake.timeout.ms", "Close a connection whose TLS handshake takes longer than this.",
			func(b *Broker) *int64 { return &b.SSL.HandshakeTimeoutMs }, 1),
	}
}

// DefaultSSL is the SSL block of a broker with no settings.
func DefaultSSL() SSL {
	return SSL{ClientAuth: ClientAuthNone, HandshakeTimeoutMs: 10000}
}
