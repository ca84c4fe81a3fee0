# Weft's entry points: `make run`, `make test`, `make components`,
# `make bench`, `make lint` (see README.md).
.PHONY: setup test-setup components build run cluster test lint bench

# Guest crates build for wasm32-wasip2; add the target once if missing.
setup:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# What the tests need beyond the toolchain: `unshare` (util-linux) and `ip`
# (iproute2) run the tests that aim at non-loopback addresses inside a
# private network namespace; `chromium` and `chromedriver` (Debian's
# chromium and chromium-driver) run the web console's browser tests;
# `nats-server` (JetStream) is the broker the queue-trigger tests start on a
# free loopback port (tests/e2e/nats.rs); PostgreSQL 15 (Debian's
# `postgresql`) backs the storage contract and cluster tests, which start a
# private server. Installed from Debian's packages when missing.
#
# moto (PyPI `moto[server]`) is the real S3-compatible server the files
# tests start (tests/e2e/files/moto.rs): used from python3 when it has it,
# else installed into a venv under target/ (python3 and python3-venv from
# Debian when missing).
MOTO_VENV := target/moto-venv
PG_BIN ?= /usr/lib/postgresql/15/bin
test-setup: setup
	@command -v unshare >/dev/null && command -v ip >/dev/null || \
		{ apt-get update && apt-get install -y util-linux iproute2; }
	@python3 -c 'import moto.server' 2>/dev/null || $(MOTO_VENV)/bin/python3 -c 'import moto.server' 2>/dev/null || { \
		command -v python3 >/dev/null || { apt-get update && apt-get install -y python3; }; \
		python3 -m venv $(MOTO_VENV) 2>/dev/null || { rm -rf $(MOTO_VENV); \
			apt-get update && apt-get install -y python3-venv && python3 -m venv $(MOTO_VENV); }; \
		$(MOTO_VENV)/bin/pip install --quiet 'moto[server]'; }
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update && apt-get install -y chromium chromium-driver; }
	@test -x $(PG_BIN)/initdb || \
		{ apt-get update && apt-get install -y postgresql; }
	@command -v nats-server >/dev/null || \
		{ apt-get update && apt-get install -y nats-server; }

# The `weft` binary (dev profile; dependencies optimised, see Cargo.toml).
build: components
	cargo build -p weft

# Every test: host unit tests, the end-to-end suite (which drives
# target/debug/weft and the built components), the guest SDK's tests and
# the built-in connectors' own unit tests (run natively).
test: test-setup build
	cargo test --workspace
	cargo test --manifest-path sdk-guest/Cargo.toml --target-dir target
	cargo test --manifest-path components/Cargo.toml --target-dir target -p files -p transform

# Formatting and clippy, warnings denied, for the native and guest crates.
lint: setup
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo fmt --manifest-path components/Cargo.toml --all --check
	cargo clippy --manifest-path components/Cargo.toml --target wasm32-wasip2 --target-dir target -- -D warnings
	cargo fmt --manifest-path sdk-guest/Cargo.toml --check
	cargo clippy --manifest-path sdk-guest/Cargo.toml --target-dir target --all-targets -- -D warnings

# Headline figures as ratios against baselines measured in the same run;
# each also printed as `bench: NAME=VALUE`.
bench: components
	cargo build --release -p weft
	cargo bench -p weft-tests --bench weft

# `make components` leaves every component at target/components/<name>.wasm,
# the one place tests, examples and scripts take them from:
#  1. cargo builds the components/ workspace (its own workspace: release,
#     size-optimised, wasm32-wasip2) into target/; cargo's fingerprints make
#     this incremental;
#  2. each crate's artifact, target/wasm32-wasip2/release/<name_with_underscores>.wasm,
#     is copied to target/components/<name>.wasm when it changed;
#  3. the native helper components/tools/wat2wasm (builds in seconds, into
#     target/tool/) turns each hand-written components/<name>/component.wat
#     into target/components/<name>.wasm, rewriting only what changed.
# A component crate is components/<name>/Cargo.toml with package name <name>;
# a WAT fixture is components/<name>/component.wat. tests/build.rs follows the
# same rule to generate the test manifest.
# Example connectors live one level down, in components/examples/<name>/.
COMPONENT_CRATES := $(patsubst components/%/Cargo.toml,%,$(wildcard components/*/Cargo.toml)) \
	$(patsubst components/examples/%/Cargo.toml,%,$(wildcard components/examples/*/Cargo.toml))

components: setup
	cargo build --manifest-path components/Cargo.toml --release --target wasm32-wasip2 --target-dir target
	@mkdir -p target/components
	@for name in $(COMPONENT_CRATES); do \
		src=target/wasm32-wasip2/release/$$(echo $$name | tr - _).wasm; \
		dst=target/components/$$name.wasm; \
		cmp -s $$src $$dst || { cp $$src $$dst && echo "components: updated $$dst"; }; \
	done
	@cargo run --quiet --manifest-path components/Cargo.toml --profile tool -p wat2wasm --target-dir target -- components target/components

# `make run`: build the components and weft, then serve on 127.0.0.1:8080
# (`make run PORT=9090`, or `LISTEN=0.0.0.0:9090` for another address)
# with every built component registered as a built-in and a demo seeded from
# components/examples/hello/integration.yaml (tenant `demo`, one enabled
# instance; the console URL, the webhook URLs and a curl line are printed;
# open http://127.0.0.1:$(PORT)/console and sign in with the operator token). Data stays in
# $(WEFT_DATA), so a second `make run` reuses it. The operator token is
# printed once, at the first start (or set WEFT_OPERATOR_TOKEN).
WEFT_DATA ?= weft-data
PORT ?= 8080
LISTEN ?= 127.0.0.1:$(PORT)
run: components
	cargo build -p weft
	./target/debug/weft serve --listen $(LISTEN) --data-dir $(WEFT_DATA) \
		--builtins target/components --demo components/examples/hello/integration.yaml

# A local PostgreSQL and two nodes on it (:8081 seeds the demo, :8082);
# see README "Scaling out". Ctrl-C stops all three.
cluster: components
	cargo build -p weft
	WEFT_PG_BIN=$(PG_BIN) ./scripts/cluster.sh
