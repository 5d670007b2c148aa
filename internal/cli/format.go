package cli

import (
	"encoding/json"
	"io"
	"strings"
	"text/template"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordFormatter writes one consumed record to w, ending with a newline.
type recordFormatter func(w io.Writer, r *kgo.Record) error

// formatHelp is the --format description, shared by the flag and its errors.
const formatHelp = `value, kv (key TAB value), json (one object per line), or a Go template such as '{{.Key}}={{.Value}} {{.Header "trace"}}'`

// newFormatter returns the formatter for a --format value: one of the named
// formats, or else a text/template over templateRecord. A template gets a
// newline appended after each record, so one record is one line unless the
// template says otherwise.
func newFormatter(format string) (recordFormatter, error) {
	switch format {
	case "value", "":
		return func(w io.Writer, r *kgo.Record) error {
			// Two writes, not append(r.Value, '\n'): the value aliases
			// the fetch buffer and append could overwrite the next record.
			if _, err := w.Write(r.Value); err != nil {
				return err
			}
			_, err := io.WriteString(w, "\n")
			return err
		}, nil
	case "kv":
		return func(w io.Writer, r *kgo.Record) error {
			line := make([]byte, 0, len(r.Key)+len(r.Value)+2)
			line = append(append(append(append(line, r.Key...), '\t'), r.Value...), '\n')
			_, err := w.Write(line)
			return err
		}, nil
	case "json":
		return func(w io.Writer, r *kgo.Record) error {
			// Encoder.Encode ends each object with a newline.
			return json.NewEncoder(w).Encode(newJSONRecord(r))
		}, nil
	}
	if !strings.Contains(format, "{{") {
		return nil, usageErrorf("--format %q: want %s", format, formatHelp)
	}
	tmpl, err := template.New("format").Option("missingkey=error").Parse(format)
	if err != nil {
		return nil, usageErrorf("--format: %w", err)
	}
	return func(w io.Writer, r *kgo.Record) error {
		if err := tmpl.Execute(w, newTemplateRecord(r)); err != nil {
			return err
		}
		_, err := io.WriteString(w, "\n")
		return err
	}, nil
}

// jsonRecord is the --format json shape. Keys and values are strings (bytes
// that are not valid UTF-8 become U+FFFD); a null key or value is JSON null.
// The timestamp is milliseconds since the Unix epoch, as in Kafka.
type jsonRecord struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp int64        `json:"timestamp"`
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   []jsonHeader `json:"headers"`
}

type jsonHeader struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

func newJSONRecord(r *kgo.Record) jsonRecord {
	j := jsonRecord{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp.UnixMilli(),
		Key:       nullableString(r.Key),
		Value:     nullableString(r.Value),
		Headers:   make([]jsonHeader, len(r.Headers)),
	}
	for i, h := range r.Headers {
		j.Headers[i] = jsonHeader{Key: h.Key, Value: nullableString(h.Value)}
	}
	return j
}

// nullableString maps Kafka's null (a nil slice, as kgo decodes it) to nil.
func nullableString(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

// templateRecord is what a --format template sees: {{.Topic}},
// {{.Partition}}, {{.Offset}}, {{.Timestamp}} (a time.Time, so
// {{.Timestamp.UnixMilli}} works), {{.Key}}, {{.Value}}, {{.Headers}} (a
// list of .Key/.Value) and {{.Header "name"}} (the first header with that
// key, or "").
type templateRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       string
	Value     string
	Headers   []templateHeader
}

type templateHeader struct {
	Key   string
	Value string
}

// Header returns the value of the first header named key, or "".
func (r templateRecord) Header(key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

func newTemplateRecord(r *kgo.Record) templateRecord {
	t := templateRecord{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp,
		Key:       string(r.Key),
		Value:     string(r.Value),
		Headers:   make([]templateHeader, len(r.Headers)),
	}
	for i, h := range r.Headers {
		t.Headers[i] = templateHeader{Key: h.Key, Value: string(h.Value)}
	}
	return t
}
