//! Built alone (`cargo test -p isobox-example-wasm-only`), this package links no V8. Built with the whole workspace,
//! Cargo unifies features and it links the V8 backend like the rest: then it must find libnode at run time, where
//! `scripts/setup-v8.sh` unpacked it (`$ISOBOX_LIBNODE_PREFIX`, default `target/libnode` of the workspace).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=ISOBOX_LIBNODE_PREFIX");
    let prefix = match std::env::var_os("ISOBOX_LIBNODE_PREFIX") {
        Some(prefix) => PathBuf::from(prefix),
        None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("../../target/libnode"),
    };
    let library_dir = prefix.canonicalize().unwrap_or(prefix).join("usr/lib/x86_64-linux-gnu");
    if library_dir.join("libnode.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", library_dir.display());
    }
}
