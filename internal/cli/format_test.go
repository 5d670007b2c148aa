package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestFormatters(t *testing.T) {
	ts := time.UnixMilli(1_700_000_000_123).UTC()
	full := &kgo.Record{
		Topic: "t", Partition: 2, Offset: 41, Timestamp: ts,
		Key: []byte("k"), Value: []byte("v\tw"),
		Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: nil}, {Key: "a", Value: []byte("2")}},
	}
	null := &kgo.Record{Topic: "t", Partition: 0, Offset: 0, Timestamp: ts}
	for _, tc := range []struct {
		format string
		rec    *kgo.Record
		want   string
	}{
		{"value", full, "v\tw\n"},
		{"", full, "v\tw\n"},
		{"value", null, "\n"},
		{"kv", full, "k\tv\tw\n"},
		{"kv", null, "\t\n"},
		{"json", full, `{"topic":"t","partition":2,"offset":41,"timestamp":1700000000123,"key":"k","value":"v\tw","headers":[{"key":"a","value":"1"},{"key":"b","value":null},{"key":"a","value":"2"}]}` + "\n"},
		{"json", null, `{"topic":"t","partition":0,"offset":0,"timestamp":1700000000123,"key":null,"value":null,"headers":[]}` + "\n"},
		{`{{.Topic}}/{{.Partition}}@{{.Offset}} {{.Key}}={{.Value}}`, full, "t/2@41 k=v\tw\n"},
		{`{{.Header "a"}}|{{.Header "b"}}|{{.Header "zz"}}|{{len .Headers}}`, full, "1|||3\n"},
		{`{{range .Headers}}{{.Key}}={{.Value}};{{end}}`, full, "a=1;b=;a=2;\n"},
		{`{{.Timestamp.UnixMilli}} {{.Timestamp.Format "2006-01-02"}}`, full, "1700000000123 2023-11-14\n"},
	} {
		f, err := newFormatter(tc.format)
		if err != nil {
			t.Fatalf("newFormatter(%q): %v", tc.format, err)
		}
		var b bytes.Buffer
		if err := f(&b, tc.rec); err != nil {
			t.Fatalf("format %q: %v", tc.format, err)
		}
		if b.String() != tc.want {
			t.Errorf("format %q:\ngot  %q\nwant %q", tc.format, b.String(), tc.want)
		}
	}
}

// The value formatter must not write into the record's buffer: kgo's record
// slices alias the fetch response, and the next record's bytes follow.
func TestFormatValueDoesNotTouchFetchBuffer(t *testing.T) {
	buf := []byte("firstSECOND")
	r := &kgo.Record{Value: buf[:5], Key: buf[:2]}
	for _, format := range []string{"value", "kv"} {
		f, _ := newFormatter(format)
		var out bytes.Buffer
		if err := f(&out, r); err != nil {
			t.Fatal(err)
		}
		if string(buf) != "firstSECOND" {
			t.Fatalf("--format %s overwrote the buffer: %q", format, buf)
		}
	}
}

func TestFormatterErrors(t *testing.T) {
	for _, format := range []string{"yaml", "{{.Value", "{{nosuchfunc .Value}}"} {
		if _, err := newFormatter(format); !errors.Is(err, ErrUsage) {
			t.Errorf("newFormatter(%q) = %v, want a usage error", format, err)
		}
	}
	// A field that does not exist fails when the record is formatted.
	f, err := newFormatter("{{.Nope}}")
	if err != nil {
		t.Fatal(err)
	}
	if err := f(&strings.Builder{}, &kgo.Record{}); err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Errorf("formatting {{.Nope}}: %v", err)
	}
}
