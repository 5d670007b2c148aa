package config

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// EnvPrefix starts every environment variable Spool reads its config from.
const EnvPrefix = "SPOOL_"

// EnvName is the environment variable for a property: SPOOL_ followed by
// the key in upper case with dots as underscores (log.dirs ->
// SPOOL_LOG_DIRS).
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// LoadFile applies a Kafka-style properties file to into. See
// LoadProperties for the syntax; errors name the file and line.
func LoadFile(path string, into *Broker) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	return LoadProperties(f, path, into)
}

// LoadProperties applies properties read from r (name labels errors) to
// into, in file order, so a repeated key's last value wins as in Java.
//
// The syntax is the part of java.util.Properties that Kafka config files
// use: "key=value", "key: value" or "key value"; blank lines and lines
// starting with # or ! are comments; a line ending in a backslash continues
// on the next line. Other backslash escapes are not interpreted. Unknown
// keys are errors (wrapping ErrUnknownConfig), so a typo cannot be ignored
// silently.
func LoadProperties(r io.Reader, name string, into *Broker) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	lineNo, startLine := 0, 0
	var logical strings.Builder
	for sc.Scan() {
		lineNo++
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if logical.Len() == 0 {
			if line == "" || line[0] == '#' || line[0] == '!' {
				continue
			}
			startLine = lineNo
		}
		if continues(line) {
			logical.WriteString(line[:len(line)-1])
			continue
		}
		logical.WriteString(line)
		if err := applyLine(logical.String(), into); err != nil {
			return fmt.Errorf("%s:%d: %w", name, startLine, err)
		}
		logical.Reset()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", name, lineNo+1, err)
	}
	if logical.Len() > 0 { // file ended inside a continuation
		if err := applyLine(logical.String(), into); err != nil {
			return fmt.Errorf("%s:%d: %w", name, startLine, err)
		}
	}
	return nil
}

// continues reports whether line ends in an odd number of backslashes
// (an even number is escaped backslashes, not a continuation).
func continues(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// applyLine splits one logical line into key and value and sets it.
func applyLine(line string, into *Broker) error {
	key, value := splitProperty(line)
	if key == "" {
		return fmt.Errorf("%w: missing key in %q", ErrSyntax, line)
	}
	return into.Set(key, value)
}

// splitProperty splits at the first '=', ':' or whitespace; whitespace
// around the separator is ignored, as in java.util.Properties.
func splitProperty(line string) (key, value string) {
	i := strings.IndexAny(line, "=: \t\f")
	if i < 0 {
		return line, ""
	}
	key, rest := line[:i], strings.TrimLeft(line[i:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = rest[1:]
	}
	return key, strings.TrimSpace(rest)
}

// ApplyEnv applies SPOOL_* variables from environ (os.Environ() format)
// to into. Variables that name no property are ignored, because the SPOOL_
// namespace is shared with the CLI's client settings; a known variable with
// a bad value is an error naming the variable.
func ApplyEnv(environ []string, into *Broker) error {
	byEnv := make(map[string]string)
	for _, k := range Keys() {
		byEnv[k.Env] = k.Key
	}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		key, known := byEnv[name]
		if !known {
			continue
		}
		if err := into.Set(key, value); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
