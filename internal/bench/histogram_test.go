package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestBucketsTileTheRange checks the layout itself: buckets are contiguous,
// cover 0..MaxInt64, every value maps into a bucket containing it, and no
// bucket is wider than 1/128 of its lower bound.
func TestBucketsTileTheRange(t *testing.T) {
	var next int64
	for idx := range numBuckets {
		lo, hi := bucketBounds(idx)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", idx, lo, next)
		}
		if hi < lo {
			t.Fatalf("bucket %d: hi %d < lo %d", idx, hi, lo)
		}
		if lo >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/subCount {
			t.Fatalf("bucket %d [%d,%d] wider than 1/%d of its bound", idx, lo, hi, subCount)
		}
		if bucketIndex(lo) != idx || bucketIndex(hi) != idx {
			t.Fatalf("bucket %d [%d,%d]: bounds map to %d and %d", idx, lo, hi, bucketIndex(lo), bucketIndex(hi))
		}
		next = hi + 1
		if hi == math.MaxInt64 {
			if idx != numBuckets-1 {
				t.Fatalf("range ends at bucket %d of %d", idx, numBuckets)
			}
			return
		}
	}
	t.Fatalf("buckets end at %d, not MaxInt64", next-1)
}

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if h.Count() != 0 || h.Percentile(50) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatalf("empty histogram: count %d p50 %d max %d mean %f", h.Count(), h.Percentile(50), h.Max(), h.Mean())
	}
}

func TestHistogramSmallValuesAreExact(t *testing.T) {
	var h Histogram
	for v := range int64(100) {
		h.Record(v + 1) // 1..100
	}
	for _, c := range []struct {
		q    float64
		want int64
	}{{0, 1}, {1, 1}, {50, 50}, {90, 90}, {99, 99}, {99.9, 100}, {100, 100}} {
		if got := h.Percentile(c.q); got != c.want {
			t.Errorf("p%v of 1..100 = %d, want %d", c.q, got, c.want)
		}
	}
	if h.Min() != 1 || h.Max() != 100 || h.Mean() != 50.5 {
		t.Errorf("min %d max %d mean %f, want 1 100 50.5", h.Min(), h.Max(), h.Mean())
	}
}

func TestHistogramUniform(t *testing.T) {
	var h Histogram
	const n = 1_000_000
	for v := int64(1); v <= n; v++ {
		h.Record(v)
	}
	for _, q := range []float64{50, 90, 99, 99.9} {
		exact := int64(math.Ceil(q / 100 * n))
		got := h.Percentile(q)
		if got < exact || float64(got-exact) > float64(exact)/subCount {
			t.Errorf("p%v = %d, want within 1/%d above %d", q, got, subCount, exact)
		}
	}
	if h.Percentile(100) != n || h.Max() != n {
		t.Errorf("p100 %d max %d, want %d", h.Percentile(100), h.Max(), n)
	}
}

// TestHistogramBimodal checks rank arithmetic at the percentile edges: 99%
// fast and 1% slow requests.
func TestHistogramBimodal(t *testing.T) {
	var h Histogram
	for range 990 {
		h.RecordDuration(time.Millisecond)
	}
	for range 10 {
		h.RecordDuration(100 * time.Millisecond)
	}
	s := h.Summary()
	near := func(got, want time.Duration) bool {
		return got >= want && float64(got-want) <= float64(want)/subCount
	}
	if !near(s.P50, time.Millisecond) || !near(s.P90, time.Millisecond) || !near(s.P99, time.Millisecond) {
		t.Errorf("p50/p90/p99 = %v/%v/%v, want about 1ms", s.P50, s.P90, s.P99)
	}
	if s.P999 != 100*time.Millisecond || s.Max != 100*time.Millisecond {
		t.Errorf("p99.9 %v max %v, want 100ms", s.P999, s.Max)
	}
	if want := (990*time.Millisecond + 10*100*time.Millisecond) / 1000; s.Mean != want {
		t.Errorf("mean %v, want %v", s.Mean, want)
	}
	if s.Count != 1000 {
		t.Errorf("count %d, want 1000", s.Count)
	}
}

// TestHistogramMatchesSortedPercentiles compares against exact percentiles
// of a log-normal sample (the usual shape of latencies).
func TestHistogramMatchesSortedPercentiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	values := make([]int64, 200_000)
	for i := range values {
		v := int64(math.Exp(rng.NormFloat64()*1.5 + 13)) // median ~0.44ms in ns
		values[i] = v
		h.Record(v)
	}
	slices.Sort(values)
	for _, q := range []float64{1, 25, 50, 90, 99, 99.9, 99.99} {
		rank := int(math.Ceil(q/100*float64(len(values)) - 1e-9))
		exact := values[rank-1]
		got := h.Percentile(q)
		if got < exact || float64(got-exact) > float64(exact)/subCount {
			t.Errorf("p%v = %d, exact %d: outside [exact, exact*(1+1/%d)]", q, got, exact, subCount)
		}
	}
	if h.Max() != values[len(values)-1] || h.Min() != values[0] {
		t.Errorf("min/max %d/%d, want %d/%d", h.Min(), h.Max(), values[0], values[len(values)-1])
	}
}

func TestHistogramConstantAndNegative(t *testing.T) {
	var h Histogram
	for range 10 {
		h.Record(123_456_789)
	}
	for _, q := range []float64{0, 50, 99.9, 100} {
		if got := h.Percentile(q); got != 123_456_789 {
			t.Errorf("p%v of a constant = %d, want the constant", q, got)
		}
	}
	var neg Histogram
	neg.Record(-5)
	if neg.Count() != 1 || neg.Max() != 0 || neg.Percentile(50) != 0 {
		t.Errorf("negative value: count %d max %d, want counted as 0", neg.Count(), neg.Max())
	}
}

func TestHistogramMergeAndReset(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var a, b, all Histogram
	for i := range 10_000 {
		v := rng.Int64N(1e9)
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	var merged Histogram
	merged.Merge(&a)
	merged.Merge(&b)
	merged.Merge(&Histogram{}) // empty: no effect
	if merged.Count() != all.Count() || merged.Min() != all.Min() || merged.Max() != all.Max() {
		t.Fatalf("merged count/min/max %d/%d/%d, want %d/%d/%d", merged.Count(), merged.Min(), merged.Max(), all.Count(), all.Min(), all.Max())
	}
	if !slices.Equal(merged.counts, all.counts) {
		t.Fatal("merged buckets differ from recording everything in one histogram")
	}
	if math.Abs(merged.Mean()-all.Mean()) > 1e-6*all.Mean() {
		t.Errorf("merged mean %f, want %f", merged.Mean(), all.Mean())
	}
	merged.Reset()
	if merged.Count() != 0 || merged.Percentile(99) != 0 {
		t.Errorf("after Reset: count %d p99 %d", merged.Count(), merged.Percentile(99))
	}
	merged.Record(7)
	if merged.Min() != 7 || merged.Max() != 7 {
		t.Errorf("after Reset and Record(7): min %d max %d", merged.Min(), merged.Max())
	}
}
