#!/usr/bin/env bash
# Builds the QuickJS-in-Wasm guest (guest/) for wasm32-wasip1 with Debian's clang-16 and wasi-libc.
# Output: guest/target/wasm32-wasip1/release/isobox_guest.wasm, which crates/isobox-wasm embeds.
set -euo pipefail
cd "$(dirname "$0")/../guest"

# clang-16 looks for the wasi-libc headers and libraries under <sysroot>/{include,lib}/wasm32-wasip1, while Debian
# installs them as wasm32-wasi: a sysroot of symlinks covers both triples.
sysroot="$PWD/target/wasi-sysroot"
mkdir -p "$sysroot/include" "$sysroot/lib"
for triple in wasm32-wasi wasm32-wasip1; do
  ln -sfn /usr/include/wasm32-wasi "$sysroot/include/$triple"
  ln -sfn /usr/lib/wasm32-wasi "$sysroot/lib/$triple"
done

# QuickJS as rquickjs-sys ships it, plus isobox's patches (guest/patches). The pristine source comes from the cargo
# registry through a throwaway manifest, so only cargo fetches it.
quickjs_version=0.12.2
vendored="target/vendor/rquickjs-sys"
stamp="$vendored/.isobox-patches-$(cat patches/*.patch | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  fetch="target/fetch-rquickjs-sys"
  mkdir -p "$fetch/src"
  touch "$fetch/src/lib.rs"
  cat >"$fetch/Cargo.toml" <<TOML
[package]
name = "fetch-rquickjs-sys"
version = "0.0.0"
edition = "2021"
[dependencies]
rquickjs-sys = { version = "=$quickjs_version", default-features = false }
[workspace]
TOML
  manifest=$(cargo metadata --quiet --format-version 1 --manifest-path "$fetch/Cargo.toml" |
    python3 -c 'import json, sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "rquickjs-sys"))')
  rm -rf "$vendored"
  mkdir -p target/vendor
  cp -r "$(dirname "$manifest")" "$vendored"
  for patch in patches/*.patch; do
    patch --quiet -p1 -d "$vendored" <"$patch"
  done
  touch "$stamp"
fi

# RQUICKJS_SYS_NO_WASI_SDK keeps rquickjs-sys from downloading a wasi-sdk; the default llvm-config here is older.
export RQUICKJS_SYS_NO_WASI_SDK=1
export CC_wasm32_wasip1=clang-16
export AR_wasm32_wasip1=llvm-ar-16
export CFLAGS_wasm32_wasip1="--sysroot=$sysroot"
export BINDGEN_EXTRA_CLANG_ARGS_wasm32_wasip1="--sysroot=$sysroot"
export LIBCLANG_PATH=/usr/lib/llvm-16/lib

cargo build --release --locked --target wasm32-wasip1 --quiet
ls -l target/wasm32-wasip1/release/isobox_guest.wasm | awk '{print "guest: " $NF " (" $5 " bytes)"}'
