#!/usr/bin/env bash
# Installs what building isobox needs on Debian 12 (idempotent: installs only what is missing): the wasm guest's
# toolchain, V8 for the V8 backend, TypeScript for the declaration tests; then builds the guest.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL and nginx: the kv store's and `isobox serve`'s tests start real ones (isobox-testkit, tests/serve.rs);
# wrk: the load test of `isobox serve`.
apt_packages=(clang-16 llvm-16 libclang-16-dev wasi-libc g++ postgresql nginx-light wrk)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-wasip1; then
  rustup target add wasm32-wasip1
fi

# TypeScript's compiler, for the test that type-checks generated declarations; the MCP SDK, whose client drives
# `isobox mcp` in its test; the reference MCP servers the connector tests connect to.
if [ ! -x tests/ts/node_modules/.bin/tsc ] || [ ! -d tests/mcp/node_modules/@modelcontextprotocol/server-memory ]; then
  command -v npm >/dev/null || { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq npm >/dev/null; }
  npm ci --prefix tests/ts --no-audit --no-fund --loglevel=error
  npm ci --prefix tests/mcp --no-audit --no-fund --loglevel=error
fi

# GitHub's REST API as OpenAPI 3.0 (13 MB), for the OpenAPI connector tests: only that file of the npm package.
github_openapi=tests/openapi/api.github.com.json
if [ ! -s "$github_openapi" ]; then
  mkdir -p tests/openapi
  scratch=$(mktemp -d)
  npm pack --silent --pack-destination "$scratch" @octokit/openapi@23.0.2 >/dev/null
  tar -xzf "$scratch"/octokit-openapi-23.0.2.tgz -C "$scratch" package/generated/api.github.com.json
  mv "$scratch"/package/generated/api.github.com.json "$github_openapi"
  rm -rf "$scratch"
fi

scripts/setup-v8.sh
scripts/build-guest.sh
