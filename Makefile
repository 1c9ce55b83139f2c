# Two commands do all the set-up: `make dev` and `make test` (see README).
SHELL := /bin/bash
ENV := . scripts/env.sh &&
DEV_WORKSPACE := dev

.PHONY: dev test install install-test build seed lint unit fuzz-short fuzz e2e soak clean policy-check bench bench-core deploy-check

dev: install build .dev.vars seed
	$(ENV) wrangler dev --ip 127.0.0.1 --port 8081

test: install-test lint unit fuzz-short build deploy-check e2e

install:
	scripts/install.sh

install-test:
	scripts/install.sh --with-browser

build:
	$(ENV) sh scripts/build.sh

.dev.vars:
	scripts/dev-vars.sh

# Seeds the local development workspace `dev` (member dev@example.com) into local KV.
seed:
	$(ENV) wrangler kv key put --local --binding POLICIES policy:$(DEV_WORKSPACE) --path config/dev-policy.json

# rustfmt, and clippy with every warning an error, natively (core, app, tests, tools) and for
# the worker (wasm32, where `edge` is compiled).
lint:
	$(ENV) cargo fmt --check
	$(ENV) cargo clippy --locked --all-targets -- -D warnings
	$(ENV) cargo clippy --locked --target wasm32-unknown-unknown --lib -- -D warnings

unit:
	$(ENV) cargo test --locked

# Coverage-guided fuzzing of the pure core (fuzz/, README "Tests"): every target for 10 s in
# `make test`; `make fuzz SECONDS=600` for a longer run.
fuzz-short:
	scripts/fuzz.sh 10

SECONDS ?= 300
fuzz: install
	scripts/fuzz.sh $(SECONDS)

e2e:
	$(ENV) node --test --test-concurrency=1 'tests/e2e/*.test.mjs'

# The long soak (README, "Tests"): tool calls, refreshes and revocations for SOAK_SECONDS
# (default 300) on a wrangler dev of its own; prints requests, errors and workerd memory.
SOAK_SECONDS ?= 300
soak: install-test build
	$(ENV) node scripts/soak.mjs $(SOAK_SECONDS)

# Builds the production bundle offline (`wrangler deploy --dry-run --env production`) and checks
# the configuration it would run with (README, "Deploy to Cloudflare").
deploy-check: install
	$(ENV) wrangler deploy --dry-run --env production --outdir build/deploy-check
	$(ENV) cargo run --locked --quiet --bin deploy-check -- wrangler.toml production

# Validates a policy file before `wrangler kv key put`: make policy-check FILE=acme.json [WORKSPACE=acme]
policy-check:
	@test -n "$(FILE)" || { echo "usage: make policy-check FILE=path/to/policy.json [WORKSPACE=id]"; exit 2; }
	$(ENV) cargo run --quiet --bin policy-check -- "$(FILE)" $(WORKSPACE)

# The HTTP benchmark: our worker, an empty worker and @cloudflare/workers-oauth-provider, each
# under wrangler dev (and plain workerd), loaded with wrk; writes BENCHMARKS.md (bench/run.mjs).
bench: install
	scripts/bench.sh

# Native benchmarks of the pure core (README, "Performance"): the catalog build and tools/list
# pass timed, and instruction counts per operation under callgrind (repeatable run to run).
bench-core:
	$(ENV) cargo run --locked --release --quiet --bin bench-catalog
	scripts/callgrind.sh

clean:
	rm -rf build target/wasm32-unknown-unknown .wrangler
