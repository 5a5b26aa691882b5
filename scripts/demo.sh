#!/usr/bin/env bash
# The main job: set up what is missing, build isobox, and run an agent program in a fresh sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked --quiet -p isobox-cli
echo "--- isobox run examples/agent.js --input \"\$(cat examples/orders.json)\""
target/release/isobox run examples/agent.js --input "$(cat examples/orders.json)"
echo "--- the same, as JSON"
target/release/isobox run --json examples/agent.js --input "$(cat examples/orders.json)"
