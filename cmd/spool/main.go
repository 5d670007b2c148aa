// Command spool is the Spool broker and its command-line client in one
// binary: `spool serve` runs a broker, and `spool topic`, `spool produce` and
// `spool consume` talk to any Kafka-compatible cluster. All the work lives in
// internal/cli so it can be tested in-process; main only hands over the
// process's arguments and standard streams and turns the result into an exit
// code.
package main

import (
	"os"

	"github.com/spool-mq/spool/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
