#!/usr/bin/env bash
# Instructions per operation of the pure core (src/bin/bench-core.rs), under callgrind: each
# operation is run 1 and 1 + N times and the difference divided by N, so set-up (parsing the
# catalog, the policy, the key) is not counted. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
cargo build --locked --release --quiet --bin bench-core
N=${N:-100}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
total() {  # instructions of one run: bench-core OP COUNT
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" target/release/bench-core "$1" "$2" >/dev/null 2>"$out/log"
  awk '/^summary:/ {print $2}' "$out/cg"
}
echo "| operation | instructions per call |"
echo "|---|---|"
for op in verify decide list call; do
  one=$(total "$op" 1)
  many=$(total "$op" $((N + 1)))
  echo "| $op | $(( (many - one) / N )) |"
done
