// Package config holds Spool's configuration: the broker's own settings
// (a documented struct with defaults, loaded from a Kafka-style properties
// file, SPOOL_* environment variables and flags) and the table of Kafka
// topic configs with their validators, broker-level synonyms and defaults.
//
// Kafka's names are used everywhere (log.dirs, retention.ms, ...) so that
// operators and tools that know Kafka need no translation table.
package config

import "errors"

var (
	// ErrUnknownConfig means a config name is not one Spool knows. Kafka
	// answers this with INVALID_CONFIG rather than ignoring it, so typos
	// surface instead of silently doing nothing.
	ErrUnknownConfig = errors.New("unknown config")

	// ErrInvalidConfigValue means a known config was given a value its
	// validator rejects (wrong type, out of range, not in the allowed set).
	ErrInvalidConfigValue = errors.New("invalid config value")

	// ErrSyntax means a properties file line could not be parsed.
	ErrSyntax = errors.New("config syntax error")
)
