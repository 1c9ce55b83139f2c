# Sourced (from the repository root) by the Makefile's recipes and the scripts: tool locations
# for an offline build. POSIX sh.
ROOT=$(pwd)
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
export ESBUILD_BIN="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export WRANGLER_SEND_METRICS=false
