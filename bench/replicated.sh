#!/usr/bin/env bash
# replicated.sh: replicated (RF=3, acks=all) produce throughput against a
# single node, measured in the same run on this machine.
#
#   bench/replicated.sh [records] [rounds]
#
# Each round starts a single broker, runs `spool bench produce` (8
# partitions, 1 KiB records, acks=all), stops it, then starts a 3-broker
# cluster on 127.0.0.1 with a topic of RF=3 and min.insync.replicas=2 and
# runs the same load against it. Data lives in a temporary directory.
set -euo pipefail
records=${1:-500000}
rounds=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
bin=${SPOOL_BIN:-$work/spool}
[[ -n "${SPOOL_BIN:-}" ]] || (cd "$root" && go build -o "$bin" ./cmd/spool)
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap 'stop; rm -rf "$work"' EXIT
load() { "$bin" bench produce --brokers "$1" --topic "$2" --partitions 8 --records "$records" --record-size 1024 --acks all 2>&1 | grep -E '^  (produced|ack)'; }

base=$((20000 + RANDOM % 20000))
for r in $(seq 1 "$rounds"); do
  echo "round $r: single node"
  "$bin" serve --kafka-addr 127.0.0.1:$base --http-addr "" --controller-addr 127.0.0.1:$((base+1)) \
    --data-dir "$work/single-$r" >"$work/single-$r.log" 2>&1 & pids+=($!)
  sleep 3
  load 127.0.0.1:$base single
  stop

  echo "round $r: 3 brokers, RF=3, min.insync.replicas=2"
  voters="1@127.0.0.1:$((base+11)),2@127.0.0.1:$((base+21)),3@127.0.0.1:$((base+31))"
  seeds=""
  for i in 1 2 3; do
    "$bin" serve --node-id $i --voters "$voters" --controller-addr 127.0.0.1:$((base+i*10+1)) \
      --kafka-addr 127.0.0.1:$((base+i*10)) --http-addr "" --data-dir "$work/rf3-$r-$i" >"$work/rf3-$r-$i.log" 2>&1 & pids+=($!)
    seeds+="${seeds:+,}127.0.0.1:$((base+i*10))"
  done
  sleep 5
  "$bin" topic create rf3 --partitions 8 --replication-factor 3 --config min.insync.replicas=2 --brokers "$seeds" >/dev/null
  load "$seeds" rf3
  stop
done
