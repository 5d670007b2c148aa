package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spool-mq/spool/internal/testkit"
)

func leafSerial(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber.String()
}

func TestReloaderPicksUpRotatedCertificate(t *testing.T) {
	ca := testkit.NewCA(t, "reload")
	first := ca.Server(t, "first")
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first.WriteTo(t, cert, key)
	r, err := NewReloader(Files{Cert: cert, Key: key, CA: ca.CertFile, ClientAuth: "required"}, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r.now = func() time.Time { return now }
	if got := leafSerial(t, r.Config()); got != first.Cert.SerialNumber.String() {
		t.Fatalf("serial %s, want the first certificate's", got)
	}
	if r.Config().ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatal("ssl.client.auth=required must require and verify client certificates")
	}

	second := ca.Server(t, "second")
	second.WriteTo(t, cert, key)
	// Within the check interval the files are not even looked at.
	if got := leafSerial(t, r.Config()); got != first.Cert.SerialNumber.String() {
		t.Fatal("reloaded before the check interval passed")
	}
	now = now.Add(2 * time.Second)
	if got := leafSerial(t, r.Config()); got != second.Cert.SerialNumber.String() {
		t.Fatalf("serial %s after rotation, want the second certificate's", got)
	}

	// A broken file keeps the last good configuration.
	if err := os.WriteFile(cert, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second)
	if got := leafSerial(t, r.Config()); got != second.Cert.SerialNumber.String() {
		t.Fatal("a broken certificate file replaced the working configuration")
	}
}

func TestNewReloaderRejectsBadFiles(t *testing.T) {
	ca := testkit.NewCA(t, "bad")
	kp := ca.Server(t, "srv")
	if _, err := NewReloader(Files{Cert: kp.CertFile, Key: ca.CertFile}, 0, nil); err == nil {
		t.Error("a CA certificate as the key loaded")
	}
	if _, err := NewReloader(Files{Cert: kp.CertFile, Key: kp.KeyFile, ClientAuth: "sometimes"}, 0, nil); err == nil {
		t.Error("ssl.client.auth=sometimes accepted")
	}
	if _, err := NewReloader(Files{Cert: kp.CertFile, Key: kp.KeyFile, CA: kp.KeyFile}, 0, nil); err == nil {
		t.Error("a key file as the CA file loaded")
	}
}

func TestPrincipal(t *testing.T) {
	ca := testkit.NewCA(t, "p")
	c := ca.Client(t, "alice")
	if got, want := Principal(tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.Cert}}), "User:CN=alice,O=Spool tests"; got != want {
		t.Errorf("Principal = %q, want %q", got, want)
	}
	if got := Principal(tls.ConnectionState{}); got != "" {
		t.Errorf("Principal without a certificate = %q", got)
	}
}
