//! Builds isobox's C++ binding to V8 against Debian's libnode108 (Node 18's shared library, which exports V8 10.2's
//! embedding API), found under `$ISOBOX_LIBNODE_PREFIX` (default: `target/libnode` in the workspace, where
//! `scripts/setup-v8.sh` unpacks it).
//!
//! Without libnode the crate still builds, with a stand-in binding whose initialisation explains what is missing:
//! `V8Backend::new` then returns that error, and the rest of the workspace is unaffected.
use std::path::{Path, PathBuf};

const LIBRARY_DIR: &str = "usr/lib/x86_64-linux-gnu";
const INCLUDE_DIR: &str = "usr/include/node";

fn main() {
    println!("cargo:rerun-if-env-changed=ISOBOX_LIBNODE_PREFIX");
    for file in ["shim/isobox_v8.h", "shim/isobox_v8.cc", "shim/platform.h", "shim/platform.cc", "shim/unavailable.c"] {
        println!("cargo:rerun-if-changed={file}");
    }
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let prefix = match std::env::var_os("ISOBOX_LIBNODE_PREFIX") {
        Some(prefix) => PathBuf::from(prefix),
        None => manifest_dir.join("../../target/libnode"),
    };
    let prefix = prefix.canonicalize().unwrap_or(prefix);
    let library_dir = prefix.join(LIBRARY_DIR);
    let include_dir = prefix.join(INCLUDE_DIR);
    // Rebuild once setup-v8.sh has unpacked the library.
    println!("cargo:rerun-if-changed={}", library_dir.join("libnode.so").display());
    println!("cargo:rerun-if-changed={}", include_dir.join("v8.h").display());

    if library_dir.join("libnode.so").exists() && include_dir.join("v8.h").is_file() {
        build_binding(&library_dir, &include_dir);
    } else {
        build_stand_in(&prefix);
    }
}

fn build_binding(library_dir: &Path, include_dir: &Path) {
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("shim/isobox_v8.cc")
        .file("shim/platform.cc")
        .include("shim")
        .include(include_dir)
        // libnode's V8 is built without RTTI: subclasses of its classes (the ArrayBuffer allocator) must be too.
        .flag("-fno-rtti")
        // V8's headers are noisy under -Wall (unused parameters in inline functions).
        .flag_if_supported("-Wno-unused-parameter")
        .compile("isobox_v8");
    println!("cargo:rustc-link-search=native={}", library_dir.display());
    println!("cargo:rustc-link-lib=dylib=node");
    // Binaries find libnode where it was unpacked, without LD_LIBRARY_PATH: this crate's own, and (through
    // DEP_NODE_RPATH) those of crates that depend on it.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", library_dir.display());
    println!("cargo:rpath={}", library_dir.display());
}

fn build_stand_in(prefix: &Path) {
    println!(
        "cargo:warning=isobox-v8: libnode108 (V8) was not found under {}; building without V8 \
         (V8Backend::new will fail). Run scripts/setup-v8.sh or set ISOBOX_LIBNODE_PREFIX, then rebuild.",
        prefix.display()
    );
    let quoted = format!("{:?}", prefix.display().to_string());
    cc::Build::new()
        .file("shim/unavailable.c")
        .include("shim")
        .define("ISOBOX_LIBNODE_PREFIX", Some(quoted.as_str()))
        .compile("isobox_v8");
}
