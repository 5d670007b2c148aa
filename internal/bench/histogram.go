package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout (log-linear, in the manner of HdrHistogram):
//
// Values below subCount (128) get one bucket each and are exact. Above that,
// every power-of-two range [2^k, 2^(k+1)) is split into subCount equal
// buckets, so a bucket's width is at most 1/subCount of its lower bound and
// any reported value is within 1/128 (0.8%) of the true one: two significant
// decimal digits, which is what latency reporting needs. The buckets cover
// every non-negative int64 in a fixed 7,296-slot array, so recording is a
// shift, a subtraction and an increment, with no allocation and no
// configuration of a trackable range.
const (
	subBits    = 7
	subCount   = 1 << subBits
	numBuckets = subCount + (63-subBits)*subCount
)

// Histogram counts non-negative int64 values (nanoseconds, for latencies) in
// log-linear buckets. The zero value is empty and ready to use. It is not
// safe for concurrent use; the benchmarks keep one per client behind a lock
// and merge them.
type Histogram struct {
	counts []uint64 // numBuckets slots, allocated on first Record
	total  uint64
	sum    float64
	min    int64
	max    int64
}

// bucketIndex maps v >= 0 to its bucket.
func bucketIndex(v int64) int {
	if v < subCount {
		return int(v)
	}
	// shift keeps the top subBits+1 bits of v; the leading one of those is
	// implied by the octave, the other subBits choose the sub-bucket.
	shift := bits.Len64(uint64(v)) - subBits - 1
	return subCount + shift*subCount + int(v>>uint(shift)) - subCount
}

// bucketBounds returns the smallest and largest value that map to idx.
func bucketBounds(idx int) (lo, hi int64) {
	if idx < subCount {
		return int64(idx), int64(idx)
	}
	shift := uint((idx - subCount) / subCount)
	m := int64((idx-subCount)%subCount + subCount)
	lo = m << shift
	hi = lo + (int64(1) << shift) - 1
	return lo, hi
}

// Record adds one value. Negative values (a clock stepping backwards between
// two wall-clock readings) are counted as zero rather than dropped, so the
// count still matches the number of events.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	h.counts[bucketIndex(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

// RecordDuration records d in nanoseconds.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total }

// Min returns the smallest recorded value, exactly (0 when empty).
func (h *Histogram) Min() int64 { return h.min }

// Max returns the largest recorded value, exactly (0 when empty).
func (h *Histogram) Max() int64 { return h.max }

// Mean returns the exact arithmetic mean (0 when empty).
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// Percentile returns the value below or at which q percent of the recorded
// values lie (q in [0, 100]; q=50 is the median). As HdrHistogram does, it
// reports the highest value of the bucket holding that rank, capped at the
// true maximum, so a percentile is never understated: a latency report errs
// towards pessimism. It returns 0 for an empty histogram.
func (h *Histogram) Percentile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	q = min(max(q, 0), 100)
	// The rank of the q-th percentile, counting from 1: the smallest rank
	// r with r/total >= q/100. A tiny tolerance stops 99.9*1000/100
	// evaluating to 999.0000000000001 and jumping a whole rank.
	rank := uint64(math.Ceil(q/100*float64(h.total) - 1e-9))
	rank = max(rank, 1)
	var seen uint64
	for idx, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketBounds(idx)
			return min(hi, h.max)
		}
	}
	return h.max
}

// Merge adds every value recorded in other to h.
func (h *Histogram) Merge(other *Histogram) {
	if other == nil || other.total == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	for i, c := range other.counts {
		h.counts[i] += c
	}
	if h.total == 0 || other.min < h.min {
		h.min = other.min
	}
	h.max = max(h.max, other.max)
	h.total += other.total
	h.sum += other.sum
}

// Reset empties h, keeping its memory.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.total, h.sum, h.min, h.max = 0, 0, 0, 0
}

// Latency summarises a histogram of nanosecond durations in the percentiles
// benchmark reports use.
type Latency struct {
	Count uint64
	Mean  time.Duration
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	P999  time.Duration
	Max   time.Duration
}

// Summary returns h's Latency, treating values as nanoseconds.
func (h *Histogram) Summary() Latency {
	return Latency{
		Count: h.total,
		Mean:  time.Duration(math.Round(h.Mean())),
		P50:   time.Duration(h.Percentile(50)),
		P90:   time.Duration(h.Percentile(90)),
		P99:   time.Duration(h.Percentile(99)),
		P999:  time.Duration(h.Percentile(99.9)),
		Max:   time.Duration(h.max),
	}
}
