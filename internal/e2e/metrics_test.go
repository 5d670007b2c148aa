package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrapeMetric reads the broker's /metrics at httpAddr and returns the sum
// of the samples of metric carrying (at least) labels. A metric with no
// such sample fails the test: a typo must not read as zero.
func scrapeMetric(t *testing.T, httpAddr, metric string, labels map[string]string) float64 {
	t.Helper()
	v, err := readMetric(httpAddr, metric, labels)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readMetric(httpAddr, metric string, labels map[string]string) (float64, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("scraping /metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("scraping /metrics: %w", err)
	}
	sum, found := 0.0, false
	for _, line := range strings.Split(string(body), "\n") {
		name, rest, ok := strings.Cut(line, " ")
		lbls := ""
		if i := strings.IndexByte(line, '{'); i >= 0 && i < len(name) {
			end := strings.LastIndexByte(line, '}')
			if end < 0 {
				continue
			}
			name, lbls, rest = line[:i], line[i+1:end], strings.TrimSpace(line[end+1:])
		} else if !ok {
			continue
		}
		if name != metric || !hasLabels(lbls, labels) {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: bad value in %q", metric, line)
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, fmt.Errorf("/metrics has no sample of %s with labels %v", metric, labels)
	}
	return sum, nil
}

func hasLabels(lbls string, want map[string]string) bool {
	for k, v := range want {
		if !strings.Contains(lbls, fmt.Sprintf("%s=%q", k, v)) {
			return false
		}
	}
	return true
}

// waitMetric polls metric until ok accepts its value, failing the test
// (with the last value) when ctx ends or 30 s have passed.
func waitMetric(t *testing.T, ctx context.Context, httpAddr, metric string, labels map[string]string, ok func(float64) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := readMetric(httpAddr, metric, labels)
		if err == nil && ok(v) {
			return
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %s%v = %v (err %v)", what, metric, labels, v, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
