#!/usr/bin/env bash
# The main job: set up what is missing, build isobox, show the API an agent is prompted with, and run an agent
# program against it in a fresh sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked --quiet -p isobox-cli
isobox=target/release/isobox
echo "--- isobox caps"
$isobox caps
echo "--- isobox types --grant shop    (the TypeScript the model is prompted with)"
$isobox types --grant shop
echo "--- isobox run --grant shop examples/agent.js"
$isobox run --grant shop examples/agent.js
echo "--- the same, as JSON"
$isobox run --json --grant shop examples/agent.js
