#!/usr/bin/env bash
# Coverage-guided fuzzing of the pure core (fuzz/: cargo fuzz, libFuzzer, nightly Rust). Builds
# every target once, then runs each for SECONDS. libFuzzer reads the seeds in fuzz/corpus/<target>
# (never written) and keeps what it finds in target/fuzz-corpus/<target> (minimised past 5,000
# files), so runs build on each other. A crash, a failed property or a slow input (over 10 s)
# fails the run, naming the reproducer in fuzz/artifacts/<target>/.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 10 s, every target)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

seconds=${1:-10}
shift $(($# > 0 ? 1 : 0))
case "$seconds" in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;; esac

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: cargo fuzz needs nightly Rust; installing it"
  rustup toolchain install nightly --profile minimal || { echo "fuzz: no nightly toolchain, and rustup could not install one" >&2; exit 1; }
fi
command -v cargo-fuzz >/dev/null || { echo "fuzz: cargo-fuzz is missing; run scripts/install.sh" >&2; exit 1; }

# The safe-Rust core gains little from AddressSanitizer and runs about twice as fast without it;
# FUZZ_SANITIZER=address puts it back (for the unsafe code in dependencies).
fuzz=(cargo +nightly fuzz)
opts=(--fuzz-dir fuzz --target-dir target/fuzz --release --sanitizer "${FUZZ_SANITIZER:-none}")
# cargo fuzz has no --locked: refuse a fuzz/Cargo.lock that would have to change.
cargo +nightly metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
"${fuzz[@]}" build "${opts[@]}"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir fuzz)
mkdir -p target/fuzz-logs
failed=()
# From one target's log: libFuzzer's final stats, and its last status line
# (`#N DONE cov: C ft: F corp: K/…`).
final() { awk -v k="stat::$2:" '$1 == k {print $2}' "$1"; }
status() { grep -E '^#[0-9]+' "$1" | tail -n 1 | sed -nE "s/.* $2: ([0-9]+).*/\1/p"; }
printf '%-14s %10s %8s %6s %6s %6s\n' target execs exec/s cov ft corpus
for t in "${targets[@]}"; do
  mkdir -p "target/fuzz-corpus/$t"
  log="target/fuzz-logs/$t.log"
  if ! "${fuzz[@]}" run "${opts[@]}" "$t" "target/fuzz-corpus/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 >"$log" 2>&1; then
    failed+=("$t")
  fi
  # libFuzzer adds files and seldom removes any: past 5,000, keep only those that add coverage.
  if [ "$(find "target/fuzz-corpus/$t" -type f | wc -l)" -gt 5000 ]; then
    rm -rf "target/fuzz-corpus/$t.min" && mkdir "target/fuzz-corpus/$t.min"
    "${fuzz[@]}" run "${opts[@]}" "$t" "target/fuzz-corpus/$t.min" "target/fuzz-corpus/$t" -- -merge=1 -timeout=10 -rss_limit_mb=1024 \
      >"$log.merge" 2>&1 && rm -rf "target/fuzz-corpus/$t" && mv "target/fuzz-corpus/$t.min" "target/fuzz-corpus/$t"
  fi
  printf '%-14s %10s %8s %6s %6s %6s\n' "$t" "$(final "$log" number_of_executed_units)" "$(final "$log" average_exec_per_sec)" \
    "$(status "$log" cov)" "$(status "$log" ft)" "$(status "$log" corp)"
done

if [ ${#failed[@]} -gt 0 ]; then
  for t in "${failed[@]}"; do
    echo
    echo "fuzz: $t FAILED (log: target/fuzz-logs/$t.log)"
    grep -E -A2 'panicked at|ERROR: libFuzzer' "target/fuzz-logs/$t.log" | head -n 12 || true
    for input in $(sed -n 's/.*Test unit written to //p' "target/fuzz-logs/$t.log"); do
      echo "reproducer: $input"
      echo "reproduce:  cargo +nightly fuzz run ${opts[*]} $t $input"
    done
  done
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, no failure"
