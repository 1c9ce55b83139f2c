#!/usr/bin/env bash
# `make bench`: the HTTP benchmark of the worker against an empty worker and
# @cloudflare/workers-oauth-provider (bench/run.mjs does the measuring and writes BENCHMARKS.md).
# Installs what it needs (wrk from Debian, bench/'s npm packages), builds the release worker, and
# ends every process it started, whatever happens. Knobs: see bench/run.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
# bench/'s own packages (the provider peer), reinstalled only when its lock changed.
if [ ! -f bench/node_modules/.package-lock.json ] || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
  (cd bench && npm ci --no-audit --no-fund)
fi
sh scripts/build.sh

pids=$(mktemp)
cleanup() {
  # Whatever bench/run.mjs could not end itself (it was killed): each process group it started.
  while read -r pid; do kill -TERM -- "-$pid" 2>/dev/null || true; done < "$pids"
  sleep 1
  while read -r pid; do kill -KILL -- "-$pid" 2>/dev/null || true; done < "$pids"
  rm -f "$pids"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
BENCH_PIDS_FILE="$pids" node bench/run.mjs
