package cli

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// saslPasswordEnv holds the SASL password so it need not appear on the
// command line (where ps shows it).
const saslPasswordEnv = "SPOOL_SASL_PASSWORD"

// saslOptions are the authentication flags every client command takes.
type saslOptions struct {
	mechanism, user, password string
}

func (s *saslOptions) addFlags(cmd *cobra.Command, env *Env) {
	f := cmd.Flags()
	f.StringVar(&s.mechanism, "sasl-mechanism", "", "authenticate with SASL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)")
	f.StringVar(&s.user, "sasl-user", "", "SASL user name")
	f.StringVar(&s.password, "sasl-password", env.getenv(saslPasswordEnv), "SASL password (env "+saslPasswordEnv+")")
}

// mechanism is the franz-go SASL mechanism for the flags, nil without
// --sasl-mechanism.
func (s *saslOptions) saslMechanism() (sasl.Mechanism, error) {
	if s.mechanism == "" {
		if s.user != "" {
			return nil, usageErrorf("--sasl-user needs --sasl-mechanism")
		}
		return nil, nil
	}
	if s.user == "" {
		return nil, usageErrorf("--sasl-mechanism %s needs --sasl-user", s.mechanism)
	}
	switch strings.ToUpper(s.mechanism) {
	case "PLAIN":
		return plain.Auth{User: s.user, Pass: s.password}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.user, Pass: s.password}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.user, Pass: s.password}.AsSha512Mechanism(), nil
	}
	return nil, usageErrorf("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.mechanism)
}

// opts are the kgo options for the flags.
func (s *saslOptions) opts() ([]kgo.Opt, error) {
	m, err := s.saslMechanism()
	if err != nil || m == nil {
		return nil, err
	}
	return []kgo.Opt{kgo.SASL(m)}, nil
}
