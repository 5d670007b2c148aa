package config

import (
	"errors"
	"strings"
	"testing"
)

func TestKafkaListeners(t *testing.T) {
	b := Default()
	for k, v := range map[string]string{
		"listeners":                      "PLAINTEXT://127.0.0.1:9092,SSL://0.0.0.0:9094,internal://10.0.0.1:9095",
		"advertised.listeners":           "SSL://kafka1:9094",
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,INTERNAL:SSL",
		"ssl.certificate.location":       "/c.pem",
		"ssl.key.location":               "/k.pem",
	} {
		if err := b.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	ls, err := b.KafkaListeners()
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{
		{Name: "PLAINTEXT", Protocol: ProtocolPlaintext, Addr: "127.0.0.1:9092"},
		{Name: "SSL", Protocol: ProtocolSSL, Addr: "0.0.0.0:9094", Advertised: "kafka1:9094"},
		{Name: "INTERNAL", Protocol: ProtocolSSL, Addr: "10.0.0.1:9095"},
	}
	if len(ls) != len(want) {
		t.Fatalf("got %+v", ls)
	}
	for i := range want {
		if ls[i] != want[i] {
			t.Errorf("listener %d: got %+v, want %+v", i, ls[i], want[i])
		}
	}
}

func TestKafkaListenersSingleAddress(t *testing.T) {
	b := Default()
	b.KafkaAddr, b.AdvertisedKafkaAddr = "0.0.0.0:9092", "kafka1:9092"
	ls, err := b.KafkaListeners()
	if err != nil || len(ls) != 1 || ls[0] != (Listener{Name: "PLAINTEXT", Protocol: ProtocolPlaintext, Addr: "0.0.0.0:9092", Advertised: "kafka1:9092"}) {
		t.Fatalf("got %+v, %v", ls, err)
	}
}

func TestListenersInvalid(t *testing.T) {
	cases := []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"listeners": "SASL_SSL://127.0.0.1:9092", "ssl.certificate.location": "c", "ssl.key.location": "k"}, "SASL_SSL listener SASL_SSL needs at least one mechanism"},
		{map[string]string{"listeners": "SASL_PLAINTEXT://127.0.0.1:9092"}, "needs at least one mechanism"},
		{map[string]string{"listeners": "SSL://127.0.0.1:9092"}, "ssl.certificate.location"},
		{map[string]string{"listeners": "SSL://127.0.0.1:9092", "ssl.certificate.location": "c", "ssl.key.location": "k", "ssl.client.auth": "required"}, "ssl.ca.location"},
		{map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,EXTERNAL://127.0.0.1:9093"}, "listener EXTERNAL has no protocol"},
		{map[string]string{"advertised.listeners": "SSL://kafka1:9094"}, "listener SSL is not in listeners"},
		{map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,SSL://0.0.0.0:9094", "ssl.certificate.location": "c", "ssl.key.location": "k"}, "listener SSL binds all interfaces"},
	}
	for _, c := range cases {
		b := Default()
		for k, v := range c.set {
			if err := b.Set(k, v); err != nil {
				t.Fatalf("Set(%s, %q): %v", k, v, err)
			}
		}
		err := b.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error containing %q", c.set, err, c.want)
		}
		if strings.Contains(c.want, "mechanism") && !errors.Is(err, ErrInvalidConfigValue) {
			t.Errorf("%v: %v is not ErrInvalidConfigValue", c.set, err)
		}
	}
}
