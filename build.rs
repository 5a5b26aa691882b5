//! Lets the facade's binaries (its tests and examples), which exercise the V8 backend (a dev-dependency), find libnode at
//! run time. `isobox-v8`'s build script links it and sets the run-time search path of its own binaries; Cargo passes
//! neither a link argument nor build-script metadata on through a dev-dependency, so the path is set again here, from
//! the same place (`$ISOBOX_LIBNODE_PREFIX`, default `target/libnode`, where `scripts/setup-v8.sh` unpacks it).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=ISOBOX_LIBNODE_PREFIX");
    let prefix = match std::env::var_os("ISOBOX_LIBNODE_PREFIX") {
        Some(prefix) => PathBuf::from(prefix),
        None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("target/libnode"),
    };
    let library_dir = prefix.canonicalize().unwrap_or(prefix).join("usr/lib/x86_64-linux-gnu");
    println!("cargo:rerun-if-changed={}", library_dir.join("libnode.so").display());
    if library_dir.join("libnode.so").exists() {
        // Every binary target, the library's own unit tests included: isobox-v8's worker hook links libnode into
        // each binary that links the backend.
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", library_dir.display());
    }
}
