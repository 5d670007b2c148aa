#!/usr/bin/env bash
# Runs Spool's whole test suite. It installs what the tests need that Go does
# not bring (Debian's kcat, a librdkafka client) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v kcat >/dev/null 2>&1; then
  echo "test.sh: installing kcat (librdkafka client used by the interoperability tests)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq kcat >/dev/null
fi

echo "test.sh: go vet"
go vet ./...

echo "test.sh: go test -race"
# -race everywhere: nearly every package has concurrency. The fuzz targets
# run their seed corpora here; longer fuzzing is `go test -fuzz` on demand.
go test -race -count=1 -timeout 20m "$@" ./...
