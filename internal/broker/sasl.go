package broker

import (
	"fmt"

	"github.com/spool-mq/spool/internal/auth"
	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/server"
)

// withSASL makes a SASL_PLAINTEXT or SASL_SSL listener require SASL with
// the mechanisms of sasl.enabled.mechanisms, as in Kafka: the listener's
// protocol decides, so a broker can keep a PLAINTEXT listener on localhost
// beside them (for bootstrap, say). Credentials are read from the current
// metadata image on every attempt, so a user created or deleted on any
// broker applies here as soon as the change is applied locally.
func withSASL(sc server.Config, cfg *config.Broker, ctrl *controller.Controller) (server.Config, error) {
	names := cfg.SASL.Mechanisms()
	if len(names) == 0 {
		return sc, fmt.Errorf("%w: a SASL listener needs sasl.enabled.mechanisms", config.ErrInvalidConfigValue)
	}
	mechs := make([]auth.Mechanism, 0, len(names))
	for _, n := range names {
		m, err := auth.ParseMechanism(n)
		if err != nil {
			return sc, fmt.Errorf("sasl.enabled.mechanisms: %w", err)
		}
		mechs = append(mechs, m)
	}
	a, err := auth.NewAuthenticator(mechs, func(user string, m auth.Mechanism) (auth.Credential, bool) {
		return ctrl.Image().ScramCredential(user, m)
	})
	if err != nil {
		return sc, err
	}
	sc.Authenticator, sc.RequireSASL = a, true
	sc.SASLTimeout = ms(cfg.SASL.AuthenticationTimeoutMs)
	sc.FailedAuthenticationDelay = ms(cfg.SASL.FailedAuthenticationDelayMs)
	return sc, nil
}
