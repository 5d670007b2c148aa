package config

import (
	"net"
	"strconv"
	"strings"
)

// The constructors of brokerKeys entries, one per value type, and the
// checks they share.

// brokerKey binds one property name to a Broker field.
type brokerKey struct {
	name, typ, doc string
	get            func(*Broker) string
	// set parses and stores v; it only fails when v cannot be parsed.
	set func(*Broker, string) error
	// check validates the field's current value.
	check func(*Broker) error
}

func int32Key(name, doc string, f func(*Broker) *int32, min int64) brokerKey {
	return brokerKey{name: name, typ: TypeInt, doc: doc,
		get: func(b *Broker) string { return strconv.FormatInt(int64(*f(b)), 10) },
		set: func(b *Broker, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return invalid(name, "must be an int, got %q", v)
			}
			*f(b) = int32(n)
			return nil
		},
		check: func(b *Broker) error {
			if n := int64(*f(b)); n < min {
				return invalid(name, "must be >= %d, got %d", min, n)
			}
			return nil
		},
	}
}

func int64Key(name, doc string, f func(*Broker) *int64, min int64) brokerKey {
	return brokerKey{name: name, typ: TypeLong, doc: doc,
		get: func(b *Broker) string { return strconv.FormatInt(*f(b), 10) },
		set: func(b *Broker, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return invalid(name, "must be a long, got %q", v)
			}
			*f(b) = n
			return nil
		},
		check: func(b *Broker) error {
			if n := *f(b); n < min {
				return invalid(name, "must be >= %d, got %d", min, n)
			}
			return nil
		},
	}
}

func int16Key(name, doc string, f func(*Broker) *int16, min int64) brokerKey {
	return brokerKey{name: name, typ: TypeShort, doc: doc,
		get: func(b *Broker) string { return strconv.FormatInt(int64(*f(b)), 10) },
		set: func(b *Broker, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 16)
			if err != nil {
				return invalid(name, "must be a short, got %q", v)
			}
			*f(b) = int16(n)
			return nil
		},
		check: func(b *Broker) error {
			if n := int64(*f(b)); n < min {
				return invalid(name, "must be >= %d, got %d", min, n)
			}
			return nil
		},
	}
}

func boolKey(name, doc string, f func(*Broker) *bool) brokerKey {
	return brokerKey{name: name, typ: TypeBoolean, doc: doc,
		get: func(b *Broker) string { return strconv.FormatBool(*f(b)) },
		set: func(b *Broker, v string) error {
			t, ok := parseBool(v)
			if !ok {
				return invalid(name, "must be true or false, got %q", v)
			}
			*f(b) = t
			return nil
		},
		check: func(*Broker) error { return nil },
	}
}

// stringKey stores v trimmed; check (may be nil) validates it.
func stringKey(name, doc string, f func(*Broker) *string, check func(name, v string) error) brokerKey {
	k := brokerKey{name: name, typ: TypeString, doc: doc,
		get: func(b *Broker) string { return *f(b) },
		set: func(b *Broker, v string) error { *f(b) = strings.TrimSpace(v); return nil },
	}
	k.check = func(b *Broker) error {
		if check == nil {
			return nil
		}
		return check(name, *f(b))
	}
	return k
}

func enumCheck(allowed ...string) func(name, v string) error {
	return func(name, v string) error {
		if msg, ok := oneOf(allowed...)(v); !ok {
			return invalid(name, "%s", msg)
		}
		return nil
	}
}

// listenerKey is a host:port setting that also accepts Kafka's
// "PLAINTEXT://host:port" spelling. Spool has one plaintext listener, so
// other protocols and lists are rejected rather than half-honoured.
func listenerKey(name, doc string, f func(*Broker) *string, allowEmpty bool) brokerKey {
	k := stringKey(name, doc, f, func(name, v string) error {
		if v == "" && allowEmpty {
			return nil
		}
		return checkHostPort(name, v)
	})
	k.set = func(b *Broker, v string) error {
		v = strings.TrimSpace(v)
		if strings.Contains(v, ",") {
			return invalid(name, "Spool has a single listener; got the list %q", v)
		}
		if scheme, rest, ok := strings.Cut(v, "://"); ok {
			if !strings.EqualFold(scheme, "PLAINTEXT") {
				return invalid(name, "only PLAINTEXT listeners are supported, got %q", v)
			}
			v = rest
		}
		*f(b) = v
		return nil
	}
	return k
}

func checkHostPort(name, v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return invalid(name, "must be host:port, got %q", v)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return invalid(name, "port must be 0-65535, got %q", v)
	}
	return nil
}

// checkVoters validates "id@host:port,..." syntax; the controller checks
// the rest (duplicates, reachability).
func checkVoters(name, v string) error {
	if v == "" {
		return nil
	}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		id, addr, ok := strings.Cut(item, "@")
		if !ok {
			return invalid(name, "entries must be id@host:port, got %q", item)
		}
		if n, err := strconv.ParseInt(id, 10, 32); err != nil || n < 0 {
			return invalid(name, "voter id must be a non-negative int, got %q", item)
		}
		if err := checkHostPort(name, addr); err != nil {
			return invalid(name, "voter address must be host:port, got %q", item)
		}
	}
	return nil
}
