package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// valueError is a rejected value. It prints as "key: rule, got \"value\""
// so operators see exactly which setting to fix, and it matches
// ErrInvalidConfigValue with errors.Is.
type valueError struct {
	key string
	msg string
}

func (e *valueError) Error() string { return e.key + ": " + e.msg }
func (e *valueError) Unwrap() error { return ErrInvalidConfigValue }

// invalid builds a valueError for key from a rule description.
func invalid(key, format string, args ...any) error {
	return &valueError{key: key, msg: fmt.Sprintf(format, args...)}
}

// renameKey reports a topic config's valueError under the broker-level
// name the operator actually set (log.retention.ms for retention.ms).
func renameKey(err error, key string) error {
	var ve *valueError
	if errors.As(err, &ve) {
		return &valueError{key: key, msg: ve.msg}
	}
	return err
}

// unknown reports a config name Spool does not know.
func unknown(key string) error {
	return fmt.Errorf("%w %q", ErrUnknownConfig, key)
}

// A rule checks one raw value and, when it fails, returns the rule text
// (for example `must be a long >= -1, got "x"`) without the key; callers add
// the key with invalid().
type rule func(v string) (msg string, ok bool)

func longAtLeast(min int64) rule {
	return func(v string) (string, bool) {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < min {
			return fmt.Sprintf("must be a long >= %d, got %q", min, v), false
		}
		return "", true
	}
}

// intAtLeastBits checks a value of a fixed-width Kafka integer type (typ is
// "int" or "short", bits its width) against a lower bound; overflow is
// reported like any other violation.
func intAtLeastBits(typ string, bits int, min int64) rule {
	return func(v string) (string, bool) {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, bits)
		if err != nil || n < min {
			article := "a"
			if strings.ContainsRune("aeiou", rune(typ[0])) {
				article = "an"
			}
			return fmt.Sprintf("must be %s %s >= %d, got %q", article, typ, min, v), false
		}
		return "", true
	}
}

func intAtLeast(min int64) rule { return intAtLeastBits("int", 32, min) }

func doubleRange(min, max float64) rule {
	return func(v string) (string, bool) {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || f < min || f > max {
			return fmt.Sprintf("must be a double in [%g, %g], got %q", min, max, v), false
		}
		return "", true
	}
}

func boolean() rule {
	return func(v string) (string, bool) {
		if _, ok := parseBool(v); !ok {
			return fmt.Sprintf("must be true or false, got %q", v), false
		}
		return "", true
	}
}

// parseBool accepts Kafka's spelling: true/false in any case.
func parseBool(v string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

func oneOf(allowed ...string) rule {
	return func(v string) (string, bool) {
		for _, a := range allowed {
			if strings.TrimSpace(v) == a {
				return "", true
			}
		}
		return fmt.Sprintf("must be %s, got %q", orList(allowed), v), false
	}
}

// listOf accepts a non-empty comma-separated list whose items are all in
// allowed (Kafka's ValidList).
func listOf(allowed ...string) rule {
	return func(v string) (string, bool) {
		items := splitList(v)
		if len(items) == 0 {
			return fmt.Sprintf("must be a list of %s, got %q", orList(allowed), v), false
		}
		for _, it := range items {
			if _, ok := oneOf(allowed...)(it); !ok {
				return fmt.Sprintf("must be a list of %s, got %q", orList(allowed), v), false
			}
		}
		return "", true
	}
}

// splitList splits a Kafka list value, trimming items and dropping empties.
func splitList(v string) []string {
	var out []string
	for _, it := range strings.Split(v, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

// orList renders {"a","b","c"} as "a, b or c".
func orList(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
