package cli

import (
	"errors"
	"testing"
)

func TestParseFrom(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want startSpec
	}{
		{"beginning", startSpec{kind: startBeginning}},
		{"end", startSpec{kind: startEnd}},
		{"0", startSpec{kind: startOffset, n: 0}},
		{"1234", startSpec{kind: startOffset, n: 1234}},
		{"@0", startSpec{kind: startTime, n: 0}},
		{"@1700000000000", startSpec{kind: startTime, n: 1700000000000}},
		{"-1", startSpec{kind: startTail, n: 1}},
		{"-25", startSpec{kind: startTail, n: 25}},
	} {
		got, err := parseFrom(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseFrom(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "start", "latest", "-0", "--1", "-x", "@", "@-5", "@x", "1.5", "0x10", "9223372036854775808"} {
		if _, err := parseFrom(bad); !errors.Is(err, ErrUsage) {
			t.Errorf("parseFrom(%q) = %v, want a usage error", bad, err)
		}
	}
}

func TestStartFor(t *testing.T) {
	// A partition holding offsets [100, 110).
	const logStart, logEnd = 100, 110
	for _, tc := range []struct {
		spec   startSpec
		atTime int64
		want   int64
	}{
		{startSpec{kind: startBeginning}, -1, 100},
		{startSpec{kind: startEnd}, -1, 110},
		{startSpec{kind: startOffset, n: 105}, -1, 105},
		{startSpec{kind: startOffset, n: 3}, -1, 100},   // deleted: oldest stored
		{startSpec{kind: startOffset, n: 500}, -1, 110}, // future: wait at the end
		{startSpec{kind: startTail, n: 4}, -1, 106},     // the last 4
		{startSpec{kind: startTail, n: 50}, -1, 100},    // more than stored
		{startSpec{kind: startTime, n: 9}, 107, 107},    // the broker's answer
		{startSpec{kind: startTime, n: 9}, -1, 110},     // nothing that new
		{startSpec{kind: startTime, n: 9}, 40, 100},     // answer below log start
	} {
		if got := tc.spec.startFor(logStart, logEnd, tc.atTime); got != tc.want {
			t.Errorf("%+v (atTime %d): start %d, want %d", tc.spec, tc.atTime, got, tc.want)
		}
	}
	// An empty partition starts at its end whatever the spec.
	for _, spec := range []startSpec{{kind: startBeginning}, {kind: startTail, n: 3}, {kind: startOffset, n: 9}} {
		if got := spec.startFor(7, 7, -1); got != 7 {
			t.Errorf("%+v on empty partition at 7: %d", spec, got)
		}
	}
}
