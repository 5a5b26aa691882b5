#!/usr/bin/env bash
# Sets up what is missing, then checks formatting, lints, runs every test (release profile, shared with the CLI) and
# a quick benchmark run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all --check
cargo clippy --release --locked --workspace --all-targets --quiet -- -D warnings
# The facade without its default features (the wasm backend and an embedder's own capability) compiles, and passes the
# lints, on its own. Its tests (it works, and `cargo tree` shows none of the optional pieces linked) run with the
# workspace's below: building it a second time, with its own features, would take minutes.
cargo clippy --release --locked -p isobox-example-wasm-only --all-targets --quiet -- -D warnings
# Every public item is documented (missing_docs is a workspace lint) and the docs build without a warning.
RUSTDOCFLAGS="-D warnings" cargo doc --release --locked --workspace --no-deps --lib --quiet
# Every library and test target, and the binaries the tests run; the examples are left out of this build (clippy above
# checks that they compile, and no test runs them): each links much of isobox again. Not `--bins`, which would also
# build the CLI's binary a second time as an empty unit-test harness despite its `test = false`. Then the
# documentation's examples.
cargo test --release --locked --workspace --lib --tests
cargo test --release --locked --workspace --doc
# A smoke run of the benchmark harness (no thresholds: CI machines are noisy).
target/release/isobox bench --quick --json target/bench-quick.json --out target/bench-quick-charts
