#!/usr/bin/env bash
# Sets up what is missing, then checks formatting, lints and runs every test (release profile, shared with the CLI).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all --check
cargo clippy --release --locked --workspace --all-targets --quiet -- -D warnings
cargo test --release --locked --workspace
