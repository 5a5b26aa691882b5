#!/usr/bin/env bash
# Unpacks V8 for the isobox-v8 backend into a project-local prefix (idempotent: does nothing when it is already there).
#
# The `v8` crate cannot be built offline (it downloads prebuilt V8 from GitHub), so isobox-v8 links Debian 12's
# `libnode108`: Node 18's shared library, which exports V8 10.2's C++ embedding API. Its headers are in `libnode-dev`.
# Installing `libnode-dev` with apt conflicts with NodeSource's `nodejs` package, so both packages are unpacked with
# `dpkg -x` into the prefix instead; only their runtime dependencies (`libc-ares2`, `libuv1`) are installed system-wide.
#
# The prefix is `$ISOBOX_LIBNODE_PREFIX`, by default `target/libnode`; isobox-v8's build script reads the same variable.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="${ISOBOX_LIBNODE_PREFIX:-$PWD/target/libnode}"
library="$prefix/usr/lib/x86_64-linux-gnu/libnode.so.108"
header="$prefix/usr/include/node/v8.h"
if [ -f "$library" ] && [ -f "$header" ]; then
  echo "setup-v8: V8 (libnode108) is in $prefix" >&2
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
runtime_packages=(libc-ares2 libuv1)
missing=()
for package in "${runtime_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup-v8: installing ${missing[*]}" >&2
  if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

downloads="$(mktemp -d)"
trap 'rm -rf "$downloads"' EXIT
echo "setup-v8: downloading libnode108 and libnode-dev" >&2
if ! (cd "$downloads" && apt-get download libnode108 libnode-dev >/dev/null); then
  $sudo apt-get update -qq
  (cd "$downloads" && apt-get download libnode108 libnode-dev >/dev/null)
fi
mkdir -p "$prefix"
for deb in "$downloads"/*.deb; do
  dpkg -x "$deb" "$prefix"
done
if [ ! -f "$library" ] || [ ! -f "$header" ]; then
  echo "setup-v8: the packages did not provide $library and $header" >&2
  exit 1
fi
echo "setup-v8: V8 (libnode108) unpacked into $prefix" >&2
