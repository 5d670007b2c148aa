package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The baseline answers "what could this machine do at best?" before anyone
// reads a broker benchmark: a broker that acknowledges after fsync cannot
// beat the disk's write+fsync bandwidth, and no client can beat loopback
// TCP. The measurements mimic the broker's own I/O: appends to a fresh file
// with an fsync per write, in 1 MiB writes (a large produce batch) and in
// 64 KiB writes (many small batches sharing one group commit).

// FS is the part of a filesystem the baseline writes through. It is the
// real OS filesystem in use (the point is to measure it); tests substitute
// one that fails, to check errors surface and files are still removed.
type FS interface {
	Create(name string) (File, error)
	Remove(name string) error
}

// File is a file being written by the baseline.
type File interface {
	io.Writer
	Sync() error
	Close() error
}

// OSFS is the operating system's filesystem.
type OSFS struct{}

// Create creates or truncates name for writing.
func (OSFS) Create(name string) (File, error) { return os.Create(name) }

// Remove deletes name.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// BaselineOptions bound the baseline. Zero values take the defaults noted.
type BaselineOptions struct {
	// Dir is where the disk tests write their temporary files. Required;
	// put it on the disk the broker's data directory will use.
	Dir string
	// FS is the filesystem; nil means OSFS.
	FS FS
	// WriteSizes are the disk tests' write sizes, one test each; nil means
	// 1 MiB and 64 KiB.
	WriteSizes []int
	// DiskBytes caps the bytes each disk test writes (default 256 MiB).
	DiskBytes int64
	// DiskDuration caps each disk test's time (default 3s).
	DiskDuration time.Duration
	// TCPDuration caps the loopback bandwidth test (default 2s).
	TCPDuration time.Duration
	// TCPBytes caps the loopback bandwidth test's bytes (default 64 GiB,
	// so the time cap decides).
	TCPBytes int64
	// RoundTrips caps the loopback 64-byte ping-pongs (default 20,000, or
	// one second, whichever is first).
	RoundTrips int
	// Progress receives one line per finished test; nil for none.
	Progress io.Writer
}

func (o BaselineOptions) withDefaults() BaselineOptions {
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.WriteSizes == nil {
		o.WriteSizes = []int{1 << 20, 64 << 10}
	}
	if o.DiskBytes == 0 {
		o.DiskBytes = 256 << 20
	}
	if o.DiskDuration == 0 {
		o.DiskDuration = 3 * time.Second
	}
	if o.TCPDuration == 0 {
		o.TCPDuration = 2 * time.Second
	}
	if o.TCPBytes == 0 {
		o.TCPBytes = 64 << 30
	}
	if o.RoundTrips == 0 {
		o.RoundTrips = 20_000
	}
	return o
}

// Validate checks the options.
func (o BaselineOptions) Validate() error {
	if strings.TrimSpace(o.Dir) == "" {
		return invalid("baseline needs a directory")
	}
	for _, s := range o.WriteSizes {
		if s <= 0 || s > 64<<20 {
			return invalid("write size %d: want 1 byte to 64 MiB", s)
		}
	}
	if o.DiskBytes < 0 || o.DiskDuration < 0 || o.TCPDuration < 0 || o.TCPBytes < 0 || o.RoundTrips < 0 {
		return invalid("baseline limits must not be negative")
	}
	d := o.withDefaults()
	for _, s := range d.WriteSizes {
		if int64(s) > d.DiskBytes {
			return invalid("disk bytes %d: smaller than one %d-byte write", d.DiskBytes, s)
		}
	}
	return nil
}

// BaselineResult is what RunBaseline measured.
type BaselineResult struct {
	Dir  string
	Disk []DiskResult
	TCP  TCPResult
}

// DiskResult is one sequential write+fsync test.
type DiskResult struct {
	WriteSize    int
	Bytes        int64
	Writes       int64 // each followed by an fsync
	Elapsed      time.Duration
	MBPerSec     float64 // 2^20 bytes per second
	WritesPerSec float64
	Latency      Latency // one write plus its fsync
}

// TCPResult is the loopback test.
type TCPResult struct {
	Bytes      int64
	Elapsed    time.Duration
	MBPerSec   float64 // 2^20 bytes per second
	RoundTrips Latency // 64 bytes there and back
}

// RunBaseline measures the machine's own limits now: sequential write with
// an fsync per write in o.Dir, for each write size, then loopback TCP
// bandwidth and round-trip time. Each test is bounded in bytes and time,
// and the files are removed even when a test fails.
func RunBaseline(ctx context.Context, o BaselineOptions) (*BaselineResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	res := &BaselineResult{Dir: o.Dir}
	for _, size := range o.WriteSizes {
		d, err := diskTest(ctx, o, size)
		if err != nil {
			return nil, err
		}
		res.Disk = append(res.Disk, d)
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "disk: %s writes + fsync: %.1f MB/s, %.0f fsyncs/s, p50 %s p99 %s\n",
				sizeName(size), d.MBPerSec, d.WritesPerSec, ms(d.Latency.P50), ms(d.Latency.P99))
		}
	}
	tcp, err := tcpBandwidth(ctx, o.TCPDuration, o.TCPBytes)
	if err != nil {
		return nil, err
	}
	if tcp.RoundTrips, err = tcpRoundTrips(ctx, o.RoundTrips, time.Second); err != nil {
		return nil, err
	}
	res.TCP = tcp
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "tcp: loopback %.1f MB/s, round trip p50 %s p99 %s\n",
			tcp.MBPerSec, ms(tcp.RoundTrips.P50), ms(tcp.RoundTrips.P99))
	}
	return res, nil
}

func diskTest(ctx context.Context, o BaselineOptions, size int) (res DiskResult, err error) {
	name := filepath.Join(o.Dir, fmt.Sprintf("spool-baseline-%s-%016x.tmp", sizeName(size), rand.Uint64()))
	f, err := o.FS.Create(name)
	if err != nil {
		return res, fmt.Errorf("disk test: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("disk test: closing %s: %w", name, cerr)
		}
		if rerr := o.FS.Remove(name); rerr != nil && err == nil {
			err = fmt.Errorf("disk test: removing %s: %w", name, rerr)
		}
	}()
	buf := newPayload(size, rand.New(rand.NewPCG(2, uint64(size))))
	var h Histogram
	start := time.Now()
	deadline := start.Add(o.DiskDuration)
	for res.Bytes+int64(size) <= o.DiskBytes && time.Now().Before(deadline) && ctx.Err() == nil {
		t := time.Now()
		if _, err := f.Write(buf); err != nil {
			return res, fmt.Errorf("disk test: writing %s: %w", name, err)
		}
		if err := f.Sync(); err != nil {
			return res, fmt.Errorf("disk test: fsync %s: %w", name, err)
		}
		h.RecordDuration(time.Since(t))
		res.Bytes += int64(size)
		res.Writes++
	}
	res.WriteSize = size
	res.Elapsed = time.Since(start)
	if s := res.Elapsed.Seconds(); s > 0 {
		res.MBPerSec = float64(res.Bytes) / s / mb
		res.WritesPerSec = float64(res.Writes) / s
	}
	res.Latency = h.Summary()
	return res, ctx.Err()
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// tcpBandwidth streams 256 KiB writes through a loopback connection for up
// to d or maxBytes and measures what the reader received.
func tcpBandwidth(ctx context.Context, d time.Duration, maxBytes int64) (TCPResult, error) {
	var res TCPResult
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, fmt.Errorf("tcp test: %w", err)
	}
	defer ln.Close()
	type readResult struct {
		n   int64
		end time.Time
		err error
	}
	got := make(chan readResult, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- readResult{err: err}
			return
		}
		defer conn.Close()
		buf := make([]byte, 256<<10)
		var n int64
		for {
			m, err := conn.Read(buf)
			n += int64(m)
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				got <- readResult{n: n, end: time.Now(), err: err}
				return
			}
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return res, fmt.Errorf("tcp test: %w", err)
	}
	buf := newPayload(256<<10, rand.New(rand.NewPCG(3, 3)))
	start := time.Now()
	deadline := start.Add(d)
	var sent int64
	var werr error
	for sent < maxBytes && time.Now().Before(deadline) && ctx.Err() == nil {
		chunk := buf[:min(int64(len(buf)), maxBytes-sent)]
		if _, werr = conn.Write(chunk); werr != nil {
			break
		}
		sent += int64(len(chunk))
	}
	conn.Close()
	r := <-got
	if werr != nil {
		return res, fmt.Errorf("tcp test: writing: %w", werr)
	}
	if r.err != nil {
		return res, fmt.Errorf("tcp test: reading: %w", r.err)
	}
	res.Bytes = r.n
	res.Elapsed = r.end.Sub(start)
	if s := res.Elapsed.Seconds(); s > 0 {
		res.MBPerSec = float64(res.Bytes) / s / mb
	}
	return res, ctx.Err()
}

// tcpRoundTrips times n 64-byte echoes over loopback (or as many as fit in
// d): the floor under any request/response latency on this machine.
func tcpRoundTrips(ctx context.Context, n int, d time.Duration) (Latency, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Latency{}, fmt.Errorf("tcp round trips: %w", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after ln.Close: an Accept still waiting then returns
	defer ln.Close()
	wg.Go(func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(conn, buf); err != nil {
				return
			}
			if _, err := conn.Write(buf); err != nil {
				return
			}
		}
	})
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return Latency{}, fmt.Errorf("tcp round trips: %w", err)
	}
	defer conn.Close()
	msg, reply := make([]byte, 64), make([]byte, 64)
	var h Histogram
	deadline := time.Now().Add(d)
	for i := 0; i < n && time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		t := time.Now()
		if _, err := conn.Write(msg); err != nil {
			return Latency{}, fmt.Errorf("tcp round trips: %w", err)
		}
		if _, err := io.ReadFull(conn, reply); err != nil {
			return Latency{}, fmt.Errorf("tcp round trips: %w", err)
		}
		h.RecordDuration(time.Since(t))
	}
	return h.Summary(), ctx.Err()
}

// MarshalJSON writes the disk result with the elapsed time in seconds.
func (d DiskResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		WriteSize    int     `json:"write_size"`
		Bytes        int64   `json:"bytes"`
		Writes       int64   `json:"writes"`
		ElapsedS     float64 `json:"elapsed_s"`
		MBPerSec     float64 `json:"mb_per_sec"`
		WritesPerSec float64 `json:"fsyncs_per_sec"`
		Latency      Latency `json:"write_fsync_latency"`
	}{d.WriteSize, d.Bytes, d.Writes, d.Elapsed.Seconds(), d.MBPerSec, d.WritesPerSec, d.Latency})
}

// MarshalJSON writes the TCP result with the elapsed time in seconds.
func (t TCPResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Bytes      int64   `json:"bytes"`
		ElapsedS   float64 `json:"elapsed_s"`
		MBPerSec   float64 `json:"mb_per_sec"`
		RoundTrips Latency `json:"round_trip_64b"`
	}{t.Bytes, t.Elapsed.Seconds(), t.MBPerSec, t.RoundTrips})
}

// MarshalJSON writes the baseline with snake_case keys.
func (r BaselineResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Kind string       `json:"kind"`
		Dir  string       `json:"dir"`
		Disk []DiskResult `json:"disk"`
		TCP  TCPResult    `json:"tcp_loopback"`
	}{"baseline", r.Dir, r.Disk, r.TCP})
}

// WriteText writes the baseline for people.
func (r *BaselineResult) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "baseline: this machine's limits, measured in %s\n", r.Dir)
	for _, d := range r.Disk {
		fmt.Fprintf(&b, "  disk %-6s writes + fsync each: %8.1f MB/s  %8.0f fsyncs/s  latency p50 %s p99 %s max %s  (%d bytes in %.2fs)\n",
			sizeName(d.WriteSize), d.MBPerSec, d.WritesPerSec, ms(d.Latency.P50), ms(d.Latency.P99), ms(d.Latency.Max), d.Bytes, d.Elapsed.Seconds())
	}
	t := r.TCP
	fmt.Fprintf(&b, "  tcp loopback:                 %8.1f MB/s  (%d bytes in %.2fs)\n", t.MBPerSec, t.Bytes, t.Elapsed.Seconds())
	fmt.Fprintf(&b, "  tcp round trip, 64 bytes:     p50 %s  p99 %s  max %s  (%d samples)\n",
		ms(t.RoundTrips.P50), ms(t.RoundTrips.P99), ms(t.RoundTrips.Max), t.RoundTrips.Count)
	_, err := io.WriteString(w, b.String())
	return err
}
