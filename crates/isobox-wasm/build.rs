//! Locates the guest built by `scripts/build-guest.sh` so the crate can embed it.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=ISOBOX_GUEST_WASM");
    let path = match std::env::var_os("ISOBOX_GUEST_WASM") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap())
            .join("../../guest/target/wasm32-wasip1/release/isobox_guest.wasm"),
    };
    if !path.is_file() {
        panic!(
            "the isobox guest is not built ({} is missing): run `scripts/setup.sh` (or `scripts/build-guest.sh`) first, \
             or point ISOBOX_GUEST_WASM at a built guest",
            path.display()
        );
    }
    let path = path.canonicalize().expect("the guest path resolves");
    println!("cargo:rerun-if-changed={}", path.display());
    println!("cargo:rustc-env=ISOBOX_GUEST_WASM={}", path.display());
}
