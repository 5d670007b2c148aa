// Package testcluster runs real multi-broker Spool clusters as child
// processes for fault-injection tests: it starts N `spool serve` processes on
// free ports, routes every inter-broker link through a TCP proxy it can cut,
// and kills, pauses, stops, wipes and restarts brokers on request. A
// workload helper produces keyed records during a fault and checks
// afterwards that every acknowledged record survived, exactly once and in
// order.
//
// Processes, not in-process brokers: SIGKILL and SIGSTOP are the only honest
// way to model a crash or a stalled machine, and separate processes cannot
// share state by accident.
package testcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// ErrBuild reports that the spool binary could not be built.
var ErrBuild = errors.New("building the spool binary")

// spoolPackage is the main package the harness builds.
const spoolPackage = "github.com/spool-mq/spool/cmd/spool"

// binary is built at most once per test binary: every cluster of every test
// runs the same executable, and building it costs seconds.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Build compiles ./cmd/spool once per test binary and returns the path of
// the executable. A build failure fails tb (the product does not build;
// there is nothing to skip to). Call Cleanup from TestMain to remove it.
func Build(tb testing.TB) string {
	tb.Helper()
	path, err := build()
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return path
}

func build() (string, error) {
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "spool-testcluster-bin-")
		if err != nil {
			binary.err = fmt.Errorf("%w: temp dir: %w", ErrBuild, err)
			return
		}
		binary.dir = dir
		path := filepath.Join(dir, "spool")
		out, err := exec.Command("go", "build", "-o", path, spoolPackage).CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("%w: go build %s: %w\n%s", ErrBuild, spoolPackage, err, out)
			return
		}
		binary.path = path
	})
	return binary.path, binary.err
}

// RunTests is a TestMain body: it builds the binary before the tests run
// (so the first test's timing does not include the build) and removes it
// afterwards. Use it as `func TestMain(m *testing.M) { os.Exit(testcluster.RunTests(m)) }`.
func RunTests(m *testing.M) int {
	if _, err := build(); err != nil {
		fmt.Fprintln(os.Stderr, "testcluster:", err)
		// The tests still run and each fails with the build error.
	}
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	return code
}
