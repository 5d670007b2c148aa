package controller

import (
	"reflect"
	"testing"
)

// TestBrokerEndpoints: a registration's listeners reach the image and
// survive a snapshot; Endpoint falls back to the first listener (Host,
// Port) for a name the broker does not have.
func TestBrokerEndpoints(t *testing.T) {
	c := start(t, singleConfig(t.TempDir()))
	reg := brokerReg(1)
	reg.Endpoints = []Endpoint{{Name: "PLAINTEXT", Host: reg.Host, Port: reg.Port}, {Name: "SSL", Host: "kafka1", Port: 9094}}
	if err := c.RegisterBroker(testCtx(t), reg); err != nil {
		t.Fatal(err)
	}
	br := c.Image().Brokers[1]
	if !reflect.DeepEqual(br.Endpoints, reg.Endpoints) {
		t.Fatalf("image endpoints %+v, want %+v", br.Endpoints, reg.Endpoints)
	}
	for name, want := range map[string]Endpoint{"SSL": {Host: "kafka1", Port: 9094}, "PLAINTEXT": {Host: reg.Host, Port: reg.Port}, "OTHER": {Host: reg.Host, Port: reg.Port}} {
		if h, p := br.Endpoint(name); h != want.Host || p != want.Port {
			t.Errorf("Endpoint(%s) = %s:%d, want %s:%d", name, h, p, want.Host, want.Port)
		}
	}
	snap := snapshotOf(c.Image())
	if got := snap.image().Brokers[1].Endpoints; !reflect.DeepEqual(got, reg.Endpoints) {
		t.Fatalf("endpoints after a snapshot %+v, want %+v", got, reg.Endpoints)
	}
}
