#!/usr/bin/env bash
# ab.sh: the same produce and consume loads against two builds of the
# broker, alternating, in one run, so a change's cost is a ratio rather
# than two numbers from different days.
#
#   bench/ab.sh [OLD_REV] [NEW_REV] [ROUNDS]     (default HEAD~1 HEAD 3)
#
# Each round starts the OLD broker on a fresh data directory, runs every
# load, stops it, then does the same with NEW. Loads: produce (acks=all,
# 1 KiB records, 8 partitions, 10 s) uncompressed and with zstd and lz4
# batches (the broker validates the records of every batch it accepts, so
# compressed produce pays decompression), then the raw consumer reading
# 2 GB back. Prints MB/s per round and NEW/OLD.
set -euo pipefail
old=${1:-HEAD~1}
new=${2:-HEAD}
rounds=${3:-3}
secs=${PRODUCE_SECS:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap 'stop; rm -rf "$work"' EXIT

build() { # rev -> binary path
  local dir="$work/src-$1"
  git -C "$root" worktree add -q --detach "$dir" "$1"
  (cd "$dir" && go build -o "$work/spool-$1" ./cmd/spool)
  git -C "$root" worktree remove --force "$dir"
  echo "$work/spool-$1"
}
mbps() { grep -o '"mb_per_sec": [0-9.]*' | head -1 | awk '{printf "%.1f", $2}'; }

bin_old=$(build "$old")
bin_new=$(build "$new")
loads=(none zstd lz4 consume)
declare -A sum
base=$((20000 + RANDOM % 20000))
for r in $(seq 1 "$rounds"); do
  for side in old new; do
    bin=$bin_old; [[ $side == new ]] && bin=$bin_new
    data="$work/data-$side-$r"
    "$bin" serve --kafka-addr 127.0.0.1:$base --http-addr "" --controller-addr 127.0.0.1:$((base+1)) \
      --data-dir "$data" >"$work/$side-$r.log" 2>&1 & pids+=($!)
    sleep 2
    line="round $r $side:"
    for load in "${loads[@]}"; do
      if [[ $load == consume ]]; then
        v=$("$bin" bench consume --brokers 127.0.0.1:$base --topic ab-none --raw --records 2000000 --json --progress 0 | mbps)
      else
        v=$("$bin" bench produce --brokers 127.0.0.1:$base --topic "ab-$load" --partitions 8 --compression "$load" \
          --duration "${secs}s" --json --progress 0 | mbps)
      fi
      sum[$side-$load]=$(awk -v a="${sum[$side-$load]:-0}" -v b="$v" 'BEGIN{print a+b}')
      line+=" $load $v MB/s"
    done
    echo "$line"
    stop
    rm -rf "$data"
  done
done
echo "NEW ($new) / OLD ($old), mean of $rounds rounds:"
for load in "${loads[@]}"; do
  awk -v o="${sum[old-$load]}" -v n="${sum[new-$load]}" -v l="$load" -v r="$rounds" \
    'BEGIN{printf "  %-8s old %7.1f MB/s  new %7.1f MB/s  ratio %.2f\n", l, o/r, n/r, n/o}'
done
