#!/bin/sh
# Builds the worker: wasm32 release → wasm-bindgen → esbuild shim (worker-build), then wasm-opt.
set -eu
cd "$(dirname "$0")/.."
. scripts/env.sh
# wrangler runs this on every start: skip when the output is newer than every input.
if [ -f build/index_bg.wasm ] && [ -z "$(find src static config Cargo.toml Cargo.lock wrangler.toml -newer build/index_bg.wasm | head -n 1)" ]; then
  echo "build/ is up to date"
  exit 0
fi
worker-build --release
wasm="build/index_bg.wasm"
[ -f "$wasm" ] || { echo "no $wasm after worker-build" >&2; exit 1; }
# -Oz until nothing shrinks further (--converge: 3 KB less gzipped than one pass), with the
# features wasm-bindgen's output uses and no more: `--all-features` let binaryen 132 write
# proposals still in flight (exact reference types, the compact import section) that V8
# releases do not all read.
features="--enable-exception-handling --enable-reference-types --enable-bulk-memory --enable-sign-ext --enable-mutable-globals --enable-nontrapping-float-to-int --enable-multivalue"
node_modules/.bin/wasm-opt $features -Oz --converge "$wasm" -o "$wasm.opt" && mv "$wasm.opt" "$wasm"
echo "built $(wc -c < "$wasm") bytes of wasm ($(gzip -9c "$wasm" | wc -c) gzipped)"
