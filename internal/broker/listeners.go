package broker

import (
	"fmt"
	"net"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/server"
	"github.com/spool-mq/spool/internal/tlsconf"
)

// kafkaListener is one entry of listeners: its socket and its server.
// Each listener is its own server.Server, with its own request budget,
// so a flood on one port cannot take request memory from another.
type kafkaListener struct {
	cfg config.Listener
	ln  net.Listener
	srv *server.Server
	// tls serves the listener's certificates, reloading them when their
	// files change; nil on plaintext listeners.
	tls *tlsconf.Reloader
}

// listen loads the TLS files and binds every Kafka listener, and returns
// the endpoints to register with the controller, in listener order. What
// it bound is in b.kafka, so that Close releases it on error.
func (b *Broker) listen() ([]controller.Endpoint, error) {
	ls, err := b.cfg.KafkaListeners()
	if err != nil {
		return nil, err
	}
	var eps []controller.Endpoint
	for _, l := range ls {
		kl := &kafkaListener{cfg: l}
		if l.TLS() {
			files := tlsconf.Files{Cert: b.cfg.SSL.CertificateLocation, Key: b.cfg.SSL.KeyLocation,
				CA: b.cfg.SSL.CALocation, ClientAuth: b.cfg.SSL.ClientAuth}
			if kl.tls, err = tlsconf.NewReloader(files, 0, b.log.With("component", "tls", "listener", l.Name)); err != nil {
				return nil, fmt.Errorf("listener %s: %w", l.Name, err)
			}
		}
		if kl.ln, err = net.Listen("tcp", l.Addr); err != nil {
			return nil, fmt.Errorf("kafka listener %s: %w", l.Name, err)
		}
		b.kafka = append(b.kafka, kl)
		host, port, err := advertised(l.Advertised, kl.ln.Addr())
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		eps = append(eps, controller.Endpoint{Name: l.Name, Host: host, Port: port})
	}
	return eps, nil
}

// newServers builds each listener's server. The first listener's
// metrics keep the label listener="client" they had when there was one
// listener; the others are labelled client_<name>.
func (b *Broker) newServers(h server.Handler) error {
	for i, kl := range b.kafka {
		sc := serverConfig(&b.cfg)
		sc.Listener, sc.Protocol = kl.cfg.Name, kl.cfg.Protocol
		if kl.tls != nil {
			sc.TLS = kl.tls.ServerConfig()
			sc.HandshakeTimeout = ms(b.cfg.SSL.HandshakeTimeoutMs)
		}
		if kl.cfg.SASL() {
			var err error
			if sc, err = withSASL(sc, &b.cfg, b.ctrl); err != nil {
				return fmt.Errorf("listener %s: %w", kl.cfg.Name, err)
			}
		}
		label := "client"
		if i > 0 {
			label = "client_" + strings.ToLower(kl.cfg.Name)
		}
		kl.srv = server.New(sc, h, b.log.With("component", "kafka", "listener", kl.cfg.Name),
			server.NewMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"listener": label}, b.reg)))
	}
	return nil
}

// closeListeners stops every Kafka listener's server (or, before the
// servers exist, its socket).
func (b *Broker) closeListeners() []error {
	var errs []error
	for _, kl := range b.kafka {
		if kl.srv != nil {
			errs = append(errs, kl.srv.Close())
		} else if kl.ln != nil {
			errs = append(errs, kl.ln.Close())
		}
	}
	return errs
}

// serveListeners starts accepting on every Kafka listener.
func (b *Broker) serveListeners() {
	for _, kl := range b.kafka {
		b.goLoop(func() {
			if err := kl.srv.Serve(kl.ln); err != nil {
				b.log.Error("kafka listener stopped", "listener", kl.cfg.Name, "err", err)
			}
		})
	}
}

// listenerAddrs is name=address for each listener, for the start log.
func (b *Broker) listenerAddrs() string {
	var parts []string
	for _, kl := range b.kafka {
		parts = append(parts, kl.cfg.Name+"://"+kl.ln.Addr().String())
	}
	return strings.Join(parts, ",")
}

// KafkaAddr is the address the first Kafka listener is bound to.
func (b *Broker) KafkaAddr() string { return b.kafka[0].ln.Addr().String() }

// ListenerAddr is the address the Kafka listener named name is bound
// to, or "" if there is none.
func (b *Broker) ListenerAddr(name string) string {
	for _, kl := range b.kafka {
		if strings.EqualFold(kl.cfg.Name, name) {
			return kl.ln.Addr().String()
		}
	}
	return ""
}
