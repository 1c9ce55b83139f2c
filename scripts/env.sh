# Sourced by the Makefile's recipes and scripts: tool locations for an offline build.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
export ESBUILD_BIN="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export WRANGLER_SEND_METRICS=false
