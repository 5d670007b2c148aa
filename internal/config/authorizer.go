package config

import "strings"

// Authorizer configures ACL authorization (Kafka's keys). With
// authorizer.class.name empty nothing is authorized: every request is
// served as before ACLs existed.
type Authorizer struct {
	// ClassName (authorizer.class.name) turns authorization on. Spool has
	// one authorizer; it accepts Kafka's class names so that a Kafka
	// configuration works unchanged, and the short name "spool".
	ClassName string
	// SuperUsers (super.users) are principals allowed everything,
	// separated by semicolons: User:admin;User:ops.
	SuperUsers string
	// AllowEveryoneIfNoACLFound (allow.everyone.if.no.acl.found) allows a
	// request on a resource no ACL names. Kafka's default false is the
	// safe one: a resource nobody wrote an ACL for is closed.
	AllowEveryoneIfNoACLFound bool
	// MaxACLs (authorizer.max.acls, Spool's own) bounds the ACLs in the
	// cluster, which every broker holds in memory and every snapshot
	// carries.
	MaxACLs int32
}

// AuthorizerClassNames are the accepted authorizer.class.name values.
var authorizerClassNames = []string{
	"spool",
	"org.apache.kafka.metadata.authorizer.StandardAuthorizer",
	"kafka.security.authorizer.AclAuthorizer",
}

// DefaultAuthorizer is authorization off.
func DefaultAuthorizer() Authorizer { return Authorizer{MaxACLs: 100000} }

// Enabled reports whether requests are authorized.
func (a *Authorizer) Enabled() bool { return a.ClassName != "" }

func authorizerKeys() []brokerKey {
	return []brokerKey{
		stringKey("authorizer.class.name", "Turns ACL authorization on: spool, or Kafka's org.apache.kafka.metadata.authorizer.StandardAuthorizer (the same authorizer). Empty: no authorization.",
			func(b *Broker) *string { return &b.Authorizer.ClassName },
			func(name, v string) error {
				if v == "" {
					return nil
				}
				for _, c := range authorizerClassNames {
					if v == c {
						return nil
					}
				}
				return invalid(name, "unknown authorizer %q (supported: %s)", v, strings.Join(authorizerClassNames, ", "))
			}),
		stringKey("super.users", "Principals allowed everything, separated by semicolons (User:admin;User:ops).",
			func(b *Broker) *string { return &b.Authorizer.SuperUsers },
			func(name, v string) error {
				for _, p := range strings.Split(v, ";") {
					if p = strings.TrimSpace(p); p != "" && !strings.HasPrefix(p, "User:") {
						return invalid(name, "principal %q is not User:<name>", p)
					}
				}
				return nil
			}),
		boolKey("allow.everyone.if.no.acl.found", "Allow requests on resources that no ACL names (default false: closed).",
			func(b *Broker) *bool { return &b.Authorizer.AllowEveryoneIfNoACLFound }),
		int32Key("authorizer.max.acls", "Most ACLs the cluster stores; CreateAcls past it fails.",
			func(b *Broker) *int32 { return &b.Authorizer.MaxACLs }, 1),
	}
}
