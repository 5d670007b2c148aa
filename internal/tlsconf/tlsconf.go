// Package tlsconf builds the crypto/tls configuration of Spool's SSL
// listeners from PEM files and reloads it when the files change, so that
// certificates can be rotated without restarting the broker. All the
// cryptography is Go's crypto/tls; this package only loads files.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// ErrNoCertificates means a CA file held no PEM certificate.
var ErrNoCertificates = errors.New("no PEM certificates found")

// ErrIncompleteKeyPair means a client certificate was given without its
// key, or a key without its certificate.
var ErrIncompleteKeyPair = errors.New("a client certificate needs both a certificate and a key file")

// ErrBadClientAuth means Files.ClientAuth is not none, requested or
// required.
var ErrBadClientAuth = errors.New("unknown client auth mode")

// DefaultCheckInterval is how often, at most, a handshake looks at the
// files' modification times: a stat of three files every few seconds, no
// matter how many connections arrive.
const DefaultCheckInterval = 2 * time.Second

// Files names the PEM files of a server TLS configuration.
type Files struct {
	Cert, Key string
	// CA verifies client certificates; "" when ClientAuth is "none".
	CA string
	// ClientAuth is "none", "requested" or "required" (ssl.client.auth).
	ClientAuth string
}

// Reloader serves a *tls.Config built from Files, rebuilt when one of the
// files' size or modification time changes. A reload that fails (a
// half-written file during rotation) is logged and the previous
// configuration stays in use; the next check tries again.
type Reloader struct {
	files    Files
	auth     tls.ClientAuthType
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time

	mu        sync.Mutex
	current   *tls.Config
	stamps    [3]stamp
	lastCheck time.Time
}

// stamp is what a check compares: a file's size, modification time and
// inode. The inode catches a rotation by rename (what cert-manager and
// most tools do) even within the file system's mtime granularity.
type stamp struct {
	size  int64
	mtime time.Time
	inode uint64
}

// NewReloader loads files once (failing if they do not make a valid
// configuration) and returns a reloader that checks them at most every
// interval (DefaultCheckInterval if <= 0).
func NewReloader(files Files, interval time.Duration, log *slog.Logger) (*Reloader, error) {
	auth, err := clientAuth(files.ClientAuth)
	if err != nil {
		return nil, err
	}
	if interval <= 0 {
		interval = DefaultCheckInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{files: files, auth: auth, interval: interval, log: log, now: time.Now}
	stamps := r.stat()
	cfg, err := r.load()
	if err != nil {
		return nil, err
	}
	r.current, r.stamps, r.lastCheck = cfg, stamps, r.now()
	return r, nil
}

// ServerConfig is the configuration to hand to tls.Server: it defers to
// the reloader on every handshake, so new connections see new files.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.Config(), nil
		},
	}
}

// Config returns the current configuration, reloading it first if the
// check interval has passed and a file changed.
func (r *Reloader) Config() *tls.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.lastCheck) < r.interval {
		return r.current
	}
	r.lastCheck = now
	stamps := r.stat()
	if stamps == r.stamps {
		return r.current
	}
	cfg, err := r.load()
	if err != nil {
		r.log.Error("TLS files changed but do not load; keeping the previous certificate", "err", err)
		return r.current
	}
	r.current, r.stamps = cfg, stamps
	r.log.Info("TLS certificate reloaded", "cert", r.files.Cert)
	return r.current
}

// stat reads the files' stamps; a missing file has a zero stamp, so its
// return is a change too.
func (r *Reloader) stat() [3]stamp {
	var out [3]stamp
	for i, p := range []string{r.files.Cert, r.files.Key, r.files.CA} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			out[i] = stamp{size: fi.Size(), mtime: fi.ModTime()}
			out[i].inode = inode(fi)
		}
	}
	return out
}

// load builds a configuration from the files.
func (r *Reloader) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(r.files.Cert, r.files.Key)
	if err != nil {
		return nil, fmt.Errorf("loading ssl.certificate.location %s and ssl.key.location %s: %w", r.files.Cert, r.files.Key, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientAuth: r.auth}
	if r.files.CA != "" {
		pool, err := LoadCAs(r.files.CA)
		if err != nil {
			return nil, fmt.Errorf("ssl.ca.location: %w", err)
		}
		cfg.ClientCAs = pool
	}
	return cfg, nil
}

// LoadCAs reads a PEM file of CA certificates into a pool.
func LoadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CAs: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: %w", path, ErrNoCertificates)
	}
	return pool, nil
}

// clientAuth maps ssl.client.auth onto crypto/tls. "requested" verifies
// a certificate the client chooses to send, as Kafka does.
func clientAuth(mode string) (tls.ClientAuthType, error) {
	switch mode {
	case "", "none":
		return tls.NoClientCert, nil
	case "requested":
		return tls.VerifyClientCertIfGiven, nil
	case "required":
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf("%w %q", ErrBadClientAuth, mode)
}

// Principal is the Kafka principal of a verified client certificate
// chain, "User:" and the leaf's subject as an RFC 2253 distinguished name
// (Kafka's default for SSL: "User:CN=client,O=Example"), or "" without a
// certificate.
func Principal(state tls.ConnectionState) string {
	if len(state.PeerCertificates) == 0 {
		return ""
	}
	return "User:" + state.PeerCertificates[0].Subject.String()
}

// ClientConfig builds a client TLS configuration: caFile ("" for the
// system roots) verifies the server, certFile and keyFile (both or
// neither) are the client's own certificate for mTLS. insecure skips
// server verification, for tests only.
func ClientConfig(caFile, certFile, keyFile string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}
	if caFile != "" {
		pool, err := LoadCAs(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, ErrIncompleteKeyPair
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading the client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// LooksLikeTLS reports whether the first bytes of a connection start a
// TLS record carrying a handshake: a TLS client dialled a plaintext
// listener, which can then say so instead of "frame too large".
func LooksLikeTLS(first []byte) bool {
	return len(first) >= 3 && first[0] == 0x16 && first[1] == 0x03 && first[2] <= 0x04
}
