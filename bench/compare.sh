#!/usr/bin/env bash
# compare.sh: run Go benchmarks at two git revisions and compare them with
# benchstat, to review a change for performance regressions.
#
#   bench/compare.sh [options] OLD NEW PACKAGE...
#
# OLD and NEW are any git revisions (commit, branch, tag, HEAD~3). NEW may be
# "." for the current working tree, uncommitted changes included. Each
# revision is checked out with `git worktree add --detach` in a temporary
# directory, which is removed again on exit; the repository's own checkout,
# index and branches are never touched.
#
# Both revisions' test binaries are built first, then run alternately, one
# -count at a time (old, new, old, new, ...), so drift on the machine (heat,
# other load) hits both sides alike instead of biasing one.
#
# Options:
#   -n, --count N        runs per side (default 10; benchstat wants >= 6)
#   -b, --bench REGEXP   benchmarks to run (default ".")
#   -t, --benchtime T    go test -benchtime (e.g. 2s, 1000x)
#   -c, --cpu LIST       go test -cpu
#   -o, --out DIR        keep old.txt and new.txt in DIR
#   -h, --help           this text
#
# BENCHSTAT overrides the benchstat command (default:
# go run golang.org/x/perf/cmd/benchstat@latest).
#
# Example:
#   bench/compare.sh -n 8 -b 'Append|Fetch' main . ./internal/storage ./internal/record
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "compare.sh: $*" >&2; exit 2; }

count=10 bench=. benchtime= cpu= out=
while [ $# -gt 0 ]; do
  case $1 in
    -n|--count) count=${2:?}; shift 2 ;;
    -b|--bench) bench=${2:?}; shift 2 ;;
    -t|--benchtime) benchtime=${2:?}; shift 2 ;;
    -c|--cpu) cpu=${2:?}; shift 2 ;;
    -o|--out) out=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
[ $# -ge 3 ] || { usage >&2; exit 2; }
case $count in ''|*[!0-9]*|0) die "--count $count: want a positive number" ;; esac
old_rev=$1 new_rev=$2
shift 2
pkgs=("$@")

repo=$(git rev-parse --show-toplevel) || die "not inside a git repository"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spool-compare.XXXXXX")
worktrees=()
cleanup() {
  local wt
  for wt in "${worktrees[@]}"; do
    git -C "$repo" worktree remove --force "$wt" >/dev/null 2>&1 || true
  done
  git -C "$repo" worktree prune >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# tree REV NAME sets $srcdir to the directory holding REV's source: the
# repository itself for ".", otherwise a fresh detached worktree. (Not a
# $(...) substitution: the worktree must be recorded in this shell for
# cleanup.)
tree() {
  local rev=$1 name=$2 sha
  if [ "$rev" = "." ]; then
    srcdir=$repo
    return
  fi
  sha=$(git -C "$repo" rev-parse --verify --quiet "$rev^{commit}") || die "unknown revision $rev"
  srcdir=$tmp/$name
  worktrees+=("$srcdir")
  git -C "$repo" worktree add --detach --quiet "$srcdir" "$sha" >&2
}

# build DIR SIDE compiles each package's test binary from DIR into
# $tmp/bin/SIDE and records "binary<TAB>package dir" lines in $tmp/SIDE.list.
# A package missing at this revision is skipped with a note.
build() {
  local dir=$1 side=$2 pkg pdir bin i=0
  mkdir -p "$tmp/bin/$side"
  : >"$tmp/$side.list"
  for pkg in "${pkgs[@]}"; do
    if ! pdir=$(cd "$dir" && go list -f '{{.Dir}}' "$pkg" 2>/dev/null); then
      echo "compare.sh: $side: no package $pkg at this revision, skipped" >&2
      continue
    fi
    while IFS= read -r d; do
      i=$((i + 1))
      bin=$tmp/bin/$side/$i.test
      (cd "$d" && go test -c -o "$bin" .) || die "$side: building tests in $d failed"
      # No test files: go test -c writes nothing.
      [ -x "$bin" ] && printf '%s\t%s\n' "$bin" "$d" >>"$tmp/$side.list"
    done <<<"$pdir"
  done
}

# runonce SIDE runs every benchmark of SIDE once, appending to SIDE.txt.
runonce() {
  local side=$1 bin d args
  args=(-test.run '^$' -test.bench "$bench" -test.count 1 -test.benchmem)
  [ -n "$benchtime" ] && args+=(-test.benchtime "$benchtime")
  [ -n "$cpu" ] && args+=(-test.cpu "$cpu")
  while IFS=$'\t' read -r bin d; do
    # Run in the package directory, as go test does, so testdata resolves.
    (cd "$d" && "$bin" "${args[@]}") >>"$tmp/$side.txt" || die "$side: benchmarks in $d failed"
  done <"$tmp/$side.list"
}

tree "$old_rev" old
old_dir=$srcdir
tree "$new_rev" new
new_dir=$srcdir
echo "compare.sh: building $old_rev and $new_rev" >&2
build "$old_dir" old
build "$new_dir" new
: >"$tmp/old.txt"
: >"$tmp/new.txt"
for i in $(seq "$count"); do
  echo "compare.sh: run $i of $count" >&2
  runonce old
  runonce new
done

if [ -n "$out" ]; then
  mkdir -p "$out"
  cp "$tmp/old.txt" "$tmp/new.txt" "$out/"
  echo "compare.sh: raw results in $out/old.txt and $out/new.txt" >&2
fi
benchstat=${BENCHSTAT:-go run golang.org/x/perf/cmd/benchstat@latest}
(cd "$tmp" && $benchstat "old=old.txt" "new=new.txt")
