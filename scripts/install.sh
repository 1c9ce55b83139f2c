#!/usr/bin/env bash
# Installs what the build and tests need, skipping whatever is already at the right version.
# Usage: scripts/install.sh [--with-browser]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
# `make lint` needs both; rustup's default profile has them, a minimal one does not.
for component in clippy rustfmt; do
  rustup component list --installed | grep -q "^$component" || rustup component add "$component"
done

# wasm-bindgen CLI must equal the library version in Cargo.lock exactly.
want=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/"/, "", $3); print $3}' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $NF}' || true)
if [ "$have" != "$want" ]; then
  echo "installing wasm-bindgen-cli $want (have: ${have:-none})"
  cargo install wasm-bindgen-cli --version "$want" --force   # not --locked: see docs/protocol.md §14
fi

if [ "$(worker-build --version 2>/dev/null | awk '{print $NF}' || true)" != "0.8.7" ]; then
  cargo install worker-build --version 0.8.7 --locked --force
fi

# cargo fuzz for the fuzz targets (scripts/fuzz.sh; `make test` runs them briefly).
if [ "$(cargo-fuzz --version 2>/dev/null | awk '{print $NF}' || true)" != "0.13.2" ]; then
  cargo install cargo-fuzz --version 0.13.2 --locked --force
fi

# npm packages: reinstall only when package-lock.json changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

if [ "${1:-}" = "--with-browser" ] && ! command -v chromium >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# The tests' MCP Inspector CLI, from its own manifest and lockfile (tests/inspector), so its
# dependencies stay out of the root lockfile. Installed under node_modules/.inspector, with
# everything else installed (never into the source tree); only when its lockfile changed.
INSPECTOR=node_modules/.inspector
if [ "${1:-}" = "--with-browser" ] && { [ ! -f $INSPECTOR/node_modules/.package-lock.json ] || [ tests/inspector/package-lock.json -nt $INSPECTOR/node_modules/.package-lock.json ]; }; then
  mkdir -p $INSPECTOR
  cp tests/inspector/package.json tests/inspector/package-lock.json $INSPECTOR/
  npm ci --prefix $INSPECTOR --no-audit --no-fund
fi
